//! One file a verb: what each tool does, as a function and an options struct, so that a
//! tool's `main` is only argument parsing and output.

pub mod check;
pub mod filters;
pub mod inspect;
pub mod login;
pub mod ls;
pub mod pack;
mod parallel;
pub mod progress;
pub mod pull;
pub mod push;
pub mod resolve;
pub mod rm;
pub mod search;
pub mod tag;
pub mod verify;

// What a tool's main names besides the verbs: a `--platform` value and a `-f` template.
pub use crate::oci::Platform;
pub use crate::template::Template;
