//! img-pack: not built yet.

fn main() {
    eprintln!("img-pack: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
