//! When and how long to wait before trying a request again: transient statuses (429 and
//! the 5xx a busy or restarting registry sends), `Retry-After`, and bounded exponential
//! backoff.

use std::time::Duration;

/// Retries after the first attempt; with the backoff below, about 6 s in all.
pub const MAX_RETRIES: u32 = 5;

/// The longest we honour a `Retry-After`: a registry asking for minutes is better
/// reported than waited on.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Whether a response with `status` may succeed if sent again.
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// 200 ms, 400 ms, 800 ms, … capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 200u64.saturating_mul(1 << attempt.min(5));
    Duration::from_millis(ms.min(5_000))
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and falls back
/// to the backoff), capped.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_WAIT))
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
        assert_eq!(parse_retry_after("3600"), Some(MAX_WAIT));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
