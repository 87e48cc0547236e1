//! Scenario 3: a hostile registry. The real registry cannot misbehave on demand, so the
//! in-process `FaultProxy` stands in front of it and lies: digests that do not match on
//! the manifest, config and layer; a huge manifest with and without a length; a 10 TB
//! size claim; endless and truncated bodies; stalls; a self-referencing index and
//! indexes nested a thousand deep. Each case must end within its time limit with a
//! verified image or one clear error line, and leave no wrong blob in the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use img_core::Digest;
use img_core::oci::media_type;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::{TestRegistry, push_image, standard_set};
use serde_json::{Value, json};

use super::{Ctx, Row, Sandbox, check_store, run_for, verify_all};

/// What a case may end in.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// One clear error line.
    Error,
    /// A verified image (the fault is one a client gets past).
    Image,
    /// Either, as long as it is one of the two.
    Either,
}

type Plan = Arc<dyn Fn(&str, &str, usize) -> Fault + Send + Sync>;

struct Case {
    name: &'static str,
    reference: String,
    plan: Plan,
    expect: Expect,
    limit: Duration,
}

/// The most a hostile case may take: the stall limits below make a stalled server fail
/// a pull within seconds; everything else fails or finishes at once. (A pull believing
/// a 10 TB claim writes at loopback speed until killed: the limit also bounds the disk
/// such a failure uses.)
const LIMIT: Duration = Duration::from_secs(30);

