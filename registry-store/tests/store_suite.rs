//! The metadata store suite: every test runs on `SQLite` and on Postgres, each in a fresh database.

mod common;

use std::sync::Arc;

use registry_core::blob::{BlobLocation, Part};
use registry_core::store::{BlobLink, ChangeKind, ManifestRef, NewManifest, RegistryStore, StoreError};
use registry_core::{Digest, RepoName};

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

/// Where an upload of one part left a blob's bytes.
fn upload_location(upload: &str, size: u64) -> BlobLocation {
    BlobLocation::Upload { upload: upload.to_owned(), parts: vec![Part { name: "00000000000000000000-p".into(), size }] }
}

/// Records and links a blob as a finished upload does: a session, then its completion.
async fn put_blob(store: &dyn RegistryStore, repo: &RepoName, digest: &Digest, size: u64) {
    let session = store.create_upload(repo, b"{}").await.unwrap();
    let blob = BlobLink { digest: digest.clone(), size, location: upload_location(&session.id, size) };
    store.complete_upload(&session.id, repo, &blob).await.unwrap();
}

/// Completing an upload records where the bytes are, once per digest, and only while its
/// session lasts: whoever ended the session owns its objects.
async fn an_upload_records_where_its_bytes_are(store: Arc<dyn RegistryStore>) {
    let (a, b) = (name("ns/a"), name("ns/b"));
    let d = Digest::of(b"layer");
    let first = store.create_upload(&a, b"{}").await.unwrap();
    let blob = BlobLink { digest: d.clone(), size: 5, location: upload_location(&first.id, 5) };
    assert!(store.complete_upload(&first.id, &a, &blob).await.unwrap(), "the session's objects hold the blob");
    assert_eq!(store.upload(&first.id).await.unwrap(), None, "the session ended with it");
    assert_eq!(store.linked_blob(&a, &d).await.unwrap(), Some(blob.clone()));
    assert_eq!(store.blob(&d).await.unwrap(), Some(blob.clone()));

    // The same digest again, from another repository: linked, the first location kept.
    let second = store.create_upload(&b, b"{}").await.unwrap();
    let again = BlobLink { location: upload_location(&second.id, 5), ..blob.clone() };
    assert!(!store.complete_upload(&second.id, &b, &again).await.unwrap(), "its objects are the caller's to remove");
    assert_eq!(store.linked_blob(&b, &d).await.unwrap(), Some(blob.clone()));
    assert_eq!(store.upload(&second.id).await.unwrap(), None);

    // A session removed meanwhile (cancelled, expired): nothing is recorded.
    let gone = store.create_upload(&a, b"{}").await.unwrap();
    assert!(store.delete_upload(&gone.id).await.unwrap());
    let other = Digest::of(b"other");
    let orphan = BlobLink { digest: other.clone(), size: 5, location: upload_location(&gone.id, 5) };
    let err = store.complete_upload(&gone.id, &a, &orphan).await.unwrap_err();
    assert!(matches!(&err, StoreError::UploadUnknown(id) if *id == gone.id), "{err}");
    assert_eq!(store.blob(&other).await.unwrap(), None);
    assert_eq!(store.blob_locations().await.unwrap(), vec![(d, blob.location)]);
}

