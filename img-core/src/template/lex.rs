//! The template lexer: splits a template into text and the tokens of its actions,
//! applying `{{-`/`-}}` trim markers and dropping `{{/* comments */}}` as it goes.

use std::fmt;

/// A keyword of the action language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    If,
    Else,
    End,
    Range,
    With,
    Break,
    Continue,
    Define,
    Template,
    Block,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text outside actions, trim markers already applied.
    Text(String),
    /// `{{`
    Left,
    /// `}}`
    Right,
    /// A run of spaces inside an action; it separates arguments.
    Space,
    /// `.Name` (the name without the dot).
    Field(String),
    /// `$` or `$name` (with the `$`).
    Var(String),
    /// `.` alone.
    Dot,
    /// A function name.
    Ident(String),
    Keyword(Kw),
    /// A string literal, already unquoted.
    Str(String),
    /// A number literal as written.
    Number(String),
    /// A character constant (`'a'`), as its code point.
    Rune(u32),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// Any other printable ASCII character (`,` in range declarations, stray `}`).
    Char(char),
    Eof,
    /// A lexing failure; always the last token. The parser reports it when it gets
    /// there, so an earlier mistake (as Go's lazy lexer would find it) wins.
    Error(String),
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// A lexing failure: where, and what (Go's wording).
#[derive(Debug)]
struct LexError {
    pub pos: usize,
    pub msg: String,
}

impl fmt::Display for Tok {
    /// How the parser names a token in "unexpected X in Y" (Go's `item.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kw = |k: &Kw| match k {
            Kw::If => "if",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::Range => "range",
            Kw::With => "with",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Template => "template",
            Kw::Block => "block",
        };
        let q = |s: &str| super::gofmt::quote(s);
        match self {
            Tok::Text(s) => f.write_str(&q(s)),
            Tok::Left => f.write_str("\"{{\""),
            Tok::Right => f.write_str("\"}}\""),
            Tok::Space => f.write_str("\" \""),
            Tok::Field(n) => f.write_str(&q(&format!(".{n}"))),
            Tok::Var(n) | Tok::Ident(n) | Tok::Number(n) => f.write_str(&q(n)),
            Tok::Dot => f.write_str("<.>"),
            Tok::Keyword(k) => write!(f, "<{}>", kw(k)),
            Tok::Str(s) => f.write_str(&q(&q(s))),
            Tok::Rune(r) => write!(f, "{r}"),
            Tok::Bool(b) => f.write_str(&q(&b.to_string())),
            Tok::Nil => f.write_str("<nil>"),
            Tok::LParen => f.write_str("\"(\""),
            Tok::RParen => f.write_str("\")\""),
            Tok::Pipe => f.write_str("\"|\""),
            Tok::Declare => f.write_str("\":=\""),
            Tok::Assign => f.write_str("\"=\""),
            Tok::Char(c) => f.write_str(&q(&c.to_string())),
            Tok::Eof => f.write_str("EOF"),
            Tok::Error(msg) => f.write_str(msg),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `{{- ` (a dash then a space) trims the text before the action.
fn left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// Splits `src` into tokens, ending with [`Tok::Eof`] or, at the first mistake, [`Tok::Error`].
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        pos: 0,
        toks: Vec::new(),
    };
    if let Err(e) = lx.run() {
        lx.emit(Tok::Error(e.msg), e.pos);
    }
    lx.toks
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<Token>,
}

