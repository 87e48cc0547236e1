//! Quoting text that comes from outside (archive entry names and bytes, registry error
//! bodies, stdin lines, JSON values, a registry's search descriptions) before it reaches a
//! terminal, by Go's `strconv.Quote` rules, as docker quotes with `%q`: printable Unicode
//! (CJK, accents, emoji) is kept; C0 controls, DEL, C1 controls, bidi and other format
//! characters, non-ASCII spaces and invalid UTF-8 are escaped (`\x1b`, `\u202e`, `\xff`),
//! so no byte of it can move the cursor, set a title or a colour, or reorder a line.
//!
//! Whether a character is printable comes from the standard library's own Unicode tables
//! (a character `char::escape_debug` leaves alone), which agree with Go's `unicode.IsPrint`
//! except for combining marks: the common blocks of those are kept here by range, a rarer
//! one is escaped (harmless, only less pretty).

use std::fmt::Write;

/// How much of a long excerpt (the start of a file that is not an archive, an error body)
/// is shown.
pub const EXCERPT_BYTES: usize = 64;

/// `s` in double quotes, every non-printable character escaped, `"` and `\` too (Go's
/// `%q`): `"a\x1b]0;t\a"`.
pub fn quote(s: impl AsRef<[u8]>) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, s.as_ref(), Some('"'));
    out.push('"');
    out
}

/// `c` in single quotes, escaped as Go's `strconv.QuoteRune` does (`%q` of a rune):
/// `'\''`, `'\x1b'`, `'é'`.
pub fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_char(&mut out, c, Some('\''));
    out.push('\'');
    out
}

/// Like [`quote`], but of the first [`EXCERPT_BYTES`] bytes only (never splitting a
/// character), followed by `...` when something was cut.
pub fn excerpt(s: impl AsRef<[u8]>) -> String {
    let (head, cut) = head(s.as_ref(), EXCERPT_BYTES);
    format!("{}{}", quote(head), if cut { "..." } else { "" })
}

/// Like [`escape`], but of the first `max` bytes only (never splitting a character),
/// followed by `...` when something was cut: a registry's message shown as its text.
pub fn escape_excerpt(s: impl AsRef<[u8]>, max: usize) -> String {
    let (head, cut) = head(s.as_ref(), max);
    format!("{}{}", escape(head), if cut { "..." } else { "" })
}

/// The first `max` bytes of `s`, backed up to a character boundary when `s` is UTF-8
/// there, and whether anything was cut.
fn head(s: &[u8], max: usize) -> (&[u8], bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    // At most three continuation bytes to back over.
    while end + 3 > max && end > 0 && (s[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    if std::str::from_utf8(&s[..end]).is_err() {
        end = max;
    }
    (&s[..end], true)
}

/// `s` with every non-printable character escaped as [`quote`] does, but without the
/// quotes and leaving `"` and `\` alone: for text shown as it is, such as a table cell or a
/// message from a library that quotes outside bytes itself.
pub fn escape(s: impl AsRef<[u8]>) -> String {
    let mut out = String::new();
    escape_into(&mut out, s.as_ref(), None);
    out
}

/// A message for stderr, as a last guard: whatever a message quotes from outside should
/// be quoted where it is named ([`quote`]), but should some outside text reach a message
/// unquoted, no control byte of it reaches the terminal. Line breaks and tabs of the
/// message itself are kept.
pub fn escape_message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c => push_char(&mut out, c, None),
        }
    }
    out
}

/// Whether `s` would be shown unchanged by [`escape`].
pub fn is_clean(s: &str) -> bool {
    s.chars().all(printable)
}

fn escape_into(out: &mut String, mut bytes: &[u8], quote: Option<char>) {
    while !bytes.is_empty() {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (ok, bad) = bytes.split_at(e.valid_up_to());
                // `ok` is valid UTF-8: `valid_up_to` says so.
                (std::str::from_utf8(ok).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            push_char(out, c, quote);
        }
        bytes = rest;
        if let Some((&b, more)) = bytes.split_first() {
            // One invalid byte, as Go escapes it; the rest goes round again.
            let _ = write!(out, "\\x{b:02x}");
            bytes = more;
        }
    }
}

