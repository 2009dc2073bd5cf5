//! Records of work the server does in the background for a namespace, kept in the metadata
//! store so every replica answers for them: import jobs started through the API, mirrors of
//! other repositories synced on a schedule, and the leases that keep such work to one replica.

use crate::store::{Millis, StoreResult};

/// An import job as stored. `spec` and `summary` are JSON the server writes and reads
/// (the request without its password; the import's report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: String,
    pub namespace: String,
    pub spec: String,
    pub state: JobState,
    pub summary: Option<String>,
    /// Why a failed job failed.
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Millis,
    /// Renewed by the replica running the job; a running job whose heartbeat stopped was
    /// interrupted.
    pub heartbeat_at: Millis,
    pub finished_at: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    /// Running as stored, but its replica stopped renewing the heartbeat (never stored).
    Interrupted,
}

impl JobState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// The stored word; `None` for anything else.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed, Self::Interrupted].into_iter().find(|j| j.as_str() == s)
    }
}

impl ImportJob {
    /// The state as callers see it: a running job without a heartbeat since `stale_before`
    /// was interrupted (its replica died or was stopped).
    #[must_use]
    pub fn visible_state(&self, stale_before: Millis) -> JobState {
        if self.state == JobState::Running && self.heartbeat_at < stale_before { JobState::Interrupted } else { self.state }
    }
}

/// A namespace that mirrors another repository. `source` is JSON the server writes and reads
/// (where, and the credentials, which are never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub namespace: String,
    pub source: String,
    /// The source's address as shown (no credentials).
    pub source_url: String,
    pub interval_secs: u64,
    /// Remove versions the source no longer lists.
    pub prune: bool,
    pub next_sync_at: Millis,
    pub last_sync_at: Option<Millis>,
    /// `succeeded` or `failed` (as [`JobState`] words), `None` before the first sync.
    pub last_outcome: Option<String>,
    /// The last sync's headline, or why it failed.
    pub last_message: Option<String>,
    /// The last sync's report (JSON), when it got as far as one.
    pub last_summary: Option<String>,
    pub created_at: Millis,
}

/// What one sync ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub at: Millis,
    pub succeeded: bool,
    pub message: String,
    pub summary: Option<String>,
}

/// Import jobs, mirrors and leases.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + 'static {
    async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()>;
    async fn import_job(&self, namespace: &str, id: &str) -> StoreResult<Option<ImportJob>>;
    /// Renews a running job's heartbeat.
    async fn touch_import_job(&self, id: &str, at: Millis) -> StoreResult<()>;
    async fn finish_import_job(&self, id: &str, state: JobState, summary: Option<&str>, error: Option<&str>, at: Millis) -> StoreResult<()>;

    /// Declares a mirror or replaces its settings (keeping its sync history).
    async fn put_mirror(&self, mirror: &Mirror) -> StoreResult<()>;
    async fn mirror(&self, namespace: &str) -> StoreResult<Option<Mirror>>;
    async fn mirrors(&self) -> StoreResult<Vec<Mirror>>;
    /// Whether a mirror's sync is due at `now` (the schedule's poll: no rows read).
    async fn mirror_due(&self, now: Millis) -> StoreResult<bool>;
    async fn delete_mirror(&self, namespace: &str) -> StoreResult<bool>;
    /// Records a sync and when the next is due.
    async fn record_sync(&self, namespace: &str, outcome: &SyncOutcome, next_sync_at: Millis) -> StoreResult<()>;
    /// Makes a mirror due at once.
    async fn sync_mirror_now(&self, namespace: &str, at: Millis) -> StoreResult<bool>;

    /// Takes the lease `name` for `owner` until `until` when it is free (never taken, expired
    /// at `now`, or already `owner`'s): one row, claimed atomically. True when taken.
    async fn claim_lease(&self, name: &str, owner: &str, now: Millis, until: Millis) -> StoreResult<bool>;
    /// Gives the lease up, when `owner` holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_without_heartbeat_reads_as_interrupted() {
        let job = ImportJob {
            id: "j".into(),
            namespace: "ns".into(),
            spec: "{}".into(),
            state: JobState::Running,
            summary: None,
            error: None,
            created_by: None,
            created_at: 0,
            heartbeat_at: 100,
            finished_at: None,
        };
        assert_eq!(job.visible_state(50), JobState::Running);
        assert_eq!(job.visible_state(101), JobState::Interrupted);
        let done = ImportJob { state: JobState::Succeeded, ..job };
        assert_eq!(done.visible_state(101), JobState::Succeeded);
        assert_eq!(JobState::parse("failed"), Some(JobState::Failed));
        assert_eq!(JobState::parse("nope"), None);
    }
}
