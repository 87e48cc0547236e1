//! Tests of the records' JSON shapes and of the one reader, for every input form.

use std::io::Cursor;

use super::*;

const ID: &str = "sha256:9234e8fb04c47cfe0f49931e4ac7eb76fa904e33b7f8576aec0501c085f02516";
const MANIFEST: &str = "sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d";

fn items(input: &str) -> Vec<Result<Target>> {
    read_target_items(Cursor::new(input.as_bytes().to_vec())).unwrap()
}

fn targets(input: &str) -> Vec<Target> {
    read_targets(Cursor::new(input.as_bytes().to_vec()))
        .unwrap_or_else(|e| panic!("{input:?} should read: {e}"))
}

fn reference(s: &str) -> Target {
    Target::Reference(Reference::parse_normalized(s).unwrap())
}

fn image(s: &str) -> Target {
    Target::Image(s.to_owned())
}

/// The message of the single error among `items`, checked to be an InvalidRecord.
fn only_error(items: &[Result<Target>]) -> String {
    let errors: Vec<&Error> = items.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "expected one error in {items:?}");
    assert_eq!(errors[0].kind(), ErrorKind::InvalidRecord);
    errors[0].to_string()
}

fn image_record() -> ImageRecord {
    ImageRecord {
        id: Digest::parse(ID).unwrap(),
        reference: Some(Reference::parse_normalized("alpine:3.20").unwrap()),
        digest: Digest::parse(MANIFEST).unwrap(),
        repo_tags: vec!["alpine:3.20".to_owned()],
        repo_digests: vec![format!("alpine@{MANIFEST}")],
        platform: "linux/arm64/v8".to_owned(),
        size: 4090681,
        downloaded: None,
        reused: None,
    }
}

#[test]
fn image_record_keys_are_every_key_it_can_have_in_order() {
    let full = ImageRecord {
        downloaded: Some(1),
        reused: Some(2),
        ..image_record()
    };
    let value = serde_json::to_value(&full).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ImageRecord::KEYS);
}

