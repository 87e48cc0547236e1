//! The dry run against the real prune right after it, on many seeded random stores (shared
//! layers, multi-platform images, partials held and not, orphans, leases, filters), and
//! a dry run that leaves every byte of the store as it was.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::index::NewImage;
use crate::ops::rm::{parse_prune_filters, prune_at};
use crate::store::{Ingest, Lease};

/// A small seeded generator (xorshift64*): the same seed builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn blob(store: &Store, what: &str, len: usize) -> Digest {
    let bytes: Vec<u8> = format!("{what};").bytes().cycle().take(len).collect();
    let d = Digest::sha256_of(&bytes);
    store
        .put_blob("application/octet-stream", &bytes, &d)
        .unwrap();
    d
}

/// What a random store keeps alive while it is pruned: held partials and live leases.
struct Holds<'s> {
    _writers: Vec<crate::store::IngestWriter<'s>>,
    _leases: Vec<Lease<'s>>,
}

/// Builds a random store from `seed` and returns what holds parts of it.
fn random_store<'s>(store: &'s Store, seed: u64) -> Holds<'s> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let layers: Vec<Digest> = (0..1 + rng.below(6))
        .map(|i| {
            blob(
                store,
                &format!("layer {seed} {i}"),
                100 + rng.below(5000) as usize,
            )
        })
        .collect();
    let mut all_blobs = layers.clone();
    let mut images: Vec<Digest> = Vec::new();
    for i in 0..rng.below(7) {
        let platforms = if rng.chance(30) { 2 + rng.below(2) } else { 1 };
        let mut blobs = Vec::new();
        let mut manifests = Vec::new();
        let mut id = None;
        for p in 0..platforms {
            let config = blob(store, &format!("config {seed} {i} {p}"), 200);
            let manifest = blob(store, &format!("manifest {seed} {i} {p}"), 400);
            blobs.push(config.clone());
            blobs.push(manifest.clone());
            // Shared layers: each platform takes one to three of the pool.
            for _ in 0..1 + rng.below(3) {
                blobs.push(layers[rng.below(layers.len() as u64) as usize].clone());
            }
            id.get_or_insert(config);
            manifests.push(manifest);
        }
        let (id, target, media_type) = if platforms > 1 {
            let index = blob(store, &format!("index {seed} {i}"), 300);
            blobs.push(index.clone());
            (index.clone(), index, crate::oci::media_type::OCI_INDEX)
        } else {
            (
                id.unwrap(),
                manifests[0].clone(),
                crate::oci::media_type::OCI_MANIFEST,
            )
        };
        blobs.sort();
        blobs.dedup();
        all_blobs.extend(blobs.iter().cloned());
        let mut tags = Vec::new();
        if rng.chance(50) {
            tags.push((format!("docker.io/library/app{i}"), "latest".to_owned()));
            if rng.chance(30) {
                tags.push((format!("docker.io/library/app{i}"), "v1".to_owned()));
            }
        }
        let repo_digests = if rng.chance(50) {
            vec![(format!("docker.io/library/app{i}"), target.clone())]
        } else {
            Vec::new()
        };
        let mut labels = BTreeMap::new();
        if rng.chance(50) {
            labels.insert("k".to_owned(), format!("{}", rng.below(2)));
        }
        let days = rng.below(10);
        // Half a day off the `until=N*24h` filters' boundaries: an image created exactly
        // on one crossed it between the dry run and the prune on a loaded machine.
        let created =
            jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days as i64 + 12);
        store
            .index()
            .put_image(&NewImage {
                id: id.clone(),
                target,
                target_media_type: media_type.into(),
                created: Some(created.to_string()),
                platform: "linux/amd64".into(),
                blobs,
                labels,
                tags,
                repo_digests,
            })
            .unwrap();
        images.push(id);
    }
    // Unreferenced rows and orphan files (a commit killed before its row).
    for i in 0..rng.below(3) {
        all_blobs.push(blob(
            store,
            &format!("loose {seed} {i}"),
            10 + rng.below(900) as usize,
        ));
    }
    for i in 0..rng.below(3) {
        let bytes = format!("orphan {seed} {i}").repeat(1 + rng.below(50) as usize);
        let d = Digest::sha256_of(bytes.as_bytes());
        std::fs::write(store.blob_path(&d), bytes).unwrap();
    }
    // Partials: some held (a pull still writing), some left by a killed one.
    let mut writers = Vec::new();
    for i in 0..rng.below(4) {
        let bytes = format!("partial {seed} {i}").repeat(100);
        let d = Digest::sha256_of(bytes.as_bytes());
        let Ingest::Writer(mut w) = store.ingest(&d, Some(bytes.len() as u64)).unwrap() else {
            panic!("a partial's blob is not there yet");
        };
        let cut = 1 + rng.below(bytes.len() as u64 - 1) as usize;
        std::io::Write::write_all(&mut w, &bytes.as_bytes()[..cut]).unwrap();
        if rng.chance(40) {
            writers.push(*w);
        }
    }
    // Live leases: one may pin a shared layer, another an image (then it is in use).
    let mut leases = Vec::new();
    if rng.chance(40) && !all_blobs.is_empty() {
        let lease = store.lease("testing a pull").unwrap();
        lease
            .protect(&all_blobs[rng.below(all_blobs.len() as u64) as usize])
            .unwrap();
        leases.push(lease);
    }
    if rng.chance(30) && !images.is_empty() {
        let lease = store.lease("testing a save").unwrap();
        lease
            .protect(&images[rng.below(images.len() as u64) as usize])
            .unwrap();
        leases.push(lease);
    }
    Holds {
        _writers: writers,
        _leases: leases,
    }
}

