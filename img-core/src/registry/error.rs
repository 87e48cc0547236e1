//! Turning what the wire says into [`Error`]s: the registry's error envelope, HTTP
//! statuses and ureq's transport failures, each mapped to the kind callers branch on.
//!
//! Nothing here ever sees a request's headers, so no secret can reach a message.

use std::io::Read;

use serde::Deserialize;

use crate::error::{Answer, Error, ErrorKind};
use crate::quote::{EXCERPT_BYTES, escape_excerpt};

/// How much of an error body we read: envelopes are small, and a proxy's HTML page
/// should not be read whole.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// One entry of the registry's error envelope
/// (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…","detail":…}]}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegistryErrorEntry {
    /// The machine-readable code, such as `MANIFEST_UNKNOWN`.
    #[serde(default)]
    pub code: String,
    /// The human message, such as `manifest unknown`.
    #[serde(default)]
    pub message: String,
    /// Whatever extra the registry attached.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<RegistryErrorEntry>,
}

/// Parses an error envelope; `None` when the body is not one (an HTML page, nothing).
pub fn parse_envelope(body: &[u8]) -> Option<Vec<RegistryErrorEntry>> {
    let env: Envelope = serde_json::from_slice(body).ok()?;
    if env.errors.is_empty() {
        None
    } else {
        Some(env.errors)
    }
}

/// The kind an envelope code asks for, if the code settles it.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    match code {
        "MANIFEST_UNKNOWN" | "BLOB_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UPLOAD_UNKNOWN" => {
            Some(ErrorKind::NotFound)
        }
        "UNAUTHORIZED" => Some(ErrorKind::Unauthorized),
        "DENIED" => Some(ErrorKind::Denied),
        "DIGEST_INVALID" => Some(ErrorKind::DigestMismatch),
        "MANIFEST_INVALID"
        | "MANIFEST_BLOB_UNKNOWN"
        | "NAME_INVALID"
        | "TAG_INVALID"
        | "SIZE_INVALID" => Some(ErrorKind::Registry),
        "UNSUPPORTED" => Some(ErrorKind::Unsupported),
        _ => None,
    }
}

fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Denied,
        404 => ErrorKind::NotFound,
        _ => ErrorKind::Registry,
    }
}

/// The error for a response with status `status` and (the start of) body `body`.
pub fn status_error(status: u16, body: &[u8]) -> Error {
    let status_kind = kind_of_status(status);
    match parse_envelope(body) {
        Some(entries) => {
            // Authentication statuses win; otherwise the first entry's code decides, and
            // the status when the code says nothing we know.
            let kind = match status_kind {
                ErrorKind::Unauthorized | ErrorKind::Denied => status_kind,
                _ => kind_of_code(&entries[0].code).unwrap_or(status_kind),
            };
            let message = entries
                .iter()
                .map(describe_entry)
                .collect::<Vec<_>>()
                .join("; ");
            Error::new(kind, message).with_answer(Answer::Status(status))
        }
        None => {
            let reason = match status {
                401 => "unauthorized: authentication required".to_owned(),
                403 => "denied: access to the resource is forbidden".to_owned(),
                404 => "not found".to_owned(),
                429 => {
                    "too many requests: the registry is rate limiting, try again later".to_owned()
                }
                _ => format!("registry answered HTTP {status}{}", body_hint(body)),
            };
            Error::new(status_kind, reason).with_answer(Answer::Status(status))
        }
    }
}

/// `manifest unknown`, or the code when the message is empty; a short string detail is
/// appended since it is often what says what went wrong (`unknown blob`).
fn describe_entry(e: &RegistryErrorEntry) -> String {
    // A registry's words, shown as text: escaped, and cut to a line's worth.
    let mut s = if e.message.is_empty() {
        escape_excerpt(e.code.to_lowercase().replace('_', " "), MESSAGE_BYTES)
    } else {
        escape_excerpt(&e.message, MESSAGE_BYTES)
    };
    if let Some(serde_json::Value::String(d)) = &e.detail
        && !d.is_empty()
        && d.len() < 200
        && !e.message.contains(d.as_str())
    {
        s.push_str(": ");
        s.push_str(&escape_excerpt(d, MESSAGE_BYTES));
    }
    s
}

/// How much of a registry's message or detail is shown.
const MESSAGE_BYTES: usize = 200;

