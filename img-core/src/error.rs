//! The one error type of img-core: a kind callers branch on, a message, and the context
//! it was raised in (`pulling "alpine": fetching manifest: …`).

use std::fmt;

/// What went wrong, for callers that need to branch (exit codes, retries, "try the next
/// candidate"). New kinds may be added, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command line is wrong: unknown flag, missing argument. Exit status 2.
    Usage,
    /// A reference (`name[:tag][@digest]`) does not follow the grammar.
    InvalidReference,
    /// A digest is malformed or uses an unknown algorithm.
    InvalidDigest,
    /// A record read from stdin (a JSON line, an array, a plain line) is malformed.
    InvalidRecord,
    /// A document (manifest, index, config, archive member) is malformed or unsupported.
    InvalidDocument,
    /// A template given with `--format` does not parse or fails while running.
    Template,
    /// A `--filter` the store cannot answer: an unknown key or a bad value (docker's
    /// daemon answers `Invalid filter 'KEY'`). Exit status 1, not a usage error.
    InvalidFilter,
    /// The thing asked for does not exist (image, tag, blob, repository).
    NotFound,
    /// A short ID or name matches more than one image.
    Ambiguous,
    /// The operation would break something another user relies on (an image in use,
    /// an image referenced by several repositories).
    Conflict,
    /// Content did not hash to the digest it was announced with.
    DigestMismatch,
    /// Content is larger than its descriptor says or than a limit allows.
    TooLarge,
    /// Something we knowingly do not support (schema 1 manifests, unknown algorithms).
    Unsupported,
    /// The registry refused our credentials, or none were found.
    Unauthorized,
    /// The registry refused the operation for these credentials.
    Denied,
    /// A transport failure: connection refused or reset, timeout, DNS.
    Network,
    /// TLS could not be established or the certificate was not trusted.
    Tls,
    /// The registry answered with an error we could not otherwise classify.
    Registry,
    /// The store's index is corrupt or from a newer img.
    Corrupt,
    /// The store's index is lost: missing, empty, or another store's, beside blobs that
    /// belong to this one. No command deletes anything until `img-rm --rebuild-index`.
    LostIndex,
    /// Any other I/O failure (permissions, no space left).
    Io,
}

impl ErrorKind {
    /// A short lowercase name for the kind, used in JSON error output and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::InvalidReference => "invalid reference",
            ErrorKind::InvalidDigest => "invalid digest",
            ErrorKind::InvalidRecord => "invalid record",
            ErrorKind::InvalidDocument => "invalid document",
            ErrorKind::Template => "template",
            ErrorKind::InvalidFilter => "invalid filter",
            ErrorKind::NotFound => "not found",
            ErrorKind::Ambiguous => "ambiguous",
            ErrorKind::Conflict => "conflict",
            ErrorKind::DigestMismatch => "digest mismatch",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Denied => "denied",
            ErrorKind::Network => "network",
            ErrorKind::Tls => "tls",
            ErrorKind::Registry => "registry",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::LostIndex => "lost index",
            ErrorKind::Io => "io",
        }
    }
}

/// What a server answered, as an error reports it, kept typed for the decisions made on
/// it (an upload retried from a new session, docker's refusal line): the message is for
/// people, in words that vary from registry to registry and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The registry (or its token server) answered this HTTP status.
    Status(u16),
    /// The registry refused a whole blob in one request (413): it wants chunks, which a
    /// new upload session sends.
    WholeBlobTooLarge,
    /// The credentials sent were refused, or the server wants some and none are stored:
    /// what to fix is the login, not the access.
    Credentials,
}

/// An error with its kind, its own message and the context it travelled through.
///
/// Displayed outermost context first: `pulling "alpine": fetching manifest: connection refused`.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Innermost first; displayed reversed.
    context: Vec<String>,
    io_kind: Option<std::io::ErrorKind>,
    answer: Option<Answer>,
}

