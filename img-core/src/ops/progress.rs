//! What a pull reports while it works, and the terminal display of it: one indicatif bar a
//! blob plus a total, like docker's pull display. Nothing is drawn when stderr is not a
//! terminal (the caller passes [`NoProgress`]).

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::oci::Descriptor;
use crate::reference::Reference;

/// One step in the life of a blob being pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobEvent {
    /// Queued.
    Waiting,
    /// Already in the store: not fetched.
    Exists,
    /// Resuming a partial download from this byte.
    Resuming(u64),
    /// This many more bytes arrived.
    Progress(u64),
    /// All bytes arrived; checking the digest.
    Verifying,
    /// Verified and committed.
    Done,
    /// The transfer failed and is tried again (why).
    Retrying(String),
}

/// Receives a pull's progress. Called from several download threads at once.
pub trait PullProgress: Sync {
    /// The reference resolved to `digest`.
    fn resolved(&self, _reference: &Reference, _digest: &Digest) {}
    /// Something happened to a blob.
    fn blob(&self, _blob: &Descriptor, _event: BlobEvent) {}
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl PullProgress for NoProgress {}

/// Bars on stderr, one a blob (docker's `c6a83fedfae6: Downloading [==>  ] 1.2MB/3.4MB`)
/// and a total.
pub struct TerminalProgress {
    multi: MultiProgress,
    total: ProgressBar,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        TerminalProgress::new()
    }
}

impl TerminalProgress {
    /// Bars drawn on stderr.
    pub fn new() -> TerminalProgress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style(
            "{prefix:>12}: {msg:<16} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}",
        ));
        total.set_prefix("total");
        TerminalProgress {
            multi,
            total,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Ends the display as docker leaves it: a line a blob with its final state
    /// (`c6a83fedfae6: Pull complete`), the total bar cleared.
    pub fn finish(&self) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for b in bars.values() {
            if !b.is_finished() {
                b.finish();
            }
        }
        self.total.finish_and_clear();
        if !bars.is_empty() {
            // indicatif leaves the cursor at the end of the last bar: the lines printed
            // next (docker's `Digest: …`) start on a line of their own.
            eprintln!();
        }
    }

    fn bar(&self, blob: &Descriptor) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(blob.digest.clone())
            .or_insert_with(|| {
                let b = self
                    .multi
                    .insert_before(&self.total, ProgressBar::new(blob.size));
                b.set_style(style(
                    "{prefix:>12}: {msg:<16} {wide_bar} {bytes}/{total_bytes}",
                ));
                b.set_prefix(blob.digest.short().to_owned());
                self.total.inc_length(blob.size);
                b
            })
            .clone()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl PullProgress for TerminalProgress {
    fn resolved(&self, reference: &Reference, _digest: &Digest) {
        let what = reference.tag().unwrap_or("latest");
        let _ = self.multi.println(format!(
            "{what}: Pulling from {}",
            reference.familiar_name()
        ));
    }

    fn blob(&self, blob: &Descriptor, event: BlobEvent) {
        let bar = self.bar(blob);
        match event {
            BlobEvent::Waiting => bar.set_message("Waiting"),
            BlobEvent::Exists => {
                bar.set_message("Already exists");
                bar.set_position(blob.size);
                self.total.inc(blob.size);
                bar.finish();
            }
            BlobEvent::Resuming(from) => {
                bar.set_message("Resuming");
                bar.set_position(from);
                self.total.inc(from);
            }
            BlobEvent::Progress(n) => {
                bar.set_message("Downloading");
                bar.inc(n);
                self.total.inc(n);
            }
            BlobEvent::Verifying => bar.set_message("Verifying"),
            BlobEvent::Done => {
                bar.set_message("Pull complete");
                bar.finish();
            }
            BlobEvent::Retrying(why) => {
                bar.set_message("Retrying");
                let _ = self
                    .multi
                    .println(format!("{}: retrying: {why}", blob.digest.short()));
                // The bytes will be counted again as they arrive.
                self.total
                    .set_position(self.total.position().saturating_sub(bar.position()));
                bar.set_position(0);
            }
        }
    }
}