#[test]
fn image_record_has_dockers_keys_and_skips_pull_counts() {
    let json = serde_json::to_string(&image_record()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"Id":"{ID}","Ref":"docker.io/library/alpine:3.20","Digest":"{MANIFEST}","RepoTags":["alpine:3.20"],"RepoDigests":["alpine@{MANIFEST}"],"Platform":"linux/arm64/v8","Size":4090681}}"#
        )
    );
    let pulled = ImageRecord {
        downloaded: Some(10),
        reused: Some(0),
        ..image_record()
    };
    let json = serde_json::to_string(&pulled).unwrap();
    assert!(
        json.ends_with(r#""Size":4090681,"Downloaded":10,"Reused":0}"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<ImageRecord>(&json).unwrap(), pulled);
}

#[test]
fn row_search_and_tag_records_have_dockers_keys() {
    let row = RowRecord {
        id: "9234e8fb04c4".into(),
        repository: "alpine".into(),
        tag: "3.20".into(),
        digest: "<none>".into(),
        created_at: "2024-07-22 22:26:43 +0000 UTC".into(),
        created_since: "3 weeks ago".into(),
        size: "8.83MB".into(),
    };
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(
        json,
        r#"{"ID":"9234e8fb04c4","Repository":"alpine","Tag":"3.20","Digest":"<none>","CreatedAt":"2024-07-22 22:26:43 +0000 UTC","CreatedSince":"3 weeks ago","Size":"8.83MB"}"#
    );
    let search = SearchRecord {
        description: "small".into(),
        is_official: "true".into(),
        name: "alpine".into(),
        star_count: "11000".into(),
    };
    // docker 28's `search --format json`: strings, keys in its order.
    assert_eq!(
        serde_json::to_string(&search).unwrap(),
        r#"{"Description":"small","IsOfficial":"true","Name":"alpine","StarCount":"11000"}"#
    );
    let tag = TagRecord {
        name: Reference::parse_normalized("localhost:5000/team/app:1.2").unwrap(),
        tag: "1.2".into(),
        digest: None,
    };
    assert_eq!(
        serde_json::to_string(&tag).unwrap(),
        r#"{"Name":"localhost:5000/team/app:1.2","Tag":"1.2"}"#
    );
}

#[test]
fn removal_records_use_dockers_api_shape() {
    let untagged = RemovalRecord::Untagged("alpine:3.20".into());
    let deleted = RemovalRecord::Deleted(Digest::parse(ID).unwrap());
    assert_eq!(
        serde_json::to_string(&untagged).unwrap(),
        r#"{"Untagged":"alpine:3.20"}"#
    );
    assert_eq!(
        serde_json::to_string(&deleted).unwrap(),
        format!(r#"{{"Deleted":"{ID}"}}"#)
    );
    let back: RemovalRecord = serde_json::from_str(r#"{"Untagged":"alpine:3.20"}"#).unwrap();
    assert_eq!(back, untagged);
    let reclaimed = RemovalRecord::SpaceReclaimed(1234567);
    assert_eq!(
        serde_json::to_string(&reclaimed).unwrap(),
        r#"{"SpaceReclaimed":1234567}"#
    );
}

#[test]
fn every_record_reads_back_as_what_it_names() {
    let search = r#"{"Name":"bitnami/redis","Description":"","StarCount":1,"IsOfficial":false,"IsAutomated":false}"#;
    let input = [
        serde_json::to_string(&image_record()).unwrap(),
        r#"{"ID":"9234e8fb04c4","Repository":"alpine","Tag":"3.20","Digest":"<none>"}"#.into(),
        r#"{"ID":"9234e8fb04c4","Repository":"<none>","Tag":"<none>"}"#.into(),
        r#"{"ID":"9234e8fb04c4","Repository":"alpine","Tag":"<none>"}"#.into(),
        search.into(),
        r#"{"Name":"localhost:5000/team/app:1.2","Tag":"1.2"}"#.into(),
        r#"{"Untagged":"alpine:3.20"}"#.into(),
        format!(r#"{{"Deleted":"{ID}"}}"#),
        format!(r#"{{"Id":"{ID}","RepoTags":["alpine:3.20"]}}"#),
    ]
    .join("\n");
    assert_eq!(
        targets(&input),
        vec![
            reference("alpine:3.20"),
            reference("alpine:3.20"),
            image("9234e8fb04c4"),
            image("9234e8fb04c4"),
            reference("bitnami/redis:latest"),
            reference("localhost:5000/team/app:1.2"),
            reference("alpine:3.20"),
            image(ID),
            image(ID),
        ]
    );
}

#[test]
fn an_image_record_without_ref_names_its_id() {
    let record = ImageRecord {
        reference: None,
        ..image_record()
    };
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains("Ref"), "{json}");
    assert_eq!(targets(&json), vec![image(ID)]);
}

#[test]
fn ref_wins_over_the_other_keys() {
    let input =
        r#"{"Id":"abcd1234","Name":"other","Repository":"x","Tag":"1","Ref":"alpine:3.20"}"#;
    assert_eq!(targets(input), vec![reference("alpine:3.20")]);
    let input = r#"{"Id":"abcd1234","Name":"other","Repository":"x","Tag":"1"}"#;
    assert_eq!(targets(input), vec![reference("x:1")]);
}

#[test]
fn an_indented_array_as_img_inspect_prints_it() {
    let inspect = serde_json::to_string_pretty(&serde_json::json!([
        {"Id": ID, "RepoTags": ["alpine:3.20"], "RootFS": {"Type": "layers"}},
        {"Id": "sha256:0e5574283393", "RepoTags": []},
    ]))
    .unwrap();
    assert!(inspect.lines().count() > 10);
    // Whatever follows the array is read, with its own line number.
    let input = format!("{inspect}\nalpine\nNOPE\n");
    let after = inspect.lines().count();
    let got = items(&input);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].as_ref().unwrap(), &image(ID));
    assert_eq!(got[1].as_ref().unwrap(), &image("sha256:0e5574283393"));
    assert_eq!(got[2].as_ref().unwrap(), &reference("alpine"));
    let msg = only_error(&got);
    assert!(
        msg.starts_with(&format!("line {}: invalid reference", after + 2)),
        "{msg}"
    );
}

#[test]
fn an_indented_object_and_a_one_line_array() {
    let input = "{\n  \"Ref\": \"alpine:3.20\"\n}\n[{\"Untagged\": \"a:1\"}, \"b:2\", {\"ID\": \"abcd\"}]\n";
    assert_eq!(
        targets(input),
        vec![
            reference("alpine:3.20"),
            reference("a:1"),
            reference("b:2"),
            image("abcd")
        ]
    );
}

#[test]
fn plain_lines_are_names_then_ids() {
    let input = "alpine\n  localhost:5000/a/b:c  \n0e5574283393\nsha256:abcd\nabc\nuser/app@sha256:9234e8fb04c47cfe0f49931e4ac7eb76fa904e33b7f8576aec0501c085f02516\n";
    let full_id = &ID["sha256:".len()..];
    let more = format!("{input}{full_id}\n{ID}\n\"alpine:3.20\"\n");
    assert_eq!(
        targets(&more),
        vec![
            reference("alpine:latest"),
            reference("localhost:5000/a/b:c"),
            Target::NameOrId("0e5574283393".into()),
            Target::NameOrId("sha256:abcd".into()),
            // Three hex digits are too few for an ID prefix.
            reference("abc"),
            reference(&format!("user/app@{ID}")),
            image(full_id),
            image(ID),
            reference("alpine:3.20"),
        ]
    );
}

#[test]
fn target_parse_classifies_arguments() {
    assert_eq!(
        Target::parse("abcd").unwrap(),
        Target::NameOrId("abcd".into())
    );
    assert_eq!(Target::parse("alpine").unwrap(), reference("alpine"));
    // Not a valid reference (a hex name of 64 characters), but an ID.
    assert_eq!(Target::parse(&ID[7..]).unwrap(), image(&ID[7..]));
    // `sha256:` + 4 hex is also a name with a tag, so the caller tries both.
    assert_eq!(
        Target::parse("sha256:9234").unwrap(),
        Target::NameOrId("sha256:9234".into())
    );
    let err = Target::parse("ABCD").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert!(err.to_string().contains("must be lowercase"), "{err}");
    assert!(
        Target::parse(" alpine").is_err(),
        "arguments are not trimmed"
    );
    assert_eq!(
        Target::parse("alpine:3.20").unwrap().to_string(),
        "alpine:3.20"
    );
    assert_eq!(Target::parse("abcd").unwrap().to_string(), "abcd");
}

#[test]
fn looks_like_id_wants_four_to_sixty_four_lowercase_hex() {
    assert!(looks_like_id("abcd"));
    assert!(looks_like_id("sha256:abcd"));
    assert!(looks_like_id(&ID[7..]));
    assert!(!looks_like_id("abc"));
    assert!(!looks_like_id("ABCD"));
    assert!(!looks_like_id("sha256:"));
    assert!(!looks_like_id(&format!("{}0", &ID[7..])));
    assert!(!looks_like_id("sha512:abcd"));
}

#[test]
fn blank_lines_are_skipped_and_empty_input_has_no_targets() {
    assert!(items("").is_empty());
    assert!(items("\n \n\t\r\n   ").is_empty());
    let got = items("\n\n  \r\nalpine\r\n\r\nbusybox:1\r\n");
    assert_eq!(
        got.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        vec![reference("alpine"), reference("busybox:1")]
    );
    assert!(items("[]").is_empty());
}

#[test]
fn a_truncated_json_line_is_one_error_and_reading_goes_on() {
    let got = items("alpine\n{\"Ref\": \"busy\n{\"Ref\": \"debian\"}\n");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), &reference("alpine"));
    let msg = only_error(&got);
    assert_eq!(
        msg,
        "line 2: truncated JSON: EOF while parsing a string (column 13)"
    );
    assert_eq!(got[2].as_ref().unwrap(), &reference("debian"));
}