/// The result type of img-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` saying `message` (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            context: Vec::new(),
            io_kind: None,
            answer: None,
        }
    }

    /// The error, reporting what the server answered.
    pub fn with_answer(mut self, answer: Answer) -> Error {
        self.answer = Some(answer);
        self
    }

    /// What the server answered, when this error reports an answer.
    pub fn answer(&self) -> Option<Answer> {
        self.answer
    }

    /// The HTTP status the server answered, when this error reports one.
    pub fn status(&self) -> Option<u16> {
        match self.answer? {
            Answer::Status(s) => Some(s),
            Answer::WholeBlobTooLarge => Some(413),
            Answer::Credentials => None,
        }
    }

    /// Shorthand for a usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    /// An I/O error with what we were doing when it happened.
    pub fn io(err: std::io::Error, doing: impl Into<String>) -> Error {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::TimedOut => ErrorKind::Network,
            // A file that ends early is a local problem (a truncated archive, a damaged
            // blob), not a network one: `network_io` is for streams from a peer.
            _ => ErrorKind::Io,
        };
        let mut e = Error::new(kind, io_message(&err));
        e.io_kind = Some(err.kind());
        e.context(doing)
    }

    /// An I/O error while reading from a peer (a registry's answer, a blob's body): one
    /// that ends early was cut off, so it is a [`ErrorKind::Network`] error, retried as one.
    pub fn network_io(err: std::io::Error, doing: impl Into<String>) -> Error {
        let cut = err.kind() == std::io::ErrorKind::UnexpectedEof;
        let mut e = Error::io(err, doing);
        if cut {
            e.kind = ErrorKind::Network;
        }
        e
    }

    /// Wraps the error in one more layer of context (the outer operation).
    pub fn context(mut self, context: impl Into<String>) -> Error {
        self.context.push(context.into());
        self
    }

    /// The kind, for callers that branch.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `std::io::ErrorKind` this error came from, if it came from I/O.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.io_kind
    }

    /// The process exit status this error asks for: 2 for bad usage, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }
}

/// `std::io::Error`'s Display appends "(os error N)"; people need the words only, and for
/// a full disk, what to do about it.
fn io_message(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::StorageFull {
        return "no space left on device: free some space (img-rm --prune removes what no image uses) and try again".to_owned();
    }
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.context.iter().rev() {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        let mut e = Error::new(kind, io_message(&err));
        e.io_kind = Some(err.kind());
        e
    }
}

/// Adds context to any `Result` whose error converts into [`Error`].
pub trait ResultExt<T> {
    /// Wraps the error with `context`, evaluated only on failure.
    fn context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a local file that ends early (a truncated archive read with
    /// `read_exact`) was a `Network` error, as if a registry had cut the connection.
    #[test]
    fn unexpected_eof_on_a_local_file_is_an_io_error_not_network() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.tar");
        std::fs::write(&path, b"too short").unwrap();
        let mut buf = [0u8; 512];
        let err = std::fs::File::open(&path)
            .unwrap()
            .read_exact(&mut buf)
            .unwrap_err();
        let e = Error::io(err, "reading short.tar");
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::UnexpectedEof));
        // From a peer, the same kind of error is a cut connection.
        let cut = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(
            Error::network_io(cut, "receiving the blob").kind(),
            ErrorKind::Network
        );
    }

    #[test]
    fn context_reads_outermost_first() {
        let e = Error::new(ErrorKind::Network, "connection refused")
            .context("fetching manifest")
            .context("pulling \"alpine\"");
        assert_eq!(
            e.to_string(),
            "pulling \"alpine\": fetching manifest: connection refused"
        );
        assert_eq!(e.kind(), ErrorKind::Network);
    }

    #[test]
    fn io_errors_drop_os_error_suffix() {
        let e = Error::io(std::io::Error::from_raw_os_error(13), "opening store /nope");
        assert_eq!(e.to_string(), "opening store /nope: permission denied");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn usage_exits_2() {
        assert_eq!(Error::usage("missing argument").exit_code(), 2);
    }
}
