//! img-search: docker search on Docker Hub's index (or any registry's v1 search), a
//! registry's catalog, and a repository's tags.
//!
//! - `TERM`: `GET /v1/search?q=TERM&n=LIMIT` on the `hub-index` of the config; docker 28's
//!   table, templates and `--format json` ([`docker`]).
//! - `HOST[:PORT]/TERM`: that registry's own `/v1/search`, as docker asks it; a registry
//!   without one (distribution's answers 404) is searched through its catalog instead.
//! - `--registry HOST [TERM]`: the catalog of `HOST`, page by page, TERM matching as a
//!   substring, or as a [`glob`] when it holds `*` or `?`. Names are `HOST/repository`.
//! - `--tags NAME`: every tag of NAME in version order ([`order`]), `--filter tag=GLOB`,
//!   and with `--digests` each tag's manifest digest ([`tags`]).
//!
//! Records are docker's `--format json` objects; in a pipe they are what img-search
//! prints, and img-pull reads their `Name`.

pub mod docker;
pub mod glob;
pub mod order;
pub mod tags;

use std::io::Write;

use serde_json::Value;

use self::docker::{Hit, HitFilter};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{Format, Output};
use crate::record::TagRecord;
use crate::reference::Reference;
use crate::registry::{self, ClientOptions, RegistryClient, SchemePolicy, Security, credentials};
use crate::settings::Config;

/// docker's default `--limit`.
pub const DEFAULT_LIMIT: u32 = 25;
/// docker's largest `--limit`.
pub const MAX_LIMIT: u32 = 100;

/// What `img-search` was asked.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// The search term, `HOST/TERM`, the name whose tags to list (`--tags`), or the
    /// catalog pattern (`--registry`; optional there).
    pub term: Option<String>,
    /// `--registry HOST`: search the catalog of this registry.
    pub registry: Option<String>,
    /// `--tags`: list the tags of the repository named by `term`.
    pub tags: bool,
    /// `--limit` (0 or less: the default, 25; tags: all of them).
    pub limit: Option<i64>,
    /// `--filter KEY=VALUE`, repeatable.
    pub filters: Vec<String>,
    /// `--no-trunc`: whole descriptions.
    pub no_trunc: bool,
    /// `--digests` (with `--tags`): each tag's manifest digest.
    pub digests: bool,
    /// `--format table|json|TEMPLATE`.
    pub format: Option<String>,
    /// `--insecure`: plain HTTP and unverified TLS allowed.
    pub insecure: bool,
}

impl SearchOptions {
    /// Warnings to print before searching (docker prints the same about `is-automated`).
    pub fn warnings(&self) -> Vec<String> {
        let automated = self.filters.iter().any(|f| {
            super::filters::split(f).is_ok_and(|(k, _)| k == "is-automated") && !self.tags
        });
        if automated {
            vec![
                "warning: the \"is-automated\" filter is deprecated, and \"is-automated=true\" matches nothing (as in docker 25 and later)".to_owned(),
            ]
        } else {
            Vec::new()
        }
    }
}

/// A tag whose digest could not be found (the listing goes on without it).
#[derive(Debug)]
pub struct TagFailure {
    /// The tag's reference, as the failure is reported.
    pub item: String,
    /// Why.
    pub error: Error,
}

/// Runs the search and prints the results to `out` in `--format` (default: a table on a
/// terminal, JSON Lines otherwise). Returns the tags whose digest failed (`--digests`).
pub fn search(
    options: &SearchOptions,
    config: &Config,
    stdout_is_terminal: bool,
    out: &mut impl Write,
) -> Result<Vec<TagFailure>> {
    let format = match &options.format {
        Some(f) => Format::parse(f)?,
        None => Format::default_for(stdout_is_terminal),
    };
    if options.digests && !options.tags {
        return Err(Error::usage("--digests goes with --tags NAME"));
    }
    let security = Security {
        insecure: options.insecure,
    };
    if options.tags {
        if options.registry.is_some() {
            return Err(Error::usage(
                "--tags takes the registry in the name (--tags HOST/NAME), not --registry",
            ));
        }
        return list_tags(options, config, security, format, out);
    }
    let limit = hit_limit(options.limit)?;
    let filter = HitFilter::parse(&options.filters)?;
    let hits = match &options.registry {
        Some(host) => {
            let client = registry_client(host, config, security, true)?;
            // `--registry HOST HOST/team/*` means what `--registry HOST team/*` does.
            let term = options.term.as_deref().unwrap_or("");
            let term = term
                .strip_prefix(host.as_str())
                .and_then(|t| t.strip_prefix('/'))
                .unwrap_or(term);
            catalog_hits(&client, term, limit, &filter)?
        }
        None => {
            let term = options
                .term
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::usage("a search term is required: img-search TERM"))?;
            index_hits(term, limit, &filter, config, security)?
        }
    };
    let trunc = !options.no_trunc;
    // What a registry says reaches a person's terminal escaped (a pipe gets it as sent):
    // a description or a name could otherwise set the title, colours or the cursor.
    let hits = if stdout_is_terminal && !matches!(format, Format::Json) {
        hits.into_iter().map(Hit::escaped).collect()
    } else {
        hits
    };
    let mut output = Output::new(format.clone(), &docker::COLUMNS, out);
    for hit in &hits {
        let value = match format {
            Format::Json => to_value(&hit.record(trunc))?,
            _ => hit.template_value(trunc),
        };
        output.write(&value)?;
    }
    output.finish()?;
    Ok(Vec::new())
}

