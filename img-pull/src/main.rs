//! img-pull: not built yet.

fn main() {
    eprintln!("img-pull: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
