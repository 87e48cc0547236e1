//! docker push's display on a terminal that moves the cursor: `The push refers to
//! repository [HOST/PATH]`, one row a layer labelled by its DiffID's short ID and rewritten
//! in place as it goes (`Preparing`, `Waiting`, `Pushing  [==>   ]  1.2MB/4.5MB`, `Pushed`,
//! `Layer already exists`, `Mounted from me/base`), and `TAG: digest: sha256:… size: N`.
//! Rows keep the order they first appeared in (docker's jsonmessage rule), so a second tag
//! of `--all-tags` rewrites the rows already there. State changes are drawn at once, byte
//! counts at most [`FRAMES_PER_SECOND`](crate::ops::progress::FRAMES_PER_SECOND) times a
//! second, as the pull display draws them.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use super::progress::{LayerEvent, PushProgress};
use crate::digest::Digest;
use crate::oci::Descriptor;
use crate::ops::progress::{Pace, cursor_moves, json_progress, redraw, stderr_width};
use crate::reference::Reference;

/// docker push's in-place display on stderr.
pub struct TerminalPushProgress {
    state: Arc<Mutex<Screen>>,
    /// Whether it took the process's notices (see [`crate::notice`]), to give them back.
    takes_notices: bool,
}

/// One layer's row.
struct Row {
    diff_id: Digest,
    /// The blob's size: the total of its `Pushing` count.
    size: u64,
    done: u64,
    status: String,
    /// What the terminal shows for it now.
    shown: String,
    /// The terminal row it was drawn on, counted in [`Screen::written`].
    at: usize,
}

struct Screen {
    out: Box<dyn Write + Send>,
    /// Terminal columns: the bar is drawn only on terminals wider than 110.
    width: usize,
    rows: Vec<Row>,
    /// Lines written so far (header, rows, digest lines, notices); the cursor is on the
    /// next, so a row drawn at `at` is `written - at` lines up.
    written: usize,
    pace: Pace,
}

impl TerminalPushProgress {
    /// The display on stderr, which takes the process's notices (a retried upload) so
    /// they are printed between its lines.
    pub fn new() -> TerminalPushProgress {
        let mut p = TerminalPushProgress::to_writer(Box::new(std::io::stderr()), stderr_width());
        let screen = Arc::downgrade(&p.state);
        crate::notice::set_sink(Some(Box::new(move |line: &str| match screen.upgrade() {
            Some(s) => s.lock().unwrap_or_else(|p| p.into_inner()).println(line),
            None => eprintln!("{line}"),
        })));
        p.takes_notices = true;
        p
    }

    /// The display written to `out`, `width` columns wide (tests render it with a
    /// terminal emulator).
    pub fn to_writer(out: Box<dyn Write + Send>, width: usize) -> TerminalPushProgress {
        TerminalPushProgress {
            state: Arc::new(Mutex::new(Screen {
                out,
                width,
                rows: Vec::new(),
                written: 0,
                pace: Pace::default(),
            })),
            takes_notices: false,
        }
    }

    fn screen(&self) -> MutexGuard<'_, Screen> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for TerminalPushProgress {
    fn default() -> Self {
        TerminalPushProgress::new()
    }
}

impl Drop for TerminalPushProgress {
    fn drop(&mut self) {
        if self.takes_notices {
            crate::notice::set_sink(None);
        }
        let _ = self.screen().out.flush();
    }
}

/// The display for a person at a terminal: rows rewritten in place where the terminal
/// moves the cursor, docker's plain lines where it cannot (`TERM=dumb` or unset).
pub fn terminal_display() -> Box<dyn PushProgress> {
    if cursor_moves() {
        Box::new(TerminalPushProgress::new())
    } else {
        Box::new(super::progress::PlainPushProgress::new())
    }
}

impl Screen {
    fn println(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
        self.written += 1;
    }

    /// `b9c51f85e77f: Pushing [=>   ]  33.28kB/2.1MB`, the counts only while pushing.
    fn text(&self, row: &Row) -> String {
        let mut text = format!("{}: {}", row.diff_id.short(), row.status);
        if row.status == "Pushing" {
            text.push(' ');
            text.push_str(&json_progress(row.done, row.size, self.width));
        }
        text
    }

    /// Draws row `i` if what it shows changed: in place, up from the cursor.
    fn draw(&mut self, i: usize) {
        let text = self.text(&self.rows[i]);
        if text == self.rows[i].shown {
            return;
        }
        redraw(&mut self.out, self.written - self.rows[i].at, &text);
        let _ = self.out.flush();
        self.rows[i].shown = text;
    }

    fn event(&mut self, blob: &Descriptor, diff_id: &Digest, event: LayerEvent) {
        let i = match self.rows.iter().position(|r| &r.diff_id == diff_id) {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    diff_id: diff_id.clone(),
                    size: blob.size,
                    done: 0,
                    status: String::new(),
                    shown: String::new(),
                    at: self.written,
                });
                // A new row: a line of its own below the others, drawn below.
                let _ = writeln!(self.out);
                self.written += 1;
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[i];
        let was = std::mem::take(&mut row.status);
        row.status = match event {
            LayerEvent::Preparing => {
                // A new tag's push of this layer starts over.
                row.done = 0;
                "Preparing".to_owned()
            }
            LayerEvent::Waiting => "Waiting".to_owned(),
            LayerEvent::Exists => "Layer already exists".to_owned(),
            LayerEvent::Progress(n) => {
                row.done += n;
                "Pushing".to_owned()
            }
            LayerEvent::Retrying => {
                row.done = 0;
                "Retrying".to_owned()
            }
            LayerEvent::Pushed => "Pushed".to_owned(),
            LayerEvent::Mounted(from) => format!("Mounted from {from}"),
        };
        // A count that moved waits for the next frame, with every other row's.
        if row.status != was || row.shown.is_empty() {
            self.draw(i);
        } else if self.pace.due() {
            for j in 0..self.rows.len() {
                self.draw(j);
            }
        }
    }
}

