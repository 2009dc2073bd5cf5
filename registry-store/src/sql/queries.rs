// The metadata store's queries, compiled once per database by `include!` from `postgres.rs`
// and `sqlite.rs`; each defines `Db` (the sqlx driver), `Store` (the struct with `read` and
// `write` pools) and `CHANGE_LOCK`. Keep every statement valid on both databases.

use registry_core::store::{
    BlobLink, Change, ChangeKind, ManifestRecord, ManifestRef, Millis, NewManifest, NewPack, PackRecord, PackSignature, PackTag,
    StoreError, StoreResult, UploadSession,
};
use registry_core::{Digest, RepoName};

use super::{db_err, now_millis};

type Tx = sqlx::Transaction<'static, Db>;

/// Sizes and offsets are `u64` in the domain and `BIGINT` in the database.
#[allow(clippy::cast_possible_wrap)]
fn to_db(n: u64) -> i64 {
    n as i64
}

#[allow(clippy::cast_sign_loss)]
fn from_db(n: i64) -> u64 {
    n.max(0) as u64
}

fn parse_digest(s: &str) -> StoreResult<Digest> {
    s.parse().map_err(|e| StoreError::Backend(format!("corrupt digest in database: {e}")))
}

fn parse_opt_digest(s: Option<String>) -> StoreResult<Option<Digest>> {
    s.as_deref().map(parse_digest).transpose()
}

type ManifestRow = (String, String, Option<String>, Option<String>, i64, Vec<u8>, i64);
/// Columns of a `ManifestRow`, for `concat!` (sqlx only takes SQL it can see is static).
macro_rules! manifest_columns {
    () => {
        "m.digest, m.media_type, m.artifact_type, m.subject, m.size, m.content, m.created_at"
    };
}

fn manifest_from_row(row: ManifestRow) -> StoreResult<ManifestRecord> {
    let (digest, media_type, artifact_type, subject, size, content, created_at) = row;
    Ok(ManifestRecord {
        digest: parse_digest(&digest)?,
        media_type,
        artifact_type,
        subject: parse_opt_digest(subject)?,
        size: from_db(size),
        content,
        created_at,
    })
}

type UploadRow = (String, String, i64, Vec<u8>, i64, i64);

fn upload_from_row(row: UploadRow) -> StoreResult<UploadSession> {
    let (id, repository, received, state, started_at, updated_at) = row;
    Ok(UploadSession {
        id,
        repository: repository.parse().map_err(|e| StoreError::Backend(format!("corrupt name in database: {e}")))?,
        offset: from_db(received),
        state,
        started_at,
        updated_at,
    })
}

async fn begin_write(pool: &sqlx::Pool<Db>) -> StoreResult<Tx> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    if let Some(lock) = CHANGE_LOCK {
        sqlx::query(lock).execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(tx)
}

