//! cargo xtask: the project's automation as Rust subcommands, one file a task
//! (`cargo xtask registry`, `cargo xtask ci`, `cargo xtask demo`, `cargo xtask bench`,
//! `cargo xtask stress`, `cargo xtask goldens`).

use argh::FromArgs;

mod bench;
mod ci;
mod demo;
mod goldens;
mod registry;
mod stress;
mod tidy;
mod util;

/// The img project's automation.
#[derive(FromArgs)]
struct Xtask {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Registry(registry::RegistryCmd),
    Ci(CiCmd),
    Demo(DemoCmd),
    Bench(bench::BenchCmd),
    Stress(stress::StressCmd),
    Goldens(goldens::GoldensCmd),
}

/// Run every check CI runs: install the test packages if missing, then fmt, clippy and
/// every test.
#[derive(FromArgs)]
#[argh(subcommand, name = "ci")]
struct CiCmd {}

/// Show the main job end to end: a local registry seeded with test images, and the tools
/// run on it, each command printed before its output.
#[derive(FromArgs)]
#[argh(subcommand, name = "demo")]
struct DemoCmd {}

fn main() {
    let xtask: Xtask = argh::from_env();
    let result = match xtask.command {
        Command::Registry(cmd) => registry::run(cmd),
        Command::Ci(_) => ci::ci(),
        Command::Demo(_) => demo::demo(),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Stress(cmd) => stress::run(cmd),
        Command::Goldens(cmd) => goldens::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
