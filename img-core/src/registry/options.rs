//! How to reach one registry: scheme policy, TLS trust and client certificates,
//! credentials, user agent and upload/listing sizes — and the ureq agent built from them.

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};

/// Which scheme to speak to a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemePolicy {
    /// HTTPS only (the default for every non-loopback registry).
    Https,
    /// Plain HTTP only: an insecure registry the user listed.
    Http,
    /// HTTPS first, plain HTTP when HTTPS cannot be spoken (not when the certificate is
    /// untrusted); the scheme that answered is kept for the client's life. Docker does
    /// this for loopback registries.
    HttpsThenHttp,
}

impl SchemePolicy {
    /// Docker's default for `host`: [`SchemePolicy::HttpsThenHttp`] for a loopback host
    /// — an address of 127.0.0.0/8 or ::1, `localhost`, or a name that resolves to
    /// loopback addresses only (`/etc/hosts` entries such as the machine's own name) —
    /// and [`SchemePolicy::Https`] otherwise.
    pub fn default_for(host: &str) -> SchemePolicy {
        if is_loopback_host(host) || resolves_to_loopback(host) {
            SchemePolicy::HttpsThenHttp
        } else {
            SchemePolicy::Https
        }
    }
}

/// Whether `host` (`host[:port]`, `[v6]:port`) names the loopback interface: 127.0.0.0/8,
/// ::1 or `localhost`. Names are not resolved.
pub fn is_loopback_host(host: &str) -> bool {
    let name = host_name(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]`, `[v6]:port` or a bare IPv6 address → the name or address alone.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if host.matches(':').count() > 1 {
        host // a bare IPv6 address
    } else {
        host.split(':').next().unwrap_or("")
    }
}

/// Whether the name in `host` resolves, and only to loopback addresses (docker resolves
/// registry names the same way to find the loopback ones). Addresses are not looked up;
/// a name that does not resolve is not loopback: HTTPS only.
fn resolves_to_loopback(host: &str) -> bool {
    use std::net::ToSocketAddrs;
    let name = host_name(host);
    if name.is_empty() || host.starts_with('[') || name.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// A client certificate chain and its key, PEM-encoded (certs.d's `*.cert` and `*.key`).
#[derive(Clone)]
pub struct ClientCertPem {
    /// The certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The private key.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientCertPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCertPem { .. }")
    }
}

/// Everything that decides how a [`super::RegistryClient`] talks to its registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// HTTPS, HTTP, or HTTPS then HTTP.
    pub scheme: SchemePolicy,
    /// Accept any server certificate (an insecure registry served over HTTPS).
    pub tls_insecure: bool,
    /// Extra trusted CAs (PEM), trusted in addition to the system's pool
    /// (`$SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt`), as docker trusts
    /// certs.d CAs; a machine with neither falls back to Mozilla's roots.
    pub ca_pems: Vec<Vec<u8>>,
    /// A client certificate for mutual TLS.
    pub client_cert: Option<ClientCertPem>,
    /// Credentials to answer a Basic challenge with (and, later, to get tokens).
    pub credentials: Option<Credentials>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// `None` (the default): each blob streams up in one PUT, and goes in PATCH chunks
    /// only when the registry asks (an `OCI-Chunk-Min-Length` on the upload it opens, or a
    /// 413 to a whole blob), as docker sends one stream; `Some(n)`: blobs larger than `n`
    /// always go in chunks of `n` bytes.
    pub chunk_size: Option<u64>,
    /// Asked as `n` when listing tags and the catalog (`None`: the registry's default).
    pub list_page_size: Option<u32>,
    /// How long to wait for a connection (TLS handshake included).
    pub connect_timeout: Duration,
    /// How long one read or write may make no progress before the request gives up (a
    /// stuck download): per read, so a slow download that keeps moving is never cut.
    /// `IMG_STALL_TIMEOUT` sets it for a command; 30 s by default.
    pub stall_timeout: Duration,
    /// How long a host may send nothing at all, across retries, before the client gives
    /// up on it for the rest of its life (`IMG_STALL_BUDGET`; four stall timeouts, two
    /// minutes, by default).
    pub stall_budget: Duration,
    /// How many times a request that got no good answer (a reset, a 5xx, a 429) is sent
    /// again: five times for a registry; fewer for a mirror, where the
    /// origin is a better next try than seconds of backoff.
    pub retries: u32,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            scheme: SchemePolicy::Https,
            tls_insecure: false,
            ca_pems: Vec::new(),
            client_cert: None,
            credentials: None,
            user_agent: format!("img/{}", env!("CARGO_PKG_VERSION")),
            chunk_size: None,
            list_page_size: None,
            connect_timeout: DEFAULT_STALL_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            stall_budget: DEFAULT_STALL_TIMEOUT * STALL_BUDGET_FACTOR,
            retries: super::retry::MAX_RETRIES,
        }
    }
}

impl ClientOptions {
    /// Default options with docker's scheme policy for `host`.
    pub fn for_host(host: &str) -> ClientOptions {
        ClientOptions {
            scheme: SchemePolicy::default_for(host),
            ..ClientOptions::default()
        }
    }

    /// Applies `IMG_STALL_TIMEOUT` and `IMG_STALL_BUDGET` (`30s`, `500ms`, `2m`): the
    /// timeout alone sets the budget to four of it. A malformed value is a usage error.
    pub fn stall_limits_from_env(&mut self) -> Result<()> {
        let (timeout, budget) = super::stall::from_env()?;
        if let Some(t) = timeout {
            self.stall_timeout = t;
            self.connect_timeout = t;
            self.stall_budget = t * STALL_BUDGET_FACTOR;
        }
        if let Some(b) = budget {
            self.stall_budget = b;
        }
        Ok(())
    }
}

/// No data for this long and a request gives up.
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The budget of a host that stopped answering, in stall timeouts.
const STALL_BUDGET_FACTOR: u32 = 4;

const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The system's CA bundle: `SSL_CERT_FILE` when set (Go, and so docker, honour it too),
/// else Debian's bundle.
fn system_bundle() -> std::path::PathBuf {
    match std::env::var_os("SSL_CERT_FILE") {
        Some(p) if !p.is_empty() => p.into(),
        _ => SYSTEM_CA_BUNDLE.into(),
    }
}

/// Idle connections kept a host: more than a pull's most parallel transfers
/// ([`crate::ops::pull::SMALL_BLOB_JOBS`]).
pub const MAX_IDLE_CONNECTIONS: usize = 64;

/// The one agent for a registry: its TLS settings, timeouts, and the rules we rely on
/// (statuses are not errors, so error bodies can be read; redirects are not followed by
/// ureq, whose same-host rule ignores the port, but by [`super::transport`], which
/// attaches Authorization per hop only for the exact origin it belongs to).
pub(crate) fn build_agent(opts: &ClientOptions) -> Result<ureq::Agent> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .user_agent(opts.user_agent.as_str())
        .tls_config(tls_config(opts)?)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.stall_timeout))
        .timeout_per_write(Some(opts.stall_timeout))
        // Every parallel transfer's connection goes back to the pool and is reused by the
        // next blob: ureq's default keeps only 3 a host, so a pull of many small blobs
        // opened (and paid a round trip for) a new connection for most of them.
        .max_idle_connections(MAX_IDLE_CONNECTIONS)
        .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn tls_config(opts: &ClientOptions) -> Result<TlsConfig> {
    let mut builder = TlsConfig::builder().disable_verification(opts.tls_insecure);
    // Docker trusts the system's CA pool plus certs.d's CAs; so do we. Only a machine
    // without a system bundle falls back to Mozilla's roots built into ureq.
    let system = if opts.tls_insecure {
        None
    } else {
        std::fs::read(system_bundle()).ok()
    };
    if system.is_some() || !opts.ca_pems.is_empty() {
        let mut roots: Vec<Certificate<'static>> = Vec::new();
        if let Some(bundle) = &system {
            roots.extend(certificates(bundle, "the system CA bundle")?);
        }
        for pem in &opts.ca_pems {
            let found = certificates(pem, "a CA certificate")?;
            if found.is_empty() {
                return Err(Error::new(
                    ErrorKind::Tls,
                    "a CA file holds no PEM certificate: check the registry's certs.d",
                ));
            }
            roots.extend(found);
        }
        builder = builder.root_certs(RootCerts::Specific(Arc::new(roots)));
    }
    if let Some(cc) = &opts.client_cert {
        let chain = certificates(&cc.cert_pem, "the client certificate")?;
        if chain.is_empty() {
            return Err(Error::new(
                ErrorKind::Tls,
                "the client certificate file holds no PEM certificate",
            ));
        }
        let key = PrivateKey::from_pem(&cc.key_pem).map_err(|e| {
            Error::new(
                ErrorKind::Tls,
                format!("reading the client key: {}", pem_reason(&e)),
            )
        })?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<Certificate<'static>>> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!("reading {what}: {}", pem_reason(&e)),
                ));
            }
        }
    }
    Ok(out)
}

/// A PEM error's reason; never the PEM's content (a key must not reach a message).
fn pem_reason(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Tls(s) => s.to_lowercase(),
        _ => "malformed PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "LOCALHOST:5000",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
            assert_eq!(SchemePolicy::default_for(h), SchemePolicy::HttpsThenHttp);
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_loopback_host(h), "{h}");
            assert_eq!(SchemePolicy::default_for(h), SchemePolicy::Https);
        }
    }

    /// The positive case needs a name in /etc/hosts: img-pull's tests resolve the
    /// machine's own name.
    #[test]
    fn addresses_are_not_looked_up_and_unknown_names_are_not_loopback() {
        assert!(!resolves_to_loopback("127.0.0.1:5000"));
        assert!(!resolves_to_loopback("192.0.2.7:5000"));
        assert!(!resolves_to_loopback("[::1]:5000"));
        assert!(!resolves_to_loopback("no-such-host.invalid:5000"));
        assert_eq!(
            SchemePolicy::default_for("no-such-host.invalid:5000"),
            SchemePolicy::Https
        );
    }

    #[test]
    fn default_user_agent_names_img() {
        let o = ClientOptions::default();
        assert!(o.user_agent.starts_with("img/"), "{}", o.user_agent);
        assert_eq!(o.scheme, SchemePolicy::Https);
    }

    #[test]
    fn bad_pems_are_tls_errors_without_content() {
        let opts = ClientOptions {
            ca_pems: vec![b"not a pem".to_vec()],
            ..ClientOptions::default()
        };
        let err = build_agent(&opts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls);
        let opts = ClientOptions {
            client_cert: Some(ClientCertPem {
                cert_pem: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                    .to_vec(),
                key_pem: b"secret-key-material".to_vec(),
            }),
            ..ClientOptions::default()
        };
        let err = build_agent(&opts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(!err.to_string().contains("secret-key-material"), "{err}");
    }
}
