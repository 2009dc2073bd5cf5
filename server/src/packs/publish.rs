//! Publishing an uploaded archive (the `ChartMuseum` API) the way `helm push` would: a config
//! blob, the archive as the chart layer (and a `.prov` layer when given), an OCI manifest
//! tagged with the version in `<namespace>/<name>`. So a chart uploaded over HTTP is an OCI
//! artifact too, and the index follows from the manifest like any other push.

use bytes::Bytes;
use futures::StreamExt;
use registry_core::manifest::{self, OCI_MANIFEST};
use registry_core::pack::{self, PackKind, PackMeta};
use registry_core::store::NewManifest;
use registry_core::{Digest, RepoName};
use serde_json::json;

use super::{CHART_LAYER, signatures, tag_of};
use crate::AppState;

pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const PROV_LAYER: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    BadPackage(String),
    #[error("file already exists")]
    Exists,
    /// A namespace rule (quota) refuses it.
    #[error("{0}")]
    Refused(String),
    /// A signature that does not parse, a policy that wants one, a store failure on the way.
    #[error("{}", .0.message)]
    Oci(crate::routes::oci::error::OciError),
    /// The database or the storage does not answer.
    #[error("{1}")]
    Unavailable(&'static str, String),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::routes::oci::error::OciError> for PublishError {
    fn from(e: crate::routes::oci::error::OciError) -> Self {
        Self::Oci(e)
    }
}

impl From<registry_core::store::StoreError> for PublishError {
    fn from(e: registry_core::store::StoreError) -> Self {
        match crate::routes::unavailable::store(&e) {
            Some(backend) => Self::Unavailable(backend, e.to_string()),
            None => Self::Internal(e.to_string()),
        }
    }
}

impl From<crate::storage::StoreBlobError> for PublishError {
    fn from(e: crate::storage::StoreBlobError) -> Self {
        use crate::storage::StoreBlobError;
        match e {
            quota @ StoreBlobError::Quota { .. } => Self::Refused(quota.to_string()),
            StoreBlobError::Store(e) => e.into(),
            StoreBlobError::Blob(e) => match crate::routes::unavailable::blob(&e) {
                Some(backend) => Self::Unavailable(backend, e.to_string()),
                None => Self::Internal(e.to_string()),
            },
        }
    }
}

/// Reads an archive's metadata off the async threads, with the configured limits.
pub async fn read_meta(state: &AppState, archive: Bytes) -> Result<PackMeta, PublishError> {
    let limits = state.config.packs;
    tokio::task::spawn_blocking(move || pack::read(&archive, &limits))
        .await
        .map_err(|e| PublishError::Internal(e.to_string()))?
        .map_err(|e| PublishError::BadPackage(e.to_string()))
}

/// The repository a pack of `namespace` lives in.
pub fn repository(namespace: &str, meta: &PackMeta) -> Result<RepoName, PublishError> {
    format!("{namespace}/{}", meta.name).parse().map_err(|e| PublishError::BadPackage(format!("{e}")))
}

async fn put_blob(state: &AppState, repo: &RepoName, data: Bytes) -> Result<(Digest, u64), PublishError> {
    let size = data.len() as u64;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(data) }).boxed();
    let info = crate::storage::store_blob(state, repo, stream, None).await?;
    Ok((info.digest, size))
}

/// Helm's config blob: the chart's metadata as JSON; the upstream `sherpack` client's: `{}`.
fn config_of(meta: &PackMeta) -> Vec<u8> {
    match meta.kind {
        PackKind::Sherpack => b"{}".to_vec(),
        PackKind::Helm => serde_json::to_vec(&json!({
            "name": meta.name,
            "version": meta.version,
            "apiVersion": meta.api_version,
            "appVersion": meta.app_version,
            "description": meta.description,
            "keywords": meta.keywords,
            "home": meta.home,
            "sources": meta.sources,
            "icon": meta.icon,
            "maintainers": meta.maintainers,
            "annotations": meta.annotations,
            "type": meta.chart_type,
            "deprecated": meta.deprecated,
            "kubeVersion": meta.kube_version,
        }))
        .expect("metadata serialises"),
    }
}

