//! Packs: metadata read from every pushed chart or pack ([`extract`]), and the Helm
//! repository index kept from it ([`index::IndexCache`]).

use futures::StreamExt;
use registry_core::RepoName;
use registry_core::manifest::ParsedManifest;
use registry_core::pack::{self, PackMeta};
use registry_core::store::NewPack;
use registry_core::version_tag;

use crate::AppState;
use crate::routes::oci::error::{ErrorCode, OciError};

pub mod index;
pub mod publish;
pub mod search;
pub mod signatures;

/// The layer type of Helm charts, which the upstream `sherpack` client uses for packs too.
pub const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

pub use registry_core::version_tag::tag_of;

/// Alias tags by `(repository, version)`: the tags pointing at a pack version's manifest other
/// than the version's own, of one repository or of a whole namespace.
pub async fn aliases(
    meta: &dyn registry_core::store::MetadataStore,
    namespace: &str,
    repository: Option<&str>,
) -> Result<std::collections::BTreeMap<(String, String), Vec<String>>, registry_core::store::StoreError> {
    let mut out: std::collections::BTreeMap<(String, String), Vec<String>> = std::collections::BTreeMap::new();
    for t in meta.pack_tags(namespace, repository).await? {
        if version_tag::role(&t.tag, &t.version) != version_tag::TagRole::Version {
            out.entry((t.repository, t.version)).or_default().push(t.tag);
        }
    }
    Ok(out)
}

fn invalid(message: String) -> OciError {
    OciError::new(ErrorCode::ManifestInvalid, message)
}

/// Reads the pack a manifest carries, if it has a chart layer: checks the archive, that its
/// name is the repository's last path segment and that the tag is its version or no version
/// at all (an alias, see `registry_core::version_tag`). Refusals are `MANIFEST_INVALID` saying
/// which check failed.
pub async fn extract(
    state: &AppState,
    repo: &RepoName,
    tag: Option<&str>,
    digest: &registry_core::Digest,
    parsed: &ParsedManifest,
) -> Result<Option<(NewPack, PackMeta)>, OciError> {
    let mut layers = parsed.layers.iter().filter(|l| l.media_type == CHART_LAYER);
    let Some(layer) = layers.next() else { return Ok(None) };
    if layers.next().is_some() {
        return Err(invalid("a pack manifest has exactly one chart layer".into()));
    }
    // A chart layer this repository does not hold is MANIFEST_BLOB_UNKNOWN, as the store would
    // say for any other missing reference, not a bad pack. (Only this layer is read here.)
    let Some(link) = state.meta.linked_blob(repo, &layer.digest).await? else {
        return Err(registry_core::store::StoreError::MissingReference(layer.digest.clone()).into());
    };
    let limits = state.config.packs;
    if layer.size > limits.max_archive_bytes {
        return Err(invalid(format!("the chart archive is larger than {} bytes", limits.max_archive_bytes)));
    }
    let read = state.blobs.get(&link, None).await?;
    let mut archive = Vec::with_capacity(usize::try_from(read.size.min(limits.max_archive_bytes)).unwrap_or(0));
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| OciError::internal(&e))?;
        if (archive.len() + chunk.len()) as u64 > limits.max_archive_bytes {
            return Err(invalid(format!("the chart archive is larger than {} bytes", limits.max_archive_bytes)));
        }
        archive.extend_from_slice(&chunk);
    }
    let archive = bytes::Bytes::from(archive);
    let reading = archive.clone();
    let meta = tokio::task::spawn_blocking(move || pack::read(&reading, &limits))
        .await
        .map_err(|e| OciError::internal(&e))?
        .map_err(|e| invalid(format!("the chart archive is not a valid pack: {e}")))?;
    let last_segment = repo.as_str().rsplit('/').next().unwrap_or_default();
    if meta.name != last_segment {
        return Err(invalid(format!("the pack is named {}, but the repository is {repo}", meta.name)));
    }
    if let Some(tag) = tag
        && version_tag::role(tag, &meta.version) == version_tag::TagRole::OtherVersion
    {
        return Err(invalid(format!(
            "the tag {tag} is a version and the pack's version is {}: the two disagree (tag it {}, or use a tag that is not a version as an alias)",
            meta.version,
            tag_of(&meta.version)
        )));
    }
    // A signature pushed before the pack (as a referrer of this manifest) is checked now.
    let signature = match signatures::referrer_signature(state, repo, digest).await? {
        Some((file, blob)) => {
            let sig = signatures::parse(&file).map_err(invalid)?;
            Some(signatures::check(state, repo.namespace(), &sig, archive, blob).await?)
        }
        None => None,
    };
    signatures::enforce(signatures::required(state, repo.namespace()).await?, signature.as_ref())
        .map_err(|m| OciError::new(ErrorCode::Denied, m))?;
    let new = NewPack {
        signature,
        name: meta.name.clone(),
        version: meta.version.clone(),
        kind: meta.kind.as_str().to_owned(),
        archive_digest: layer.digest.clone(),
        archive_size: layer.size,
        metadata: serde_json::to_string(&meta).expect("metadata serialises"),
    };
    Ok(Some((new, meta)))
}
