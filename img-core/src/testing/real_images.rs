//! Real images for regression tests, made the way users make them rather than generated:
//! a small root filesystem of the host's own files (busybox-static with its applet links,
//! the zoneinfo tree, `/etc` files) imported with `docker import` into a real dockerd and
//! saved with `docker save`, and a multi-layer image built from it by `podman build`
//! (RUN, ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT,
//! CMD) and saved by `podman save`. Both archives are docker's legacy format with
//! uncompressed layers, exactly what those tools hand a user.
//!
//! Building them takes seconds, but every test binary of a run wants them: they are built
//! once and cached under `<target>/real-images/`, by whichever test gets there first while
//! the others wait on a lock file; a build is written to a temporary directory and renamed
//! into place, so a killed test never leaves half a cache behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{TestDockerd, TestRegistry};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// Bumped when what is built changes, so an old cache is not reused.
const CACHE_VERSION: &str = "v1";

/// A real image, as a docker-archive on disk.
#[derive(Debug, Clone)]
pub struct RealImage {
    /// `debian-import` or `podman-build`, for messages and cache names.
    pub name: &'static str,
    /// The archive the tool's save wrote: legacy layout, `manifest.json`, uncompressed
    /// layers, tagged [`RealImage::tag`].
    pub docker_archive: PathBuf,
    /// The config digest, which is docker's image ID.
    pub id: Digest,
    /// The reference the archive carries (`real/debian-import:latest`; podman adds
    /// `localhost/` to names without a registry).
    pub tag: String,
}

/// The directory real images are cached in: beside the workspace's other build output.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("real-images").join(CACHE_VERSION)
}

fn failed(what: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("building the real test image {what}: {why}"),
    )
}

