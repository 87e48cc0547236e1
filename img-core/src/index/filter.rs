//! The filters of `img-ls` (docker's `--filter`): what SQL can decide, and the reference
//! glob that Rust decides.

use rusqlite::types::Value;

/// What [`Index::list_images`](super::Index::list_images) keeps. The default keeps all.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `dangling=true` keeps only untagged images, `dangling=false` only tagged ones.
    pub dangling: Option<bool>,
    /// `reference=PATTERN`, any of which may match (docker ORs them): a glob (`*`, `?`,
    /// `[…]`, where `*` does not cross `/`) matched against the repository, full or familiar
    /// (`docker.io/library/alpine` or `alpine`), alone or with `:tag`. Rows without a
    /// repository never match.
    pub reference: Vec<String>,
    /// `before=IMAGE`: only images created strictly before this time.
    pub before: Option<jiff::Timestamp>,
    /// `since=IMAGE`: only images created strictly after this time.
    pub since: Option<jiff::Timestamp>,
    /// `label=KEY` or `label=KEY=VALUE`, all of which must match.
    pub labels: Vec<(String, Option<String>)>,
}

impl ListFilter {
    /// The `WHERE` clause over `images` (aliased `i`) and its parameters.
    pub(super) fn where_clause(&self) -> (String, Vec<Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        match self.dangling {
            Some(true) => {
                clauses.push("NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id)".into())
            }
            Some(false) => {
                clauses.push("EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id)".into())
            }
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
        for (key, value) in &self.labels {
            params.push(Value::Text(key.clone()));
            let key_param = params.len();
            match value {
                Some(v) => {
                    params.push(Value::Text(v.clone()));
                    clauses.push(format!(
                        "EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id AND l.key = ?{key_param} AND l.value = ?{})",
                        params.len()
                    ));
                }
                None => clauses.push(format!(
                    "EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id AND l.key = ?{key_param})"
                )),
            }
        }
        if clauses.is_empty() {
            (String::new(), params)
        } else {
            (format!("WHERE {}", clauses.join(" AND ")), params)
        }
    }

    /// Whether a row for `repository` (full name) and `tag` passes the reference filters.
    pub(super) fn matches_reference(&self, repository: Option<&str>, tag: Option<&str>) -> bool {
        if self.reference.is_empty() {
            return true;
        }
        let Some(repo) = repository else {
            return false;
        };
        let familiar = familiar_name(repo);
        let mut candidates = vec![repo.to_owned(), familiar.to_owned()];
        if let Some(tag) = tag {
            candidates.push(format!("{repo}:{tag}"));
            candidates.push(format!("{familiar}:{tag}"));
        }
        self.reference
            .iter()
            .any(|pattern| candidates.iter().any(|c| glob_match(pattern, c)))
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

/// Docker's familiar form of a full name: `docker.io/library/alpine` → `alpine`,
/// `docker.io/user/app` → `user/app`, anything else unchanged.
// The reference module owns normalisation; this is the inverse of its two Docker Hub rules,
// kept here so the index does not depend on the full grammar.
fn familiar_name(full: &str) -> &str {
    match full.strip_prefix("docker.io/") {
        Some(rest) => rest.strip_prefix("library/").unwrap_or(rest),
        None => full,
    }
}

/// Go's `path.Match`: `*` matches any run of non-`/` characters, `?` one non-`/`
/// character, `[…]` a class (`[^…]` negated, ranges `a-z`), `\` escapes. A malformed
/// pattern matches nothing.
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            // Try every split of the non-`/` prefix of the name.
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if glob_at(rest, &n[i..]) {
                    return true;
                }
                if i == n.len() || n[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => matches!(n.first(), Some(c) if *c != '/') && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(&c) = n.first() else { return false };
            match class_match(&p[1..], c) {
                Some((matched, used)) => matched && glob_at(&p[1 + used..], &n[1..]),
                None => false,
            }
        }
        Some('\\') => match p.get(1) {
            Some(&lit) => n.first() == Some(&lit) && glob_at(&p[2..], &n[1..]),
            None => false,
        },
        Some(&lit) => n.first() == Some(&lit) && glob_at(&p[1..], &n[1..]),
    }
}

/// Matches `c` against the class starting after `[`; returns whether it matched and how many
/// pattern characters the class used (including the closing `]`), or `None` if malformed.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&h| h != ']') {
            hi = *p.get(i + 1)?;
            if hi == '\\' {
                hi = *p.get(i + 2)?;
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
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
        assert!(glob_match("[a-c]lpine", "alpine"));
        assert!(!glob_match("[^a]lpine", "alpine"));
        assert!(!glob_match("[a", "a"));
        assert!(!glob_match("alpine", "alpine:3"));
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
    }
}
