//! Reading what a tool gets on stdin in bounded memory (issue 9): one line is never held
//! past [`MAX_LINE`] bytes (a longer one is skipped as it streams by and reported as one
//! bad line), the whole input kept is capped at [`MAX_TOTAL`] (an indented JSON array, as
//! img-inspect prints it, has to be held whole to be parsed), and past
//! [`MAX_REPORTED`] bad items the rest are only counted, so a random file on stdin gives
//! a screenful of errors, not one per line.

use std::collections::HashMap;
use std::io::BufRead;

use crate::error::{Error, ErrorKind, Result};

/// The longest line (one JSON Lines record, or one line of an indented array) read:
/// 1 MiB is thousands of times a real record.
pub const MAX_LINE: usize = 1 << 20;

/// The most bytes of input kept: 256 MiB, over a million records.
pub const MAX_TOTAL: usize = 256 << 20;

/// How many bad items are reported one by one; the rest are counted in one last error.
pub const MAX_REPORTED: usize = 20;

/// The longest error message quoted from input; a bad line's text is cut with `…`.
const MAX_MESSAGE: usize = 300;

/// What stands in the text for a line longer than [`MAX_LINE`]: a NUL is no JSON, so a
/// multi-line value running through it fails rather than silently losing an element;
/// the indent keeps the reader from resuming there after that failure (it is inside
/// the value, and the items after it must not be taken for records).
pub(super) const PLACEHOLDER: &str = " \0\n";

/// The input as read: its kept text, and the lines (0-based) that could not be kept — too
/// long, or not UTF-8 text — each with the error it gets.
pub(super) struct Input {
    pub text: String,
    pub bad: HashMap<usize, String>,
}

/// Reads `input` to its end, line by line, within the limits given (the tools use
/// [`MAX_LINE`] and [`MAX_TOTAL`]; tests pass small ones).
pub(super) fn read_bounded(
    input: &mut impl BufRead,
    max_line: usize,
    max_total: usize,
) -> Result<Input> {
    let mut text = String::new();
    let mut bad = HashMap::new();
    let mut line: Vec<u8> = Vec::new();
    // Bytes of the current line seen so far, kept or not.
    let mut seen: u64 = 0;
    let mut index = 0;
    loop {
        let buf = input
            .fill_buf()
            .map_err(|e| Error::io(e, "reading records"))?;
        if buf.is_empty() {
            break;
        }
        let (chunk, ends_line) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        seen += chunk.len() as u64;
        // A line over the limit stops being kept; its bytes stream past.
        if seen <= max_line as u64 + 1 {
            line.extend_from_slice(chunk);
        } else {
            line = Vec::new();
        }
        let n = chunk.len();
        input.consume(n);
        if ends_line {
            finish_line(&mut text, &mut bad, &line, seen, true, index, max_line);
            index += 1;
            line.clear();
            seen = 0;
        }
        if text.len() > max_total {
            return Err(too_much(max_total));
        }
    }
    if seen > 0 {
        finish_line(&mut text, &mut bad, &line, seen, false, index, max_line);
    }
    if text.len() > max_total {
        return Err(too_much(max_total));
    }
    Ok(Input { text, bad })
}

/// Appends one line (with its `\n`, if it had one) to `text`, or the placeholder when it
/// cannot be kept: too long (the limit is on the line without its `\n`), or not UTF-8
/// text, whose bytes are quoted in its error as Go's `%q` shows them (`"\xff"`), never
/// replaced by U+FFFD.
fn finish_line(
    text: &mut String,
    bad: &mut HashMap<usize, String>,
    line: &[u8],
    seen: u64,
    newline: bool,
    index: usize,
    max_line: usize,
) {
    let content = seen - u64::from(newline);
    if content > max_line as u64 || line.len() as u64 != seen {
        bad.insert(index, overlong_message(content, max_line));
        text.push_str(PLACEHOLDER);
        return;
    }
    match std::str::from_utf8(line) {
        Ok(line) => text.push_str(line),
        Err(_) => {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            bad.insert(
                index,
                format!("not UTF-8 text: {}", crate::quote::excerpt(body)),
            );
            text.push_str(PLACEHOLDER);
        }
    }
}

fn too_much(max_total: usize) -> Error {
    Error::new(
        ErrorKind::InvalidRecord,
        format!(
            "more than {} of records on stdin; give them in smaller batches (split, or xargs \
             with arguments)",
            mib(max_total as u64)
        ),
    )
}

/// The error for a line that was too long.
fn overlong_message(bytes: u64, max_line: usize) -> String {
    format!(
        "a line of {} is longer than the {} a record may take (records are one a line); \
         skipped",
        mib(bytes),
        mib(max_line as u64)
    )
}

/// `bytes` in MiB, one decimal when not whole.
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / f64::from(1u32 << 20);
    if bytes.is_multiple_of(1 << 20) {
        format!("{m:.0} MiB")
    } else if m < 0.1 {
        format!("{bytes} bytes")
    } else {
        format!("{m:.1} MiB")
    }
}

/// `message` cut to [`MAX_MESSAGE`] bytes at a character boundary, with `…`.
pub(super) fn cap_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

/// The items of one input, bad ones past [`MAX_REPORTED`] only counted.
#[derive(Default)]
pub(super) struct Items {
    pub items: Vec<Result<super::Target>>,
    reported: usize,
    unreported: usize,
}

impl Items {
    pub fn push(&mut self, item: Result<super::Target>) {
        if item.is_err() {
            if self.reported == MAX_REPORTED {
                self.unreported += 1;
                return;
            }
            self.reported += 1;
        }
        self.items.push(item);
    }

    /// The items, with one last error counting the bad ones not reported.
    pub fn finish(mut self) -> Vec<Result<super::Target>> {
        if self.unreported > 0 {
            let s = if self.unreported == 1 { "" } else { "s" };
            self.items.push(Err(Error::new(
                ErrorKind::InvalidRecord,
                format!("… and {} more bad line{s}", self.unreported),
            )));
        }
        self.items
    }
}
