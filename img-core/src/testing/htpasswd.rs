//! htpasswd files for the registry's Basic auth: bcrypt (`$2y$`) entries only, the one
//! kind distribution 2.8 accepts.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// bcrypt's lowest cost: these files guard throwaway test registries, and every request
/// with Basic credentials makes the registry check the hash again.
const COST: u32 = 4;

/// One `user:$2y$…` line (without its newline).
pub fn htpasswd_line(user: &str, password: &str) -> Result<String> {
    if user.is_empty() || user.contains([':', '\n']) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("htpasswd user {user:?} must be non-empty, without ':' or newlines"),
        ));
    }
    let parts = bcrypt::hash_with_result(password, COST).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("hashing the password of {user:?}: {e}"),
        )
    })?;
    Ok(format!(
        "{user}:{}",
        parts.format_for_version(bcrypt::Version::TwoY)
    ))
}

/// Writes an htpasswd file of `users` (user, password) to `path`.
pub fn write_htpasswd(path: &Path, users: &[(&str, &str)]) -> Result<()> {
    let mut text = String::new();
    for (user, password) in users {
        text.push_str(&htpasswd_line(user, password)?);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| Error::io(e, format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_2y_bcrypt_that_verify() {
        let line = htpasswd_line("alice", "s3cret").unwrap();
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "alice");
        assert!(hash.starts_with("$2y$04$"), "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert!(!bcrypt::verify("other", hash).unwrap());
        assert!(htpasswd_line("a:b", "x").is_err());
    }
}
