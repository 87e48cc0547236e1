//! Tests of `--format` output: docker's table layout, JSON Lines, templates, errors.

use super::*;
use crate::ErrorKind;
use serde_json::json;

const IMAGES: &[Column] = &[
    Column::new("Repository", "REPOSITORY"),
    Column::new("Tag", "TAG"),
    Column::new("ID", "IMAGE ID"),
    Column::new("CreatedSince", "CREATED"),
    Column::new("Size", "SIZE"),
];

fn rows() -> Vec<Value> {
    vec![
        json!({"Repository": "alpine", "Tag": "3.20", "ID": "1d34ffeaf190",
               "Digest": "sha256:aa", "CreatedSince": "2 weeks ago", "Size": "7.8MB"}),
        json!({"Repository": "docker.io/library/busybox", "Tag": "latest", "ID": "6fd955f66c23",
               "Digest": "sha256:bb", "CreatedSince": "3 months ago", "Size": "4.26MB"}),
        json!({"Repository": "<none>", "Tag": "<none>", "ID": "aabbccddeeff",
               "Digest": "<none>", "CreatedSince": "About an hour ago", "Size": "1.23GB"}),
    ]
}

fn print(format: &str, records: &[Value]) -> String {
    let mut buf = Vec::new();
    let mut out = Output::new(Format::parse(format).unwrap(), IMAGES, &mut buf).headers(&[
        Column::new("Digest", "DIGEST"),
        Column::new("CreatedAt", "CREATED AT"),
    ]);
    for r in records {
        out.write(r).unwrap();
    }
    out.finish().unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn default_table_aligns_like_docker_images() {
    assert_eq!(
        print("table", &rows()),
        "REPOSITORY                  TAG       IMAGE ID       CREATED             SIZE\n\
         alpine                      3.20      1d34ffeaf190   2 weeks ago         7.8MB\n\
         docker.io/library/busybox   latest    6fd955f66c23   3 months ago        4.26MB\n\
         <none>                      <none>    aabbccddeeff   About an hour ago   1.23GB\n"
    );
}

#[test]
fn empty_table_prints_its_header() {
    assert_eq!(
        print("table", &[]),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
}

#[test]
fn custom_table_takes_headers_from_its_fields() {
    // Literal `\t` as a shell passes it, like docker's own example.
    assert_eq!(
        print(r"table {{.Repository}}\t{{.Tag}}", &rows()),
        "REPOSITORY                  TAG\n\
         alpine                      3.20\n\
         docker.io/library/busybox   latest\n\
         <none>                      <none>\n"
    );
    assert_eq!(
        print(
            r"table {{.ID}}\t{{.Digest}}\t{{.CreatedSince}}",
            &rows()[..1]
        ),
        "IMAGE ID       DIGEST      CREATED\n1d34ffeaf190   sha256:aa   2 weeks ago\n"
    );
    // Keys named nowhere get docker-like headers; functions leave headers alone.
    let mut buf = Vec::new();
    let format = Format::parse(r#"table {{join .RepoTags ","}}\t{{lower .SharedSize}}"#).unwrap();
    let mut out = Output::new(format, IMAGES, &mut buf);
    out.write(&json!({"RepoTags": ["a:1", "b:2"], "SharedSize": "x"}))
        .unwrap();
    out.finish().unwrap();
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        "REPO TAGS   SHARED SIZE\na:1,b:2     x\n"
    );
}

#[test]
fn default_headers_split_camel_case() {
    assert_eq!(default_header("CreatedSince"), "CREATED SINCE");
    assert_eq!(default_header("ID"), "ID");
    assert_eq!(default_header("RepoDigests"), "REPO DIGESTS");
    assert_eq!(default_header("HTTPProxy"), "HTTP PROXY");
    assert_eq!(default_header("IsOfficial"), "IS OFFICIAL");
}

#[test]
fn json_lines_round_trip() {
    let text = print("json", &rows());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    for (line, want) in lines.iter().zip(rows()) {
        let got: Value = serde_json::from_str(line).unwrap();
        assert_eq!(got, want);
    }
    // Compact, and in the record's key order.
    assert!(lines[0].starts_with(r#"{"Repository":"alpine","Tag":"3.20","ID":"#));
}

#[test]
fn template_prints_once_per_record() {
    assert_eq!(
        print("{{.Repository}}:{{.Tag}}", &rows()),
        "alpine:3.20\ndocker.io/library/busybox:latest\n<none>:<none>\n"
    );
    assert_eq!(
        print(r"{{.ID}}\t{{.Size}}", &rows()[..1]),
        "1d34ffeaf190\t7.8MB\n"
    );
    // Inside actions Go's escapes apply, so "\n" in a string literal is a newline.
    assert_eq!(
        print(r#"{{join (split .Tag ".") "\n"}}"#, &rows()[..1]),
        "3\n20\n"
    );
}

#[test]
fn format_parse_choices() {
    assert!(matches!(
        Format::parse("table").unwrap(),
        Format::Table(None)
    ));
    assert!(matches!(
        Format::parse("table {{.ID}}").unwrap(),
        Format::Table(Some(_))
    ));
    assert!(matches!(Format::parse("json").unwrap(), Format::Json));
    assert!(matches!(
        Format::parse("{{json .}}").unwrap(),
        Format::Template(_)
    ));
    assert!(matches!(Format::default_for(true), Format::Table(None)));
    assert!(matches!(Format::default_for(false), Format::Json));
    assert_eq!(Format::parse("").unwrap_err().kind(), ErrorKind::Usage);
    let e = Format::parse("{{.ID}").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Template);
    assert_eq!(
        e.to_string(),
        "parsing --format: template: :1: bad character U+007D '}'"
    );
}

#[test]
fn template_errors_surface_from_write() {
    let mut buf = Vec::new();
    let mut out = Output::new(Format::parse("{{.Nope}}").unwrap(), IMAGES, &mut buf);
    let e = out.write(&rows()[0]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Template);
    assert_eq!(
        e.to_string(),
        "template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
    );
}

/// A writer whose reader went away, like stdout piped into `head`.
struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn broken_pipe_keeps_its_io_kind() {
    let mut out = Output::new(Format::Json, IMAGES, ClosedPipe);
    let e = out.write(&rows()[0]).unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::BrokenPipe));
    let mut table = Output::new(Format::Table(None), IMAGES, ClosedPipe);
    table.write(&rows()[0]).unwrap();
    let e = table.finish().unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::BrokenPipe));
}

#[test]
fn unescape_only_touches_text() {
    assert_eq!(unescape_text(r"{{.A}}\t{{.B}}\n"), "{{.A}}\t{{.B}}\n");
    assert_eq!(unescape_text(r#"{{"}}\t"}}\t"#), "{{\"}}\\t\"}}\t");
    assert_eq!(unescape_text(r"{{/* }} \t */}}\t"), "{{/* }} \\t */}}\t");
}
