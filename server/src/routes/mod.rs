//! The HTTP surface: one router nesting each area's routes, with the shared middleware.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Response;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::AppState;

mod health;
pub mod oci;

pub fn build_router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(oci::routes())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                    tracing::info_span!("request", http.method = %req.method(), http.route = route, http.path = req.uri().path())
                })
                .on_request(())
                .on_response(|res: &Response<_>, latency: Duration, _span: &Span| {
                    tracing::info!(
                        http.status = res.status().as_u16(),
                        duration_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                        "{} in {}ms",
                        res.status().as_u16(),
                        latency.as_millis()
                    );
                }),
        )
        .with_state(state)
}
