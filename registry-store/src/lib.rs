//! Storage backends behind the `registry-core` traits.
//!
//! - [`sql`]: the metadata store, one implementation compiled for Postgres and for `SQLite`.
//! - [`blobs`]: the content-addressed blob store over `object_store` (filesystem, S3, memory).
//! - [`deadline`]: either of them with a deadline on every call, so a hung backend fails fast.

pub mod blobs;
pub mod deadline;
pub mod sql;

pub use blobs::{ObjectBlobStore, S3Options, StorageUrl};
pub use sql::{open_metadata, open_store};
