//! What a load reports while it works, and the terminal display of it, as `docker load`
//! draws it: one `<12 hex of the DiffID>: Loading layer [==>   ]  12.3MB/45.6MB` line a
//! layer the load stores (a layer the store already has gets none: the load planner
//! decides, and hands the display the list), each line staying when done, and no overall
//! bar. While the archive streams in, before its layers are known (a legacy archive names
//! them at its end), one transient line counts the bytes read: `Reading archive  187MB/400MB
//! 52.1MB/s` when the size is known (a file, or stdin redirected from one), `Reading archive
//! 187MB  52.1MB/s` from a pipe; it is erased when the layers' lines begin. Never a 0 total.
//! Without cursor movement (`TERM=dumb`) only the layer lines print, each once, complete.

use std::io::{BufRead, Read, Write};
use std::sync::Mutex;
use std::time::Instant;

use super::Pace;
use crate::digest::Digest;
use crate::output::units::human_size_with_precision;

/// A layer a load stores, as its line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLayer {
    /// The layer's DiffID (the line shows its first 12 hex digits, as docker does).
    pub diff_id: Digest,
    /// The bytes it takes in the archive (the line's total).
    pub size: u64,
}

/// Receives a load's progress.
pub trait LoadProgress: Sync {
    /// `n` more bytes of the archive were read.
    fn read(&self, _n: u64) {}
    /// The layers the load stores, in order; called once, after planning.
    fn layers(&self, _layers: &[LoadLayer]) {}
    /// `done` bytes of layer `i` of [`LoadProgress::layers`] are stored.
    fn layer(&self, _i: usize, _done: u64) {}
}

impl LoadProgress for super::NoProgress {}

/// docker load's display on stderr.
pub struct LoadDisplay {
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    ansi: bool,
    width: usize,
    /// The archive's size, when known.
    total: Option<u64>,
    read: u64,
    started: Instant,
    /// The reading line is on screen (the cursor at its start).
    reading_shown: bool,
    pace: Pace,
    layers: Vec<LoadLayer>,
    /// Per layer: bytes stored, and whether its line is drawn (the last one drawn is the
    /// line just above the cursor).
    done: Vec<u64>,
    drawn: Vec<bool>,
    /// The layer whose line is the last drawn.
    last: Option<usize>,
}

impl LoadDisplay {
    /// The display on stderr, `total` the archive's size when known; cursor movement
    /// unless `TERM` is `dumb` or unset.
    pub fn new(total: Option<u64>) -> LoadDisplay {
        let term = std::env::var("TERM").unwrap_or_default();
        let ansi = !term.is_empty() && term != "dumb";
        let width = rustix::termios::tcgetwinsize(std::io::stderr())
            .map(|w| usize::from(w.ws_col))
            .unwrap_or(0);
        LoadDisplay::to_writer(Box::new(std::io::stderr()), ansi, width, total)
    }

    /// The display written to `out` (tests render it with a terminal emulator).
    pub fn to_writer(
        out: Box<dyn Write + Send>,
        ansi: bool,
        width: usize,
        total: Option<u64>,
    ) -> LoadDisplay {
        LoadDisplay {
            state: Mutex::new(State {
                out,
                ansi,
                width,
                total: total.filter(|&t| t > 0),
                read: 0,
                started: Instant::now(),
                reading_shown: false,
                pace: Pace::default(),
                layers: Vec::new(),
                done: Vec::new(),
                drawn: Vec::new(),
                last: None,
            }),
        }
    }

    /// Ends the display: the reading line erased if the load ended before its layers
    /// (a failure, or an archive of nothing new).
    pub fn finish(&self) {
        let mut s = self.state();
        s.erase_reading();
        let _ = s.out.flush();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LoadProgress for LoadDisplay {
    fn read(&self, n: u64) {
        let mut s = self.state();
        s.read += n;
        // Not before a frame's time has passed: an archive read at once shows no line.
        let gap = std::time::Duration::from_secs(1) / super::FRAMES_PER_SECOND;
        if s.ansi && s.layers.is_empty() && s.started.elapsed() >= gap && s.pace.due() {
            let text = s.reading_text();
            let _ = write!(s.out, "\r\x1b[2K{text}");
            let _ = s.out.flush();
            s.reading_shown = true;
        }
    }

    fn layers(&self, layers: &[LoadLayer]) {
        let mut s = self.state();
        s.erase_reading();
        s.layers = layers.to_vec();
        s.done = vec![0; layers.len()];
        s.drawn = vec![false; layers.len()];
    }

    fn layer(&self, i: usize, done: u64) {
        let mut s = self.state();
        if i >= s.layers.len() {
            return;
        }
        s.done[i] = done;
        let complete = done >= s.layers[i].size;
        if !s.ansi {
            // Plain: each line once, complete, as the final screen shows it.
            if complete && !s.drawn[i] {
                s.drawn[i] = true;
                let text = s.text(i);
                let _ = writeln!(s.out, "{text}");
            }
            let _ = s.out.flush();
            return;
        }
        if s.drawn[i] && !complete && !s.pace.due() {
            return;
        }
        let text = s.text(i);
        if s.drawn[i] && s.last == Some(i) {
            // Its line is the one just above the cursor: rewrite it.
            let _ = write!(s.out, "\x1b[1A\r\x1b[2K{text}\n");
        } else {
            let _ = writeln!(s.out, "{text}");
        }
        s.drawn[i] = true;
        s.last = Some(i);
        let _ = s.out.flush();
    }
}

impl State {
    fn erase_reading(&mut self) {
        if self.reading_shown {
            let _ = write!(self.out, "\r\x1b[2K");
            let _ = self.out.flush();
            self.reading_shown = false;
        }
    }

    /// `Reading archive  187MB/400MB  52.1MB/s`, or without the total from a pipe.
    fn reading_text(&self) -> String {
        let size = |n: u64| human_size_with_precision(n as f64, 4);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            format!("  {}/s", size((self.read as f64 / secs) as u64))
        } else {
            String::new()
        };
        match self.total {
            Some(t) => format!("Reading archive {:>8}/{}{rate}", size(self.read), size(t)),
            None => format!("Reading archive {:>8}{rate}", size(self.read)),
        }
    }

    /// docker's jsonmessage line: `<12 hex>: Loading layer [===>   ]  12.3MB/45.6MB`, the
    /// bar only on terminals wider than 110 columns, the counts alone when the current
    /// count passed the total.
    fn text(&self, i: usize) -> String {
        let l = &self.layers[i];
        let done = self.done[i];
        format!(
            "{}: Loading layer {}",
            l.diff_id.short(),
            super::json_progress(done, l.size, self.width)
        )
    }
}

/// A reader that tells `progress` how many bytes were read through it.
pub struct Counted<'p, R> {
    inner: R,
    progress: &'p dyn LoadProgress,
}

