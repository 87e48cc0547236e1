//! A proxy in front of the real registry that pages `tags/list` as the distribution spec
//! allows and distribution 2.8 does not (it ignores `n`): each answer holds at most `n`
//! tags (the query's, else the proxy's page size) after `last`, with `Link: <…>;
//! rel="next"` to the next page. Every other request is forwarded as is; HEADs are held
//! a little and counted, so a test can see how many ran at once.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use img_core::testing::http::{
    Server, closing_head, method_and_path, query_value, read_head, write_head,
};

/// A running paging proxy; stopped when dropped.
pub struct PagingProxy {
    server: Server,
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
        let state = Arc::new(State::default());
        let upstream = upstream.to_owned();
        let server = {
            let state = state.clone();
            Server::start(move |conn| serve(conn, &upstream, page, &state)).unwrap()
        };
        PagingProxy { server, state }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.server.addr()
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

fn serve(client: TcpStream, upstream: &str, page: usize, state: &State) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    state.seen.lock().unwrap().push(request_line.clone());
    let (method, path) = method_and_path(&request_line);
    let bare = path.split('?').next().unwrap_or("");
    if method == "GET" && bare.starts_with("/v2/") && bare.ends_with("/tags/list") {
        return page_tags(client, upstream, &head, path, bare, page);
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
        client.write_all(closing_head(&resp_head).as_bytes())?;
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
    let n = query_value(path, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(page)
        .max(1);
    let start = match query_value(path, "last") {
        Some(last) => tags.partition_point(|t| t.as_str() <= last),
        None => 0,
    };
    let chunk: Vec<&String> = tags[start..].iter().take(n).collect();
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    if start + chunk.len() < tags.len() {
        let last = chunk.last().map(|s| s.as_str()).unwrap_or("");
        headers.push(("Link", format!("<{bare}?last={last}&n={n}>; rel=\"next\"")));
    }
    let json = serde_json::json!({"name": all["name"], "tags": chunk}).to_string();
    write_head(&mut client, "200 OK", &headers, json.len())?;
    client.write_all(json.as_bytes())?;
    client.flush()
}
