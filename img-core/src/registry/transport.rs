//! One exchange with a server, redirects followed here rather than by ureq, so that an
//! `Authorization` goes only to the exact origin (scheme, host and port) it belongs to.
//!
//! ureq's own rule (`RedirectAuthHeaders::SameHost`) compares host names only: a 307 to
//! another port of the same host carried the registry's credentials and bearer tokens
//! there. Its agent is now built never to follow a redirect; each hop below gets the
//! Authorization only when its origin is the one the value was configured or issued for.
//! A redirect to blob storage elsewhere (an S3-style presigned URL) is still followed,
//! without credentials. Every hop is watched for stalls ([`super::stall`]).

use std::sync::Arc;

use ureq::SendBody;

use super::error::{read_error_body, transport_error};
use super::http::{Body, Response, header};
use super::paths::resolve_location;
use super::stall::{Watchdog, is_timeout};
use crate::error::{Error, ErrorKind, Result};

/// Hops after the first request, as browsers and Go allow.
const MAX_REDIRECTS: u32 = 10;

/// Where a request goes, as far as secrets are concerned: scheme, host (lowercase) and
/// port (the scheme's default when the URL names none).
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
    /// `host[:port]` as the URL wrote it, for messages.
    shown: String,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Origin) -> bool {
        (&self.scheme, &self.host, self.port) == (&other.scheme, &other.host, other.port)
    }
}

impl Origin {
    /// The origin of an absolute http(s) URL.
    pub fn of(url: &str) -> Result<Origin> {
        let bad = || {
            Error::new(
                ErrorKind::Registry,
                format!("bad URL {:?}", url.split('?').next().unwrap_or("")),
            )
        };
        let uri: ureq::http::Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        // No user info: `user@host` would make the origin ambiguous to a reader.
        if authority.as_str().contains('@') {
            return Err(bad());
        }
        Ok(Origin {
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
            shown: authority.as_str().to_owned(),
            scheme,
        })
    }

    /// `host[:port]` as written in the URL: what messages and the stall watchdog name.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The URL a response finally came from, after redirects (kept in its extensions).
#[derive(Debug, Clone)]
pub(crate) struct FinalUrl(pub String);

/// The origin of the server that sent `resp` (after redirects).
pub(crate) fn answering_origin(resp: &Response) -> Option<Origin> {
    let url = resp.extensions().get::<FinalUrl>()?;
    Origin::of(&url.0).ok()
}

/// The server that sent `resp` (after redirects), as `host[:port]`.
pub(crate) fn answered_by(resp: &Response) -> Option<String> {
    answering_origin(resp).map(|o| o.shown)
}

/// One request as the client and the token code describe it.
pub(crate) struct Exchange<'a, 'b> {
    pub method: &'static str,
    pub url: &'a str,
    pub headers: &'a [(&'static str, String)],
    pub body: &'a mut Body<'b>,
    /// An Authorization value and the only origin it may go to.
    pub auth: Option<(&'a Origin, &'a str)>,
}

/// Sends `ex`, following redirects; Authorization is attached on each hop whose origin
/// is exactly the one it belongs to. Returns any final status; a transport failure or
/// a stall is an error.
pub(crate) fn execute(
    agent: &ureq::Agent,
    watchdog: &Arc<Watchdog>,
    ex: Exchange<'_, '_>,
) -> Result<Response> {
    let mut method = ex.method;
    let mut url = ex.url.to_owned();
    let mut body_dropped = false;
    let mut hops = 0;
    loop {
        let origin = Origin::of(&url)?;
        watchdog.check(origin.shown())?;
        let auth = ex
            .auth
            .filter(|(owner, _)| **owner == origin)
            .map(|(_, value)| value);
        let mut empty = Body::Empty;
        let body: &mut Body<'_> = if body_dropped { &mut empty } else { ex.body };
        let mut resp = match send_hop(agent, method, &url, ex.headers, auth, body) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) => return Err(watchdog.stalled(origin.shown())),
            Err(e) => return Err(transport_error(e)),
        };
        let status = resp.status().as_u16();
        // An answer whose body is not what we wait for (none, or an error's few bytes)
        // shows the host is answering. A 200 or 206 does not until its body moves: a
        // server that answers every resumed GET and then stalls is still stalled.
        let answered = method == "HEAD"
            || header(&resp, "content-length").is_some_and(|v| v.trim() == "0")
            || !matches!(status, 200 | 206);
        if answered {
            watchdog.progress(origin.shown());
        }
        let location = header(&resp, "location");
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            resp.extensions_mut().insert(FinalUrl(url));
            return Ok(resp);
        };
        // Drained so the connection goes back to the pool.
        let _ = read_error_body(resp.into_body());
        if hops == MAX_REDIRECTS {
            return Err(Error::new(
                ErrorKind::Registry,
                format!("too many redirects (more than {MAX_REDIRECTS})"),
            ));
        }
        hops += 1;
        let (base, path) = split(&url, &origin);
        url = resolve_location(&base, &path, &location)?;
        // What browsers and Go do: 303 turns anything but HEAD into a GET, and so do 301
        // and 302 a POST; 307 and 308 repeat the request as it was.
        let to_get = (status == 303 && method != "HEAD")
            || (matches!(status, 301 | 302) && method == "POST");
        if to_get {
            method = "GET";
            body_dropped = true;
        } else if !body_dropped && matches!(ex.body, Body::Stream(..)) {
            return Err(Error::new(
                ErrorKind::Registry,
                "the registry redirected a request whose body cannot be sent again",
            ));
        }
    }
}

