//! The blob store contract: streamed writes into objects that stay where they were written,
//! reads of a blob wherever its record says its bytes are.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::store::BlobLink;
use crate::{Digest, Hasher};

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

/// Where a stored blob's bytes are, as its record in the metadata store says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BlobLocation {
    /// One object named by the digest, `blobs/<algorithm>/<xx>/<hex>`: the layout of blobs
    /// stored before uploads kept their objects. Read and collected, never written any more.
    Digest,
    /// The objects an upload wrote, in order, left where they were written
    /// (`data/<upload>/<part>`): publishing a blob copies nothing, whatever its size.
    Upload { upload: String, parts: Vec<Part> },
}

/// One object of an upload: a name the server made, and the bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub name: String,
    pub size: u64,
}

impl BlobLocation {
    /// The text the metadata store keeps (`None`: the digest layout, as rows from before the
    /// column existed have it).
    #[must_use]
    pub fn encode(&self) -> Option<String> {
        match self {
            Self::Digest => None,
            Self::Upload { .. } => Some(serde_json::to_string(self).expect("a location serialises")),
        }
    }

    /// Reads what [`encode`](Self::encode) wrote.
    pub fn decode(text: Option<&str>) -> Result<Self, String> {
        text.map_or(Ok(Self::Digest), |t| serde_json::from_str(t).map_err(|e| format!("corrupt blob location `{t}`: {e}")))
    }
}

/// What garbage collection finds in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKind {
    /// An object of the digest layout.
    Blob(Digest),
    /// An object an upload wrote: part of a blob once published, else of the open session
    /// with this id, else garbage.
    Data { upload: String, part: String },
    /// A staged write of earlier versions (in progress, or left by a crash), or a probe.
    Temporary,
    /// A chunk of an upload session of earlier versions.
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

/// Blob storage. Bytes are written as the objects of an upload and stay there; which upload
/// holds a digest's bytes is the metadata store's to say ([`BlobLocation`]), so publishing a
/// blob is a database write, never a copy. Objects appear whole or not at all.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Streams `data` into the object `part` of `upload`, hashing it into `hasher` on the way;
    /// returns the bytes written. The object is visible once complete; on any failure nothing
    /// is left. `upload` and `part` are names the server made (never client input), unique
    /// per write so that two racing requests never share an object.
    async fn write_part(&self, upload: &str, part: &str, data: ByteStream, hasher: &mut Hasher) -> Result<u64, BlobError>;

    /// The parts of an upload, concatenated in the order given.
    fn read_parts(&self, upload: &str, parts: &[Part]) -> ByteStream;

    /// Removes every object of an upload; removing what is absent is not an error.
    async fn delete_upload(&self, upload: &str) -> Result<(), BlobError>;

    /// Streams a stored blob, or the half-open byte `range` of it.
    async fn get(&self, blob: &BlobLink, range: Option<Range<u64>>) -> Result<BlobRead, BlobError>;

    /// Removes a blob's objects (once its record is gone); absent objects are not an error.
    async fn delete(&self, digest: &Digest, location: &BlobLocation) -> Result<(), BlobError>;

    /// Every object the store holds, classified, for garbage collection.
    async fn list_objects(&self) -> Result<Vec<StoredObject>, BlobError>;

    /// Removes one object by the location [`list_objects`](Self::list_objects) gave.
    async fn delete_object(&self, location: &str) -> Result<(), BlobError>;

    /// Removes several blobs' objects (in bulk requests where the backend has them, as S3
    /// does); absent objects are not an error. The first failure is returned, after trying
    /// every blob.
    async fn delete_many(&self, blobs: &[(Digest, BlobLocation)]) -> Result<(), BlobError> {
        let mut first = Ok(());
        for (digest, location) in blobs {
            if let Err(e) = self.delete(digest, location).await
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    /// Checks that the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<(), BlobError>;
}
