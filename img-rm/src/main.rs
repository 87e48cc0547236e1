//! img-rm: not built yet.

fn main() {
    eprintln!("img-rm: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