/// One character as Go escapes it; inside quotes (`quote`: the quote character) that
/// quote and `\` are escaped too.
fn push_char(out: &mut String, c: char, quote: Option<char>) {
    match c {
        c if quote.is_some() && (Some(c) == quote || c == '\\') => {
            out.push('\\');
            out.push(c);
        }
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if printable(c) => out.push(c),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space.
fn printable(c: char) -> bool {
    if matches!(c, ' ' | '"' | '\\' | '\'') {
        // Printable for both; the standard library escapes them for its own quoting.
        return true;
    }
    if c.is_control() {
        return false;
    }
    let mut e = c.escape_debug();
    if e.next() == Some(c) && e.next().is_none() {
        return true;
    }
    combining(c)
}

/// Combining marks the standard library escapes (it escapes every grapheme extender) but
/// Go prints: the blocks a description in a real language uses. None of these ranges
/// holds a control or format character.
fn combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036f   // combining diacritical marks
        | 0x0483..=0x0489 // Cyrillic
        | 0x0591..=0x05c7 // Hebrew points
        | 0x0610..=0x061a | 0x064b..=0x065f | 0x0670 | 0x06d6..=0x06dc | 0x06df..=0x06ed // Arabic
        | 0x0900..=0x0dff // Indic scripts
        | 0x0e00..=0x0fff // Thai, Lao, Tibetan
        | 0x1000..=0x109f // Myanmar
        | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff | 0x20d0..=0x20ff // combining extensions, symbols
        | 0x3099..=0x309a // kana voicing marks
        | 0xfe00..=0xfe0f // variation selectors (emoji presentation)
        | 0xfe20..=0xfe2f // combining half marks
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_go_does() {
        // Each expected string is what Go 1.22's strconv.Quote returns.
        for (input, go) in [
            (&b"plain"[..], r#""plain""#),
            (b"a\"b\\c", r#""a\"b\\c""#),
            (
                b"\x1b]0;pwned\x07\x1b[31mRED",
                r#""\x1b]0;pwned\a\x1b[31mRED""#,
            ),
            (
                b"\x00\x01\x7f\t\n\r\x0b\x0c\x08",
                r#""\x00\x01\x7f\t\n\r\v\f\b""#,
            ),
            ("中文 é ü 😀".as_bytes(), "\"中文 é ü 😀\""),
            ("\u{85}\u{9b}".as_bytes(), r#""\u0085\u009b""#),
            (
                "a\u{202e}b\u{2066}\u{200f}".as_bytes(),
                r#""a\u202eb\u2066\u200f""#,
            ),
            (
                "\u{a0}\u{2028}\u{feff}\u{200b}".as_bytes(),
                r#""\u00a0\u2028\ufeff\u200b""#,
            ),
            (b"\xff\xfe ok \xc3", r#""\xff\xfe ok \xc3""#),
            ("\u{e0001}".as_bytes(), r#""\U000e0001""#),
            (
                "e\u{301} नमस्ते ❤\u{fe0f}".as_bytes(),
                "\"e\u{301} नमस्ते ❤\u{fe0f}\"",
            ),
        ] {
            assert_eq!(quote(input), go, "{input:?}");
        }
    }

    #[test]
    fn escape_keeps_quotes_and_escapes_controls() {
        assert_eq!(escape("say \"hi\"\x1b[2J"), r#"say "hi"\x1b[2J"#);
        assert!(is_clean("docker 中文"));
        assert!(!is_clean("a\u{202e}"));
        assert_eq!(escape_message("a\x1b[31m\n\tb"), "a\\x1b[31m\n\tb");
    }

    #[test]
    fn an_excerpt_is_cut_at_64_bytes_on_a_character() {
        let long = "x".repeat(63) + "中文";
        assert_eq!(excerpt(&long), format!("\"{}\"...", "x".repeat(63)));
        let bin = [0x7fu8, b'E', b'L', b'F'].repeat(40);
        let e = excerpt(&bin);
        assert!(
            e.starts_with(r#""\x7fELF\x7fELF"#) && e.ends_with("\"..."),
            "{e}"
        );
        assert_eq!(excerpt("short"), "\"short\"");
        assert_eq!(escape_excerpt("ab\x1bcd", 3), "ab\\x1b...");
        assert!(!excerpt(&bin).bytes().any(|b| b < 0x20 || b == 0x7f));
    }
}
