//! From a reference's domain to the clients a pull tries, in order: the configured
//! mirrors, then the registry itself — each with its scheme policy, its certs.d trust and
//! client certificate, and the user's credentials for it.

use std::path::Path;

use super::credentials;
use super::{ClientCertPem, ClientOptions, RegistryClient, SchemePolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::reference::DOCKER_HUB_DOMAIN;
use crate::settings::{self, Config};

/// Where Docker Hub's registry API lives (`docker.io` is only its name).
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Retries of a request to a mirror: one, for a blip. A mirror that keeps failing is
/// left for the next endpoint after a fraction of a second, not after a registry's
/// seconds of backoff (twice over: the manifest HEAD, then its GET).
const MIRROR_RETRIES: u32 = 1;

/// One place to pull from.
#[derive(Debug)]
pub struct Endpoint {
    /// The client.
    pub client: RegistryClient,
    /// Whether this is a mirror (a failure there falls through to the next endpoint).
    pub mirror: bool,
}

/// How the user asked to treat TLS for this command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Security {
    /// `--insecure`: plain HTTP and unverified TLS allowed for every registry.
    pub insecure: bool,
}

/// The endpoints for `domain` (`docker.io`, `registry.lan:5000`): mirrors first, then the
/// registry itself.
pub fn endpoints(domain: &str, config: &Config, security: Security) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    for url in config.mirrors_for(domain) {
        let (scheme, host) = parse_mirror(url)?;
        let mut options = options_for(&host, config, security)?;
        // The mirror's URL says its scheme: `https://` is HTTPS only, even on loopback
        // (unless the mirror is listed as insecure, where docker tries both).
        if scheme == "http" {
            options.scheme = SchemePolicy::Http;
        } else if !options.tls_insecure {
            options.scheme = SchemePolicy::Https;
        }
        options.credentials = credentials::lookup(&host)?;
        options.retries = MIRROR_RETRIES;
        // A mirror that stopped answering is left for the registry after two stalls,
        // not after a registry's whole budget.
        options.stall_budget = options.stall_budget.min(options.stall_timeout * 2);
        out.push(Endpoint {
            client: RegistryClient::new(&host, options)?,
            mirror: true,
        });
    }
    let host = if domain == DOCKER_HUB_DOMAIN {
        DOCKER_HUB_HOST
    } else {
        domain
    };
    let mut options = options_for(host, config, security)?;
    // Credentials are stored under the name people log in with (docker.io), not the
    // API host.
    options.credentials = credentials::lookup(domain)?;
    out.push(Endpoint {
        client: RegistryClient::new(host, options)?,
        mirror: false,
    });
    Ok(out)
}

/// Client options for `host`: scheme and certs.d trust (credentials are the caller's:
/// they are stored under the name the user logs in with).
pub fn options_for(host: &str, config: &Config, security: Security) -> Result<ClientOptions> {
    let mut options = ClientOptions::for_host(host);
    options.stall_limits_from_env()?;
    if security.insecure || config.is_insecure(host) {
        // Docker's insecure registries: HTTPS without verification, else plain HTTP.
        options.scheme = SchemePolicy::HttpsThenHttp;
        options.tls_insecure = true;
    }
    for dir in settings::certs_dirs(host)? {
        read_certs_dir(&dir, &mut options)?;
    }
    Ok(options)
}

/// `*.crt` are CAs; `name.cert` with `name.key` is a client certificate (docker's rule).
/// CAs add up across directories; a client certificate is taken from the first one.
fn read_certs_dir(dir: &Path, options: &mut ClientOptions) -> Result<()> {
    let doing = || format!("reading certificates in {}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(e, doing()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(e, doing()));
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => options.ca_pems.push(read(&path)?),
            // The first directory with a client certificate wins: the user's own
            // certs.d is read before the system's, and must not be overridden by them.
            Some("cert") if options.client_cert.is_some() => {}
            Some("cert") => {
                let key = path.with_extension("key");
                if !key.is_file() {
                    return Err(Error::new(
                        ErrorKind::Tls,
                        format!(
                            "client certificate {} has no key: put it in {}",
                            path.display(),
                            key.display()
                        ),
                    ));
                }
                options.client_cert = Some(ClientCertPem {
                    cert_pem: read(&path)?,
                    key_pem: read(&key)?,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// `https://mirror.example:5000` → ("https", "mirror.example:5000").
fn parse_mirror(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Usage,
            format!("mirror {url:?} in the config: {why}"),
        )
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http(s)://host[:port]"))?;
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be http or https"));
    }
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(bad("a mirror is a host[:port], without a path"));
    }
    Ok((scheme.to_owned(), host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_parse() {
        assert_eq!(
            parse_mirror("https://m.example:5000/").unwrap(),
            ("https".into(), "m.example:5000".into())
        );
        assert!(parse_mirror("m.example").is_err());
        assert!(parse_mirror("ftp://m").is_err());
        assert!(parse_mirror("https://m/v2/x").is_err());
    }

    #[test]
    fn certs_dir_pairs_cert_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA").unwrap();
        std::fs::write(dir.path().join("client.cert"), "C").unwrap();
        let mut o = ClientOptions::default();
        let err = read_certs_dir(dir.path(), &mut o).unwrap_err();
        assert!(err.to_string().contains("has no key"), "{err}");
        std::fs::write(dir.path().join("client.key"), "K").unwrap();
        let mut o = ClientOptions::default();
        read_certs_dir(dir.path(), &mut o).unwrap();
        assert_eq!(o.ca_pems, vec![b"CA".to_vec()]);
        assert_eq!(o.client_cert.as_ref().unwrap().key_pem, b"K");

        // A later (system) directory adds its CAs but does not replace the client
        // certificate already found.
        let system = tempfile::tempdir().unwrap();
        std::fs::write(system.path().join("sys.crt"), "CA2").unwrap();
        std::fs::write(system.path().join("sys.cert"), "C2").unwrap();
        std::fs::write(system.path().join("sys.key"), "K2").unwrap();
        read_certs_dir(system.path(), &mut o).unwrap();
        assert_eq!(o.ca_pems, vec![b"CA".to_vec(), b"CA2".to_vec()]);
        assert_eq!(o.client_cert.unwrap().key_pem, b"K");
    }
}
