//! Scenario 1: kill -9 at random instants of img-pull (a large layer; 100 small ones,
//! committed in batches), `img-rm --prune`, img-tag,
//! `img-pack load` and img-push, on the real registry. After every round each complete
//! image verifies (`img-inspect --verify` and a check of every blob file, row and pin),
//! the interrupted command run again completes — a resumed pull fetching no more bytes
//! than a fresh one — and after a prune nothing is left that no image needs; a killed
//! push never leaves a tag in the registry naming a blob it lacks.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use img_core::Reference;
use img_core::oci::Manifest;
use img_core::registry::RegistryClient;
use img_core::store::Store;
use img_core::testing::{TestRegistry, image_with_layers, push_image, standard_set};

use super::{Ctx, Row, Sandbox, TOOL_LIMIT, finish, run_for, spawn, verify_all};

/// Runs the four kill scenarios.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let registry = TestRegistry::start().map_err(|e| e.to_string())?;
    let client = registry.client().map_err(|e| e.to_string())?;
    let images = standard_set();
    for image in &images {
        push_image(&client, image).map_err(|e| e.to_string())?;
    }
    let r = registry.addr();
    let alpine = format!("{r}/test/alpine-like:latest");
    let big = format!("{r}/test/big:latest");
    let big_by_digest = format!("{r}/test/big@{}", images[3].digest());
    let oci_by_digest = format!("{r}/test/oci-zstd@{}", images[1].digest());

    // A store to start the other rounds from: a tagged image, two untagged ones (what a
    // prune removes) and a multi-platform one.
    let template = Sandbox::new()?;
    for image in [
        &alpine,
        &big_by_digest,
        &oci_by_digest,
        &format!("{r}/test/multi"),
    ] {
        let out = run_for(
            template.command(ctx.tool("img-pull")).arg(image),
            TOOL_LIMIT,
        )?;
        if !out.ok() {
            return Err(out.describe(&format!("img-pull {image}")));
        }
    }

    // Many small layers: their commits go in batches (issue 17), killed mid-batch too.
    let small = image_with_layers(100, 64 * 1024, 17);
    push_image(&client, &small).map_err(|e| e.to_string())?;
    let small = format!("{r}/{}", small.reference());

    let mut rows = vec![kill_pull(ctx, "kill -9 img-pull", &big)?];
    rows.push(kill_pull(
        ctx,
        "kill -9 img-pull, 100 small layers",
        &small,
    )?);
    rows.push(kill_in_copy(
        ctx,
        &template,
        "kill -9 img-rm --prune",
        &["--prune"],
        "img-rm",
        &alpine,
    )?);
    rows.push(kill_tag(ctx, &template, &alpine)?);
    rows.push(kill_load(ctx, &template, &alpine, &big_by_digest)?);
    rows.push(kill_push(ctx, &big)?);
    Ok(rows)
}

/// Kills `cmd` at a random instant within 1.2 times `typical`, and waits for it. Counts
/// in `row` the rounds where the kill came before the command had finished.
fn kill_at_random(
    ctx: &Ctx,
    row: &mut Row,
    cmd: &mut Command,
    typical: Duration,
) -> Result<Duration, String> {
    let window = (typical.as_micros() as u64 * 6 / 5).max(1);
    let at = Duration::from_micros(ctx.below(window));
    let started = Instant::now();
    let mut child = spawn(cmd)?;
    std::thread::sleep(at);
    // SIGKILL: the kill -9 the scenario is about (a no-op when it already exited).
    let _ = child.kill();
    let out = finish(child, started, TOOL_LIMIT);
    if out.status.and_then(|s| s.signal()).is_some() {
        row.killed += 1;
    }
    Ok(at)
}

/// After a round's interrupted command ran again: prune, then nothing unneeded is left.
fn settle(ctx: &Ctx, row: &mut Row, s: &Sandbox) -> Result<(), String> {
    let prune = run_for(s.command(ctx.tool("img-rm")).arg("--prune"), TOOL_LIMIT)?;
    if !prune.ok() {
        row.fail(prune.describe("img-rm --prune after the round"));
    }
    if let Err(e) = verify_all(ctx, s) {
        row.fail(e);
    }
    row.check(&s.root(), true);
    Ok(())
}

