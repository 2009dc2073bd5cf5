//! Domain types and storage contracts of Sherpack Registry.
//!
//! Nothing here performs I/O: the metadata store and the blob store are traits implemented in
//! `registry-store`, so the HTTP layer and the tests can swap backends freely.

pub mod auth;
pub mod blob;
pub mod digest;
pub mod jobs;
pub mod manifest;
pub mod name;
pub mod pack;
pub mod reference;
pub mod store;
pub mod version_tag;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use name::{NameError, RepoName};
pub use reference::{Reference, ReferenceError};
