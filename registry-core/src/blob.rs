//! The blob store contract: content-addressed, streaming, verified before visible.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::Digest;

/// A stream of body bytes, from a socket or from object storage.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

pub struct BlobRead {
    /// Size of the whole blob, whatever range was asked for.
    pub size: u64,
    /// The byte range this stream carries (`0..size` for a full read).
    pub range: Range<u64>,
    pub stream: ByteStream,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(Digest),
    #[error("content digest {actual} does not match the expected {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("range {start}-{end} is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    #[error("reading the incoming data failed: {0}")]
    Input(#[source] std::io::Error),
    #[error("object storage error: {0}")]
    Backend(String),
    /// The storage did not answer in time (it hangs, or the network to it does).
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

/// A blob written and verified but not yet readable under its digest.
#[derive(Debug)]
pub struct Staged {
    pub info: BlobInfo,
    /// Where the bytes wait (a name the store made).
    pub location: String,
}

/// What garbage collection finds in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKind {
    Blob(Digest),
    /// A staged write (in progress, or left by a crash).
    Temporary,
    /// A part of the upload session with this id.
    UploadPart(String),
    Other,
}

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub kind: StoredKind,
    pub location: String,
    pub size: u64,
    /// Last modified, Unix milliseconds.
    pub modified: i64,
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Streams `data` into a staging area, hashing it; fails (leaving nothing) when `expected`
    /// is given and does not match. [`publish`](Self::publish) makes it readable.
    async fn stage(&self, data: ByteStream, expected: Option<&Digest>) -> Result<Staged, BlobError>;

    /// Moves a staged blob in place under its digest (or drops it when the digest is already
    /// stored: content-addressed, same bytes).
    async fn publish(&self, staged: Staged) -> Result<BlobInfo, BlobError>;

    /// Drops a staged blob that will not be published.
    async fn discard(&self, staged: Staged);

    /// Every object the store holds, classified, for garbage collection.
    async fn list_objects(&self) -> Result<Vec<StoredObject>, BlobError>;

    /// Removes one object by the location [`list_objects`](Self::list_objects) gave.
    async fn delete_object(&self, location: &str) -> Result<(), BlobError>;

    /// Streams `data` into the store, hashing it on the way. The blob becomes readable under its
    /// digest only after the whole stream was written and, when `expected` is given, matched it.
    /// On any failure nothing is left visible.
    async fn put(&self, data: ByteStream, expected: Option<&Digest>) -> Result<BlobInfo, BlobError> {
        let staged = self.stage(data, expected).await?;
        self.publish(staged).await
    }

    /// Streams a blob, or the half-open byte `range` of it.
    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobRead, BlobError>;

    /// The size of a stored blob, or `None` when absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;

    /// Removes a blob; removing an absent blob is not an error.
    async fn delete(&self, digest: &Digest) -> Result<(), BlobError>;

    /// Stores one chunk of an upload session as its own object named `part`, visible once
    /// complete. `upload` and `part` are names the server made (never client input), unique per
    /// write so that two racing requests never share an object. Returns the bytes it held.
    async fn put_upload_part(&self, upload: &str, part: &str, data: ByteStream) -> Result<u64, BlobError>;

    /// The parts of an upload, concatenated in the order given.
    fn upload_parts(&self, upload: &str, parts: &[String]) -> ByteStream;

    /// Removes every part of an upload.
    async fn delete_upload_parts(&self, upload: &str) -> Result<(), BlobError>;

    /// Checks that the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<(), BlobError>;
}
