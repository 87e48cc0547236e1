//! Platforms (`linux/arm64/v8`): parsing, display, the host's, and matching as docker does.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// An image platform, as in an index entry's `platform` field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Platform {
    /// Processor architecture, GOARCH spelling (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// Operating system, GOOS spelling (`linux`).
    pub os: String,
    /// CPU variant (`v7`, `v8`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    /// OS version (Windows images).
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_version: Option<String>,
    /// OS features (Windows images).
    #[serde(
        rename = "os.features",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// Parses `os/arch[/variant]` as `--platform` takes it, normalising as containerd
    /// does (`x86_64` → `amd64`, `aarch64` → `arm64`, `arm64/v8` ≡ `arm64`).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::new(
                ErrorKind::Usage,
                format!("invalid platform {s:?}: expected os/arch[/variant], such as linux/arm64"),
            )
        };
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let os = parts[0].to_lowercase();
        let (architecture, mut variant) = normalize_arch(
            &parts[1].to_lowercase(),
            parts.get(2).map(|v| v.to_lowercase()),
        );
        if architecture == "arm64" && variant.as_deref() == Some("v8") {
            variant = None;
        }
        Ok(Platform {
            architecture,
            os,
            variant,
            os_version: None,
            os_features: None,
        })
    }

    /// The platform of this machine (linux/amd64 on x86_64, …).
    pub fn host() -> Platform {
        let (architecture, variant) = normalize_arch(std::env::consts::ARCH, None);
        let variant = if architecture == "arm" {
            Some("v7".to_owned())
        } else {
            variant
        };
        Platform {
            architecture,
            os: std::env::consts::OS.to_owned(),
            variant,
            os_version: None,
            os_features: None,
        }
    }

    /// Whether an index entry's platform `candidate` satisfies this wanted platform:
    /// os and architecture equal, variant equal when wanted (arm64's `v8` is the default).
    pub fn matches(&self, candidate: &Platform) -> bool {
        let norm = |p: &Platform| {
            let (a, v) = normalize_arch(&p.architecture, p.variant.clone());
            let v = if a == "arm64" && v.as_deref() == Some("v8") {
                None
            } else {
                v
            };
            (p.os.to_lowercase(), a, v)
        };
        let (wo, wa, wv) = norm(self);
        let (co, ca, cv) = norm(candidate);
        wo == co
            && wa == ca
            && (wv.is_none()
                || wv == cv
                || (wa == "arm" && cv.is_none() && wv.as_deref() == Some("v7")))
    }
}

fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64".to_owned(), None),
        "aarch64" => ("arm64".to_owned(), variant),
        "armhf" => ("arm".to_owned(), Some("v7".to_owned())),
        "armel" => ("arm".to_owned(), Some("v6".to_owned())),
        "x86" | "i386" | "i686" => ("386".to_owned(), None),
        other => (other.to_owned(), variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }

    #[test]
    fn matching_follows_containerd() {
        let want = Platform::parse("linux/arm64").unwrap();
        let mut cand = Platform::parse("linux/arm64").unwrap();
        cand.variant = Some("v8".into());
        assert!(want.matches(&cand));
        let want = Platform::parse("linux/arm/v7").unwrap();
        assert!(!want.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(!want.matches(&Platform::parse("linux/amd64").unwrap()));
    }
}
