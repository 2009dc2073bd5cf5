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
mod imports;
mod chartmuseum;
pub(crate) mod helm;
pub(crate) mod search;
pub mod oci;
pub mod unavailable;

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

/// `Server-Timing: app;dur=<ms>` on every answer: how long the server took (browsers show it
/// in their network panel; the benchmarks read it to tell server time from the client's).
pub async fn server_timing(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let value = format!("app;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// HTTP/2 clients send the host as the `:authority` pseudo-header, not `Host`: copy it into
/// `Host` so every absolute URL the registry builds (upload locations, token realms, install
/// commands) names the address the client used.
pub async fn host_from_authority(mut request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if !request.headers().contains_key(axum::http::header::HOST)
        && let Some(value) = request.uri().authority().and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
    {
        request.headers_mut().insert(axum::http::header::HOST, value);
    }
    next.run(request).await
}

pub fn build_router(state: AppState) -> Router {
    crate::metrics::handle();
    Router::new()
        .merge(health::routes())
        .merge(oci::routes())
        .nest("/api/v1", admin::routes())
        .merge(helm::routes())
        .merge(chartmuseum::routes())
        .merge(search::routes())
        .merge(crate::web::routes())
        .route("/metrics", axum::routing::get(crate::metrics::scrape))
        .layer(axum::middleware::from_fn(crate::packs::index::note_writes))
        .layer(axum::middleware::from_fn(server_timing))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(axum::middleware::from_fn(host_from_authority))
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
