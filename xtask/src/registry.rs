//! `cargo xtask registry`: a real docker-registry on 127.0.0.1, seeded with the standard
//! test images, running until Ctrl-C — for trying the tools by hand.

use std::time::Duration;

use argh::FromArgs;
use img_core::oci::{Document, media_type};
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use crate::util::target_dir;

/// Start a real docker-registry on 127.0.0.1, push the standard test images to it, and
/// keep it running until Ctrl-C.
#[derive(FromArgs)]
#[argh(subcommand, name = "registry")]
pub struct RegistryCmd {
    /// port to listen on (default: one the kernel picks)
    #[argh(option)]
    port: Option<u16>,
}

/// Runs the subcommand; returns only on failure (Ctrl-C ends the process group, the
/// registry with it).
pub fn run(cmd: RegistryCmd) -> Result<(), String> {
    // Storage under target/ rather than /tmp: Ctrl-C skips destructors, and the next run
    // empties this directory instead of leaving temporary ones behind.
    let workdir = target_dir().join("xtask-registry");
    let mut builder = TestRegistry::builder().workdir(&workdir);
    if let Some(port) = cmd.port {
        builder = builder.port(port);
    }
    let mut registry = builder.start().map_err(|e| e.to_string())?;
    let addr = registry.addr();
    println!(
        "registry listening on {addr} (storage in {})",
        workdir.display()
    );
    let client = registry.client().map_err(|e| e.to_string())?;
    for image in standard_set() {
        push_image(&client, &image).map_err(|e| e.to_string())?;
        println!("pushed {addr}/{} ({})", image.reference(), describe(&image));
    }
    eprintln!(
        "try: skopeo inspect --tls-verify=false docker://{addr}/test/multi:latest\n\
         press Ctrl-C to stop"
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if !registry.is_running() {
            return Err(format!(
                "the registry stopped; its last log lines:\n{}",
                registry.log_tail()
            ));
        }
    }
}

/// `index, 3 platforms` or `docker manifest, 2 layers, 98.1 KiB`.
fn describe(image: &TestImage) -> String {
    if image.is_index() {
        return format!("index, {} platforms", image.manifests.len());
    }
    let kind = if image.top.0.media_type == media_type::DOCKER_MANIFEST {
        "docker manifest"
    } else {
        "oci manifest"
    };
    let layers = match Document::parse(Some(&image.top.0.media_type), &image.top.1) {
        Ok(Document::Manifest(m)) => m.layers.len(),
        _ => 0,
    };
    let bytes: u64 = image.blobs.iter().map(|(d, _)| d.size).sum();
    format!(
        "{kind}, {layers} layer{}, {:.1} KiB",
        if layers == 1 { "" } else { "s" },
        bytes as f64 / 1024.0
    )
}
