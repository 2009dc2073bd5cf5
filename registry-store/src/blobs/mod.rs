//! The content-addressed blob store over `object_store`.
//!
//! Layout under the configured prefix:
//! - `blobs/sha256/<first two hex>/<hex>`: verified blobs, immutable;
//! - `tmp/<uuid>`: writes in progress. A write streams into a temporary object while hashing,
//!   and is moved to its final key only once complete and verified, so a reader never sees a
//!   partial or wrong blob. Leftovers of a crash stay under `tmp/` for garbage collection.

use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};
use registry_core::blob::{BlobError, BlobInfo, BlobRead, BlobStore, ByteStream, Staged, StoredKind, StoredObject};
use registry_core::{Algorithm, Digest, Hasher};
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
        self.prefix.clone().join("uploads").join(upload)
    }

    fn part_path(&self, upload: &str, part: &str) -> Path {
        self.upload_dir(upload).join(part)
    }

    fn temp_path(&self) -> Path {
        self.prefix
            .clone()
            .join("tmp")
            .join(uuid::Uuid::new_v4().to_string())
    }

    /// Writes a stream to `path`, hashing it in `algorithm`; aborts the write on any error.
    async fn write_hashed(&self, path: &Path, mut data: ByteStream, algorithm: Algorithm) -> Result<BlobInfo, BlobError> {
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.store), path.clone(), self.part_size)
                .with_max_concurrency(MAX_PARTS_IN_FLIGHT);
        let mut hasher = Hasher::new(algorithm);
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
        let size = hasher.len();
        Ok(BlobInfo {
            digest: hasher.finish(),
            size,
        })
    }

    async fn remove_temp(&self, path: &Path) {
        if let Err(e) = self.store.delete(path).await
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            tracing::warn!(path = %path, error = %e, "removing a temporary blob failed");
        }
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
    async fn stage(&self, data: ByteStream, expected: Option<&Digest>) -> Result<Staged, BlobError> {
        let temp = self.temp_path();
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let info = self.write_hashed(&temp, data, algorithm).await?;
        if let Some(expected) = expected.filter(|e| **e != info.digest) {
            self.remove_temp(&temp).await;
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual: info.digest,
            });
        }
        Ok(Staged { info, location: temp.to_string() })
    }

    async fn publish(&self, staged: Staged) -> Result<BlobInfo, BlobError> {
        let temp = Path::from(staged.location.as_str());
        let info = staged.info;
        if self.stat(&info.digest).await?.is_some() {
            // Content-addressed: an existing blob with this digest already has these bytes.
            self.remove_temp(&temp).await;
            return Ok(info);
        }
        // A rename on the filesystem, a server-side copy then delete on S3: atomic for readers.
        self.store
            .rename(&temp, &self.blob_path(&info.digest))
            .await
            .map_err(|e| backend(&e))?;
        Ok(info)
    }

    async fn discard(&self, staged: Staged) {
        self.remove_temp(&Path::from(staged.location.as_str())).await;
    }

    async fn list_objects(&self) -> Result<Vec<StoredObject>, BlobError> {
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&self.prefix)).try_collect().await.map_err(|e| backend(&e))?;
        let prefix_parts = self.prefix.parts().count();
        Ok(metas
            .into_iter()
            .map(|meta| {
                let parts: Vec<String> = meta.location.parts().skip(prefix_parts).map(|p| p.as_ref().to_owned()).collect();
                let kind = match parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
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

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let path = self.blob_path(digest);
        let not_found = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound(digest.clone()),
            other => backend(&other),
        };
        let (options, range) = match range {
            None => (GetOptions::default(), None),
            Some(r) => {
                let size = self.store.head(&path).await.map_err(not_found)?.size;
                if r.start >= size || r.start >= r.end {
                    return Err(BlobError::RangeNotSatisfiable {
                        start: r.start,
                        end: r.end,
                        size,
                    });
                }
                let r = r.start..r.end.min(size);
                (
                    GetOptions {
                        range: Some(GetRange::Bounded(r.clone())),
                        ..GetOptions::default()
                    },
                    Some(r),
                )
            }
        };
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(not_found)?;
        let size = result.meta.size;
        let range = range.unwrap_or(0..size);
        let stream = match result.payload {
            GetResultPayload::File(file, _) => file_stream(file, &range),
            GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
        };
        Ok(BlobRead {
            size,
            range,
            stream,
        })
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        match self.store.head(&self.blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(&e)),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), BlobError> {
        match self.store.delete(&self.blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(&e)),
        }
    }

    async fn delete_many(&self, digests: &[Digest]) -> Result<(), BlobError> {
        let paths: Vec<object_store::Result<Path>> = digests.iter().map(|d| Ok(self.blob_path(d))).collect();
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

    async fn put_upload_part(&self, upload: &str, part: &str, data: ByteStream) -> Result<u64, BlobError> {
        Ok(self.write_hashed(&self.part_path(upload, part), data, Algorithm::Sha256).await?.size)
    }

    fn upload_parts(&self, upload: &str, parts: &[String]) -> ByteStream {
        let store = Arc::clone(&self.store);
        let paths: Vec<Path> = parts.iter().map(|p| self.part_path(upload, p)).collect();
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

    async fn delete_upload_parts(&self, upload: &str) -> Result<(), BlobError> {
        let dir = self.upload_dir(upload);
        let paths = self.store.list(Some(&dir)).map_ok(|m| m.location).boxed();
        self.store
            .delete_stream(paths)
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_else(|e| if matches!(e, object_store::Error::NotFound { .. }) { Ok(()) } else { Err(backend(&e)) })
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
    /// Objects under `tmp/`: writes in progress, or left behind by a crash (for GC and tests).
    pub async fn temporary_objects(&self) -> Result<Vec<object_store::ObjectMeta>, BlobError> {
        let prefix = self.prefix.clone().join("tmp");
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| backend(&e))
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