/// Runs every case.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let registry = TestRegistry::start().map_err(|e| e.to_string())?;
    let client = registry.client().map_err(|e| e.to_string())?;
    let images = standard_set();
    let alpine = &images[0];
    push_image(&client, alpine).map_err(|e| e.to_string())?;
    let manifest: Value =
        serde_json::from_slice(&alpine.top.1).map_err(|e| format!("the test manifest: {e}"))?;
    let config = manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let layer_size = manifest["layers"][0]["size"].as_u64().unwrap_or(0);
    let by_tag = "test/alpine-like:latest".to_owned();
    let by_digest = format!("test/alpine-like@{}", alpine.digest());

    let mut cases = vec![
        case(
            "manifest digest mismatch",
            &by_digest,
            Expect::Error,
            move |m, p, _| on(m, p, "/manifests/", Fault::Corrupt(40)),
        ),
        case(
            "manifest corrupt, by tag",
            &by_tag,
            Expect::Either,
            |m, p, _| on(m, p, "/manifests/", Fault::Corrupt(40)),
        ),
        case("config digest mismatch", &by_tag, Expect::Error, {
            let config = config.clone();
            move |m, p, _| on(m, p, &config, Fault::Corrupt(3))
        }),
        case("layer digest mismatch", &by_tag, Expect::Error, {
            let layer = layer.clone();
            move |m, p, _| on(m, p, &layer, Fault::Corrupt(layer_size / 2))
        }),
        // Each answer cut after 1 KiB: a client resuming with Range makes progress, so
        // finishing is as right as giving up after a bounded number of tries.
        case("layer truncated every time", &by_tag, Expect::Either, {
            let layer = layer.clone();
            move |m, p, _| on(m, p, &layer, Fault::Truncate(1024))
        }),
        case("layer truncated once", &by_tag, Expect::Image, {
            let (layer, once) = (layer.clone(), AtomicBool::new(false));
            move |m, p, _| {
                if m == "GET" && p.contains(&layer) && !once.swap(true, Ordering::SeqCst) {
                    Fault::Truncate(layer_size / 2)
                } else {
                    Fault::Pass
                }
            }
        }),
        case(
            "huge manifest with a length",
            &by_tag,
            Expect::Error,
            |m, p, _| {
                on(
                    m,
                    p,
                    "/manifests/",
                    flood(media_type::DOCKER_MANIFEST, Some(100 << 20)),
                )
            },
        ),
        case(
            "huge manifest without a length",
            &by_tag,
            Expect::Error,
            |m, p, _| {
                on(
                    m,
                    p,
                    "/manifests/",
                    flood(media_type::DOCKER_MANIFEST, None),
                )
            },
        ),
        case("endless layer body", &by_tag, Expect::Error, {
            let layer = layer.clone();
            move |m, p, _| on(m, p, &layer, flood("application/octet-stream", None))
        }),
        case(
            "manifest stalls before its headers",
            &by_tag,
            Expect::Error,
            |m, p, _| on(m, p, "/manifests/", Fault::Silent),
        ),
        // Once half-way: the resumed request gets the rest.
        case("layer stalls half-way once", &by_tag, Expect::Image, {
            let (layer, once) = (layer.clone(), AtomicBool::new(false));
            move |m, p, _| {
                if m == "GET" && p.contains(&layer) && !once.swap(true, Ordering::SeqCst) {
                    Fault::StallAfter(layer_size / 2)
                } else {
                    Fault::Pass
                }
            }
        }),
        // Every answer stalls half-way through what is left: progress, but ever slower.
        case(
            "layer stalls half-way every time",
            &by_tag,
            Expect::Either,
            {
                let layer = layer.clone();
                move |m, p, _| on(m, p, &layer, Fault::StallAfter(layer_size / 2))
            },
        ),
        case(
            "layer stalls before its first byte",
            &by_tag,
            Expect::Error,
            {
                let layer = layer.clone();
                move |m, p, _| on(m, p, &layer, Fault::StallAfter(0))
            },
        ),
    ];

    // A manifest claiming a 10 TB layer, whose blob then never ends.
    let mut claim = manifest.clone();
    claim["layers"][0]["size"] = json!(10u64 << 40);
    let claim = serde_json::to_vec(&claim).map_err(|e| e.to_string())?;
    // A client that believes the claim writes at loopback speed until killed: 10 s keeps
    // the disk it uses small (a client that checks the claim refuses at once).
    let mut ten_tb = case("a 10 TB size claim", &by_tag, Expect::Error, {
        let layer = layer.clone();
        move |m, p, _| {
            if p.contains("/manifests/") {
                serve(media_type::DOCKER_MANIFEST, &claim, true)
            } else {
                on(
                    m,
                    p,
                    &layer,
                    flood("application/octet-stream", Some(10u64 << 40)),
                )
            }
        }
    });
    ten_tb.limit = Duration::from_secs(10);
    cases.push(ten_tb);

    // An index whose only entry is itself: served again for the digest it names, which
    // it cannot hash to.
    let looping = index_of(&Digest::sha256_of(b"the index itself"), 400);
    cases.push(case(
        "self-referencing index",
        &by_tag,
        Expect::Error,
        move |_, p, _| {
            if p.contains("/manifests/") {
                serve(media_type::OCI_INDEX, &looping, true)
            } else {
                Fault::Pass
            }
        },
    ));

    // A thousand indexes, each naming the next by its true digest, the last naming the
    // real manifest: a client must refuse the depth (or follow it to a sound image).
    let mut chain: Vec<(Digest, Vec<u8>)> = Vec::new();
    let mut next = (alpine.digest().clone(), alpine.top.1.len() as u64);
    for _ in 0..1000 {
        let body = index_of(&next.0, next.1);
        let d = Digest::sha256_of(&body);
        next = (d.clone(), body.len() as u64);
        chain.push((d, body));
    }
    let top = chain.last().map(|(_, b)| b.clone()).unwrap_or_default();
    cases.push(case(
        "indexes nested 1000 deep",
        &by_tag,
        Expect::Either,
        move |_, p, _| {
            if p.ends_with("/manifests/latest") {
                return serve(media_type::OCI_INDEX, &top, true);
            }
            match chain.iter().find(|(d, _)| p.ends_with(&d.to_string())) {
                Some((_, body)) => serve(media_type::OCI_INDEX, body, true),
                None => Fault::Pass,
            }
        },
    ));

    let mut rows = Vec::new();
    // Error bodies made of what a terminal obeys: the pull's one line carries them escaped.
    let title = "\x1b]0;pwned\x07\x1b[31mRED\u{9b}6n\u{202e}";
    let envelope =
        json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": title, "detail": title}]});
    cases.push(case(
        "an error envelope of escape sequences",
        &by_tag,
        Expect::Error,
        move |m, p, _| {
            on(
                m,
                p,
                "/manifests/",
                Fault::Refuse {
                    status: 404,
                    content_type: "application/json".to_owned(),
                    body: envelope.to_string().into_bytes(),
                },
            )
        },
    ));
    cases.push(case(
        "an error page of control bytes and invalid UTF-8",
        &by_tag,
        Expect::Error,
        |m, p, _| {
            let mut body = b"\x1b[2J\x1b]0;pwned\x07 bad \xff\xfe gateway \x08\x7f".to_vec();
            body.extend(std::iter::repeat_n(b'x', 500));
            on(
                m,
                p,
                "/manifests/",
                Fault::Refuse {
                    status: 502,
                    content_type: "text/plain".to_owned(),
                    body,
                },
            )
        },
    ));
    for c in cases {
        rows.push(run_case(ctx, &registry, c)?);
    }
    Ok(rows)
}

