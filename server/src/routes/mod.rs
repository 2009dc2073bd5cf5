//! The HTTP surface: one router nesting each area's routes, with the shared middleware.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Response;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::AppState;

pub mod admin;
mod health;
mod chartmuseum;
pub(crate) mod helm;
pub(crate) mod search;
pub mod oci;

/// The client's IP address, from the connection (absent in in-process router tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip()),
        ))
    }
}

pub fn build_router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(oci::routes())
        .nest("/api/v1", admin::routes())
        .merge(helm::routes())
        .merge(chartmuseum::routes())
        .merge(search::routes())
        .merge(crate::web::routes())
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
