//! The client library behind the `sherpack` CLI: OCI registries and Helm repositories
//! (credentials, token flow, TLS), packaging, signing, and dependency resolution.

pub mod archive;
pub mod config;
pub mod download;
pub mod error;
pub mod helmrepo;
pub mod http;
pub mod oci;
pub mod package;
pub mod resolve;
pub mod search;
pub mod signing;
pub mod sources;

pub use error::{Error, Result};
pub use oci::{OciClient, OciRef};
