//! Docker's v1 search: `GET /v1/search?q=TERM&n=LIMIT` on Docker Hub's index (or any
//! registry that has one), its answer's shape, and the errors a person can act on (a
//! rate limit with when to retry, an answer too large or not the shape expected).
//!
//! The index is reached through a [`RegistryClient`] like any registry, so it gets the
//! same TLS trust, credentials and scheme rules; only the path differs.

use std::io::Read;

use serde::Deserialize;

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::read_error_body;
use super::http::{Request, expect, header};
use super::transport::encode_query_value;
use crate::error::{Error, ErrorKind, Result};

/// The largest search answer we read: Docker Hub's page of 100 results is about 30 KiB,
/// so anything near this is not a search answer.
pub const MAX_SEARCH_ANSWER: u64 = 4 * 1024 * 1024;

/// One result of a v1 search, as the index sends it (moby's `registry.SearchResult`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    /// `alpine`, `bitnami/redis`.
    pub name: String,
    /// The short description; the index may send none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// A Docker Official Image.
    #[serde(default)]
    pub is_official: bool,
    /// Built automatically (deprecated by Docker Hub; always false there now).
    #[serde(default)]
    pub is_automated: bool,
}

/// The answer of a v1 search (paging keys kept for callers that want them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchAnswer {
    /// How many results the index has for the term in all.
    #[serde(default)]
    pub num_results: Option<u64>,
    /// The results of this page, in the index's order.
    pub results: Vec<SearchResult>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl RegistryClient {
    /// Searches the index for `term`, asking for at most `limit` results (docker sends the
    /// same `n`). `Ok(None)` when this server has no v1 search (a 404, as distribution's
    /// registry answers), so the caller can fall back to the catalog.
    pub fn search_v1(&self, term: &str, limit: u32) -> Result<Option<SearchAnswer>> {
        let ctx = || format!("searching {} for {term:?}", self.host());
        self.search_inner(term, limit).map_err(|e| e.context(ctx()))
    }

    fn search_inner(&self, term: &str, limit: u32) -> Result<Option<SearchAnswer>> {
        let path = format!("/v1/search?q={}&n={limit}", encode_query_value(term));
        let req = Request::new("GET", path, Scope::None).header("accept", "application/json");
        let resp = self.send(req)?;
        let status = resp.status().as_u16();
        if status == 404 {
            let _ = read_error_body(resp.into_body());
            return Ok(None);
        }
        if status == 429 {
            let wait = header(&resp, "retry-after");
            let limits: Vec<String> = resp
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str().contains("ratelimit"))
                .filter_map(|(k, v)| Some(format!("{k}: {}", v.to_str().ok()?)))
                .collect();
            let _ = read_error_body(resp.into_body());
            return Err(rate_limited(wait.as_deref(), &limits));
        }
        let resp = expect(resp, &[200])?;
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_SEARCH_ANSWER + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::from(e).context("reading the answer"))?;
        if body.len() as u64 > MAX_SEARCH_ANSWER {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "the answer is larger than {} MiB: this is no search index",
                    MAX_SEARCH_ANSWER / (1024 * 1024)
                ),
            ));
        }
        parse_answer(&body).map(Some)
    }
}

/// Parses a search answer, saying plainly when it is not JSON or not a search answer.
pub fn parse_answer(body: &[u8]) -> Result<SearchAnswer> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Registry,
            format!("the answer is not JSON ({e}): is this a search index?"),
        )
    })?;
    serde_json::from_value(value).map_err(|e| {
        Error::new(
            ErrorKind::Registry,
            format!("the answer is not the search results expected: {e}"),
        )
    })
}

/// The error for a 429: when to try again, and the rate-limit headers the index sent.
fn rate_limited(retry_after: Option<&str>, limits: &[String]) -> Error {
    let mut message = "too many requests: the index is rate limiting".to_owned();
    match retry_after {
        Some(s) if s.trim().parse::<u64>().is_ok() => {
            message.push_str(&format!(", try again in {} s", s.trim()));
        }
        Some(s) => message.push_str(&format!(", try again after {}", s.trim())),
        None => message.push_str(", try again later"),
    }
    if !limits.is_empty() {
        message.push_str(&format!(" ({})", limits.join(", ")));
    }
    Error::new(ErrorKind::Registry, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_docker_hubs_shape() {
        let a = parse_answer(
            br#"{"num_pages":1,"num_results":2,"page_size":25,"query":"php","page":1,
                "results":[{"name":"php","description":null,"star_count":7,"is_official":true,"is_automated":false},
                           {"name":"x/php"}]}"#,
        )
        .unwrap();
        assert_eq!(a.num_results, Some(2));
        assert_eq!(a.results[0].description, "");
        assert!(a.results[0].is_official);
        assert_eq!(a.results[1].star_count, 0);
    }

    #[test]
    fn wrong_answers_say_what_is_wrong() {
        let e = parse_answer(b"<html>").unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = parse_answer(br#"{"repositories":[]}"#).unwrap_err();
        assert!(e.to_string().contains("not the search results"), "{e}");
    }

    #[test]
    fn rate_limits_say_when() {
        let e = rate_limited(Some("60"), &["ratelimit-remaining: 0".to_owned()]);
        assert_eq!(
            e.to_string(),
            "too many requests: the index is rate limiting, try again in 60 s (ratelimit-remaining: 0)"
        );
    }
}
