//! The client for one registry: its agent, the scheme it settled on, the Authorization it
//! earned, and the one `send` every request of the fetch, list and push code goes through.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::auth::{Challenge, Scope};
use super::credentials::Credentials;
use super::error::{is_certificate_error, read_error_body};
use super::http::{Request, Response, Target, expect, header};
use super::options::{ClientOptions, SchemePolicy, build_agent};
use super::retry;
use super::stall::{StallReader, Watchdog, is_stall};
use super::token::{TokenCache, fetch_token};
use super::transport::{Exchange, Origin, answered_by, answering_origin, execute};
use crate::error::{Answer, Error, ErrorKind, Result};

/// A client for one registry host (`host[:port]`), safe to share between threads.
///
/// Every request goes through one `ureq::Agent` (one connection pool, one TLS setting).
/// The scheme is decided on first use and kept; a Basic challenge is answered once with
/// the configured credentials and the header reused for later requests.
pub struct RegistryClient {
    host: String,
    options: ClientOptions,
    agent: ureq::Agent,
    /// `scheme://host`, once decided.
    base: Mutex<Option<String>>,
    auth: Mutex<AuthState>,
    tokens: TokenCache,
    /// Held while a token is fetched: the parallel first requests of a push (its HEADs)
    /// would otherwise each ask the realm for the same scope's token.
    token_fetch: Mutex<()>,
    /// Stalls of the registry, of where it redirects and of its token realm.
    watchdog: Arc<Watchdog>,
    /// Set once the registry refused a blob in one request (413): blobs then go up in
    /// chunks (push.rs).
    pub(super) wants_chunks: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("host", &self.host)
            .field("scheme", &self.options.scheme)
            .finish_non_exhaustive()
    }
}

/// What we send in `Authorization`: Basic once the registry asked for it, or bearer
/// tokens per scope once it named a token realm.
#[derive(Default)]
struct AuthState {
    /// `Basic …`, set once the registry asked for Basic and we had credentials.
    basic: Option<String>,
    /// The token realm and service, once a Bearer challenge named them: later scopes get
    /// their token before the request instead of after a 401.
    bearer: Option<(String, Option<String>)>,
}

