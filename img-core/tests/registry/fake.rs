//! The client against a scripted HTTP server, for what a real 2.8 registry never does:
//! paging tags, Basic challenges, oversized or mislabelled manifests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use img_core::ErrorKind;
use img_core::registry::{ClientOptions, Credentials};

use super::http_client;

/// A one-thread HTTP/1.1 server answering `requests` requests with `answer`, which sees
/// the request line and headers (lowercased names). Every answer closes the connection.
fn fake_server(
    requests: usize,
    answer: impl Fn(&str, &[(String, String)]) -> (u16, Vec<(String, String)>, String) + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..requests {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
            }
            let (status, extra, body) = answer(line.trim_end(), &headers);
            // An answer with an "X-No-Length" header is delimited by closing the
            // connection, so the client cannot know its size in advance.
            let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            if !extra.iter().any(|(k, _)| k == "X-No-Length") {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            for (k, v) in extra {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            let mut stream = stream;
            // A client that refuses a body closes early; that is not the server's failure.
            let _ = stream.write_all(out.as_bytes());
            seen.push(format!(
                "{} auth={}",
                line.trim_end(),
                headers.iter().any(|(k, _)| k == "authorization")
            ));
        }
        seen
    });
    (addr, handle)
}

#[test]
fn tags_pages_follow_relative_and_absolute_links() {
    let (addr, server) = fake_server(3, |line, headers| {
        let host = headers.iter().find(|(k, _)| k == "host").unwrap().1.clone();
        let link = |to: &str| vec![("Link".to_owned(), format!("<{to}>; rel=\"next\""))];
        if line.starts_with("GET /v2/a/tags/list?n=2 ") {
            (
                200,
                link("/v2/a/tags/list?n=2&last=t2"),
                r#"{"name":"a","tags":["t1","t2"]}"#.into(),
            )
        } else if line.contains("last=t2") {
            (
                200,
                link(&format!("http://{host}/v2/a/tags/list?n=2&last=t4")),
                r#"{"name":"a","tags":["t3","t4"]}"#.into(),
            )
        } else {
            (200, vec![], r#"{"name":"a","tags":["t5"]}"#.into())
        }
    });
    let client = http_client(
        &addr,
        ClientOptions {
            list_page_size: Some(2),
            ..ClientOptions::default()
        },
    );
    assert_eq!(client.tags("a").unwrap(), ["t1", "t2", "t3", "t4", "t5"]);
    assert_eq!(server.join().unwrap().len(), 3);
}

#[test]
fn basic_challenges_are_answered_once_and_never_leak() {
    let (addr, server) = fake_server(3, |_, headers| {
        let auth = headers.iter().find(|(k, _)| k == "authorization");
        match auth {
            Some((_, v))
                if Credentials::Basic {
                    username: "me".into(),
                    password: "s3cret".into(),
                }
                .basic_header()
                .as_ref()
                    == Some(v) =>
            {
                (
                    200,
                    vec![("Content-Type".into(), "application/json".into())],
                    r#"{"tags":["ok"]}"#.into(),
                )
            }
            _ => (
                401,
                vec![("WWW-Authenticate".into(), r#"Basic realm="test""#.into())],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .into(),
            ),
        }
    });
    let good = http_client(
        &addr,
        ClientOptions {
            credentials: Some(Credentials::Basic {
                username: "me".into(),
                password: "s3cret".into(),
            }),
            ..ClientOptions::default()
        },
    );
    // First request: 401, then the retry with Basic succeeds.
    assert_eq!(good.tags("a").unwrap(), ["ok"]);
    let anonymous = http_client(&addr, ClientOptions::default());
    let err = anonymous.tags("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.to_string().contains("s3cret"));
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        [
            "GET /v2/a/tags/list HTTP/1.1 auth=false",
            "GET /v2/a/tags/list HTTP/1.1 auth=true",
            "GET /v2/a/tags/list HTTP/1.1 auth=false",
        ]
    );
}

#[test]
fn oversized_and_mislabelled_manifests_are_refused() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));
    let digest_of_other = img_core::Digest::sha256_of(b"something else");
    // Four answers: content that hashes wrong is asked for once more (it may have been
    // damaged on the way) before the mismatch is reported.
    let (addr, server) = fake_server(4, move |line, _| {
        let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if line.contains("/manifests/sized") {
            (200, json, big.clone())
        } else if line.contains("/manifests/unsized") {
            let mut h = json;
            h.push(("X-No-Length".to_owned(), "1".to_owned()));
            (200, h, big.clone())
        } else {
            (200, json, r#"{"schemaVersion":2}"#.to_owned())
        }
    });
    let client = http_client(&addr, ClientOptions::default());
    for tag in ["sized", "unsized"] {
        let err = client.get_manifest("a", tag).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{tag}: {err}");
    }
    let err = client
        .get_manifest("a", &digest_of_other.to_string())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    server.join().unwrap();
}
