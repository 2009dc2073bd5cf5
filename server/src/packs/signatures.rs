//! Minisign signatures of pack archives: parsed, checked against the namespace's trusted keys,
//! stored as a referrer artifact of the pack's manifest (never as an extra layer: the upstream
//! client refuses manifests with unknown layers), and recorded on the pack.

use bytes::Bytes;
use futures::StreamExt;
use registry_core::manifest::{self, OCI_MANIFEST};
use registry_core::store::{NewManifest, PackSignature};
use registry_core::{Digest, RepoName};
use serde_json::json;

use crate::AppState;
use crate::routes::oci::error::{ErrorCode, OciError};

/// `artifactType` of a signature referrer, and the media type of its one layer.
pub const SIGNATURE_ARTIFACT: &str = "application/vnd.sherpack.signature.v1+minisign";
pub const SIGNATURE_LAYER: &str = "application/vnd.sherpack.signature.v1+minisign";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Largest signature file read.
pub const MAX_SIGNATURE: usize = 16 * 1024;

/// Whether a file looks like a minisign signature (rather than a Helm `.prov`).
#[must_use]
pub fn is_minisig(data: &[u8]) -> bool {
    data.starts_with(b"untrusted comment:")
}

/// Parses a `.minisig` file; the error says why it does not parse.
pub fn parse(data: &[u8]) -> Result<minisign::SignatureBox, String> {
    if data.len() > MAX_SIGNATURE {
        return Err(format!("the signature is larger than {MAX_SIGNATURE} bytes"));
    }
    let text = std::str::from_utf8(data).map_err(|_| "the signature is not text".to_owned())?;
    minisign::SignatureBox::from_string(text).map_err(|e| format!("the signature does not parse: {e}"))
}

/// Minisign's key id notation: the key number as a little-endian u64 in 16 hex digits.
#[must_use]
pub fn key_id(keynum: &[u8]) -> String {
    hex::encode_upper(keynum.iter().rev().copied().collect::<Vec<u8>>())
}

/// The name and version a signature's trusted comment names (`sherpack:<name> v<version> ...`).
#[must_use]
pub fn signed_pack(sig: &minisign::SignatureBox) -> Option<(String, String)> {
    let comment = sig.trusted_comment().ok()?;
    let rest = comment.strip_prefix("sherpack:")?;
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_owned();
    let version = words.next()?.strip_prefix('v')?.to_owned();
    Some((name, version))
}

/// Checks a signature of `archive` against the namespace's trusted keys.
pub async fn check(state: &AppState, namespace: &str, sig: &minisign::SignatureBox, archive: Bytes, blob: Digest) -> Result<PackSignature, OciError> {
    let id = key_id(sig.keynum());
    let keys = state.auth.store().signing_keys(namespace).await?;
    let status = match keys.iter().find(|k| k.id == id) {
        None => "unverified",
        Some(key) => {
            let pk = minisign::PublicKey::from_base64(&key.public_key).map_err(|e| OciError::internal(&e))?;
            let sig = sig.clone();
            let valid = tokio::task::spawn_blocking(move || minisign::verify(&pk, &sig, std::io::Cursor::new(archive), true, false, false).is_ok())
                .await
                .map_err(|e| OciError::internal(&e))?;
            if valid { "verified" } else { "invalid" }
        }
    };
    Ok(PackSignature { blob, key_id: id, status: status.to_owned() })
}

/// Reads a whole blob of at most `limit` bytes.
pub async fn read_blob(state: &AppState, digest: &Digest, limit: u64) -> Result<Bytes, OciError> {
    let read = crate::storage::read_blob(state, digest).await?;
    if read.size > limit {
        return Err(OciError::new(ErrorCode::ManifestInvalid, format!("blob {digest} is larger than {limit} bytes")));
    }
    let mut out = Vec::with_capacity(usize::try_from(read.size).unwrap_or(0));
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| OciError::internal(&e))?);
    }
    Ok(Bytes::from(out))
}

/// The signature among the referrers of `subject`, if one was pushed: its file and blob.
pub async fn referrer_signature(state: &AppState, repo: &RepoName, subject: &Digest) -> Result<Option<(Bytes, Digest)>, OciError> {
    for record in state.meta.referrers(repo, subject).await? {
        let Ok(parsed) = manifest::parse(&record.content, Some(&record.media_type)) else { continue };
        if parsed.effective_artifact_type() != Some(SIGNATURE_ARTIFACT) {
            continue;
        }
        if let Some(layer) = parsed.layers.iter().find(|l| l.media_type == SIGNATURE_LAYER) {
            let data = read_blob(state, &layer.digest, MAX_SIGNATURE as u64).await?;
            return Ok(Some((data, layer.digest.clone())));
        }
    }
    Ok(None)
}

/// Stores a `.minisig` as a referrer artifact of `subject` (config `{}`, one layer).
pub async fn store_referrer(state: &AppState, repo: &RepoName, subject: &Digest, subject_size: u64, signature: Bytes) -> Result<Digest, OciError> {
    let put = |data: Bytes| async move {
        let size = data.len() as u64;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(data) }).boxed();
        let info = crate::storage::store_blob(state, repo, stream, None).await?;
        Ok::<_, OciError>((info.digest, size))
    };
    let (config, config_size) = put(Bytes::from_static(b"{}")).await?;
    let (layer, layer_size) = put(signature).await?;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT,
        "config": { "mediaType": EMPTY_CONFIG, "digest": config.to_string(), "size": config_size },
        "layers": [{ "mediaType": SIGNATURE_LAYER, "digest": layer.to_string(), "size": layer_size }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": subject_size },
    }))
    .expect("a manifest serialises");
    let parsed = manifest::parse(&body, Some(OCI_MANIFEST)).map_err(|e| OciError::internal(&e))?;
    let digest = Digest::of(&body);
    let new = NewManifest {
        digest: digest.clone(),
        media_type: parsed.media_type,
        artifact_type: parsed.artifact_type,
        subject: parsed.subject,
        content: body,
        references: parsed.references,
        pack: None,
    };
    state.meta.put_manifest(repo, &new, None).await?;
    Ok(layer)
}

/// Whether the namespace's policy demands a verified signature.
pub async fn required(state: &AppState, namespace: &str) -> Result<bool, OciError> {
    let policy = state.auth.store().namespace(namespace).await?.map(|n| n.policy).unwrap_or_default();
    Ok(serde_json::from_str::<registry_core::auth::NamespacePolicy>(&policy).is_ok_and(|p| p.require_signature))
}

/// Refuses a pack whose signature is missing or not verified when the policy demands one.
pub fn enforce(required: bool, signature: Option<&PackSignature>) -> Result<(), String> {
    match signature {
        _ if !required => Ok(()),
        Some(s) if s.status == "verified" => Ok(()),
        Some(s) => Err(format!("this namespace requires a valid signature by a trusted key; the signature is {} (key {})", s.status, s.key_id)),
        None => Err("this namespace requires a signature by a trusted key; none was given".to_owned()),
    }
}
