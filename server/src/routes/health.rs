//! `/healthz` (the process answers) and `/readyz` (the database and the storage answer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (db, storage) = tokio::join!(state.meta.ping(), state.blobs.ping());
    let check = |r: Result<(), String>| match r {
        Ok(()) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    let ready = db.is_ok() && storage.is_ok();
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, "readiness: storage unreachable");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": check(db.map_err(|e| e.to_string())),
        "storage": check(storage.map_err(|e| e.to_string())),
    });
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}
