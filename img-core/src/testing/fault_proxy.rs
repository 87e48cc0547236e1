//! A fault-injecting HTTP proxy to put between a tool and the real registry (or the
//! harness's token server): it forwards each request, one request a connection, and on
//! the way can delay it, reset the connection, answer an error status (a 413 past a body
//! limit), add headers, truncate or corrupt the body, ignore `Range`, redirect, drip the
//! body, or stall — before the headers or half-way through the body, holding the
//! connection open and silent until the proxy is dropped. It records every request it
//! sees (method, path, headers, when) for tests to assert on.
//!
//! As a reverse proxy does, it rewrites a `Location` naming the upstream (the registry
//! builds its upload URLs from the `Host` it was sent) back to the proxy's own address, so
//! a push's PATCH and PUT come through it too; or, with [`Fault::Relocate`], to another
//! origin, as registries send uploads to object storage.
//!
//! It is a fault injector in front of the real registry, never a registry of its own.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it untouched.
    Pass,
    /// Wait this long, then forward it untouched: a far registry, or one slow to answer
    /// (time for a test to see which requests a client sends before any answer comes).
    Delay(Duration),
    /// Close the connection without answering.
    Reset,
    /// Answer this status without asking the registry; `Some(s)` adds `Retry-After: s`.
    Status(u16, Option<u32>),
    /// Forward, but cut the response body off after this many bytes.
    Truncate(u64),
    /// Forward, but flip the bits of the body's byte at this offset (wrong content for
    /// the digest asked for).
    Corrupt(u64),
    /// Forward, adding these headers to the answer (Docker Hub's `ratelimit-remaining`).
    AddHeaders(Vec<(String, String)>),
    /// Forward without the `Range` header, as a server that ignores ranges does.
    IgnoreRange,
    /// Forward, but drip the body: pause this long after every 64 KiB (time to kill a
    /// client in the middle of a download).
    Slow(Duration),
    /// Answer `307 Temporary Redirect` to this base URL + the request's path.
    RedirectTo(String),
    /// Forward, but point the response's `Location` (an upload's URL) at this base URL
    /// (`http://localhost:PORT`) instead of back at the proxy: another origin.
    Relocate(String),
    /// Answer this error status with this body (a registry's error envelope, or a proxy's
    /// page), without asking the registry: what a client prints of a body it did not write.
    Refuse {
        /// The status sent.
        status: u16,
        /// The `Content-Type` sent.
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
    /// Answer `413 Request Entity Too Large` to a request whose body (by its
    /// `Content-Length`) is longer than this many bytes, after reading it, as a proxy in
    /// front of a registry does past its body limit (nginx's `client_max_body_size`);
    /// forward the others untouched.
    BodyLimit(u64),
    /// Read the request, then send nothing at all (a server that never sends headers).
    Silent,
    /// Forward the headers and this many bytes of the body, then send nothing more.
    StallAfter(u64),
    /// Forward the request's headers and this many bytes of its body (an upload; at most
    /// all but its last byte), then close both connections: a connection cut in the
    /// middle of a push.
    CutUpload(u64),
    /// Answer `200` with this body, of this content type, without asking the registry: a
    /// registry that serves documents of its own making (a manifest claiming a 10 TB
    /// layer, an index nested a thousand deep). With `content_length` false the body is
    /// sent without a length and ends when the connection closes.
    Serve {
        /// The `Content-Type` sent.
        content_type: String,
        /// The body.
        body: Vec<u8>,
        /// Whether `Content-Length` is sent.
        content_length: bool,
    },
    /// Answer `200` with a body made up as it is sent (`{"schemaVersion":2,` then
    /// spaces, which stay JSON until the end): `Some(n)` bytes with `Content-Length: n`,
    /// or `None`, no length and no end (until the client closes or the proxy stops).
    Flood {
        /// The `Content-Type` sent.
        content_type: String,
        /// The length sent and declared, or none.
        len: Option<u64>,
    },
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers as received, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The fault applied.
    pub fault: Fault,
    /// When it arrived, its head read.
    pub at: Instant,
}

