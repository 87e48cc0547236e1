//! img-ls: not built yet.

fn main() {
    eprintln!("img-ls: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
