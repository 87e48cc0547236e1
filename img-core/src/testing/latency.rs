//! A latency proxy to put between a client and the real registry (and its token server):
//! a network `rtt` away, honestly. Each new connection waits one RTT before its first
//! byte is read (the TCP handshake), and each response's first byte leaves no earlier
//! than one RTT after its request arrived. HTTP/1.1 clients that do not pipeline (ureq,
//! Go's) send a request only once the previous answer is read, so the bytes the server
//! sends after a request are that request's answer. An optional bandwidth cap is one
//! bucket shared by every connection of every proxy given the same [`Traffic`].
//!
//! It counts connections and requests by kind (token, ping, HEAD and GET of manifests
//! and blobs, uploads, manifest PUTs, redirects answered) and keeps each request line, for benchmarks and tests.
//!
//! A registry's CDN: [`LatencyProxy::start_redirecting_blobs`] answers every blob GET
//! itself with a `307` to a second proxy ([`LatencyProxy::start_cdn`], as delayed, in
//! front of a registry that serves the same storage without auth), as registries send
//! blobs to object storage. What the CDN serves is counted apart, with the requests that
//! carried an `Authorization` (credentials belong to the registry's origin alone).
//!
//! `IMG_LATENCY_TRACE=1` prints a timeline to stderr (milliseconds since the proxy's
//! first event): each connection accepted and let through, each request's arrival and
//! its answer's first byte, each counts reset; to see where a client's round trips go.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Requests and connections seen, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests to anything but `/v2/` (the token realm).
    pub token: u64,
    /// `GET /v2/` (the ping that finds the scheme and the challenge).
    pub ping: u64,
    /// `HEAD …/manifests/…`.
    pub head_manifest: u64,
    /// `GET …/manifests/…`.
    pub get_manifest: u64,
    /// `HEAD …/blobs/…`.
    pub head_blob: u64,
    /// `GET …/blobs/…`.
    pub get_blob: u64,
    /// `POST`, `PATCH` or `PUT …/blobs/uploads/…` (a push's uploads).
    pub upload: u64,
    /// `PUT …/manifests/…`.
    pub put_manifest: u64,
    /// Any other request under `/v2/` (tag lists), or bytes that were no HTTP request (a
    /// TLS hello sent to a plain HTTP port).
    pub other: u64,
    /// Answers with a 3xx status.
    pub redirects: u64,
    /// Answers with a 401 status.
    pub unauthorized: u64,
    /// Requests the CDN answered (the blob GETs a 307 sent there).
    pub cdn: u64,
    /// Of those, the requests that carried an `Authorization` header.
    pub cdn_authorized: u64,
    /// TCP connections the CDN accepted.
    pub cdn_connections: u64,
}

impl Counts {
    /// Every request counted.
    pub fn requests(&self) -> u64 {
        self.token
            + self.ping
            + self.head_manifest
            + self.get_manifest
            + self.head_blob
            + self.get_blob
            + self.upload
            + self.put_manifest
            + self.other
            + self.cdn
    }
}

/// What the proxies in front of one registry share: the counts, the request log and the
/// bandwidth bucket.
#[derive(Debug, Default)]
pub struct Traffic {
    counts: Mutex<Counts>,
    log: Mutex<Vec<String>>,
    /// Bytes a second from servers to clients, all connections together.
    bandwidth: Mutex<Option<u64>>,
    /// When the bucket is next empty: the virtual clock of the shaper.
    next_free: Mutex<Option<Instant>>,
}

impl Traffic {
    /// Shared traffic state, capped at `bandwidth` bytes a second when given.
    pub fn new(bandwidth: Option<u64>) -> Arc<Traffic> {
        Arc::new(Traffic {
            bandwidth: Mutex::new(bandwidth),
            ..Traffic::default()
        })
    }

    /// Caps (or uncaps) the bandwidth from now on.
    pub fn set_bandwidth(&self, bandwidth: Option<u64>) {
        *lock(&self.bandwidth) = bandwidth;
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        lock(&self.counts).clone()
    }

