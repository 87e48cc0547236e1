//! cargo xtask: the project's automation as Rust subcommands, one file a task
//! (`cargo xtask registry`, `cargo xtask ci`, `cargo xtask demo`, `cargo xtask bench`).

use argh::FromArgs;

mod registry;

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
    Bench(BenchCmd),
}

/// Run every check CI runs.
#[derive(FromArgs)]
#[argh(subcommand, name = "ci")]
struct CiCmd {}

/// Show the tools at work against a local registry.
#[derive(FromArgs)]
#[argh(subcommand, name = "demo")]
struct DemoCmd {}

/// Measure pulls and pushes against a local registry.
#[derive(FromArgs)]
#[argh(subcommand, name = "bench")]
struct BenchCmd {}

fn main() {
    let xtask: Xtask = argh::from_env();
    let result = match xtask.command {
        Command::Registry(cmd) => registry::run(cmd),
        // Placeholders on this branch only: their owners replace them.
        Command::Ci(_) | Command::Demo(_) | Command::Bench(_) => {
            Err("not yet: this task arrives with its own change".to_owned())
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
