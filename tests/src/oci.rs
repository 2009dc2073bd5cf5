//! A small raw OCI client for tests: every call returns the response, so tests can check the
//! status codes and headers the spec requires.

use reqwest::{Client, Response};
use sha2::Digest as _;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[must_use]
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

#[must_use]
pub fn digest512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

pub struct Oci {
    pub base: String,
    pub http: Client,
}

impl Oci {
    #[must_use]
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http: Client::new() }
    }

    /// A client that sends HTTP Basic credentials with every request.
    #[must_use]
    pub fn with_basic(base: &str, user: &str, password: &str) -> Self {
        use base64::Engine;
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
        Self { base: base.trim_end_matches('/').to_owned(), http: Client::builder().default_headers(headers).build().unwrap() }
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resolves a `Location` header (absolute or relative) against the registry.
    #[must_use]
    pub fn location(&self, response: &Response) -> String {
        let loc = response.headers()["location"].to_str().unwrap().to_owned();
        if loc.starts_with("http") { loc } else { self.url(&loc) }
    }

    /// Uploads a blob with POST then PUT (every registry supports that; single-POST monolithic
    /// uploads are optional in the spec and distribution 2.8 lacks them).
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        self.push_blob_as(repo, data, &digest(data)).await
    }

    /// [`push_blob`](Self::push_blob) under a digest of the caller's choice (another algorithm).
    pub async fn push_blob_as(&self, repo: &str, data: &[u8], d: &str) -> String {
        let d = d.to_owned();
        let r = self.http.post(self.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
        assert_eq!(r.status(), 202, "upload start in {repo}");
        let location = self.location(&r);
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = self
            .http
            .put(format!("{location}{sep}digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "push of {d}");
        d
    }

    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
        self.http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a config and one layer, then an image manifest tagged `tag`; returns the manifest
    /// bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = self.push_blob(repo, b"{}").await;
        let layer_digest = self.push_blob(repo, layer).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len() }],
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201, "manifest push: {}", r.text().await.unwrap_or_default());
        let d = digest(&body);
        (body, d)
    }
}

/// The `code` of the first error in an OCI error body.
pub async fn error_code(response: Response) -> String {
    let body: serde_json::Value = response.json().await.expect("an OCI error body is JSON");
    body["errors"][0]["code"].as_str().expect("errors[0].code").to_owned()
}

/// Sends a request line exactly as given (HTTP clients normalise `..` away) and returns the
/// status code and body.
pub async fn raw_request(base: &str, method: &str, path: &str) -> (u16, String) {
    raw_head(base, method, path, "Content-Length: 0\r\n").await
}

/// Sends only a request head (with `headers`, each ending in CRLF) and reads the answer: for
/// requests the server must refuse before reading their body.
pub async fn raw_head(base: &str, method: &str, path: &str, headers: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