    /// Every request line so far (`HEAD /v2/a/manifests/latest`), in arrival order.
    pub fn log(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// Forgets the counts and the log (between the runs of a benchmark).
    pub fn reset(&self) {
        trace(0, "counts reset");
        *lock(&self.counts) = Counts::default();
        lock(&self.log).clear();
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.counts));
    }

    fn request(&self, seen: &Seen, role: &Role) {
        let line = seen.line.as_str();
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("");
        if matches!(role, Role::Cdn) {
            self.count(|c| {
                c.cdn += 1;
                c.cdn_authorized += u64::from(seen.authorized);
            });
            lock(&self.log).push(format!("cdn: {line}"));
            return;
        }
        self.count(|c| {
            let field = if method == "(not" {
                &mut c.other
            } else if !path.starts_with("/v2/") {
                &mut c.token
            } else if path == "/v2/" {
                &mut c.ping
            } else if path.contains("/blobs/uploads/") {
                &mut c.upload
            } else if path.contains("/manifests/") && method == "PUT" {
                &mut c.put_manifest
            } else if path.contains("/manifests/") && method == "HEAD" {
                &mut c.head_manifest
            } else if path.contains("/manifests/") && method == "GET" {
                &mut c.get_manifest
            } else if path.contains("/blobs/") && method == "HEAD" {
                &mut c.head_blob
            } else if path.contains("/blobs/") && method == "GET" {
                &mut c.get_blob
            } else {
                &mut c.other
            };
            *field += 1;
        });
        lock(&self.log).push(line.to_owned());
    }

    /// Waits until `n` more bytes may pass the bandwidth cap.
    fn pass(&self, n: usize) {
        let Some(rate) = lock(&self.bandwidth).filter(|r| *r > 0) else {
            return;
        };
        let until = {
            let mut next = lock(&self.next_free);
            let now = Instant::now();
            let start = next.filter(|t| *t > now).unwrap_or(now);
            let end = start + Duration::from_secs_f64(n as f64 / rate as f64);
            *next = Some(end);
            end
        };
        sleep_until(until);
    }
}

/// A running latency proxy; stopped (its connections shut) when dropped.
pub struct LatencyProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<thread::JoinHandle<()>>,
}

/// What a proxy stands for: the registry, the registry sending blobs to its CDN, or the
/// CDN.
#[derive(Debug, Clone)]
enum Role {
    Registry,
    /// Blob GETs are answered with a 307 to this `host:port`.
    RedirectBlobs(String),
    Cdn,
}

impl LatencyProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`host:port`),
    /// `rtt` away, counting into `traffic`.
    pub fn start(upstream: &str, rtt: Duration, traffic: Arc<Traffic>) -> io::Result<Self> {
        Self::start_as(upstream, rtt, traffic, Role::Registry)
    }

    /// As [`LatencyProxy::start`], but every blob GET is answered here, one RTT after it
    /// arrived, with a `307` to the same path on `cdn` (counted as a redirect, never
    /// forwarded to `upstream`).
    pub fn start_redirecting_blobs(
        upstream: &str,
        rtt: Duration,
        traffic: Arc<Traffic>,
        cdn: &LatencyProxy,
    ) -> io::Result<Self> {
        Self::start_as(upstream, rtt, traffic, Role::RedirectBlobs(cdn.addr()))
    }

    /// The CDN a redirecting proxy sends blobs to, `rtt` away too and sharing the
    /// bandwidth bucket of `traffic`: `upstream` is a registry serving the same storage
    /// (without auth, as a presigned URL needs none). Its requests and connections count
    /// as [`Counts::cdn`] and [`Counts::cdn_connections`].
    pub fn start_cdn(upstream: &str, rtt: Duration, traffic: Arc<Traffic>) -> io::Result<Self> {
        Self::start_as(upstream, rtt, traffic, Role::Cdn)
    }

    fn start_as(
        upstream: &str,
        rtt: Duration,
        traffic: Arc<Traffic>,
        role: Role,
    ) -> io::Result<Self> {
        let upstream: SocketAddr = upstream
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{upstream}: {e}")))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, open) = (stop.clone(), open.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = conn else { continue };
                    if let Ok(c) = client.try_clone() {
                        lock(&open).push(c);
                    }
                    traffic.count(|c| match role {
                        Role::Cdn => c.cdn_connections += 1,
                        _ => c.connections += 1,
                    });
                    let (traffic, role) = (traffic.clone(), role.clone());
                    let id = NEXT_CONNECTION.fetch_add(1, Ordering::SeqCst);
                    trace(id, &format!("accepted ({role:?})"));
                    thread::spawn(move || {
                        let _ = relay(client, upstream, rtt, &traffic, &role, id);
                    });
                }
            })
        };
        Ok(LatencyProxy {
            addr,
            stop,
            open,
            accept: Some(accept),
        })
    }

    /// `127.0.0.1:port`, to give clients (and the registry's realm) instead of upstream.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        for c in lock(&self.open).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// One connection: the handshake's RTT, then requests forwarded as they come and each
