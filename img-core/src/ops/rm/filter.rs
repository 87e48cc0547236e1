//! `img-rm --prune --filter`: docker's `image prune` filters (`dangling`, `label`,
//! `label!`, `until`) parsed into the [`ListFilter`] that [`super::prune_with`] lists by.
//!
//! The reference is docker 20.10's daemon (`daemon/images/image_prune.go`), checked against
//! a real one: several `label=` must all match, an image is kept when it matches every
//! `label!=`, and among several `dangling` values any false one wins.

use crate::error::{Error, ErrorKind, Result};
use crate::index::ListFilter;
use crate::ops::filters;
use crate::ops::filters::parse_until;

/// The filter keys `img-rm --prune` knows, as docker's prune accepts them.
pub const PRUNE_FILTER_KEYS: &[&str] = &["dangling", "label", "label!", "until"];

/// Parses docker's `image prune --filter KEY=VALUE` values.
///
/// - `until=DURATION|TIME`: images created before it; two different ones are refused,
///   as the daemon refuses them.
/// - `label=KEY[=VALUE]`: images carrying that label; all such filters must match.
/// - `label!=KEY[=VALUE]`: images not carrying it; an image matching every one of them
///   is kept (docker's `MatchKVList` on `label!`).
/// - `dangling=true|1|false|0`: the daemon's rule, word for word: if any value is `false`
///   or `0`, every image is a candidate (`dangling: Some(false)`, as `-a`); else if one is
///   `true` or `1`, only dangling ones (`Some(true)`); else the filter is invalid. Values
///   are matched exactly, as the daemon's `ExactMatch` does (`TRUE` is invalid).
///
/// An unknown key, a malformed value or an empty label key is docker's invalid filter
/// (exit status 1); a filter without `=` is a usage error.
pub fn parse_prune_filters(filters: &[String]) -> Result<ListFilter> {
    let mut filter = ListFilter::default();
    let mut dangling: Vec<&str> = Vec::new();
    let mut until: Option<&str> = None;
    for f in filters {
        // docker's CLI trims and lower-cases the key and trims the value.
        let (key, value) = filters::split(f)?;
        match key.as_str() {
            "until" => {
                // The daemon's filters are sets: the same value twice is one filter.
                if until.is_some_and(|u| u != value) {
                    return Err(Error::new(
                        ErrorKind::InvalidFilter,
                        "more than one until filter specified",
                    ));
                }
                until = Some(value);
                let time = parse_until(value, jiff::Timestamp::now())
                    .ok_or_else(|| filters::invalid(f, "until takes a duration (24h) or a time"))?;
                filter.before = Some(time);
            }
            "label" | "label!" => {
                let label = filters::label(value)
                    .ok_or_else(|| filters::invalid(f, &format!("{key} takes KEY or KEY=VALUE")))?;
                let labels = if key == "label" {
                    &mut filter.labels
                } else {
                    &mut filter.labels_not
                };
                labels.push(label);
            }
            "dangling" => dangling.push(value),
            other => {
                return Err(filters::invalid(
                    other,
                    &format!("prune takes {}", PRUNE_FILTER_KEYS.join(", ")),
                ));
            }
        }
    }
    if !dangling.is_empty() {
        filter.dangling = Some(dangling_only(&dangling)?);
    }
    Ok(filter)
}

/// The daemon's `danglingOnly` from the `dangling` values given: false as soon as one is
/// `false` or `0` (so `-f dangling=true -f dangling=false` prunes every image, as docker
/// does), else true when one is `true` or `1`, else an invalid filter naming the values.
fn dangling_only(values: &[&str]) -> Result<bool> {
    if values.iter().any(|v| matches!(*v, "false" | "0")) {
        return Ok(false);
    }
    if values.iter().any(|v| matches!(*v, "true" | "1")) {
        return Ok(true);
    }
    let shown: Vec<String> = values.iter().map(|v| format!("dangling={v}")).collect();
    Err(filters::invalid(
        &shown.join(", "),
        "dangling takes true, false, 1 or 0",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(filters: &[&str]) -> Result<ListFilter> {
        let owned: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        parse_prune_filters(&owned)
    }

    #[test]
    fn any_false_dangling_value_wins_as_in_dockers_daemon() {
        let dangling = |filters: &[&str]| parse(filters).unwrap().dangling;
        assert_eq!(dangling(&[]), None);
        assert_eq!(dangling(&["dangling=true"]), Some(true));
        assert_eq!(dangling(&["dangling=1"]), Some(true));
        assert_eq!(dangling(&["dangling=false"]), Some(false));
        assert_eq!(dangling(&["dangling=0"]), Some(false));
        assert_eq!(dangling(&["dangling=true", "dangling=false"]), Some(false));
        assert_eq!(dangling(&["dangling=false", "dangling=true"]), Some(false));
        assert_eq!(dangling(&["dangling=1", "dangling=0"]), Some(false));
        // A valid value among invalid ones decides, as ExactMatch finds it.
        assert_eq!(dangling(&["dangling=yes", "dangling=true"]), Some(true));
        assert_eq!(dangling(&["dangling=yes", "dangling=0"]), Some(false));
        // docker's CLI trims the value and lower-cases the key.
        assert_eq!(dangling(&[" DANGLING = false "]), Some(false));
    }

    #[test]
    fn a_dangling_value_that_is_no_boolean_is_an_invalid_filter() {
        for (filters, shown) in [
            (&["dangling=yes"][..], "'dangling=yes'"),
            (&["dangling=TRUE"][..], "'dangling=TRUE'"),
            (&["dangling="][..], "'dangling='"),
            (
                &["dangling=x", "dangling=y"][..],
                "'dangling=x, dangling=y'",
            ),
        ] {
            let err = parse(filters).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidFilter, "{filters:?}");
            assert_eq!(err.exit_code(), 1, "{filters:?}");
            assert!(
                err.to_string().contains(&format!("invalid filter {shown}")),
                "{err}"
            );
        }
    }

    #[test]
    fn labels_and_negated_labels_go_to_their_own_lists() {
        let f = parse(&["label=a", "label!=b", "label!=c=1", "label=d=e=f"]).unwrap();
        assert_eq!(
            f.labels,
            [("a".into(), None), ("d".into(), Some("e=f".to_owned()))]
        );
        assert_eq!(
            f.labels_not,
            [("b".into(), None), ("c".into(), Some("1".to_owned()))]
        );
        assert_eq!(f.dangling, None);
        for bad in ["label!=", "label!==1", "label="] {
            let err = parse(&[bad]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidFilter, "{bad}");
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_invalid_filters_and_bare_words_usage_errors() {
        for key in ["reference", "before", "label!!", "color"] {
            let err = parse(&[&format!("{key}=x")]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidFilter, "{key}");
            assert!(
                err.to_string().contains(&format!("invalid filter '{key}'")),
                "{err}"
            );
        }
        assert_eq!(parse(&["dangling"]).unwrap_err().kind(), ErrorKind::Usage);
        let until = parse(&["until=2000-01-01", "until=2000-01-01"]).unwrap();
        assert_eq!(
            until.before,
            parse_until("2000-01-01", jiff::Timestamp::now())
        );
        assert!(until.before.is_some());
        let err = parse(&["until=1h", "until=2h"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidFilter);
        assert_eq!(err.to_string(), "more than one until filter specified");
    }
}