fn kill_pull(ctx: &Ctx, name: &str, big: &str) -> Result<Row, String> {
    let mut row = Row::new(name);
    let fresh = Sandbox::new()?;
    let first = run_for(fresh.command(ctx.tool("img-pull")).arg(big), TOOL_LIMIT)?;
    let Some(full) = first.downloaded().filter(|_| first.ok()) else {
        return Err(first.describe("a fresh img-pull"));
    };
    for round in 0..ctx.rounds {
        let t = Instant::now();
        let s = Sandbox::new()?;
        let at = kill_at_random(
            ctx,
            &mut row,
            s.command(ctx.tool("img-pull")).arg(big),
            first.took,
        )?;
        row.check(&s.root(), false);
        if let Err(e) = verify_all(ctx, &s) {
            row.fail(format!("round {round}, killed after {at:?}: {e}"));
        }
        let again = run_for(s.command(ctx.tool("img-pull")).arg(big), TOOL_LIMIT)?;
        match again.downloaded() {
            _ if !again.ok() => row.fail(format!(
                "round {round}, killed after {at:?}: {}",
                again.describe("the pull run again")
            )),
            Some(n) if n > full => row.fail(format!(
                "round {round}, killed after {at:?}: the resumed pull downloaded {n} bytes, \
                 a fresh one {full}"
            )),
            Some(_) => {}
            None => row.fail(format!(
                "round {round}: no Downloaded in {:?}",
                again.stdout
            )),
        }
        settle(ctx, &mut row, &s)?;
        row.took(t.elapsed());
    }
    Ok(row)
}

/// Copies the template store into a new sandbox.
fn copy_of(template: &Sandbox) -> Result<Sandbox, String> {
    let s = Sandbox::new()?;
    let status = Command::new("cp")
        .arg("-a")
        .arg(template.root().join("."))
        .arg(s.root())
        .status()
        .map_err(|e| format!("running cp: {e}"))?;
    if status.success() {
        Ok(s)
    } else {
        Err(format!("copying the template store failed ({status})"))
    }
}

/// Kills `tool args` in copies of the template store; `keep` must survive.
fn kill_in_copy(
    ctx: &Ctx,
    template: &Sandbox,
    name: &str,
    args: &[&str],
    tool: &str,
    keep: &str,
) -> Result<Row, String> {
    let mut row = Row::new(name);
    let probe = copy_of(template)?;
    let typical = run_for(probe.command(ctx.tool(tool)).args(args), TOOL_LIMIT)?;
    if !typical.ok() {
        return Err(typical.describe(tool));
    }
    for round in 0..ctx.rounds {
        let t = Instant::now();
        let s = copy_of(template)?;
        let at = kill_at_random(
            ctx,
            &mut row,
            s.command(ctx.tool(tool)).args(args),
            typical.took,
        )?;
        row.check(&s.root(), false);
        if let Err(e) = verify_all(ctx, &s) {
            row.fail(format!("round {round}, killed after {at:?}: {e}"));
        }
        let again = run_for(s.command(ctx.tool(tool)).args(args), TOOL_LIMIT)?;
        if !again.ok() {
            row.fail(format!(
                "round {round}, killed after {at:?}: {}",
                again.describe(&format!("{tool} run again"))
            ));
        }
        let kept = run_for(s.command(ctx.tool("img-inspect")).arg(keep), TOOL_LIMIT)?;
        if !kept.ok() {
            row.fail(format!(
                "round {round}: {}",
                kept.describe("the tagged image")
            ));
        }
        settle(ctx, &mut row, &s)?;
        row.took(t.elapsed());
    }
    Ok(row)
}

fn kill_tag(ctx: &Ctx, template: &Sandbox, alpine: &str) -> Result<Row, String> {
    let args = [alpine, "mine/killed:1"];
    kill_in_copy(
        ctx,
        template,
        "kill -9 img-tag",
        &args,
        "img-tag",
        "mine/killed:1",
    )
}

/// Whether `img-pack load` exists yet: the placeholder binary says "not implemented".
/// Returns the reason it does not, for the table.
pub fn pack_missing(ctx: &Ctx) -> Result<Option<String>, String> {
    let s = Sandbox::new()?;
    let out = run_for(
        s.command(ctx.tool("img-pack"))
            .args(["load", "-i"])
            .arg(s.path().join("none.tar")),
        TOOL_LIMIT,
    )?;
    Ok(out
        .stderr
        .contains("not implemented")
        .then(|| format!("img-pack load not built (it says: {})", out.stderr.trim())))
}