/// Runs a command, returning its stdout, or an error with its stderr.
fn run(what: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| failed(what, format!("running {:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        return Err(failed(
            what,
            format!(
                "{:?} failed ({}): {}",
                cmd.get_program(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Returns `dir/name`, building it with `build` (into a fresh directory it is given)
/// unless an earlier test of this or another process already has. One builder at a time.
fn cached(name: &str, build: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let dir = cache_dir();
    let done = dir.join(name);
    if done.is_dir() {
        return Ok(done);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
    let lock_path = dir.join(format!("{name}.lock"));
    let lock = File::create(&lock_path)
        .map_err(|e| Error::io(e, format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| Error::io(e, format!("locking {}", lock_path.display())))?;
    if done.is_dir() {
        return Ok(done);
    }
    let work = dir.join(format!("{name}.building.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .map_err(|e| Error::io(e, format!("creating {}", work.display())))?;
    if let Err(e) = build(&work) {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    std::fs::rename(&work, &done)
        .map_err(|e| Error::io(e, format!("renaming {} into place", done.display())))?;
    Ok(done)
}

/// A tar of a small but real root filesystem: `/bin/busybox` and a symlink for each of
/// its applets (so `RUN` lines have a shell), `/usr/share/zoneinfo` (a tree of many small
/// files and symlinks), `/etc/passwd`, `/etc/group`, `/etc/os-release`, empty `/tmp`.
pub fn rootfs_tar() -> Result<PathBuf> {
    let dir = cached("rootfs", |work| {
        let busybox = Path::new("/usr/bin/busybox");
        if !busybox.is_file() {
            return Err(failed(
                "rootfs",
                "/usr/bin/busybox is missing (Debian package busybox-static)",
            ));
        }
        let root = work.join("root");
        for d in ["bin", "etc", "tmp", "root", "home", "usr/share", "var/lib"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| Error::io(e, "making the rootfs"))?;
        }
        std::fs::copy(busybox, root.join("bin/busybox"))
            .map_err(|e| Error::io(e, "copying busybox"))?;
        let applets = run("rootfs", Command::new(busybox).arg("--list"))?;
        for applet in applets
            .lines()
            .filter(|a| *a != "busybox" && !a.contains('/'))
        {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
                .map_err(|e| Error::io(e, format!("linking applet {applet}")))?;
        }
        run(
            "rootfs",
            Command::new("cp")
                .args(["-a", "/usr/share/zoneinfo"])
                .arg(root.join("usr/share/zoneinfo")),
        )?;
        let files = [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
            (
                "etc/os-release",
                "PRETTY_NAME=\"img test rootfs (busybox)\"\nID=imgtest\n",
            ),
        ];
        for (path, text) in files {
            std::fs::write(root.join(path), text).map_err(|e| Error::io(e, "writing /etc"))?;
        }
        run(
            "rootfs",
            Command::new("tar")
                .args([
                    "--sort=name",
                    "--numeric-owner",
                    "--owner=0",
                    "--group=0",
                    "--mtime=2024-01-01 00:00:00Z",
                    "-C",
                ])
                .arg(&root)
                .arg("-cf")
                .arg(work.join("rootfs.tar"))
                .arg("."),
        )?;
        std::fs::remove_dir_all(&root).map_err(|e| Error::io(e, "removing the staged rootfs"))?;
        Ok(())
    })?;
    Ok(dir.join("rootfs.tar"))
}

fn read_image(name: &'static str, dir: &Path) -> Result<RealImage> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .map(|s| s.trim().to_owned())
            .map_err(|e| Error::io(e, format!("reading the cached {name} {f}")))
    };
    let id = read("id")?;
    let id = Digest::parse(&id).map_err(|e| failed(name, format!("bad cached id {id:?}: {e}")))?;
    Ok(RealImage {
        name,
        docker_archive: dir.join("image.tar"),
        id,
        tag: read("tag")?,
    })
}

/// The root filesystem as `docker import` makes an image of it (one layer, docker's own
/// config), saved by `docker save`. Needs a dockerd, so root.
pub fn docker_import() -> Result<RealImage> {
    let rootfs = rootfs_tar()?;
    let name = "debian-import";
    let dir = cached(name, |work| {
        let dockerd = TestDockerd::start()?;
        let tag = format!("real/{name}:latest");
        run(
            name,
            dockerd
                .docker()
                .args(["import", "--change", "CMD [\"/bin/sh\"]"])
                .arg(&rootfs)
                .arg(&tag),
        )?;
        let id = run(
            name,
            dockerd.docker().args(["inspect", "-f", "{{.Id}}", &tag]),
        )?;
        run(
            name,
            dockerd
                .docker()
                .args(["save", "-o"])
                .arg(work.join("image.tar"))
                .arg(&tag),
        )?;
        write_meta(work, &id, &tag)
    })?;
    read_image(name, &dir)
}

const CONTAINERFILE: &str = r#"FROM scratch
ADD rootfs.tar /
RUN mkdir -p /app && echo hello > /app/hello.txt
ENV APP_HOME=/app GREETING="hello world"
LABEL org.example.name=podman-build org.example.version=1.0
EXPOSE 8080/tcp
VOLUME /data
RUN echo "app:x:1000:1000::/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group
COPY extra.txt /app/extra.txt
RUN chown -R 1000:1000 /app
USER app
WORKDIR /app
HEALTHCHECK --interval=30s --timeout=5s CMD ["/bin/true"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"#;

/// A five-layer image from `podman build --format docker` (podman's OCI format drops
/// HEALTHCHECK) over the root filesystem, saved as a docker-archive. podman runs with
/// a private `--root` and vfs storage, so it touches nothing of the machine's.
pub fn podman_build() -> Result<RealImage> {
    let rootfs = rootfs_tar()?;
    let name = "podman-build";
    let dir = cached(name, |work| {
        let ctx = work.join("ctx");
        std::fs::create_dir_all(&ctx).map_err(|e| Error::io(e, "making the build context"))?;
        std::fs::copy(&rootfs, ctx.join("rootfs.tar"))
            .map_err(|e| Error::io(e, "copying the rootfs"))?;
        std::fs::write(ctx.join("extra.txt"), "extra\n")
            .and_then(|()| std::fs::write(ctx.join("Containerfile"), CONTAINERFILE))
            .map_err(|e| Error::io(e, "writing the build context"))?;
        // podman refuses a runroot of more than 50 characters: a short one in /tmp.
        let scratch = tempfile::Builder::new()
            .prefix("pdm")
            .tempdir_in("/tmp")
            .map_err(|e| Error::io(e, "creating podman's scratch directory"))?;
        let podman = |args: &[&str]| {
            let mut cmd = podman_in(scratch.path());
            cmd.args(args);
            cmd
        };
        let tag = format!("localhost/real/{name}:latest");
        let ctx_s = ctx.display().to_string();
        let file = ctx.join("Containerfile").display().to_string();
        let built = (|| -> Result<String> {
            run(
                name,
                &mut podman(&[
                    "build",
                    "--isolation",
                    "chroot",
                    "--format",
                    "docker",
                    "-t",
                    &tag,
                    "-f",
                    &file,
                    &ctx_s,
                ]),
            )?;
            let id = run(name, &mut podman(&["inspect", "--format", "{{.Id}}", &tag]))?;
            let archive = work.join("image.tar").display().to_string();
            run(
                name,
                &mut podman(&["save", "--format", "docker-archive", "-o", &archive, &tag]),
            )?;
            Ok(id)
        })();
        // podman's vfs storage is a full copy per layer: not worth caching.
        let _ = podman(&["system", "reset", "--force"]).output();
        let _ = std::fs::remove_dir_all(&ctx);
        write_meta(work, &built?, &tag)
    })?;
    read_image(name, &dir)
}

/// podman on a store of its own under `dir` (`podman-root`, `podman-run`): vfs storage,
/// cgroupfs, no events, so it touches nothing of the machine's. podman refuses a runroot
/// of more than 50 characters: `dir` should be short (a temp dir in /tmp).
pub fn podman_in(dir: &Path) -> Command {
    let mut cmd = Command::new("podman");
    cmd.arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
    cmd
}

fn write_meta(work: &Path, id: &str, tag: &str) -> Result<()> {
    let id = if id.starts_with("sha256:") {
        id.to_owned()
    } else {
        format!("sha256:{id}")
    };
    std::fs::write(work.join("id"), id)
        .and_then(|()| std::fs::write(work.join("tag"), tag))
        .map_err(|e| Error::io(e, "writing the image's id and tag"))
}

fn skopeo_copy(
    image: &RealImage,
    registry: &TestRegistry,
    reference: &str,
    extra: &[&str],
) -> Result<Digest> {
    let digest_file = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io(e, "creating skopeo's digest file"))?;
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg("--digestfile")
        .arg(digest_file.path())
        .arg(format!("docker-archive:{}", image.docker_archive.display()))
        .arg(format!("docker://{}/{reference}", registry.addr()));
    run(image.name, &mut cmd)?;
    let text = std::fs::read_to_string(digest_file.path())
        .map_err(|e| Error::io(e, "reading skopeo's digest file"))?;
    Digest::parse(text.trim()).map_err(|e| {
        failed(
            image.name,
            format!("skopeo wrote a bad digest {text:?}: {e}"),
        )
    })
}

/// Pushes the image to a plain-HTTP `registry` as `reference` (`repo:tag`) with skopeo,
/// which gzips the layers as a registry holds them, under a Docker schema 2 manifest.
/// Returns the manifest's digest.
pub fn push(image: &RealImage, registry: &TestRegistry, reference: &str) -> Result<Digest> {
    skopeo_copy(image, registry, reference, &["--format", "v2s2"])
}

/// Pushes the image under an OCI manifest with zstd layers (what `podman push --format
/// oci --compression-format zstd` makes). Returns the manifest's digest.
pub fn push_oci_zstd(
    image: &RealImage,
    registry: &TestRegistry,
    reference: &str,
) -> Result<Digest> {
    skopeo_copy(
        image,
        registry,
        reference,
        &["--format", "oci", "--dest-compress-format", "zstd"],
    )
}
