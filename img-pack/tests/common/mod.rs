//! What the img-pack tests share: running the binary on a store, reading an archive's
//! entries back, and checking that a failed load left a store untouched.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use img_core::Store;
use img_core::testing::Run;

/// Appends a regular file `name` holding `data` to a tar being built.
pub fn add_file(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, data).unwrap();
}

/// The binary under test.
pub const PACK: &str = env!("CARGO_BIN_EXE_img-pack");

/// A command running img-pack on the store at `root`, with config and home inside `root`'s
/// parent so that nothing of the machine's leaks in.
pub fn pack(root: &Path) -> Command {
    with_store_env(Command::new(PACK), root)
}

/// Like [`pack`], but img-pack runs with at most `nofile` open files (`ulimit -n` in a
/// shell that then execs it), as on a machine with a low limit.
pub fn pack_with_nofile(root: &Path, nofile: u32) -> Command {
    let mut sh = Command::new("sh");
    sh.args([
        "-c",
        &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
        PACK,
    ]);
    with_store_env(sh, root)
}

fn with_store_env(mut cmd: Command, root: &Path) -> Command {
    let home = root.with_extension("home");
    cmd.env("IMG_ROOT", root)
        .env("IMG_CONFIG", home.join("img-config.json"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", &home)
        .env_remove("DOCKER_DEFAULT_PLATFORM");
    cmd
}

/// Runs img-pack on `root` with `args` and the file `stdin` (or nothing) on stdin.
#[track_caller]
pub fn run(root: &Path, args: &[&str], stdin: Option<&Path>) -> Run {
    let mut cmd = pack(root);
    cmd.args(args);
    match stdin {
        Some(p) => {
            let file = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            run_with(cmd, Stdio::from(file))
        }
        None => run_with(cmd, Stdio::null()),
    }
}

/// Runs `cmd` (an img-pack command) with `stdin`, capturing its output.
pub fn run_with(mut cmd: Command, stdin: Stdio) -> Run {
    let out = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running img-pack");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        tool: "img-pack".to_owned(),
    }
}

/// Runs `img-pack save ARGS` and returns the archive it wrote to stdout.
#[track_caller]
pub fn save_to_vec(root: &Path, args: &[&str]) -> Vec<u8> {
    let out = pack(root)
        .arg("save")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running img-pack save");
    assert!(
        out.status.success(),
        "img-pack save {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every entry of a tar archive: name, type byte, and data.
pub fn entries(archive: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type().as_byte();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, kind, data)
        })
        .collect()
}

/// The JSON document `name` of an archive.
#[track_caller]
pub fn doc(archive: &[u8], name: &str) -> serde_json::Value {
    let (_, _, data) = entries(archive)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in the archive"));
    serde_json::from_slice(&data).unwrap()
}

/// A fresh store directory under `dir`.
pub fn fresh_root(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    Store::open(&root).unwrap();
    root
}

/// Asserts the store holds no image, no blob file and no partial.
#[track_caller]
pub fn assert_untouched(root: &Path) {
    let store = Store::open(root).unwrap();
    let images = store
        .index()
        .list_images(&img_core::index::ListFilter::default())
        .unwrap();
    assert!(images.is_empty(), "images were recorded: {images:?}");
    for dir in ["blobs/sha256", "ingest"] {
        let left: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{dir} holds {left:?}");
    }
    assert!(store.index().blobs().unwrap().is_empty());
}

/// `../shared/fixtures/archives` from the workspace root, or a clear panic when absent.
pub fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/archives");
    assert!(
        dir.is_dir(),
        "the shared fixtures are absent: {} does not exist (they live beside the checkout, in shared/fixtures/archives)",
        dir.display()
    );
    dir
}

/// `<12 hex>: Loading layer [=====>]  SIZE/SIZE` for each DiffID of the image config
/// `config` whose layer is in `sizes` (archive bytes, by DiffID), as docker's final screen
/// shows a load on a terminal wider than 110 columns.
pub fn loading_lines(diff_ids: &[img_core::Digest], sizes: &[u64]) -> Vec<String> {
    diff_ids
        .iter()
        .zip(sizes)
        .map(|(d, &n)| {
            let size = docker_human_size(n);
            format!(
                "{}: Loading layer [{}>] {:>8}/{size}",
                d.short(),
                "=".repeat(50),
                size
            )
        })
        .collect()
}

/// The DiffIDs of the image whose manifest is `manifest` in `store`, and the sizes of its
/// layer blobs.
pub fn layers_of(store: &Store, manifest: &img_core::Digest) -> (Vec<img_core::Digest>, Vec<u64>) {
    let m: img_core::oci::Manifest =
        serde_json::from_slice(&store.read_blob(manifest).unwrap()).unwrap();
    let c: img_core::oci::ImageConfig =
        serde_json::from_slice(&store.read_blob(&m.config.digest).unwrap()).unwrap();
    (
        c.rootfs.diff_ids.clone(),
        m.layers.iter().map(|l| l.size).collect(),
    )
}

/// docker's `units.HumanSize`: decimal units, four significant digits (`%.4g`), written
/// here apart from img's own so the test checks it.
pub fn docker_human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let int_digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let mut s = format!("{:.*}", 4 - int_digits, v);
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", units[u])
}

/// `cmd` run through `sh` on a terminal of 200 columns (`stty`: `script`'s pseudo-terminal
/// has no size of its own), so a display draws as on a wide terminal; with `stdin`, that
/// file or shell pipeline (`cat a | `) feeds it: `< FILE` or `PIPELINE |`.
pub fn wide(cmd: &Command, stdin: Option<&str>) -> Command {
    let run = match stdin {
        Some(s) if s.ends_with('|') => format!("{s} \"$0\" \"$@\""),
        Some(s) => format!("exec \"$0\" \"$@\" {s}"),
        None => "exec \"$0\" \"$@\"".to_owned(),
    };
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("stty cols 200 rows 60 && {run}"))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}
