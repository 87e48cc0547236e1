//! Tests of the reference grammar: docker's documented examples and the vectors of
//! distribution/reference (normalize_test.go, reference_test.go), as docker normalises them.

use super::*;

const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const UBUNTU_DIGEST: &str =
    "sha256:26c68657ccce2cb0a31b330cb0be2b5e108d467f641c62e13ab40cbec258c68d";
const BUSYBOX_DIGEST: &str =
    "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
const HEX_ID: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

fn sha256f() -> String {
    format!("sha256:{F64}")
}

/// One case a line: input | full form after `parse_normalized` | familiar form. `$F` is
/// `sha256:f…f`, `$F512` the sha512 one, `$U` and `$B` the ubuntu and busybox digests of
/// docker's documentation, `$HEX` a 64-hex image ID, `$LONG` a 255-character path.
const VALID: &str = r"
# docker image tag / docker image pull documentation
ubuntu | docker.io/library/ubuntu:latest | ubuntu:latest
ubuntu:22.04 | docker.io/library/ubuntu:22.04 | ubuntu:22.04
ubuntu:24.04 | docker.io/library/ubuntu:24.04 | ubuntu:24.04
debian | docker.io/library/debian:latest | debian:latest
debian:bookworm | docker.io/library/debian:bookworm | debian:bookworm
docker.io/library/debian:latest | docker.io/library/debian:latest | debian:latest
ubuntu@$U | docker.io/library/ubuntu@$U | ubuntu@$U
myregistry.local:5000/testing/test-image | myregistry.local:5000/testing/test-image:latest | myregistry.local:5000/testing/test-image:latest
myregistryhost:5000/fedora/httpd:version1.0 | myregistryhost:5000/fedora/httpd:version1.0 | myregistryhost:5000/fedora/httpd:version1.0
fedora/httpd:version1.0 | docker.io/fedora/httpd:version1.0 | fedora/httpd:version1.0
fedora/httpd:version1.0.test | docker.io/fedora/httpd:version1.0.test | fedora/httpd:version1.0.test
fedora/httpd:version1.0-test | docker.io/fedora/httpd:version1.0-test | fedora/httpd:version1.0-test
httpd | docker.io/library/httpd:latest | httpd:latest
httpd:test | docker.io/library/httpd:test | httpd:test
example.com:5000/team/my-app:2.0 | example.com:5000/team/my-app:2.0 | example.com:5000/team/my-app:2.0
alpine | docker.io/library/alpine:latest | alpine:latest
registry-1.docker.io/library/busybox | registry-1.docker.io/library/busybox:latest | registry-1.docker.io/library/busybox:latest
docker/dockerfile | docker.io/docker/dockerfile:latest | docker/dockerfile:latest
# an image ID prefix is also a valid name: docker tries the name first
0e5574283393 | docker.io/library/0e5574283393:latest | 0e5574283393:latest
# Docker Hub spellings
index.docker.io/x | docker.io/library/x:latest | x:latest
index.docker.io/library/debian | docker.io/library/debian:latest | debian:latest
index.docker.io/docker/docker | docker.io/docker/docker:latest | docker/docker:latest
index.docker.io/fooo/bar | docker.io/fooo/bar:latest | fooo/bar:latest
docker.io/debian | docker.io/library/debian:latest | debian:latest
docker.io/foo | docker.io/library/foo:latest | foo:latest
library/ubuntu | docker.io/library/ubuntu:latest | ubuntu:latest
library/foo/bar | docker.io/library/foo/bar:latest | library/foo/bar:latest
docker.io/library/foo/bar | docker.io/library/foo/bar:latest | library/foo/bar:latest
store/foo/bar | docker.io/store/foo/bar:latest | store/foo/bar:latest
other/library | docker.io/other/library:latest | other/library:latest
library/ubuntu-12.04-base | docker.io/library/ubuntu-12.04-base:latest | ubuntu-12.04-base:latest
user/app | docker.io/user/app:latest | user/app:latest
user/app:1 | docker.io/user/app:1 | user/app:1
# localhost is always a domain, but only before a '/'
localhost/foo | localhost/foo:latest | localhost/foo:latest
localhost:5000/a/b | localhost:5000/a/b:latest | localhost:5000/a/b:latest
localhost:5000/a:b | localhost:5000/a:b | localhost:5000/a:b
localhost | docker.io/library/localhost:latest | localhost:latest
# tag and digest together
busybox:latest@$B | docker.io/library/busybox:latest@$B | busybox:latest@$B
# reference_test.go, normalised
test_com | docker.io/library/test_com:latest | test_com:latest
test.com:tag | docker.io/library/test.com:tag | test.com:tag
test.com:5000 | docker.io/library/test.com:5000 | test.com:5000
test.com/repo:tag | test.com/repo:tag | test.com/repo:tag
test:5000/repo | test:5000/repo:latest | test:5000/repo:latest
test:5000/repo:tag | test:5000/repo:tag | test:5000/repo:tag
test:5000/repo@$F | test:5000/repo@$F | test:5000/repo@$F
test:5000/repo:tag@$F | test:5000/repo:tag@$F | test:5000/repo:tag@$F
lowercase:Uppercase | docker.io/library/lowercase:Uppercase | lowercase:Uppercase
$LONG:tag-puts-this-over-max | docker.io/$LONG:tag-puts-this-over-max | $LONG:tag-puts-this-over-max
sub-dom1.foo.com/bar/baz/quux | sub-dom1.foo.com/bar/baz/quux:latest | sub-dom1.foo.com/bar/baz/quux:latest
sub-dom1.foo.com/bar/baz/quux:some-long-tag | sub-dom1.foo.com/bar/baz/quux:some-long-tag | sub-dom1.foo.com/bar/baz/quux:some-long-tag
b.gcr.io/test.example.com/my-app:test.example.com | b.gcr.io/test.example.com/my-app:test.example.com | b.gcr.io/test.example.com/my-app:test.example.com
xn--n3h.com/myimage:xn--n3h.com | xn--n3h.com/myimage:xn--n3h.com | xn--n3h.com/myimage:xn--n3h.com
xn--7o8h.com/myimage:xn--7o8h.com@$F512 | xn--7o8h.com/myimage:xn--7o8h.com@$F512 | xn--7o8h.com/myimage:xn--7o8h.com@$F512
foo_bar.com:8080 | docker.io/library/foo_bar.com:8080 | foo_bar.com:8080
foo/foo_bar.com:8080 | docker.io/foo/foo_bar.com:8080 | foo/foo_bar.com:8080
192.168.1.1 | docker.io/library/192.168.1.1:latest | 192.168.1.1:latest
192.168.1.1:tag | docker.io/library/192.168.1.1:tag | 192.168.1.1:tag
192.168.1.1:5000 | docker.io/library/192.168.1.1:5000 | 192.168.1.1:5000
192.168.1.1/repo | 192.168.1.1/repo:latest | 192.168.1.1/repo:latest
192.168.1.1:5000/repo:5050 | 192.168.1.1:5000/repo:5050 | 192.168.1.1:5000/repo:5050
[2001:db8::1]/repo | [2001:db8::1]/repo:latest | [2001:db8::1]/repo:latest
[2001:db8:1:2:3:4:5:6]/repo:tag | [2001:db8:1:2:3:4:5:6]/repo:tag | [2001:db8:1:2:3:4:5:6]/repo:tag
[2001:db8::1]:5000/repo:tag | [2001:db8::1]:5000/repo:tag | [2001:db8::1]:5000/repo:tag
[2001:db8::1]:5000/repo:tag@$F | [2001:db8::1]:5000/repo:tag@$F | [2001:db8::1]:5000/repo:tag@$F
[2001:db8::]:5000/repo | [2001:db8::]:5000/repo:latest | [2001:db8::]:5000/repo:latest
[::1]:5000/repo | [::1]:5000/repo:latest | [::1]:5000/repo:latest
# normalize_test.go
127.0.0.1:5000/library/debian | 127.0.0.1:5000/library/debian:latest | 127.0.0.1:5000/library/debian:latest
192.168.0.1:8/debian | 192.168.0.1:8/debian:latest | 192.168.0.1:8/debian:latest
127.0.0.1:8000/private/moonbase | 127.0.0.1:8000/private/moonbase:latest | 127.0.0.1:8000/private/moonbase:latest
[fc00:1:2:3:4:5:6:7]:5000/library/debian | [fc00:1:2:3:4:5:6:7]:5000/library/debian:latest | [fc00:1:2:3:4:5:6:7]:5000/library/debian:latest
docker.io/$HEX | docker.io/library/$HEX:latest | $HEX:latest
thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev | docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest | thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest
docker-rules/docker | docker.io/docker-rules/docker:latest | docker-rules/docker:latest
docker---rules/docker | docker.io/docker---rules/docker:latest | docker---rules/docker:latest
dock__er/docker | docker.io/dock__er/docker:latest | dock__er/docker:latest
d/docker | docker.io/d/docker:latest | d/docker:latest
jess/t | docker.io/jess/t:latest | jess/t:latest
dbcc1 | docker.io/library/dbcc1:latest | dbcc1:latest
# an uppercase first part can only be a domain
Docker/docker | Docker/docker:latest | Docker/docker:latest
DOCKER/docker | DOCKER/docker:latest | DOCKER/docker:latest
Foo/bar | Foo/bar:latest | Foo/bar:latest
# `sha256:abcd` is a name with a tag as far as the grammar goes
sha256:abcd | docker.io/library/sha256:abcd | sha256:abcd
# tags: 128 characters, capitals, underscores
alpine:$T128 | docker.io/library/alpine:$T128 | alpine:$T128
alpine:_x.Y-9 | docker.io/library/alpine:_x.Y-9 | alpine:_x.Y-9
# a Hub path that would read as a domain keeps its domain in the familiar form
docker.io/localhost/x | docker.io/localhost/x:latest | docker.io/localhost/x:latest
";

