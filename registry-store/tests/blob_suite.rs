//! The blob store suite: every test runs on the local filesystem, in memory and on a real
//! S3-compatible server.

mod common;

use common::blobs::{generated, generated_digest, hash_stream, once};
use registry_core::blob::{BlobError, BlobLocation, BlobStore, ByteStream, Part, StoredKind};
use registry_core::store::BlobLink;
use registry_core::{Algorithm, Digest, Hasher};
use registry_store::ObjectBlobStore;

const MIB: u64 = 1024 * 1024;

fn upload_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Writes `chunks` as the parts of one upload, as its requests would: the blob they make.
async fn write_upload(store: &ObjectBlobStore, upload: &str, chunks: Vec<ByteStream>) -> BlobLink {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut parts = Vec::new();
    for (i, data) in chunks.into_iter().enumerate() {
        let name = format!("{:020}-{i}", hasher.len());
        let size = store.write_part(upload, &name, data, &mut hasher).await.unwrap();
        parts.push(Part { name, size });
    }
    let size = hasher.len();
    BlobLink { digest: hasher.finish(), size, location: BlobLocation::Upload { upload: upload.to_owned(), parts } }
}

async fn body(read: registry_core::blob::BlobRead) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = read.stream;
    while let Some(c) = futures::StreamExt::next(&mut s).await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

