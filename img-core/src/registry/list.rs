//! Listing: a repository's tags and the registry's catalog, following `Link: <…>;
//! rel="next"` from page to page.

use std::collections::HashSet;
use std::io::Read;

use serde::Deserialize;

use super::auth::Scope;
use super::client::RegistryClient;
use super::http::{Request, Target, expect, header};
use super::paths::{check_repository, resolve_location};
use crate::error::{Error, ErrorKind, Result};

/// Most pages we follow: a registry whose Link loops forever must not hang us.
const MAX_PAGES: usize = 10_000;
/// Largest page body we read.
const MAX_PAGE_SIZE: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl RegistryClient {
    /// Every tag of `repository`, in the registry's order, all pages followed.
    ///
    /// `ClientOptions::list_page_size` is sent as `n`; distribution 2.8 ignores it for
    /// tags and answers everything at once, other registries page.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let ctx = || format!("listing tags of {repository} on {}", self.host());
        check_repository(repository).map_err(|e| e.context(ctx()))?;
        let path = format!("/v2/{repository}/tags/list");
        self.paged(&path, Scope::pull(repository), |body| {
            let page: TagsPage = serde_json::from_slice(body).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("the tag list is not the JSON expected: {e}"),
                )
            })?;
            Ok(page.tags.unwrap_or_default())
        })
        .map_err(|e| e.context(ctx()))
    }

    /// Every repository of the registry's catalog (`/v2/_catalog`), all pages followed.
    pub fn catalog(&self) -> Result<Vec<String>> {
        let ctx = || format!("listing the catalog of {}", self.host());
        self.paged("/v2/_catalog", Scope::Catalog, |body| {
            let page: CatalogPage = serde_json::from_slice(body).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("the catalog is not the JSON expected: {e}"),
                )
            })?;
            Ok(page.repositories.unwrap_or_default())
        })
        .map_err(|e| e.context(ctx()))
    }

    /// GETs `path` and every `rel="next"` page after it, collecting `parse`'s items.
    fn paged(
        &self,
        path: &str,
        scope: Scope,
        parse: impl Fn(&[u8]) -> Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut items = Vec::new();
        self.walk_pages(path, scope, self.options().list_page_size, |body| {
            items.extend(parse(body)?);
            Ok(true)
        })?;
        Ok(items)
    }

    /// GETs `path` (with `n` = `page_size` when given) and every `rel="next"` page after
    /// it, handing each body to `visit` until it answers false (the caller has enough).
    pub(crate) fn walk_pages(
        &self,
        path: &str,
        scope: Scope,
        page_size: Option<u32>,
        mut visit: impl FnMut(&[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut first = path.to_owned();
        if let Some(n) = page_size {
            first = super::paths::add_query(&first, "n", &n.to_string());
        }
        let base = self.base_url()?;
        let mut target = Target::Path(first);
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let request_path = match &target {
                Target::Path(p) => p.clone(),
                Target::Url(u) => u.clone(),
            };
            if !seen.insert(request_path.clone()) {
                return Err(Error::new(
                    ErrorKind::Registry,
                    "the registry's pages link back to a page already read",
                ));
            }
            let req = Request {
                method: "GET",
                target,
                headers: vec![("accept", "application/json".to_owned())],
                body: super::http::Body::Empty,
                scope: scope.clone(),
            };
            let resp = expect(self.send(req)?, &[200])?;
            let next = header(&resp, "link").and_then(|l| next_link(&l));
            let mut body = Vec::new();
            self.body_reader(resp)
                .take(MAX_PAGE_SIZE)
                .read_to_end(&mut body)
                .map_err(|e| Error::from(e).context("reading a page"))?;
            if !visit(&body)? {
                return Ok(());
            }
            match next {
                None => return Ok(()),
                Some(link) => {
                    target = Target::Url(resolve_location(&base, path, &link)?);
                }
            }
        }
        Err(Error::new(
            ErrorKind::Registry,
            format!("more than {MAX_PAGES} pages: giving up"),
        ))
    }
}

/// The URL of the `rel="next"` entry of a `Link` header (RFC 8288), if any.
pub fn next_link(header: &str) -> Option<String> {
    for entry in header.split(',') {
        let entry = entry.trim();
        let Some(rest) = entry.strip_prefix('<') else {
            continue;
        };
        let Some((url, params)) = rest.split_once('>') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(url.trim().to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.example/p1>; rel="prev", <https://r.example/p3>; rel=next"#)
                .as_deref(),
            Some("https://r.example/p3")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
    }
}
