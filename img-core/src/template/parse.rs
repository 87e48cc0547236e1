//! The template parser: turns tokens into the tree of text, actions and control
//! structures that the executor walks, checking names (functions, variables) as Go does.

use super::funcs;
use super::lex::{Kw, Tok, Token};
use serde_json::{Number, Value};
use std::fmt;

/// A parse failure: where, and what (Go's wording).
#[derive(Debug)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseError>;

/// A node of the template tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the value unless the pipeline declares variables.
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
}

/// `{{if|with|range pipeline}} list {{else}} else_list {{end}}`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// `$x := cmd | cmd | …`
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: an operand, or a function and its arguments.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B` relative to dot.
    Field {
        pos: usize,
        names: Vec<String>,
    },
    /// `$x.A.B`
    Var {
        pos: usize,
        name: String,
        names: Vec<String>,
    },
    /// `(pipeline).A.B`
    Chain {
        pos: usize,
        base: Box<Arg>,
        names: Vec<String>,
    },
    Dot,
    Nil,
    Lit(Value),
    /// A function name.
    Func {
        pos: usize,
        name: String,
    },
    /// `(pipeline)`
    Pipe {
        pos: usize,
        pipe: Box<Pipe>,
    },
}

impl fmt::Display for Arg {
    /// The operand as written, for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>, names: &[String]| {
            names.iter().try_for_each(|n| write!(f, ".{n}"))
        };
        match self {
            Arg::Field { names, .. } => fields(f, names),
            Arg::Var { name, names, .. } => {
                f.write_str(name)?;
                fields(f, names)
            }
            Arg::Chain { base, names, .. } => {
                write!(f, "{base}")?;
                fields(f, names)
            }
            Arg::Dot => f.write_str("."),
            Arg::Nil => f.write_str("nil"),
            Arg::Lit(Value::String(s)) => f.write_str(&super::gofmt::quote(s)),
            Arg::Lit(v) => f.write_str(&super::gofmt::display(v)),
            Arg::Func { name, .. } => f.write_str(name),
            Arg::Pipe { pipe, .. } => write!(f, "({pipe})"),
        }
    }
}

impl fmt::Display for Pipe {
    /// The pipeline as Go's `PipeNode.String` writes it: `$x := a b | c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Cmd {
    /// The command as Go's `CommandNode.String` writes it: its operands, space-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

/// Parses a token stream (ending in `Eof`) into the template's top-level list.
pub(crate) fn parse(toks: Vec<Token>) -> PResult<Vec<Node>> {
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
    };
    let mut nodes = Vec::new();
    loop {
        if p.peek().tok == Tok::Eof {
            return Ok(nodes);
        }
        match p.text_or_action()? {
            Item::Node(n) => nodes.push(n),
            Item::End(pos) => return Err(err(pos, "unexpected {{end}}")),
            Item::Else(pos, _) => return Err(err(pos, "unexpected {{else}}")),
        }
    }
}

fn err(pos: usize, msg: impl Into<String>) -> ParseError {
    ParseError {
        pos,
        msg: msg.into(),
    }
}

fn unexpected(t: &Token, context: &str) -> ParseError {
    if let Tok::Error(msg) = &t.tok {
        return err(t.pos, msg.clone());
    }
    err(t.pos, format!("unexpected {} in {context}", t.tok))
}