fn manifest(content: &str, references: Vec<ManifestRef>) -> NewManifest {
    NewManifest {
        digest: Digest::of(content.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        subject: None,
        content: content.as_bytes().to_vec(),
        references,
        pack: None,
    }
}

async fn repositories_are_listed_once_they_hold_a_manifest(store: Arc<dyn RegistryStore>) {
    let blob = Digest::of(b"config");
    for repo in ["zeta/app", "acme/web", "acme/api"] {
        put_blob(store.as_ref(), &name(repo), &blob, 6).await;
        assert!(store.repository_exists(&name(repo)).await.unwrap());
    }
    assert!(!store.repository_exists(&name("nobody/here")).await.unwrap());
    assert!(
        store.list_repositories(None, 10).await.unwrap().is_empty(),
        "no manifest yet"
    );
    for repo in ["zeta/app", "acme/web", "acme/api"] {
        store
            .put_manifest(
                &name(repo),
                &manifest("{}", vec![ManifestRef::Blob(blob.clone())]),
                None,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.list_repositories(None, 10).await.unwrap(),
        ["acme/api", "acme/web", "zeta/app"]
    );
    assert_eq!(
        store.list_repositories(None, 2).await.unwrap(),
        ["acme/api", "acme/web"]
    );
    assert_eq!(
        store.list_repositories(Some("acme/web"), 2).await.unwrap(),
        ["zeta/app"]
    );
}

async fn blob_links_belong_to_one_repository(store: Arc<dyn RegistryStore>) {
    let (a, b) = (name("ns/a"), name("ns/b"));
    let d = Digest::of(b"layer");
    put_blob(store.as_ref(), &a, &d, 5).await;
    assert!(store.link_blob(&a, &d).await.unwrap()); // idempotent
    assert_eq!(
        store.linked_blob(&a, &d).await.unwrap().map(|l| l.size),
        Some(5)
    );
    assert_eq!(
        store.linked_blob(&b, &d).await.unwrap(),
        None,
        "b never linked it"
    );
    assert_eq!(
        store.blob(&d).await.unwrap().map(|l| l.size),
        Some(5),
        "known registry-wide"
    );
    assert!(!store.link_blob(&a, &Digest::of(b"never stored")).await.unwrap(), "only a recorded blob is linked");
    assert!(store.unlink_blob(&a, &d).await.unwrap());
    assert!(!store.unlink_blob(&a, &d).await.unwrap());
    assert_eq!(store.linked_blob(&a, &d).await.unwrap(), None);
    let kinds: Vec<_> = store
        .changes_since(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(
        kinds,
        [ChangeKind::BlobLinked, ChangeKind::BlobUnlinked],
        "the repeated link is not a change"
    );
}

async fn a_manifest_needs_its_blobs_and_children(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/nginx");
    let (config, layer) = (Digest::of(b"c"), Digest::of(b"l"));
    let image = manifest(
        "image",
        vec![
            ManifestRef::Blob(config.clone()),
            ManifestRef::Blob(layer.clone()),
        ],
    );
    put_blob(store.as_ref(), &repo, &config, 1).await;
    let err = store
        .put_manifest(&repo, &image, Some("1.0.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::MissingReference(d) if *d == layer),
        "{err}"
    );
    assert_eq!(
        store.manifest(&repo, &image.digest).await.unwrap(),
        None,
        "nothing half-stored"
    );
    assert_eq!(store.resolve_tag(&repo, "1.0.0").await.unwrap(), None);

    put_blob(store.as_ref(), &repo, &layer, 1).await;
    store
        .put_manifest(&repo, &image, Some("1.0.0"))
        .await
        .unwrap();
    let stored = store
        .manifest(&repo, &image.digest)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.content, b"image");
    assert_eq!(stored.size, 5);
    assert_eq!(stored.media_type, image.media_type);

    let missing_child = Digest::of(b"other");
    let index = NewManifest {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        ..manifest(
            "index",
            vec![
                ManifestRef::Manifest(image.digest.clone()),
                ManifestRef::Manifest(missing_child.clone()),
            ],
        )
    };
    let err = store.put_manifest(&repo, &index, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::MissingReference(d) if *d == missing_child),
        "{err}"
    );
    let index = NewManifest {
        references: vec![ManifestRef::Manifest(image.digest.clone())],
        ..index
    };
    store
        .put_manifest(&repo, &index, Some("latest"))
        .await
        .unwrap();
    assert_eq!(
        store.resolve_tag(&repo, "latest").await.unwrap(),
        Some(index.digest.clone())
    );

    // The same manifest under another repository needs that repository's own links.
    let err = store
        .put_manifest(&name("other/repo"), &image, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingReference(_)));
}

async fn tags_move_list_and_delete(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/chart");
    let (one, two) = (manifest("one", vec![]), manifest("two", vec![]));
    store
        .put_manifest(&repo, &one, Some("1.0.0"))
        .await
        .unwrap();
    store.put_manifest(&repo, &two, None).await.unwrap();
    for tag in ["b", "a", "c", "latest"] {
        store.set_tag(&repo, tag, &one.digest).await.unwrap();
    }
    store.set_tag(&repo, "latest", &two.digest).await.unwrap();
    assert_eq!(
        store.resolve_tag(&repo, "latest").await.unwrap(),
        Some(two.digest.clone())
    );
    assert_eq!(
        store.list_tags(&repo, None, 100).await.unwrap(),
        ["1.0.0", "a", "b", "c", "latest"]
    );
    assert_eq!(
        store.list_tags(&repo, None, 2).await.unwrap(),
        ["1.0.0", "a"]
    );
    assert_eq!(
        store.list_tags(&repo, Some("a"), 2).await.unwrap(),
        ["b", "c"]
    );
    assert_eq!(
        store.list_tags(&name("none/here"), None, 10).await.unwrap(),
        Vec::<String>::new()
    );

    let unknown = Digest::of(b"unknown");
    assert!(matches!(
        store.set_tag(&repo, "x", &unknown).await,
        Err(StoreError::ManifestUnknown(_))
    ));
    assert!(store.delete_tag(&repo, "a").await.unwrap());
    assert!(!store.delete_tag(&repo, "a").await.unwrap());
    assert_eq!(store.resolve_tag(&repo, "a").await.unwrap(), None);
    assert_eq!(
        store
            .manifest(&repo, &one.digest)
            .await
            .unwrap()
            .map(|m| m.digest),
        Some(one.digest.clone())
    );
}

async fn deleting_a_manifest_removes_its_tags(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/gone");
    let m = manifest("m", vec![]);
    store.put_manifest(&repo, &m, Some("v1")).await.unwrap();
    store.set_tag(&repo, "v1-alias", &m.digest).await.unwrap();
    assert!(store.delete_manifest(&repo, &m.digest).await.unwrap());
    assert!(!store.delete_manifest(&repo, &m.digest).await.unwrap());
    assert!(
        !store
            .delete_manifest(&name("never/existed"), &m.digest)
            .await
            .unwrap()
    );
    assert_eq!(store.manifest(&repo, &m.digest).await.unwrap(), None);
    assert!(store.list_tags(&repo, None, 10).await.unwrap().is_empty());
    let changes = store.changes_since(0, 100).await.unwrap();
    let tail: Vec<_> = changes
        .iter()
        .rev()
        .take(3)
        .map(|c| (c.kind, c.tag.clone()))
        .collect();
    assert_eq!(
        tail,
        [
            (ChangeKind::ManifestDeleted, None),
            (ChangeKind::TagDeleted, Some("v1-alias".to_owned())),
            (ChangeKind::TagDeleted, Some("v1".to_owned())),
        ]
    );
}

async fn referrers_are_found_by_subject(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/signed");
    let subject = manifest("subject", vec![]);
    store
        .put_manifest(&repo, &subject, Some("1.0.0"))
        .await
        .unwrap();
    let sig = NewManifest {
        artifact_type: Some("application/vnd.sherpack.signature.v1".into()),
        subject: Some(subject.digest.clone()),
        ..manifest("sig", vec![])
    };
    let sbom = NewManifest {
        artifact_type: Some("application/spdx+json".into()),
        subject: Some(subject.digest.clone()),
        ..manifest("sbom", vec![])
    };
    store.put_manifest(&repo, &sig, None).await.unwrap();
    store.put_manifest(&repo, &sbom, None).await.unwrap();
    store
        .put_manifest(&repo, &manifest("unrelated", vec![]), None)
        .await
        .unwrap();
    let mut found: Vec<_> = store
        .referrers(&repo, &subject.digest)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.artifact_type)
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            Some("application/spdx+json".to_owned()),
            Some("application/vnd.sherpack.signature.v1".to_owned())
        ]
    );
    assert_eq!(store.referrers(&repo, &sig.digest).await.unwrap(), vec![]);
    assert_eq!(
        store
            .referrers(&name("other/repo"), &subject.digest)
            .await
            .unwrap(),
        vec![]
    );
}

