//! Authentication and authorization of `/v2` requests in the OCI error format: which action
//! each endpoint needs, the `WWW-Authenticate: Bearer` challenge, and the token endpoint
//! (`/v2/token`) of the Docker/OCI token flow.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::RepoName;
use registry_core::auth::{Action, Actions, Outcome};
use serde_json::json;

use super::error::{ErrorCode, OciError};
use super::path::Endpoint;
use super::request::base_url;
use crate::AppState;
use crate::auth::{AuthError, Caller, Denial};
use crate::routes::ClientAddress;

/// The repository and action an endpoint needs, `None` for the base and the catalog.
#[must_use] 
pub fn needed(endpoint: &Endpoint, method: &Method) -> Option<(RepoName, Action)> {
    let action = match *method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    };
    match endpoint {
        Endpoint::Base | Endpoint::Catalog => None,
        Endpoint::Tags(name) | Endpoint::Referrers(name, _) | Endpoint::Manifest(name, _) | Endpoint::Blob(name, _) => {
            Some((name.clone(), action))
        }
        // Every upload step, status and cancel included, belongs to a push.
        Endpoint::UploadStart(name) | Endpoint::Upload(name, _) => Some((name.clone(), Action::Push)),
    }
}

/// `401` with the challenge that sends clients to the token endpoint.
pub fn challenge(state: &AppState, headers: &HeaderMap, scope: Option<(&RepoName, Action)>, error: Option<&str>, message: &str) -> OciError {
    let mut value = format!(
        "Bearer realm=\"{}/v2/token\",service=\"{}\"",
        base_url(state, headers),
        state.auth.config().service
    );
    if let Some((repo, action)) = scope {
        let actions = match action {
            Action::Push => "pull,push",
            other => other.as_str(),
        };
        let _ = write!(value, ",scope=\"repository:{repo}:{actions}\"");
    }
    if let Some(error) = error {
        let _ = write!(value, ",error=\"{error}\"");
    }
    OciError::new(ErrorCode::Unauthorized, message).with_header(header::WWW_AUTHENTICATE, &value)
}

pub fn auth_error(state: &AppState, headers: &HeaderMap, scope: Option<(&RepoName, Action)>, error: AuthError) -> OciError {
    match error {
        AuthError::Malformed(m) => challenge(state, headers, scope, Some("invalid_request"), &m),
        AuthError::Invalid(m) => challenge(state, headers, scope, Some("invalid_token"), m),
        AuthError::RateLimited(wait) => OciError::new(ErrorCode::Toomanyrequests, error.to_string())
            .with_header(header::RETRY_AFTER, &wait.as_secs().max(1).to_string()),
        AuthError::Store(e) => e.into(),
    }
}

#[must_use] 
pub fn denial(state: &AppState, headers: &HeaderMap, repo: &RepoName, action: Action, denial: Denial) -> OciError {
    match denial {
        Denial::Challenge { insufficient_scope: false } => {
            challenge(state, headers, Some((repo, action)), None, "authentication required")
        }
        // RFC 6750: a valid token lacking a scope is 403, with the challenge naming the scope
        // so clients (oras-py retries on 403 only) fetch a wider token.
        Denial::Challenge { insufficient_scope: true } => {
            let with_challenge = challenge(state, headers, Some((repo, action)), Some("insufficient_scope"), "");
            let mut e = OciError::new(ErrorCode::Denied, "the bearer token does not grant this action; request a token with this scope");
            e.headers = with_challenge.headers;
            e
        }
        Denial::Forbidden => OciError::new(ErrorCode::Denied, format!("{action} is not allowed in {repo}")),
        Denial::Mirror { namespace, source } => OciError::new(ErrorCode::Denied, Denial::mirror_message(&namespace, &source)),
        // Not even the name the caller sent: the body must not confirm it.
        Denial::NotFound => OciError::new(ErrorCode::NameUnknown, "repository name not known to registry"),
        Denial::Store(e) => e.into(),
    }
}

