//! A registry that requires htpasswd Basic auth over TLS, beside the CA that signed its
//! certificate: the registry the auth tests of img-pull, img-search, img-login and
//! img-push all start (the registry refuses Basic auth over plain HTTP, so the two come
//! together).

use crate::error::{Error, Result};

use super::htpasswd::write_htpasswd;
use super::registry::TestRegistry;
use super::tls::TestCa;

/// A running Basic-auth TLS registry and its CA. The certificate, key and htpasswd files
/// live in a temporary directory kept as long as the registry runs.
pub struct BasicTlsRegistry {
    /// The registry (`https://`, [`TestRegistry::client_as`] pushes to it).
    pub registry: TestRegistry,
    /// The CA its certificate is signed by, for `certs.d` or `--cert-dir`.
    pub ca: TestCa,
    _files: tempfile::TempDir,
}

impl BasicTlsRegistry {
    /// Starts a registry that lets in `users` (name, password), its certificate issued by
    /// a fresh CA called `ca_name` (the name tells a test's CA apart in a TLS error).
    pub fn start(ca_name: &str, users: &[(&str, &str)]) -> Result<BasicTlsRegistry> {
        let files = tempfile::tempdir().map_err(|e| Error::io(e, "creating a temporary dir"))?;
        let ca = TestCa::new(ca_name)?;
        let leaf = ca.server_cert()?;
        let (cert, key, htpasswd) = (
            files.path().join("leaf.crt"),
            files.path().join("leaf.key"),
            files.path().join("htpasswd"),
        );
        for (path, pem) in [(&cert, &leaf.cert_pem), (&key, &leaf.key_pem)] {
            std::fs::write(path, pem)
                .map_err(|e| Error::io(e, format!("writing {}", path.display())))?;
        }
        write_htpasswd(&htpasswd, users)?;
        let registry = TestRegistry::builder()
            .tls(&cert, &key)
            .htpasswd(&htpasswd)
            .start()?;
        Ok(BasicTlsRegistry {
            registry,
            ca,
            _files: files,
        })
    }

    /// The registry's `host:port`.
    pub fn host(&self) -> String {
        self.registry.addr()
    }
}