impl<'p, R> Counted<'p, R> {
    /// `inner`, counted into `progress`.
    pub fn new(inner: R, progress: &'p dyn LoadProgress) -> Counted<'p, R> {
        Counted { inner, progress }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.read(n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.progress.read(amt as u64);
    }
}

/// The bytes left to read on stdin when it is a regular file (`img-pack load < file`):
/// its size less where it is positioned; `None` for a pipe, a socket or a terminal.
pub fn stdin_size() -> Option<u64> {
    left_in_file(std::io::stdin())
}

/// The bytes left to read from `fd` when it is a regular file (fstat, less its offset).
fn left_in_file(fd: impl rustix::fd::AsFd) -> Option<u64> {
    let stat = rustix::fs::fstat(&fd).ok()?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    let at = rustix::fs::seek(&fd, rustix::fs::SeekFrom::Current(0)).ok()?;
    u64::try_from(stat.st_size).ok()?.checked_sub(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::Shared;

    fn layer(n: u8, size: u64) -> LoadLayer {
        LoadLayer {
            diff_id: Digest::sha256_of(&[n]),
            size,
        }
    }

    fn shown(out: &Shared) -> String {
        out.text()
    }

    #[test]
    fn one_docker_line_a_layer_that_stays() {
        let out = Shared::default();
        let d = LoadDisplay::to_writer(Box::new(out.clone()), true, 120, Some(1000));
        d.read(100);
        std::thread::sleep(std::time::Duration::from_millis(110));
        d.read(400);
        let (a, b) = (layer(1, 45_600_000), layer(2, 1_234));
        d.layers(&[a.clone(), b.clone()]);
        d.layer(0, 45_600_000);
        d.layer(1, 1_234);
        d.finish();
        let text = shown(&out);
        let bar = format!("[{}>]", "=".repeat(50));
        assert!(
            text.starts_with("\r\x1b[2KReading archive     500B/1kB"),
            "{text:?}"
        );
        assert!(
            text.ends_with(&format!(
                "\r\x1b[2K{}: Loading layer {bar}   45.6MB/45.6MB\n{}: Loading layer {bar}  1.234kB/1.234kB\n",
                a.diff_id.short(),
                b.diff_id.short()
            )),
            "{text:?}"
        );
    }

    /// Issue 14, bug 4: `img-pack load < file` drew `187.00 MiB/0 B`. From a pipe the
    /// reading line has no total; a 0 total is never drawn.
    #[test]
    fn load_from_a_pipe_shows_no_total_and_never_a_zero_one() {
        let out = Shared::default();
        let d = LoadDisplay::to_writer(Box::new(out.clone()), true, 120, Some(0));
        std::thread::sleep(std::time::Duration::from_millis(110));
        d.read(187_000_000);
        d.finish();
        let text = shown(&out);
        assert!(text.contains("Reading archive    187MB  "), "{text:?}");
        assert!(text.ends_with("/s\r\x1b[2K"), "erased at the end: {text:?}");
        assert!(!text.contains("/0B") && !text.contains("/0 B"), "{text:?}");
    }

    #[test]
    fn a_regular_files_size_is_known_a_pipes_is_not() {
        use std::io::Seek;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7; 1000]).unwrap();
        file.seek(std::io::SeekFrom::Start(100)).unwrap();
        assert_eq!(left_in_file(&file), Some(900));
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(left_in_file(&r), None);
    }

    #[test]
    fn without_cursor_movement_each_layer_line_prints_once_complete() {
        let out = Shared::default();
        let d = LoadDisplay::to_writer(Box::new(out.clone()), false, 80, None);
        d.read(10);
        let a = layer(1, 100);
        d.layers(std::slice::from_ref(&a));
        d.layer(0, 50);
        d.layer(0, 100);
        assert_eq!(
            shown(&out),
            format!("{}: Loading layer     100B/100B\n", a.diff_id.short())
        );
    }
}
