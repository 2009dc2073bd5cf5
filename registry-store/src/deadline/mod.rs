//! Deadlines on every backend call, so that a database or a storage that stops answering (a
//! paused process, a network that drops packets) turns into an `Unavailable` error within
//! seconds instead of holding requests until a TCP or client timeout.
//!
//! Wrappers around any [`RegistryStore`](registry_core::store::RegistryStore)
//! ([`TimedStore`]) and any [`BlobStore`](registry_core::blob::BlobStore) ([`TimedBlobs`]),
//! with one deadline per kind of call: a metadata call, a storage call until it answers, a
//! transfer that stops moving, and calls whose length grows with the data. A transfer that
//! keeps moving is never cut, however long it takes.

use std::time::Duration;

mod blobs;
mod metadata;

pub use blobs::TimedBlobs;
pub use metadata::TimedStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// One metadata call (a transaction as a whole), getting a connection included.
    pub database: Duration,
    /// A storage call until it answers: a read's first byte, a stat, a delete.
    pub storage: Duration,
    /// A transfer waiting on the storage with no byte moving: a read whose next bytes do not
    /// come, a write whose storage does not take the next part or does not confirm the last.
    pub idle: Duration,
    /// Calls whose length grows with the data or with other writers: publishing a blob,
    /// listings for garbage collection, loading every pack, waiting for a blob's lock.
    pub long: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            database: Duration::from_secs(3),
            storage: Duration::from_secs(3),
            idle: Duration::from_secs(10),
            long: Duration::from_mins(1),
        }
    }
}

fn millis(d: Duration) -> u128 {
    d.as_millis()
}