impl RegistryClient {
    /// A client for `host` (`registry.example:5000`, `127.0.0.1:5000`, `[::1]:5000`).
    /// Nothing is sent until the first request.
    pub fn new(host: &str, options: ClientOptions) -> Result<RegistryClient> {
        check_host(host)?;
        let agent = build_agent(&options).map_err(|e| e.context(format!("configuring {host}")))?;
        let base = match options.scheme {
            SchemePolicy::Https => Some(format!("https://{host}")),
            SchemePolicy::Http => Some(format!("http://{host}")),
            SchemePolicy::HttpsThenHttp => None,
        };
        let watchdog = Arc::new(Watchdog::new(options.stall_timeout, options.stall_budget));
        Ok(RegistryClient {
            host: host.to_owned(),
            options,
            agent,
            base: Mutex::new(base),
            auth: Mutex::new(AuthState::default()),
            tokens: TokenCache::default(),
            token_fetch: Mutex::new(()),
            watchdog,
            wants_chunks: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The registry host this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// `scheme://host`, deciding the scheme first if the policy leaves it open: HTTPS is
    /// tried with a `GET /v2/`, then plain HTTP unless HTTPS failed on a certificate (the
    /// server speaks TLS; plain HTTP would only hide the problem).
    pub fn base_url(&self) -> Result<String> {
        let mut base = lock(&self.base);
        if let Some(b) = base.as_ref() {
            return Ok(b.clone());
        }
        let https = format!("https://{}", self.host);
        let http = format!("http://{}", self.host);
        // Both asked at once (a distant registry's round trips are the cost of a pull);
        // HTTPS still wins whenever it answers, and a certificate error is still the
        // answer. The probe carries no credentials, so asking over HTTP reveals nothing.
        // The plain probe runs on a thread of its own that nobody waits for once HTTPS
        // answered: a TLS server that holds plain-HTTP connections open without a word
        // would otherwise hold the decision up to the stall timeout.
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (agent, watchdog, http) = (self.agent.clone(), self.watchdog.clone(), http.clone());
            std::thread::spawn(move || {
                let _ = tx.send(probe(&agent, &watchdog, &http));
            });
        }
        let secure = probe(&self.agent, &self.watchdog, &https);
        // Only the decided scheme's challenge is kept: a realm read over plain HTTP while
        // HTTPS answered could be anyone's, and credentials go to the realm.
        let (decided, realm) = match secure {
            Ok(realm) => (https, realm),
            Err(e) if is_certificate_error(&e) => return Err(e),
            Err(e) => match rx.recv() {
                Ok(Ok(realm)) => (http, realm),
                Ok(Err(e)) => return Err(e),
                // The probe's thread ended without an answer (a panic): HTTPS's error.
                Err(_) => return Err(e),
            },
        };
        if let Some(realm) = realm {
            lock(&self.auth).bearer.get_or_insert(realm);
        }
        *base = Some(decided.clone());
        Ok(decided)
    }

    /// Checks that the registry speaks the distribution API and accepts us: `GET /v2/`,
    /// answering an authentication challenge if credentials allow.
    pub fn ping(&self) -> Result<()> {
        let ctx = || format!("checking registry {}", self.host);
        let resp = self
            .send(Request::new("GET", "/v2/".to_owned(), Scope::None))
            .map_err(|e| e.context(ctx()))?;
        expect(resp, &[200]).map_err(|e| e.context(ctx()))?;
        Ok(())
    }

    /// Sends `req`, adding Authorization on this registry only, and answers one
    /// authentication challenge when the body can be sent again. Returns any status; a
    /// transport failure is an error.
    pub(crate) fn send(&self, mut req: Request<'_>) -> Result<Response> {
        // Only requests that change nothing are retried: a repeated POST could open a
        // second upload, a repeated PATCH would append twice.
        let idempotent = matches!(req.method, "GET" | "HEAD") && req.body.replayable();
        let mut attempt = 0;
        let mut stalled = false;
        loop {
            let result = self.send_once(&mut req);
            let wait = match &result {
                // A refused connection is no transient failure: nothing listens there,
                // and seconds of backoff would only delay saying so. A stall is tried
                // once more (the callers retry too, and the watchdog bounds the whole);
                // a host given up on for stalling would fail again at once.
                Err(e)
                    if idempotent
                        && e.kind() == ErrorKind::Network
                        && e.io_kind() != Some(std::io::ErrorKind::ConnectionRefused)
                        && !(stalled && is_stall(e))
                        && !self.watchdog.has_given_up() =>
                {
                    stalled |= is_stall(e);
                    Some(retry::backoff(attempt))
                }
                Ok(resp)
                    if idempotent
                        && attempt < self.options.retries
                        && retry::is_transient(resp.status().as_u16()) =>
                {
                    match header(resp, "retry-after").and_then(|v| retry::parse_retry_after(&v)) {
                        Some(asked) => Some(self.asked_wait(resp, asked)?),
                        None => Some(retry::backoff(attempt)),
                    }
                }
                _ => None,
            };
            match wait {
                Some(wait) if attempt < self.options.retries => {
                    if let Ok(resp) = result {
                        if let Some(host) = answered_by(&resp) {
                            // It answered: busy, not stalled.
                            self.watchdog.progress(&host);
                        }
                        let _ = read_error_body(resp.into_body());
                    }
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    /// A server that answers "wait" is not stalled: its wait is honoured up to
    /// [`retry::MAX_WAIT`] and said on stderr; a longer one ends the request, saying so.
    fn asked_wait(
        &self,
        resp: &Response,
        asked: std::time::Duration,
    ) -> Result<std::time::Duration> {
        let host = answered_by(resp).unwrap_or_else(|| self.host.clone());
        let status = resp.status();
        let why = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let secs = asked.as_secs() + u64::from(asked.subsec_nanos() > 0);
        if asked > retry::MAX_WAIT {
            return Err(Error::new(
                ErrorKind::Registry,
                format!(
                    "{host} asks to wait {secs} s ({}), more than the {} s img waits: try again later",
                    why.trim_end(),
                    retry::MAX_WAIT.as_secs()
                ),
            ));
        }
        retry::notice(&format!(
            "{host} asks to wait {secs} s ({})",
            why.trim_end()
        ));
        Ok(asked)
    }

    fn send_once(&self, req: &mut Request<'_>) -> Result<Response> {
        let base = self.base_url()?;
        let url = match &req.target {
            Target::Path(p) => format!("{base}{p}"),
            Target::Url(u) => u.clone(),
        };
        // Credentials never go to another origin (another host, another port of this
        // host, or this host over another scheme): a Location or Link may point anywhere.
        let origin = Origin::of(&base)?;
        let same_origin = Origin::of(&url)? == origin;
        let mut answered = false;
        loop {
            let auth = if same_origin {
                self.authorization(&req.scope)?
            } else {
                None
            };
            let resp = self.call(req, &url, auth.as_deref().map(|a| (&origin, a)))?;
            // Only the registry's own challenge is answered, never one from where a
            // redirect led.
            let from_registry = answering_origin(&resp).as_ref() == Some(&origin);
            if resp.status().as_u16() == 401 && same_origin && from_registry {
                let challenge = header(&resp, "www-authenticate")
                    .as_deref()
                    .and_then(Challenge::parse);
                if !answered
                    && req.body.replayable()
                    && let Some(challenge) = &challenge
                    && self.answer(challenge, &req.scope, auth.is_some())?
                {
                    let _ = read_error_body(resp.into_body());
                    answered = true;
                    continue;
                }
                // Refused for good: say whether our credentials were wrong or missing,
                // rather than the registry's bare "authentication required" — also when
                // the refusal is the answer to the retry that sent them (the first
                // request a command makes, such as img-search's catalog).
                if let Some(e) = self.basic_refusal(challenge.as_ref(), auth.is_some()) {
                    let _ = read_error_body(resp.into_body());
                    return Err(e);
                }
            }
            if resp.status().as_u16() == 401
                && same_origin
                && !from_registry
                && let Some(other) = answered_by(&resp)
            {
                // A redirect led elsewhere, and that server wants credentials: they are
                // never sent there, so say why rather than "authentication required".
                let _ = read_error_body(resp.into_body());
                return Err(Error::new(
                    ErrorKind::Unauthorized,
                    format!(
                        "{} redirected to {other}, which asks for credentials: img sends them only to {} itself",
                        self.host,
                        origin.shown()
                    ),
                ));
            }
            return Ok(resp);
        }
    }

    /// The scope string a token for `scope` is asked with; the `/v2/` ping borrows the
    /// challenge's own scope, if any.
    fn token_scope(scope: &Scope, challenged: Option<&str>) -> String {
        scope
            .as_token_scope()
            .or_else(|| challenged.map(str::to_owned))
            .unwrap_or_default()
    }

    /// A fresh token for `scope` from the known realm, cached.
    fn token_for(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        if let Some(t) = self.tokens.get(scope) {
            return Ok(t.header());
        }
        // One fetch at a time; who waited takes the token the fetch before it cached.
        let _fetching = lock(&self.token_fetch);
        if let Some(t) = self.tokens.get(scope) {
            return Ok(t.header());
        }
        // A mount's scope is two: one `scope` parameter each, as docker sends them.
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        let token = fetch_token(
            &self.agent,
            &self.watchdog,
            realm,
            service,
            &scopes,
            self.options.credentials.as_ref(),
        )
        .map_err(|e| e.context(format!("authenticating to {}", self.host)))?;
        let header = token.header();
        self.tokens.put(scope, token);
        Ok(header)
    }

    /// The Authorization value for `scope`, if we have one: Basic once asked for, or a
    /// bearer token (fetched now if the realm is known and the cached one expired).
    fn authorization(&self, scope: &Scope) -> Result<Option<String>> {
        let (basic, bearer) = {
            let auth = lock(&self.auth);
            (auth.basic.clone(), auth.bearer.clone())
        };
        if basic.is_some() {
            return Ok(basic);
        }
        match bearer {
            Some((realm, service)) => {
                let scope = Self::token_scope(scope, None);
                self.token_for(&realm, service.as_deref(), &scope).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Prepares an answer to `challenge` to a request that carried an Authorization
    /// (`sent`) or not; true when a retry may now succeed.
    fn answer(&self, challenge: &Challenge, scope: &Scope, sent: bool) -> Result<bool> {
        match challenge {
            Challenge::Basic { .. } => {
                let mut auth = lock(&self.auth);
                let header = self
                    .options
                    .credentials
                    .as_ref()
                    .and_then(Credentials::basic_header);
                match (header, &auth.basic) {
                    // Sent and refused: the credentials are wrong.
                    (_, Some(_)) if sent => Ok(false),
                    // Another thread's request was challenged first and the credentials
                    // are ready now (a push's parallel HEADs): this one was sent without.
                    (Some(_), Some(_)) => Ok(true),
                    (None, _) => Ok(false),
                    (Some(h), None) => {
                        auth.basic = Some(h);
                        Ok(true)
                    }
                }
            }
            Challenge::Bearer {
                realm,
                service,
                scope: challenged,
            } => {
                lock(&self.auth).bearer = Some((realm.clone(), service.clone()));
                // The token we sent was refused — expired early, or revoked: get a new one
                // rather than trusting its announced lifetime. A request that went without
                // one refused nothing: the token another thread's challenge fetched
                // meanwhile is good.
                let scope = Self::token_scope(scope, challenged.as_deref());
                if sent {
                    self.tokens.invalidate(&scope);
                }
                self.token_for(realm, service.as_deref(), &scope)?;
                Ok(true)
            }
            Challenge::Other(_) => Ok(false),
        }
    }

    /// Why a Basic challenge we cannot answer (again) ends the request: the stored
    /// credentials were refused, or there are none. Names the user, never the secret.
    /// `sent` says whether this request carried an Authorization: stored credentials never
    /// sent (a body that cannot be replayed) were not refused.
    fn basic_refusal(&self, challenge: Option<&Challenge>, sent: bool) -> Option<Error> {
        if !matches!(challenge, Some(Challenge::Basic { .. })) {
            return None;
        }
        if self.options.credentials.is_some() && !sent {
            return None;
        }
        let message = match self.options.credentials.as_ref() {
            Some(c) => match c.username() {
                Some(user) => format!(
                    "the registry refused the credentials of {user:?}: check the password stored for {} (log in again)",
                    self.host
                ),
                None => format!(
                    "the registry wants a user name and password; the credentials stored for {} hold only a token: log in with a password",
                    self.host
                ),
            },
            None => format!(
                "authentication required and no credentials are stored for {}: log in first",
                self.host
            ),
        };
        Some(Error::new(ErrorKind::Unauthorized, message).with_answer(Answer::Credentials))
    }

    /// One exchange with the server `url` names, redirects followed: `auth` goes only to
    /// the origin it is paired with (this registry's).
    fn call(
        &self,
        req: &mut Request<'_>,
        url: &str,
        auth: Option<(&Origin, &str)>,
    ) -> Result<Response> {
        execute(
            &self.agent,
            &self.watchdog,
            Exchange {
                method: req.method,
                url,
                headers: &req.headers,
                body: &mut req.body,
                auth,
            },
        )
    }

    /// Whether a host of this client stalled for its whole budget: nothing is worth
    /// retrying then.
    pub(crate) fn stalled_for_good(&self) -> bool {
        self.watchdog.has_given_up()
    }

    /// The body of `resp`, watched for stalls of the server that sent it.
    pub(crate) fn body_reader(&self, resp: Response) -> StallReader<ureq::BodyReader<'static>> {
        let host = answered_by(&resp).unwrap_or_else(|| self.host.clone());
        StallReader::new(resp.into_body().into_reader(), self.watchdog.clone(), host)
    }
}

/// Any HTTP answer at all to `GET base/v2/` shows the scheme works. A Bearer challenge
/// in it names the token realm: the first real request then goes with its token rather
/// than earning a 401 first (one round trip fewer).
fn probe(
    agent: &ureq::Agent,
    watchdog: &Arc<Watchdog>,
    base: &str,
) -> Result<Option<(String, Option<String>)>> {
    let mut body = super::http::Body::Empty;
    let url = format!("{base}/v2/");
    let resp = execute(
        agent,
        watchdog,
        Exchange {
            method: "GET",
            url: &url,
            headers: &[],
            body: &mut body,
            auth: None,
        },
    )?;
    let from_registry = answering_origin(&resp) == Origin::of(&url).ok();
    let realm = match header(&resp, "www-authenticate")
        .as_deref()
        .and_then(Challenge::parse)
    {
        Some(Challenge::Bearer { realm, service, .. })
            if resp.status().as_u16() == 401 && from_registry =>
        {
            Some((realm, service))
        }
        _ => None,
    };
    // Drain the small body so the connection goes back to the pool.
    let _ = read_error_body(resp.into_body());
    Ok(realm)
}

/// A host is `name[:port]` or `[v6]:port`: nothing that could change the URL's meaning.
fn check_host(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidReference,
            format!(
                "invalid registry host {host:?}: expected host[:port], such as registry.example:5000"
            ),
        ))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state stays consistent at every await-free point: a panic elsewhere
    // while holding it leaves nothing half-written worth refusing.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked() {
        for ok in [
            "registry.example",
            "127.0.0.1:5000",
            "[::1]:5000",
            "my_host:1",
        ] {
            check_host(ok).unwrap();
        }
        for bad in ["", "a/b", "user@host", "host?x", "host#x", "ho st"] {
            assert_eq!(
                check_host(bad).unwrap_err().kind(),
                ErrorKind::InvalidReference,
                "{bad}"
            );
        }
    }

    #[test]
    fn fixed_policies_need_no_probe() {
        let c = RegistryClient::new(
            "127.0.0.1:9",
            ClientOptions {
                scheme: SchemePolicy::Http,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        assert_eq!(c.base_url().unwrap(), "http://127.0.0.1:9");
    }
}
