//! Authentication challenges: what a registry's `WWW-Authenticate` asks for, and the scope
//! a request needs.
//!
//! Basic is answered with the user's credentials; Bearer with a token from the realm
//! (see [`super::token`]). Credentials themselves are found by [`super::credentials`].

/// What access a request needs, as a bearer token's scope names it
/// (`repository:library/alpine:pull,push`, `registry:catalog:*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Access to one repository.
    Repository {
        /// The repository path (`library/alpine`).
        name: String,
        /// Whether push is needed as well as pull.
        push: bool,
    },
    /// Pull and push access to `name` and pull access to `from`: a cross-repository
    /// mount, which the registry grants only to who may read the source.
    Mount {
        /// The target repository path.
        name: String,
        /// The source repository path.
        from: String,
    },
    /// The registry's catalog.
    Catalog,
    /// No particular resource (the `/v2/` ping).
    None,
}

impl Scope {
    /// Pull access to `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope::Repository {
            name: repository.to_owned(),
            push: false,
        }
    }

    /// Pull and push access to `repository`.
    pub fn push(repository: &str) -> Scope {
        Scope::Repository {
            name: repository.to_owned(),
            push: true,
        }
    }

    /// Pull and push access to `repository`, and pull access to `from`.
    pub fn mount(repository: &str, from: &str) -> Scope {
        Scope::Mount {
            name: repository.to_owned(),
            from: from.to_owned(),
        }
    }

    /// The scope string of the token protocol, or `None` for [`Scope::None`]; several
    /// scopes are separated by spaces (each goes as its own `scope` parameter).
    pub fn as_token_scope(&self) -> Option<String> {
        match self {
            Scope::Repository { name, push: false } => Some(format!("repository:{name}:pull")),
            Scope::Repository { name, push: true } => Some(format!("repository:{name}:pull,push")),
            Scope::Mount { name, from } => Some(format!(
                "repository:{name}:pull,push repository:{from}:pull"
            )),
            Scope::Catalog => Some("registry:catalog:*".to_owned()),
            Scope::None => None,
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic {
        /// The realm, for messages.
        realm: String,
    },
    /// `Bearer realm="…",service="…",scope="…"`: get a token from `realm`.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// The service the token is for.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
    },
    /// A scheme we do not know.
    Other(String),
}

impl Challenge {
    /// Parses one challenge (registries send one). Returns `None` for an empty header.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        if header.is_empty() {
            return None;
        }
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Challenge::Basic {
                realm: get("realm").unwrap_or_default(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Challenge::Bearer {
                realm: get("realm").unwrap_or_default(),
                service: get("service"),
                scope: get("scope"),
            })
        } else {
            Some(Challenge::Other(scheme.to_owned()))
        }
    }
}

/// `key="quoted, value",key2=token` → pairs; quotes and backslash escapes honoured.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic {
                realm: "basic-realm".into()
            })
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("Negotiate"),
            Some(Challenge::Other("Negotiate".into()))
        );
        assert_eq!(Challenge::parse("  "), None);
    }

    #[test]
    fn scopes_render_as_the_token_protocol_says() {
        assert_eq!(
            Scope::push("library/alpine").as_token_scope().unwrap(),
            "repository:library/alpine:pull,push"
        );
        assert_eq!(
            Scope::Catalog.as_token_scope().unwrap(),
            "registry:catalog:*"
        );
        assert_eq!(Scope::None.as_token_scope(), None);
        assert_eq!(
            Scope::mount("me/app", "me/base").as_token_scope().unwrap(),
            "repository:me/app:pull,push repository:me/base:pull"
        );
    }
}
