//! img-pack save and load run as binaries on stores filled by real pulls from the real
//! registry: the archive's layout, reproducibility, several images and index images,
//! round trips into another store, compressed and reordered archives, and docker's output.

mod common;

use std::io::Write;

use common::{add_file, doc, entries, fresh_root, run, save_to_vec};
use img_core::digest::Digest;
use img_core::oci::{Platform, media_type};
use img_core::testing::{Fixture, verify_store};

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";
const MULTI: &str = "test/multi:latest";

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn save_writes_docker_25s_dual_format_sorted_with_fixed_metadata() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let full = f.reference(ALPINE);
    let archive = save_to_vec(&f.root(), &[&full]);
    let list = entries(&archive);
    let names: Vec<&str> = list.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    assert_eq!(&names[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(
        &names[names.len() - 4..],
        ["index.json", "manifest.json", "oci-layout", "repositories"]
    );
    // Each blob is there under its own digest: manifest, config, two layers.
    let blobs: Vec<_> = list
        .iter()
        .filter(|(n, k, _)| n.starts_with("blobs/sha256/") && *k == b'0')
        .collect();
    assert_eq!(blobs.len(), 4);
    for (n, _, data) in &blobs {
        assert_eq!(Digest::sha256_of(data).hex(), &n["blobs/sha256/".len()..]);
    }
    let index = doc(&archive, "index.json");
    assert_eq!(index["mediaType"], media_type::OCI_INDEX);
    let d = &index["manifests"][0];
    assert_eq!(d["digest"], pulled.digest.to_string());
    assert_eq!(d["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(
        d["annotations"]["io.containerd.image.name"],
        full_form(&full)
    );
    assert_eq!(
        d["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let manifest = doc(&archive, "manifest.json");
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", pulled.id.hex())
    );
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([full]));
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(doc(&archive, "oci-layout")["imageLayoutVersion"], "1.0.0");
    assert!(
        doc(&archive, "repositories")[format!("{}/test/alpine-like", f.registry.addr())]["latest"]
            .is_string()
    );
    // Fixed metadata: every entry owned by root, at the epoch.
    let mut a = tar::Archive::new(&archive[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0, 0, 0)
        );
    }
}

/// The full form of a reference, as the annotation carries it.
fn full_form(r: &str) -> String {
    img_core::Reference::parse_normalized(r)
        .unwrap()
        .to_string()
}

#[test]
fn save_is_reproducible_and_writes_a_blob_shared_by_two_names_once() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    f.pull(OCI).unwrap();
    let store = f.store().unwrap();
    store
        .index()
        .tag(&pulled.id, "docker.io/mine/alpine", "2")
        .unwrap();
    let args = [
        f.reference(ALPINE),
        "mine/alpine:2".to_owned(),
        f.reference(OCI),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let one = save_to_vec(&f.root(), &args);
    let two = save_to_vec(&f.root(), &args);
    assert!(one == two, "two saves of the same images differ");
    let names: Vec<String> = entries(&one).into_iter().map(|(n, _, _)| n).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "an entry is written twice");
    let manifest = doc(&one, "manifest.json");
    assert_eq!(manifest.as_array().unwrap().len(), 2, "two images");
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!([f.reference(ALPINE), "mine/alpine:2"])
    );
    assert_eq!(
        doc(&one, "index.json")["manifests"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn round_trip_into_another_store_keeps_ids_tags_and_manifests() {
    let f = fixture();
    let a = f.pull(ALPINE).unwrap().record;
    let o = f.pull(OCI).unwrap().record;
    let file = f.dir().join("both.tar");
    let file_s = file.to_str().unwrap();
    run(
        &f.root(),
        &[
            "save",
            "-o",
            file_s,
            &f.reference(ALPINE),
            &f.reference(OCI),
        ],
        None,
    )
    .success();
    let other = fresh_root(f.dir(), "other");
    let loaded = run(&other, &["load", "-i", file_s], None)
        .success()
        .records::<img_core::record::ImageRecord>();
    assert_eq!(loaded.len(), 2);
    for (got, want) in loaded.iter().zip([&a, &o]) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.digest, want.digest);
        assert_eq!(got.repo_tags, want.repo_tags);
        assert_eq!(got.platform, want.platform);
        assert_eq!(got.size, want.size, "{got:?}");
    }
    let (s1, s2) = (f.store().unwrap(), img_core::Store::open(&other).unwrap());
    for r in [&a, &o] {
        assert_eq!(
            s1.read_blob(&r.digest).unwrap(),
            s2.read_blob(&r.digest).unwrap()
        );
        let info = s2.index().image(&r.id).unwrap().unwrap();
        let report = img_core::ops::verify::verify(&s2, &info).unwrap();
        assert!(report.ok, "{report:?}");
    }
    verify_store(&other);
    // Loading again changes nothing and moves no tag.
    let again = run(&other, &["load", "-i", file_s], None)
        .success()
        .records::<img_core::record::ImageRecord>();
    assert_eq!(
        again.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&a.id, &o.id]
    );
}

