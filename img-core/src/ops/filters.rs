//! docker's `--filter KEY=VALUE` arguments, as every verb that takes them reads them
//! (img-ls, `img-rm --prune`, img-search): the split, the label form, and the error for a
//! filter docker's daemon refuses.

mod until;

pub use until::parse_until;

use crate::error::{Error, ErrorKind, Result};

/// `KEY=VALUE` → (lowercased trimmed key, trimmed value), as docker's CLI reads `--filter`;
/// a value without `=` is a usage error, as docker's flag parsing says.
pub fn split(raw: &str) -> Result<(String, &str)> {
    let Some((key, value)) = raw.split_once('=') else {
        return Err(Error::usage(format!(
            "bad format of filter {raw:?}: expected KEY=VALUE"
        )));
    };
    Ok((key.trim().to_ascii_lowercase(), value.trim()))
}

/// A `label` filter's value, `KEY` or `KEY=VALUE`; `None` when the key is empty.
pub fn label(value: &str) -> Option<(String, Option<String>)> {
    let (key, wanted) = match value.split_once('=') {
        Some((k, v)) => (k, Some(v.to_owned())),
        None => (value, None),
    };
    (!key.is_empty()).then(|| (key.to_owned(), wanted))
}

/// docker's `Invalid filter 'WHAT'`: the daemon's answer in docker, so exit status 1 (not
/// a usage error), with `hint` saying what would be valid.
pub fn invalid(what: &str, hint: &str) -> Error {
    Error::new(
        ErrorKind::InvalidFilter,
        format!("invalid filter '{what}': {hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_split_as_dockers_cli_splits_them() {
        assert_eq!(split(" Label = a=b ").unwrap(), ("label".into(), "a=b"));
        assert_eq!(split("nokey").unwrap_err().exit_code(), 2);
        assert_eq!(label("a=b"), Some(("a".into(), Some("b".into()))));
        assert_eq!(label("a"), Some(("a".into(), None)));
        assert_eq!(label("=b"), None);
        let e = invalid("foo", "try bar");
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (1, "invalid filter 'foo': try bar")
        );
    }
}
