//! `cargo xtask bench …`: benchmarks, one file a tool, measured side by side with the
//! peer in one run (never in timed tests). Figures go to docs/benchmarks.md.

use argh::FromArgs;

mod measure;
mod pull;
mod rm;

pub use measure::{Measured, machine, median, release_binary, write_section};

/// Run a benchmark.
#[derive(FromArgs)]
#[argh(subcommand, name = "bench")]
pub struct BenchCmd {
    #[argh(subcommand)]
    which: Which,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Which {
    Pull(pull::PullBench),
    Rm(RmBench),
}

/// `img-ls -q | img-rm` of 1,000 images.
#[derive(FromArgs)]
#[argh(subcommand, name = "rm")]
struct RmBench {}

/// Runs the benchmark asked for.
pub fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd.which {
        Which::Pull(b) => pull::run(b),
        Which::Rm(_) => rm::run(),
    }
}
