//! The patterns `img-search --registry HOST TERM` and `--filter tag=GLOB` match with: `*`
//! is any run of characters within one path component, `**` any run across `/`, `?` one
//! character other than `/`; everything else matches itself. A pattern matches the whole
//! name.

/// Whether `term` is a pattern rather than a plain substring to look for.
pub fn is_glob(term: &str) -> bool {
    term.contains(['*', '?'])
}

/// Whether `name` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // `memo[i][j]`: pattern from i against name from j, once computed (patterns are short
    // but `**` against a long name would otherwise backtrack exponentially).
    let mut memo = vec![vec![None; n.len() + 1]; p.len() + 1];
    at(&p, 0, &n, 0, &mut memo)
}

fn at(p: &[char], i: usize, n: &[char], j: usize, memo: &mut [Vec<Option<bool>>]) -> bool {
    if let Some(done) = memo[i][j] {
        return done;
    }
    let result = match p.get(i) {
        None => j == n.len(),
        Some('*') if p.get(i + 1) == Some(&'*') => {
            // `**` swallows anything, `/` included; `**/` may also match nothing at all.
            let rest = i + 2;
            (j..=n.len()).any(|k| at(p, rest, n, k, memo))
                || (p.get(rest) == Some(&'/') && at(p, rest + 1, n, j, memo))
        }
        Some('*') => {
            let mut k = j;
            loop {
                if at(p, i + 1, n, k, memo) {
                    break true;
                }
                if k == n.len() || n[k] == '/' {
                    break false;
                }
                k += 1;
            }
        }
        Some('?') => j < n.len() && n[j] != '/' && at(p, i + 1, n, j + 1, memo),
        Some(&c) => j < n.len() && n[j] == c && at(p, i + 1, n, j + 1, memo),
    };
    memo[i][j] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_within_a_component() {
        assert!(glob_match("app*", "app-1"));
        assert!(!glob_match("app*", "app/x"));
        assert!(glob_match("*/app", "team/app"));
        assert!(!glob_match("*/app", "a/team/app"));
        assert!(glob_match("**/app", "a/team/app"));
        assert!(glob_match("**/app", "app"));
        assert!(glob_match("team/**", "team/a/b"));
        assert!(glob_match("v1.?", "v1.2"));
        assert!(!glob_match("v1.?", "v1.10"));
        assert!(glob_match("v1.*", "v1.10.3"));
        assert!(!glob_match("v1.*", "v2.0"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a", "ab"));
    }

    #[test]
    fn long_names_do_not_backtrack_forever() {
        let name = "a/".repeat(200) + "b";
        assert!(!glob_match("**a**a**a**a**c", &name));
    }

    #[test]
    fn globs_are_recognised() {
        assert!(is_glob("a*"));
        assert!(is_glob("a?"));
        assert!(!is_glob("app"));
    }
}