/// A short, single-line hint of a non-envelope body (a proxy's "Bad Gateway" text).
fn body_hint(body: &[u8]) -> String {
    // The first line with text, from the bytes: invalid UTF-8 is shown escaped, not lost.
    let line = body
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty());
    match line {
        Some(l) if !l.starts_with(b"<") => format!(": {}", escape_excerpt(l, EXCERPT_BYTES)),
        _ => String::new(),
    }
}

/// Reads the start of an error response body (capped), for [`status_error`].
pub fn read_error_body(body: ureq::Body) -> Vec<u8> {
    let mut buf = Vec::new();
    // A body we cannot read adds nothing to the error we are already reporting.
    let _ = body
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut buf);
    buf
}

/// Whether a transport error is a certificate problem: the server speaks TLS and we do
/// not trust it, so falling back to plain HTTP would be wrong.
pub fn is_certificate_error(err: &Error) -> bool {
    err.kind() == ErrorKind::Tls && err.message().contains("certificate")
}

/// Maps a ureq error (transport, TLS, protocol) to our kinds.
pub fn transport_error(err: ureq::Error) -> Error {
    match err {
        ureq::Error::Io(e) => io_transport_error(e),
        ureq::Error::Timeout(t) => Error::new(ErrorKind::Network, format!("timed out ({t})")),
        ureq::Error::HostNotFound => Error::new(
            ErrorKind::Network,
            "host not found: check the registry's name and your DNS",
        ),
        ureq::Error::ConnectionFailed => Error::new(ErrorKind::Network, "connection failed"),
        ureq::Error::Tls(msg) => Error::new(ErrorKind::Tls, format!("tls: {msg}")),
        ureq::Error::Rustls(e) => tls_error(&e.to_string()),
        ureq::Error::Pem(e) => Error::new(
            ErrorKind::Tls,
            format!("reading a PEM certificate or key: {e:?}"),
        ),
        ureq::Error::Protocol(e) => Error::new(
            ErrorKind::Network,
            format!("the registry's answer is not valid HTTP: {e}"),
        ),
        ureq::Error::TooManyRedirects => {
            Error::new(ErrorKind::Registry, "too many redirects (more than 10)")
        }
        ureq::Error::RedirectFailed => Error::new(
            ErrorKind::Registry,
            "the registry redirected a request whose body cannot be sent again",
        ),
        ureq::Error::BadUri(u) => Error::new(ErrorKind::Registry, format!("bad URL {u:?}")),
        other => Error::new(ErrorKind::Registry, other.to_string()),
    }
}

fn io_transport_error(e: std::io::Error) -> Error {
    // A TLS failure during the handshake arrives as an I/O error wrapping rustls's
    // error (kind InvalidData); its text is the only portable way to tell it apart.
    if e.kind() == std::io::ErrorKind::InvalidData && e.get_ref().is_some() {
        let text = e.to_string();
        if looks_like_tls(&text) {
            return tls_error(&text);
        }
    }
    // Nothing listens there: say so, and keep the io kind so `send` does not retry it.
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        return Error::io(e, "nothing listens there (is the registry running?)");
    }
    // Every other I/O failure on the way to the registry is a transport failure;
    // `Error::from` only lends its cleaned-up message.
    let message = Error::from(e).message().to_owned();
    Error::new(ErrorKind::Network, message)
}