impl Lexer<'_> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            msg: msg.into(),
        })
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.toks.push(Token { tok, pos });
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// At a closing delimiter: `Some(trim)` when `}}` or ` -}}` starts here.
    fn at_right_delim(&self) -> Option<bool> {
        let r = self.rest();
        let b = r.as_bytes();
        if b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-' && r[2..].starts_with("}}") {
            return Some(true);
        }
        r.starts_with("}}").then_some(false)
    }

    /// What may end a field, variable or identifier (Go's `atTerminator`).
    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let Some(off) = self.rest().find("{{") else {
                if self.pos < self.src.len() {
                    let text = self.rest().to_string();
                    self.emit(Tok::Text(text), self.pos);
                }
                self.emit(Tok::Eof, self.src.len());
                return Ok(());
            };
            let start = self.pos + off;
            let after = start + 2;
            let trim = left_trim_marker(&self.src[after..]);
            let mut text = &self.src[self.pos..start];
            if trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), self.pos);
            }
            self.pos = after + if trim { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(start)?;
            } else {
                self.emit(Tok::Left, start);
                self.action(start)?;
            }
        }
    }

    /// Skips past the right delimiter at `self.pos`, trimming what follows when asked.
    fn right_delim(&mut self, trim: bool) {
        self.pos += if trim { 4 } else { 2 };
        if trim {
            let skip = self.rest().len() - self.rest().trim_start_matches(is_space).len();
            self.pos += skip;
        }
    }

    fn comment(&mut self, start: usize) -> Result<(), LexError> {
        let Some(end) = self.rest().find("*/") else {
            return self.err(start, "unclosed comment");
        };
        self.pos += end + 2;
        match self.at_right_delim() {
            Some(trim) => {
                self.right_delim(trim);
                Ok(())
            }
            None => self.err(self.pos, "comment ends before closing delimiter"),
        }
    }

    fn action(&mut self, start: usize) -> Result<(), LexError> {
        let mut depth = 0i32;
        loop {
            if let Some(trim) = self.at_right_delim() {
                if depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                let here = self.pos + if trim { 2 } else { 0 };
                self.emit(Tok::Right, here);
                self.right_delim(trim);
                return Ok(());
            }
            let here = self.pos;
            let Some(c) = self.peek() else {
                return self.err(start, "unclosed action");
            };
            match c {
                c if is_space(c) => self.space(),
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, here);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.err(here, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, here);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, here);
                }
                '"' => self.quote()?,
                '`' => self.raw_quote()?,
                '\'' => self.char_const()?,
                '$' => {
                    self.pos += 1;
                    let name = self.alnum_run();
                    self.terminated()?;
                    self.emit(Tok::Var(format!("${name}")), here);
                }
                '.' if !self.rest()[1..].starts_with(|d: char| d.is_ascii_digit()) => {
                    self.pos += 1;
                    let name = self.alnum_run();
                    self.terminated()?;
                    let tok = if name.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(name)
                    };
                    self.emit(tok, here);
                }
                '.' | '+' | '-' | '0'..='9' => self.number()?,
                c if is_alnum(c) => {
                    let word = self.alnum_run();
                    self.terminated()?;
                    let tok = match word.as_str() {
                        "if" => Tok::Keyword(Kw::If),
                        "else" => Tok::Keyword(Kw::Else),
                        "end" => Tok::Keyword(Kw::End),
                        "range" => Tok::Keyword(Kw::Range),
                        "with" => Tok::Keyword(Kw::With),
                        "break" => Tok::Keyword(Kw::Break),
                        "continue" => Tok::Keyword(Kw::Continue),
                        "define" => Tok::Keyword(Kw::Define),
                        "template" => Tok::Keyword(Kw::Template),
                        "block" => Tok::Keyword(Kw::Block),
                        "nil" => Tok::Nil,
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        _ => Tok::Ident(word),
                    };
                    self.emit(tok, here);
                }
                '(' => {
                    self.pos += 1;
                    depth += 1;
                    self.emit(Tok::LParen, here);
                }
                ')' => {
                    self.pos += 1;
                    depth -= 1;
                    if depth < 0 {
                        return self.err(here, "unexpected right paren");
                    }
                    self.emit(Tok::RParen, here);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.pos += 1;
                    self.emit(Tok::Char(c), here);
                }
                c => {
                    return self.err(
                        here,
                        format!("unrecognized character in action: U+{:04X}", c as u32),
                    );
                }
            }
        }
    }

    /// A run of spaces; a ` -}}` closing marker keeps its space.
    fn space(&mut self) {
        let here = self.pos;
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.pos += n;
        if self.rest().starts_with("-}}") {
            // The last space belongs to the trim marker.
            self.pos -= 1;
            if n == 1 {
                return;
            }
        }
        self.emit(Tok::Space, here);
    }

    fn alnum_run(&mut self) -> String {
        let n = self.rest().len() - self.rest().trim_start_matches(is_alnum).len();
        let s = self.rest()[..n].to_string();
        self.pos += n;
        s
    }

    fn terminated(&self) -> Result<(), LexError> {
        if self.at_terminator() {
            return Ok(());
        }
        let c = self.peek().unwrap_or(' ');
        self.err(self.pos, format!("bad character U+{:04X} '{c}'", c as u32))
    }

    fn number(&mut self) -> Result<(), LexError> {
        let here = self.pos;
        let b = self.rest().as_bytes();
        let mut i = 0;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exp: &[u8] = b"eE";
        if b.len() > i + 1 && b[i] == b'0' {
            match b[i + 1] {
                b'x' | b'X' => {
                    i += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exp = b"pP";
                }
                b'o' | b'O' => {
                    i += 2;
                    digits = b"01234567_";
                }
                b'b' | b'B' => {
                    i += 2;
                    digits = b"01_";
                }
                _ => {}
            }
        }
        let run = |i: &mut usize, set: &[u8]| {
            while *i < b.len() && set.contains(&b[*i]) {
                *i += 1;
            }
        };
        run(&mut i, digits);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            run(&mut i, digits);
        }
        if i < b.len() && exp.contains(&b[i]) {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            run(&mut i, b"0123456789_");
        }
        let text = self.rest()[..i].to_string();
        self.pos += i;
        if self.peek().is_some_and(|c| is_alnum(c) || c == '.') {
            let bad_end = self.pos + self.peek().map_or(0, char::len_utf8);
            return self.err(
                here,
                format!(
                    "bad number syntax: {}",
                    super::gofmt::quote(&self.src[here..bad_end])
                ),
            );
        }
        self.emit(Tok::Number(text), here);
        Ok(())
    }

    fn quote(&mut self) -> Result<(), LexError> {
        let here = self.pos;
        let mut out = String::new();
        let mut chars = self.rest()[1..].char_indices();
        loop {
            match chars.next() {
                None | Some((_, '\n')) => return self.err(here, "unterminated quoted string"),
                Some((i, '"')) => {
                    self.pos += 1 + i + 1;
                    self.emit(Tok::Str(out), here);
                    return Ok(());
                }
                Some((_, '\\')) => match unescape(&mut chars, '"') {
                    Some(c) => out.push(c),
                    None => return self.err(here, "invalid syntax in quoted string"),
                },
                Some((_, c)) => out.push(c),
            }
        }
    }

    fn raw_quote(&mut self) -> Result<(), LexError> {
        let here = self.pos;
        match self.rest()[1..].find('`') {
            Some(end) => {
                // Go drops carriage returns from raw strings.
                let s = self.rest()[1..1 + end].replace('\r', "");
                self.pos += end + 2;
                self.emit(Tok::Str(s), here);
                Ok(())
            }
            None => self.err(here, "unterminated raw quoted string"),
        }
    }

    fn char_const(&mut self) -> Result<(), LexError> {
        let here = self.pos;
        let mut chars = self.rest()[1..].char_indices();
        let c = match chars.next() {
            None | Some((_, '\n')) | Some((_, '\'')) => None,
            Some((_, '\\')) => unescape(&mut chars, '\''),
            Some((_, c)) => Some(c),
        };
        match (c, chars.next()) {
            (Some(c), Some((i, '\''))) => {
                self.pos += 1 + i + 1;
                self.emit(Tok::Rune(c as u32), here);
                Ok(())
            }
            _ => self.err(here, "unterminated character constant"),
        }
    }
}

