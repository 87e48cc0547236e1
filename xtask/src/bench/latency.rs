//! The token-auth set-up the round-trip benches (pull_rtt.rs, push_rtt.rs) measure through:
//! img-core's token server behind the latency proxy, and docker-registries that take its
//! tokens, each behind a proxy of its own, every request counted in one `Traffic`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use img_core::testing::latency::{LatencyProxy, Traffic};
use img_core::testing::token_server::{TokenServer, TokenServerOptions};
use img_core::testing::{TestRegistry, TokenAuthConfig};

/// The one user the token server knows.
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-Pa55";

/// A token server behind the latency proxy; stopped when dropped.
pub struct TokenAuth {
    rtt: Duration,
    traffic: Arc<Traffic>,
    /// The registries' settings: the realm names the proxied server, so that a token
    /// costs round trips too.
    config: TokenAuthConfig,
    // The proxy goes before the server it forwards to.
    _proxy: LatencyProxy,
    _server: TokenServer,
}

impl TokenAuth {
    /// Starts the token server (`anonymous_pull` as asked) behind a proxy of `rtt`, its
    /// signing certificate written in `work`; `traffic` counts (and caps) every proxy's
    /// requests.
    pub fn start(
        work: &Path,
        rtt: Duration,
        traffic: Arc<Traffic>,
        anonymous_pull: bool,
    ) -> Result<TokenAuth, String> {
        let server = TokenServer::start(TokenServerOptions {
            users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]),
            anonymous_pull,
            ..TokenServerOptions::default()
        })
        .map_err(|e| e.to_string())?;
        let proxy = LatencyProxy::start(server.host(), rtt, traffic.clone())
            .map_err(|e| format!("starting the token proxy: {e}"))?;
        let config = TokenAuthConfig {
            realm: format!("http://{}/token", proxy.addr()),
            ..server
                .auth_config(&work.join("token-signer.pem"))
                .map_err(|e| e.to_string())?
        };
        Ok(TokenAuth {
            rtt,
            traffic,
            config,
            _proxy: proxy,
            _server: server,
        })
    }

    /// What every proxy counts.
    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    /// Starts a docker-registry in `workdir` that takes this server's tokens (not
    /// proxied: see [`TokenAuth::proxy`]).
    pub fn registry(&self, workdir: PathBuf) -> Result<TestRegistry, String> {
        TestRegistry::builder()
            .workdir(workdir)
            .token_auth(self.config.clone())
            .start()
            .map_err(|e| e.to_string())
    }

    /// `registry` behind a latency proxy of the same RTT, counted in the same traffic.
    pub fn proxy(&self, registry: &TestRegistry) -> Result<LatencyProxy, String> {
        LatencyProxy::start(&registry.addr(), self.rtt, self.traffic.clone())
            .map_err(|e| format!("starting the registry proxy: {e}"))
    }
}