/// docker's rule: 0 or less is the default; above 100 is docker's error (exit 1).
fn hit_limit(limit: Option<i64>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n <= 0 => Ok(DEFAULT_LIMIT),
        Some(n) if n > i64::from(MAX_LIMIT) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("Limit {n} is outside the range of [1, {MAX_LIMIT}]"),
        )),
        Some(n) => Ok(n as u32),
    }
}

/// `docker.io/php` and `php` ask Docker Hub's index; `HOST[:PORT]/TERM` asks HOST when the
/// part before the first `/` looks like a host (a `.` or `:`, or `localhost`), as docker
/// splits a search term. Returns the host (None for Docker Hub) and the term.
pub fn split_term(term: &str) -> (Option<&str>, &str) {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains(['.', ':']) || first == "localhost")
    {
        if matches!(
            first,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        ) {
            return (None, rest);
        }
        return (Some(first), rest);
    }
    (None, term)
}

/// The results of a v1 search on the hub index or on the registry `term` names, falling
/// back to that registry's catalog when it has no v1 search.
fn index_hits(
    term: &str,
    limit: u32,
    filter: &HitFilter,
    config: &Config,
    security: Security,
) -> Result<Vec<Hit>> {
    let (host, term) = split_term(term);
    if term.is_empty() {
        return Err(Error::usage("a search term is required after the registry"));
    }
    let client = match host {
        Some(h) => registry_client(h, config, security, false)?,
        None => index_client(config.hub_index(), config, security)?,
    };
    let answer = client.search_v1(term, limit)?;
    let mut hits: Vec<Hit> = match (answer, host) {
        (Some(a), _) => a
            .results
            .into_iter()
            .map(|r| Hit {
                name: r.name,
                description: r.description,
                star_count: r.star_count,
                is_official: r.is_official,
                is_automated: r.is_automated,
            })
            .collect(),
        (None, Some(_)) => return catalog_hits(&client, term, limit, filter),
        (None, None) => {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the index {} has no v1 search (HTTP 404): check \"hub-index\" in the config",
                    config.hub_index()
                ),
            ));
        }
    };
    hits.retain(|h| filter.matches(h));
    hits.truncate(limit as usize);
    Ok(hits)
}

/// Walks `client`'s catalog for repositories matching `term` (a substring, or a glob
/// when it holds `*` or `?`; empty: every repository), stopping at `limit` matches.
fn catalog_hits(
    client: &RegistryClient,
    term: &str,
    limit: u32,
    filter: &HitFilter,
) -> Result<Vec<Hit>> {
    let term = term.to_ascii_lowercase();
    let pattern = glob::is_glob(&term);
    let mut hits = Vec::new();
    client.catalog_each(|repository| {
        let matched = if pattern {
            glob::glob_match(&term, repository)
        } else {
            repository.contains(term.as_str())
        };
        if matched {
            let hit = Hit {
                name: format!("{}/{repository}", client.host()),
                description: String::new(),
                star_count: 0,
                is_official: false,
                is_automated: false,
            };
            if filter.matches(&hit) {
                hits.push(hit);
            }
        }
        hits.len() < limit as usize
    })?;
    Ok(hits)
}

