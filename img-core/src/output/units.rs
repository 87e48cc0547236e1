//! Human-readable sizes and ages as docker prints them (go-units' `HumanSizeWithPrecision`
//! and `HumanDuration`): `7.8MB`, `1.02kB`, `2 weeks ago`.

use crate::template::format_g;
use std::time::Duration;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// A size in decimal units with `precision` significant digits, as go-units'
/// `HumanSizeWithPrecision` (Go's `%.*g`, so 999999 bytes is `1e+03kB`, as docker shows it).
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut unit = 0;
    while size >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!(
        "{}{}",
        format_g(size, Some(precision), false),
        DECIMAL_UNITS[unit]
    )
}

/// A size as docker's tables show it: three significant digits, decimal units
/// (`512B`, `7.8MB`, `1.23GB`).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// An age in words, as go-units' `HumanDuration`: "Less than a second", "About a minute",
/// "3 hours", "2 weeks", "3 months", "2 years".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Hours round to the nearest; the larger units count whole ones from there.
    let hours = (secs / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
}

/// Docker's `CreatedSince`: the age of something created `d` ago, plus " ago".
pub fn human_duration_since(d: Duration) -> String {
    format!("{} ago", human_duration(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: f64 = 1000.0;
    const MB: f64 = KB * 1000.0;
    const GB: f64 = MB * 1000.0;
    const TB: f64 = GB * 1000.0;
    const PB: f64 = TB * 1000.0;

    #[test]
    fn go_units_human_size_vectors() {
        // go-units' TestHumanSize (HumanSize is precision 4).
        let h = |s: f64| human_size_with_precision(s, 4);
        assert_eq!(h(1000.0), "1kB");
        assert_eq!(h(1024.0), "1.024kB");
        assert_eq!(h(1000000.0), "1MB");
        assert_eq!(h(1048576.0), "1.049MB");
        assert_eq!(h(2.0 * MB), "2MB");
        assert_eq!(h(3.42 * GB), "3.42GB");
        assert_eq!(h(5.372 * TB), "5.372TB");
        assert_eq!(h(2.22 * PB), "2.22PB");
        assert_eq!(h(10000000000000.0 * PB), "1e+04YB");
    }

    #[test]
    fn docker_table_sizes_use_three_digits() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1024), "1.02kB");
        assert_eq!(human_size(7_800_000), "7.8MB");
        assert_eq!(human_size(7_834_567), "7.83MB");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_size(999_999), "1e+03kB");
        assert_eq!(human_size(u64::MAX), "18.4EB");
    }

    #[test]
    fn go_units_human_duration_vectors() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let (min, hour) = (60, 3600);
        let (day, week, month, year) = (24 * hour, 7 * 24 * hour, 30 * 24 * hour, 365 * 24 * hour);
        let cases: &[(Duration, &str)] = &[
            (ms(450), "Less than a second"),
            (s(1), "1 second"),
            (s(45), "45 seconds"),
            (s(46), "46 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(3 * min), "3 minutes"),
            (s(35 * min), "35 minutes"),
            (s(35 * min + 40), "35 minutes"),
            (s(45 * min + 40), "45 minutes"),
            (s(46 * min), "46 minutes"),
            (s(59 * min), "59 minutes"),
            (s(hour), "About an hour"),
            (s(hour + 29 * min), "About an hour"),
            (s(hour + 31 * min), "2 hours"),
            (s(hour + 59 * min), "2 hours"),
            (s(3 * hour), "3 hours"),
            (s(3 * hour + 29 * min), "3 hours"),
            (s(3 * hour + 31 * min), "4 hours"),
            (s(3 * hour + 59 * min), "4 hours"),
            (s(3 * hour + 60 * min), "4 hours"),
            (s(24 * hour), "24 hours"),
            (s(day + 12 * hour), "36 hours"),
            (s(2 * day), "2 days"),
            (s(7 * day), "7 days"),
            (s(13 * day + 5 * hour), "13 days"),
            (s(2 * week), "2 weeks"),
            (s(2 * week + 4 * day), "2 weeks"),
            (s(3 * week), "3 weeks"),
            (s(4 * week), "4 weeks"),
            (s(4 * week + 3 * day), "4 weeks"),
            (s(month), "4 weeks"),
            (s(month + 2 * week), "6 weeks"),
            (s(2 * month), "2 months"),
            (s(2 * month + 2 * week), "2 months"),
            (s(3 * month), "3 months"),
            (s(3 * month + week), "3 months"),
            (s(5 * month + 2 * week), "5 months"),
            (s(13 * month), "13 months"),
            (s(23 * month), "23 months"),
            (s(24 * month), "24 months"),
            (s(24 * month + 2 * week), "2 years"),
            (s(3 * year + 2 * month), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "{d:?}");
        }
        assert_eq!(human_duration_since(s(2 * week)), "2 weeks ago");
    }
}