#[test]
fn an_index_image_saves_every_platform_and_manifest_json_names_the_hosts() {
    let f = fixture();
    let pulled = f.pull_all_platforms(MULTI).unwrap().record;
    let archive = save_to_vec(&f.root(), &[&f.reference(MULTI)]);
    let index = doc(&archive, "index.json");
    assert_eq!(index["manifests"][0]["digest"], pulled.digest.to_string());
    let image = f.image(MULTI);
    let host = Platform::host();
    let (host_desc, host_manifest) = image
        .manifests
        .iter()
        .find(|(d, _)| d.platform.as_ref().is_some_and(|p| host.matches(p)))
        .expect("the test index has the host's platform");
    let host_manifest: img_core::oci::Manifest = serde_json::from_slice(host_manifest).unwrap();
    let manifest = doc(&archive, "manifest.json");
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", host_manifest.config.digest.hex())
    );
    let names: Vec<String> = entries(&archive).into_iter().map(|(n, _, _)| n).collect();
    for (d, _) in &image.manifests {
        assert!(
            names.contains(&format!("blobs/sha256/{}", d.digest.hex())),
            "{}",
            d.digest
        );
    }
    // Loaded elsewhere it is the same index image.
    let other = fresh_root(f.dir(), "other");
    let tar = f.dir().join("multi.tar");
    std::fs::write(&tar, &archive).unwrap();
    let r = run(&other, &["load"], Some(&tar)).success().record();
    assert_eq!((r.id, r.digest), (pulled.id.clone(), pulled.digest.clone()));
    verify_store(&other);

    // --platform: that platform's image alone.
    let arm = save_to_vec(
        &f.root(),
        &["--platform", "linux/arm64", &f.reference(MULTI)],
    );
    let arm_desc = &image.manifests[1].0;
    assert_eq!(
        doc(&arm, "index.json")["manifests"][0]["digest"],
        arm_desc.digest.to_string()
    );
    let n_blobs = entries(&arm)
        .iter()
        .filter(|(n, k, _)| n.starts_with("blobs/sha256/") && *k == b'0')
        .count();
    assert_eq!(n_blobs, 4, "one manifest, its config and two layers");
    let _ = host_desc;
}

#[test]
fn an_image_that_does_not_resolve_fails_the_save_with_nothing_written() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let out = f.dir().join("out.tar");
    let r = run(
        &f.root(),
        &[
            "save",
            "-o",
            out.to_str().unwrap(),
            &f.reference(ALPINE),
            "nosuch:1",
        ],
        None,
    )
    .failure(1, 1);
    assert!(r.stderr.contains("no such image: nosuch:1"), "{}", r.stderr);
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(f.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("out.tar"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // To a pipe: not a byte.
    let r = run(&f.root(), &["save", &f.reference(ALPINE), "nosuch:1"], None).failure(1, 1);
    assert_eq!(r.stdout, "");
}

#[test]
fn save_reads_images_from_records_on_stdin() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let records = f.dir().join("records.jsonl");
    std::fs::write(
        &records,
        format!("{}\n", serde_json::to_string(&pulled).unwrap()),
    )
    .unwrap();
    let out = f.dir().join("x.tar");
    run(
        &f.root(),
        &["save", "-o", out.to_str().unwrap()],
        Some(&records),
    )
    .success();
    let archive = std::fs::read(&out).unwrap();
    assert_eq!(
        doc(&archive, "index.json")["manifests"][0]["digest"],
        pulled.digest.to_string()
    );
}

