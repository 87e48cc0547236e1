//! The filters of `img-ls` and `img-rm --prune` (docker's `--filter`): what SQL can
//! decide, and the reference glob that Rust decides.

use std::collections::HashMap;

use rusqlite::types::Value;

use super::names::familiar_name;
use crate::error::{Error, Result};

/// What [`Index::list_images`](super::Index::list_images) keeps. The default keeps all.
///
/// Filters of different kinds must all match, as docker's do. Within a kind: any
/// `reference` may match (docker ORs them), every `label` must match (docker's
/// `MatchKVList` ANDs them), an image is left out only when it matches every `label!`
/// (docker's prune asks `MatchKVList("label!")`, which ANDs them too), and several
/// `before`/`since` images combine to the tightest bound (the caller keeps the oldest
/// `before` and the newest `since`, as docker does).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `dangling=true` keeps only untagged images, `dangling=false` those with a tag or a
    /// repository digest (docker drops only the images with neither).
    pub dangling: Option<bool>,
    /// `reference=PATTERN`, any of which may match: Go's `path.Match` (`*`, `?`, `[…]`,
    /// `\`, where `*` does not cross `/`), plus `**`, which does (docker lacks it),
    /// matched against the repository, full or familiar (`docker.io/library/alpine` or
    /// `alpine`), alone, with `:tag`, or with `@digest` (the row's repo digest). Rows
    /// without a repository never match; a malformed pattern is an error.
    pub reference: Vec<String>,
    /// `before=IMAGE`: only images created strictly before this time.
    pub before: Option<jiff::Timestamp>,
    /// `since=IMAGE`: only images created strictly after this time.
    pub since: Option<jiff::Timestamp>,
    /// `label=KEY` or `label=KEY=VALUE`, all of which must match.
    pub labels: Vec<(String, Option<String>)>,
    /// `label!=KEY` or `label!=KEY=VALUE` (docker's prune has them, its `images` does not):
    /// an image matching all of them is left out. One such filter, the usual case, leaves
    /// out the images carrying that label (with that value); docker 20.10's daemon checked
    /// with `label!=x -f label!=y` prunes an image with `x` alone and keeps one with both.
    pub labels_not: Vec<(String, Option<String>)>,
}

impl ListFilter {
    /// Checks the reference patterns: a malformed one (`[a`, a trailing `\`) is a usage
    /// error naming it, as Go's `path.Match` reports `ErrBadPattern`.
    pub fn check(&self) -> Result<()> {
        for p in &self.reference {
            let chars: Vec<char> = p.chars().collect();
            if !pattern_is_valid(&chars) {
                return Err(Error::usage(format!(
                    "invalid reference filter {p:?}: malformed pattern (an unclosed '[', an \
                     empty class, or a trailing '\\')"
                )));
            }
        }
        Ok(())
    }

    /// The `WHERE` clause over `images` (aliased `i`) and its parameters.
    pub(super) fn where_clause(&self) -> (String, Vec<Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        match self.dangling {
            Some(true) => {
                clauses.push("NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id)".into())
            }
            // docker keeps an untagged image that still has a repository digest.
            Some(false) => clauses.push(
                "(EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id)
                  OR EXISTS (SELECT 1 FROM repo_digests r WHERE r.image_id = i.id))"
                    .into(),
            ),
            None => {}
        }
        if let Some(before) = self.before {
            params.push(Value::Integer(nanos(before)));
            clauses.push(format!("i.created_ns < ?{}", params.len()));
        }
        if let Some(since) = self.since {
            params.push(Value::Integer(nanos(since)));
            clauses.push(format!("i.created_ns > ?{}", params.len()));
        }
        for label in &self.labels {
            clauses.push(label_exists(label, &mut params));
        }
        if !self.labels_not.is_empty() {
            let all: Vec<String> = self
                .labels_not
                .iter()
                .map(|label| label_exists(label, &mut params))
                .collect();
            clauses.push(format!("NOT ({})", all.join(" AND ")));
        }
        if clauses.is_empty() {
            (String::new(), params)
        } else {
            (format!("WHERE {}", clauses.join(" AND ")), params)
        }
    }

    /// The compiled reference patterns, or `None` when there are none (everything passes).
    pub(super) fn reference_matcher(&self) -> Result<Option<RefMatcher>> {
        self.check()?;
        if self.reference.is_empty() {
            return Ok(None);
        }
        Ok(Some(RefMatcher {
            patterns: self.reference.iter().map(|p| p.chars().collect()).collect(),
            familiar: HashMap::new(),
            buf: String::new(),
        }))
    }

    /// Whether a row for `repository` (full name) and `tag` passes the reference filters
    /// (a malformed pattern matches nothing here; [`ListFilter::check`] reports it).
    #[cfg(test)]
    pub(super) fn matches_reference(&self, repository: Option<&str>, tag: Option<&str>) -> bool {
        match self.reference_matcher() {
            Ok(None) => true,
            Ok(Some(mut m)) => m.matches(repository, tag, None),
            Err(_) => false,
        }
    }
}