async fn upload_sessions_advance_only_from_their_offset(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/up");
    let session = store.create_upload(&repo, b"state0").await.unwrap();
    let loaded = store.upload(&session.id).await.unwrap().expect("persisted");
    assert_eq!(
        (
            loaded.offset,
            loaded.state.as_slice(),
            loaded.repository.as_str()
        ),
        (0, &b"state0"[..], "acme/up")
    );

    store
        .advance_upload(&session.id, 0, 100, b"state1")
        .await
        .unwrap();
    let err = store
        .advance_upload(&session.id, 0, 50, b"stale")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UploadOffsetMismatch { actual: 100, .. }),
        "{err}"
    );
    let loaded = store.upload(&session.id).await.unwrap().unwrap();
    assert_eq!(
        (loaded.offset, loaded.state.as_slice()),
        (100, &b"state1"[..])
    );
    assert!(matches!(
        store.advance_upload("no-such-id", 0, 1, b"").await,
        Err(StoreError::UploadUnknown(_))
    ));

    let future = loaded.updated_at + 1;
    let stale = store.stale_uploads(future).await.unwrap();
    assert_eq!(
        stale.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [session.id.as_str()]
    );
    assert!(
        store
            .stale_uploads(loaded.updated_at - 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_upload(&session.id).await.unwrap());
    assert_eq!(store.upload(&session.id).await.unwrap(), None);
    assert!(!store.delete_upload(&session.id).await.unwrap());
}

