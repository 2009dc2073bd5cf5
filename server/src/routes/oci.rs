//! The OCI distribution API under `/v2`. Every response carries
//! `Docker-Distribution-API-Version: registry/2.0`.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

pub const API_VERSION_HEADER: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(api_version_check))
        .route("/v2", get(api_version_check))
        .layer(SetResponseHeaderLayer::overriding(
            API_VERSION_HEADER,
            HeaderValue::from_static("registry/2.0"),
        ))
}

/// The base endpoint clients probe to learn that this is a v2 registry.
async fn api_version_check() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        "{}",
    )
}