impl PushProgress for TerminalPushProgress {
    fn repository(&self, reference: &Reference) {
        self.screen().println(&format!(
            "The push refers to repository [{}]",
            reference.name()
        ));
    }

    fn layer(&self, blob: &Descriptor, diff_id: Option<&Digest>, event: LayerEvent) {
        // docker shows no row for the config.
        if let Some(id) = diff_id {
            self.screen().event(blob, id, event);
        }
    }

    fn pushed(&self, tag: &str, digest: &Digest, size: u64) {
        let mut s = self.screen();
        // Every row in its last state before the line below them.
        for j in 0..s.rows.len() {
            s.draw(j);
        }
        s.println(&format!("{tag}: digest: {digest} size: {size}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media_type;
    use crate::ops::progress::tests::Shared;
    use crate::output::screen::screen;
    use std::time::{Duration, Instant};

    fn layer(n: u8, size: u64) -> (Descriptor, Digest) {
        let mut d = Descriptor::of(media_type::OCI_LAYER_GZIP, &[n]);
        d.size = size;
        (d, Digest::sha256_of(&[n, n]))
    }

    #[test]
    fn rows_are_rewritten_in_place_and_end_in_their_last_state() {
        let out = Shared::default();
        let p = TerminalPushProgress::to_writer(Box::new(out.clone()), 120);
        let r = Reference::parse_normalized("127.0.0.1:5000/me/app:1").unwrap();
        p.repository(&r);
        let (a, da) = layer(1, 100);
        let (b, db) = layer(2, 100);
        let (c, dc) = layer(3, 100);
        for (l, d) in [(&a, &da), (&b, &db), (&c, &dc)] {
            p.layer(l, Some(d), LayerEvent::Preparing);
        }
        p.layer(&c, Some(&dc), LayerEvent::Waiting);
        p.layer(&a, Some(&da), LayerEvent::Progress(40));
        let mid = screen(&out.text());
        assert_eq!(
            mid[1],
            format!(
                "{}: Pushing [====================>                              ]      40B/100B",
                da.short()
            )
        );
        assert_eq!(mid[3], format!("{}: Waiting", dc.short()));
        p.layer(&a, Some(&da), LayerEvent::Pushed);
        p.layer(&b, Some(&db), LayerEvent::Exists);
        p.layer(&c, Some(&dc), LayerEvent::Mounted("me/base".to_owned()));
        // The config has no row.
        let config = Descriptor::of(media_type::OCI_CONFIG, b"{}");
        p.layer(&config, None, LayerEvent::Pushed);
        let digest = Digest::sha256_of(b"m");
        p.pushed("1", &digest, 1234);
        assert_eq!(
            screen(&out.text()),
            [
                "The push refers to repository [127.0.0.1:5000/me/app]".to_owned(),
                format!("{}: Pushed", da.short()),
                format!("{}: Layer already exists", db.short()),
                format!("{}: Mounted from me/base", dc.short()),
                format!("1: digest: {digest} size: 1234"),
            ]
        );
        // A second tag rewrites the same rows, above the first digest line.
        p.layer(&a, Some(&da), LayerEvent::Preparing);
        p.layer(&a, Some(&da), LayerEvent::Exists);
        p.pushed("2", &digest, 1234);
        let shown = screen(&out.text());
        assert_eq!(shown.len(), 6, "{shown:?}");
        assert_eq!(shown[1], format!("{}: Layer already exists", da.short()));
        assert_eq!(shown[5], format!("2: digest: {digest} size: 1234"));
    }

    /// The pull display's rule (issue 14): counts at most ten frames a second, state
    /// changes at once.
    #[test]
    fn counts_are_redrawn_at_most_ten_frames_a_second() {
        let out = Shared::default();
        let p = TerminalPushProgress::to_writer(Box::new(out.clone()), 120);
        let (a, da) = layer(1, 1 << 30);
        p.layer(&a, Some(&da), LayerEvent::Preparing);
        let started = Instant::now();
        for _ in 0..8192 {
            p.layer(&a, Some(&da), LayerEvent::Progress(128 << 10));
        }
        let took = started.elapsed();
        p.layer(&a, Some(&da), LayerEvent::Pushed);
        let written = out.text();
        let redraws = written.matches("\x1b[2K").count();
        let frames = took.as_millis() as usize / 100 + 1;
        assert!(redraws <= frames + 3, "{redraws} redraws in {took:?}");
        assert_eq!(screen(&written), [format!("{}: Pushed", da.short())]);
        // Slow counts are all drawn.
        let (b, db) = layer(2, 100);
        p.layer(&b, Some(&db), LayerEvent::Progress(10));
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(110));
            p.layer(&b, Some(&db), LayerEvent::Progress(10));
        }
        assert!(out.text().contains("30B/100B"), "{}", out.text());
    }
}
