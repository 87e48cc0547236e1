//! A fake Docker Hub index: an in-process HTTP server answering `GET /v1/search?q=&n=` in
//! Docker Hub's shape (`num_pages`, `num_results`, `page_size`, `query`, `page`,
//! `results[]` of `name`, `description`, `star_count`, `is_official`, `is_automated`),
//! honouring `n` as Docker Hub does. Everything else is a 404, as on Docker Hub's index
//! (dockerd's `/v1/_ping` gets one and carries on). A test may replace the search answer
//! to play a broken or rate-limiting index.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use img_core::testing::http::{
    Server, method_and_path, percent_decode, query_value, read_head, write_head,
};
use serde_json::{Value, json};

/// One answer: status, headers, body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A running fake index; stopped when dropped.
pub struct FakeIndex {
    server: Server,
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
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let seen = seen.clone();
            Server::start(move |conn| serve(conn, &results, &answer, &seen)).unwrap()
        };
        FakeIndex { server, seen }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`, for `hub-index`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The paths (with queries) of the HTTP requests received.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn query_param(path: &str, key: &str) -> Option<String> {
    query_value(path, key).map(percent_decode)
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
    answer: &impl Fn(&str) -> Option<Answer>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let head = read_head(&mut BufReader::new(&conn))?;
    let request_line = head.first().map(String::as_str).unwrap_or("");
    let (method, path) = method_and_path(request_line);
    // A TLS ClientHello (dockerd tries HTTPS first) is no HTTP request: hang up.
    if !request_line.ends_with("HTTP/1.1") && !request_line.ends_with("HTTP/1.0") {
        return Ok(());
    }
    seen.lock().unwrap().push(path.to_owned());
    let a = if path.starts_with("/v1/search") {
        answer(path).unwrap_or_else(|| search_answer(path, results))
    } else {
        Answer {
            status: 404,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"404 page not found\n".to_vec(),
        }
    };
    let mut w = conn;
    write_head(
        &mut w,
        &format!("{} Fake", a.status),
        &a.headers,
        a.body.len(),
    )?;
    if method != "HEAD" {
        w.write_all(&a.body)?;
    }
    w.flush()
}