fn case(
    name: &'static str,
    reference: &str,
    expect: Expect,
    plan: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
) -> Case {
    Case {
        name,
        reference: reference.to_owned(),
        plan: Arc::new(plan),
        expect,
        limit: LIMIT,
    }
}

/// `fault` for GETs of paths containing `what`; HEADs and everything else pass (a HEAD
/// has no body to be wrong).
fn on(method: &str, path: &str, what: &str, fault: Fault) -> Fault {
    if method == "GET" && path.contains(what) {
        fault
    } else {
        Fault::Pass
    }
}

fn flood(content_type: &str, len: Option<u64>) -> Fault {
    Fault::Flood {
        content_type: content_type.to_owned(),
        len,
    }
}

fn serve(content_type: &str, body: &[u8], content_length: bool) -> Fault {
    Fault::Serve {
        content_type: content_type.to_owned(),
        body: body.to_vec(),
        content_length,
    }
}

/// An OCI index with one entry, for linux/amd64, naming `digest`.
fn index_of(digest: &Digest, size: u64) -> Vec<u8> {
    let v = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type::OCI_INDEX,
            "digest": digest.to_string(),
            "size": size,
            "platform": {"os": "linux", "architecture": "amd64"}
        }]
    });
    v.to_string().into_bytes()
}

fn run_case(ctx: &Ctx, registry: &TestRegistry, c: Case) -> Result<Row, String> {
    let mut row = Row::new(format!("hostile: {}", c.name));
    let plan = c.plan.clone();
    let proxy = FaultProxy::start(&registry.addr(), move |m, p, n| plan(m, p, n))
        .map_err(|e| format!("starting the fault proxy: {e}"))?;
    let s = Sandbox::new()?;
    let reference = format!("{}/{}", proxy.addr(), c.reference);
    let out = run_for(
        s.command(ctx.tool("img-pull"))
            .arg(&reference)
            .env("IMG_STALL_TIMEOUT", "1s")
            .env("IMG_STALL_BUDGET", "4s"),
        c.limit,
    )?;
    row.took(out.took);
    if out.status.is_none() {
        // What a pull that had to be killed left behind: how far it believed the server.
        let partials = super::check::dir_bytes(&s.root().join("ingest"));
        row.info.push(format!(
            "killed after {:.0?} with {} MiB of partial downloads",
            out.took,
            partials >> 20
        ));
    }
    let one_line = out.stderr.lines().count() == 1 && out.stderr.starts_with("img-pull: ");
    match (out.status.map(|s| s.success()), c.expect) {
        (None, _) => row.fail(out.describe("img-pull")),
        (Some(true), Expect::Error) => {
            row.fail(format!(
                "img-pull succeeded through the fault: {}",
                out.stdout.trim()
            ));
        }
        (Some(false), Expect::Image) => row.fail(out.describe("img-pull")),
        (Some(false), _) if !one_line => {
            row.fail(format!("not one clear line: {}", out.describe("img-pull")));
        }
        (Some(false), _) => row.info.push(out.stderr.trim().to_owned()),
        (Some(true), _) => {}
    }
    if let Some(raw) = super::raw_control(&out.stderr) {
        row.fail(raw);
    }
    if let Err(e) = verify_all(ctx, &s) {
        row.fail(e);
    }
    let check = check_store(&s.root());
    row.lost += check.lost;
    for p in check.problems {
        row.fail(p);
    }
    Ok(row)
}
