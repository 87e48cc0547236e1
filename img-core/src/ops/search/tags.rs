//! `img-search --tags NAME`: every tag of a repository (tags/list, all `Link` pages), in
//! version order, narrowed by `--filter tag=GLOB`, and with `--digests` each tag's
//! manifest digest from HEAD requests sent in parallel (at most `jobs` at a time).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::glob::glob_match;
use super::order::sort_tags;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::output::Column;
use crate::reference::Reference;
use crate::registry::RegistryClient;

/// The tag table: `NAME TAG DIGEST` (the digest column only with `--digests`).
pub const COLUMNS: [Column; 3] = [
    Column::new("Name", "NAME"),
    Column::new("Tag", "TAG"),
    Column::new("Digest", "DIGEST"),
];

/// The `tag=GLOB` filters of `--tags` (several: a tag matching any is kept).
pub fn parse_tag_filters(filters: &[String]) -> Result<Vec<String>> {
    let mut globs = Vec::new();
    for raw in filters {
        let (key, value) = crate::ops::filters::split(raw)?;
        if key != "tag" {
            return Err(crate::ops::filters::invalid(
                &key,
                "with --tags the one filter is tag=GLOB",
            ));
        }
        globs.push(value.to_owned());
    }
    Ok(globs)
}

/// The tags of `repository` that pass `globs`, in version order, the first `limit` of
/// them when given.
pub fn list_tags(
    client: &RegistryClient,
    repository: &str,
    globs: &[String],
    limit: Option<usize>,
) -> Result<Vec<String>> {
    let mut tags = client.tags(repository)?;
    tags.retain(|t| globs.is_empty() || globs.iter().any(|g| glob_match(g, t)));
    sort_tags(&mut tags);
    tags.dedup();
    if let Some(n) = limit {
        tags.truncate(n);
    }
    Ok(tags)
}

/// The manifest digest of each tag, in the order given, by HEAD requests on `jobs`
/// threads. A tag that vanished meanwhile, or whose HEAD failed, gets its error.
pub fn digests(
    client: &RegistryClient,
    repository: &Reference,
    tags: &[String],
    jobs: usize,
) -> Vec<Result<Digest>> {
    let results: Vec<Mutex<Option<Result<Digest>>>> =
        tags.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = jobs.clamp(1, tags.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(tag) = tags.get(i) else { break };
                    let got = match client.head_manifest(repository.path(), tag) {
                        Ok(Some((digest, _, _))) => Ok(digest),
                        Ok(None) => Err(Error::new(
                            ErrorKind::NotFound,
                            format!(
                                "tag {tag:?} of {} is gone (deleted while listing?)",
                                repository.familiar_name()
                            ),
                        )),
                        Err(e) => Err(e),
                    };
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(got);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(Error::new(ErrorKind::Io, "a digest was never asked")))
        })
        .collect()
}
