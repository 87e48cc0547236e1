//! A fake Docker Hub index: an in-process HTTP server answering `GET /v1/search?q=&n=` in
//! Docker Hub's shape (`num_pages`, `num_results`, `page_size`, `query`, `page`,
//! `results[]` of `name`, `description`, `star_count`, `is_official`, `is_automated`),
//! honouring `n` as Docker Hub does. Everything else is a 404, as on Docker Hub's index
//! (dockerd's `/v1/_ping` gets one and carries on). A test may replace the search answer
//! to play a broken or rate-limiting index.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

/// One answer: status, headers, body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

type Override = dyn Fn(&str) -> Option<Answer> + Send + Sync;

/// A running fake index; stopped when dropped.
pub struct FakeIndex {
    addr: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

/// One result in Docker Hub's shape.
pub fn result(name: &str, description: &str, stars: u64, official: bool, automated: bool) -> Value {
    json!({
        "star_count": stars,
        "is_official": official,
        "name": name,
        "is_automated": automated,
        "description": description,
    })
}

impl FakeIndex {
    /// Serves `results` (those whose name or description holds the query, at most `n`).
    pub fn start(results: Vec<Value>) -> FakeIndex {
        FakeIndex::start_with(results, |_| None)
    }

    /// Like [`FakeIndex::start`], but `answer(path)` may replace the answer to a search.
    pub fn start_with(
        results: Vec<Value>,
        answer: impl Fn(&str) -> Option<Answer> + Send + Sync + 'static,
    ) -> FakeIndex {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Override> = Arc::new(answer);
        let results = Arc::new(results);
        {
            let (stop, seen) = (stop.clone(), seen.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, answer, results) = (seen.clone(), answer.clone(), results.clone());
                    thread::spawn(move || {
                        let _ = serve(conn, &results, &*answer, &seen);
                    });
                }
            });
        }
        FakeIndex { addr, stop, seen }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT`, for `hub-index`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The paths (with queries) of the HTTP requests received.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn query_param(path: &str, key: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
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

/// Docker Hub's answer to a search: the matching results, at most `n` (default 25).
fn search_answer(path: &str, results: &[Value]) -> Answer {
    let q = query_param(path, "q").unwrap_or_default().to_lowercase();
    let n: usize = query_param(path, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    let matching: Vec<&Value> = results
        .iter()
        .filter(|r| {
            ["name", "description"]
                .iter()
                .any(|k| r[k].as_str().is_some_and(|s| s.to_lowercase().contains(&q)))
        })
        .collect();
    let page: Vec<&Value> = matching.iter().take(n).copied().collect();
    let body = json!({
        "num_pages": matching.len().div_ceil(n.max(1)),
        "num_results": matching.len(),
        "page_size": n,
        "query": q,
        "page": 1,
        "results": page,
    });
    Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn serve(
    conn: TcpStream,
    results: &[Value],
    answer: &Override,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").to_owned();
    // A TLS ClientHello (dockerd tries HTTPS first) is no HTTP request: hang up.
    if !request_line.ends_with("HTTP/1.1\r\n") && !request_line.ends_with("HTTP/1.0\r\n") {
        return Ok(());
    }
    seen.lock().unwrap().push(path.clone());
    let a = if path.starts_with("/v1/search") {
        answer(&path).unwrap_or_else(|| search_answer(&path, results))
    } else {
        Answer {
            status: 404,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"404 page not found\n".to_vec(),
        }
    };
    let mut head = format!("HTTP/1.1 {} Fake\r\n", a.status);
    for (k, v) in &a.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        a.body.len()
    ));
    let mut w = conn;
    w.write_all(head.as_bytes())?;
    if method != "HEAD" {
        w.write_all(&a.body)?;
    }
    w.flush()
}