/// `GET /v2/`: 200 to anyone allowed in; in enforced mode anonymous callers without a bearer
/// token get the challenge (clients learn from it where to log in, and `login` commands check
/// credentials here). An anonymous token from `/v2/token` is enough, as with distribution.
pub async fn check_base(state: &AppState, headers: &HeaderMap, address: Option<std::net::IpAddr>) -> Result<(), OciError> {
    let caller = state.auth.authenticate(headers, address).await.map_err(|e| auth_error(state, headers, None, e))?;
    if caller.principal == registry_core::auth::Principal::Anonymous
        && caller.claims.is_none()
        && state.auth.mode() == registry_core::auth::Mode::Enforced
    {
        return Err(challenge(state, headers, None, None, "authentication required"));
    }
    Ok(())
}

/// Scopes asked for: `scope` parameters, each holding space-separated
/// `repository:<name>:<actions>` entries.
fn requested_scopes(query: Option<&str>) -> Result<(Vec<(RepoName, Actions)>, bool), OciError> {
    let mut scopes = Vec::new();
    let mut catalog = false;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "scope" {
            continue;
        }
        for entry in value.split(' ').filter(|s| !s.is_empty()) {
            let mut parts = entry.splitn(3, ':');
            let (kind, name, actions) = (parts.next(), parts.next(), parts.next());
            match (kind, name, actions) {
                (Some("repository"), Some(name), Some(actions)) => {
                    let repo: RepoName =
                        name.parse().map_err(|e| OciError::new(ErrorCode::NameInvalid, format!("scope `{entry}`: {e}")))?;
                    let actions = Actions::parse_list(actions)
                        .map_err(|e| OciError::new(ErrorCode::Unsupported, format!("scope `{entry}`: {e}")).with_status(StatusCode::BAD_REQUEST))?;
                    scopes.push((repo, actions));
                }
                (Some("registry"), Some("catalog"), Some(_)) => catalog = true,
                _ => {
                    return Err(OciError::new(ErrorCode::Unsupported, format!("scope `{entry}` is not understood"))
                        .with_status(StatusCode::BAD_REQUEST));
                }
            }
        }
    }
    Ok((scopes, catalog))
}

/// Credentials of a `POST /v2/token` form (`grant_type=password`), when sent that way.
fn form_credentials(body: &[u8]) -> Option<(String, String)> {
    let mut user = None;
    let mut password = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "username" => user = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    Some((user?, password?))
}

/// `GET`/`POST /v2/token`: Basic credentials (or a form, or none) in, a signed bearer token out.
pub async fn token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let respond = async {
        state.auth.limit_token_request(address).map_err(|e| auth_error(&state, &headers, None, e))?;
        let form = if method == Method::POST { Some(body.as_ref()) } else { None };
        let query = match form {
            // The OAuth2 form carries the scope in the body.
            Some(b) if query.is_none() => Some(String::from_utf8_lossy(b).into_owned()),
            _ => query,
        };
        let (scopes, catalog) = requested_scopes(query.as_deref())?;
        let caller: Caller = match form.and_then(form_credentials) {
            Some((user, password)) => state.auth.login(&user, &password, address).await,
            None => state.auth.authenticate(&headers, address).await,
        }
        .map_err(|e| auth_error(&state, &headers, None, e))?;
        let (token, ttl) = state.auth.issue(&caller, &scopes, catalog).await?;
        if caller.principal != registry_core::auth::Principal::Anonymous {
            let target: Vec<String> = scopes.iter().map(|(r, a)| format!("{r}:{a}")).collect();
            state.auth.audit_caller(&caller, "token.issue", &target.join(" "), Outcome::Ok, "").await;
        }
        let issued_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        Ok::<_, OciError>(
            Json(json!({ "token": token, "access_token": token, "expires_in": ttl, "issued_at": issued_at })).into_response(),
        )
    };
    respond.await.unwrap_or_else(IntoResponse::into_response)
}