async fn the_change_sequence_is_ordered_and_pageable(store: Arc<dyn RegistryStore>) {
    assert_eq!(store.last_change_seq().await.unwrap(), 0);
    let repo = name("acme/seq");
    let blob = Digest::of(b"b");
    put_blob(store.as_ref(), &repo, &blob, 1).await;
    let m = manifest("m", vec![ManifestRef::Blob(blob.clone())]);
    store.put_manifest(&repo, &m, Some("1.0.0")).await.unwrap();
    store.delete_tag(&repo, "1.0.0").await.unwrap();
    let all = store.changes_since(0, 100).await.unwrap();
    let kinds: Vec<_> = all.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::BlobLinked,
            ChangeKind::ManifestPut,
            ChangeKind::TagSet,
            ChangeKind::TagDeleted
        ]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(all.iter().all(|c| c.repository == "acme/seq"));
    assert_eq!(all[2].tag.as_deref(), Some("1.0.0"));
    assert_eq!(all[2].digest.as_ref(), Some(&m.digest));
    assert_eq!(store.last_change_seq().await.unwrap(), all[3].seq);
    let page = store.changes_since(all[0].seq, 2).await.unwrap();
    assert_eq!(page, all[1..3]);
    assert!(
        store
            .changes_since(all[3].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_writers_all_land(store: Arc<dyn RegistryStore>) {
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let repo = name(&format!("team{}/app", i % 3));
                let blob = Digest::of(format!("blob{i}").as_bytes());
                put_blob(store.as_ref(), &repo, &blob, 1).await;
                let m = manifest(&format!("manifest{i}"), vec![ManifestRef::Blob(blob)]);
                store
                    .put_manifest(&repo, &m, Some(&format!("v{i}")))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut total = 0;
    for ns in 0..3 {
        total += store
            .list_tags(&name(&format!("team{ns}/app")), None, 100)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(total, 24);
    let changes = store.changes_since(0, 1000).await.unwrap();
    assert_eq!(changes.len(), 24 * 3);
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// What garbage collection may take: unreferenced blobs stored and linked before the cut-off
/// (re-checked at removal), untagged manifests, storage per namespace.
async fn collection_finds_only_what_nothing_keeps(store: Arc<dyn RegistryStore>) {
    let repo = name("acme/web");
    let (kept, loose) = (Digest::of(b"kept"), Digest::of(b"loose"));
    put_blob(store.as_ref(), &repo, &kept, 4).await;
    put_blob(store.as_ref(), &repo, &loose, 5).await;
    store.put_manifest(&repo, &manifest("tagged", vec![ManifestRef::Blob(kept.clone())]), Some("1.0.0")).await.unwrap();
    store.put_manifest(&repo, &manifest("untagged", vec![]), None).await.unwrap();
    let future = i64::MAX / 2;
    assert!(store.unreferenced_blobs(0).await.unwrap().is_empty(), "nothing is older than the epoch");
    assert_eq!(store.unreferenced_blobs(future).await.unwrap(), vec![(loose.clone(), 5)]);
    assert_eq!(store.untagged_manifests(future).await.unwrap(), vec![("acme/web".to_owned(), Digest::of(b"untagged"))]);
    assert_eq!(store.namespace_bytes("acme").await.unwrap(), 9);
    assert_eq!(store.usage().await.unwrap().by_namespace(), vec![("acme".to_owned(), 9)]);
    // Removal re-checks: a referenced blob is refused, an unreferenced one goes with its links.
    assert_eq!(store.remove_unreferenced_blob(&kept, future).await.unwrap(), None);
    {
        let _guard = store.lock_blob(&loose).await.unwrap();
        assert_eq!(store.remove_unreferenced_blob(&loose, future).await.unwrap().map(|b| b.size), Some(5));
    }
    assert!(store.blob(&loose).await.unwrap().is_none());
    assert!(store.linked_blob(&repo, &loose).await.unwrap().is_none());
    assert_eq!(store.namespace_bytes("acme").await.unwrap(), 4);
    // The lock is exclusive per digest, across tasks.
    let guard = store.lock_blob(&kept).await.unwrap();
    let other = Arc::clone(&store);
    let kept2 = kept.clone();
    let waiting = tokio::spawn(async move { other.lock_blob(&kept2).await.map(drop) });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a second holder waits");
    drop(guard);
    waiting.await.unwrap().unwrap();
}

/// Webhook deliveries: queued with the change that causes them, claimed once, retried.
async fn webhook_deliveries_are_an_outbox(store: Arc<dyn RegistryStore>) {
    use registry_core::auth::{Namespace, Visibility, Webhook};
    store.create_namespace(&Namespace { name: "acme".into(), visibility: Visibility::Private, policy: "{}".into(), created_at: 1 }).await.unwrap();
    let hook = Webhook { id: "h1".into(), namespace: "acme".into(), url: "http://127.0.0.1:1/x".into(), secret: "s".into(), events: vec!["push".into()], created_at: 1 };
    store.create_webhook(&hook).await.unwrap();
    assert_eq!(store.webhooks("acme").await.unwrap(), vec![hook]);
    store.put_manifest(&name("acme/web"), &manifest("m1", vec![]), Some("1.0.0")).await.unwrap();
    store.put_manifest(&name("other/web"), &manifest("m2", vec![]), Some("1.0.0")).await.unwrap();
    assert!(store.delete_manifest(&name("acme/web"), &Digest::of(b"m1")).await.unwrap(), "a delete, which this webhook does not want");
    let now = i64::MAX / 4;
    let claimed = store.claim_deliveries(now, now + 60_000, 10, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "one push to acme, nothing for other/ or for the delete");
    let payload: serde_json::Value = serde_json::from_str(&claimed[0].payload).unwrap();
    assert_eq!((payload["event"].as_str(), payload["repository"].as_str(), payload["tag"].as_str()), (Some("push"), Some("acme/web"), Some("1.0.0")));
    assert!(store.claim_deliveries(now, now + 60_000, 10, 10).await.unwrap().is_empty(), "claimed deliveries are leased");
    store.finish_delivery(claimed[0].id, false, "500", now + 1_000).await.unwrap();
    let again = store.claim_deliveries(now + 1_000, now + 61_000, 10, 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1), "retried once due");
    store.finish_delivery(again[0].id, true, "200", now + 2_000).await.unwrap();
    assert!(store.claim_deliveries(now + 10_000_000, now + 10_060_000, 10, 10).await.unwrap().is_empty(), "delivered");
    let history = store.webhook_deliveries("h1", 10).await.unwrap();
    assert_eq!((history[0].attempts, history[0].last_status.as_deref()), (2, Some("200")));
    assert!(history[0].delivered_at.is_some());
    assert!(store.delete_webhook("acme", "h1").await.unwrap());
    assert!(store.webhook_deliveries("h1", 10).await.unwrap().is_empty(), "deliveries go with their webhook");
}

store_tests!(
    collection_finds_only_what_nothing_keeps,
    webhook_deliveries_are_an_outbox,
    repositories_are_listed_once_they_hold_a_manifest,
    blob_links_belong_to_one_repository,
    an_upload_records_where_its_bytes_are,
    a_manifest_needs_its_blobs_and_children,
    tags_move_list_and_delete,
    deleting_a_manifest_removes_its_tags,
    referrers_are_found_by_subject,
    upload_sessions_advance_only_from_their_offset,
    the_change_sequence_is_ordered_and_pageable,
    concurrent_writers_all_land,
);

async fn write_then_reopen(url: &str) {
    let repo = name("acme/durable");
    {
        let store = registry_store::open_metadata(url).await.unwrap();
        store
            .put_manifest(&repo, &manifest("durable", vec![]), Some("1.0.0"))
            .await
            .unwrap();
    }
    let reopened = registry_store::open_metadata(url).await.unwrap();
    assert_eq!(
        reopened.resolve_tag(&repo, "1.0.0").await.unwrap(),
        Some(Digest::of(b"durable"))
    );
    assert_eq!(
        reopened.last_change_seq().await.unwrap(),
        2,
        "migrations ran once, data kept"
    );
}

#[tokio::test]
async fn sqlite_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    write_then_reopen(&format!(
        "sqlite://{}",
        dir.path().join("nested/dir/registry.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_data_survives_reopen() {
    common::PgDatabase::with(|url| async move { write_then_reopen(&url).await }).await;
}

#[tokio::test]
async fn unreachable_and_unknown_databases_are_named() {
    let err = registry_store::open_metadata("mysql://x/y")
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("mysql://x/y"), "{err}");
    // A port nothing listens on (port 1 needs root to bind, so it is closed here).
    let err = registry_store::open_metadata("postgres://u:secret@127.0.0.1:1/db")
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("127.0.0.1:1") && !err.contains("secret"),
        "{err}"
    );
}
