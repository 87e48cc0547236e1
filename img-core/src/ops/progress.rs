//! What a pull reports while it works, and the terminal display of it (the load's is
//! [`LoadDisplay`], the save's bar [`SaveDisplay`], beside it), drawn by docker's
//! `jsonmessage` rules: a `TAG: Pulling from PATH` header, then one line a layer (never the
//! config blob) rewritten in place as its state changes, ending as `<12 hex>: Pull complete`
//! or `Already exists` with no bar or count left behind. Every line ends with a newline, so a
//! transcript reads as lines. Where the terminal cannot move the cursor (`TERM=dumb`, or no
//! `TERM`) the same lines are printed plainly, one per state change, as docker prints
//! without ANSI support. Nothing is drawn when stderr is not a terminal (the caller passes
//! [`NoProgress`]).
//!
//! Redraws are docker's pace: a state change (a layer starts downloading, is verified,
//! completes) is drawn at once; byte counts at most [`FRAMES_PER_SECOND`] times a second,
//! every line whose count moved redrawn in that frame, so a fast pull of a big image
//! writes a few kilobytes, not a redraw per buffer read.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod load;
mod save;

pub use load::{Counted, LoadDisplay, LoadLayer, LoadProgress, stdin_size};
pub use save::SaveDisplay;

use crate::digest::Digest;
use crate::oci::{Descriptor, media_type};
use crate::output::units::human_size_with_precision;
use crate::reference::Reference;

/// How often byte counts are redrawn at most (docker's progress readers: every 100 ms).
pub const FRAMES_PER_SECOND: u32 = 10;

/// At most one frame per `1 / FRAMES_PER_SECOND`: whether a count-only redraw is due.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    last: Option<Instant>,
}

/// Whether stderr's terminal can move the cursor: `TERM` set and not `dumb` (where it
/// cannot, docker's lines are printed plainly).
pub(crate) fn cursor_moves() -> bool {
    let term = std::env::var("TERM").unwrap_or_default();
    !term.is_empty() && term != "dumb"
}

/// stderr's terminal columns (0 when unknown): docker draws bars only past 110.
pub(crate) fn stderr_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr())
        .map(|w| usize::from(w.ws_col))
        .unwrap_or(0)
}

/// docker's jsonmessage progress (`JSONProgress.String`): `[===>   ]  12.3MB/45.6MB`, the
/// bar only on terminals wider than 110 columns, the count alone when there is no total
/// or the count passed it.
pub(crate) fn json_progress(done: u64, total: u64, width: usize) -> String {
    let size = |n: u64| human_size_with_precision(n as f64, 4);
    if total == 0 {
        return format!("{:>8}", size(done));
    }
    let pct = ((done as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let mut text = String::new();
    if width > 110 {
        text.push_str(&format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct)));
    }
    if done > total {
        text.push_str(&format!("{:>8}", size(done)));
    } else {
        text.push_str(&format!("{:>8}/{}", size(done), size(total)));
    }
    text
}

/// Rewrites the line `up` rows above the cursor with `text` (up, clear, write) and puts
/// the cursor back below the last line, as docker's display moves it.
pub(crate) fn redraw(out: &mut dyn Write, up: usize, text: &str) {
    let _ = write!(out, "\x1b[{up}A\r\x1b[2K{text}\n");
    if up > 1 {
        let _ = write!(out, "\x1b[{}B", up - 1);
    }
}

