//! What a push reports while it works, and docker push's lines for a terminal: `The push
//! refers to repository [HOST/PATH]`, one line a layer labelled by its DiffID's short ID
//! (`Preparing`, `Waiting`, `Pushed`, `Layer already exists`, `Mounted from …`), and
//! `TAG: digest: sha256:… size: N`. Printed plainly, one line a state change, as docker
//! prints without cursor movement.

use std::io::Write;
use std::sync::Mutex;

use crate::digest::Digest;
use crate::oci::Descriptor;
use crate::reference::Reference;

/// One step in the life of a layer being pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEvent {
    /// Listed, not started.
    Preparing,
    /// Queued behind the running uploads.
    Waiting,
    /// The repository has it already.
    Exists,
    /// This many more bytes went up.
    Progress(u64),
    /// The upload failed and starts again.
    Retrying,
    /// Uploaded.
    Pushed,
    /// Linked from this repository of the same registry.
    Mounted(String),
}

/// Receives a push's progress. Called from several upload threads at once.
pub trait PushProgress: Sync {
    /// The push of `reference`'s repository starts.
    fn repository(&self, _reference: &Reference) {}
    /// Something happened to a blob (`diff_id` is `None` for a config).
    fn layer(&self, _blob: &Descriptor, _diff_id: Option<&Digest>, _event: LayerEvent) {}
    /// `tag` now names `digest`, a document of `size` bytes.
    fn pushed(&self, _tag: &str, _digest: &Digest, _size: u64) {}
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoPushProgress;

impl PushProgress for NoPushProgress {}

/// docker push's lines, written to `out` (stderr in img-push: stdout carries the result).
pub struct PlainPushProgress {
    out: Mutex<Box<dyn Write + Send>>,
}

impl PlainPushProgress {
    /// The display on stderr.
    pub fn new() -> PlainPushProgress {
        PlainPushProgress::to_writer(Box::new(std::io::stderr()))
    }

    /// The display written to `out`.
    pub fn to_writer(out: Box<dyn Write + Send>) -> PlainPushProgress {
        PlainPushProgress {
            out: Mutex::new(out),
        }
    }

    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

impl Default for PlainPushProgress {
    fn default() -> Self {
        PlainPushProgress::new()
    }
}

impl PushProgress for PlainPushProgress {
    fn repository(&self, reference: &Reference) {
        // docker names the repository in full (`docker.io/library/alpine`).
        self.line(&format!(
            "The push refers to repository [{}]",
            reference.name()
        ));
    }

    fn layer(&self, _blob: &Descriptor, diff_id: Option<&Digest>, event: LayerEvent) {
        // docker shows no row for the config.
        let Some(id) = diff_id else { return };
        let status = match event {
            LayerEvent::Preparing => "Preparing".to_owned(),
            LayerEvent::Waiting => "Waiting".to_owned(),
            LayerEvent::Exists => "Layer already exists".to_owned(),
            LayerEvent::Pushed => "Pushed".to_owned(),
            LayerEvent::Mounted(from) => format!("Mounted from {from}"),
            LayerEvent::Progress(_) | LayerEvent::Retrying => return,
        };
        self.line(&format!("{}: {status}", short(id)));
    }

    fn pushed(&self, tag: &str, digest: &Digest, size: u64) {
        self.line(&format!("{tag}: digest: {digest} size: {size}"));
    }
}

/// docker's short ID: the first 12 hex digits.
fn short(d: &Digest) -> &str {
    d.short()
}
