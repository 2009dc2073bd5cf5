//! One error type for every client operation, each kind with its own exit code, and messages
//! that say what to do next.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("TLS failure talking to {url}: {reason} (use --ca-file <pem> for a private CA, or --insecure to skip verification)")]
    Tls { url: String, reason: String },
    #[error("{host} refused the credentials{detail}: run `sherpack login {host}`")]
    Unauthorized { host: String, detail: String },
    #[error("access denied to {what}{detail}")]
    Forbidden { what: String, detail: String },
    #[error("{what} not found{hint}")]
    NotFound { what: String, hint: String },
    #[error("integrity check failed for {what}: {reason}")]
    Integrity { what: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot resolve dependencies: {0}")]
    Resolve(String),
    #[error("{url} answered {status}: {message}")]
    Server { url: String, status: u16, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Error {
    /// The process exit code for this error: 2 usage, 3 authentication or permission, 4 not
    /// found (also a missing file), 5 network or TLS, 6 integrity (digest or signature), 7 dependency resolution,
    /// 8 invalid input (archive, file), 1 anything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Unauthorized { .. } | Self::Forbidden { .. } => 3,
            Self::NotFound { .. } => 4,
            Self::Unreachable { .. } | Self::Tls { .. } => 5,
            Self::Integrity { .. } => 6,
            Self::Resolve(_) => 7,
            Self::Invalid(_) => 8,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 4,
            Self::Server { .. } | Self::Io { .. } => 1,
        }
    }

    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.as_ref().display().to_string();
        move |source| Self::Io { path, source }
    }

    /// Classifies a transport error: TLS problems apart from unreachable hosts.
    #[must_use]
    pub fn transport(url: &str, e: &reqwest::Error) -> Self {
        let mut chain = Vec::new();
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        let detail = chain.last().cloned().unwrap_or_else(|| e.to_string());
        // The first link names the URL (which may contain anything): classify on the causes.
        let text = chain[1.min(chain.len())..].join(": ").to_lowercase();
        let url = strip_query(url);
        if text.contains("invalidcontenttype") || text.contains("corrupt message") {
            return Self::Tls { url, reason: "the server does not speak TLS here; if it is plain HTTP, add --plain-http".into() };
        }
        if ["certificate", "tls", "handshake", "unknownissuer", "invalid peer"].iter().any(|w| text.contains(w)) {
            Self::Tls { url, reason: detail }
        } else if e.is_timeout() {
            Self::Unreachable { url, reason: "timed out".into() }
        } else {
            Self::Unreachable { url, reason: detail }
        }
    }
}

fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