/// (input, full form, familiar form) from [`VALID`], placeholders filled in.
fn valid_cases() -> Vec<(String, String, String)> {
    let fill = |s: &str| {
        s.replace("$F512", &format!("sha512:{F64}{F64}"))
            .replace("$F", &sha256f())
            .replace("$U", UBUNTU_DIGEST)
            .replace("$B", BUSYBOX_DIGEST)
            .replace("$HEX", HEX_ID)
            .replace("$LONG", &format!("{}a", "a/".repeat(127)))
            .replace("$T128", &"a".repeat(128))
    };
    VALID
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            assert_eq!(cols.len(), 3, "bad table line {l:?}");
            (fill(cols[0]), fill(cols[1]), fill(cols[2]))
        })
        .collect()
}

#[test]
fn valid_references_normalise_as_docker_does() {
    let cases = valid_cases();
    assert_eq!(cases.len(), 85, "every line of the table is a case");
    for (input, full, familiar) in cases {
        let r = Reference::parse_normalized(&input)
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        assert_eq!(r.to_string(), full, "full form of {input:?}");
        assert_eq!(r.familiar(), familiar, "familiar form of {input:?}");
        // Both forms parse back to the same reference.
        assert_eq!(
            Reference::parse_normalized(&full).unwrap(),
            r,
            "{full:?} reparsed"
        );
        assert_eq!(
            Reference::parse_normalized(&familiar).unwrap(),
            r,
            "{familiar:?} reparsed"
        );
        assert_eq!(r.name(), format!("{}/{}", r.domain(), r.path()));
    }
}

