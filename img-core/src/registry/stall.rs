//! Stalls: a server that stops sending. Each read waits at most the idle limit
//! ([`super::ClientOptions::stall_timeout`], 30 s); a host that has sent nothing for the
//! whole budget ([`super::ClientOptions::stall_budget`], 2 minutes) across retries is
//! given up on for the rest of the client's life, so that a command against a server that
//! stopped answering fails in about two minutes instead of once a retry after another.
//!
//! What is known of a host is shared by every client of the process, so a command that
//! pulls several images gives a host that stopped answering one budget, not one an image.
//!
//! The clock a host is judged by starts at the first read that timed out (less the idle
//! limit it waited) and stops at the first body byte it sends again, or an answer with
//! no body to wait for (a HEAD, a redirect, an error status): the headers of a 200 or
//! 206 alone do not count, or a server that answers every resumed GET and then stalls
//! would be retried for as long as the retries last. A slow body that keeps moving is
//! never cut: the limit is per read, not per request.
//!
//! The retries themselves stay bounded too: `send` tries a stalled request once more, and
//! the callers' own retries (a blob's attempts, a manifest's) end as soon as the host is
//! given up on.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// The environment variable that sets the idle limit (`30s`, `2s`, `500ms`, `1m`).
pub const STALL_TIMEOUT_ENV: &str = "IMG_STALL_TIMEOUT";
/// The environment variable that sets the budget (default: four idle limits).
pub const STALL_BUDGET_ENV: &str = "IMG_STALL_BUDGET";

/// What the process knows of each host's silence, shared by every client: a command
/// that pulls several images, each with clients of its own, gives a host that stopped
/// answering one budget in all, not one an image.
static HOSTS: LazyLock<Mutex<HashMap<String, HostState>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Whether any host ever stalled: the fast path of every body read skips the lock.
static ANY_STALL: AtomicBool = AtomicBool::new(false);
/// Whether any host was given up on: the fast path of every request skips the lock.
static ANY_GIVEN_UP: AtomicBool = AtomicBool::new(false);

/// How long a host may stay silent, per read and in all, before it is given up on.
#[derive(Debug)]
pub(crate) struct Watchdog {
    idle: Duration,
    budget: Duration,
    /// Whether this client met a host given up on: its retries are then pointless.
    gave_up: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct HostState {
    /// When the host last sent anything, if it has been stalling since.
    silent_since: Option<Instant>,
    given_up: bool,
}

impl Watchdog {
    pub fn new(idle: Duration, budget: Duration) -> Watchdog {
        Watchdog {
            idle,
            budget: budget.max(idle),
            gave_up: AtomicBool::new(false),
        }
    }

    /// The error for a stall of `host`: one line naming the host and the limit.
    pub fn error(&self, host: &str) -> Error {
        Error::new(
            ErrorKind::Network,
            format!("{host}{STALLED}{}", show(self.idle)),
        )
    }

    /// Fails at once when `host` was given up on.
    pub fn check(&self, host: &str) -> Result<()> {
        if !ANY_GIVEN_UP.load(Ordering::SeqCst) {
            return Ok(());
        }
        match hosts().get(host) {
            Some(s) if s.given_up => {
                self.gave_up.store(true, Ordering::SeqCst);
                Err(self.error(host))
            }
            _ => Ok(()),
        }
    }

    /// Whether this client met a host given up on: retrying is then pointless.
    pub fn has_given_up(&self) -> bool {
        self.gave_up.load(Ordering::SeqCst)
    }

    /// `host` sent something: its silence, if any, is over.
    pub fn progress(&self, host: &str) {
        if !ANY_STALL.load(Ordering::Relaxed) {
            return;
        }
        if let Some(s) = hosts().get_mut(host) {
            s.silent_since = None;
        }
    }

