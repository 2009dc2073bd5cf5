// The queries of import jobs, mirrors and leases, compiled once per database by `include!`
// after `queries.rs` and `auth_queries.rs`, whose helpers they use.

use registry_core::jobs::{ImportJob, JobState, JobStore, Mirror, SyncOutcome};

type JobRow = (String, String, String, String, Option<String>, Option<String>, Option<String>, i64, i64, Option<i64>);

macro_rules! job_columns {
    () => {
        "id, namespace, spec, state, summary, error, created_by, created_at, heartbeat_at, finished_at"
    };
}

fn job_from_row(row: JobRow) -> StoreResult<ImportJob> {
    let (id, namespace, spec, state, summary, error, created_by, created_at, heartbeat_at, finished_at) = row;
    let state = JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?;
    Ok(ImportJob { id, namespace, spec, state, summary, error, created_by, created_at, heartbeat_at, finished_at })
}

type MirrorRow = (String, String, String, i64, bool, i64, Option<i64>, Option<String>, Option<String>, Option<String>, i64);

macro_rules! mirror_columns {
    () => {
        "namespace, source, source_url, interval_secs, prune, next_sync_at, last_sync_at, last_outcome, last_message, last_summary, created_at"
    };
}

fn mirror_from_row(row: MirrorRow) -> Mirror {
    let (namespace, source, source_url, interval_secs, prune, next_sync_at, last_sync_at, last_outcome, last_message, last_summary, created_at) = row;
    Mirror { namespace, source, source_url, interval_secs: from_db(interval_secs), prune, next_sync_at, last_sync_at, last_outcome, last_message, last_summary, created_at }
}

async fn execute_write(store: &Store, query: sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments>) -> StoreResult<u64> {
    Ok(query.execute(&store.write).await.map_err(db_err)?.rows_affected())
}

#[async_trait::async_trait]
impl JobStore for Store {
    async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()> {
        let sql = concat!("INSERT INTO import_jobs (", job_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        let query = sqlx::query(sql)
            .bind(&job.id)
            .bind(&job.namespace)
            .bind(&job.spec)
            .bind(job.state.as_str())
            .bind(&job.summary)
            .bind(&job.error)
            .bind(&job.created_by)
            .bind(job.created_at)
            .bind(job.heartbeat_at)
            .bind(job.finished_at);
        execute_write(self, query).await.map(|_| ())
    }

    async fn import_job(&self, namespace: &str, id: &str) -> StoreResult<Option<ImportJob>> {
        let row: Option<JobRow> = sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM import_jobs WHERE namespace = $1 AND id = $2"))
            .bind(namespace)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.map(job_from_row).transpose()
    }

    async fn touch_import_job(&self, id: &str, at: i64) -> StoreResult<()> {
        let query = sqlx::query("UPDATE import_jobs SET heartbeat_at = $2 WHERE id = $1 AND state = 'running'").bind(id).bind(at);
        execute_write(self, query).await.map(|_| ())
    }

    async fn finish_import_job(&self, id: &str, state: JobState, summary: Option<&str>, error: Option<&str>, at: i64) -> StoreResult<()> {
        let query = sqlx::query("UPDATE import_jobs SET state = $2, summary = $3, error = $4, finished_at = $5, heartbeat_at = $5 WHERE id = $1")
            .bind(id)
            .bind(state.as_str())
            .bind(summary)
            .bind(error)
            .bind(at);
        execute_write(self, query).await.map(|_| ())
    }

    async fn put_mirror(&self, m: &Mirror) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO mirrors (", mirror_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (namespace) DO UPDATE SET source = excluded.source, source_url = excluded.source_url,
             interval_secs = excluded.interval_secs, prune = excluded.prune, next_sync_at = excluded.next_sync_at"
        );
        let query = sqlx::query(sql)
            .bind(&m.namespace)
            .bind(&m.source)
            .bind(&m.source_url)
            .bind(to_db(m.interval_secs))
            .bind(m.prune)
            .bind(m.next_sync_at)
            .bind(m.last_sync_at)
            .bind(&m.last_outcome)
            .bind(&m.last_message)
            .bind(&m.last_summary)
            .bind(m.created_at);
        execute_write(self, query).await.map(|_| ())
    }

    async fn mirror(&self, namespace: &str) -> StoreResult<Option<Mirror>> {
        let row: Option<MirrorRow> = sqlx::query_as(concat!("SELECT ", mirror_columns!(), " FROM mirrors WHERE namespace = $1"))
            .bind(namespace)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        Ok(row.map(mirror_from_row))
    }

    async fn mirrors(&self) -> StoreResult<Vec<Mirror>> {
        let rows: Vec<MirrorRow> = sqlx::query_as(concat!("SELECT ", mirror_columns!(), " FROM mirrors ORDER BY namespace"))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(mirror_from_row).collect())
    }

    async fn mirror_due(&self, now: Millis) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT namespace FROM mirrors WHERE next_sync_at <= $1 LIMIT 1")
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn delete_mirror(&self, namespace: &str) -> StoreResult<bool> {
        Ok(execute_write(self, sqlx::query("DELETE FROM mirrors WHERE namespace = $1").bind(namespace)).await? > 0)
    }

    async fn record_sync(&self, namespace: &str, o: &SyncOutcome, next_sync_at: i64) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE mirrors SET last_sync_at = $2, last_outcome = $3, last_message = $4, last_summary = COALESCE($5, last_summary),
             next_sync_at = $6 WHERE namespace = $1",
        )
        .bind(namespace)
        .bind(o.at)
        .bind(if o.succeeded { JobState::Succeeded.as_str() } else { JobState::Failed.as_str() })
        .bind(&o.message)
        .bind(&o.summary)
        .bind(next_sync_at);
        execute_write(self, query).await.map(|_| ())
    }

    async fn sync_mirror_now(&self, namespace: &str, at: i64) -> StoreResult<bool> {
        Ok(execute_write(self, sqlx::query("UPDATE mirrors SET next_sync_at = $2 WHERE namespace = $1").bind(namespace).bind(at)).await? > 0)
    }

    async fn claim_lease(&self, name: &str, owner: &str, now: i64, until: i64) -> StoreResult<bool> {
        // One statement: the row is inserted, or updated only when free; two claimers never
        // both see a row changed.
        let query = sqlx::query(
            "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $4)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE leases.until < $3 OR leases.owner = excluded.owner",
        )
        .bind(name)
        .bind(owner)
        .bind(now)
        .bind(until);
        Ok(execute_write(self, query).await? > 0)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()> {
        execute_write(self, sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2").bind(name).bind(owner)).await.map(|_| ())
    }
}
