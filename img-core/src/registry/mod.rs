//! (placeholder: filled by its own change)

pub mod credentials;
