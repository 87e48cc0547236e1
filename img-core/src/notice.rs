//! Notices: the lines a command says on stderr while it works, prefixed with the tool's
//! name (`img-pull: 127.0.0.1:5000 asks to wait 5 s (429 Too Many Requests)`).
//!
//! While a display owns the terminal (the pull display rewrites its lines in place by
//! moving the cursor up), a line written past it would shift every line the display
//! later moves back to, and its redraws would land on the wrong rows. Such a display
//! takes the notices while it lives ([`set_sink`]) and prints them between its own lines.

use std::sync::Mutex;

/// Where notices go instead of stderr: a display drawing on the terminal.
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Says `message` on stderr as `TOOL: message`, through the display when one is drawing.
pub fn say(message: &str) {
    let line = format!("{}: {}", tool(), crate::quote::escape_message(message));
    let sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match sink.as_ref() {
        Some(sink) => sink(&line),
        None => eprintln!("{line}"),
    }
}

/// Sends notices to `sink` from now on (`None`: back to stderr).
pub fn set_sink(sink: Option<Sink>) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = sink;
}

/// The running tool's name, from `argv[0]`.
fn tool() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "img".to_owned())
}
