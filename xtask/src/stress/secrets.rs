//! Scenario 6: secrets. With credentials configured — Basic over TLS, and token auth from
//! the harness's token server — every tool's output on success and on failure (auth
//! refused, a broken token endpoint, a redirect to another port) holds no password, no
//! `user:password` in base64 and no token; no file under the store holds one either; and
//! a redirect to another port of the same host carries no Authorization.

use std::collections::BTreeMap;
use std::path::Path;

use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::tls::TestCa;
use img_core::testing::token_server::{ISSUER, SERVICE, TokenServer, TokenServerOptions};
use img_core::testing::{TestRegistry, TokenAuthConfig, push_image, standard_set, write_htpasswd};

use base64::Engine as _;

use super::{Ctx, Outcome, Row, Sandbox, TOOL_LIMIT, run_for};

const USER: &str = "stress";
const PASSWORD: &str = "S3cret-Stress-Pw0rd";
const WRONG: &str = "Wr0ng-Stress-Guess";

/// Runs the scenario: one row for Basic over TLS, one for token auth.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    Ok(vec![basic_tls(ctx)?, token(ctx)?])
}

/// Every tool run on a store holding the image `reference`, each output collected.
fn every_tool(ctx: &Ctx, s: &Sandbox, reference: &str) -> Result<Vec<(String, Outcome)>, String> {
    let mut outs = Vec::new();
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("img-pull", vec![reference]),
        ("img-pull", vec!["--verify", reference]),
        ("img-ls", vec!["-a"]),
        ("img-inspect", vec![reference]),
        ("img-inspect", vec!["--verify", reference]),
        ("img-tag", vec![reference, "mine/secret:1"]),
        ("img-rm", vec!["mine/secret:1"]),
        ("img-rm", vec!["--prune"]),
    ];
    for (tool, args) in runs {
        let out = run_for(s.command(ctx.tool(tool)).args(&args), TOOL_LIMIT)?;
        outs.push((format!("{tool} {}", args.join(" ")), out));
    }
    Ok(outs)
}

/// Fails `row` for every secret found in the outputs or under the store.
fn no_secrets(row: &mut Row, outs: &[(String, Outcome)], store: &Path, secrets: &[String]) {
    for (what, out) in outs {
        for secret in secrets {
            if out.stdout.contains(secret.as_str()) || out.stderr.contains(secret.as_str()) {
                row.fail(format!(
                    "{what} printed a secret ({}…)",
                    &secret[..6.min(secret.len())]
                ));
            }
        }
    }
    for file in files_under(store) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for secret in secrets {
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                row.fail(format!("{} holds a secret", file.display()));
            }
        }
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A front for `upstream` that redirects every blob GET to `to` (another port of
/// 127.0.0.1).
fn redirecting(upstream: &str, to: &FaultProxy) -> Result<FaultProxy, String> {
    let to = format!("http://{}", to.addr());
    FaultProxy::start(upstream, move |m, p, _| {
        if m == "GET" && p.contains("/blobs/") {
            Fault::RedirectTo(to.clone())
        } else {
            Fault::Pass
        }
    })
    .map_err(|e| format!("starting a proxy: {e}"))
}

fn no_authorization(row: &mut Row, other: &FaultProxy, what: &str) {
    let seen = other.seen();
    if seen.is_empty() {
        row.fail(format!("{what}: the redirect was never followed"));
    }
    if seen.iter().any(|r| r.header("authorization").is_some()) {
        row.fail(format!(
            "{what}: credentials followed a redirect to another port"
        ));
    }
}

fn basic_tls(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new("secrets: Basic over TLS");
    let image = standard_set().remove(0);
    let files = Sandbox::new()?;
    let htpasswd = files.path().join("htpasswd");
    write_htpasswd(&htpasswd, &[(USER, PASSWORD)]).map_err(|e| e.to_string())?;
    let ca = TestCa::new("stress CA").map_err(|e| e.to_string())?;
    let pair = ca.server_cert().map_err(|e| e.to_string())?;
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, &pair.cert_pem).map_err(|e| e.to_string())?;
    std::fs::write(&key, &pair.key_pem).map_err(|e| e.to_string())?;
    let tls = TestRegistry::builder()
        .htpasswd(&htpasswd)
        .tls(&cert, &key)
        .start()
        .map_err(|e| e.to_string())?;
    push_image(
        &tls.client_as(USER, PASSWORD).map_err(|e| e.to_string())?,
        &image,
    )
    .map_err(|e| e.to_string())?;
    let secrets = vec![
        PASSWORD.to_owned(),
        WRONG.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")),
    ];
    let reference = format!("{}/{}", tls.addr(), image.reference());

    // Success: every tool, credentials right.
    let s = Sandbox::new()?;
    ca.write_certs_d(&s.path().join("config/img/certs.d"), &tls.addr())
        .map_err(|e| e.to_string())?;
    s.login(&tls.addr(), USER, PASSWORD)?;
    let outs = every_tool(ctx, &s, &reference)?;
    if !outs[0].1.ok() {
        row.fail(outs[0].1.describe("img-pull with the right password"));
    }
    no_secrets(&mut row, &outs, &s.root(), &secrets);
    row.took(outs.iter().map(|(_, o)| o.took).sum());

    // Refused: the wrong password.
    let s = Sandbox::new()?;
    ca.write_certs_d(&s.path().join("config/img/certs.d"), &tls.addr())
        .map_err(|e| e.to_string())?;
    s.login(&tls.addr(), USER, WRONG)?;
    let out = run_for(s.command(ctx.tool("img-pull")).arg(&reference), TOOL_LIMIT)?;
    if out.ok() {
        row.fail("a pull with the wrong password succeeded");
    }
    row.took(out.took);
    no_secrets(
        &mut row,
        &[("img-pull, refused".to_owned(), out)],
        &s.root(),
        &secrets,
    );

    // A redirect to another port (plain HTTP: the proxy speaks no TLS).
    let plain = TestRegistry::builder()
        .htpasswd(&htpasswd)
        .start()
        .map_err(|e| e.to_string())?;
    push_image(
        &plain.client_as(USER, PASSWORD).map_err(|e| e.to_string())?,
        &image,
    )
    .map_err(|e| e.to_string())?;
    let other =
        FaultProxy::start(&plain.addr(), |_, _, _| Fault::Pass).map_err(|e| e.to_string())?;
    let front = redirecting(&plain.addr(), &other)?;
    let s = Sandbox::new()?;
    s.login(front.addr(), USER, PASSWORD)?;
    let out = run_for(
        s.command(ctx.tool("img-pull"))
            .arg(format!("{}/{}", front.addr(), image.reference())),
        TOOL_LIMIT,
    )?;
    row.took(out.took);
    no_authorization(&mut row, &other, "Basic");
    no_secrets(
        &mut row,
        &[("img-pull, redirected".to_owned(), out)],
        &s.root(),
        &secrets,
    );
    Ok(row)
}

