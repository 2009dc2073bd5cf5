// Garbage collection's queries: what nothing references, and its removal under the blob's
// lock. Included by `postgres.rs` and `sqlite.rs` after `queries.rs`, whose helpers it uses.

/// The condition (on `b`, a `blobs` row; `$1` the cut-off) of a blob garbage collection may
/// remove: stored before the cut-off, referenced by no manifest, linked nowhere since.
macro_rules! unreferenced_blob {
    () => {
        "b.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.ref_digest = b.digest AND mr.ref_kind = 'blob')
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $1)"
    };
}

async fn gc_untagged_manifests(store: &Store, before: Millis) -> StoreResult<Vec<(String, Digest)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE m.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repository_id = m.repository_id
                         AND mr.ref_digest = m.digest AND mr.ref_kind = 'manifest')
         AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
         ORDER BY r.name, m.digest",
    )
    .bind(before)
    .fetch_all(&store.read)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(|(repo, d)| Ok((repo, parse_digest(&d)?))).collect()
}


async fn gc_blob_locations(store: &Store) -> StoreResult<Vec<(Digest, registry_core::blob::BlobLocation)>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as("SELECT digest, location FROM blobs").fetch_all(&store.read).await.map_err(db_err)?;
    rows.iter()
        .map(|(d, location)| Ok((parse_digest(d)?, registry_core::blob::BlobLocation::decode(location.as_deref()).map_err(StoreError::Backend)?)))
        .collect()
}


async fn gc_unreferenced_blobs(store: &Store, before: Millis) -> StoreResult<Vec<(Digest, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(concat!("SELECT b.digest, b.size FROM blobs b WHERE ", unreferenced_blob!(), " ORDER BY b.digest"))
        .bind(before)
        .fetch_all(&store.read)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(|(d, size)| Ok((parse_digest(&d)?, from_db(size)))).collect()
}


async fn gc_remove_unreferenced_blobs(store: &Store, digests: &[Digest], before: Millis) -> StoreResult<Vec<BlobLink>> {
    let mut tx = begin_write(&store.write).await?;
    let mut removed = Vec::new();
    for digest in digests {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(concat!("SELECT b.size, b.location FROM blobs b WHERE b.digest = $2 AND ", unreferenced_blob!()))
            .bind(before)
            .bind(digest.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some((size, location)) = row else { continue };
        removed.push(blob_from_row(digest, size, location.as_deref())?);
        for sql in ["DELETE FROM repository_blobs WHERE digest = $1", "DELETE FROM blobs WHERE digest = $1"] {
            sqlx::query(sql).bind(digest.to_string()).execute(&mut *tx).await.map_err(db_err)?;
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(removed)
}
