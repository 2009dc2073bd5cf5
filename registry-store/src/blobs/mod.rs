//! The blob store over `object_store`: objects written once, where uploads put them.
//!
//! Layout under the configured prefix:
//! - `data/<upload>/<part>`: what uploads wrote, one object per request body (a monolithic
//!   upload is one part, a chunked one a part per `PATCH`). Objects are never moved or copied:
//!   once an upload's digest is verified, the metadata store records which parts hold the blob
//!   ([`BlobLocation::Upload`]), and reads go there. Publishing costs the same at any size.
//! - `blobs/<sha256|sha512>/<first two hex>/<hex>`: blobs stored by earlier versions (moved
//!   there once verified), still read and collected ([`BlobLocation::Digest`]);
//! - `tmp/`, `uploads/<id>/`: staged writes and chunks of earlier versions, and the write probe:
//!   only garbage collection touches them.

use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};
use registry_core::blob::{BlobError, BlobLocation, BlobRead, BlobStore, ByteStream, Part, StoredKind, StoredObject};
use registry_core::store::BlobLink;
use registry_core::{Digest, Hasher};
use tokio::io::AsyncWriteExt;

mod url;

pub use url::{S3Options, StorageUrl, StorageUrlError};

/// Part size for multipart uploads: above S3's 5 MiB minimum, small enough that a few parts in
/// flight keep memory flat however large the blob.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Local files have no minimum part size: smaller buffers keep a large upload's memory lower.
const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Read size for blobs on the local filesystem (`object_store` reads 8 KiB at a time, which
/// caps a download far below disk and network speed).
const LOCAL_READ_SIZE: usize = 512 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    part_size: usize,
}

fn backend(e: &object_store::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

impl ObjectBlobStore {
    #[must_use]
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self {
            store,
            prefix,
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Opens the store a storage URL names, creating the local directory when needed.
    pub fn open(url: &StorageUrl) -> Result<Self, StorageUrlError> {
        let (store, prefix) = url.build()?;
        let store = Self::new(store, prefix);
        Ok(match url {
            StorageUrl::S3 { .. } => store,
            _ => store.with_part_size(LOCAL_PART_SIZE),
        })
    }

    #[must_use]
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size;
        self
    }

    fn blob_path(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        self.prefix
            .clone()
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_dir(&self, upload: &str) -> Path {
        self.prefix.clone().join("data").join(upload)
    }

    fn part_path(&self, upload: &str, part: &str) -> Path {
        self.upload_dir(upload).join(part)
    }

    /// Writes a stream to `path`, hashing it into `hasher`; aborts the write on any error.
    /// Returns the bytes written.
    async fn write_hashed(&self, path: &Path, mut data: ByteStream, hasher: &mut Hasher) -> Result<u64, BlobError> {
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.store), path.clone(), self.part_size)
                .with_max_concurrency(MAX_PARTS_IN_FLIGHT);
        let before = hasher.len();
        let result = async {
            while let Some(chunk) = data.next().await {
                let chunk = chunk.map_err(BlobError::Input)?;
                hasher.update(&chunk);
                writer.put(chunk).await.map_err(|e| backend(&e))?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(path = %path, error = %abort, "aborting a failed blob write failed");
            }
            return Err(e);
        }
        // A failed shutdown (the final put or the multipart completion) cannot be aborted: the
        // writer is past that point (object_store panics on it), and nothing became visible.
        writer.shutdown().await.map_err(|e| BlobError::Backend(e.to_string()))?;
        Ok(hasher.len() - before)
    }

    /// Streams `range` (within its size) of the object at `path`.
    async fn read_object(&self, path: &Path, range: Range<u64>) -> Result<ByteStream, object_store::Error> {
        let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), ..GetOptions::default() };
        let result = self.store.get_opts(path, options).await?;
        Ok(match result.payload {
            GetResultPayload::File(file, _) => file_stream(file, &range),
            GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
        })
    }

    /// The objects holding `range` of a blob, with the range of each to read, in order.
    fn pieces(&self, blob: &BlobLink, range: &Range<u64>) -> Vec<(Path, Range<u64>)> {
        match &blob.location {
            BlobLocation::Digest => vec![(self.blob_path(&blob.digest), range.clone())],
            BlobLocation::Upload { upload, parts } => {
                let mut offset = 0;
                let mut out = Vec::new();
                for part in parts {
                    let (start, end) = (offset, offset + part.size);
                    offset = end;
                    if end <= range.start || start >= range.end {
                        continue;
                    }
                    let within = range.start.max(start) - start..range.end.min(end) - start;
                    out.push((self.part_path(upload, &part.name), within));
                }
                out
            }
        }
    }

    async fn delete_prefix(&self, dir: &Path) -> Result<(), BlobError> {
        let paths = self.store.list(Some(dir)).map_ok(|m| m.location).boxed();
        self.store
            .delete_stream(paths)
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_else(|e| if matches!(e, object_store::Error::NotFound { .. }) { Ok(()) } else { Err(backend(&e)) })
    }
}