fn token(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new("secrets: token auth");
    let image = standard_set().remove(0);
    let server = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]),
        ..TokenServerOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let token_addr = server.host().to_owned();
    // The realm the registry names is a proxy that breaks the token endpoint on demand.
    let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let realm_proxy = {
        let broken = broken.clone();
        FaultProxy::start(&token_addr, move |_, _, _| {
            if broken.load(std::sync::atomic::Ordering::SeqCst) {
                Fault::Status(500, None)
            } else {
                Fault::Pass
            }
        })
        .map_err(|e| e.to_string())?
    };
    let files = Sandbox::new()?;
    let bundle = files.path().join("signer.pem");
    std::fs::write(&bundle, server.cert_pem()).map_err(|e| e.to_string())?;
    let registry = TestRegistry::builder()
        .token_auth(TokenAuthConfig {
            realm: format!("http://{}/token", realm_proxy.addr()),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle: bundle,
        })
        .start()
        .map_err(|e| e.to_string())?;
    push_image(
        &registry
            .client_as(USER, PASSWORD)
            .map_err(|e| e.to_string())?,
        &image,
    )
    .map_err(|e| e.to_string())?;
    // A recording front, to learn the tokens the tools were given.
    let other =
        FaultProxy::start(&registry.addr(), |_, _, _| Fault::Pass).map_err(|e| e.to_string())?;
    let front = redirecting(&registry.addr(), &other)?;
    let recorder =
        FaultProxy::start(&registry.addr(), |_, _, _| Fault::Pass).map_err(|e| e.to_string())?;

    let s = Sandbox::new()?;
    s.login(recorder.addr(), USER, PASSWORD)?;
    let reference = format!("{}/{}", recorder.addr(), image.reference());
    let mut outs = every_tool(ctx, &s, &reference)?;
    if !outs[0].1.ok() {
        row.fail(outs[0].1.describe("img-pull with token auth"));
    }
    row.took(outs.iter().map(|(_, o)| o.took).sum());

    // Redirected blobs: the bearer token stays home.
    let r = Sandbox::new()?;
    r.login(front.addr(), USER, PASSWORD)?;
    let out = run_for(
        r.command(ctx.tool("img-pull"))
            .arg(format!("{}/{}", front.addr(), image.reference())),
        TOOL_LIMIT,
    )?;
    row.took(out.took);
    no_authorization(&mut row, &other, "token");
    outs.push(("img-pull, redirected".to_owned(), out));

    // The token endpoint broken: a clear failure, still nothing leaked.
    broken.store(true, std::sync::atomic::Ordering::SeqCst);
    let b = Sandbox::new()?;
    b.login(recorder.addr(), USER, PASSWORD)?;
    let out = run_for(b.command(ctx.tool("img-pull")).arg(&reference), TOOL_LIMIT)?;
    if out.ok() {
        row.fail("a pull succeeded with the token endpoint answering 500");
    } else {
        row.info.push(out.stderr.trim().to_owned());
    }
    row.took(out.took);
    outs.push(("img-pull, token endpoint broken".to_owned(), out));

    let mut secrets = vec![
        PASSWORD.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")),
    ];
    for req in recorder.seen().iter().chain(front.seen().iter()) {
        if let Some(t) = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
        {
            secrets.push(t.to_owned());
        }
    }
    secrets.sort();
    secrets.dedup();
    if secrets.len() < 3 {
        row.fail("no bearer token was seen: the check would prove nothing");
    }
    no_secrets(&mut row, &outs, &s.root(), &secrets);
    no_secrets(&mut row, &[], &r.root(), &secrets);
    no_secrets(&mut row, &[], &b.root(), &secrets);
    Ok(row)
}