/// answer held until one RTT after its request.
fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    rtt: Duration,
    traffic: &Arc<Traffic>,
    role: &Role,
    id: u64,
) -> io::Result<()> {
    thread::sleep(rtt);
    let server = TcpStream::connect(upstream)?;
    trace(id, "let through");
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    // The arrival time of the latest request whose answer has not started.
    let pending: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let answers = {
        let (mut from, mut to) = (server.try_clone()?, client.try_clone()?);
        let pending = pending.clone();
        let traffic = traffic.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let asked = lock(&pending).take();
                if let Some(at) = asked {
                    sleep_until(at + rtt);
                    trace(
                        id,
                        &format!(
                            "answer {}",
                            String::from_utf8_lossy(buf.get(9..12).unwrap_or(b"?"))
                        ),
                    );
                    // The status line starts the answer: `HTTP/1.1 307 …`.
                    match buf.get(9..12) {
                        Some([b'3', _, _]) => traffic.count(|c| c.redirects += 1),
                        Some(b"401") => traffic.count(|c| c.unauthorized += 1),
                        _ => {}
                    }
                }
                traffic.pass(n);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let mut requests = Requests::default();
    let (mut from, mut to) = (client, server);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for piece in requests.feed(&buf[..n]) {
            if let Some(seen) = &piece.request {
                traffic.request(seen, role);
                let arrived = Instant::now();
                trace(id, &format!("request {}", seen.line));
                if let Role::RedirectBlobs(cdn) = role
                    && let Some(path) = blob_get(&seen.line)
                {
                    // Answered here: the client sends nothing more on this connection
                    // before it has read this answer (no pipelining), so no answer of
                    // the registry's is on its way to mix with it.
                    sleep_until(arrived + rtt);
                    let answer = format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{cdn}{path}\r\nContent-Length: 0\r\n\r\n"
                    );
                    traffic.count(|c| c.redirects += 1);
                    if (&from).write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                    continue;
                }
                *lock(&pending) = Some(arrived);
            }
            // Throttled by the bandwidth cap only from servers to clients: a pull's bytes.
            if to.write_all(&piece.bytes).is_err() {
                break;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = answers.join();
    Ok(())
}

/// Finds request boundaries in what a client sends: heads up to their blank line (held
/// back until whole, so a redirecting proxy can answer a request instead of forwarding
/// it), then `Content-Length` bytes of body. What cannot be parsed (a TLS hello) counts
/// as one request and the rest of the connection is passed on unread.
#[derive(Default)]
struct Requests {
    head: Vec<u8>,
    body_left: u64,
    raw: bool,
}

/// A request seen: its line (`GET /v2/`) and whether it carried an `Authorization`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    line: String,
    authorized: bool,
}

/// Bytes to pass on, and the request whose head they are, if they are one.
#[derive(Debug)]
struct Piece {
    request: Option<Seen>,
    bytes: Vec<u8>,
}

impl Requests {
    /// What `bytes` completes: whole request heads (each with its request) and body or
    /// unparsed bytes, in order.
    fn feed(&mut self, mut bytes: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        let not_http = || Seen {
            line: "(not HTTP)".to_owned(),
            authorized: false,
        };
        while !bytes.is_empty() {
            if self.raw {
                out.push(Piece {
                    request: None,
                    bytes: bytes.to_vec(),
                });
                break;
            }
            if self.body_left > 0 {
                let take = (self.body_left as usize).min(bytes.len());
                self.body_left -= take as u64;
                out.push(Piece {
                    request: None,
                    bytes: bytes[..take].to_vec(),
                });
                bytes = &bytes[take..];
                continue;
            }
            let before = self.head.len();
            self.head.extend_from_slice(bytes);
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                if !self.head[..self.head.len().min(1)]
                    .iter()
                    .all(u8::is_ascii_uppercase)
                    || self.head.len() > 64 * 1024
                {
                    self.raw = true;
                    out.push(Piece {
                        request: Some(not_http()),
                        bytes: std::mem::take(&mut self.head),
                    });
                }
                return out;
            };
            let head_bytes = self.head[..end + 4].to_vec();
            bytes = &bytes[end + 4 - before..];
            self.head.clear();
            let head = String::from_utf8_lossy(&head_bytes[..end]).into_owned();
            let mut it = head.split("\r\n");
            let line = it.next().unwrap_or("").to_owned();
            if !line.ends_with("HTTP/1.1") && !line.ends_with("HTTP/1.0") {
                self.raw = true;
                out.push(Piece {
                    request: Some(not_http()),
                    bytes: head_bytes,
                });
                continue;
            }
            let mut authorized = false;
            for h in it {
                if let Some((k, v)) = h.split_once(':') {
                    let k = k.trim();
                    if k.eq_ignore_ascii_case("content-length") {
                        self.body_left = v.trim().parse().unwrap_or(0);
                    } else if k.eq_ignore_ascii_case("transfer-encoding") {
                        // A chunked body is not followed: the rest passes unread.
                        self.raw = true;
                    } else if k.eq_ignore_ascii_case("authorization") {
                        authorized = true;
                    }
                }
            }
            let line = line
                .trim_end_matches(" HTTP/1.1")
                .trim_end_matches(" HTTP/1.0")
                .to_owned();
            out.push(Piece {
                request: Some(Seen { line, authorized }),
                bytes: head_bytes,
            });
        }
        out
    }
}

