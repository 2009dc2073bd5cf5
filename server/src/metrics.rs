//! `/metrics` in the Prometheus text format: requests by route and status, latency histograms,
//! bytes in and out (counted as bodies stream), and, computed at each scrape from the store,
//! storage per namespace, open upload sessions, and how far the Helm and search indexes trail
//! the change sequence. GC runs are counted where they happen (`crate::gc`).

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

const LATENCY_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide recorder (metrics are per process; each replica is scraped on its own).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("sherpack_http_request_duration_seconds".into()), &LATENCY_BUCKETS)
            .expect("buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests that build several routers in one
        // process): then this handle just renders what it has.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The route label of a request: the router's pattern, or for `/v2/...` (one catch-all route)
/// the OCI endpoint kind — never the repository name, so the label set stays small.
fn route_label(request: &Request) -> String {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/v2/") {
        let kind = if rest.is_empty() {
            "/v2/"
        } else if rest == "_catalog" {
            "/v2/_catalog"
        } else if rest == "token" {
            "/v2/token"
        } else if rest.contains("/blobs/uploads") {
            "/v2/<name>/blobs/uploads"
        } else if rest.contains("/blobs/") {
            "/v2/<name>/blobs/<digest>"
        } else if rest.contains("/manifests/") {
            "/v2/<name>/manifests/<reference>"
        } else if rest.ends_with("/tags/list") {
            "/v2/<name>/tags/list"
        } else if rest.contains("/referrers/") {
            "/v2/<name>/referrers/<digest>"
        } else {
            "/v2/other"
        };
        return kind.to_owned();
    }
    request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

/// Counts every request: its route, method and status, its latency, and its body bytes both ways.
pub async fn track(request: Request, next: Next) -> Response {
    let route = route_label(&request);
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let received = metrics::counter!("sherpack_http_received_bytes_total", "route" => route.clone());
    let request = request.map(|body| {
        axum::body::Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                received.increment(data.len() as u64);
            }
            frame
        }))
    });
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("sherpack_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!("sherpack_http_request_duration_seconds", "route" => route.clone(), "method" => method).record(started.elapsed().as_secs_f64());
    let sent = metrics::counter!("sherpack_http_sent_bytes_total", "route" => route);
    response.map(|body| {
        axum::body::Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                sent.increment(data.len() as u64);
            }
            frame
        }))
    })
}

/// `GET /metrics`. With authentication on, namespace names are not for everyone: a registry
/// admin's credentials are required (Prometheus sends them with `basic_auth` or
/// `authorization` in its scrape config).
pub async fn scrape(State(state): State<AppState>, address: crate::routes::ClientAddress, headers: axum::http::HeaderMap) -> Response {
    if state.auth.mode() == registry_core::auth::Mode::Enforced {
        match state.auth.authenticate(&headers, address.0).await {
            Ok(caller) if caller.principal.is_registry_admin() => {}
            Ok(caller) if !matches!(caller.principal, registry_core::auth::Principal::Anonymous) => {
                return (StatusCode::FORBIDDEN, "metrics are for registry admins\n").into_response();
            }
            _ => {
                return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"sherpack-registry\"")], "credentials required\n").into_response();
            }
        }
    }
    match state.meta.usage().await {
        Ok(usage) => {
            for (namespace, bytes) in usage.by_namespace() {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("sherpack_storage_bytes", "namespace" => namespace).set(bytes as f64);
            }
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("sherpack_uploads_in_flight").set(usage.open_uploads as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading storage usage failed"),
    }
    if let Ok(last) = state.meta.last_change_seq().await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("sherpack_search_index_lag_changes").set((last - state.index.search_seq()).max(0) as f64);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("sherpack_change_sequence").set(last as f64);
    }
    let (versions, packed, views) = state.index.footprint().await;
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("sherpack_helm_index_versions").set(versions as f64);
        metrics::gauge!("sherpack_helm_index_bytes", "part" => "packed_entries").set(packed as f64);
        metrics::gauge!("sherpack_helm_index_bytes", "part" => "rendered_fragments").set(views as f64);
    }
    let handle = handle();
    handle.run_upkeep();
    let mut response = (StatusCode::OK, handle.render()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
