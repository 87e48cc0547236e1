//! The HTTP vocabulary the registry code shares, at the bottom of its imports: a
//! response with its body unread, a request as fetch, list and push describe it, its
//! body, and reading a response's headers and status. The client, the token fetch and
//! the transport all use these; none of them is imported back, so the layers run one
//! way (client, then token, then transport, then http), as go-containerregistry's
//! `remote` and `remote/transport` do.

use std::io::Read;

use super::auth::Scope;
use super::error::{read_error_body, status_error};
use crate::error::Result;

/// A response with its body still unread.
pub(crate) type Response = ureq::http::Response<ureq::Body>;

/// A request body: replayable ones may be sent again after an authentication challenge.
pub(crate) enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (a manifest).
    Bytes(&'a [u8]),
    /// A stream of exactly this many bytes (a blob or a chunk of one).
    Stream(&'a mut dyn Read, u64),
}

impl Body<'_> {
    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(..))
    }
}

/// Where a request goes: a path on this registry, or a URL the registry gave us.
pub(crate) enum Target {
    /// `/v2/…`, put on the registry's base URL.
    Path(String),
    /// An absolute URL (an upload `Location`, a `Link`).
    Url(String),
}

/// One request as the fetch, list and push code describe it.
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub target: Target,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
    pub scope: Scope,
}

impl<'a> Request<'a> {
    /// A body-less request to a path on this registry.
    pub fn new(method: &'static str, path: String, scope: Scope) -> Request<'a> {
        Request {
            method,
            target: Target::Path(path),
            headers: Vec::new(),
            body: Body::Empty,
            scope,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response header as a string, if present and printable.
pub(crate) fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Passes a response whose status is in `ok`; anything else becomes the registry's error.
pub(crate) fn expect(resp: Response, ok: &[u16]) -> Result<Response> {
    let status = resp.status().as_u16();
    if ok.contains(&status) {
        Ok(resp)
    } else {
        Err(status_error(status, &read_error_body(resp.into_body())))
    }
}