async fn ensure_repository(tx: &mut Tx, repo: &RepoName, now: Millis) -> StoreResult<i64> {
    sqlx::query("INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(repo.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM repositories WHERE name = $1")
        .bind(repo.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(id)
}

async fn record_change(
    tx: &mut Tx,
    kind: ChangeKind,
    repo: &str,
    digest: Option<&Digest>,
    tag: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO changes (kind, repository, digest, tag, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(kind.as_str())
        .bind(repo)
        .bind(digest.map(ToString::to_string))
        .bind(tag)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    if let Some(notify) = CHANGE_NOTIFY {
        sqlx::query(notify).execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// A manifest push inside a write transaction: the manifest, its references, its pack record,
/// its tag and the change and webhook events they make (`put_manifest` and `put_manifests`).
async fn insert_manifest(tx: &mut Tx, repo: &RepoName, manifest: &NewManifest, tag: Option<&str>, now: Millis) -> StoreResult<()> {
    let repo_id = ensure_repository(tx, repo, now).await?;
    let mut held = Vec::with_capacity(manifest.references.len());
    for reference in &manifest.references {
        if check_reference(tx, repo_id, reference).await? {
            held.push(reference);
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, size, content, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repo_id)
    .bind(manifest.digest.to_string())
    .bind(&manifest.media_type)
    .bind(manifest.artifact_type.as_deref())
    .bind(manifest.subject.as_ref().map(ToString::to_string))
    .bind(to_db(manifest.content.len() as u64))
    .bind(&manifest.content)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if inserted > 0 {
        for reference in held {
            let (kind, digest) = match reference {
                ManifestRef::Blob(d) | ManifestRef::ForeignLayer(d) => ("blob", d),
                ManifestRef::Manifest(d) => ("manifest", d),
            };
            sqlx::query(
                "INSERT INTO manifest_refs (repository_id, manifest_digest, ref_digest, ref_kind)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (repository_id, manifest_digest, ref_digest) DO NOTHING",
            )
            .bind(repo_id)
            .bind(manifest.digest.to_string())
            .bind(digest.to_string())
            .bind(kind)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        record_change(tx, ChangeKind::ManifestPut, repo.as_str(), Some(&manifest.digest), None, now).await?;
    }
    if let Some(pack) = &manifest.pack {
        insert_pack(tx, repo_id, repo, &manifest.digest, pack, tag, now).await?;
    }
    if let Some(tag) = tag {
        upsert_tag(tx, repo_id, repo, tag, &manifest.digest, now).await?;
        let mut payload = serde_json::json!({
            "event": "push",
            "namespace": repo.namespace(),
            "repository": repo.as_str(),
            "tag": tag,
            "digest": manifest.digest.to_string(),
            "media_type": manifest.media_type,
            "at": now,
        });
        if let Some(pack) = &manifest.pack {
            payload["pack"] = serde_json::json!({ "name": pack.name, "version": pack.version, "kind": pack.kind });
        }
        enqueue_webhooks(tx, repo, "push", &payload, now).await?;
    }
    Ok(())
}

async fn repository_id(pool: &sqlx::Pool<Db>, repo: &RepoName) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM repositories WHERE name = $1")
        .bind(repo.as_str())
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    Ok(row.map(|(id,)| id))
}

async fn upsert_tag(tx: &mut Tx, repo_id: i64, repo: &RepoName, tag: &str, digest: &Digest, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest,
         updated_at = excluded.updated_at",
    )
    .bind(repo_id)
    .bind(tag)
    .bind(digest.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    record_change(tx, ChangeKind::TagSet, repo.as_str(), Some(digest), Some(tag), now).await
}

/// Whether the repository holds what `reference` names: `Ok(false)` only for a foreign layer it
/// does not hold (which a manifest may name), `MissingReference` for anything else missing.
async fn check_reference(tx: &mut Tx, repo_id: i64, reference: &ManifestRef) -> StoreResult<bool> {
    let (sql, digest) = match reference {
        ManifestRef::Blob(d) | ManifestRef::ForeignLayer(d) => ("SELECT 1 FROM repository_blobs WHERE repository_id = $1 AND digest = $2", d),
        ManifestRef::Manifest(d) => ("SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2", d),
    };
    let found: Option<(i32,)> =
        sqlx::query_as(sql).bind(repo_id).bind(digest.to_string()).fetch_optional(&mut **tx).await.map_err(db_err)?;
    match (found, reference) {
        (Some(_), _) => Ok(true),
        (None, ManifestRef::ForeignLayer(_)) => Ok(false),
        (None, _) => Err(StoreError::MissingReference(digest.clone())),
    }
}

/// Queues a notification for each webhook of the repository's namespace that wants `event`,
/// in the transaction of the change itself (an outbox: no event is lost or invented).
async fn enqueue_webhooks(tx: &mut Tx, repo: &RepoName, event: &str, payload: &serde_json::Value, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event, payload, attempts, next_attempt_at, created_at)
         SELECT id, $1, $2, 0, $3, $3 FROM webhooks WHERE namespace = $4 AND (',' || events || ',') LIKE '%,' || $1 || ',%'",
    )
    .bind(event)
    .bind(payload.to_string())
    .bind(now)
    .bind(repo.namespace())
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Records a blob and where its bytes are inside `tx`; `false` when a record of the digest was
/// already there (it is kept: same digest, same bytes).
async fn insert_blob_in(tx: &mut Tx, blob: &BlobLink, now: Millis) -> StoreResult<bool> {
    let inserted = sqlx::query("INSERT INTO blobs (digest, size, created_at, location) VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING")
        .bind(blob.digest.to_string())
        .bind(to_db(blob.size))
        .bind(now)
        .bind(blob.location.encode())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    Ok(inserted > 0)
}

/// Links a recorded blob to a repository (creating the repository as needed) inside `tx`.
async fn link_blob_in(tx: &mut Tx, repo: &RepoName, digest: &Digest, now: Millis) -> StoreResult<()> {
    let repo_id = ensure_repository(tx, repo, now).await?;
    let linked = sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repo_id)
    .bind(digest.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if linked > 0 {
        record_change(tx, ChangeKind::BlobLinked, repo.as_str(), Some(digest), None, now).await?;
    }
    Ok(())
}

/// A `blobs` row's `size` and `location` as a `BlobLink`.
fn blob_from_row(digest: &Digest, size: i64, location: Option<&str>) -> StoreResult<BlobLink> {
    let location = registry_core::blob::BlobLocation::decode(location).map_err(StoreError::Backend)?;
    Ok(BlobLink { digest: digest.clone(), size: from_db(size), location })
}

#[async_trait::async_trait]
impl registry_core::store::MetadataStore for Store {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await.map_err(db_err)?;
        Ok(())
    }

    async fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool> {
        Ok(repository_id(&self.read, repo).await?.is_some())
    }

    async fn list_repositories(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT r.name FROM repositories r
             WHERE r.name > $1 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
             ORDER BY r.name LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let known: Option<(i64,)> = sqlx::query_as("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if known.is_none() {
            return Ok(false);
        }
        link_blob_in(&mut tx, repo, digest, now_millis()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn complete_upload(&self, id: &str, repo: &RepoName, blob: &BlobLink) -> StoreResult<bool> {
        let now = now_millis();
        let mut tx = begin_write(&self.write).await?;
        let ended = sqlx::query("DELETE FROM upload_sessions WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        if ended == 0 {
            return Err(StoreError::UploadUnknown(id.to_owned()));
        }
        let recorded = insert_blob_in(&mut tx, blob, now).await?;
        link_blob_in(&mut tx, repo, &blob.digest, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(recorded)
    }

    async fn linked_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobLink>> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT b.size, b.location FROM blobs b
             JOIN repository_blobs rb ON rb.digest = b.digest
             JOIN repositories r ON r.id = rb.repository_id
             WHERE r.name = $1 AND b.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|(size, location)| blob_from_row(digest, size, location.as_deref())).transpose()
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        let now = now_millis();
        let mut tx = begin_write(&self.write).await?;
        let removed = sqlx::query(
            "DELETE FROM repository_blobs WHERE digest = $2
             AND repository_id = (SELECT id FROM repositories WHERE name = $1)",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if removed {
            record_change(&mut tx, ChangeKind::BlobUnlinked, repo.as_str(), Some(digest), None, now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }

    async fn blob(&self, digest: &Digest) -> StoreResult<Option<BlobLink>> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as("SELECT size, location FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.map(|(size, location)| blob_from_row(digest, size, location.as_deref())).transpose()
    }

    async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = $1 ORDER BY r.name LIMIT $2",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    async fn put_manifest(&self, repo: &RepoName, manifest: &NewManifest, tag: Option<&str>) -> StoreResult<()> {
        let mut tx = begin_write(&self.write).await?;
        insert_manifest(&mut tx, repo, manifest, tag, now_millis()).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn put_manifests(&self, pushes: &[(RepoName, NewManifest, Option<String>)]) -> StoreResult<()> {
        let now = now_millis();
        let mut tx = begin_write(&self.write).await?;
        for (repo, manifest, tag) in pushes {
            insert_manifest(&mut tx, repo, manifest, tag.as_deref(), now).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<ManifestRecord>> {
        let row: Option<ManifestRow> = sqlx::query_as(concat!(
            "SELECT ",
            manifest_columns!(),
            " FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2"
        ))
            .bind(repo.as_str())
            .bind(digest.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.map(manifest_from_row).transpose()
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        let now = now_millis();
        let Some(repo_id) = repository_id(&self.write, repo).await? else { return Ok(false) };
        let mut tx = begin_write(&self.write).await?;
        let tags: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM tags WHERE repository_id = $1 AND manifest_digest = $2 ORDER BY name")
                .bind(repo_id)
                .bind(digest.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let removed = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected()
            > 0;
        if removed {
            for (tag,) in &tags {
                record_change(&mut tx, ChangeKind::TagDeleted, repo.as_str(), Some(digest), Some(tag), now).await?;
            }
            record_change(&mut tx, ChangeKind::ManifestDeleted, repo.as_str(), Some(digest), None, now).await?;
            let payload = serde_json::json!({
                "event": "delete",
                "namespace": repo.namespace(),
                "repository": repo.as_str(),
                "digest": digest.to_string(),
                "tags": tags.iter().map(|(t,)| t.clone()).collect::<Vec<_>>(),
                "at": now,
            });
            enqueue_webhooks(&mut tx, repo, "delete", &payload, now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> StoreResult<Vec<ManifestRecord>> {
        let rows: Vec<ManifestRow> = sqlx::query_as(concat!(
            "SELECT ",
            manifest_columns!(),
            " FROM manifests m JOIN repositories r ON r.id = m.repository_id",
            " WHERE r.name = $1 AND m.subject = $2 ORDER BY m.created_at, m.digest"
        ))
            .bind(repo.as_str())
            .bind(subject.to_string())
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(manifest_from_row).collect()
    }

    async fn resolve_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<Option<Digest>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo.as_str())
        .bind(tag)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|(d,)| parse_digest(&d)).transpose()
    }

    async fn set_tag(&self, repo: &RepoName, tag: &str, digest: &Digest) -> StoreResult<()> {
        let now = now_millis();
        let mut tx = begin_write(&self.write).await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT m.repository_id FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((repo_id,)) = row else { return Err(StoreError::ManifestUnknown(digest.clone())) };
        upsert_tag(&mut tx, repo_id, repo, tag, digest, now).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn list_tags(&self, repo: &RepoName, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3",
        )
        .bind(repo.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<bool> {
        let now = now_millis();
        let mut tx = begin_write(&self.write).await?;
        let row: Option<(String,)> = sqlx::query_as(
            "DELETE FROM tags WHERE name = $2 AND repository_id = (SELECT id FROM repositories WHERE name = $1)
             RETURNING manifest_digest",
        )
        .bind(repo.as_str())
        .bind(tag)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some((digest,)) = &row {
            record_change(&mut tx, ChangeKind::TagDeleted, repo.as_str(), Some(&parse_digest(digest)?), Some(tag), now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn create_upload(&self, repo: &RepoName, state: &[u8]) -> StoreResult<UploadSession> {
        let now = now_millis();
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO upload_sessions (id, repository, received, state, started_at, updated_at)
             VALUES ($1, $2, 0, $3, $4, $4)",
        )
        .bind(&id)
        .bind(repo.as_str())
        .bind(state)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(UploadSession { id, repository: repo.clone(), offset: 0, state: state.to_vec(), started_at: now, updated_at: now })
    }

    async fn upload(&self, id: &str) -> StoreResult<Option<UploadSession>> {
        // Read from the write side: a session is often read right after it was advanced.
        let row: Option<UploadRow> = sqlx::query_as(
            "SELECT id, repository, received, state, started_at, updated_at FROM upload_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.write)
        .await
        .map_err(db_err)?;
        row.map(upload_from_row).transpose()
    }

    async fn advance_upload(&self, id: &str, expected_offset: u64, new_offset: u64, state: &[u8]) -> StoreResult<()> {
        let updated = sqlx::query(
            "UPDATE upload_sessions SET received = $3, state = $4, updated_at = $5 WHERE id = $1 AND received = $2",
        )
        .bind(id)
        .bind(to_db(expected_offset))
        .bind(to_db(new_offset))
        .bind(state)
        .bind(now_millis())
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        if updated > 0 {
            return Ok(());
        }
        match self.upload(id).await? {
            None => Err(StoreError::UploadUnknown(id.to_owned())),
            Some(s) => Err(StoreError::UploadOffsetMismatch { id: id.to_owned(), expected: expected_offset, actual: s.offset }),
        }
    }

    async fn delete_upload(&self, id: &str) -> StoreResult<bool> {
        let removed = sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn stale_uploads(&self, before: Millis) -> StoreResult<Vec<UploadSession>> {
        let rows: Vec<UploadRow> = sqlx::query_as(
            "SELECT id, repository, received, state, started_at, updated_at FROM upload_sessions
             WHERE updated_at < $1 ORDER BY updated_at",
        )
        .bind(before)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(upload_from_row).collect()
    }

    async fn changes_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Change>> {
        let rows: Vec<(i64, String, String, Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT seq, kind, repository, digest, tag, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(seq, kind, repository, digest, tag, at)| {
                let kind = ChangeKind::parse(&kind)
                    .ok_or_else(|| StoreError::Backend(format!("unknown change kind `{kind}` in database")))?;
                Ok(Change { seq, kind, repository, digest: parse_opt_digest(digest)?, tag, at })
            })
            .collect()
    }

    async fn last_change_seq(&self) -> StoreResult<i64> {
        let (seq,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(seq) FROM changes").fetch_one(&self.read).await.map_err(db_err)?;
        Ok(seq.unwrap_or(0))
    }

    async fn change_notifications(&self) -> StoreResult<Option<futures::stream::BoxStream<'static, ()>>> {
        change_listener(&self.write).await
    }

    async fn usage(&self) -> StoreResult<registry_core::store::Usage> {
        let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT r.name, CAST(SUM(b.size) AS BIGINT) FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             JOIN blobs b ON b.digest = rb.digest GROUP BY r.name ORDER BY r.name",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let (open,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM upload_sessions").fetch_one(&self.read).await.map_err(db_err)?;
        Ok(registry_core::store::Usage {
            by_repository: rows.into_iter().map(|(name, bytes)| (name, from_db(bytes.unwrap_or(0)))).collect(),
            open_uploads: from_db(open),
        })
    }

    async fn namespace_bytes(&self, namespace: &str) -> StoreResult<u64> {
        let (bytes,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(SUM(size) AS BIGINT) FROM blobs WHERE digest IN (SELECT rb.digest FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id WHERE r.name LIKE $1 || '/%')",
        )
        .bind(namespace)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?;
        Ok(from_db(bytes.unwrap_or(0)))
    }

    async fn lock_blobs(&self, digests: &[Digest]) -> StoreResult<registry_core::store::BlobGuard> {
        let mut stripes: Vec<usize> = digests.iter().map(super::blob_stripe).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut local = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            local.push(super::stripe_lock(stripe).lock_owned().await);
        }
        let remote = match BLOB_LOCK {
            Some(sql) => {
                let mut keys: Vec<i64> = digests.iter().map(super::blob_lock_key).collect();
                keys.sort_unstable();
                keys.dedup();
                let mut tx = self.write.begin().await.map_err(db_err)?;
                for key in keys {
                    sqlx::query(sql).bind(key).execute(&mut *tx).await.map_err(db_err)?;
                }
                Some(tx)
            }
            None => None,
        };
        Ok(registry_core::store::BlobGuard(Box::new((local, remote))))
    }

    async fn request_reindex(&self) -> StoreResult<i64> {
        let mut tx = begin_write(&self.write).await?;
        record_change(&mut tx, ChangeKind::Reindex, "", None, None, now_millis()).await?;
        let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes").fetch_one(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(seq.unwrap_or(0))
    }
    async fn packs(&self, repository: Option<&str>) -> StoreResult<Vec<PackRecord>> {
        select_packs(self, repository).await
    }

    async fn packs_after(&self, after: &str, limit: u32) -> StoreResult<Vec<PackRecord>> {
        select_packs_after(self, after, limit).await
    }

    async fn pack_tags(&self, namespace: &str, repository: Option<&str>) -> StoreResult<Vec<PackTag>> {
        select_pack_tags(self, namespace, repository).await
    }

    async fn pack(&self, repository: &str, version: &str) -> StoreResult<Option<PackRecord>> {
        select_pack(self, repository, version).await
    }

    async fn set_pack_signature(&self, repo: &RepoName, version: &str, signature: &PackSignature) -> StoreResult<bool> {
        update_pack_signature(self, repo, version, signature).await
    }

    async fn untagged_manifests(&self, before: Millis) -> StoreResult<Vec<(String, Digest)>> {
        gc_untagged_manifests(self, before).await
    }

    async fn blob_locations(&self) -> StoreResult<Vec<(Digest, registry_core::blob::BlobLocation)>> {
        gc_blob_locations(self).await
    }

    async fn unreferenced_blobs(&self, before: Millis) -> StoreResult<Vec<(Digest, u64)>> {
        gc_unreferenced_blobs(self, before).await
    }

    async fn remove_unreferenced_blobs(&self, digests: &[Digest], before: Millis) -> StoreResult<Vec<BlobLink>> {
        gc_remove_unreferenced_blobs(self, digests, before).await
    }
}