/// Stores the archive (and provenance) as an OCI artifact tagged with its version. Refuses an
/// existing version unless `overwrite`.
pub async fn publish(
    state: &AppState,
    repo: &RepoName,
    meta: &PackMeta,
    archive: Bytes,
    prov: Option<Bytes>,
    signature: Option<registry_core::store::PackSignature>,
    overwrite: bool,
) -> Result<Digest, PublishError> {
    let tag = tag_of(&meta.version);
    if !overwrite && state.meta.resolve_tag(repo, &tag).await?.is_some() {
        return Err(PublishError::Exists);
    }
    let (config, config_size) = put_blob(state, repo, Bytes::from(config_of(meta))).await?;
    let (layer, layer_size) = put_blob(state, repo, archive).await?;
    let mut layers = vec![json!({ "mediaType": CHART_LAYER, "digest": layer.to_string(), "size": layer_size })];
    if let Some(prov) = prov {
        let (d, size) = put_blob(state, repo, prov).await?;
        layers.push(json!({ "mediaType": PROV_LAYER, "digest": d.to_string(), "size": size }));
    }
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": HELM_CONFIG, "digest": config.to_string(), "size": config_size },
        "layers": layers,
    }))
    .expect("a manifest serialises");
    let parsed = manifest::parse(&body, Some(OCI_MANIFEST)).map_err(|e| PublishError::Internal(e.to_string()))?;
    let pack = registry_core::store::NewPack {
        name: meta.name.clone(),
        version: meta.version.clone(),
        kind: meta.kind.as_str().to_owned(),
        archive_digest: layer,
        archive_size: layer_size,
        metadata: serde_json::to_string(meta).expect("metadata serialises"),
        signature,
    };
    let digest = Digest::of(&body);
    let new = NewManifest {
        digest: digest.clone(),
        media_type: parsed.media_type,
        artifact_type: parsed.artifact_type,
        subject: None,
        content: body,
        references: parsed.references,
        pack: Some(pack),
    };
    state.meta.put_manifest(repo, &new, Some(&tag)).await?;
    Ok(digest)
}

/// An archive on its way in (a `ChartMuseum` upload, an import): read with the limits and named,
/// with its Helm provenance and minisign signature; nothing stored yet.
pub struct Upload {
    pub namespace: String,
    pub meta: PackMeta,
    pub repo: RepoName,
    archive: Bytes,
    prov: Option<Bytes>,
    minisig: Option<Bytes>,
}

impl Upload {
    /// Reads `archive`'s metadata. `companion` is a Helm `.prov` (kept as a layer, as Helm
    /// stores it) or a minisign signature (checked against the namespace's keys at `store`).
    pub async fn read(state: &AppState, namespace: &str, archive: Bytes, companion: Option<Bytes>) -> Result<Self, PublishError> {
        let meta = read_meta(state, archive.clone()).await?;
        let repo = repository(namespace, &meta)?;
        let (prov, minisig) = match companion {
            Some(p) if signatures::is_minisig(&p) => (None, Some(p)),
            other => (other, None),
        };
        Ok(Self { namespace: namespace.to_owned(), meta, repo, archive, prov, minisig })
    }

    /// Adds a minisign signature found apart from the provenance.
    #[must_use]
    pub fn with_minisig(mut self, minisig: Option<Bytes>) -> Self {
        if minisig.is_some() {
            self.minisig = minisig;
        }
        self
    }

    /// Checks the signature and the namespace's signature policy, then stores the version (and
    /// its signature as a referrer), as a push would. Refuses an existing version unless `overwrite`.
    pub async fn store(self, state: &AppState, overwrite: bool) -> Result<Digest, PublishError> {
        let signature = match &self.minisig {
            Some(file) => {
                let sig = signatures::parse(file).map_err(PublishError::BadPackage)?;
                Some(signatures::check(state, &self.namespace, &sig, self.archive.clone(), Digest::of(file)).await?)
            }
            None => None,
        };
        signatures::enforce(signatures::required(state, &self.namespace).await?, signature.as_ref()).map_err(PublishError::Refused)?;
        let archive_len = self.archive.len() as u64;
        let manifest = publish(state, &self.repo, &self.meta, self.archive, self.prov, signature, overwrite).await?;
        if let Some(file) = self.minisig {
            let size = state.meta.manifest(&self.repo, &manifest).await?.map_or(archive_len, |m| m.size);
            signatures::store_referrer(state, &self.repo, &manifest, size, file).await?;
        }
        Ok(manifest)
    }
}