/// `scheme://authority` and the path (with its query) of `url`.
fn split(url: &str, origin: &Origin) -> (String, String) {
    let base = format!("{}://{}", origin.scheme, origin.shown);
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_owned(),
        None => "/".to_owned(),
    };
    (base, path)
}

/// One round trip, no redirect followed.
fn send_hop(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&'static str, String)],
    auth: Option<&str>,
    body: &mut Body<'_>,
) -> std::result::Result<Response, ureq::Error> {
    let get = method == "GET" || method == "HEAD";
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        // A POST turned into a GET by a redirect leaves its body's headers behind.
        if get && matches!(*name, "content-type" | "content-length") {
            continue;
        }
        builder = builder.header(*name, value.as_str());
    }
    if let Some(a) = auth {
        builder = builder.header("authorization", a);
    }
    let sends_body = matches!(method, "POST" | "PUT" | "PATCH");
    match body {
        Body::Empty if sends_body => run(
            agent,
            builder.header("content-length", "0"),
            SendBody::none(),
        ),
        Body::Empty => run(agent, builder, SendBody::none()),
        Body::Bytes(b) => {
            let mut bytes: &[u8] = b;
            let builder = builder.header("content-length", bytes.len().to_string());
            run(agent, builder, SendBody::from_reader(&mut bytes))
        }
        Body::Stream(reader, len) => {
            let builder = builder.header("content-length", len.to_string());
            run(agent, builder, SendBody::from_reader(&mut **reader))
        }
    }
}

fn run(
    agent: &ureq::Agent,
    builder: ureq::http::request::Builder,
    body: SendBody<'_>,
) -> std::result::Result<Response, ureq::Error> {
    let request = builder
        .body(body)
        .map_err(|e| ureq::Error::BadUri(e.to_string()))?;
    agent.run(request)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept): token scopes,
/// search terms.
pub(crate) fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Origin::of("http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(
            a,
            Origin::of("http://127.0.0.1:5000/v2/x/blobs/y?z=1").unwrap()
        );
        assert_ne!(a, Origin::of("http://127.0.0.1:5001/v2/").unwrap());
        assert_ne!(a, Origin::of("https://127.0.0.1:5000/v2/").unwrap());
        assert_ne!(a, Origin::of("http://localhost:5000/v2/").unwrap());
        assert_eq!(
            Origin::of("https://Registry.Example/v2/").unwrap(),
            Origin::of("https://registry.example:443/").unwrap()
        );
        assert_eq!(a.shown(), "127.0.0.1:5000");
        assert!(Origin::of("ftp://x/").is_err());
        assert!(Origin::of("/v2/").is_err());
        assert!(Origin::of("http://user@127.0.0.1:5000/").is_err());
    }

    #[test]
    fn urls_split_into_base_and_path() {
        let url = "http://127.0.0.1:5000/v2/a/blobs/x?q=1";
        let o = Origin::of(url).unwrap();
        assert_eq!(
            split(url, &o),
            (
                "http://127.0.0.1:5000".to_owned(),
                "/v2/a/blobs/x?q=1".to_owned()
            )
        );
        let o = Origin::of("https://h").unwrap();
        assert_eq!(split("https://h", &o).1, "/");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(encode_query_value("img-test_1.x~"), "img-test_1.x~");
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