/// Decodes one Go escape after a backslash; `quote` is the escapable quote character.
fn unescape(chars: &mut std::str::CharIndices<'_>, quote: char) -> Option<char> {
    let (_, c) = chars.next()?;
    let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.1.to_digit(16)?;
        }
        Some(v)
    };
    Some(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        c if c == quote => c,
        'x' => char::from_u32(hex(chars, 2)?)?,
        'u' => char::from_u32(hex(chars, 4)?)?,
        'U' => char::from_u32(hex(chars, 8)?)?,
        '0'..='7' => {
            let mut v = c.to_digit(8)?;
            for _ in 0..2 {
                v = v * 8 + chars.next()?.1.to_digit(8)?;
            }
            char::from_u32(v).filter(|_| v < 256)?
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn trim_markers_eat_surrounding_space() {
        assert_eq!(
            toks("a  {{- .X -}}\n b"),
            vec![
                Tok::Text("a".into()),
                Tok::Left,
                Tok::Field("X".into()),
                Tok::Right,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn negative_number_is_not_a_trim_marker() {
        assert_eq!(
            toks("{{-3}}"),
            vec![Tok::Left, Tok::Number("-3".into()), Tok::Right, Tok::Eof]
        );
    }

    #[test]
    fn comments_vanish() {
        assert_eq!(
            toks("a {{- /* hi */ -}} b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into()), Tok::Eof]
        );
    }

    #[test]
    fn strings_unquote_go_escapes() {
        assert_eq!(
            toks(r#"{{"a\tb\x41\u00e9" `r\n`}}"#),
            vec![
                Tok::Left,
                Tok::Str("a\tbAé".into()),
                Tok::Space,
                Tok::Str("r\\n".into()),
                Tok::Right,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_use_go_wording() {
        let e = |s| match lex(s).pop().map(|t| t.tok) {
            Some(Tok::Error(msg)) => msg,
            other => panic!("{s}: no error but {other:?}"),
        };
        assert_eq!(e("{{.Name}"), "bad character U+007D '}'");
        assert_eq!(e("{{.Name"), "unclosed action");
        assert_eq!(e("{{\"abc}}"), "unterminated quoted string");
        assert_eq!(e("{{(.A}}"), "unclosed left paren");
        assert_eq!(e("{{.A)}}"), "unexpected right paren");
        assert_eq!(e("{{/* x */ .A}}"), "comment ends before closing delimiter");
        assert_eq!(e("{{3x}}"), "bad number syntax: \"3x\"");
    }
}