#[test]
fn save_refuses_a_terminal_and_load_refuses_a_terminal_stdin() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    for (args, want) in [
        (
            format!("save {}", f.reference(ALPINE)),
            "cowardly refusing to save to a terminal",
        ),
        (
            "load".to_owned(),
            "requested load from stdin, but stdin is a terminal",
        ),
    ] {
        let mut cmd = f.command("script");
        cmd.args([
            "-q",
            "-e",
            "-c",
            &format!("{} {args}", common::PACK),
            "/dev/null",
        ]);
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{args}: {shown}");
        assert!(shown.contains(want), "{args}: {shown}");
    }
}

#[test]
fn load_prints_dockers_lines_on_a_terminal_and_says_when_a_tag_moves() {
    let f = fixture();
    let alpine = f.pull(ALPINE).unwrap().record;
    let oci = f.pull(OCI).unwrap().record;
    let store = f.store().unwrap();
    let tar = f.dir().join("a.tar");
    run(
        &f.root(),
        &["save", "-o", tar.to_str().unwrap(), &f.reference(ALPINE)],
        None,
    )
    .success();
    let other = fresh_root(f.dir(), "other");
    // docker load's lines: one a layer stored, staying, then the Loaded line.
    let shown = img_core::testing::on_terminal(&common::wide(
        common::pack(&other).args(["load", "-i", tar.to_str().unwrap()]),
        None,
    ));
    let (diff_ids, sizes) = common::layers_of(&store, &alpine.digest);
    let mut want = common::loading_lines(&diff_ids, &sizes);
    want.push(format!("Loaded image: {}", f.reference(ALPINE)));
    assert_eq!(img_core::testing::screen(&shown), want, "{shown:?}");
    // Loaded again: every layer is there, so no layer line, as docker prints none.
    let shown = img_core::testing::on_terminal(common::pack(&other).args([
        "load",
        "-i",
        tar.to_str().unwrap(),
    ]));
    assert_eq!(shown, format!("Loaded image: {}\n", f.reference(ALPINE)));
    // -q: no bar, the lines alone.
    let shown = img_core::testing::on_terminal(common::pack(&other).args([
        "load",
        "-q",
        "-i",
        tar.to_str().unwrap(),
    ]));
    assert_eq!(shown, format!("Loaded image: {}\n", f.reference(ALPINE)));
    // The same tag on another image: docker's rename line, then the load.
    let s2 = img_core::Store::open(&other).unwrap();
    let alpine_id = s2
        .index()
        .image_by_tag(
            &img_core::Reference::parse_normalized(&f.reference(ALPINE))
                .unwrap()
                .name(),
            "latest",
        )
        .unwrap()
        .unwrap()
        .id;
    store
        .index()
        .tag(
            &oci.id,
            &img_core::Reference::parse_normalized(&f.reference(ALPINE))
                .unwrap()
                .name(),
            "latest",
        )
        .unwrap();
    let moved = f.dir().join("moved.tar");
    run(
        &f.root(),
        &["save", "-o", moved.to_str().unwrap(), &f.reference(ALPINE)],
        None,
    )
    .success();
    let shown = img_core::testing::on_terminal(common::pack(&other).args([
        "load",
        "-q",
        "-i",
        moved.to_str().unwrap(),
    ]));
    assert_eq!(
        shown,
        format!(
            "The image {r} already exists, renaming the old one with ID {alpine_id} to empty string\nLoaded image: {r}\n",
            r = f.reference(ALPINE)
        )
    );
    // An untagged image: its ID.
    let by_id = f.dir().join("id.tar");
    run(
        &f.root(),
        &["save", "-o", by_id.to_str().unwrap(), &oci.id.hex()[..12]],
        None,
    )
    .success();
    let third = fresh_root(f.dir(), "third");
    let shown = img_core::testing::on_terminal(common::pack(&third).args([
        "load",
        "-q",
        "-i",
        by_id.to_str().unwrap(),
    ]));
    assert_eq!(shown, format!("Loaded image ID: {}\n", oci.id));
}