impl SeenRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Plan = dyn Fn(&str, &str, usize) -> Fault + Send + Sync;

/// A running proxy; stopped when dropped.
pub struct FaultProxy {
    server: super::http::Server,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    /// Ends the connections held open or flooded (the server stops accepting by itself).
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`127.0.0.1:PORT`, plain HTTP).
    /// `plan(method, path, n)` decides each request's fault; `n` counts the requests seen
    /// so far (0 for the first), so a plan can fail the first few and pass the rest.
    pub fn start(
        upstream: &str,
        plan: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
    ) -> io::Result<FaultProxy> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let server = {
            let (seen, stop) = (seen.clone(), stop.clone());
            super::http::Server::start(move |conn| serve(conn, &upstream, &plan, &seen, &stop))?
        };
        Ok(FaultProxy { server, seen, stop })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.server.addr()
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Holds a connection open and silent until the proxy stops (or ten minutes pass: no
/// test waits that long), as a stalled server does.
fn hold(stop: &AtomicBool) {
    let start = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(600) {
        thread::sleep(Duration::from_millis(50));
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    plan: &Plan,
    seen: &Mutex<Vec<SeenRequest>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let head = super::http::read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = head[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let fault = {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let fault = plan(&method, &path, seen.len());
        seen.push(SeenRequest {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            fault: fault.clone(),
            at: Instant::now(),
        });
        fault
    };
    let mut client_w = client;
    match &fault {
        Fault::Reset => {
            client_w.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        Fault::Status(code, retry_after) => {
            // The body is read first, so the client sees the status, not a broken pipe.
            drain_body(&mut reader, &headers)?;
            let retry = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let body = format!(
                r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected status {code}"}}]}}"#
            );
            write!(
                client_w,
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        Fault::Refuse {
            status,
            content_type,
            body,
        } => {
            write!(
                client_w,
                "HTTP/1.1 {status} Refused\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method != "HEAD" {
                client_w.write_all(body)?;
            }
            return Ok(());
        }
        Fault::BodyLimit(limit) if body_length(&headers).is_some_and(|n| n > *limit) => {
            drain_body(&mut reader, &headers)?;
            let body = "<html><head><title>413 Request Entity Too Large</title></head></html>\n";
            write!(
                client_w,
                "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        Fault::Delay(pause) => thread::sleep(*pause),
        Fault::Silent => {
            hold(stop);
            return Ok(());
        }
        Fault::Serve {
            content_type,
            body,
            content_length,
        } => {
            let length = if *content_length {
                format!("Content-Length: {}\r\n", body.len())
            } else {
                String::new()
            };
            write!(
                client_w,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{length}Connection: close\r\n\r\n"
            )?;
            if method != "HEAD" {
                client_w.write_all(body)?;
            }
            client_w.flush()?;
            return Ok(());
        }
        Fault::Flood { content_type, len } => {
            let length = len
                .map(|n| format!("Content-Length: {n}\r\n"))
                .unwrap_or_default();
            write!(
                client_w,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{length}Connection: close\r\n\r\n"
            )?;
            if method != "HEAD" {
                flood(&mut client_w, len.unwrap_or(u64::MAX), stop)?;
            }
            return Ok(());
        }
        Fault::RedirectTo(base) => {
            write!(
                client_w,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {base}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut out = format!("{request_line}\r\n");
    for (k, v) in &headers {
        if k == "connection" || (k == "range" && fault == Fault::IgnoreRange) {
            continue;
        }
        if k == "host" {
            out.push_str(&format!("Host: {upstream}\r\n"));
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    // Request bodies (pushes) stream through as they come, whatever their framing;
    // the registry reads exactly what the framing says, then answers.
    let content_length = body_length(&headers);
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if let Fault::CutUpload(n) = &fault {
        // Never the whole body: a body shorter than `n` is cut before its last byte
        // (else the proxy would wait for bytes the client never sends).
        let n = content_length.map_or(*n, |len| (*n).min(len.saturating_sub(1)));
        io::copy(&mut (&mut reader).take(n), &mut up)?;
        up.flush()?;
        let _ = up.shutdown(Shutdown::Both);
        client_w.shutdown(Shutdown::Both)?;
        return Ok(());
    }
    if let Some(n) = content_length {
        io::copy(&mut (&mut reader).take(n), &mut up)?;
    } else if chunked {
        copy_chunked(&mut reader, &mut up)?;
    }
    let mut up_r = BufReader::new(up);
    let resp_head = super::http::read_head(&mut up_r)?;
    let mut head_out = String::new();
    // Where the client reached us: what a Location naming the upstream becomes.
    let front = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| format!("http://{v}"))
        .unwrap_or_default();
    let back = format!("http://{upstream}");
    for l in &resp_head {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if lower.starts_with("location:") {
            let value = l["location:".len()..].trim();
            let base = match &fault {
                Fault::Relocate(base) => base.as_str(),
                _ => front.as_str(),
            };
            let rewritten = match value.strip_prefix(&back) {
                Some(rest) if !base.is_empty() => format!("{base}{rest}"),
                _ => value.to_owned(),
            };
            head_out.push_str(&format!("Location: {rewritten}\r\n"));
            continue;
        }
        head_out.push_str(l);
        head_out.push_str("\r\n");
    }
    if let Fault::AddHeaders(extra) = &fault {
        for (k, v) in extra {
            head_out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head_out.push_str("Connection: close\r\n\r\n");
    client_w.write_all(head_out.as_bytes())?;
    if method == "HEAD" {
        return Ok(());
    }
    let mut sent: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = up_r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &mut buf[..n];
        match &fault {
            Fault::Truncate(limit) => {
                let room = limit.saturating_sub(sent) as usize;
                if room < n {
                    client_w.write_all(&chunk[..room])?;
                    client_w.flush()?;
                    client_w.shutdown(Shutdown::Both)?;
                    return Ok(());
                }
            }
            Fault::Corrupt(at) if *at >= sent && *at < sent + n as u64 => {
                chunk[(*at - sent) as usize] ^= 0xff;
            }
            Fault::Slow(pause) => thread::sleep(*pause),
            Fault::StallAfter(limit) => {
                let room = limit.saturating_sub(sent) as usize;
                if room < n {
                    client_w.write_all(&chunk[..room])?;
                    client_w.flush()?;
                    hold(stop);
                    return Ok(());
                }
            }
            _ => {}
        }
        client_w.write_all(chunk)?;
        sent += n as u64;
    }
    client_w.flush()?;
    Ok(())
}

/// Sends `len` bytes of a JSON-looking body (an opening brace then spaces) until done,
/// the client gone, or the proxy stopped.
fn flood(w: &mut TcpStream, len: u64, stop: &AtomicBool) -> io::Result<()> {
    let head = b"{\"schemaVersion\":2,";
    let mut sent = 0u64;
    let first = head.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    w.write_all(&head[..first])?;
    sent += first as u64;
    let spaces = vec![b' '; 64 * 1024];
    while sent < len && !stop.load(Ordering::SeqCst) {
        let n = spaces
            .len()
            .min(usize::try_from(len - sent).unwrap_or(usize::MAX));
        w.write_all(&spaces[..n])?;
        sent += n as u64;
    }
    w.flush()
}

/// The request body's `Content-Length`, if it says one.
fn body_length(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
}

/// Reads the request's body (of either framing) and throws it away.
fn drain_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> io::Result<()> {
    if let Some(n) = body_length(headers) {
        io::copy(&mut reader.take(n), &mut io::sink())?;
    } else if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        copy_chunked(reader, &mut io::sink())?;
    }
    Ok(())
}

/// Copies one chunked body, framing included, up to and including its last chunk.
fn copy_chunked(r: &mut impl BufRead, w: &mut impl Write) -> io::Result<()> {
    loop {
        let mut size_line = String::new();
        r.read_line(&mut size_line)?;
        w.write_all(size_line.as_bytes())?;
        let size = u64::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut line = String::new();
                r.read_line(&mut line)?;
                w.write_all(line.as_bytes())?;
                if line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        io::copy(&mut r.take(size + 2), w)?;
    }
}
