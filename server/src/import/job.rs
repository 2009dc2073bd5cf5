//! Import jobs of the admin API: a request checked, stored as a running job and run in the
//! background of the replica that took it, its heartbeat renewed while it runs, its summary
//! stored when done. Any replica answers for a job from the store; a running job whose
//! heartbeat stopped (its replica died) shows as interrupted.

use std::time::Duration;

use registry_core::jobs::{ImportJob, JobState};
use serde::Serialize;

use super::{ImportRequest, Summary};
use crate::AppState;
use crate::auth::now_millis;

/// How often a running job's heartbeat is renewed.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A running job without a heartbeat for this long was interrupted.
const STALE_AFTER_MS: i64 = 30_000;

/// A job as the API shows it: the request without its password, and the summary when done.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub namespace: String,
    pub state: JobState,
    pub request: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<ImportJob> for JobView {
    fn from(job: ImportJob) -> Self {
        let state = job.visible_state(now_millis() - STALE_AFTER_MS);
        let error = match state {
            JobState::Interrupted => Some("the server running this import stopped before it finished; start it again (it continues where it stopped)".into()),
            _ => job.error,
        };
        Self {
            id: job.id,
            namespace: job.namespace,
            state,
            request: serde_json::from_str(&job.spec).unwrap_or(serde_json::Value::Null),
            created_by: job.created_by,
            created_at: job.created_at,
            finished_at: job.finished_at,
            summary: job.summary.and_then(|s| serde_json::from_str(&s).ok()),
            error,
        }
    }
}

/// Starts `request` into `namespace` (checked by the caller) as a background job.
pub async fn start(state: &AppState, namespace: &str, request: ImportRequest, created_by: Option<String>) -> Result<JobView, StartError> {
    let options = request.options().map_err(StartError::Invalid)?;
    let source = request
        .source
        .open(&options, request.password.clone(), state.config.s3.clone())
        .map_err(|e| StartError::Invalid(format!("source: {e:#}")))?;
    let now = now_millis();
    let job = ImportJob {
        id: uuid::Uuid::new_v4().simple().to_string(),
        namespace: namespace.to_owned(),
        spec: serde_json::to_string(&request).expect("a request serialises"),
        state: JobState::Running,
        summary: None,
        error: None,
        created_by,
        created_at: now,
        heartbeat_at: now,
        finished_at: None,
    };
    state.auth.store().create_import_job(&job).await?;
    tracing::info!(job.id = %job.id, namespace, source = request.source.url(), "import job {} started", job.id);
    let (state, id, namespace) = (state.clone(), job.id.clone(), namespace.to_owned());
    tokio::spawn(async move {
        let run = super::import(&state, &namespace, &source, &options, false);
        let outcome = with_heartbeat(&state, &id, run).await;
        finish(&state, &id, outcome).await;
    });
    Ok(job.into())
}

/// Runs `work`, renewing the job's heartbeat meanwhile.
async fn with_heartbeat<T>(state: &AppState, id: &str, work: impl Future<Output = T>) -> T {
    futures::pin_mut!(work);
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticker.tick() => {
                if let Err(e) = state.auth.store().touch_import_job(id, now_millis()).await {
                    tracing::warn!(job.id = id, error = %e, "renewing an import job's heartbeat failed");
                }
            }
        }
    }
}

async fn finish(state: &AppState, id: &str, outcome: anyhow::Result<Summary>) {
    let (job_state, summary, error) = match &outcome {
        Ok(s) if s.failed.is_empty() => (JobState::Succeeded, Some(s), None),
        Ok(s) => (JobState::Failed, Some(s), Some(format!("{} versions failed", s.failed.len()))),
        Err(e) => (JobState::Failed, None, Some(format!("{e:#}"))),
    };
    let summary_json = summary.map(|s| serde_json::to_string(s).expect("a summary serialises"));
    if let Some(s) = summary {
        tracing::info!(job.id = id, "import job {id} {}: {}", job_state.as_str(), s.headline());
    } else {
        tracing::warn!(job.id = id, "import job {id} failed: {}", error.as_deref().unwrap_or_default());
    }
    // The job must not stay "running" because one write failed: a few tries, then its
    // heartbeat lapses and it reads as interrupted.
    for attempt in 0..5 {
        match state.auth.store().finish_import_job(id, job_state, summary_json.as_deref(), error.as_deref(), now_millis()).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(job.id = id, attempt, error = %e, "recording the end of an import job failed"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// A job as stored, if it exists in `namespace`.
pub async fn get(state: &AppState, namespace: &str, id: &str) -> Result<Option<JobView>, registry_core::store::StoreError> {
    Ok(state.auth.store().import_job(namespace, id).await?.map(JobView::from))
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] registry_core::store::StoreError),
}