impl Pace {
    /// Whether a frame may be drawn now; if so, it counts as drawn.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        let gap = Duration::from_secs(1) / FRAMES_PER_SECOND;
        match self.last {
            Some(t) if now.duration_since(t) < gap => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

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
    /// The reference resolved to `digest` (also when the image is already up to date).
    fn resolved(&self, _reference: &Reference, _digest: &Digest) {}
    /// Something happened to a blob.
    fn blob(&self, _blob: &Descriptor, _event: BlobEvent) {}
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl PullProgress for NoProgress {}

/// docker's pull display on stderr.
pub struct TerminalProgress {
    state: Arc<Mutex<Display>>,
    /// Whether it took the process's notices (see [`crate::notice`]), to give them back.
    takes_notices: bool,
}

/// One layer's line.
struct Line {
    digest: Digest,
    size: u64,
    done: u64,
    status: &'static str,
    /// What the terminal shows for it now (`None`: not drawn yet).
    shown: Option<String>,
    /// The terminal row it was drawn on, counted in [`Display::rows`].
    row: usize,
}

struct Display {
    out: Box<dyn Write + Send>,
    /// Cursor movement is possible (not `TERM=dumb`).
    ansi: bool,
    /// Terminal columns: docker draws the bar only on terminals wider than 110.
    width: usize,
    lines: Vec<Line>,
    /// Lines drawn so far: the first `drawn` of `lines`.
    drawn: usize,
    /// Rows written so far (headers, layer lines, notices); the cursor is on the next, so
    /// a line drawn on row `r` is `rows - r` up.
    rows: usize,
    /// Whether the image's config was already in the store (with `all_exist`: the image
    /// was there, and docker prints no layer lines at all).
    config_exists: bool,
    /// Whether any blob had to be fetched.
    fetched: bool,
    /// The pace of count-only redraws.
    pace: Pace,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        TerminalProgress::new()
    }
}

impl TerminalProgress {
    /// The display on stderr, with cursor movement unless `TERM` is `dumb` or unset.
    pub fn new() -> TerminalProgress {
        let mut p = TerminalProgress::to_writer(
            Box::new(std::io::stderr()),
            cursor_moves(),
            stderr_width(),
        );
        // Notices (a registry asking to wait) are drawn between the display's lines.
        let display = Arc::downgrade(&p.state);
        crate::notice::set_sink(Some(Box::new(move |line: &str| match display.upgrade() {
            Some(d) => d.lock().unwrap_or_else(|p| p.into_inner()).println(line),
            None => eprintln!("{line}"),
        })));
        p.takes_notices = true;
        p
    }

    /// The display written to `out` (tests render it with a terminal emulator).
    pub fn to_writer(out: Box<dyn Write + Send>, ansi: bool, width: usize) -> TerminalProgress {
        TerminalProgress {
            state: Arc::new(Mutex::new(Display {
                out,
                ansi,
                width,
                lines: Vec::new(),
                drawn: 0,
                rows: 0,
                config_exists: false,
                fetched: false,
                pace: Pace::default(),
            })),
            takes_notices: false,
        }
    }

    /// docker's `Using default tag: latest`, for a name given without tag or digest.
    pub fn default_tag(&self) {
        self.state().println("Using default tag: latest");
    }

    /// Ends the display: every layer line in its final state. When the whole image was
    /// already there (a new tag for it), no layer line is printed, as docker prints none.
    pub fn finish(&self) {
        let mut d = self.state();
        let present = d.config_exists && !d.fetched;
        if !present {
            d.flush_pending();
        }
        let _ = d.out.flush();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Display> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        if self.takes_notices {
            crate::notice::set_sink(None);
        }
    }
}

impl Display {
    fn println(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
        self.rows += 1;
    }

    /// The text of line `i`: `c6a83fedfae6: Downloading [==>   ]  1.2MB/5MB`, the bar and
    /// counts only while downloading.
    fn text(&self, i: usize) -> String {
        let l = &self.lines[i];
        let mut text = format!("{}: {}", l.digest.short(), l.status);
        if l.status == "Downloading" && l.size > 0 {
            text.push(' ');
            text.push_str(&json_progress(l.done.min(l.size), l.size, self.width));
        }
        text
    }

    /// Draws every line not drawn yet, in order (they wait while it is not known whether
    /// the image is already there).
    fn flush_pending(&mut self) {
        while self.drawn < self.lines.len() {
            let text = self.text(self.drawn);
            let _ = writeln!(self.out, "{text}");
            self.lines[self.drawn].shown = Some(text);
            self.lines[self.drawn].row = self.rows;
            self.drawn += 1;
            self.rows += 1;
        }
    }

    /// Shows line `i`'s new state, at once when its status changed, else (only its count
    /// moved) in the next frame [`Pace`] allows, with every other line whose count moved.
    fn changed(&mut self, i: usize, status_changed: bool) {
        if status_changed || i >= self.drawn {
            self.update(i);
        } else if self.pace.due() {
            for j in 0..self.drawn {
                self.update(j);
            }
        }
    }

