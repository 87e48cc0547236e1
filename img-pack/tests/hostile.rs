//! Hostile archives, crafted here byte by byte: each is refused with one clear line naming
//! what is wrong, within a minute, with the store left exactly as it was (no image, no blob,
//! no partial) and nothing written outside it. A well-formed control archive built the same
//! way loads, so each refusal is for its own reason.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_untouched, fresh_root, run};
use img_core::digest::Digest;

/// A tar stream written entry by entry, headers set by hand where a builder would refuse.
struct Tar(Vec<u8>);

impl Tar {
    fn new() -> Tar {
        Tar(Vec::new())
    }

    fn header(&mut self, mut h: tar::Header, data: &[u8]) {
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
    }

    /// An entry whose name bytes are written as given (`../x` included).
    fn entry(&mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        self.header(h, data);
    }

    fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name, tar::EntryType::Regular, "", data);
    }

    fn pax(&mut self, records: &[(&str, &str)]) {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        self.entry("PaxHeaders/x", tar::EntryType::XHeader, "", &data);
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// A small legacy image: its config, its one uncompressed layer, and manifest.json.
struct Parts {
    config: Vec<u8>,
    layer: Vec<u8>,
}

fn parts() -> Parts {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("hello.txt").unwrap();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    layer.append(&h, &b"hello\n"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::sha256_of(&layer)
    )
    .into_bytes();
    Parts { config, layer }
}

fn manifest_json(config: &str, layer: &str) -> Vec<u8> {
    format!(r#"[{{"Config":"{config}","RepoTags":["evil:1"],"Layers":["{layer}"]}}]"#).into_bytes()
}

/// The well-formed archive the hostile ones are variations of.
fn legacy(p: &Parts) -> Tar {
    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.file("a/layer.tar", &p.layer);
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    t
}

/// Loads `archive` into a fresh store; asserts the refusal (exit 1, one `img-pack:` line
/// containing every one of `want`), its speed, and the untouched store.
#[track_caller]
fn refused(what: &str, archive: &[u8], want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let file = dir.path().join("hostile.tar");
    std::fs::write(&file, archive).unwrap();
    let started = Instant::now();
    let r = run(&root, &["load", "-i", file.to_str().unwrap()], None);
    let took = started.elapsed();
    let r = r.failure(1, 1);
    eprintln!("{what}: {}", r.stderr.trim_end());
    for w in want {
        assert!(r.stderr.contains(w), "{what}: {w:?} not in {:?}", r.stderr);
    }
    assert!(took < Duration::from_secs(60), "{what} took {took:?}");
    assert_untouched(&root);
    assert_only(dir.path(), &["hostile.tar", "store", "store.home"]);
}

/// Nothing but `names` in `dir`: the load wrote nothing outside its store.
#[track_caller]
fn assert_only(dir: &Path, names: &[&str]) {
    let unexpected: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !names.contains(&n.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "written outside the store: {unexpected:?}"
    );
}

#[test]
fn the_control_archive_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let file = dir.path().join("ok.tar");
    std::fs::write(&file, legacy(&parts()).finish()).unwrap();
    let r = run(&root, &["load", "-i", file.to_str().unwrap()], None)
        .success()
        .record();
    assert_eq!(r.repo_tags, ["evil:1"]);
    img_core::testing::verify_store(&root);
}

#[test]
fn names_that_escape_the_archive_are_refused() {
    let p = parts();
    for name in ["../x", "/etc/x", "a/../../x"] {
        let mut t = legacy(&p);
        t.file(name, b"x");
        refused(name, &t.finish(), &[&format!("entry {name:?}"), "archive"]);
    }
    // After PAX path= applies.
    let mut t = legacy(&p);
    t.pax(&[("path", "../../etc/passwd")]);
    t.file("innocent", b"x");
    refused(
        "pax path",
        &t.finish(),
        &["../../etc/passwd", "climbs out of the archive"],
    );
    // After a GNU long name applies.
    let long = format!("{}../../x", "a/".repeat(60));
    let mut t = legacy(&p);
    let mut data = long.clone().into_bytes();
    data.push(0);
    t.entry("././@LongLink", tar::EntryType::GNULongName, "", &data);
    t.file("short", b"x");
    refused("gnu long name", &t.finish(), &["climbs out of the archive"]);
}

#[test]
fn links_outside_or_in_a_loop_hard_links_and_devices_are_refused() {
    let p = parts();
    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.entry(
        "a/layer.tar",
        tar::EntryType::Symlink,
        "../../etc/passwd",
        b"",
    );
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    refused(
        "link outside",
        &t.finish(),
        &["entry \"a/layer.tar\"", "outside the archive"],
    );

    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.entry(
        "a/layer.tar",
        tar::EntryType::Symlink,
        "../b/layer.tar",
        b"",
    );
    t.entry(
        "b/layer.tar",
        tar::EntryType::Symlink,
        "../a/layer.tar",
        b"",
    );
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    refused("link loop", &t.finish(), &["links loop"]);

    let mut t = legacy(&p);
    t.entry("b/layer.tar", tar::EntryType::Link, "a/layer.tar", b"");
    refused(
        "hard link",
        &t.finish(),
        &["entry \"b/layer.tar\"", "hard link"],
    );

    let mut t = legacy(&p);
    t.entry("dev", tar::EntryType::Char, "", b"");
    refused("device", &t.finish(), &["entry \"dev\"", "device"]);
}

#[test]
fn a_layer_tar_symlink_to_another_layer_inside_loads() {
    let p = parts();
    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.file("a/layer.tar", &p.layer);
    t.entry(
        "b/layer.tar",
        tar::EntryType::Symlink,
        "../a/layer.tar",
        b"",
    );
    t.file("manifest.json", &manifest_json("c.json", "b/layer.tar"));
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let file = dir.path().join("link.tar");
    std::fs::write(&file, t.finish()).unwrap();
    run(&root, &["load", "-i", file.to_str().unwrap()], None).success();
    img_core::testing::verify_store(&root);
}

#[test]
fn duplicates_pax_sizes_and_oversized_documents_are_refused() {
    let p = parts();
    let mut t = legacy(&p);
    t.file("manifest.json", b"[]");
    refused(
        "duplicate",
        &t.finish(),
        &["entry \"manifest.json\"", "twice with different content"],
    );

    let mut t = legacy(&p);
    let d = Digest::sha256_of(b"hello");
    t.pax(&[("size", "5")]);
    t.file(&format!("blobs/sha256/{}", d.hex()), b"hello-and-more");
    refused(
        "pax size",
        &t.finish(),
        &["PAX size 5 disagrees with its header's 14"],
    );

    let mut t = Tar::new();
    let mut big = b"[".to_vec();
    big.extend(std::iter::repeat_n(b' ', 5 << 20));
    big.push(b']');
    t.file("manifest.json", &big);
    refused(
        "big json",
        &t.finish(),
        &["entry \"manifest.json\"", "more than the 4194304 bytes"],
    );

    let mut t = Tar::new();
    let mut big_config = p.config.clone();
    big_config.extend(std::iter::repeat_n(b' ', 5 << 20));
    t.file("c.json", &big_config);
    refused(
        "big config",
        &t.finish(),
        &["entry \"c.json\"", "more than the 4194304 bytes"],
    );
}

#[test]
fn wrong_missing_and_malformed_content_is_refused() {
    let p = parts();
    let d = Digest::sha256_of(b"what the name says");
    let mut t = legacy(&p);
    t.file(&format!("blobs/sha256/{}", d.hex()), b"something else");
    refused(
        "mismatch",
        &t.finish(),
        &[&format!("blobs/sha256/{}", d.hex()), "hashes to"],
    );

    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    refused(
        "missing",
        &t.finish(),
        &["\"a/layer.tar\" is not in the archive"],
    );

    let mut t = Tar::new();
    t.file("c.json", b"not json at all");
    t.file("a/layer.tar", &p.layer);
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    refused(
        "config",
        &t.finish(),
        &["\"c.json\" is not an image config"],
    );

    let mut other = p.layer.clone();
    other[0] ^= 1;
    let mut t = Tar::new();
    t.file("c.json", &p.config);
    t.file("a/layer.tar", &other);
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    refused(
        "diff id",
        &t.finish(),
        &["\"a/layer.tar\" hashes to", "DiffID"],
    );

    let mut t = Tar::new();
    t.file("index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
    t.file("manifest.json", b"[]");
    refused(
        "nothing",
        &t.finish(),
        &["names no image", "nothing to load"],
    );
}

#[test]
fn a_truncated_archive_is_refused() {
    let p = parts();
    let whole = legacy(&p).finish();
    // In the middle of the layer's data, and in the middle of a header.
    for (cut, name) in [
        (512 * 3 + 700, "entry \"a/layer.tar\""),
        (512 * 2 + 100, "the entry after \"c.json\""),
    ] {
        refused(
            &format!("cut at {cut}"),
            &whole[..cut],
            &["truncated", name],
        );
    }
}

#[test]
fn a_sparse_entry_declaring_a_terabyte_is_refused_without_writing_it() {
    let p = parts();
    let mut t = legacy(&p);
    let mut h = tar::Header::new_gnu();
    h.set_path("big.bin").unwrap();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(0);
    h.as_gnu_mut().unwrap().set_real_size(1 << 40);
    t.header(h, b"");
    refused(
        "sparse",
        &t.finish(),
        &["the entry after \"manifest.json\"", "sparse entry"],
    );
}

#[test]
fn a_gzip_bomb_is_refused_before_it_fills_the_disk() {
    // One member holding a header that declares 20 GiB, then members of 64 MiB of zeros
    // each (a few dozen kilobytes compressed): 20 MB that inflate to 20 GiB.
    let d = Digest::sha256_of(b"bomb");
    let mut h = tar::Header::new_gnu();
    h.set_path(format!("blobs/sha256/{}", d.hex())).unwrap();
    h.set_size(20 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut bomb = gz(h.as_bytes());
    let zeros = gz(&vec![0u8; 64 << 20]);
    for _ in 0..320 {
        bomb.extend_from_slice(&zeros);
    }
    assert!(bomb.len() < 30 << 20, "{}", bomb.len());
    refused(
        "bomb",
        &bomb,
        &["decompression bomb", &format!("blobs/sha256/{}", d.hex())],
    );
}

/// `layer` compressed as a legacy `layer.tar` may be: gzip or zstd.
fn compress(layer: &[u8], codec: &str) -> Vec<u8> {
    match codec {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(layer).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(layer, 3).unwrap(),
        other => panic!("no codec {other}"),
    }
}

/// A legacy archive whose `layer.tar` is `layer_tar` (compressed) and whose config's
/// DiffID is `diff_id`.
fn legacy_with(layer_tar: &[u8], diff_id: &Digest) -> Vec<u8> {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let mut t = Tar::new();
    t.file("c.json", config.as_bytes());
    t.file("a/layer.tar", layer_tar);
    t.file("manifest.json", &manifest_json("c.json", "a/layer.tar"));
    t.finish()
}

#[test]
fn a_compressed_layer_tar_must_inflate_to_its_diff_id() {
    let p = parts();
    let right = Digest::sha256_of(&p.layer);
    let mut flipped = p.layer.clone();
    flipped[0] ^= 1;
    let wrong = Digest::sha256_of(&flipped);
    for codec in ["gzip", "zstd"] {
        let compressed = compress(&p.layer, codec);
        // The compressed bytes' own digest is not the DiffID: only inflating tells.
        assert_ne!(Digest::sha256_of(&compressed), right);

        let dir = tempfile::tempdir().unwrap();
        let root = fresh_root(dir.path(), "store");
        let file = dir.path().join("ok.tar");
        std::fs::write(&file, legacy_with(&compressed, &right)).unwrap();
        let r = run(&root, &["load", "-i", file.to_str().unwrap()], None)
            .success()
            .record();
        assert_eq!(r.repo_tags, ["evil:1"], "{codec}");
        // Kept as it came, compressed, under the compressed bytes' digest.
        let store = img_core::Store::open(&root).unwrap();
        assert_eq!(
            store.read_blob(&Digest::sha256_of(&compressed)).unwrap(),
            compressed,
            "{codec}"
        );
        img_core::testing::verify_store(&root);

        refused(
            &format!("{codec} diff id"),
            &legacy_with(&compressed, &wrong),
            &[
                "\"a/layer.tar\" decompresses to a tar that hashes to",
                &right.to_string(),
                &format!("the config's DiffID is {wrong}"),
            ],
        );
    }
}

#[test]
fn a_corrupt_compressed_layer_tar_is_refused() {
    let p = parts();
    let right = Digest::sha256_of(&p.layer);
    for codec in ["gzip", "zstd"] {
        let compressed = compress(&p.layer, codec);
        // Cut short: the magic says compressed, the stream ends before its end.
        let cut = &compressed[..compressed.len() - 8];
        refused(
            &format!("{codec} cut"),
            &legacy_with(cut, &right),
            &["decompressing its layer \"a/layer.tar\""],
        );
    }
}

#[test]
fn a_compressed_layer_tar_bomb_is_cut_off() {
    // 1.25 GiB of zeros in gzip members of 64 MiB (about 65 KB each): past the guard's
    // floor at a ratio far above its limit, so hashing stops instead of running on.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 64 << 20]).unwrap();
    let member = e.finish().unwrap();
    let mut bomb = Vec::new();
    for _ in 0..20 {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    refused(
        "layer bomb",
        &legacy_with(&bomb, &Digest::sha256_of(&parts().layer)),
        &[
            "decompressing its layer \"a/layer.tar\"",
            "decompression bomb",
        ],
    );
}

/// Whether `stderr` holds anything that could drive a terminal: a control byte other than
/// `\n` and `\t`, DEL, a C1 control or a bidi override.
fn drives_a_terminal(stderr: &str) -> bool {
    stderr.chars().any(|c| {
        (c < ' ' && c != '\n' && c != '\t')
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{202a}'..='\u{202e}').contains(&c)
    })
}

/// Bug 3 of issue 14: `img-pack load` of a file starting with `\e]0;pwned\a\e[31mRED` set
/// the terminal's title and colour (the tar reader quoted the header bytes raw), and an ELF
/// file printed binary. Every byte from the archive is quoted Go's way; a file that is not
/// a tar says so, with an escaped excerpt of its start.
#[test]
fn input_bytes_never_reach_the_terminal_raw() {
    let mut title = b"\x1b]0;pwned\x07\x1b[31mRED".to_vec();
    title.extend(std::iter::repeat_n(b'x', 600));
    let mut elf =
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    elf.extend((0..=255u8).cycle().take(2000));
    // A header whose size field holds an escape sequence and invalid UTF-8, checksum right.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..5].copy_from_slice(b"a.txt");
    h.as_old_mut()
        .size
        .copy_from_slice(b"\x1b]0;pwn\x07\xff\xfe\x00\x00");
    let mut numeric = Tar::new();
    numeric.header(h, b"");
    // An entry whose name is an escape sequence, C1 controls and invalid UTF-8.
    let mut h = tar::Header::new_gnu();
    let name = b"\x1b[2J\xc2\x9b\xe2\x80\xae\xff/../../x";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(0);
    let mut named = Tar::new();
    named.header(h, b"");
    // A symlink pointing outside, by a target made of escapes.
    let mut link = Tar::new();
    link.entry("l", tar::EntryType::Symlink, "/\x1b[31mroot", b"");
    let cases: [(&str, Vec<u8>, &[&str]); 5] = [
        (
            "a title-setting escape sequence",
            title,
            &[
                r#"not a tar archive (starts with "\x1b]0;pwned\a\x1b[31mREDxxx"#,
                r#"xxx"..."#,
            ],
        ),
        (
            "an ELF binary",
            elf,
            &[r#"not a tar archive (starts with "\x7fELF\x02\x01\x01\x00"#],
        ),
        (
            "a numeric field of escapes",
            numeric.finish(),
            &[r"\x1b]0;pwn"],
        ),
        (
            "a name of escapes",
            named.finish(),
            &[r#"entry "\x1b[2J\u009b\u202e\xff/../../x""#],
        ),
        (
            "a link target of escapes",
            link.finish(),
            &[r#"it links to "/\x1b[31mroot""#],
        ),
    ];
    for (what, archive, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let root = fresh_root(dir.path(), "store");
        let file = dir.path().join("hostile.tar");
        std::fs::write(&file, &archive).unwrap();
        let r = run(&root, &["load", "-i", file.to_str().unwrap()], None).failure(1, 1);
        assert!(!drives_a_terminal(&r.stderr), "{what}: {:?}", r.stderr);
        for w in want {
            assert!(r.stderr.contains(w), "{what}: {w} not in {}", r.stderr);
        }
        assert!(!r.stderr.contains("truncated"), "{what}: {}", r.stderr);
        assert_untouched(&root);
        // On stdin, the same.
        let r = run(&root, &["load"], Some(&file)).failure(1, 1);
        assert!(
            !drives_a_terminal(&r.stderr),
            "{what} on stdin: {:?}",
            r.stderr
        );
    }
}