/// (input, a piece of the expected message)
fn invalid_cases() -> Vec<(String, &'static str)> {
    let f = sha256f();
    let s = |a: &str, b: &'static str| (a.to_owned(), b);
    vec![
        s("", "empty reference"),
        s(":justtag", "missing repository name"),
        (format!("@{f}"), "missing repository name"),
        s(
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            "sha256 needs 64 hex digits, found 34",
        ),
        (
            format!("validname@invaliddigest:{F64}"),
            "unsupported algorithm \"invaliddigest\"",
        ),
        s("alpine@", "invalid digest \"\""),
        (format!("alpine@SHA256:{F64}"), "unsupported algorithm"),
        (
            format!("alpine@sha256:{}", F64.to_uppercase()),
            "not lowercase hex",
        ),
        s("Uppercase:tag", "repository name must be lowercase"),
        s("ALPINE", "repository name must be lowercase"),
        s(
            "test:5000/Uppercase/lowercase:tag",
            "repository name must be lowercase",
        ),
        s("docker/Docker", "repository name must be lowercase"),
        s(
            "docker.io/docker/Docker",
            "repository name must be lowercase",
        ),
        s("Foo_bar/x", "repository name must be lowercase"),
        (
            format!("{}a:tag", "a/".repeat(128)),
            "at most 255 are allowed",
        ),
        (
            format!(
                "{}/docker",
                ["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"; 4]
                    .join("_")
            ),
            "at most 255 are allowed",
        ),
        s("aa/asdf$$^/aa", "invalid character '$'"),
        s("a b", "invalid character ' '"),
        s("-docker", "must start and end"),
        s("-docker/docker", "must start and end"),
        s("docker-/docker", "must start and end"),
        s("-docker-/docker", "must start and end"),
        s("____/____", "must start and end"),
        s("_docker/_docker", "must start and end"),
        // A first part with a '.' is a domain, so these fail as domains…
        s("dock..er/docker", "empty part between dots"),
        s("dock_.er/docker", "invalid character '_' (a host name"),
        s("dock-.er/docker", "must not start or end with '-'"),
        // …and as path components they fail on the separator.
        s("docker/dock..er", "invalid separator \"..\""),
        s("docker/dock_.er", "invalid separator \"_.\""),
        s("docker/dock-.er", "invalid separator \"-.\""),
        s("dock___er/docker", "invalid separator \"___\""),
        s("docker///docker", "empty path component"),
        s("docker.io/docker///docker", "empty path component"),
        s("docker/", "empty path component"),
        s(
            "localhost:5000/",
            "missing repository name after the registry domain",
        ),
        s("-docker.io/docker/docker", "must not start or end with '-'"),
        s("foo_bar.com/x", "invalid registry domain \"foo_bar.com\""),
        s(
            "https://github.com/docker/docker",
            "port \"\" must be a number",
        ),
        s("localhost:50a0/x", "port \"50a0\" must be a number"),
        s("fc00::1:5000/debian", "must be a number"),
        s("[fc00::1]", "invalid character ']'"),
        s("[fc00::1]:5000", "invalid character '['"),
        s("[2001:db8::1]", "invalid character"),
        s("[2001:db8::1]:tag", "invalid character '['"),
        s("[fe80::1%eth0]:5000/repo", "IPv6"),
        s("[fe80::1%@invalidzone]:5000/repo", "invalid digest"),
        s("[2001:db8:3:4::192.0.2.33]:5000/debian", "IPv6"),
        s("[::1/x", "without a closing ']'"),
        (
            HEX_ID.to_owned(),
            "cannot specify 64-byte hexadecimal strings",
        ),
        s("alpine:", "empty tag"),
        s("alpine:-x", "must start with a letter, a digit or '_'"),
        s("alpine:.x", "must start with a letter, a digit or '_'"),
        (
            format!("alpine:{}", "a".repeat(129)),
            "tag is 129 characters long, at most 128",
        ),
        s("alpine:a$b", "invalid character '$' at position 2"),
        s("alpine:3.20 ", "invalid character ' '"),
        s("alpine:é", "must start with"),
    ]
}

