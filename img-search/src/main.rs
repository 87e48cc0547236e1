//! img-search: not built yet.

fn main() {
    eprintln!("img-search: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