/// What one step of a list yields: a node, or the `{{end}}`/`{{else}}` closing it.
enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`, or `{{else if …`/`{{else with …` (the keyword left pending).
    Else(usize, Option<Kw>),
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        // Advancing past the end keeps `i -= 1` (giving a token back) exact;
        // `peek` keeps returning the last token.
        self.i += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> Token {
        self.skip_space();
        self.peek().clone()
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::Left => self.action(),
            _ => Err(unexpected(&t, "input")),
        }
    }

    /// Parses nodes up to the `{{end}}` or `{{else}}` that closes them.
    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut nodes = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Err(err(self.peek().pos, "unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(n) => nodes.push(n),
                end => return Ok((nodes, end)),
            }
        }
    }

    fn expect_right(&mut self, context: &str) -> PResult<()> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Right => Ok(()),
            _ => Err(unexpected(&t, context)),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Keyword(Kw::End) => {
                self.expect_right("end")?;
                Ok(Item::End(t.pos))
            }
            Tok::Keyword(Kw::Else) => {
                let peek = self.peek_non_space();
                match peek.tok {
                    Tok::Keyword(k @ (Kw::If | Kw::With)) => Ok(Item::Else(t.pos, Some(k))),
                    _ => {
                        self.expect_right("else")?;
                        Ok(Item::Else(t.pos, None))
                    }
                }
            }
            Tok::Keyword(Kw::If) => self.control(Kw::If).map(|b| Item::Node(Node::If(b))),
            Tok::Keyword(Kw::With) => self.control(Kw::With).map(|b| Item::Node(Node::With(b))),
            Tok::Keyword(Kw::Range) => self.control(Kw::Range).map(|b| Item::Node(Node::Range(b))),
            Tok::Keyword(k @ (Kw::Break | Kw::Continue)) => {
                let name = if k == Kw::Break { "break" } else { "continue" };
                self.expect_right(&format!("{{{{{name}}}}}"))?;
                if self.range_depth == 0 {
                    return Err(err(t.pos, format!("{{{{{name}}}}} outside {{{{range}}}}")));
                }
                Ok(Item::Node(if k == Kw::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Keyword(k @ (Kw::Define | Kw::Template | Kw::Block)) => {
                let name = match k {
                    Kw::Define => "define",
                    Kw::Template => "template",
                    _ => "block",
                };
                Err(err(
                    t.pos,
                    format!("{{{{{name}}}}} is not supported; write the template inline"),
                ))
            }
            _ => {
                // Not a keyword: give the token back and read a pipeline.
                self.i -= 1;
                let pipe = self.pipeline("command", &Tok::Right)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    /// `if`, `with` or `range`: pipeline, list, optional else list, end.
    fn control(&mut self, kw: Kw) -> PResult<Branch> {
        let context = match kw {
            Kw::If => "if",
            Kw::With => "with",
            _ => "range",
        };
        let mark = self.vars.len();
        let pipe = self.pipeline(context, &Tok::Right)?;
        if kw == Kw::Range {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if kw == Kw::Range {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let else_list = match next {
            Item::End(_) => None,
            // `{{else if …}}` is `{{else}}{{if …}}…{{end}}{{end}}` with one shared end.
            Item::Else(_, Some(k)) if k == kw => {
                self.next_non_space();
                let node = match kw {
                    Kw::If => Node::If(self.control(Kw::If)?),
                    _ => Node::With(self.control(Kw::With)?),
                };
                Some(vec![node])
            }
            Item::Else(pos, Some(_)) => {
                return Err(err(pos, format!("unexpected {{{{else …}}}} in {context}")));
            }
            Item::Else(_, None) => {
                let (list, next) = self.item_list()?;
                match next {
                    Item::End(_) => Some(list),
                    Item::Else(pos, _) => {
                        return Err(err(pos, "expected end; found {{else}}"));
                    }
                    Item::Node(_) => None,
                }
            }
            Item::Node(_) => None,
        };
        self.vars.truncate(mark);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, and `$i, $e :=` in range.
        loop {
            let start = self.i;
            let v = self.peek_non_space();
            let Tok::Var(name) = v.tok else { break };
            self.next_non_space();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    // Go's parser accepts `$x =` for a variable not declared yet (it
                    // fails when run, as `undefined variable: $x`).
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Var(_) | Tok::Right | Tok::RParen => continue,
                            _ => {
                                return Err(err(next.pos, "range can only initialize variables"));
                            }
                        }
                    }
                    return Err(err(next.pos, format!("too many declarations in {context}")));
                }
                _ => self.i = start,
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            if &t.tok == end {
                if pipe.cmds.is_empty() {
                    return Err(err(pos, format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(c.args[0], Arg::Lit(_) | Arg::Dot | Arg::Nil) {
                        return Err(err(
                            pos,
                            format!("non executable command in pipeline stage {}", i + 1),
                        ));
                    }
                }
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::Rune(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Var(_)
                | Tok::LParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(unexpected(&t, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::Right | Tok::RParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return Err(unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(err(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let Tok::Field(_) = self.peek().tok else {
            return Ok(Some(node));
        };
        let pos = self.peek().pos;
        let mut more = Vec::new();
        while let Tok::Field(name) = &self.peek().tok {
            more.push(name.clone());
            self.next();
        }
        // A chain takes the position of its second part, as Go's parser gives it: Go's
        // errors name `.Config.Nope` at the column of `.Nope`.
        Ok(Some(match node {
            Arg::Field { mut names, .. } => {
                names.extend(more);
                Arg::Field { pos, names }
            }
            Arg::Var {
                name, mut names, ..
            } => {
                names.extend(more);
                Arg::Var { pos, name, names }
            }
            n @ (Arg::Lit(_) | Arg::Nil | Arg::Dot) => {
                let q = super::gofmt::quote(&n.to_string());
                return Err(err(pos, format!("unexpected . after term {q}")));
            }
            base => Arg::Chain {
                pos,
                base: Box::new(base),
                names: more,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    return Err(err(t.pos, format!("function \"{name}\" not defined")));
                }
                Arg::Func { pos: t.pos, name }
            }
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(err(t.pos, format!("undefined variable \"{name}\"")));
                }
                Arg::Var {
                    pos: t.pos,
                    name,
                    names: Vec::new(),
                }
            }
            Tok::Field(name) => Arg::Field {
                pos: t.pos,
                names: vec![name],
            },
            Tok::Bool(b) => Arg::Lit(Value::Bool(b)),
            Tok::Str(s) => Arg::Lit(Value::String(s)),
            Tok::Rune(r) => Arg::Lit(Value::from(r)),
            Tok::Number(text) => match number(&text) {
                Some(n) => Arg::Lit(Value::Number(n)),
                None => {
                    let q = super::gofmt::quote(&text);
                    return Err(err(t.pos, format!("bad number syntax: {q}")));
                }
            },
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RParen)?;
                Arg::Pipe {
                    pos: t.pos,
                    pipe: Box::new(pipe),
                }
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

/// A Go number literal: decimal, `0x`/`0o`/`0b`/leading-0 octal integers with `_`, or a float.
fn number(text: &str) -> Option<Number> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x").filter(|h| !h.contains('p')) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) && !lower.is_empty() {
        lower.parse::<u64>().ok()
    } else {
        None
    };
    if let Some(u) = int {
        return if neg {
            i64::try_from(u).ok().map(|i| Number::from(-i))
        } else {
            Some(Number::from(u))
        };
    }
    if let Some(h) = lower.strip_prefix("0x") {
        let f = hex_float(h)?;
        return Number::from_f64(if neg { -f } else { f });
    }
    if lower.is_empty() {
        return None;
    }
    // A float literal stays a float even when integral (`1e9` prints as `1e+09`).
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(if neg { -f } else { f })
}

/// Go's hexadecimal float (`1.ep+2` after `0x`, underscores removed): hex digits with an
/// optional point, then a binary exponent.
fn hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = h.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exp - 4 * i32::try_from(frac.len()).ok()?;
    Some(v * 2f64.powi(scale))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
