//! Background jobs of a running server.

use std::time::Duration;

use crate::AppState;
use crate::routes::oci::expire_stale_uploads;

fn now_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Removes abandoned upload sessions, checking a few times per expiry period.
pub async fn expire_uploads_forever(state: AppState) {
    let period = Duration::from_secs((state.config.oci.upload_expiry_secs / 4).clamp(1, 600));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        match expire_stale_uploads(&state, now_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads.expired = n, "expired {n} abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "expiring uploads failed"),
        }
    }
}

/// Keeps the Helm and search indexes current with the store even when no request asks, so a
/// push through another replica is searchable here within a second.
pub async fn follow_changes_forever(state: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = state.index.refresh(state.meta.as_ref()).await {
            tracing::warn!(error = %e, "following the store's changes failed");
        }
    }
}

/// Other replicas' commits, as Postgres reports them: each one makes the next index or search
/// request re-read the change sequence (instead of trusting a read under 100 ms old).
pub async fn listen_for_changes_forever(state: AppState) {
    use futures::StreamExt as _;
    loop {
        match state.meta.change_notifications().await {
            Ok(Some(mut changes)) => {
                while changes.next().await.is_some() {
                    crate::packs::index::note_change();
                    state.auth.note_change();
                }
                crate::packs::index::note_change();
                state.auth.note_change();
            }
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "listening for other servers' changes failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