#[test]
fn invalid_references_say_what_is_wrong() {
    for (input, want) in invalid_cases() {
        let err = match Reference::parse_normalized(&input) {
            Ok(r) => panic!("{input:?} should be refused, parsed as {r}"),
            Err(e) => e,
        };
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidReference,
            "kind for {input:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(want),
            "{input:?}: message {msg:?} lacks {want:?}"
        );
        assert!(
            msg.starts_with("invalid reference \""),
            "{input:?}: {msg:?}"
        );
    }
}

#[test]
fn errors_point_at_the_offending_character() {
    let msg = Reference::parse_normalized("aa/asdf$$^/aa")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at character 8"), "{msg}");
    let msg = Reference::parse_normalized("ex.com/a/Bc")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("found \"B\"") && msg.contains("at character 10"),
        "{msg}"
    );
    let msg = Reference::parse_normalized("docker//x")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at character 8"), "{msg}");
}

#[test]
fn long_input_is_shortened_in_messages() {
    let input = format!("{}A", "a".repeat(300));
    let msg = Reference::parse_normalized(&input).unwrap_err().to_string();
    assert!(msg.len() < 400, "{msg}");
    assert!(msg.contains('…'), "{msg}");
}

#[test]
fn accessors_split_domain_path_tag_and_digest() {
    let r = Reference::parse_normalized(&format!("localhost:5000/a/b:v1@{}", sha256f())).unwrap();
    assert_eq!(r.domain(), "localhost:5000");
    assert_eq!(r.path(), "a/b");
    assert_eq!(r.tag(), Some("v1"));
    assert_eq!(r.digest().map(|d| d.to_string()), Some(sha256f()));
    assert_eq!(r.name(), "localhost:5000/a/b");
    assert_eq!(r.registry_host(), "localhost:5000");
    assert!(!r.is_docker_hub());
}

