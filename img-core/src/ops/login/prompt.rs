//! Reading what the user types for img-login: a prompt on stderr, a line from stdin, and
//! the terminal's echo turned off (and back on) around a password.

use std::io::{BufRead, IsTerminal, Read, Write};

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

use super::Input;
use crate::error::{Error, Result};

/// The process's stdin.
#[derive(Debug, Default)]
pub struct Stdin;

impl Input for Stdin {
    fn is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn read_all(&mut self) -> Result<String> {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut s)
            .map_err(|e| Error::io(e, "reading the password from stdin"))?;
        Ok(s)
    }

    fn prompt(&mut self, prompt: &str, echo: bool) -> Result<String> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prompt}").and_then(|()| err.flush());
        let stdin = std::io::stdin();
        // Echo goes off only on a terminal, and comes back whatever the read did.
        let saved = if echo { None } else { tcgetattr(&stdin).ok() };
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            tcsetattr(&stdin, OptionalActions::Now, &quiet)
                .map_err(|e| Error::io(e.into(), "turning the terminal's echo off"))?;
        }
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        if let Some(t) = &saved {
            let restored = tcsetattr(&stdin, OptionalActions::Now, t);
            // The Enter typed was not echoed either: end the prompt's line.
            let _ = writeln!(err);
            restored.map_err(|e| {
                Error::io(
                    e.into(),
                    "turning the terminal's echo back on (run `stty echo`)",
                )
            })?;
        }
        read.map_err(|e| Error::io(e, "reading from the terminal"))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
    }
}
