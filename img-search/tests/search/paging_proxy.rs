//! A proxy in front of the real registry that pages `tags/list` as the distribution spec
//! allows and distribution 2.8 does not (it ignores `n`): each answer holds at most `n`
//! tags (the query's, else the proxy's page size) after `last`, with `Link: <…>;
//! rel="next"` to the next page. Every other request is forwarded as is; HEADs are held
//! a little and counted, so a test can see how many ran at once.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A running paging proxy; stopped when dropped.
pub struct PagingProxy {
    addr: String,
    stop: Arc<AtomicBool>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<String>>,
    heads_now: AtomicUsize,
    heads_max: AtomicUsize,
}

impl PagingProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (plain HTTP), paging tags by
    /// `page` unless the request says `n`.
    pub fn start(upstream: &str, page: usize) -> PagingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State::default());
        let upstream = upstream.to_owned();
        {
            let (stop, state) = (stop.clone(), state.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, upstream) = (state.clone(), upstream.clone());
                    thread::spawn(move || {
                        let _ = serve(conn, &upstream, page, &state);
                    });
                }
            });
        }
        PagingProxy { addr, stop, state }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Request lines seen (`GET /v2/…`).
    pub fn seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The most HEAD requests that were in flight at once.
    pub fn max_concurrent_heads(&self) -> usize {
        self.state.heads_max.load(Ordering::SeqCst)
    }
}

impl Drop for PagingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn read_head(r: &mut impl BufRead) -> io::Result<Vec<String>> {
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

fn query(path: &str, key: &str) -> Option<String> {
    path.split_once('?')?.1.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

fn serve(client: TcpStream, upstream: &str, page: usize, state: &State) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    state.seen.lock().unwrap().push(request_line.clone());
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let bare = path.split('?').next().unwrap_or("");
    if method == "GET" && bare.starts_with("/v2/") && bare.ends_with("/tags/list") {
        return page_tags(client, upstream, &head, &path, bare, page);
    }
    if method == "HEAD" {
        // In flight from its arrival until just before its answer goes back: once the
        // client has the answer it may send the next one, which must not count twice.
        let now = state.heads_now.fetch_add(1, Ordering::SeqCst) + 1;
        state.heads_max.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(40));
        let answer =
            send_upstream(upstream, &head, &request_line, &mut io::empty()).and_then(|mut up| {
                let mut answer = Vec::new();
                up.read_to_end(&mut answer)?;
                Ok(answer)
            });
        state.heads_now.fetch_sub(1, Ordering::SeqCst);
        let mut client = client;
        client.write_all(&answer?)?;
        return client.flush();
    }
    forward(client, &mut reader, upstream, &head, &request_line)
}

/// Sends `head` (host rewritten, connection closed) and the body upstream; returns the
/// upstream stream.
fn send_upstream(
    upstream: &str,
    head: &[String],
    request_line: &str,
    body: &mut impl Read,
) -> io::Result<TcpStream> {
    let mut up = TcpStream::connect(upstream)?;
    let mut out = format!("{request_line}\r\n");
    let mut length = 0u64;
    for l in &head[1..] {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        match k.as_str() {
            "host" => out.push_str(&format!("Host: {upstream}\r\n")),
            "connection" => {}
            "content-length" => {
                length = v.trim().parse().unwrap_or(0);
                out.push_str(&format!("{l}\r\n"));
            }
            _ => out.push_str(&format!("{l}\r\n")),
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    io::copy(&mut body.take(length), &mut up)?;
    Ok(up)
}

fn forward(
    mut client: TcpStream,
    reader: &mut impl Read,
    upstream: &str,
    head: &[String],
    request_line: &str,
) -> io::Result<()> {
    let up = send_upstream(upstream, head, request_line, reader)?;
    let mut up_r = BufReader::new(up);
    io::copy(&mut up_r, &mut client)?;
    client.flush()
}

fn page_tags(
    mut client: TcpStream,
    upstream: &str,
    head: &[String],
    path: &str,
    bare: &str,
    page: usize,
) -> io::Result<()> {
    let line = format!("GET {bare} HTTP/1.1");
    let up = send_upstream(upstream, head, &line, &mut io::empty())?;
    let mut up_r = BufReader::new(up);
    let resp_head = read_head(&mut up_r)?;
    let mut body = Vec::new();
    up_r.read_to_end(&mut body)?;
    let status = resp_head.first().cloned().unwrap_or_default();
    if !status.contains(" 200 ") {
        // Not found, unauthorized: as the registry said it.
        let mut out = String::new();
        for l in &resp_head {
            if !l.to_ascii_lowercase().starts_with("connection:") {
                out.push_str(l);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        client.write_all(out.as_bytes())?;
        return client.write_all(&body);
    }
    let all: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut tags: Vec<String> = all["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    let n = query(path, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(page)
        .max(1);
    let start = match query(path, "last") {
        Some(last) => tags.partition_point(|t| *t <= last),
        None => 0,
    };
    let chunk: Vec<&String> = tags[start..].iter().take(n).collect();
    let link = if start + chunk.len() < tags.len() {
        let last = chunk.last().map(|s| s.as_str()).unwrap_or("");
        format!("Link: <{bare}?last={last}&n={n}>; rel=\"next\"\r\n")
    } else {
        String::new()
    };
    let json = serde_json::json!({"name": all["name"], "tags": chunk}).to_string();
    write!(
        client,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    client.flush()
}