/// Reference patterns compiled once for a listing, with a cache of familiar names (many
/// rows share a repository).
pub(super) struct RefMatcher {
    patterns: Vec<Vec<char>>,
    familiar: HashMap<String, String>,
    /// Reused for the `name:tag` and `name@digest` candidates.
    buf: String,
}

impl RefMatcher {
    /// Whether the row `repository` (full) / `tag` / `digest` matches any pattern.
    pub(super) fn matches(
        &mut self,
        repository: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> bool {
        let Some(full) = repository else {
            return false;
        };
        if !self.familiar.contains_key(full) {
            self.familiar.insert(full.to_owned(), familiar_name(full));
        }
        let familiar = self.familiar.get(full).map_or(full, String::as_str);
        let buf = &mut self.buf;
        self.patterns.iter().any(|p| {
            for name in [full, familiar] {
                if glob_at(p, name) {
                    return true;
                }
                for (sep, suffix) in [(':', tag), ('@', digest)] {
                    if let Some(suffix) = suffix {
                        buf.clear();
                        buf.push_str(name);
                        buf.push(sep);
                        buf.push_str(suffix);
                        if glob_at(p, buf) {
                            return true;
                        }
                    }
                }
            }
            false
        })
    }
}

/// `EXISTS (…)` for an image carrying the label `KEY` (any value) or `KEY=VALUE`, its
/// parameters pushed onto `params`.
fn label_exists((key, value): &(String, Option<String>), params: &mut Vec<Value>) -> String {
    params.push(Value::Text(key.clone()));
    let key_param = params.len();
    match value {
        Some(v) => {
            params.push(Value::Text(v.clone()));
            format!(
                "EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id AND l.key = ?{key_param} AND l.value = ?{})",
                params.len()
            )
        }
        None => format!(
            "EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id AND l.key = ?{key_param})"
        ),
    }
}

/// Nanoseconds since the epoch, saturating (the index stores `created_ns` so).
pub(super) fn nanos(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t.as_nanosecond() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Go's `path.Match`, extended: `*` matches any run of non-`/` characters, `**` (two or
/// more stars) any run at all, `?` one non-`/` character, `[…]` a class (`[^…]` negated,
/// ranges `a-z`), `\` escapes. A malformed pattern matches nothing.
#[cfg(test)]
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    pattern_is_valid(&p) && glob_at(&p, name)
}

fn glob_at(p: &[char], n: &str) -> bool {
    let first_char = |s: &str| s.chars().next();
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            let mut rest = &p[1..];
            let mut cross = false;
            while rest.first() == Some(&'*') {
                cross = true;
                rest = &rest[1..];
            }
            // Try every split of the name (of its non-`/` prefix for a single star).
            let mut i = 0;
            loop {
                if glob_at(rest, &n[i..]) {
                    return true;
                }
                match first_char(&n[i..]) {
                    None => return false,
                    Some('/') if !cross => return false,
                    Some(c) => i += c.len_utf8(),
                }
            }
        }
        Some('?') => match first_char(n) {
            Some(c) if c != '/' => glob_at(&p[1..], &n[c.len_utf8()..]),
            _ => false,
        },
        Some('[') => {
            let Some(c) = first_char(n) else {
                return false;
            };
            match class_match(&p[1..], c) {
                Some((matched, used)) => matched && glob_at(&p[1 + used..], &n[c.len_utf8()..]),
                None => false,
            }
        }
        Some('\\') => match p.get(1) {
            Some(&lit) => first_char(n) == Some(lit) && glob_at(&p[2..], &n[lit.len_utf8()..]),
            None => false,
        },
        Some(&lit) => first_char(n) == Some(lit) && glob_at(&p[1..], &n[lit.len_utf8()..]),
    }
}

/// Whether `p` is a well-formed pattern: every `\` escapes something and every class is
/// closed and well-formed, as Go's `path.Match` requires.
fn pattern_is_valid(p: &[char]) -> bool {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 >= p.len() => return false,
            '\\' => i += 2,
            '[' => match class_match(&p[i + 1..], 'a') {
                Some((_, used)) => i += 1 + used,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

/// Matches `c` against the class starting after `[`, by Go's grammar: `[^]?` then one or
/// more ranges `lo` or `lo-hi` (`-` and `]` must be escaped inside), then `]`. Returns
/// whether it matched and how many pattern characters the class used (with its `]`), or
/// `None` if malformed.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut ranges = 0;
    loop {
        if p.get(i) == Some(&']') && ranges > 0 {
            return Some((matched != negated, i + 1));
        }
        let (lo, used) = class_char(&p[i..])?;
        i += used;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, used) = class_char(&p[i + 1..])?;
            hi = h;
            i += 1 + used;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
        ranges += 1;
    }
}