#[test]
fn docker_hub_is_contacted_at_registry_1() {
    let r = Reference::parse_normalized("alpine:3.20").unwrap();
    assert!(r.is_docker_hub());
    assert_eq!(r.domain(), "docker.io");
    assert_eq!(r.registry_host(), "registry-1.docker.io");
    assert_eq!(r.familiar_name(), "alpine");
    let r = Reference::parse_normalized("registry-1.docker.io/library/busybox").unwrap();
    assert!(!r.is_docker_hub());
    assert_eq!(r.registry_host(), "registry-1.docker.io");
}

#[test]
fn latest_is_added_only_without_tag_and_digest() {
    let r = Reference::parse_normalized("alpine").unwrap();
    assert_eq!(r.tag(), Some("latest"));
    let r = Reference::parse_normalized(&format!("alpine@{}", sha256f())).unwrap();
    assert_eq!(r.tag(), None);
    let r = Reference::parse_normalized_name("alpine").unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.to_string(), "docker.io/library/alpine");
    assert_eq!(r.familiar(), "alpine");
}

#[test]
fn helpers_change_tag_and_digest() {
    let d = Digest::parse(&sha256f()).unwrap();
    let r = Reference::parse_normalized("alpine:3.20").unwrap();
    assert_eq!(
        r.with_tag("edge").unwrap().to_string(),
        "docker.io/library/alpine:edge"
    );
    assert_eq!(r.with_tag("TAG5").unwrap().familiar(), "alpine:TAG5");
    let err = r.with_tag("-foo").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert!(err.to_string().starts_with("invalid tag \"-foo\""), "{err}");
    assert!(r.with_tag("").is_err());
    assert!(r.with_tag(&"a".repeat(129)).is_err());

    let rd = r.with_digest(d.clone());
    assert_eq!(rd.to_string(), format!("docker.io/library/alpine:3.20@{d}"));
    // A tag added to a digested reference keeps the digest, as WithTag does.
    assert_eq!(rd.with_tag("x").unwrap().digest(), Some(&d));
    assert_eq!(
        rd.without_tag().to_string(),
        format!("docker.io/library/alpine@{d}")
    );
    assert_eq!(rd.repository().to_string(), "docker.io/library/alpine");
    assert_eq!(rd.repository().familiar(), "alpine");
}

#[test]
fn serde_uses_the_full_form() {
    let r = Reference::parse_normalized("user/app:1").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"docker.io/user/app:1\"");
    let back: Reference = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    // Familiar input is normalised on the way in; no tag is invented.
    let named: Reference = serde_json::from_str("\"alpine\"").unwrap();
    assert_eq!(named.to_string(), "docker.io/library/alpine");
    let err = serde_json::from_str::<Reference>("\"Alpine\"").unwrap_err();
    assert!(err.to_string().contains("must be lowercase"), "{err}");
}

#[test]
fn from_str_round_trips_the_full_form() {
    for (input, full, _) in valid_cases() {
        let r: Reference = full
            .parse()
            .unwrap_or_else(|e| panic!("{full:?} ({input:?}): {e}"));
        assert_eq!(r.to_string(), full);
    }
}
