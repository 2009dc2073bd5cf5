//! HTTP for every client: TLS options, and authentication that answers challenges the way
//! registries expect — Basic, or the OCI bearer token flow (`WWW-Authenticate: Bearer realm=…`,
//! token fetched with the stored credentials, cached per scope).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use crate::config::Credential;
use crate::error::{Error, Result};

/// How to reach a server: TLS trust and whether `oci://` means plain HTTP.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra PEM CA bundle to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Talk plain HTTP to OCI registries.
    pub plain_http: bool,
    /// Give up on a request whose connection stays silent this long (none: wait).
    pub read_timeout: Option<std::time::Duration>,
    /// Refuse a redirect to another host (an import must not be led off its source).
    pub same_host_redirects: bool,
}

impl HttpOptions {
    pub fn client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("sherpack/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(if self.same_host_redirects { same_host_redirects() } else { reqwest::redirect::Policy::limited(10) });
        if let Some(timeout) = self.read_timeout {
            builder = builder.read_timeout(timeout);
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(Error::io(path))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Invalid(format!("{}: not a PEM certificate bundle: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Invalid(format!("{}: no certificate in the file", path.display())));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| Error::Invalid(format!("cannot set up HTTP: {e}")))
    }
}

/// Follows at most 10 redirects, all on the host (and port) the first request went to.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &url::Url| (u.scheme().to_owned(), u.host_str().map(str::to_owned), u.port_or_known_default());
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else if first.is_some_and(|f| f != origin(attempt.url())) {
            let to = attempt.url().as_str().split('?').next().unwrap_or_default().to_owned();
            attempt.error(format!("redirected to another host ({to}); refused"))
        } else {
            attempt.follow()
        }
    })
}

/// A client for one host, with its credential and the bearer tokens it obtained.
pub struct Session {
    pub http: reqwest::Client,
    pub host: String,
    credential: Option<Credential>,
    /// Send the credential without waiting for a challenge (HTTP repositories, as helm does).
    eager: bool,
    tokens: Mutex<HashMap<String, String>>,
}

/// A request body that can be sent again after an authentication round trip.
#[derive(Clone, Default)]
pub struct Body {
    pub bytes: Option<bytes::Bytes>,
    pub headers: HeaderMap,
}

impl Body {
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn bytes(data: impl Into<bytes::Bytes>, content_type: &str) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        Self { bytes: Some(data.into()), headers }
    }

    #[must_use]
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

impl Session {
    #[must_use]
    pub fn new(http: reqwest::Client, host: &str, credential: Option<Credential>, eager: bool) -> Self {
        Self { http, host: host.to_owned(), credential, eager, tokens: Mutex::new(HashMap::new()) }
    }

    #[must_use]
    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    fn credential_header(&self) -> Option<String> {
        Some(match self.credential.as_ref()? {
            Credential::Basic { username, password } => {
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
            }
            Credential::Bearer { token } => format!("Bearer {token}"),
        })
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        self.tokens.lock().ok()?.get(scope).cloned()
    }

    async fn send_once(&self, method: &Method, url: &str, body: &Body, auth: Option<&str>) -> Result<Response> {
        let mut request = self.http.request(method.clone(), url).headers(body.headers.clone());
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        if let Some(bytes) = &body.bytes {
            request = request.body(bytes.clone());
        }
        request.send().await.map_err(|e| Error::transport(url, &e))
    }

