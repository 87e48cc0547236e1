//! cargo xtask: the project's automation as Rust subcommands, one file a task
//! (`cargo xtask registry`, `cargo xtask ci`, `cargo xtask demo`, `cargo xtask bench`).

use argh::FromArgs;

mod bench;
mod ci;
mod registry;
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
    Bench(bench::BenchCmd),
}

/// Run every check CI runs: install the test packages if missing, then fmt, clippy and
/// every test.
#[derive(FromArgs)]
#[argh(subcommand, name = "ci")]
struct CiCmd {}

fn main() {
    let xtask: Xtask = argh::from_env();
    let result = match xtask.command {
        Command::Registry(cmd) => registry::run(cmd),
        Command::Ci(_) => ci::ci(),
        Command::Bench(cmd) => bench::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
