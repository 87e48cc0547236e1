//! Bearer tokens: asking the challenge's realm for a token (anonymous, with Basic
//! credentials, or with an identity token), and a cache of tokens by scope that renews
//! them before they expire.
//!
//! See the distribution spec's "Token Authentication Specification": a 401 names a realm,
//! a service and a scope; we ask the realm for a token for that scope and retry with
//! `Authorization: Bearer <token>`. Each client (one a registry) owns one cache, keyed by
//! scope; a token is renewed on expiry or when the registry answers 401 to it.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::credentials::Credentials;
use super::http::Body;
use super::stall::{StallReader, Watchdog};
use super::transport::{
    Exchange, Origin, answered_by, answering_origin, encode_query_value, execute,
};
use crate::error::{Answer, Error, ErrorKind, Result};

/// Tokens without `expires_in` live 60 seconds, as the spec says.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token server's answer is a small JSON object; more is refused.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// Renew a little before expiry so a request never leaves with a token about to die.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    value: String,
    expires: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Token {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// Whether the token is still good for a request leaving now.
    pub fn is_fresh(&self) -> bool {
        Instant::now() + EXPIRY_MARGIN < self.expires
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Parses a token server's answer: `token` or `access_token`, and `expires_in` seconds
/// (60 when absent or absurdly small, as docker does).
pub fn parse_token_response(body: &[u8]) -> Result<Token> {
    let r: TokenResponse = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Unauthorized,
            format!("token server's answer is not valid JSON: {e}"),
        )
    })?;
    let value = r
        .token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| Error::new(ErrorKind::Unauthorized, "token server sent no token"))?;
    let lifetime = match r.expires_in {
        Some(s) if s >= 60 => Duration::from_secs(s),
        _ => DEFAULT_TOKEN_LIFETIME,
    };
    Ok(Token {
        value,
        expires: Instant::now() + lifetime,
    })
}

/// Asks `realm` for a token covering `scopes`, with `creds` if any.
///
/// The realm may live on another origin than the registry (Docker Hub's
/// `auth.docker.io`): like docker, we send it the credentials configured for the registry,
/// since it is the registry that named it. They go to the realm's exact origin only, never
/// along a redirect elsewhere; the token it issues goes only to the registry.
pub(crate) fn fetch_token(
    agent: &ureq::Agent,
    watchdog: &Arc<Watchdog>,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> Result<Token> {
    if realm.is_empty() {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            "bearer challenge without a realm",
        ));
    }
    if !(realm.starts_with("https://") || realm.starts_with("http://")) {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            format!("token realm {realm:?} is not an http(s) URL"),
        ));
    }
    let origin = Origin::of(realm)?;
    let service = service.unwrap_or("");
    let doing = || format!("getting a token from {realm}");
    let (method, url, form, auth) = match creds {
        Some(Credentials::IdentityToken(refresh)) => {
            // OAuth2 refresh-token grant, as docker does for identity tokens.
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.clone()),
                ("service", service.to_owned()),
                ("client_id", "img".to_owned()),
            ];
            form.extend(scopes.iter().map(|s| ("scope", s.clone())));
            let form = encode_pairs(&form);
            ("POST", realm.to_owned(), Some(form), None)
        }
        _ => {
            let mut query = Vec::new();
            if !service.is_empty() {
                query.push(("service", service.to_owned()));
            }
            query.extend(scopes.iter().map(|s| ("scope", s.clone())));
            let url = if query.is_empty() {
                realm.to_owned()
            } else {
                let sep = if realm.contains('?') { '&' } else { '?' };
                format!("{realm}{sep}{}", encode_pairs(&query))
            };
            ("GET", url, None, creds.and_then(Credentials::basic_header))
        }
    };
    let mut headers = Vec::new();
    let mut body = match &form {
        Some(f) => {
            headers.push((
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ));
            Body::Bytes(f.as_bytes())
        }
        None => Body::Empty,
    };
    let response = execute(
        agent,
        watchdog,
        Exchange {
            method,
            url: &url,
            headers: &headers,
            body: &mut body,
            auth: auth.as_deref().map(|a| (&origin, a)),
        },
    )
    .map_err(|e| e.context(doing()))?;
    let status = response.status().as_u16();
    let host = answered_by(&response).unwrap_or_else(|| origin.shown().to_owned());
    let elsewhere = answering_origin(&response).is_some_and(|o| o != origin);
    if matches!(status, 401 | 403) && auth.is_some() && elsewhere {
        // The credentials stayed with the realm; its redirect led to a server that wants
        // them. Say so, rather than that they were refused.
        return Err(Error::new(
            ErrorKind::Unauthorized,
            format!(
                "{} redirected to {host}, which asks for credentials: img sends them only to {} itself",
                origin.shown(),
                origin.shown()
            ),
        )
        .context(doing()));
    }
    let mut body = Vec::new();
    StallReader::new(
        response.into_body().into_reader(),
        watchdog.clone(),
        host.clone(),
    )
    .take(MAX_TOKEN_RESPONSE)
    .read_to_end(&mut body)
    .map_err(|e| Error::network_io(e, "reading the answer").context(doing()))?;
    match status {
        200 => parse_token_response(&body).map_err(|e| e.context(doing())),
        401 | 403 => Err(Error::new(
            ErrorKind::Unauthorized,
            match creds.and_then(Credentials::username) {
                Some(user) => format!(
                    "the token server refused the credentials of {user:?}: check them with your registry login"
                ),
                None => "the token server refused anonymous access: log in first".to_owned(),
            },
        )
        .with_answer(Answer::Credentials)
        .context(doing())),
        other => Err(Error::new(
            ErrorKind::Registry,
            format!("token server answered HTTP {other}"),
        )
        .with_answer(Answer::Status(other))
        .context(doing())),
    }
}

/// `k=v&k2=v2`, values percent-encoded.
fn encode_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Tokens by scope string, for one registry; shared by the client's threads.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<BTreeMap<String, Token>>,
}

impl TokenCache {
    /// A fresh token for `scope`, if cached.
    pub fn get(&self, scope: &str) -> Option<Token> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(scope).filter(|t| t.is_fresh()).cloned()
    }

    /// Remembers `token` for `scope`.
    pub fn put(&self, scope: &str, token: Token) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(scope.to_owned(), token);
    }

    /// Forgets the token for `scope` (the registry answered 401 with it).
    pub fn invalidate(&self, scope: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_forms() {
        let t = parse_token_response(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.header(), "Bearer abc");
        assert!(t.is_fresh());
        let t = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(t.header(), "Bearer xyz");
        assert!(parse_token_response(br#"{"token":""}"#).is_err());
        assert!(parse_token_response(b"nope").is_err());
        assert!(!format!("{t:?}").contains("xyz"));
    }

    #[test]
    fn cache_keeps_fresh_tokens_by_scope() {
        let cache = TokenCache::default();
        cache.put(
            "repository:a:pull",
            parse_token_response(br#"{"token":"t"}"#).unwrap(),
        );
        assert!(cache.get("repository:a:pull").is_some());
        assert!(cache.get("repository:b:pull").is_none());
        cache.invalidate("repository:a:pull");
        assert!(cache.get("repository:a:pull").is_none());
    }
}
