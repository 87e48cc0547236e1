//! When and how long to wait before trying a request again: transient statuses (429 and
//! the 5xx a busy or restarting registry sends), `Retry-After`, and bounded exponential
//! backoff.

use std::time::Duration;

/// Retries after the first attempt; with the backoff below, about 6 s in all.
pub const MAX_RETRIES: u32 = 5;

/// The longest `Retry-After` we honour: a registry asking for minutes is better reported
/// than waited on.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// Whether a response with `status` may succeed if sent again.
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// 200 ms, 400 ms, 800 ms, … capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 200u64.saturating_mul(1 << attempt.min(5));
    Duration::from_millis(ms.min(5_000))
}

/// `Retry-After` as seconds or an HTTP date (a date past is no wait), uncapped: the
/// caller decides whether it is worth waiting.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Tells the user, on stderr, what the command is waiting for (`img-pull: 127.0.0.1:5000
/// asks to wait 5 s (429 Too Many Requests)`), prefixed with the tool's name and drawn
/// between the lines of a pull display when one is on the terminal.
pub(crate) fn notice(message: &str) {
    crate::notice::say(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_transient(s), "{s}");
        }
        for s in [200, 401, 403, 404, 501] {
            assert!(!is_transient(s), "{s}");
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(20), Duration::from_millis(5_000));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let wait = parse_retry_after(&date).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{date}: {wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
