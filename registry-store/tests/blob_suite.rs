//! The blob store suite: every test runs on the local filesystem, in memory and on a real
//! S3-compatible server.

mod common;

use common::blobs::{generated, generated_digest, hash_stream, once};
use registry_core::Digest;
use registry_core::blob::{BlobError, BlobStore};
use registry_store::ObjectBlobStore;

const MIB: u64 = 1024 * 1024;

async fn small_blob_round_trip(store: ObjectBlobStore) {
    let info = store.put(once(b"hello blob"), None).await.unwrap();
    assert_eq!(
        (info.digest.clone(), info.size),
        (Digest::of(b"hello blob"), 10)
    );
    assert_eq!(store.stat(&info.digest).await.unwrap(), Some(10));
    let read = store.get(&info.digest, None).await.unwrap();
    assert_eq!((read.size, read.range.clone()), (10, 0..10));
    assert_eq!(hash_stream(read.stream).await, (info.digest.clone(), 10));

    // Writing the same content again is a no-op that answers the same digest.
    assert_eq!(
        store
            .put(once(b"hello blob"), Some(&info.digest))
            .await
            .unwrap(),
        info
    );

    store.delete(&info.digest).await.unwrap();
    store.delete(&info.digest).await.unwrap();
    assert_eq!(store.stat(&info.digest).await.unwrap(), None);
    assert!(matches!(
        store.get(&info.digest, None).await,
        Err(BlobError::NotFound(_))
    ));
    assert!(store.temporary_objects().await.unwrap().is_empty());
    store.ping().await.unwrap();
}

async fn an_empty_blob_is_a_blob(store: ObjectBlobStore) {
    let info = store
        .put(futures::StreamExt::boxed(futures::stream::empty()), None)
        .await
        .unwrap();
    assert_eq!(info.digest, Digest::of(b""));
    assert_eq!(store.stat(&info.digest).await.unwrap(), Some(0));
}

async fn a_digest_mismatch_leaves_nothing(store: ObjectBlobStore) {
    let claimed = Digest::of(b"something else");
    let err = store
        .put(generated(1, 3 * MIB, None), Some(&claimed))
        .await
        .unwrap_err();
    let actual = generated_digest(1, 3 * MIB).await;
    assert!(
        matches!(&err, BlobError::DigestMismatch { expected, actual: a } if *expected == claimed && *a == actual),
        "{err}"
    );
    assert_eq!(store.stat(&actual).await.unwrap(), None);
    assert_eq!(store.stat(&claimed).await.unwrap(), None);
    assert!(store.temporary_objects().await.unwrap().is_empty());
}

async fn an_aborted_write_leaves_nothing(store: ObjectBlobStore) {
    // Breaks after 20 MiB: past the first multipart parts, so a multipart upload is aborted.
    let err = store
        .put(generated(2, 40 * MIB, Some(20 * MIB)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::Input(_)), "{err}");
    assert_eq!(
        store
            .stat(&generated_digest(2, 40 * MIB).await)
            .await
            .unwrap(),
        None
    );
    assert!(
        store.temporary_objects().await.unwrap().is_empty(),
        "the partial write was removed"
    );
}

async fn range_reads(store: ObjectBlobStore) {
    let info = store.put(once(b"0123456789"), None).await.unwrap();
    let read = |r| store.get(&info.digest, Some(r));
    let body = |r: registry_core::blob::BlobRead| async move {
        let mut out = Vec::new();
        let mut s = r.stream;
        while let Some(c) = futures::StreamExt::next(&mut s).await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    };
    let r = read(2..5).await.unwrap();
    assert_eq!((r.size, r.range.clone()), (10, 2..5));
    assert_eq!(body(r).await, b"234");
    let r = read(7..100).await.unwrap();
    assert_eq!(r.range, 7..10, "an end past the blob is clamped");
    assert_eq!(body(r).await, b"789");
    assert!(matches!(
        read(10..11).await,
        Err(BlobError::RangeNotSatisfiable { size: 10, .. })
    ));
    assert!(matches!(
        read(5..5).await,
        Err(BlobError::RangeNotSatisfiable { .. })
    ));
    assert!(matches!(
        store.get(&Digest::of(b"absent"), Some(0..1)).await,
        Err(BlobError::NotFound(_))
    ));
}

