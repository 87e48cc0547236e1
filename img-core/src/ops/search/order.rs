//! The order `img-search --tags` lists tags in: versions first, by their numbers
//! (`v1.2.10 < v1.9.0 < v1.10.0`), a pre-release before its release (`1.0.0-rc1 <
//! 1.0.0`), then every tag that is no version (`latest`, `stable`), in byte order.
//!
//! A version is an optional `v`, one to four dot-separated numbers, then optionally
//! `-PRERELEASE` and `+BUILD`, as semver writes them; `3.20` and `1` count as versions,
//! as image tags use them. Ties (`1.2` and `1.2.0`, `v1` and `1`) fall back to byte order,
//! so the order is total and the same on every run.

use std::cmp::Ordering;

/// A tag read as a version.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    numbers: Vec<u64>,
    pre: Option<&'a str>,
}

fn parse(tag: &str) -> Option<Version<'_>> {
    let s = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Some(p)),
        Some(_) => return None,
        None => (s, None),
    };
    let mut numbers = Vec::new();
    for part in core.split('.') {
        if part.is_empty() || part.len() > 18 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers.push(part.parse().ok()?);
    }
    if numbers.len() > 4 {
        return None;
    }
    Some(Version { numbers, pre })
}

/// Compares pre-releases as semver does: dot-separated identifiers, numbers numerically
/// and before words.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// The tag order described in the module docs.
pub fn compare_tags(a: &str, b: &str) -> Ordering {
    let by_version = match (parse(a), parse(b)) {
        (Some(x), Some(y)) => {
            // Missing numbers count as 0, so `1.2` sits with `1.2.0`.
            let len = x.numbers.len().max(y.numbers.len());
            let num = |v: &Version<'_>, i: usize| v.numbers.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| num(&x, i).cmp(&num(&y, i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
                .then_with(|| match (x.pre, y.pre) {
                    (None, None) => Ordering::Equal,
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(p), Some(q)) => compare_pre(p, q),
                })
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_version.then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Sorts `tags` in place in that order.
pub fn sort_tags(tags: &mut [String]) {
    tags.sort_by(|a, b| compare_tags(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(tags: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        sort_tags(&mut v);
        v
    }

    #[test]
    fn versions_sort_by_number() {
        assert_eq!(
            sorted(&["v1.10.0", "latest", "v1.9.0", "v1.2.10", "edge", "v1.2.9"]),
            ["v1.2.9", "v1.2.10", "v1.9.0", "v1.10.0", "edge", "latest"]
        );
    }

    #[test]
    fn pre_releases_come_before_their_release() {
        assert_eq!(
            sorted(&["1.0.0", "1.0.0-rc.10", "1.0.0-rc.2", "1.0.0-alpha", "0.9"]),
            ["0.9", "1.0.0-alpha", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0"]
        );
    }

    #[test]
    fn ties_and_non_versions_use_byte_order() {
        assert_eq!(sorted(&["1.2.0", "1.2", "v1.2"]), ["1.2", "1.2.0", "v1.2"]);
        assert_eq!(sorted(&["b", "B", "a-1", "1.x"]), ["1.x", "B", "a-1", "b"]);
        assert_eq!(sorted(&["3.20", "3.9", "3"]), ["3", "3.9", "3.20"]);
    }
}
