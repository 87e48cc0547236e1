//! The terminal display of a save: one bar of the bytes written against the archive's
//! size, with the rate, cleared when the archive is complete (docker save draws none; a
//! large archive then says how far it is). Drawn only when stderr is a terminal: the
//! caller decides, as for the pull and load displays.

/// A save's bar: feed it [`SaveDisplay::show`] from the save's progress callback.
#[derive(Debug)]
pub struct SaveDisplay {
    bar: indicatif::ProgressBar,
}

impl SaveDisplay {
    /// An empty bar on stderr.
    pub fn new() -> SaveDisplay {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        ) {
            bar.set_style(style);
        }
        SaveDisplay { bar }
    }

    /// `done` of `total` bytes written.
    pub fn show(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    /// The save is done: the bar goes.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

impl Default for SaveDisplay {
    fn default() -> SaveDisplay {
        SaveDisplay::new()
    }
}