async fn small_blob_round_trip(store: ObjectBlobStore) {
    let upload = upload_id();
    let blob = write_upload(&store, &upload, vec![once(b"hello blob")]).await;
    assert_eq!((blob.digest.clone(), blob.size), (Digest::of(b"hello blob"), 10));
    let read = store.get(&blob, None).await.unwrap();
    assert_eq!((read.size, read.range.clone()), (10, 0..10));
    assert_eq!(hash_stream(read.stream).await, (blob.digest.clone(), 10));

    store.delete(&blob.digest, &blob.location).await.unwrap();
    store.delete(&blob.digest, &blob.location).await.unwrap();
    assert!(matches!(store.get(&blob, None).await, Err(BlobError::NotFound(_))));
    assert!(store.upload_objects(&upload).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

async fn an_empty_blob_is_a_blob(store: ObjectBlobStore) {
    let blob = write_upload(&store, &upload_id(), vec![]).await;
    assert_eq!((blob.digest.clone(), blob.size), (Digest::of(b""), 0));
    let read = store.get(&blob, None).await.unwrap();
    assert_eq!((read.size, body(read).await), (0, Vec::new()));
}

/// The hashing state goes on from part to part: the digest of the whole, each byte hashed once.
async fn parts_hash_and_read_as_one_blob(store: ObjectBlobStore) {
    let upload = upload_id();
    let blob = write_upload(&store, &upload, vec![generated(5, 6 * MIB, None), once(b"tail")]).await;
    assert_eq!(blob.size, 6 * MIB + 4);
    let mut expected = Hasher::new(Algorithm::Sha256);
    let mut first = generated(5, 6 * MIB, None);
    while let Some(c) = futures::StreamExt::next(&mut first).await {
        expected.update(&c.unwrap());
    }
    expected.update(b"tail");
    let expected = expected.finish();
    assert_eq!(blob.digest, expected);
    assert_eq!(hash_stream(store.get(&blob, None).await.unwrap().stream).await, (expected.clone(), 6 * MIB + 4));
    let BlobLocation::Upload { parts, .. } = &blob.location else { unreachable!() };
    assert_eq!(hash_stream(store.read_parts(&upload, parts)).await, (expected, 6 * MIB + 4));
}

async fn an_aborted_write_leaves_nothing(store: ObjectBlobStore) {
    // Breaks after 20 MiB: past the first multipart parts, so a multipart upload is aborted.
    let upload = upload_id();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let err = store.write_part(&upload, "p", generated(2, 40 * MIB, Some(20 * MIB)), &mut hasher).await.unwrap_err();
    assert!(matches!(err, BlobError::Input(_)), "{err}");
    assert!(store.upload_objects(&upload).await.unwrap().is_empty(), "the partial write was removed");
}

/// Ranges within one part and across parts' boundaries.
async fn range_reads(store: ObjectBlobStore) {
    let blob = write_upload(&store, &upload_id(), vec![once(b"0123"), once(b"456"), once(b"789")]).await;
    let read = |r| store.get(&blob, Some(r));
    let r = read(2..5).await.unwrap();
    assert_eq!((r.size, r.range.clone()), (10, 2..5));
    assert_eq!(body(r).await, b"234");
    assert_eq!(body(read(4..7).await.unwrap()).await, b"456", "exactly one part");
    assert_eq!(body(read(1..10).await.unwrap()).await, b"123456789");
    let r = read(7..100).await.unwrap();
    assert_eq!(r.range, 7..10, "an end past the blob is clamped");
    assert_eq!(body(r).await, b"789");
    assert!(matches!(read(10..11).await, Err(BlobError::RangeNotSatisfiable { size: 10, .. })));
    assert!(matches!(read(5..5).await, Err(BlobError::RangeNotSatisfiable { .. })));
}

async fn a_200_mib_blob_streams_through(store: ObjectBlobStore) {
    let size = 200 * MIB;
    let expected = generated_digest(3, size).await;
    let upload = upload_id();
    let blob = write_upload(&store, &upload, vec![generated(3, size, None)]).await;
    assert_eq!((blob.digest.clone(), blob.size), (expected.clone(), size));
    assert_eq!(store.upload_objects(&upload).await.unwrap().len(), 1, "one object, where it was written");
    let read = store.get(&blob, None).await.unwrap();
    assert_eq!(hash_stream(read.stream).await, (expected.clone(), size));
    let tail = store.get(&blob, Some(size - MIB..size)).await.unwrap();
    assert_eq!(hash_stream(tail.stream).await.1, MIB);
}

/// Blobs an earlier version stored under their digest stay readable and collectable.
async fn blobs_of_the_digest_layout_stay_readable(store: ObjectBlobStore) {
    let digest = Digest::of(b"stored by an earlier version");
    store.put_digest_layout(&digest, bytes::Bytes::from_static(b"stored by an earlier version")).await.unwrap();
    let blob = BlobLink { digest: digest.clone(), size: 28, location: BlobLocation::Digest };
    assert_eq!(body(store.get(&blob, None).await.unwrap()).await, b"stored by an earlier version");
    assert_eq!(body(store.get(&blob, Some(7..9)).await.unwrap()).await, b"by");
    let listed = store.list_objects().await.unwrap();
    assert!(listed.iter().any(|o| o.kind == StoredKind::Blob(digest.clone())), "{listed:?}");
    store.delete(&digest, &BlobLocation::Digest).await.unwrap();
    assert!(matches!(store.get(&blob, None).await, Err(BlobError::NotFound(_))));
}

/// What garbage collection sees: each object of an upload, by upload and part.
async fn objects_are_listed_by_upload_and_part(store: ObjectBlobStore) {
    let upload = upload_id();
    write_upload(&store, &upload, vec![once(b"a"), once(b"b")]).await;
    let mut parts: Vec<_> = store
        .list_objects()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|o| match o.kind {
            StoredKind::Data { upload: u, part } if u == upload => Some(part),
            _ => None,
        })
        .collect();
    parts.sort();
    assert_eq!(parts, [format!("{:020}-0", 0), format!("{:020}-1", 1)]);
    store.delete_upload(&upload).await.unwrap();
    store.delete_upload(&upload).await.unwrap();
    assert!(store.upload_objects(&upload).await.unwrap().is_empty());
}

blob_tests!(
    small_blob_round_trip,
    an_empty_blob_is_a_blob,
    parts_hash_and_read_as_one_blob,
    an_aborted_write_leaves_nothing,
    range_reads,
    a_200_mib_blob_streams_through,
    blobs_of_the_digest_layout_stay_readable,
    objects_are_listed_by_upload_and_part,
);

/// Object storage that cannot be reached: writes small and large fail with a backend error
/// (the request then answers 503) — never a panic of the writer — and so do reads.
#[tokio::test]
async fn an_unreachable_s3_store_fails_writes_cleanly() {
    let options = registry_store::S3Options { endpoint: Some("http://127.0.0.1:1".into()), ..common::blobs::s3_options() };
    let url = registry_store::StorageUrl::parse("s3://nowhere/registry", options).unwrap();
    let store = ObjectBlobStore::open(&url).unwrap();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let small = store.write_part("u", "small", once(b"small"), &mut hasher).await.unwrap_err();
    assert!(matches!(small, BlobError::Backend(_)), "{small}");
    let large = store.write_part("u", "large", generated(9, 12 * MIB, None), &mut hasher).await.unwrap_err();
    assert!(matches!(large, BlobError::Backend(_)), "{large}");
    let blob = BlobLink { digest: Digest::of(b"x"), size: 1, location: BlobLocation::Digest };
    assert!(matches!(store.get(&blob, None).await, Err(BlobError::Backend(_))));
}