/// A client for the search index at `url` (`https://index.docker.io`,
/// `http://127.0.0.1:5000`): the URL's scheme, the host's certs.d trust and credentials.
/// No retries: a rate-limited index is reported at once, with when to try again.
fn index_client(url: &str, config: &Config, security: Security) -> Result<RegistryClient> {
    let bad = |why: &str| {
        Error::usage(format!(
            "\"hub-index\" {url:?} in the config: {why}, such as https://index.docker.io"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected a URL"))?;
    // docker's own name for the index ends in /v1/ (its credentials key): accept it.
    let rest = rest.trim_end_matches('/');
    let host = rest.strip_suffix("/v1").unwrap_or(rest);
    if host.is_empty() || host.contains('/') {
        return Err(bad("expected scheme://host[:port] without a path"));
    }
    client_for(host, host, config, security, |options| {
        options.scheme = match scheme {
            "http" => SchemePolicy::Http,
            "https" if options.tls_insecure => SchemePolicy::HttpsThenHttp,
            "https" => SchemePolicy::Https,
            _ => return Err(bad("the scheme must be http or https")),
        };
        options.retries = 0;
        Ok(())
    })
}

/// A client for the registry `host` itself (no mirrors: a mirror's catalog is not the
/// registry's), with its scheme policy, certs.d trust and credentials. `retries` false
/// for a v1 search, which is reported at once when rate limited.
fn registry_client(
    host: &str,
    config: &Config,
    security: Security,
    retries: bool,
) -> Result<RegistryClient> {
    let api_host = if host == crate::reference::DOCKER_HUB_DOMAIN {
        registry::DOCKER_HUB_HOST
    } else {
        host
    };
    client_for(api_host, host, config, security, |options| {
        if !retries {
            options.retries = 0;
        }
        Ok(())
    })
}

/// What both clients share: `api_host`'s options (certs.d trust, no mirrors), changed by
/// `adjust`, with the credentials stored for `credentials_host` (docker.io's are stored
/// under that name, though its API answers at another).
fn client_for(
    api_host: &str,
    credentials_host: &str,
    config: &Config,
    security: Security,
    adjust: impl FnOnce(&mut ClientOptions) -> Result<()>,
) -> Result<RegistryClient> {
    let mut options = registry::options_for(api_host, config, security)?;
    adjust(&mut options)?;
    options.credentials = credentials::lookup(credentials_host)?;
    RegistryClient::new(api_host, options)
}

/// `--tags NAME`: the tag records, printed as they are complete.
fn list_tags(
    options: &SearchOptions,
    config: &Config,
    security: Security,
    format: Format,
    out: &mut impl Write,
) -> Result<Vec<TagFailure>> {
    let name = options
        .term
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::usage("--tags needs a repository name: img-search --tags NAME"))?;
    let reference = Reference::parse_normalized_name(name)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(Error::usage(format!(
            "--tags takes a repository name without a tag or digest, not {name:?}"
        )));
    }
    let globs = tags::parse_tag_filters(&options.filters)?;
    let limit = options.limit.filter(|&n| n > 0).map(|n| n as usize);
    let endpoints = registry::endpoints(reference.domain(), config, security)?;
    let mut listed = None;
    let mut last_error = None;
    for endpoint in &endpoints {
        match tags::list_tags(&endpoint.client, reference.path(), &globs, limit) {
            Ok(t) => {
                listed = Some((t, &endpoint.client));
                break;
            }
            Err(e) if endpoint.mirror => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    let Some((tag_names, client)) = listed else {
        return Err(last_error.unwrap_or_else(|| Error::new(ErrorKind::Registry, "no endpoint")));
    };
    let digests = if options.digests {
        Some(tags::digests(client, &reference, &tag_names, config.jobs()))
    } else {
        None
    };
    let columns: &[_] = if options.digests {
        &tags::COLUMNS
    } else {
        &tags::COLUMNS[..2]
    };
    let mut output = Output::new(format, columns, out).headers(&tags::COLUMNS);
    let mut failures = Vec::new();
    for (i, tag) in tag_names.iter().enumerate() {
        let name = reference.with_tag(tag)?;
        let digest = match digests.as_ref().map(|d| &d[i]) {
            None => None,
            Some(Ok(d)) => Some(d.clone()),
            Some(Err(e)) => {
                failures.push(TagFailure {
                    item: name.to_string(),
                    error: e.clone(),
                });
                continue;
            }
        };
        let record = TagRecord {
            name,
            tag: tag.clone(),
            digest,
        };
        output.write(&to_value(&record)?)?;
    }
    output.finish()?;
    Ok(failures)
}

fn to_value(record: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(record)
        .map_err(|e| Error::new(ErrorKind::InvalidRecord, format!("encoding a record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_like_dockers() {
        assert_eq!(split_term("php"), (None, "php"));
        assert_eq!(split_term("bitnami/redis"), (None, "bitnami/redis"));
        assert_eq!(split_term("docker.io/php"), (None, "php"));
        assert_eq!(
            split_term("127.0.0.1:5000/app"),
            (Some("127.0.0.1:5000"), "app")
        );
        assert_eq!(split_term("localhost/a/b"), (Some("localhost"), "a/b"));
    }

    #[test]
    fn limits_follow_docker() {
        assert_eq!(hit_limit(None).unwrap(), 25);
        assert_eq!(hit_limit(Some(0)).unwrap(), 25);
        assert_eq!(hit_limit(Some(-3)).unwrap(), 25);
        assert_eq!(hit_limit(Some(100)).unwrap(), 100);
        let e = hit_limit(Some(101)).unwrap_err();
        assert_eq!(e.to_string(), "Limit 101 is outside the range of [1, 100]");
        assert_eq!(e.exit_code(), 1);
    }
}
