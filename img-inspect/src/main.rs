//! img-inspect: not built yet.

fn main() {
    eprintln!("img-inspect: not implemented yet; this tool arrives with its own issue");
    std::process::exit(1);
}
