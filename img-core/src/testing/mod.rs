//! (placeholder: filled by its own change)

pub mod fault_proxy;
pub mod tls;
pub mod token_server;