    /// Shows line `i`'s new state: rewritten in place on an ANSI terminal, else printed
    /// as a new line when its status changed.
    fn update(&mut self, i: usize) {
        if i >= self.drawn {
            self.flush_pending();
            return;
        }
        let text = self.text(i);
        let old = self.lines[i].shown.as_deref().unwrap_or("");
        if text == old {
            return;
        }
        if self.ansi {
            redraw(&mut self.out, self.rows - self.lines[i].row, &text);
        } else {
            let status = |t: &str| t.split(' ').nth(1).map(str::to_owned);
            if status(&text) == status(old) {
                self.lines[i].shown = Some(text);
                return;
            }
            let _ = writeln!(self.out, "{text}");
            self.rows += 1;
        }
        self.lines[i].shown = Some(text);
        let _ = self.out.flush();
    }
}

/// Whether a blob is an image config (which docker never shows a line for).
fn is_config(blob: &Descriptor) -> bool {
    let mt = media_type::base(&blob.media_type);
    mt == media_type::OCI_CONFIG || mt == media_type::DOCKER_CONFIG
}

impl PullProgress for TerminalProgress {
    fn resolved(&self, reference: &Reference, _digest: &Digest) {
        // By digest the header names the whole reference, as the daemon writes it
        // (`docker.io/library/alpine@sha256:…`); the path is the repository's on its
        // registry (`library/alpine`, `cmp/rich`), without the host.
        let what = match (reference.digest(), reference.tag()) {
            (Some(_), _) => reference.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        self.state()
            .println(&format!("{what}: Pulling from {}", reference.path()));
    }

    fn blob(&self, blob: &Descriptor, event: BlobEvent) {
        let mut d = self.state();
        if is_config(blob) {
            match event {
                BlobEvent::Exists => d.config_exists = true,
                BlobEvent::Progress(_) | BlobEvent::Resuming(_) => d.fetched = true,
                _ => {}
            }
            return;
        }
        if !media_type::is_manifest(&blob.media_type) && !media_type::is_index(&blob.media_type) {
            let i = match d.lines.iter().position(|l| l.digest == blob.digest) {
                Some(i) => i,
                None => {
                    d.lines.push(Line {
                        digest: blob.digest.clone(),
                        size: blob.size,
                        done: 0,
                        status: "Pulling fs layer",
                        shown: None,
                        row: 0,
                    });
                    d.lines.len() - 1
                }
            };
            let line = &mut d.lines[i];
            let was = line.status;
            match event {
                BlobEvent::Waiting => {}
                BlobEvent::Exists => {
                    line.status = "Already exists";
                    // Not drawn yet: the image may be there whole, which shows no line.
                    if i >= d.drawn {
                        return;
                    }
                }
                BlobEvent::Resuming(from) => {
                    line.status = "Downloading";
                    line.done = from;
                    d.fetched = true;
                }
                BlobEvent::Progress(n) => {
                    line.status = "Downloading";
                    line.done += n;
                    d.fetched = true;
                }
                BlobEvent::Verifying => line.status = "Verifying Checksum",
                BlobEvent::Done => line.status = "Pull complete",
                BlobEvent::Retrying(_) => {
                    line.status = "Retrying";
                    line.done = 0;
                }
            }
            if d.fetched {
                let status_changed = d.lines[i].status != was;
                d.changed(i, status_changed);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test can read back (the load and push displays' tests use it too).
    #[derive(Clone, Default)]
    pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Shared {
        /// What was written, as text.
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn desc(mt: &str, n: u8, size: u64) -> Descriptor {
        let mut d = Descriptor::of(mt, &[n]);
        d.size = size;
        d
    }

    fn pull(ansi: bool, config_exists: bool, layers_exist: bool) -> String {
        let out = Shared::default();
        let p = TerminalProgress::to_writer(Box::new(out.clone()), ansi, 120);
        let r = Reference::parse_normalized("127.0.0.1:5000/cmp/rich:v1").unwrap();
        p.resolved(&r, &Digest::sha256_of(b"m"));
        let config = desc(media_type::DOCKER_CONFIG, 0, 10);
        let layers = [
            desc(media_type::DOCKER_LAYER_GZIP, 1, 100),
            desc(media_type::DOCKER_LAYER_GZIP, 2, 100),
        ];
        p.blob(&config, BlobEvent::Waiting);
        for l in &layers {
            p.blob(l, BlobEvent::Waiting);
        }
        for l in layers.iter().rev() {
            if layers_exist {
                p.blob(l, BlobEvent::Exists);
            } else {
                p.blob(l, BlobEvent::Progress(60));
                p.blob(l, BlobEvent::Progress(40));
                p.blob(l, BlobEvent::Verifying);
                p.blob(l, BlobEvent::Done);
            }
        }
        p.blob(
            &config,
            if config_exists {
                BlobEvent::Exists
            } else {
                BlobEvent::Done
            },
        );
        p.finish();
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_lines_one_per_state_change_without_ansi() {
        let (a, b) = (
            desc(media_type::DOCKER_LAYER_GZIP, 1, 1)
                .digest
                .short()
                .to_owned(),
            desc(media_type::DOCKER_LAYER_GZIP, 2, 1)
                .digest
                .short()
                .to_owned(),
        );
        assert_eq!(
            pull(false, false, false),
            format!(
                "v1: Pulling from cmp/rich\n{a}: Pulling fs layer\n{b}: Downloading [==============================>                    ]      60B/100B\n\
                 {b}: Verifying Checksum\n{b}: Pull complete\n{a}: Downloading [==============================>                    ]      60B/100B\n\
                 {a}: Verifying Checksum\n{a}: Pull complete\n"
            )
        );
        // On an ANSI terminal lines are rewritten in place, each write ending its line.
        let ansi = pull(true, false, false);
        assert!(ansi.contains("\x1b[2K"), "{ansi:?}");
        assert_eq!(ansi.matches(": Pull complete\n").count(), 2, "{ansi:?}");
    }

    #[test]
    fn a_notice_between_lines_keeps_the_redraws_on_their_rows() {
        let out = Shared::default();
        let p = TerminalProgress::to_writer(Box::new(out.clone()), true, 120);
        let r = Reference::parse_normalized("127.0.0.1:5000/cmp/rich:v1").unwrap();
        p.resolved(&r, &Digest::sha256_of(b"m"));
        let (a, b) = (
            desc(media_type::DOCKER_LAYER_GZIP, 1, 100),
            desc(media_type::DOCKER_LAYER_GZIP, 2, 100),
        );
        p.blob(&a, BlobEvent::Progress(10));
        p.blob(&b, BlobEvent::Progress(10));
        // Rows: the header, a, b; the cursor below b. A notice takes a row of its own.
        p.state()
            .println("img-pull: 127.0.0.1:5000 asks to wait 1 s");
        out.0.lock().unwrap().clear();
        p.blob(&a, BlobEvent::Done);
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            written.starts_with("\x1b[3A\r\x1b[2K") && written.ends_with("\x1b[2B"),
            "{written:?}"
        );
    }

    /// Issue 14: the display redrew a line on every buffer read (748 redraws, 43.5 KB for
    /// a 93 MB image where docker wrote 3.6 KB). Counts are drawn at most ten times a
    /// second; state changes at once.
    #[test]
    fn the_pull_display_redraws_at_most_ten_frames_a_second() {
        let out = Shared::default();
        let p = TerminalProgress::to_writer(Box::new(out.clone()), true, 120);
        let r = Reference::parse_normalized("127.0.0.1:5000/cmp/rich:v1").unwrap();
        p.resolved(&r, &Digest::sha256_of(b"m"));
        let (a, b) = (
            desc(media_type::DOCKER_LAYER_GZIP, 1, 1 << 30),
            desc(media_type::DOCKER_LAYER_GZIP, 2, 1 << 30),
        );
        let started = Instant::now();
        // 2 × 4096 reads of 128 KiB, as fast as they come.
        for _ in 0..4096 {
            p.blob(&a, BlobEvent::Progress(128 << 10));
            p.blob(&b, BlobEvent::Progress(128 << 10));
        }
        for l in [&a, &b] {
            p.blob(l, BlobEvent::Verifying);
            p.blob(l, BlobEvent::Done);
        }
        let took = started.elapsed();
        p.finish();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let redraws = written.matches("\x1b[2K").count();
        // Frames that time allowed (each redrawing both lines), plus the state changes.
        let frames = took.as_millis() as usize / 100 + 1;
        assert!(redraws <= 2 * frames + 4, "{redraws} redraws in {took:?}");
        assert!(written.len() < 2048, "{} bytes: {written:?}", written.len());
        // The final screen still says what happened to each.
        assert_eq!(
            written.matches(": Pull complete\n").count(),
            2,
            "{written:?}"
        );

        // Counts that move slowly are all drawn.
        out.0.lock().unwrap().clear();
        let c = desc(media_type::DOCKER_LAYER_GZIP, 3, 100);
        p.blob(&c, BlobEvent::Progress(10));
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(110));
            p.blob(&c, BlobEvent::Progress(10));
        }
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(written.contains("40B/100B"), "{written:?}");
    }

    #[test]
    fn an_image_already_there_shows_no_layer_line() {
        assert_eq!(pull(true, true, true), "v1: Pulling from cmp/rich\n");
        let some = pull(true, false, true);
        assert_eq!(some.matches("Already exists\n").count(), 2, "{some}");
    }
}
