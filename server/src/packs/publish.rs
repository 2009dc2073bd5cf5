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

use super::{CHART_LAYER, tag_of};
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
    #[error("{0}")]
    Internal(String),
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
    let info = crate::storage::store_blob(state, repo, stream, None).await.map_err(|e| match e {
        quota @ crate::storage::StoreBlobError::Quota { .. } => PublishError::Refused(quota.to_string()),
        other => PublishError::Internal(other.to_string()),
    })?;
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
    let internal = |e: registry_core::store::StoreError| PublishError::Internal(e.to_string());
    let tag = tag_of(&meta.version);
    if !overwrite && state.meta.resolve_tag(repo, &tag).await.map_err(internal)?.is_some() {
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
    state.meta.put_manifest(repo, &new, Some(&tag)).await.map_err(internal)?;
    Ok(digest)
}
