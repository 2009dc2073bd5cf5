// Pack records (`packs`): written with their manifest, read by the indexes, the API and the
// pages. Included by `postgres.rs` and `sqlite.rs` after `queries.rs`, whose helpers it uses.

macro_rules! pack_columns {
    () => {
        "SELECT repository, namespace, manifest_digest, name, version, kind, archive_digest, archive_size, metadata, created_at,
         signature_blob, signature_key, signature_status"
    };
}

type PackRow = (String, String, String, String, String, String, String, i64, String, i64, Option<String>, Option<String>, Option<String>);

fn pack_record(row: PackRow) -> StoreResult<PackRecord> {
    let (repository, namespace, manifest_digest, name, version, kind, archive_digest, size, metadata, created_at, blob, key, status) = row;
    let signature = match (blob, key, status) {
        (Some(blob), Some(key_id), Some(status)) => Some(PackSignature { blob: parse_digest(&blob)?, key_id, status }),
        _ => None,
    };
    Ok(PackRecord {
        repository,
        namespace,
        manifest_digest: parse_digest(&manifest_digest)?,
        pack: NewPack { name, version, kind, archive_digest: parse_digest(&archive_digest)?, archive_size: from_db(size), metadata, signature },
        created_at,
    })
}

/// Records the pack a manifest carries (inside `put_manifest`'s transaction). Pushed under
/// its version (or no tag) it replaces the version's record; under an alias the record stays,
/// and must be of this very archive.
async fn insert_pack(tx: &mut Tx, repo_id: i64, repo: &RepoName, manifest: &Digest, pack: &NewPack, tag: Option<&str>, now: Millis) -> StoreResult<()> {
    let alias = tag.is_some_and(|t| t != registry_core::version_tag::tag_of(&pack.version));
    if alias {
        let held: Option<(String,)> = sqlx::query_as("SELECT archive_digest FROM packs WHERE repository_id = $1 AND version = $2")
            .bind(repo_id)
            .bind(&pack.version)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        if let Some((held,)) = held.filter(|(d,)| *d != pack.archive_digest.to_string()) {
            return Err(StoreError::VersionHeld { version: pack.version.clone(), archive: parse_digest(&held)? });
        }
    }
    sqlx::query(
        "INSERT INTO packs (repository_id, manifest_digest, repository, namespace, name, version, kind,
         archive_digest, archive_size, metadata, created_at, signature_blob, signature_key, signature_status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (repository_id, version) DO UPDATE SET manifest_digest = excluded.manifest_digest,
         kind = excluded.kind, archive_digest = excluded.archive_digest, archive_size = excluded.archive_size,
         metadata = excluded.metadata, created_at = excluded.created_at, signature_blob = excluded.signature_blob,
         signature_key = excluded.signature_key, signature_status = excluded.signature_status
         WHERE packs.manifest_digest <> excluded.manifest_digest AND $15",
    )
    .bind(repo_id)
    .bind(manifest.to_string())
    .bind(repo.as_str())
    .bind(repo.namespace())
    .bind(&pack.name)
    .bind(&pack.version)
    .bind(&pack.kind)
    .bind(pack.archive_digest.to_string())
    .bind(to_db(pack.archive_size))
    .bind(&pack.metadata)
    .bind(now)
    .bind(pack.signature.as_ref().map(|s| s.blob.to_string()))
    .bind(pack.signature.as_ref().map(|s| s.key_id.clone()))
    .bind(pack.signature.as_ref().map(|s| s.status.clone()))
    .bind(!alias)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn select_packs(store: &Store, repository: Option<&str>) -> StoreResult<Vec<PackRecord>> {
    // Two statements, not `$1 IS NULL OR ...`: the planner uses the index only for an equality.
    let rows: Vec<PackRow> = match repository {
        Some(repository) => sqlx::query_as(concat!(pack_columns!(), " FROM packs WHERE repository = $1 ORDER BY created_at"))
            .bind(repository)
            .fetch_all(&store.read)
            .await,
        None => sqlx::query_as(concat!(pack_columns!(), " FROM packs ORDER BY repository, created_at")).fetch_all(&store.read).await,
    }
    .map_err(db_err)?;
    rows.into_iter().map(pack_record).collect()
}


async fn select_packs_after(store: &Store, after: &str, limit: u32) -> StoreResult<Vec<PackRecord>> {
    // Up to the repository holding the `limit`-th version after `after`, that one whole.
    let rows: Vec<PackRow> = sqlx::query_as(concat!(
        pack_columns!(),
        " FROM packs WHERE repository > $1 AND repository <= (SELECT MAX(repository) FROM
         (SELECT repository FROM packs WHERE repository > $1 ORDER BY repository LIMIT $2) page)
         ORDER BY repository, created_at"
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&store.read)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(pack_record).collect()
}

async fn select_pack_tags(store: &Store, namespace: &str, repository: Option<&str>) -> StoreResult<Vec<PackTag>> {
    macro_rules! select {
        ($filter:literal) => {
            concat!(
                "SELECT p.repository, p.version, t.name FROM packs p
                 JOIN manifest_refs mr ON mr.repository_id = p.repository_id AND mr.ref_digest = p.archive_digest
                 JOIN tags t ON t.repository_id = p.repository_id AND t.manifest_digest = mr.manifest_digest WHERE ",
                $filter,
                " ORDER BY p.repository, t.name"
            )
        };
    }
    // Two statements, not `$1 IS NULL OR ...`: the planner uses the index only for an equality.
    let query = match repository {
        Some(repository) => sqlx::query_as(select!("p.repository = $1")).bind(repository),
        None => sqlx::query_as(select!("p.namespace = $1")).bind(namespace),
    };
    let rows: Vec<(String, String, String)> = query.fetch_all(&store.read).await.map_err(db_err)?;
    Ok(rows.into_iter().map(|(repository, version, tag)| PackTag { repository, version, tag }).collect())
}


async fn select_pack(store: &Store, repository: &str, version: &str) -> StoreResult<Option<PackRecord>> {
    let row: Option<PackRow> = sqlx::query_as(concat!(pack_columns!(), " FROM packs WHERE repository = $1 AND version = $2"))
        .bind(repository)
        .bind(version)
        .fetch_optional(&store.read)
        .await
        .map_err(db_err)?;
    row.map(pack_record).transpose()
}

async fn update_pack_signature(store: &Store, repo: &RepoName, version: &str, signature: &PackSignature) -> StoreResult<bool> {
    let now = now_millis();
    let mut tx = begin_write(&store.write).await?;
    let updated = sqlx::query(
        "UPDATE packs SET signature_blob = $3, signature_key = $4, signature_status = $5
         WHERE repository = $1 AND version = $2",
    )
    .bind(repo.as_str())
    .bind(version)
    .bind(signature.blob.to_string())
    .bind(&signature.key_id)
    .bind(&signature.status)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if updated > 0 {
        record_change(&mut tx, ChangeKind::ManifestPut, repo.as_str(), None, Some(version), now).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(updated > 0)
}

