//! Test and automation helpers, compiled only with the `testing` feature (xtask and the
//! tools' dev-dependencies enable it): a real `docker-registry` harness, deterministic
//! test images, and pushing them with img-core's own client.
//!
//! ```no_run
//! use img_core::testing::{TestRegistry, push_image, standard_set};
//! # fn main() -> img_core::Result<()> {
//! let registry = TestRegistry::start()?;
//! let client = registry.client()?;
//! for image in standard_set() {
//!     push_image(&client, &image)?;
//! }
//! # Ok(()) }
//! ```

pub mod basic_tls;
pub mod docker_compare;
pub mod dockerd;
pub mod fault_proxy;
pub mod fixture;
pub mod htpasswd;
pub mod http;
pub mod images;
pub mod latency;
pub mod real_images;
pub mod registry;
pub mod run;
pub mod second_user;
pub mod seed;
pub mod small_disk;
pub mod tls;
pub mod token_server;
pub mod verify;

pub use crate::output::screen::screen;
pub use basic_tls::BasicTlsRegistry;
pub use docker_compare::DockerComparison;
pub use dockerd::TestDockerd;
pub use fixture::Fixture;
pub use htpasswd::write_htpasswd;
pub use images::{TestImage, big_image, image_with_layers, standard_set};
pub use real_images::RealImage;
pub use registry::{TestRegistry, TestRegistryBuilder, TokenAuthConfig};
pub use run::{Run, on_terminal, run, stdout_of};
pub use seed::push_image;
pub use verify::verify_store;
