//! Scenario 4: a full disk. The store is a 1 MiB tmpfs mounted in a private mount
//! namespace (`unshare -m`, as root; the namespace and its mount vanish with the shell).
//! A small image fits; a 4 MiB one fills the disk. The error must say what to do
//! (`img-rm --prune`), doing it must work on the full disk, and a pull must then fit.

use std::process::Command;
use std::time::Instant;

use img_core::testing::{TestRegistry, push_image, standard_set};

use super::{Ctx, Row, Sandbox, TOOL_LIMIT, run_for, verify_all};

/// The steps, run inside the namespace; each step's output goes to `$OUT/<n>.*`.
const SCRIPT: &str = r#"mount -t tmpfs -o size=1m tmpfs "$IMG_ROOT" || exit 99
step() { n=$1; shift; "$@" > "$OUT/$n.out" 2> "$OUT/$n.err"; echo $? > "$OUT/$n.code"; }
step 1 "$PULL" "$SMALL"
step 2 "$PULL" "$BIG"
step 3 "$PULL" "$OTHER"
step 4 "$RM" --prune
step 5 "$PULL" "$OTHER"
cp -a "$IMG_ROOT/." "$OUT/store/""#;

/// Runs the scenario.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let mut row = Row::new("full disk (1 MiB tmpfs store)");
    if !crate::ci::is_root() {
        return Ok(vec![Row::skipped(
            row.name,
            "needs root, for unshare -m and mount",
        )]);
    }
    let registry = TestRegistry::start().map_err(|e| e.to_string())?;
    let client = registry.client().map_err(|e| e.to_string())?;
    for image in standard_set() {
        push_image(&client, &image).map_err(|e| e.to_string())?;
    }
    let r = registry.addr();
    for round in 0..ctx.rounds.clamp(1, 5) {
        let t = Instant::now();
        let s = Sandbox::new()?;
        let out = s.path().join("out");
        std::fs::create_dir_all(out.join("store")).map_err(|e| e.to_string())?;
        let status = s
            .command("unshare")
            .args(["-m", "sh", "-c", SCRIPT])
            .env("OUT", &out)
            .env("PULL", ctx.tool("img-pull"))
            .env("RM", ctx.tool("img-rm"))
            .env("SMALL", format!("{r}/test/alpine-like:latest"))
            .env("BIG", format!("{r}/test/big:latest"))
            .env("OTHER", format!("{r}/test/oci-zstd:1"))
            .status()
            .map_err(|e| format!("running unshare (util-linux): {e}"))?;
        if !status.success() {
            return Err(format!("unshare -m and a tmpfs mount failed ({status})"));
        }
        let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_default();
        let code = |n: u32| read(&format!("{n}.code")).trim().to_owned();
        let err = |n: u32| read(&format!("{n}.err")).trim().to_owned();
        if code(1) != "0" {
            row.fail(format!("round {round}: the small pull failed: {}", err(1)));
        }
        if code(2) == "0" {
            row.fail(format!("round {round}: a 4 MiB pull fit in 1 MiB?"));
        } else if !err(2).contains("img-rm --prune") || err(2).lines().count() != 1 {
            row.fail(format!(
                "round {round}: the full disk error does not say to run img-rm --prune \
                 in one line: {}",
                err(2)
            ));
        } else if round == 0 {
            row.info.push(err(2));
        }
        if code(4) != "0" {
            row.fail(format!(
                "round {round}: img-rm --prune on the full disk: {}",
                err(4)
            ));
        }
        if code(5) != "0" {
            row.fail(format!(
                "round {round}: a 100 KB pull after the prune (before it: {}): {}",
                if code(3) == "0" { "fit" } else { "did not fit" },
                err(5)
            ));
        } else if round == 0 && code(3) != "0" {
            row.info
                .push("a pull that did not fit before the prune fits after it".to_owned());
        }
        // The copy of the store, checked outside the namespace.
        let copy = Sandbox::new()?;
        let cp = Command::new("cp")
            .arg("-a")
            .arg(out.join("store/."))
            .arg(copy.root())
            .status()
            .map_err(|e| format!("cp: {e}"))?;
        if !cp.success() {
            return Err("copying the store out of the tmpfs failed".to_owned());
        }
        if let Err(e) = verify_all(ctx, &copy) {
            row.fail(format!("round {round}: {e}"));
        }
        let prune = run_for(copy.command(ctx.tool("img-rm")).arg("--prune"), TOOL_LIMIT)?;
        if !prune.ok() {
            row.fail(prune.describe("img-rm --prune of the copy"));
        }
        row.check(&copy.root(), true);
        row.took(t.elapsed());
    }
    Ok(vec![row])
}