#[test]
fn truncated_json_at_the_end_of_input() {
    let msg = only_error(&items("alpine\n\n{\"Ref\": \"debian\""));
    assert!(
        msg.starts_with("line 3: truncated JSON: EOF while parsing"),
        "{msg}"
    );
    let inspect = format!("[\n  {{\n    \"Id\": \"{ID}\",\n    \"RepoTags\": [");
    let msg = only_error(&items(&inspect));
    assert!(msg.starts_with("line 1: truncated JSON"), "{msg}");
    assert!(msg.contains("(line 4, column"), "{msg}");
}

#[test]
fn a_broken_indented_array_is_one_error() {
    let input = format!("[\n  {{\n    \"Id\": \"{ID}\"\n    \"RepoTags\": []\n  }}\n]\nalpine\n");
    let got = items(&input);
    assert_eq!(got.len(), 2, "{got:?}");
    let msg = only_error(&got);
    assert!(
        msg.starts_with("line 1: malformed JSON: expected `,` or `}`"),
        "{msg}"
    );
    assert!(msg.contains("(line 4, column 5)"), "{msg}");
    assert_eq!(got[1].as_ref().unwrap(), &reference("alpine"));
}

#[test]
fn an_array_with_a_bad_element_fails_that_element_only() {
    let got = items("x\n[{\"Ref\": \"a:1\"}, {}, {\"ID\": \"abcd\"}, 7]\n");
    assert_eq!(got.len(), 5);
    assert_eq!(got[1].as_ref().unwrap(), &reference("a:1"));
    let e = got[2].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRecord);
    assert_eq!(
        e.to_string(),
        "line 2: array element 2: empty JSON object: nothing names an image"
    );
    assert_eq!(got[3].as_ref().unwrap(), &image("abcd"));
    let e = got[4].as_ref().unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: array element 4: the JSON value 7 is not a record"
    );
}

