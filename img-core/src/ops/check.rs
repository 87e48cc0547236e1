//! `img-pull --check`: whether each local image is behind its registry — one HEAD of the
//! tag a pull would fetch (pull's Accept header, so the registry answers with the digest
//! a pull would resolve to), compared with the RepoDigest the store recorded. Nothing is
//! downloaded and nothing is written: the store is only read.
//!
//! Only what came from a registry is asked about: a tag whose image has a RepoDigest in
//! that repository. A name made by img-tag or a load has none, and is `Local` without a
//! request (such names must not leak to Docker Hub); a digest reference is `Pinned`.
//!
//! Checks run `jobs` at once, one worker a repository: the tags of one repository go one
//! after the other, so the first one's token (one a repository scope) serves the rest.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::ImageInfo;
use crate::record::Target;
use crate::reference::Reference;
use crate::registry::{Endpoint, ManifestHead, Security, endpoints};
use crate::settings::Config;
use crate::store::Store;

use super::resolve::{Via, resolve};

/// How to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Repositories checked at once (at least 1).
    pub jobs: usize,
    /// Plain HTTP and unverified TLS allowed for this command.
    pub insecure: bool,
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckStatus {
    /// The registry's tag names the digest the store recorded.
    UpToDate,
    /// The registry's tag names another digest: a pull would fetch it.
    Outdated,
    /// The registry has no such tag (or repository) any more.
    Gone,
    /// A name that did not come from a registry (img-tag, a load): not asked about.
    Local,
    /// A digest reference: it cannot move.
    Pinned,
    /// The registry could not be asked (the error is reported too).
    Error,
}

impl CheckStatus {
    /// Whether this status leaves the exit status 0.
    pub fn is_fine(self) -> bool {
        matches!(
            self,
            CheckStatus::UpToDate | CheckStatus::Local | CheckStatus::Pinned
        )
    }
}

/// The record `img-pull --check` prints for each image named (docs/records.md). Every key
/// is always there, `null` when it does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    /// The reference checked, in full (`docker.io/library/alpine:3.20`), or the image ID
    /// given.
    #[serde(rename = "Ref")]
    pub reference: String,
    /// What the check found.
    #[serde(rename = "Status")]
    pub status: CheckStatus,
    /// What the store has: the RepoDigest the tag was pulled as, the digest of a pinned
    /// reference, or the image ID of a local one.
    #[serde(rename = "Local")]
    pub local: Option<Digest>,
    /// What the registry's tag names now (only when it was asked and has it).
    #[serde(rename = "Remote")]
    pub remote: Option<Digest>,
    /// The registry's `ratelimit-remaining` header, when it sent one (Docker Hub:
    /// `76;w=21600`, requests left in the window of that many seconds).
    #[serde(rename = "RateLimitRemaining")]
    pub ratelimit_remaining: Option<String>,
}

impl CheckRecord {
    /// The keys of the record, for templates.
    pub const KEYS: &'static [&'static str] =
        &["Ref", "Status", "Local", "Remote", "RateLimitRemaining"];

    /// The record as JSON, every key present.
    pub fn value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding a record: {e}")))
    }

    /// What the terminal's table shows of it: the familiar name and short digests, as
    /// `docker images` shows IDs.
    pub fn table_row(&self) -> serde_json::Value {
        let short = |d: &Option<Digest>| d.as_ref().map_or(String::new(), |d| d.short().to_owned());
        let reference = Reference::parse_normalized(&self.reference)
            .map_or_else(|_| self.reference.clone(), |r| r.familiar());
        serde_json::json!({
            "Ref": reference,
            "Status": format!("{:?}", self.status),
            "Local": short(&self.local),
            "Remote": short(&self.remote),
            "RateLimitRemaining": self.ratelimit_remaining.clone().unwrap_or_default(),
        })
    }
}

/// One item's outcome: its record (absent for an item that names nothing, a bad record
/// on stdin) and its error, reported under `label`.
#[derive(Debug)]
pub struct Checked {
    /// What the item is called in an error message: the argument, or the record's target.
    pub label: String,
    /// The record printed.
    pub record: Option<CheckRecord>,
    /// Why the item failed (status `Error`, or no record at all).
    pub error: Option<Error>,
}

impl Checked {
    /// Whether the item leaves the exit status 0.
    pub fn is_fine(&self) -> bool {
        self.error.is_none() && self.record.as_ref().is_some_and(|r| r.status.is_fine())
    }
}

/// A tag to ask the registry about.
struct Question {
    /// Where its outcome goes.
    slot: usize,
    reference: Reference,
    /// The store's RepoDigests of the image in the tag's repository.
    recorded: Vec<Digest>,
}