    /// A read from `host` timed out: records it, gives the host up when it has now been
    /// silent for the whole budget, and returns the error to report.
    pub fn stalled(&self, host: &str) -> Error {
        ANY_STALL.store(true, Ordering::SeqCst);
        let now = Instant::now();
        let mut hosts = hosts();
        let state = hosts.entry(host.to_owned()).or_default();
        let since = *state
            .silent_since
            .get_or_insert_with(|| now.checked_sub(self.idle).unwrap_or(now));
        // A little slack: the next stall would overshoot the budget by a whole idle limit.
        if state.given_up || now.duration_since(since) + self.idle / 2 >= self.budget {
            state.given_up = true;
            ANY_GIVEN_UP.store(true, Ordering::SeqCst);
            self.gave_up.store(true, Ordering::SeqCst);
        }
        drop(hosts);
        self.error(host)
    }
}

fn hosts() -> MutexGuard<'static, HashMap<String, HostState>> {
    HOSTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every stall error says after the host's name.
const STALLED: &str = " stalled: no data for ";

/// Whether `e` is a stall (made by [`Watchdog::stalled`] or [`Watchdog::check`]).
pub(crate) fn is_stall(e: &Error) -> bool {
    e.kind() == ErrorKind::Network && e.message().contains(STALLED)
}

/// Whether a ureq error is a timeout: the server sent nothing for the idle limit (or
/// did not accept the connection in time).
pub(crate) fn is_timeout(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Timeout(_))
}

/// Whether an I/O error from a ureq body is a timeout.
fn is_io_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(is_timeout)
}

/// A response body that reports its host's progress and stalls to the watchdog; a
/// stall reads as a `TimedOut` error naming the host.
pub(crate) struct StallReader<R> {
    inner: R,
    watchdog: Arc<Watchdog>,
    host: String,
}

impl<R: Read> StallReader<R> {
    pub fn new(inner: R, watchdog: Arc<Watchdog>, host: String) -> StallReader<R> {
        StallReader {
            inner,
            watchdog,
            host,
        }
    }
}

impl<R: Read> Read for StallReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                // Bytes, or the end of a body delivered whole: the host is answering.
                self.watchdog.progress(&self.host);
                Ok(n)
            }
            Err(e) if is_io_timeout(&e) => {
                let err = self.watchdog.stalled(&self.host);
                Err(io::Error::new(io::ErrorKind::TimedOut, err.message()))
            }
            Err(e) => Err(e),
        }
    }
}

/// `30 s`, `2 s`, `500 ms`: how the limits are shown.
pub(crate) fn show(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Parses `30s`, `2s`, `500ms`, `1m` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let d = match s[digits..].trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// The idle limit and budget the environment asks for, if any: `IMG_STALL_TIMEOUT`
/// alone sets the budget to four of it; `IMG_STALL_BUDGET` sets it apart.
pub(crate) fn from_env() -> Result<(Option<Duration>, Option<Duration>)> {
    let read = |name: &str| -> Result<Option<Duration>> {
        match std::env::var(name) {
            Ok(v) => parse_duration(&v).map(Some).ok_or_else(|| {
                Error::usage(format!(
                    "{name}={v:?}: expected a duration such as 30s, 500ms or 2m"
                ))
            }),
            Err(_) => Ok(None),
        }
    };
    Ok((read(STALL_TIMEOUT_ENV)?, read(STALL_BUDGET_ENV)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "0", "s", "2h", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(show(Duration::from_secs(30)), "30 s");
        assert_eq!(show(Duration::from_millis(500)), "500 ms");
    }

    #[test]
    fn a_host_is_given_up_after_the_budget_and_progress_resets_the_clock() {
        let w = Watchdog::new(Duration::from_millis(40), Duration::from_millis(120));
        w.check("stall-unit-test:1").unwrap();
        let e = w.stalled("stall-unit-test:1");
        assert_eq!(
            e.to_string(),
            "stall-unit-test:1 stalled: no data for 40 ms"
        );
        assert!(!w.has_given_up());
        std::thread::sleep(Duration::from_millis(30));
        w.progress("stall-unit-test:1");
        std::thread::sleep(Duration::from_millis(60));
        w.stalled("stall-unit-test:1");
        assert!(!w.has_given_up(), "progress restarted the clock");
        std::thread::sleep(Duration::from_millis(70));
        w.stalled("stall-unit-test:1");
        assert!(w.has_given_up());
        assert_eq!(
            w.check("stall-unit-test:1").unwrap_err().to_string(),
            "stall-unit-test:1 stalled: no data for 40 ms"
        );
        w.check("stall-unit-test:2").unwrap();
    }
}
