//! docker's `until=` filter value (`timetypes.GetTimestamp`): a Go duration before now,
//! an RFC 3339 time, a local date or date-time, or unix seconds.

/// docker's `until=` value (`timetypes.GetTimestamp`): a Go duration before `now`
/// (`10m`, `1h30m`), an RFC 3339 time, a date or date-time in the local zone, or unix
/// seconds (`1700000000`, `1700000000.5`).
pub fn parse_until(value: &str, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
    if let Some(d) = go_duration(value) {
        return now.checked_sub(d).ok();
    }
    if let Ok(t) = value.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let local = jiff::tz::TimeZone::system();
    if let Ok(dt) = value.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(local).ok().map(|z| z.timestamp());
    }
    if let Ok(d) = value.parse::<jiff::civil::Date>() {
        return d.to_zoned(local).ok().map(|z| z.timestamp());
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let s: i64 = secs.parse().ok()?;
        let ns: i32 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
        return jiff::Timestamp::new(s, ns).ok();
    }
    None
}

/// Go's `time.ParseDuration` for the units docker users write: `300ms`, `10m`, `1h30m`.
fn go_duration(value: &str) -> Option<jiff::SignedDuration> {
    let mut rest = value;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .filter(|&n| n > 0)?;
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[u..];
    }
    jiff::SignedDuration::try_from_secs_f64(total).ok()
}
