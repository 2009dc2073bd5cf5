//! The client library behind the `sherpack` CLI.

pub mod oci;

pub use oci::{OciClient, OciError};