#[test]
fn load_reads_compressed_streams_from_stdin_and_entries_in_any_order() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let archive = save_to_vec(&f.root(), &[&f.reference(ALPINE)]);
    // The documents first, blobs after: another order than save's.
    let mut reordered = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries(&archive).into_iter().rev() {
        let mut h = tar::Header::new_ustar();
        h.set_path(&name).unwrap();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        reordered.append(&h, &data[..]).unwrap();
    }
    let reordered = reordered.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&archive).unwrap();
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&archive).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&archive).unwrap();
    let forms = [
        ("reordered", reordered),
        ("gzip", gz.finish().unwrap()),
        ("zstd", zstd::encode_all(&archive[..], 3).unwrap()),
        ("xz", xz.finish().unwrap()),
        ("bzip2", bz.finish().unwrap()),
    ];
    for (what, bytes) in forms {
        let file = f.dir().join(format!("a.{what}"));
        std::fs::write(&file, bytes).unwrap();
        let other = fresh_root(f.dir(), what);
        let r = run(&other, &["load"], Some(&file)).success().record();
        assert_eq!(
            (r.id, r.digest.clone()),
            (pulled.id.clone(), pulled.digest.clone()),
            "{what}"
        );
        verify_store(&other);
    }
}

#[test]
fn load_reads_an_oci_layout_directory() {
    let f = fixture();
    let pulled = f.pull(OCI).unwrap().record;
    let archive = save_to_vec(&f.root(), &[&f.reference(OCI)]);
    let dir = f.dir().join("layout");
    tar::Archive::new(&archive[..]).unpack(&dir).unwrap();
    let other = fresh_root(f.dir(), "other");
    let r = run(&other, &["load", "-i", dir.to_str().unwrap()], None)
        .success()
        .record();
    assert_eq!((r.id, r.digest), (pulled.id, pulled.digest));
    assert_eq!(r.repo_tags, pulled.repo_tags);
    verify_store(&other);
}

#[test]
fn save_holds_a_lease_so_a_concurrent_prune_cannot_take_its_blobs() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let store = f.store().unwrap();
    let target = img_core::record::Target::parse(&f.reference(ALPINE)).unwrap();
    // A writer that, at the first byte, deletes the image and collects garbage from
    // another handle on the store, as `img-rm --prune` in another process would.
    struct Sneaky {
        root: std::path::PathBuf,
        id: Digest,
        out: Vec<u8>,
        done: bool,
    }
    impl Write for Sneaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.done {
                self.done = true;
                let other = img_core::Store::open(&self.root).unwrap();
                other.index().delete_image(&self.id).unwrap();
                other.gc().unwrap();
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sneaky = Sneaky {
        root: f.root(),
        id: pulled.id.clone(),
        out: Vec::new(),
        done: false,
    };
    let out = img_core::ops::pack::save(
        &store,
        &[target],
        &Default::default(),
        sneaky,
        &mut |_, _| {},
    )
    .unwrap();
    let other = fresh_root(f.dir(), "other");
    let tar = f.dir().join("leased.tar");
    std::fs::write(&tar, &out.out).unwrap();
    let r = run(&other, &["load", "-i", tar.to_str().unwrap()], None)
        .success()
        .record();
    assert_eq!(r.id, pulled.id);
    // Once the save ended, nothing pins them: the next collection takes them.
    assert!(store.gc().unwrap().blobs_removed >= 4);
}