fn looks_like_tls(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "certificate",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "tls",
        "peer",
        "alert",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Alerts a server sends about the client's certificate (a client never receives them
/// about its own checks of the server, which it raises itself).
const CLIENT_CERT_ALERTS: [&str; 7] = [
    "badcertificate",
    "certificaterequired",
    "unknownca",
    "certificateunknown",
    "unsupportedcertificate",
    "certificateexpired",
    "certificaterevoked",
];

fn tls_error(text: &str) -> Error {
    let t = text.to_lowercase();
    if t.contains("received fatal alert") && CLIENT_CERT_ALERTS.iter().any(|a| t.contains(a)) {
        // The registry refused us: mutual TLS, and our client certificate was missing or
        // not one it trusts. Saying its certificate is untrusted would send the user to
        // the wrong file.
        Error::new(
            ErrorKind::Tls,
            format!(
                "tls: {text}: the registry wants a client certificate it trusts; put one (name.cert with name.key) in the registry's certs.d directory"
            ),
        )
    } else if t.contains("certificate") {
        Error::new(
            ErrorKind::Tls,
            format!(
                "tls: {text}: the registry's certificate is not trusted; add its CA to certs.d, or list the registry as insecure"
            ),
        )
    } else if t.contains("corrupt message") || t.contains("invalidcontenttype") {
        Error::new(
            ErrorKind::Tls,
            format!(
                "tls: {text}: the registry does not seem to speak HTTPS; if it serves plain HTTP, list it as insecure"
            ),
        )
    } else {
        Error::new(ErrorKind::Tls, format!("tls: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_codes_decide_the_kind() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"3.20"}}]}"#;
        let e = status_error(404, body);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "manifest unknown");

        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        assert_eq!(status_error(404, body).kind(), ErrorKind::NotFound);

        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        let e = status_error(403, body);
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert!(e.to_string().contains("denied"));

        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        assert_eq!(status_error(401, body).kind(), ErrorKind::Unauthorized);
    }

    #[test]
    fn status_wins_over_unknown_codes_and_plain_bodies() {
        let body = br#"{"errors":[{"code":"SOMETHING_NEW","message":"odd"}]}"#;
        assert_eq!(status_error(401, body).kind(), ErrorKind::Unauthorized);
        assert_eq!(status_error(500, body).kind(), ErrorKind::Registry);
        let e = status_error(502, b"Bad Gateway\n");
        assert_eq!(e.kind(), ErrorKind::Registry);
        assert_eq!(e.to_string(), "registry answered HTTP 502: Bad Gateway");
        // Issue 14: a body's control bytes and invalid UTF-8 reach a message escaped.
        let e = status_error(502, b"\x1b]0;pwned\x07 bad \xff gateway");
        assert_eq!(
            e.to_string(),
            r"registry answered HTTP 502: \x1b]0;pwned\a bad \xff gateway"
        );
        let body = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no \\u001b[31mway\"}]}";
        assert_eq!(
            status_error(403, body.as_bytes()).to_string(),
            r"no \x1b[31mway"
        );
        let e = status_error(503, b"<html><body>down</body></html>");
        assert_eq!(e.to_string(), "registry answered HTTP 503");
        assert_eq!(status_error(404, b"").kind(), ErrorKind::NotFound);
    }

    #[test]
    fn every_status_error_says_its_status_typed() {
        let envelope = br#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#;
        for (status, body) in [
            (500, &envelope[..]),
            (502, &b"Bad Gateway"[..]),
            (401, &b""[..]),
            (404, &envelope[..]),
        ] {
            let e = status_error(status, body).context("pushing blob");
            assert_eq!(e.status(), Some(status), "{e}");
            assert_eq!(e.answer(), Some(Answer::Status(status)));
        }
        // The message of a 5xx with an envelope does not say its status: the type does.
        assert!(!status_error(500, envelope).to_string().contains("500"));
    }

    #[test]
    fn several_entries_and_string_details_are_shown() {
        let body = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"},{"code":"X","message":"second"}]}"#;
        let e = status_error(400, body);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "blob unknown to registry: sha256:abc; second"
        );
    }

    #[test]
    fn refused_connections_are_network_errors() {
        let e = transport_error(ureq::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(e.kind(), ErrorKind::Network);
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            e.to_string(),
            "nothing listens there (is the registry running?): connection refused"
        );
    }

    #[test]
    fn wrapped_tls_failures_are_tls_errors() {
        let inner = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let e = transport_error(ureq::Error::Io(inner));
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(is_certificate_error(&e));
        assert!(e.to_string().contains("not trusted"), "{e}");
    }

    /// Regression: a registry refusing a missing client certificate (mutual TLS) was
    /// reported as "the registry's certificate is not trusted".
    #[test]
    fn a_refused_client_certificate_is_not_called_an_untrusted_server() {
        for alert in ["BadCertificate", "CertificateRequired", "UnknownCA"] {
            let inner = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("received fatal alert: {alert}"),
            );
            let e = transport_error(ureq::Error::Io(inner));
            assert_eq!(e.kind(), ErrorKind::Tls);
            let text = e.to_string();
            assert!(text.contains("wants a client certificate"), "{text}");
            assert!(!text.contains("not trusted"), "{text}");
            // The server speaks TLS: no fallback to plain HTTP on loopback.
            assert!(is_certificate_error(&e), "{text}");
        }
        let inner = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: HandshakeFailure",
        );
        let e = transport_error(ureq::Error::Io(inner));
        assert!(!e.to_string().contains("client certificate"), "{e}");
    }
}