async fn a_200_mib_blob_streams_through(store: ObjectBlobStore) {
    let size = 200 * MIB;
    let expected = generated_digest(3, size).await;
    let info = store
        .put(generated(3, size, None), Some(&expected))
        .await
        .unwrap();
    assert_eq!((info.digest.clone(), info.size), (expected.clone(), size));
    assert_eq!(store.stat(&expected).await.unwrap(), Some(size));
    let read = store.get(&expected, None).await.unwrap();
    assert_eq!(hash_stream(read.stream).await, (expected.clone(), size));
    let tail = store.get(&expected, Some(size - MIB..size)).await.unwrap();
    assert_eq!(hash_stream(tail.stream).await.1, MIB);
    assert!(store.temporary_objects().await.unwrap().is_empty());
}

async fn concurrent_writes_of_one_blob_agree(store: ObjectBlobStore) {
    let writes = (0..4).map(|_| store.put(generated(4, 9 * MIB, None), None));
    let results = futures::future::join_all(writes).await;
    let expected = generated_digest(4, 9 * MIB).await;
    for r in results {
        assert_eq!(r.unwrap().digest, expected);
    }
    assert_eq!(
        hash_stream(store.get(&expected, None).await.unwrap().stream).await,
        (expected, 9 * MIB)
    );
}

async fn upload_parts_concatenate_in_order(store: ObjectBlobStore) {
    let id = uuid::Uuid::new_v4().to_string();
    let parts = ["a".to_owned(), "b".to_owned()];
    assert_eq!(store.put_upload_part(&id, &parts[0], generated(5, 6 * MIB, None)).await.unwrap(), 6 * MIB);
    assert_eq!(store.put_upload_part(&id, &parts[1], once(b"tail")).await.unwrap(), 4);
    let err = store.put_upload_part(&id, "c", generated(6, 12 * MIB, Some(MIB))).await.unwrap_err();
    assert!(matches!(err, BlobError::Input(_)));
    let info = store.put(store.upload_parts(&id, &parts), None).await.unwrap();
    assert_eq!(info.size, 6 * MIB + 4);
    let mut expected = registry_core::Hasher::new(registry_core::Algorithm::Sha256);
    let mut first = generated(5, 6 * MIB, None);
    while let Some(c) = futures::StreamExt::next(&mut first).await {
        expected.update(&c.unwrap());
    }
    expected.update(b"tail");
    assert_eq!(info.digest, expected.finish());
    store.delete_upload_parts(&id).await.unwrap();
    store.delete_upload_parts(&id).await.unwrap();
    let missing = store.put(store.upload_parts(&id, &parts[..1]), None).await.unwrap_err();
    assert!(matches!(missing, BlobError::Input(_)), "parts are gone: {missing}");
}

blob_tests!(
    upload_parts_concatenate_in_order,
    small_blob_round_trip,
    an_empty_blob_is_a_blob,
    a_digest_mismatch_leaves_nothing,
    an_aborted_write_leaves_nothing,
    range_reads,
    a_200_mib_blob_streams_through,
    concurrent_writes_of_one_blob_agree,
);

/// Object storage that cannot be reached: writes small and large fail with a backend error
/// (the request then answers 503) — never a panic of the writer — and nothing is left.
#[tokio::test]
async fn an_unreachable_s3_store_fails_writes_cleanly() {
    let options = registry_store::S3Options { endpoint: Some("http://127.0.0.1:1".into()), ..common::blobs::s3_options() };
    let url = registry_store::StorageUrl::parse("s3://nowhere/registry", options).unwrap();
    let store = ObjectBlobStore::open(&url).unwrap();
    let small = store.put(once(b"small"), None).await.unwrap_err();
    assert!(matches!(small, BlobError::Backend(_)), "{small}");
    let large = store.put(generated(9, 12 * MIB, None), None).await.unwrap_err();
    assert!(matches!(large, BlobError::Backend(_)), "{large}");
    assert!(matches!(store.stat(&generated_digest(9, 12 * MIB).await).await, Err(BlobError::Backend(_))));
}
