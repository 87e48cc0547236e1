//! A token server for the registry's `auth: token` mode, run by the test harness: it
//! checks Basic credentials, grants the scopes asked for, and issues ES256 JWTs whose
//! `x5c` header carries its certificate, which distribution 2.8 verifies against the
//! `rootcertbundle` in its config.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use super::registry::TokenAuthConfig;
use super::tls::SigningCert;
use crate::error::{Error, ErrorKind, Result};

/// The service name the registry and the token server agree on.
pub const SERVICE: &str = "img-test-registry";
/// The issuer the registry expects in tokens.
pub const ISSUER: &str = "img-test-token-server";

/// How long past its `exp` distribution 2.8 still accepts a token (its `token.Leeway`).
pub const REGISTRY_LEEWAY: Duration = Duration::from_secs(60);

/// How the token server behaves.
#[derive(Debug, Clone)]
pub struct TokenServerOptions {
    /// user → password.
    pub users: BTreeMap<String, String>,
    /// Whether anonymous requests get pull access.
    pub anonymous_pull: bool,
    /// How long the registry accepts the JWT, whatever `expires_in` says. Its `exp` is
    /// set [`REGISTRY_LEEWAY`] earlier, since distribution 2.8 accepts a token until a
    /// minute after its `exp`.
    pub jwt_lifetime: Duration,
    /// The `expires_in` reported to clients, in seconds (`None`: leave it out).
    pub expires_in: Option<u64>,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        TokenServerOptions {
            users: BTreeMap::new(),
            anonymous_pull: false,
            jwt_lifetime: Duration::from_secs(300),
            expires_in: Some(300),
        }
    }
}

/// One token request, for assertions.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// Whether a token was issued.
    pub granted: bool,
}

/// A running token server; stopped when dropped.
pub struct TokenServer {
    server: super::http::Server,
    cert_pem: String,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

struct Shared {
    options: TokenServerOptions,
    key: EcdsaKeyPair,
    x5c: String,
    rng: SystemRandom,
    serial: AtomicU64,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TokenServer {
    /// Starts the server on 127.0.0.1 with a fresh signing certificate.
    pub fn start(options: TokenServerOptions) -> Result<TokenServer> {
        let signing = SigningCert::new("img test token signer")?;
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &signing.key_pkcs8, &rng)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Tls,
                        format!("loading the token signing key: {e}"),
                    )
                })?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            options,
            key,
            x5c: STANDARD.encode(&signing.cert_der),
            rng,
            serial: AtomicU64::new(0),
            requests: requests.clone(),
        });
        let server = super::http::Server::start(move |conn| serve(conn, &shared))
            .map_err(|e| Error::io(e, "starting the token server"))?;
        Ok(TokenServer {
            server,
            cert_pem: signing.cert_pem,
            requests,
        })
    }

    /// The realm URL for the registry's config.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.host())
    }

    /// Its `host:port` (the realm's), for a proxy put in front of it.
    pub fn host(&self) -> &str {
        self.server.addr()
    }

    /// The certificate to put in the registry's `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The registry's settings for this server ([`TestRegistryBuilder::token_auth`]),
    /// with its signing certificate written to `bundle_path` as the `rootcertbundle`.
    ///
    /// [`TestRegistryBuilder::token_auth`]: super::TestRegistryBuilder::token_auth
    pub fn auth_config(&self, bundle_path: &Path) -> Result<TokenAuthConfig> {
        std::fs::write(bundle_path, &self.cert_pem)
            .map_err(|e| Error::io(e, format!("writing {}", bundle_path.display())))?;
        Ok(TokenAuthConfig {
            realm: self.realm(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle: bundle_path.to_owned(),
        })
    }

    /// How many tokens it issued so far (requests granted).
    pub fn issued(&self) -> usize {
        self.requests().iter().filter(|r| r.granted).count()
    }

    /// Every token request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut auth = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("authorization")
        {
            auth = Some(v.trim().to_owned());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = super::http::percent_decode(v);
        match k {
            "scope" => scopes.push(v),
            "service" => service = v,
            _ => {}
        }
    }
    let (status, body, user, granted) = answer(shared, auth.as_deref(), &service, &scopes);
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(TokenRequest {
            scopes,
            user,
            granted,
        });
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

fn answer(
    shared: &Shared,
    auth: Option<&str>,
    service: &str,
    scopes: &[String],
) -> (&'static str, String, Option<String>, bool) {
    let denied = |why: &str| {
        (
            "401 Unauthorized",
            format!(r#"{{"details":"{why}"}}"#),
            None,
            false,
        )
    };
    let user = match auth.and_then(|a| a.strip_prefix("Basic ")) {
        Some(b64) => {
            let decoded = STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return denied("malformed basic credentials");
            };
            if shared.options.users.get(u).map(String::as_str) != Some(p) {
                // Recorded with the user it named, so a test sees whose login was refused.
                let (status, body, _, granted) = denied("invalid username or password");
                return (status, body, Some(u.to_owned()), granted);
            }
            Some(u.to_owned())
        }
        None => None,
    };
    if user.is_none() && !shared.options.anonymous_pull {
        return denied("authentication required");
    }
    if service != SERVICE {
        return denied("unknown service");
    }
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> = actions
                .split(',')
                .filter(|a| user.is_some() || *a == "pull")
                .collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": SERVICE,
        // Short lifetimes give an `exp` in the past: only the registry's leeway is left.
        "exp": (now + shared.options.jwt_lifetime.as_secs()).saturating_sub(REGISTRY_LEEWAY.as_secs()),
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("img-{}", shared.serial.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [shared.x5c]});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let Ok(sig) = shared.key.sign(&shared.rng, signing_input.as_bytes()) else {
        return ("500 Internal Server Error", "{}".to_owned(), user, false);
    };
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let mut body =
        serde_json::json!({"token": jwt, "issued_at": jiff::Timestamp::now().to_string()});
    if let Some(e) = shared.options.expires_in {
        body["expires_in"] = e.into();
    }
    ("200 OK", body.to_string(), user, true)
}
