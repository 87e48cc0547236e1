//! The HTTP/1.1 of in-process test servers (a fake search index, a paging proxy): an
//! accept loop that serves each connection on a thread of its own until the server is
//! dropped, reading a request's head and query, and writing an answer's head.
//!
//! One request a connection, every answer with `Connection: close`: a test server stays
//! a few lines long, and no client waits on a connection kept alive.

use std::fmt::Display;
use std::io::{self, BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// A server running on 127.0.0.1; stopped when dropped.
pub struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Listens on a free port of 127.0.0.1 and hands each connection to `serve`, on a
    /// thread of its own. A connection's error ends that connection only: a client that
    /// hangs up half-way is no reason to stop serving the others.
    pub fn start(
        serve: impl Fn(TcpStream) -> io::Result<()> + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        {
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let serve = serve.clone();
                    thread::spawn(move || {
                        let _ = serve(conn);
                    });
                }
            });
        }
        Ok(Server { addr, stop })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// The lines of a request's or an answer's head, up to the empty line, without their
/// line ends; the first is the request or status line. The stream ending first is an
/// `UnexpectedEof`.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// The method and the path (with its query) of a request line; empty when missing.
pub fn method_and_path(request_line: &str) -> (&str, &str) {
    let mut parts = request_line.split_whitespace();
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// The value of `key` in the query of `path`, as sent (still percent-encoded).
pub fn query_value<'a>(path: &'a str, key: &str) -> Option<&'a str> {
    path.split_once('?')?.1.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// A query value decoded: `%XX` escapes, and `+` for a space.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Bytes, not `&s[..]`: a `%` before a multi-byte character must not panic.
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(hex) = std::str::from_utf8(&b[i + 1..i + 3])
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes an answer's head: `HTTP/1.1 {status}` (`200 OK`), `headers` in their order,
/// `Content-Length`, and `Connection: close`. The body, if any, is the caller's to write.
pub fn write_head(
    w: &mut impl Write,
    status: &str,
    headers: &[(impl Display, impl Display)],
    content_length: usize,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ));
    w.write_all(head.as_bytes())
}

/// An answer's head as another server sent it, ready to pass on: its `Connection`
/// header replaced by `Connection: close`, since this connection ends with the answer.
pub fn closing_head(head: &[String]) -> String {
    let mut out = String::new();
    for l in head {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_read_to_the_empty_line() {
        let mut r: &[u8] = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nbody";
        let head = read_head(&mut r).unwrap();
        assert_eq!(head, ["GET /v2/ HTTP/1.1", "Host: x"]);
        assert_eq!(r, b"body");
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        let e = read_head(&mut cut).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(method_and_path(&head[0]), ("GET", "/v2/"));
        assert_eq!(method_and_path(""), ("", ""));
    }

    #[test]
    fn query_values_are_found_and_decoded() {
        let path = "/v1/search?q=team%2Fapp+x&n=25";
        assert_eq!(query_value(path, "q"), Some("team%2Fapp+x"));
        assert_eq!(query_value(path, "n"), Some("25"));
        assert_eq!(query_value(path, "last"), None);
        assert_eq!(query_value("/v2/_catalog", "n"), None);
        assert_eq!(percent_decode("team%2Fapp+x"), "team/app x");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn heads_are_written_and_passed_on_closing() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            "200 OK",
            &[("Content-Type", "application/json")],
            2,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
        let passed = closing_head(&[
            "HTTP/1.1 404 Not Found".into(),
            "connection: keep-alive".into(),
        ]);
        assert_eq!(
            passed,
            "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n"
        );
    }
}