/// The path of a blob GET (`GET /v2/a/blobs/sha256:…`), the request a registry sends to
/// its CDN.
fn blob_get(line: &str) -> Option<&str> {
    let path = line.strip_prefix("GET ")?;
    (path.starts_with("/v2/") && path.contains("/blobs/") && !path.contains("/uploads/"))
        .then_some(path)
}

/// Connection numbers for the trace, across every proxy of the process.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// One line of the `IMG_LATENCY_TRACE` timeline, when it is on.
fn trace(connection: u64, what: &str) {
    static ON: OnceLock<Option<Instant>> = OnceLock::new();
    let on = ON.get_or_init(|| std::env::var_os("IMG_LATENCY_TRACE").map(|_| Instant::now()));
    if let Some(start) = on {
        eprintln!(
            "latency: {:8.1} ms c{connection} {what}",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters and a log: a panic elsewhere leaves nothing half-written in them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request lines of `pieces`, and their bytes joined.
    fn split(pieces: Vec<Piece>) -> (Vec<String>, Vec<u8>) {
        let mut lines = Vec::new();
        let mut bytes = Vec::new();
        for p in pieces {
            if let Some(r) = p.request {
                lines.push(r.line);
            }
            bytes.extend(p.bytes);
        }
        (lines, bytes)
    }

    #[test]
    fn requests_are_split_at_their_heads_and_bodies() {
        let mut r = Requests::default();
        let one = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v2/a/manifests/t HTTP/1.1\r\n";
        let (lines, first) = split(r.feed(one));
        assert_eq!(lines, ["GET /v2/"]);
        // The unfinished head is held back until whole.
        assert_eq!(first, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
        let two = b"\r\nPUT /v2/a/blobs/uploads/1 HTTP/1.1\r\nContent-Length: 4\r\n\r\nGET GET /v2/a/blobs/b HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n";
        let pieces = r.feed(two);
        let authorized: Vec<bool> = pieces
            .iter()
            .filter_map(|p| p.request.as_ref().map(|r| r.authorized))
            .collect();
        assert_eq!(authorized, [false, false, true]);
        let (lines, rest) = split(pieces);
        assert_eq!(
            lines,
            [
                "HEAD /v2/a/manifests/t",
                "PUT /v2/a/blobs/uploads/1",
                "GET /v2/a/blobs/b"
            ]
        );
        assert_eq!([first, rest].concat(), [&one[..], &two[..]].concat());
        assert_eq!(blob_get("GET /v2/a/blobs/b"), Some("/v2/a/blobs/b"));
        assert_eq!(blob_get("HEAD /v2/a/blobs/b"), None);
        assert_eq!(blob_get("GET /v2/a/manifests/b"), None);
        let mut tls = Requests::default();
        let (lines, bytes) = split(tls.feed(b"\x16\x03\x01\x02\x00"));
        assert_eq!(lines, ["(not HTTP)"]);
        assert_eq!(bytes, b"\x16\x03\x01\x02\x00");
    }
}
