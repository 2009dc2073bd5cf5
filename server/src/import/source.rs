//! What an import reads from: the versions a source lists and, one at a time, their files.

use bytes::Bytes;

use super::helm::HelmSource;
use super::oci::OciSource;
use super::storage::StorageSource;

/// A version a source holds.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub version: String,
    /// The archive's sha256 as the source announces it (hex or `sha256:<hex>`); empty when it
    /// announces none (then the download is compared).
    pub digest: String,
    /// The namespace it goes into when the source says (a tenant's folder), else the import's.
    pub namespace: Option<String>,
    /// Where the source keeps it (an index entry's position, a path, a reference).
    pub(super) key: usize,
}

/// A version's files, the archive checked against the announced digest.
pub struct Fetched {
    pub archive: Bytes,
    /// A Helm provenance file.
    pub prov: Option<Bytes>,
    /// A minisign signature.
    pub minisig: Option<Bytes>,
}

pub enum Source {
    Helm(HelmSource),
    Storage(StorageSource),
    /// Copied tag by tag (`oci_copy.rs`), not fetched as archives.
    Oci(OciSource),
}

impl Source {
    /// Everything the source holds. An unreachable source, refused credentials or an index that
    /// does not parse end the import here, before anything is stored.
    pub async fn list(&self) -> anyhow::Result<Vec<Candidate>> {
        match self {
            Self::Helm(s) => s.list().await,
            Self::Storage(s) => s.list().await,
            Self::Oci(s) => s.list().await,
        }
    }

    /// One version's files; an error is this version's failure, with its reason.
    pub async fn fetch(&self, candidate: &Candidate, max_archive: u64) -> Result<Fetched, String> {
        match self {
            Self::Helm(s) => s.fetch(candidate, max_archive).await,
            Self::Storage(s) => s.fetch(candidate, max_archive).await,
            Self::Oci(_) => Err("an OCI source is copied, not fetched".into()),
        }
    }

    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Helm(s) => s.url().to_owned(),
            Self::Storage(s) => s.url().to_owned(),
            Self::Oci(s) => s.url(),
        }
    }
}

/// A client error as an import reports it (the CLI's hints name `sherpack` commands).
pub fn describe(e: &client_lib::Error) -> String {
    match e {
        client_lib::Error::Unauthorized { host, .. } => format!("{host} refused the credentials (401): give --username and the password on standard input"),
        client_lib::Error::Tls { url, reason } => format!("TLS failure talking to {url}: {reason}"),
        other => other.to_string(),
    }
}