/// Streams `range` of a local file in large positional reads, two in flight, so reading the
/// next chunk overlaps sending the last. Each read is a short blocking task: a slow client
/// holds no thread.
fn file_stream(file: std::fs::File, range: &Range<u64>) -> ByteStream {
    use std::os::unix::fs::FileExt;
    let file = Arc::new(file);
    let end = range.end;
    let chunk = LOCAL_READ_SIZE as u64;
    let reads = (range.start..end).step_by(LOCAL_READ_SIZE).map(move |offset| {
        let file = Arc::clone(&file);
        let len = usize::try_from(chunk.min(end - offset)).expect("chunk fits in memory");
        async move {
            // Allocated here, on a runtime worker, not on the blocking thread: each blocking
            // thread would otherwise grow a malloc arena of its own and keep it.
            let mut buf = vec![0u8; len];
            tokio::task::spawn_blocking(move || {
                file.read_exact_at(&mut buf, offset)?;
                Ok(bytes::Bytes::from(buf))
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        }
    });
    futures::stream::iter(reads).buffered(2).boxed()
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobStore {
    async fn write_part(&self, upload: &str, part: &str, data: ByteStream, hasher: &mut Hasher) -> Result<u64, BlobError> {
        self.write_hashed(&self.part_path(upload, part), data, hasher).await
    }

    fn read_parts(&self, upload: &str, parts: &[Part]) -> ByteStream {
        let store = Arc::clone(&self.store);
        let paths: Vec<Path> = parts.iter().map(|p| self.part_path(upload, &p.name)).collect();
        futures::stream::iter(paths)
            .then(move |path| {
                let store = Arc::clone(&store);
                async move {
                    let result = store.get(&path).await.map_err(std::io::Error::other)?;
                    Ok::<_, std::io::Error>(result.into_stream().map_err(std::io::Error::other))
                }
            })
            .try_flatten()
            .boxed()
    }

    async fn delete_upload(&self, upload: &str) -> Result<(), BlobError> {
        self.delete_prefix(&self.upload_dir(upload)).await
    }

    async fn get(&self, blob: &BlobLink, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let size = blob.size;
        let range = match range {
            None => 0..size,
            Some(r) if r.start >= size || r.start >= r.end => {
                return Err(BlobError::RangeNotSatisfiable { start: r.start, end: r.end, size });
            }
            Some(r) => r.start..r.end.min(size),
        };
        if range.is_empty() {
            return Ok(BlobRead { size, range, stream: futures::stream::empty().boxed() });
        }
        let mut pieces = self.pieces(blob, &range).into_iter();
        let not_found = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound(blob.digest.clone()),
            other => backend(&other),
        };
        // The first object is opened here, so a missing blob is an error, not a cut stream; the
        // next one is opened while the current one streams.
        let first = match pieces.next() {
            Some((path, r)) => Some(self.read_object(&path, r).await.map_err(not_found)?),
            None => None,
        };
        let this = self.clone();
        let rest = futures::stream::iter(pieces)
            .map(move |(path, r)| {
                let this = this.clone();
                async move { this.read_object(&path, r).await.map_err(std::io::Error::other) }
            })
            .buffered(2)
            .try_flatten();
        let stream = futures::stream::iter(first).flatten().chain(rest).boxed();
        Ok(BlobRead { size, range, stream })
    }

    async fn delete(&self, digest: &Digest, location: &BlobLocation) -> Result<(), BlobError> {
        match location {
            BlobLocation::Digest => match self.store.delete(&self.blob_path(digest)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(backend(&e)),
            },
            BlobLocation::Upload { upload, .. } => self.delete_upload(upload).await,
        }
    }

    async fn list_objects(&self) -> Result<Vec<StoredObject>, BlobError> {
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&self.prefix)).try_collect().await.map_err(|e| backend(&e))?;
        let prefix_parts = self.prefix.parts().count();
        Ok(metas
            .into_iter()
            .map(|meta| {
                let parts: Vec<String> = meta.location.parts().skip(prefix_parts).map(|p| p.as_ref().to_owned()).collect();
                let kind = match parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    ["data", upload, part] => StoredKind::Data { upload: (*upload).to_owned(), part: (*part).to_owned() },
                    ["blobs", algorithm, _, hex] => format!("{algorithm}:{hex}").parse().map_or(StoredKind::Other, StoredKind::Blob),
                    ["tmp", _] => StoredKind::Temporary,
                    ["uploads", id, _] => StoredKind::UploadPart((*id).to_owned()),
                    _ => StoredKind::Other,
                };
                StoredObject { kind, location: meta.location.to_string(), size: meta.size, modified: meta.last_modified.timestamp_millis() }
            })
            .collect())
    }

    async fn delete_object(&self, location: &str) -> Result<(), BlobError> {
        match self.store.delete(&Path::from(location)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(&e)),
        }
    }

    async fn delete_many(&self, blobs: &[(Digest, BlobLocation)]) -> Result<(), BlobError> {
        // The objects a record names; stray parts of the same uploads (a racing request's) are
        // the orphan sweep's.
        let paths: Vec<object_store::Result<Path>> = blobs
            .iter()
            .flat_map(|(digest, location)| match location {
                BlobLocation::Digest => vec![self.blob_path(digest)],
                BlobLocation::Upload { upload, parts } => parts.iter().map(|p| self.part_path(upload, &p.name)).collect(),
            })
            .map(Ok)
            .collect();
        let results: Vec<object_store::Result<Path>> = self.store.delete_stream(futures::stream::iter(paths).boxed()).collect().await;
        let mut first = Ok(());
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) if first.is_ok() => first = Err(backend(&e)),
                Err(_) => {}
            }
        }
        first
    }

    async fn ping(&self) -> Result<(), BlobError> {
        // One listing request: fails when the bucket or directory is unreachable.
        self.store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| backend(&e))?;
        Ok(())
    }
}

impl ObjectBlobStore {
    /// The objects an upload wrote (for tests).
    pub async fn upload_objects(&self, upload: &str) -> Result<Vec<object_store::ObjectMeta>, BlobError> {
        self.store
            .list(Some(&self.upload_dir(upload)))
            .try_collect()
            .await
            .map_err(|e| backend(&e))
    }

    /// Writes an object of the digest layout, as earlier versions stored blobs (for the tests
    /// that prove such blobs stay readable).
    pub async fn put_digest_layout(&self, digest: &Digest, data: bytes::Bytes) -> Result<(), BlobError> {
        self.store.put(&self.blob_path(digest), data.into()).await.map_err(|e| backend(&e))?;
        Ok(())
    }

    /// Writes and removes a probe object: proves at start that the store accepts writes.
    pub async fn check_writable(&self) -> Result<(), BlobError> {
        let probe = self
            .prefix
            .clone()
            .join("tmp")
            .join(format!("probe-{}", uuid::Uuid::new_v4()));
        self.store
            .put(&probe, bytes::Bytes::from_static(b"probe").into())
            .await
            .map_err(|e| backend(&e))?;
        self.store.delete(&probe).await.map_err(|e| backend(&e))?;
        Ok(())
    }
}
