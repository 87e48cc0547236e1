//! The template executor: walks the parsed tree over a JSON value, with Go's scoping of
//! variables, truthiness, `range` over lists and maps (sorted keys), `break` and `continue`.

use super::funcs::{self, truth};
use super::gofmt::{self, go_type};
use super::parse::{Arg, Branch, Cmd, Node, Pipe};
use super::typed;
use serde_json::Value;

/// A runtime failure: where (the operand or command being evaluated, as Go names it:
/// its offset and its text), and what.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub pos: usize,
    pub node: String,
    pub msg: String,
}

/// The node being evaluated, for error messages (Go's `state.at`).
#[derive(Clone, Copy)]
enum At<'n> {
    Start,
    Pipe(&'n Pipe),
    Cmd(&'n Cmd),
    Arg(&'n Arg),
}

impl At<'_> {
    fn pos(self) -> usize {
        match self {
            At::Start => 0,
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(
                Arg::Field { pos, .. }
                | Arg::Var { pos, .. }
                | Arg::Chain { pos, .. }
                | Arg::Func { pos, .. }
                | Arg::Pipe { pos, .. },
            ) => *pos,
            At::Arg(_) => 0,
        }
    }

    fn text(self) -> String {
        match self {
            At::Start => String::new(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Arg(a) => a.to_string(),
        }
    }
}

type XResult<T> = Result<T, ExecError>;

/// Names a table column after a field, for header mode.
pub(crate) type HeaderFn<'a> = &'a dyn Fn(&str) -> String;

/// How a list of nodes ended.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Runs `nodes` over `data`, appending to `out` (which keeps what was written before an
/// error). In header mode a field that is not there names its column instead of failing,
/// and docker's string functions return their argument, so a table's row template
/// renders its own header line.
pub(crate) fn execute(
    nodes: &[Node],
    data: &Value,
    header: Option<HeaderFn<'_>>,
    typed: bool,
    out: &mut String,
) -> XResult<()> {
    let mut ex = Exec {
        vars: vec![("$".to_string(), data.clone())],
        out,
        header,
        typed,
        at: At::Start,
    };
    ex.walk(data, nodes).map(|_| ())
}

struct Exec<'a, 'o, 'n> {
    vars: Vec<(String, Value)>,
    out: &'o mut String,
    header: Option<HeaderFn<'a>>,
    /// Over Go-typed data: a missing map key is `<no value>` (Go's default), not an error.
    typed: bool,
    /// Where evaluation is, for error messages.
    at: At<'n>,
}

impl<'n> Exec<'_, '_, 'n> {
    fn fail<T>(&self, msg: impl Into<String>) -> XResult<T> {
        Err(ExecError {
            pos: self.at.pos(),
            node: self.at.text(),
            msg: msg.into(),
        })
    }

    fn walk(&mut self, dot: &Value, nodes: &'n [Node]) -> XResult<Flow> {
        for node in nodes {
            let flow = match node {
                Node::Text(s) => {
                    self.out.push_str(s);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(&v);
                    }
                    Flow::Normal
                }
                Node::If(b) => self.if_or_with(dot, b, false)?,
                Node::With(b) => self.if_or_with(dot, b, true)?,
                Node::Range(b) => self.range(dot, b)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// Prints a value as an action does: Go's `%v`, and `<no value>` for nil.
    fn print(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push_str("<no value>"),
            v => gofmt::print_action(v, self.out),
        }
    }

    fn if_or_with(&mut self, dot: &Value, b: &'n Branch, with: bool) -> XResult<Flow> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let flow = if truth(&v) {
            self.walk(if with { &v } else { dot }, &b.list)?
        } else if let Some(list) = &b.else_list {
            self.walk(dot, list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, dot: &Value, b: &'n Branch) -> XResult<Flow> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let v = typed::plain(&v);
        // Go names the last node the pipeline evaluated.
        if typed::is_struct(v) {
            return self.fail(format!("range can't iterate over {}", gofmt::display(v)));
        }
        let items: Vec<(Value, Value)> = match v {
            Value::Object(_) if typed::is_nil(v) => Vec::new(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e.clone()))
                .collect(),
            Value::Object(o) => {
                let mut keys: Vec<&String> = typed::fields(o).map(|(k, _)| k).collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Value::String(k.clone()), o[k].clone()))
                    .collect()
            }
            // Go 1.22 ranges over an integer: 0, 1, …, n-1.
            Value::Number(n) if gofmt::as_int(n).is_some() => {
                let n = gofmt::as_int(n).unwrap_or(0).max(0);
                (0..n)
                    .map(|i| (Value::from(i as u64), Value::from(i as u64)))
                    .collect()
            }
            Value::Null => Vec::new(),
            v => {
                return self.fail(format!("range can't iterate over {}", gofmt::display(v)));
            }
        };
        if items.is_empty() {
            let flow = match &b.else_list {
                Some(list) => self.walk(dot, list)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (index, elem) in items {
            // One variable gets the element; two get the index and the element.
            match b.pipe.decl.as_slice() {
                [e] => {
                    self.set_var(e, elem.clone());
                }
                [i, e] => {
                    self.set_var(i, index);
                    self.set_var(e, elem.clone());
                }
                _ => {}
            }
            let inner = self.vars.len();
            let flow = self.walk(&elem, &b.list)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// Sets the innermost variable `name`; false when there is none.
    fn set_var(&mut self, name: &str, v: Value) -> bool {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                true
            }
            None => false,
        }
    }

    fn pipeline(&mut self, dot: &Value, pipe: &'n Pipe) -> XResult<Value> {
        self.at = At::Pipe(pipe);
        let mut val: Option<Value> = None;
        for cmd in &pipe.cmds {
            val = Some(self.command(dot, cmd, val)?);
        }
        let val = val.unwrap_or(Value::Null);
        for name in &pipe.decl {
            if pipe.is_assign {
                if !self.set_var(name, val.clone()) {
                    self.at = At::Pipe(pipe);
                    return self.fail(format!("undefined variable: {name}"));
                }
            } else {
                self.vars.push((name.clone(), val.clone()));
            }
        }
        Ok(val)
    }

    /// Operands other than functions take no arguments and no piped value.
    fn not_a_function(&self, cmd: &Cmd, fin: &Option<Value>) -> XResult<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            return self.fail(format!(
                "can't give argument to non-function {}",
                cmd.args[0]
            ));
        }
        Ok(())
    }

    fn command(&mut self, dot: &Value, cmd: &'n Cmd, fin: Option<Value>) -> XResult<Value> {
        self.at = At::Cmd(cmd);
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match &cmd.args[0] {
            Arg::Func { name, .. } => {
                self.at = At::Arg(&cmd.args[0]);
                self.call(dot, Some(cmd), &cmd.args[0], name, &cmd.args[1..], fin)
            }
            Arg::Nil => self.fail("nil is not a command"),
            arg
            @ (Arg::Field { names, .. } | Arg::Var { names, .. } | Arg::Chain { names, .. })
                if !names.is_empty() && has_args =>
            {
                let last = names.last().map_or("", String::as_str);
                self.at = At::Arg(arg);
                self.fail(format!("{last} is not a method but has arguments"))
            }
            arg => {
                self.not_a_function(cmd, &fin)?;
                self.eval(dot, arg)
            }
        }
    }

    /// Evaluates an operand (an argument, or a command that is not a function call).
    fn eval(&mut self, dot: &Value, arg: &'n Arg) -> XResult<Value> {
        if !matches!(arg, Arg::Dot | Arg::Nil | Arg::Lit(_)) {
            self.at = At::Arg(arg);
        }
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Null),
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Field { names, .. } => self.fields(dot, names),
            Arg::Var { name, names, .. } => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => self.fields(v, names),
                None => self.fail(format!("undefined variable: {name}")),
            },
            Arg::Chain { base, names, .. } => {
                let v = self.eval(dot, base)?;
                self.at = At::Arg(arg);
                self.fields(&v, names)
            }
            Arg::Func { name, .. } => self.call(dot, None, arg, name, &[], None),
            Arg::Pipe { pipe, .. } => self.pipeline(dot, pipe),
        }
    }

    /// Follows `names` from `v`, cloning only what the chain ends at.
    fn fields(&self, v: &Value, names: &[String]) -> XResult<Value> {
        let mut cur = v;
        for name in names {
            if let (Some(ty), Value::Object(o)) = (typed::type_name(cur), cur) {
                cur = if typed::is_map(cur) {
                    // A missing key of a typed map is Go's invalid value: `<no value>`.
                    match o.get(name) {
                        Some(v) if !name.starts_with('\u{1}') => v,
                        _ => return Ok(Value::Null),
                    }
                } else if typed::is_nil(cur) {
                    if ty.starts_with('*') {
                        return self.fail(format!("nil pointer evaluating {ty}.{name}"));
                    }
                    return Ok(Value::Null);
                } else {
                    match typed::field(o, name) {
                        typed::Field::Found(v) => v,
                        typed::Field::NoField => {
                            return self.fail(format!("can't evaluate field {name} in type {ty}"));
                        }
                    }
                };
                continue;
            }
            cur = match cur {
                Value::Object(o) if o.contains_key(name) => &o[name],
                // Go's default for a missing key of a typed map: the invalid value.
                Value::Object(_) if self.typed && self.header.is_none() => return Ok(Value::Null),
                // Header mode: a field that is not there names its column.
                _ if self.header.is_some() => {
                    let last = names.last().map_or("", String::as_str);
                    return Ok(Value::String(
                        self.header.map_or_else(String::new, |h| h(last)),
                    ));
                }
                Value::Object(_) => {
                    return self.fail(format!("map has no entry for key \"{name}\""));
                }
                // Records leave optional parts null; a field of nothing is nothing.
                Value::Null => return Ok(Value::Null),
                v => {
                    return self.fail(format!(
                        "can't evaluate field {name} in type {}",
                        go_type(v)
                    ));
                }
            };
        }
        Ok(cur.clone())
    }

    /// Calls function `name` (the operand `func`, first in `cmd` when it is a command).
    fn call(
        &mut self,
        dot: &Value,
        cmd: Option<&'n Cmd>,
        func: &'n Arg,
        name: &str,
        args: &'n [Arg],
        fin: Option<Value>,
    ) -> XResult<Value> {
        let n = args.len() + usize::from(fin.is_some());
        if name == "and" || name == "or" {
            if n == 0 {
                self.at = At::Arg(func);
                return self.fail(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            // Short-circuit: stop at the first false (and) or true (or) argument.
            let mut last = Value::Null;
            for arg in args {
                last = self.eval(dot, arg)?;
                if truth(&last) == (name == "or") {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut vals = Vec::with_capacity(n);
        for arg in args {
            vals.push(self.eval(dot, arg)?);
        }
        vals.extend(fin);
        self.at = At::Arg(func);
        funcs::call(name, &vals, self.header.is_some()).or_else(|msg| {
            // Go names the whole command when the function itself failed.
            if let Some(cmd) = cmd.filter(|_| msg.starts_with("error calling")) {
                self.at = At::Cmd(cmd);
            }
            self.fail(msg)
        })
    }
}