#[test]
fn save_piped_into_load_round_trips_with_records_out() {
    let f = fixture();
    let a = f.pull(ALPINE).unwrap().record;
    let multi = f.pull_all_platforms(MULTI).unwrap().record;
    let other = fresh_root(f.dir(), "other");
    let script = format!(
        "{p} --root {from} save {a} {m} | {p} --root {to} load",
        p = common::PACK,
        from = f.root().display(),
        to = other.display(),
        a = f.reference(ALPINE),
        m = f.reference(MULTI),
    );
    let r = img_core::testing::run(std::process::Command::new("sh").args(["-c", &script]), None)
        .success()
        .records::<img_core::record::ImageRecord>();
    let got: Vec<_> = r.iter().map(|r| (&r.id, &r.digest, &r.repo_tags)).collect();
    assert_eq!(
        got,
        [
            (&a.id, &a.digest, &a.repo_tags),
            (&multi.id, &multi.digest, &multi.repo_tags)
        ]
    );
    let s2 = img_core::Store::open(&other).unwrap();
    for rec in &r {
        let info = s2.index().image(&rec.id).unwrap().unwrap();
        let report = img_core::ops::verify::verify(&s2, &info).unwrap();
        assert!(report.ok, "{report:?}");
    }
    verify_store(&other);
}

#[test]
fn index_json_and_manifest_json_that_disagree_load_as_their_union() {
    let f = fixture();
    let a = f.pull(ALPINE).unwrap().record;
    let o = f.pull(OCI).unwrap().record;
    let archive = save_to_vec(&f.root(), &[&f.reference(ALPINE), &f.reference(OCI)]);
    // index.json names only the first image, manifest.json only the second: both load,
    // and an image both name is one image with the names of both.
    let rewrite = |index_keeps: usize, manifest_keeps: usize| {
        let mut out = tar::Builder::new(Vec::new());
        for (name, kind, mut data) in entries(&archive) {
            if name == "index.json" {
                let mut v: serde_json::Value = serde_json::from_slice(&data).unwrap();
                let m = v["manifests"].as_array_mut().unwrap();
                m.retain(|d| d["digest"] == [&a, &o][index_keeps].digest.to_string());
                data = serde_json::to_vec(&v).unwrap();
            }
            if name == "manifest.json" {
                let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
                data = serde_json::to_vec(&[&v[manifest_keeps]]).unwrap();
            }
            let mut h = tar::Header::new_ustar();
            h.set_path(&name).unwrap();
            h.set_entry_type(tar::EntryType::new(kind));
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append(&h, &data[..]).unwrap();
        }
        out.into_inner().unwrap()
    };
    for (what, bytes) in [("apart", rewrite(0, 1)), ("same", rewrite(1, 1))] {
        let file = f.dir().join(format!("{what}.tar"));
        std::fs::write(&file, bytes).unwrap();
        let other = fresh_root(f.dir(), what);
        let got: Vec<_> = run(&other, &["load", "-i", file.to_str().unwrap()], None)
            .success()
            .records::<img_core::record::ImageRecord>()
            .into_iter()
            .map(|r| (r.id, r.repo_tags))
            .collect();
        let want = match what {
            "apart" => vec![
                (a.id.clone(), a.repo_tags.clone()),
                (o.id.clone(), o.repo_tags.clone()),
            ],
            _ => vec![(o.id.clone(), o.repo_tags.clone())],
        };
        assert_eq!(got, want, "{what}");
        verify_store(&other);
    }
}

#[test]
fn an_index_nested_in_an_index_loads_as_the_inner_index_image() {
    let f = fixture();
    let multi = f.pull_all_platforms(MULTI).unwrap().record;
    let archive = save_to_vec(&f.root(), &[&f.reference(MULTI)]);
    let index = doc(&archive, "index.json");
    let inner = index["manifests"][0].clone();
    let wrapper = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{"mediaType": inner["mediaType"], "digest": inner["digest"], "size": inner["size"]}],
    }))
    .unwrap();
    let wd = Digest::sha256_of(&wrapper);
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| add_file(&mut out, name, data);
    for (name, kind, data) in entries(&archive) {
        if kind == b'0' && name.starts_with("blobs/") {
            add(&name, &data);
        }
    }
    add(&format!("blobs/sha256/{}", wd.hex()), &wrapper);
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": media_type::OCI_INDEX, "digest": wd.to_string(), "size": wrapper.len(),
        "annotations": {"io.containerd.image.name": "nested/multi:1"},
    }]});
    add("index.json", &serde_json::to_vec(&top).unwrap());
    let file = f.dir().join("nested.tar");
    std::fs::write(&file, out.into_inner().unwrap()).unwrap();
    let other = fresh_root(f.dir(), "other");
    let r = run(&other, &["load", "-i", file.to_str().unwrap()], None)
        .success()
        .record();
    assert_eq!((r.id, r.digest), (multi.id.clone(), multi.digest.clone()));
    assert_eq!(r.repo_tags, ["nested/multi:1"]);
    verify_store(&other);
}