/// One character of a class (Go's `getEsc`): `\x` is `x`; a bare `-` or `]` is malformed.
fn class_char(p: &[char]) -> Option<(char, usize)> {
    match *p.first()? {
        '-' | ']' => None,
        '\\' => Some((*p.get(1)?, 2)),
        c => Some((c, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_path_match() {
        assert!(glob_match("alpine", "alpine"));
        assert!(glob_match("alp*", "alpine"));
        assert!(!glob_match("*", "library/alpine"));
        assert!(glob_match("*/*", "library/alpine"));
        assert!(glob_match("alpine:3.*", "alpine:3.20"));
        assert!(glob_match("a?pine", "alpine"));
        assert!(!glob_match("a?b", "a/b"));
        assert!(glob_match("[a-c]lpine", "alpine"));
        assert!(glob_match("[xa]lpine", "alpine"));
        assert!(!glob_match("[^a]lpine", "alpine"));
        assert!(glob_match("[^b]lpine", "alpine"));
        assert!(glob_match("\\*x", "*x"));
        assert!(!glob_match("\\*x", "ax"));
        assert!(!glob_match("alpine", "alpine:3"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn double_star_crosses_slashes() {
        assert!(glob_match("**", "127.0.0.1:5000/test/multi"));
        assert!(glob_match("**/multi", "127.0.0.1:5000/test/multi"));
        assert!(!glob_match("*/multi", "127.0.0.1:5000/test/multi"));
        assert!(glob_match(
            "127.0.0.1:5000/**:latest",
            "127.0.0.1:5000/a/b/c:latest"
        ));
        assert!(glob_match("a/**/z", "a/b/c/z"));
        assert!(!glob_match("a/**/z", "a/z"));
        assert!(glob_match("a**z", "a/z"));
        // A single star still stops at a slash, even next to a double one.
        assert!(!glob_match("**/*", "a"));
        assert!(glob_match("**/*", "a/b/c"));
    }

    #[test]
    fn malformed_patterns_match_nothing_and_fail_the_check() {
        for bad in ["[a", "a\\", "[]a]", "[a-]", "[-a]", "x[^]"] {
            assert!(!glob_match(bad, "a"), "{bad}");
            let f = ListFilter {
                reference: vec![bad.into()],
                ..ListFilter::default()
            };
            let err = f.check().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        for good in ["[\\]]", "[\\-a]", "a\\[", "[a-z0-9]*"] {
            let chars: Vec<char> = good.chars().collect();
            assert!(pattern_is_valid(&chars), "{good}");
        }
        assert!(glob_match("[\\]]", "]"));
    }

    #[test]
    fn familiar_names_come_from_the_reference_grammar() {
        assert_eq!(familiar_name("docker.io/library/alpine"), "alpine");
        assert_eq!(familiar_name("docker.io/user/app"), "user/app");
        assert_eq!(
            familiar_name("127.0.0.1:5000/test/multi"),
            "127.0.0.1:5000/test/multi"
        );
        // Dropping docker.io/ here would read `localhost` as a domain.
        assert_eq!(
            familiar_name("docker.io/localhost/x"),
            "docker.io/localhost/x"
        );
        assert_eq!(familiar_name("Not A Name"), "Not A Name");
    }

    #[test]
    fn reference_matches_familiar_and_full_forms() {
        let f = ListFilter {
            reference: vec!["alpine".into()],
            ..ListFilter::default()
        };
        assert!(f.matches_reference(Some("docker.io/library/alpine"), Some("3.20")));
        assert!(!f.matches_reference(Some("docker.io/library/busybox"), Some("1")));
        assert!(!f.matches_reference(None, None));
        let f = ListFilter {
            reference: vec!["docker.io/*/alpine:3.*".into()],
            ..ListFilter::default()
        };
        assert!(f.matches_reference(Some("docker.io/library/alpine"), Some("3.20")));
        assert!(!f.matches_reference(Some("docker.io/library/alpine"), Some("edge")));
        let f = ListFilter {
            reference: vec!["nomatch".into(), "busy*:1".into()],
            ..ListFilter::default()
        };
        assert!(f.matches_reference(Some("docker.io/library/busybox"), Some("1")));
        assert!(!f.matches_reference(Some("docker.io/library/busybox"), None));
    }

    #[test]
    fn reference_matches_a_repo_digest() {
        let f = ListFilter {
            reference: vec!["alpine@sha256:ab*".into()],
            ..ListFilter::default()
        };
        let mut m = f.reference_matcher().unwrap().unwrap();
        let name = Some("docker.io/library/alpine");
        assert!(m.matches(name, Some("3"), Some("sha256:abcd")));
        assert!(!m.matches(name, Some("3"), Some("sha256:cd")));
        assert!(!m.matches(name, Some("3"), None));
    }
}
