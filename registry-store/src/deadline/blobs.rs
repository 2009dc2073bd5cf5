//! [`TimedBlobs`]: the blob store with deadlines that tell a hung storage from a slow client.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt as _};
use registry_core::blob::{BlobError, BlobLocation, BlobRead, BlobStore, ByteStream, Part, StoredObject};
use registry_core::store::BlobLink;
use registry_core::{Digest, Hasher};

use super::Deadlines;

/// Any blob store, each call bounded by the deadline of its kind (see [`Deadlines`]). Reads
/// are bounded until their first byte, then cut only when the storage sends nothing for
/// [`Deadlines::idle`] while the client waits for it; writes only when the storage takes no
/// more of the client's bytes (or does not confirm the last) for as long. The client's own
/// pace never counts.
pub struct TimedBlobs {
    inner: Arc<dyn BlobStore>,
    deadlines: Deadlines,
}

impl TimedBlobs {
    #[must_use]
    pub fn new(inner: Arc<dyn BlobStore>, deadlines: Deadlines) -> Self {
        Self { inner, deadlines }
    }

    async fn within<T>(&self, limit: Duration, what: &str, call: impl Future<Output = Result<T, BlobError>>) -> Result<T, BlobError> {
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| Err(unavailable(what, limit)))
    }

    /// Runs a write of `data` into the storage, cut when the storage stalls.
    async fn watched<T, F>(&self, data: ByteStream, what: &str, write: impl FnOnce(ByteStream) -> F) -> Result<T, BlobError>
    where
        F: Future<Output = Result<T, BlobError>>,
    {
        let progress = Arc::new(Progress::new());
        let input = Watched { inner: data, progress: Arc::clone(&progress) };
        let write = write(Box::pin(input));
        tokio::pin!(write);
        let check = (self.deadlines.idle / 8).clamp(Duration::from_millis(10), Duration::from_millis(250));
        loop {
            tokio::select! {
                outcome = &mut write => return outcome.map_err(|e| stalled_input(e, what)),
                () = tokio::time::sleep(check) => {
                    if progress.storage_stalled(self.deadlines.idle) {
                        return Err(unavailable(what, self.deadlines.idle));
                    }
                }
            }
        }
    }
}

fn unavailable(what: &str, limit: Duration) -> BlobError {
    BlobError::Unavailable(format!("the storage did not answer ({what}) within {} ms", super::millis(limit)))
}

/// A read from the storage that stopped moving, as the error of a byte stream.
#[derive(Debug, thiserror::Error)]
#[error("the storage sent nothing for {0} ms")]
struct Stalled(u128);

/// A write whose input came from the storage (an upload's earlier parts) and stalled there is
/// the storage's failure, not the client's.
fn stalled_input(e: BlobError, what: &str) -> BlobError {
    match e {
        BlobError::Input(io) if io.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Stalled>) => {
            BlobError::Unavailable(format!("the storage stalled ({what}): {io}"))
        }
        other => other,
    }
}

#[async_trait::async_trait]
impl BlobStore for TimedBlobs {
    async fn write_part(&self, upload: &str, part: &str, data: ByteStream, hasher: &mut Hasher) -> Result<u64, BlobError> {
        self.watched(data, "write part", |data| self.inner.write_part(upload, part, data, hasher)).await
    }

    fn read_parts(&self, upload: &str, parts: &[Part]) -> ByteStream {
        idle_bounded(self.inner.read_parts(upload, parts), self.deadlines.idle)
    }

    /// Bounded like a single call: it runs while a client waits for the answer to a failed
    /// upload, and what it leaves is the orphan sweep's.
    async fn delete_upload(&self, upload: &str) -> Result<(), BlobError> {
        self.within(self.deadlines.storage, "delete upload", self.inner.delete_upload(upload)).await
    }

    async fn get(&self, blob: &BlobLink, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let mut read = self.within(self.deadlines.storage, "get", self.inner.get(blob, range)).await?;
        read.stream = idle_bounded(read.stream, self.deadlines.idle);
        Ok(read)
    }

    async fn delete(&self, digest: &Digest, location: &BlobLocation) -> Result<(), BlobError> {
        self.within(self.deadlines.long, "delete", self.inner.delete(digest, location)).await
    }

    async fn delete_many(&self, blobs: &[(Digest, BlobLocation)]) -> Result<(), BlobError> {
        self.within(self.deadlines.long, "delete", self.inner.delete_many(blobs)).await
    }

    async fn list_objects(&self) -> Result<Vec<StoredObject>, BlobError> {
        self.within(self.deadlines.long, "list", self.inner.list_objects()).await
    }

    async fn delete_object(&self, location: &str) -> Result<(), BlobError> {
        self.within(self.deadlines.storage, "delete", self.inner.delete_object(location)).await
    }

    async fn ping(&self) -> Result<(), BlobError> {
        self.within(self.deadlines.storage, "ping", self.inner.ping()).await
    }
}

/// Where a write stands, as its input stream sees it.
const WAITING_FOR_CLIENT: u8 = 0;
const STORAGE_BUSY: u8 = 1;

struct Progress {
    start: Instant,
    state: AtomicU8,
    /// Milliseconds from `start` to the last change of `state`.
    since: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        // Until the store asks for the first bytes, it is busy with the storage.
        Self { start: Instant::now(), state: AtomicU8::new(STORAGE_BUSY), since: AtomicU64::new(0) }
    }

    fn set(&self, state: u8) {
        self.since.store(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Release);
        self.state.store(state, Ordering::Release);
    }

    /// The storage has held the write for longer than `idle`: it neither asked for more bytes
    /// nor finished since it was handed the last ones (or the end of the input).
    fn storage_stalled(&self, idle: Duration) -> bool {
        let since = Duration::from_millis(self.since.load(Ordering::Acquire));
        self.state.load(Ordering::Acquire) == STORAGE_BUSY && self.start.elapsed().saturating_sub(since) > idle
    }
}

/// The input of a write, noting whether the store is waiting for it or busy with what it got.
struct Watched {
    inner: ByteStream,
    progress: Arc<Progress>,
}

impl Stream for Watched {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        self.progress.set(if polled.is_pending() { WAITING_FOR_CLIENT } else { STORAGE_BUSY });
        polled
    }
}

/// `stream` from the storage, failing when it sends nothing for `idle` while being asked.
fn idle_bounded(stream: ByteStream, idle: Duration) -> ByteStream {
    Box::pin(IdleBounded { inner: stream, idle, timer: None, done: false })
}

struct IdleBounded {
    inner: ByteStream,
    idle: Duration,
    /// Running while the consumer waits for the storage.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl Stream for IdleBounded {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.poll_next_unpin(cx) {
            self.timer = None;
            return Poll::Ready(item);
        }
        let idle = self.idle;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if timer.as_mut().poll(cx).is_ready() {
            self.done = true;
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, Stalled(super::millis(idle)));
            return Poll::Ready(Some(Err(error)));
        }
        Poll::Pending
    }
}