    /// Sends a request, answering one authentication challenge. `scope` is the OCI token scope
    /// (`repository:<name>:pull`), empty outside OCI. 401 and 403 become errors; other statuses
    /// are the caller's.
    pub async fn send(&self, method: Method, url: &str, body: Body, scope: &str) -> Result<Response> {
        let first_auth = self.cached_token(scope).map(|t| format!("Bearer {t}")).or_else(|| if self.eager { self.credential_header() } else { None });
        let response = self.send_once(&method, url, &body, first_auth.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return self.refuse_forbidden(response, url).await;
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let auth = if let Some(params) = challenge.strip_prefix("Bearer ").or_else(|| challenge.strip_prefix("bearer ")) {
            let params = parse_challenge(params);
            let token = self.fetch_token(&params, scope).await?;
            if let Ok(mut tokens) = self.tokens.lock() {
                tokens.insert(scope.to_owned(), token.clone());
            }
            format!("Bearer {token}")
        } else {
            match self.credential_header() {
                Some(h) if first_auth.as_deref() != Some(h.as_str()) => h,
                _ => return Err(self.unauthorized()),
            }
        };
        let response = self.send_once(&method, url, &body, Some(&auth)).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        self.refuse_forbidden(response, url).await
    }

    async fn refuse_forbidden(&self, response: Response, url: &str) -> Result<Response> {
        if response.status() != StatusCode::FORBIDDEN {
            return Ok(response);
        }
        let message = error_message(response).await;
        Err(Error::Forbidden {
            what: url.split('?').next().unwrap_or(url).to_owned(),
            detail: if message.is_empty() { String::new() } else { format!(" ({message})") },
        })
    }

    fn unauthorized(&self) -> Error {
        Error::Unauthorized {
            host: self.host.clone(),
            detail: if self.credential.is_some() { String::new() } else { " (no credentials stored)".into() },
        }
    }

    async fn fetch_token(&self, params: &HashMap<String, String>, scope: &str) -> Result<String> {
        let realm = params.get("realm").ok_or_else(|| Error::Invalid(format!("{} sent a bearer challenge without a realm", self.host)))?;
        let mut url = url::Url::parse(realm).map_err(|_| Error::Invalid(format!("{} sent a bearer challenge with a bad realm `{realm}`", self.host)))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            let wanted = if scope.is_empty() { params.get("scope").map_or("", String::as_str) } else { scope };
            if !wanted.is_empty() {
                query.append_pair("scope", wanted);
            }
        }
        let mut request = self.http.get(url.as_str());
        if let Some(header) = self.credential_header() {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request.send().await.map_err(|e| Error::transport(url.as_str(), &e))?;
        if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(self.unauthorized());
        }
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(Error::Server { url: realm.clone(), status, message: error_message(response).await });
        }
        let body: serde_json::Value = response.json().await.map_err(|e| Error::Invalid(format!("token response from {realm}: {e}")))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Invalid(format!("token response from {realm} holds no token")))
    }
}

/// `realm="…",service="…",scope="…"` into a map.
fn parse_challenge(params: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key, value.to_owned());
        rest = next.trim_start_matches(',').trim_start();
    }
    out
}

/// The message of an error response: OCI `errors[0].message`, `ChartMuseum` `error`, or the text.
pub async fn error_message(response: Response) -> String {
    let text = response.text().await.unwrap_or_default();
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(first) = json.get("errors").and_then(|e| e.get(0)) {
            let code = first.get("code").and_then(|c| c.as_str()).unwrap_or_default();
            let message = first.get("message").and_then(|c| c.as_str()).unwrap_or_default();
            return format!("{code}: {message}").trim_matches([':', ' ']).to_owned();
        }
        if let Some(m) = json.get("error").and_then(|e| e.as_str()) {
            return m.to_owned();
        }
    }
    text.chars().take(300).collect::<String>().trim().to_owned()
}

/// Turns a non-success response into an error, with the server's message.
pub async fn expect_success(response: Response, what: &str) -> Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let url = response.url().as_str().split('?').next().unwrap_or_default().to_owned();
    let message = error_message(response).await;
    if status == 404 {
        return Err(Error::NotFound { what: what.to_owned(), hint: if message.is_empty() { String::new() } else { format!(" ({message})") } });
    }
    Err(Error::Server { url, status, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quotes_and_commas() {
        let p = parse_challenge(r#"realm="http://h/v2/token",service="h",scope="repository:a/b:pull,push""#);
        assert_eq!(p["realm"], "http://h/v2/token");
        assert_eq!(p["service"], "h");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
    }
}