/// Checks every target, in order: one outcome an item.
pub fn check(
    store: &Store,
    targets: Vec<(String, Result<Target>)>,
    options: &CheckOptions,
    config: &Config,
) -> Vec<Checked> {
    let mut out: Vec<Checked> = Vec::with_capacity(targets.len());
    // (domain, repository path) → its questions, in input order.
    let mut asks: BTreeMap<(String, String), Vec<Question>> = BTreeMap::new();
    for (label, target) in targets {
        let slot = out.len();
        let mut checked = Checked {
            label,
            record: None,
            error: None,
        };
        match target.and_then(|t| local_answer(store, &t)) {
            Err(e) => checked.error = Some(e),
            Ok(Answer::Done(record)) => checked.record = Some(record),
            Ok(Answer::Ask(reference, recorded)) => {
                let key = (reference.domain().to_owned(), reference.path().to_owned());
                asks.entry(key).or_default().push(Question {
                    slot,
                    reference,
                    recorded,
                });
            }
        }
        out.push(checked);
    }
    let security = Security {
        insecure: options.insecure,
    };
    // One set of clients a registry, shared by its repositories' workers.
    let mut clients: BTreeMap<String, Result<Vec<Endpoint>>> = BTreeMap::new();
    for (domain, _) in asks.keys() {
        clients
            .entry(domain.clone())
            .or_insert_with(|| endpoints(domain, config, security));
    }
    let groups: Vec<&Vec<Question>> = asks.values().collect();
    let answered = super::parallel::run(&groups, options.jobs, |questions| {
        let Some(q) = questions.first() else {
            return Ok(Vec::new());
        };
        let eps = clients.get(q.reference.domain());
        Ok(questions
            .iter()
            .map(|q| {
                let result = match eps {
                    Some(Ok(eps)) => ask(eps, q),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(Error::new(ErrorKind::NotFound, "no registry to ask")),
                };
                (q.slot, q, result)
            })
            .map(|(slot, q, result)| (slot, outcome(q, result)))
            .collect::<Vec<_>>())
    });
    // The work above never fails: each question's failure is in its record.
    for (slot, (record, error)) in answered.into_iter().flatten().flatten() {
        if let Some(c) = out.get_mut(slot) {
            c.record = Some(record);
            c.error = error;
        }
    }
    out
}

/// What the store alone says about a target.
enum Answer {
    /// Nothing to ask: the record.
    Done(CheckRecord),
    /// Ask the registry about this tag; these are the digests the store recorded for it.
    Ask(Reference, Vec<Digest>),
}

fn local_answer(store: &Store, target: &Target) -> Result<Answer> {
    let found = resolve(store.index(), target)?;
    let image: &ImageInfo = &found.image;
    let record = |reference: String, status, local: &Digest| CheckRecord {
        reference,
        status,
        local: Some(local.clone()),
        remote: None,
        ratelimit_remaining: None,
    };
    match found.via {
        Via::Digest(r) => {
            let d = r.digest().cloned().unwrap_or_else(|| image.id.clone());
            Ok(Answer::Done(record(r.to_string(), CheckStatus::Pinned, &d)))
        }
        Via::Id => Ok(Answer::Done(record(
            image.id.to_string(),
            CheckStatus::Local,
            &image.id,
        ))),
        Via::Tag(r) => {
            let name = r.name();
            let recorded: Vec<Digest> = image
                .repo_digests
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, d)| d.clone())
                .collect();
            let r = match r.tag() {
                Some(_) => r,
                None => r.with_tag(crate::reference::DEFAULT_TAG)?,
            };
            if recorded.is_empty() {
                return Ok(Answer::Done(record(
                    r.to_string(),
                    CheckStatus::Local,
                    &image.id,
                )));
            }
            Ok(Answer::Ask(r, recorded))
        }
    }
}

/// One HEAD of the tag, as a pull asks: a mirror that fails or lacks it gives way to the
/// next endpoint; the registry's own answer is the answer.
fn ask(endpoints: &[Endpoint], q: &Question) -> Result<ManifestHead> {
    let tag = q.reference.tag().unwrap_or(crate::reference::DEFAULT_TAG);
    let mut last = None;
    for ep in endpoints {
        match ep.client.check_manifest(q.reference.path(), tag) {
            Ok(head) if ep.mirror && head.found.is_none() => last = Some(Ok(head)),
            Ok(head) => return Ok(head),
            Err(e) if ep.mirror => last = Some(Err(e)),
            Err(e) => return Err(e),
        }
    }
    last.unwrap_or_else(|| Err(Error::new(ErrorKind::NotFound, "no registry to ask")))
}

/// The record for a question and the registry's answer (and the error, for `Error`).
fn outcome(q: &Question, answer: Result<ManifestHead>) -> (CheckRecord, Option<Error>) {
    let mut record = CheckRecord {
        reference: q.reference.to_string(),
        status: CheckStatus::Error,
        local: q.recorded.first().cloned(),
        remote: None,
        ratelimit_remaining: None,
    };
    match answer {
        Err(e) => return (record, Some(e)),
        Ok(head) => {
            record.ratelimit_remaining = head.ratelimit_remaining;
            match head.found {
                None => record.status = CheckStatus::Gone,
                Some((remote, _, _)) => {
                    if q.recorded.contains(&remote) {
                        record.status = CheckStatus::UpToDate;
                        record.local = Some(remote.clone());
                    } else {
                        record.status = CheckStatus::Outdated;
                    }
                    record.remote = Some(remote);
                }
            }
        }
    }
    (record, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_the_record_and_only_three_statuses_are_fine() {
        let d = Digest::sha256_of(b"x");
        let r = CheckRecord {
            reference: "docker.io/library/alpine:3.20".to_owned(),
            status: CheckStatus::Outdated,
            local: Some(d.clone()),
            remote: None,
            ratelimit_remaining: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = CheckRecord::KEYS.to_vec();
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["Status"], "Outdated");
        assert_eq!(v["Remote"], serde_json::Value::Null);
        assert_eq!(r.table_row()["Ref"], "alpine:3.20");
        assert_eq!(r.table_row()["Local"], d.short());
        let fine: Vec<CheckStatus> = [
            CheckStatus::UpToDate,
            CheckStatus::Outdated,
            CheckStatus::Gone,
            CheckStatus::Local,
            CheckStatus::Pinned,
            CheckStatus::Error,
        ]
        .into_iter()
        .filter(|s| s.is_fine())
        .collect();
        assert_eq!(
            fine,
            [
                CheckStatus::UpToDate,
                CheckStatus::Local,
                CheckStatus::Pinned
            ]
        );
    }
}
