//! What a terminal shows after a transcript of a terminal display (from
//! `testing::on_terminal`, or a display's own writer in img-core's unit tests): rendered
//! by a terminal emulator (`vt100`), so the displays of img and docker compare by what a
//! person sees, not by their escape sequences. Built for tests only (`testing` re-exports
//! it).

/// The final screen of `transcript` (its `\r\n` turned into `\n`, as `on_terminal`
/// returns it) on a terminal of 200 columns and 60 rows: its lines, right-trimmed,
/// without the empty ones at the bottom.
pub fn screen(transcript: &str) -> Vec<String> {
    let mut parser = vt100::Parser::new(60, 200, 0);
    // `on_terminal` turned the terminal's \r\n into \n; a terminal needs the \r back.
    parser.process(transcript.replace('\n', "\r\n").as_bytes());
    let mut lines: Vec<String> = parser
        .screen()
        .contents()
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}
