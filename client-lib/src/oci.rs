//! A client for OCI distribution registries (ours, CNCF distribution, any other).

use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("`{0}` is not a valid registry URL")]
    BadUrl(String),
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} answered {status}: not an OCI distribution registry")]
    NotARegistry { url: String, status: u16 },
}

pub struct OciClient {
    base: Url,
    http: reqwest::Client,
}

impl OciClient {
    /// `base` is `http(s)://host[:port]`; a bare `host[:port]` means HTTPS.
    pub fn new(base: &str) -> Result<Self, OciError> {
        let with_scheme = if base.contains("://") {
            base.to_owned()
        } else {
            format!("https://{base}")
        };
        let base = Url::parse(&with_scheme).map_err(|_| OciError::BadUrl(base.to_owned()))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("sherpack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| OciError::Http {
                url: base.to_string(),
                source,
            })?;
        Ok(Self { base, http })
    }

    /// Probes `GET /v2/` and returns the API version the registry announces.
    pub async fn check(&self) -> Result<String, OciError> {
        let url = self
            .base
            .join("/v2/")
            .map_err(|_| OciError::BadUrl(self.base.to_string()))?;
        let response =
            self.http
                .get(url.clone())
                .send()
                .await
                .map_err(|source| OciError::Http {
                    url: url.to_string(),
                    source,
                })?;
        let version = response
            .headers()
            .get("docker-distribution-api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match (response.status().as_u16(), version) {
            (200 | 401, Some(v)) => Ok(v),
            (status, _) => Err(OciError::NotARegistry {
                url: url.to_string(),
                status,
            }),
        }
    }
}
