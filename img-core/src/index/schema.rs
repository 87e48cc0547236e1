//! The index schema as numbered migrations, tracked with `PRAGMA user_version`.
//!
//! Migration N brings a version N-1 index to version N. Migrations are append-only: a
//! released one is never edited, a change is a new one. They run inside the caller's
//! `BEGIN IMMEDIATE` transaction, so two processes opening a fresh store at once cannot both
//! apply them, and a process killed half-way leaves the old version intact.

use rusqlite::Transaction;

use crate::error::{Error, ErrorKind, Result};

/// The schema version this img writes; an index with a higher one is refused.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, version 1 first.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE blobs (
        digest       TEXT PRIMARY KEY,
        size         INTEGER NOT NULL,
        media_type   TEXT NOT NULL,
        committed_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE images (
        id                TEXT PRIMARY KEY,
        target_digest     TEXT NOT NULL,
        target_media_type TEXT NOT NULL,
        created           TEXT,
        -- created as nanoseconds since the epoch, for ordering and before/since filters.
        created_ns        INTEGER,
        size              INTEGER NOT NULL,
        platform          TEXT NOT NULL,
        last_tag_time     TEXT,
        added_at          TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX images_created ON images(created_ns);

    CREATE TABLE tags (
        name      TEXT NOT NULL,
        tag       TEXT NOT NULL,
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        tagged_at TEXT NOT NULL,
        PRIMARY KEY (name, tag)
    ) WITHOUT ROWID;
    CREATE INDEX tags_image ON tags(image_id);

    CREATE TABLE repo_digests (
        name     TEXT NOT NULL,
        digest   TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        PRIMARY KEY (name, digest)
    ) WITHOUT ROWID;
    CREATE INDEX repo_digests_image ON repo_digests(image_id);

    CREATE TABLE image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest   TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    ) WITHOUT ROWID;
    CREATE INDEX image_blobs_digest ON image_blobs(digest);

    CREATE TABLE labels (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (image_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE leases (
        id         TEXT PRIMARY KEY,
        purpose    TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE lease_blobs (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        digest   TEXT NOT NULL,
        PRIMARY KEY (lease_id, digest)
    ) WITHOUT ROWID;
    CREATE INDEX lease_blobs_digest ON lease_blobs(digest);
    "#,
    // 2: the store's identity, which `blobs/store-id` carries too, so that an index that
    // does not belong to the blobs beside it is recognised (see store/identity.rs). An
    // index upgraded from version 1 gets a new identity, which its blobs then adopt.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 3: the manifest each tag resolved to. One image (one config) can be reached through
    // several manifests (the same image pushed with docker and OCI media types), and
    // docker's inspect shows, as `Descriptor`, the one the given reference names. NULL (a
    // tag recorded before, or made by img-tag) means the image's own target.
    r#"
    ALTER TABLE tags ADD COLUMN target_digest TEXT;
    ALTER TABLE tags ADD COLUMN target_media_type TEXT;
    "#,
    // 4: what an image pins is derived, never accumulated (see pins.rs): `image_roots`
    // holds the closure of each root (its target, its tags' targets, its repo digests),
    // and `image_blobs` is recomputed from the roots it has now. `layer_diff_ids` records
    // the DiffID a config claims for each layer blob (a load trusts only a verified one),
    // `synthesized` the manifests img wrote itself for legacy archives. The fill of
    // existing images reads their manifests and configs, so it is Rust code (store/fill.rs)
    // that runs when a writer next opens the store: the `fill` row says it is due.
    r#"
    CREATE TABLE image_roots (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        root     TEXT NOT NULL,
        digest   TEXT NOT NULL,
        PRIMARY KEY (image_id, root, digest)
    ) WITHOUT ROWID;

    CREATE TABLE layer_diff_ids (
        digest   TEXT NOT NULL,
        diff_id  TEXT NOT NULL,
        verified INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (digest, diff_id)
    ) WITHOUT ROWID;
    CREATE INDEX layer_diff_ids_diff_id ON layer_diff_ids(diff_id);

    CREATE TABLE synthesized (
        digest TEXT PRIMARY KEY
    ) WITHOUT ROWID;

    INSERT INTO meta (key, value) VALUES ('fill', '4')
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    "#,
    // 5: where each layer blob is known to be: the registry (the reference's domain,
    // `docker.io`) and repository path (`library/alpine`) a pull fetched it from or a push
    // sent it to, so that a push to another repository of the same registry can ask for a
    // cross-repository mount (`?mount=&from=`) instead of uploading it (sources.rs). The
    // rows go with the blob's row (GC). Nothing to fill: a blob stored before has no known
    // source until its next pull or push.
    r#"
    CREATE TABLE blob_sources (
        digest     TEXT NOT NULL,
        registry   TEXT NOT NULL,
        repository TEXT NOT NULL,
        -- when it was last seen there, nanoseconds since the epoch: the latest is tried.
        seen_ns    INTEGER NOT NULL,
        PRIMARY KEY (digest, registry, repository)
    ) WITHOUT ROWID;
    "#,
];

/// The version recorded in the file.
pub(super) fn user_version(tx: &Transaction<'_>) -> Result<u32> {
    let v: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| super::sql_error(e, path_of(tx).as_ref()))?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Brings the index to [`SCHEMA_VERSION`], refusing one from a newer img.
pub(super) fn migrate(tx: &Transaction<'_>) -> Result<()> {
    let path = path_of(tx);
    let current = user_version(tx)?;
    if current > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "index {} was written by a newer img (schema version {current}, this img knows up to {SCHEMA_VERSION}); upgrade img to use this store",
                path.display()
            ),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i + 1;
        tx.execute_batch(sql)
            .map_err(|e| super::sql_error(e, path.as_ref()))
            .map_err(|e| e.context(format!("migrating the index to version {version}")))?;
    }
    if current != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| super::sql_error(e, path.as_ref()))?;
    }
    Ok(())
}

/// The file behind the connection, for error messages.
fn path_of(tx: &Transaction<'_>) -> std::path::PathBuf {
    tx.path()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "index.db".into())
}