/// The options of a random prune: `-a` or not, and some of prune's filters.
fn random_options(seed: u64) -> PruneOptions {
    let mut rng = Rng(seed.wrapping_add(77).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut filters = Vec::new();
    if rng.chance(25) {
        filters.push(format!("label=k={}", rng.below(2)));
    }
    if rng.chance(25) {
        filters.push("label!=k".to_owned());
    }
    if rng.chance(25) {
        filters.push(format!("until={}h", 24 * rng.below(10)));
    }
    if rng.chance(15) {
        filters.push("dangling=false".to_owned());
    }
    PruneOptions {
        all: rng.chance(30),
        filter: parse_prune_filters(&filters).unwrap(),
    }
}

#[test]
fn the_dry_run_reclaims_what_the_prune_right_after_it_reclaims_on_random_stores() {
    let mut nonzero = 0;
    for seed in 0..120 {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let holds = random_store(&store, seed);
        let options = random_options(seed);
        let dry = prune_dry_run_at(dir.path(), &options).unwrap();
        let real = prune_at(dir.path(), &options).unwrap();
        assert_eq!(dry, real.records, "seed {seed}, {options:?}");
        assert_eq!(
            dry.last(),
            Some(&RemovalRecord::SpaceReclaimed(real.gc.bytes_reclaimed)),
            "seed {seed}"
        );
        if real.gc.bytes_reclaimed > 0 {
            nonzero += 1;
        }
        // After the prune, a dry run finds nothing more to free.
        drop(holds);
        let again = prune_dry_run_at(dir.path(), &options).unwrap();
        let real_again = prune_at(dir.path(), &options).unwrap();
        assert_eq!(again, real_again.records, "seed {seed}, second round");
    }
    // The stores are not all trivially empty.
    assert!(nonzero > 60, "only {nonzero} stores had anything to free");
}

/// Every path under `root` with its size, modification time and content.
fn snapshot(root: &Path) -> BTreeMap<String, (u64, std::time::SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                stack.push(path);
                out.insert(name, (0, meta.modified().unwrap(), Vec::new()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(name, (meta.len(), meta.modified().unwrap(), bytes));
            }
        }
    }
    out
}

#[test]
fn a_dry_run_changes_nothing_in_the_store() {
    for seed in [3, 11, 42] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _holds = random_store(&store, seed);
        let before = snapshot(dir.path());
        let check_before = store.check();
        let blobs_before = store.index().blobs().unwrap();
        for all in [false, true] {
            let options = PruneOptions {
                all,
                filter: ListFilter::default(),
            };
            prune_dry_run_at(dir.path(), &options).unwrap();
        }
        assert_eq!(store.index().blobs().unwrap(), blobs_before, "seed {seed}");
        let check_after = store.check();
        assert_eq!(check_after.problems, check_before.problems, "seed {seed}");
        assert_eq!(
            (
                check_after.files,
                check_after.unpinned,
                check_after.partials
            ),
            (
                check_before.files,
                check_before.unpinned,
                check_before.partials
            ),
            "seed {seed}"
        );
        let after = snapshot(dir.path());
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "seed {seed}: the dry run created or removed files"
        );
        for (path, was) in &before {
            // SQLite's shared-memory WAL index is written by every reader (its read marks),
            // a read-only one too; it holds no data.
            if path == "index.db-shm" {
                continue;
            }
            assert!(after[path] == *was, "seed {seed}: {path} changed");
        }
    }
}

#[test]
fn a_dry_run_of_a_root_without_a_store_frees_nothing_and_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("none");
    let records = prune_dry_run_at(&root, &PruneOptions::default()).unwrap();
    assert_eq!(records, vec![RemovalRecord::SpaceReclaimed(0)]);
    assert!(!root.exists());
}