/// Regression (issue 9, failure 6): a damaged blob was never repaired. Loading an archive
/// that carries it replaces it, atomically, with the archive's verified copy.
#[test]
fn loading_again_repairs_a_damaged_blob_the_archive_carries() {
    let f = fixture();
    let a = f.pull(ALPINE).unwrap().record;
    let file = f.dir().join("alpine.tar");
    let file_s = file.to_str().unwrap();
    run(
        &f.root(),
        &["save", "-o", file_s, &f.reference(ALPINE)],
        None,
    )
    .success();
    let store = f.store().unwrap();
    let m: img_core::oci::Manifest =
        serde_json::from_slice(&store.read_blob(&a.digest).unwrap()).unwrap();
    let path = store.blob_path(&m.layers[0].digest);
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let info = store.index().image(&a.id).unwrap().unwrap();
    assert!(!img_core::ops::verify::verify(&store, &info).unwrap().ok);

    run(&f.root(), &["load", "-i", file_s], None).success();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the layer is whole again"
    );
    assert!(img_core::ops::verify::verify(&store, &info).unwrap().ok);
    verify_store(&f.root());
}

/// Issue 14, bug 4: `img-pack load < file` on a terminal drew `187.00 MiB/0 B`. From a
/// pipe that pauses (so the reading line is drawn) it shows the bytes read and a rate but
/// no total; from a redirected file, the file's size; never a 0 total; and the line is
/// gone from the final screen, which holds docker's lines.
#[test]
fn load_from_stdin_on_a_terminal_never_shows_a_zero_total() {
    let f = fixture();
    let big = f.pull("test/big:latest").unwrap().record;
    let tar = f.dir().join("big.tar");
    run(
        &f.root(),
        &[
            "save",
            "-o",
            tar.to_str().unwrap(),
            &f.reference("test/big:latest"),
        ],
        None,
    )
    .success();
    let len = std::fs::metadata(&tar).unwrap().len();
    let (diff_ids, sizes) = common::layers_of(&f.store().unwrap(), &big.digest);
    let mut want = common::loading_lines(&diff_ids, &sizes);
    want.push(format!("Loaded image: {}", f.reference("test/big:latest")));
    let path = tar.to_str().unwrap();
    for (what, stdin) in [
        (
            "a pipe",
            format!("(head -c 100000 '{path}'; sleep 0.5; tail -c +100001 '{path}') |"),
        ),
        ("a redirected file", format!("< '{path}'")),
    ] {
        let store = fresh_root(f.dir(), &format!("store-{}", what.len()));
        let shown = img_core::testing::on_terminal(&common::wide(
            common::pack(&store).arg("load"),
            Some(&stdin),
        ));
        assert_eq!(img_core::testing::screen(&shown), want, "{what}: {shown:?}");
        let frames: Vec<&str> = shown
            .split("\r\x1b[2K")
            .filter(|f| f.starts_with("Reading archive"))
            .collect();
        for frame in &frames {
            assert!(!frame.contains("/0B"), "{what}: {frame:?}");
            match what {
                "a pipe" => assert!(
                    frame.ends_with("/s") && frame.matches('/').count() == 1,
                    "{what}: bytes and a rate, no total: {frame:?}"
                ),
                _ => assert!(
                    frame.contains(&format!("/{}  ", common::docker_human_size(len))),
                    "{what}: the file's size: {frame:?}"
                ),
            }
        }
        if what == "a pipe" {
            assert!(
                !frames.is_empty(),
                "a paused pipe draws the reading line: {shown:?}"
            );
        }
    }
}