fn kill_load(ctx: &Ctx, template: &Sandbox, alpine: &str, big: &str) -> Result<Row, String> {
    const NAME: &str = "kill -9 img-pack load";
    if let Some(why) = pack_missing(ctx)? {
        return Ok(Row::skipped(NAME, why));
    }
    let archive = template.path().join("images.tar");
    let save = run_for(
        template
            .command(ctx.tool("img-pack"))
            .args(["save", "-o"])
            .arg(&archive)
            .args([alpine, big]),
        TOOL_LIMIT,
    )?;
    if !save.ok() {
        return Err(save.describe("img-pack save"));
    }
    let mut row = Row::new(NAME);
    let load = |s: &Sandbox| {
        let mut c = s.command(ctx.tool("img-pack"));
        c.args(["load", "-i"]).arg(&archive);
        c
    };
    let probe = Sandbox::new()?;
    let typical = run_for(&mut load(&probe), TOOL_LIMIT)?;
    if !typical.ok() {
        return Err(typical.describe("img-pack load"));
    }
    for round in 0..ctx.rounds {
        let t = Instant::now();
        let s = Sandbox::new()?;
        let at = kill_at_random(ctx, &mut row, &mut load(&s), typical.took)?;
        row.check(&s.root(), false);
        if let Err(e) = verify_all(ctx, &s) {
            row.fail(format!("round {round}, killed after {at:?}: {e}"));
        }
        let again = run_for(&mut load(&s), TOOL_LIMIT)?;
        if !again.ok() {
            row.fail(format!(
                "round {round}, killed after {at:?}: {}",
                again.describe("the load run again")
            ));
        }
        settle(ctx, &mut row, &s)?;
        row.took(t.elapsed());
    }
    Ok(row)
}

/// Kills img-push of the 4 MiB image (to a registry of its own, so every blob is
/// uploaded, into a new repository each round): the store stays sound, a second push
/// completes with the store's digest, and whenever the registry has the tag — after the
/// kill or after the second push — it has every blob the tag's manifest names.
fn kill_push(ctx: &Ctx, big: &str) -> Result<Row, String> {
    let mut row = Row::new("kill -9 img-push");
    let target = TestRegistry::start().map_err(|e| e.to_string())?;
    let client = target.client().map_err(|e| e.to_string())?;
    let template = Sandbox::new()?;
    let pulled = run_for(template.command(ctx.tool("img-pull")).arg(big), TOOL_LIMIT)?;
    if !pulled.ok() {
        return Err(pulled.describe(&format!("img-pull {big}")));
    }
    let id = {
        let store = Store::open(&template.root()).map_err(|e| e.to_string())?;
        let r = Reference::parse_normalized(big).map_err(|e| e.to_string())?;
        store
            .index()
            .image_by_tag(&r.name(), r.tag().unwrap_or("latest"))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{big} is not in the store after its pull"))?
            .id
    };
    let push = |s: &Sandbox, repo: &str| -> Result<Command, String> {
        let store = Store::open(&s.root()).map_err(|e| e.to_string())?;
        store
            .index()
            .tag(&id, &format!("{}/{repo}", target.addr()), "1")
            .map_err(|e| e.to_string())?;
        let mut c = s.command(ctx.tool("img-push"));
        c.arg(format!("{}/{repo}:1", target.addr()));
        Ok(c)
    };
    let probe = copy_of(&template)?;
    let typical = run_for(&mut push(&probe, "mine/probe")?, TOOL_LIMIT)?;
    if !typical.ok() {
        return Err(typical.describe("img-push"));
    }
    for round in 0..ctx.rounds {
        let t = Instant::now();
        let s = copy_of(&template)?;
        let repo = format!("mine/killed-{round}");
        let at = kill_at_random(ctx, &mut row, &mut push(&s, &repo)?, typical.took)?;
        row.check(&s.root(), false);
        if let Err(e) = verify_all(ctx, &s) {
            row.fail(format!("round {round}, killed after {at:?}: {e}"));
        }
        if let Err(e) = tag_complete(&client, &repo) {
            row.fail(format!("round {round}, killed after {at:?}: {e}"));
        }
        let again = run_for(&mut push(&s, &repo)?, TOOL_LIMIT)?;
        if !again.ok() {
            row.fail(format!(
                "round {round}, killed after {at:?}: {}",
                again.describe("img-push run again")
            ));
        }
        match tag_complete(&client, &repo) {
            Ok(true) => {}
            Ok(false) => row.fail(format!(
                "round {round}: the registry has no tag after the second push"
            )),
            Err(e) => row.fail(format!("round {round}, after the second push: {e}")),
        }
        settle(ctx, &mut row, &s)?;
        row.took(t.elapsed());
    }
    Ok(row)
}

/// Whether `repo:1` is in the registry (`Ok(false)`: not), and an error when its manifest
/// names a blob the repository lacks.
fn tag_complete(client: &RegistryClient, repo: &str) -> Result<bool, String> {
    if client
        .head_manifest(repo, "1")
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Ok(false);
    }
    let (bytes, _, _) = client.get_manifest(repo, "1").map_err(|e| e.to_string())?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    for d in std::iter::once(&m.config).chain(&m.layers) {
        if !client
            .blob_exists(repo, &d.digest)
            .map_err(|e| e.to_string())?
        {
            return Err(format!(
                "the registry's tag {repo}:1 names blob {}, which it lacks",
                d.digest
            ));
        }
    }
    Ok(true)
}