#[test]
fn objects_that_name_nothing_are_errors() {
    let msg = only_error(&items("alpine\n{}\n"));
    assert_eq!(msg, "line 2: empty JSON object: nothing names an image");
    let msg = only_error(&items(
        "{\"Size\": 3, \"Repository\": \"<none>\", \"Tag\": \"<none>\"}",
    ));
    assert!(
        msg.starts_with("line 1: JSON object has none of the keys Ref"),
        "{msg}"
    );
    let msg = only_error(&items("{\"Ref\": 3}"));
    assert_eq!(msg, "line 1: \"Ref\" must be a string, found 3");
    let msg = only_error(&items("{\"Id\": \"not-an-id\"}"));
    assert!(
        msg.starts_with("line 1: \"Id\": \"not-an-id\" is not an image ID"),
        "{msg}"
    );
}

#[test]
fn invalid_references_are_errors_naming_their_line() {
    let got = items("alpine\n\nAlpine:3\n{\"Ref\": \"Busybox\"}\n{\"Name\": \"a//b\"}\n");
    assert_eq!(got.len(), 4);
    let messages: Vec<String> = got[1..]
        .iter()
        .map(|r| r.as_ref().unwrap_err().to_string())
        .collect();
    assert!(
        messages[0].starts_with("line 3: invalid reference \"Alpine:3\""),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("must be lowercase"), "{}", messages[0]);
    assert!(
        messages[1].starts_with("line 4: \"Ref\": invalid reference \"Busybox\""),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].starts_with("line 5: \"Name\": invalid reference \"a//b\""),
        "{}",
        messages[2]
    );
    for r in &got[1..] {
        assert_eq!(r.as_ref().unwrap_err().kind(), ErrorKind::InvalidRecord);
    }
}

#[test]
fn text_after_a_record_on_its_line_is_an_error() {
    let msg = only_error(&items("{\"Ref\": \"a:1\"} b:2\n"));
    assert!(
        msg.starts_with("line 1: malformed JSON: trailing characters (column 16)"),
        "{msg}"
    );
    let got = items("{\n\"Ref\": \"a:1\"\n} b:2\nc:3\n");
    assert_eq!(got[0].as_ref().unwrap(), &reference("a:1"));
    let msg = only_error(&got);
    assert!(
        msg.starts_with("line 3: unexpected text after the end"),
        "{msg}"
    );
    assert_eq!(got.last().unwrap().as_ref().unwrap(), &reference("c:3"));
}

#[test]
fn read_targets_stops_at_the_first_bad_item() {
    let err = read_targets(Cursor::new(b"alpine\n{}\nNOPE\n".to_vec())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRecord);
    assert!(err.to_string().starts_with("line 2: "), "{err}");
}

#[test]
fn invalid_utf8_fails_only_its_line() {
    let got = read_target_items(Cursor::new(b"alpine\nbad\xff\nbusybox\n".to_vec())).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[2].is_ok());
    // Regression (issue 14): the line was read lossily and its error showed U+FFFD; its
    // bytes are quoted as Go's %q shows them.
    assert_eq!(only_error(&got), r#"line 2: not UTF-8 text: "bad\xff""#);
}

#[test]
fn control_bytes_in_a_bad_reference_are_escaped_as_go_does() {
    let got = read_target_items(Cursor::new(b"\x1b]0;pwned\x07\x1b[31mRED\n".to_vec())).unwrap();
    let message = only_error(&got);
    assert!(
        message.contains(r#""\x1b]0;pwned\a\x1b[31mRED""#),
        "{message}"
    );
    assert!(!message.bytes().any(|b| b < 0x20), "{message:?}");
}

#[test]
fn a_failing_reader_is_an_io_error() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("device gone"))
        }
    }
    let err = read_target_items(std::io::BufReader::new(Broken)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.to_string(), "reading records: device gone");
}

#[test]
fn check_records_name_their_ref_only_when_outdated() {
    let line = |status: &str, r: &str| {
        format!(
            r#"{{"Ref":"{r}","Status":"{status}","Local":"{MANIFEST}","Remote":null,"RateLimitRemaining":null}}"#
        )
    };
    let input = [
        line("UpToDate", "alpine:3.19"),
        line("Outdated", "docker.io/library/alpine:3.20"),
        line("Gone", "alpine:3.18"),
        line("Local", "myapp:dev"),
        line("Pinned", &format!("alpine@{MANIFEST}")),
        line("Error", "alpine:3.17"),
    ]
    .join("\n");
    assert_eq!(targets(&input), [reference("alpine:3.20")]);
    // In an array, as well; a `Status` that is no check status leaves the Ref rule as is.
    let array = format!("[{}, {}]", line("Local", "a:1"), line("Running", "b:1"));
    assert_eq!(targets(&array), [reference("b:1")]);
}
