//! Manifest parsing and validation: OCI image manifest and index, Docker schema 2 manifest and
//! manifest list. The media type comes from the document's `mediaType`, else from the request's
//! `Content-Type` (Helm sends no `mediaType`); the two must agree when both are given.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Digest;
use crate::store::ManifestRef;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The media type of an empty config (`{}`) used by artifacts without one.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Layer types whose bytes may live outside the registry (at the descriptor's `urls`): OCI's
/// non-distributable layers and Docker's foreign layers.
pub const NON_DISTRIBUTABLE_LAYERS: [&str; 4] = [
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Largest manifest accepted, as the spec suggests.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    NotJson(String),
    #[error("manifest is invalid: {0}")]
    Invalid(String),
    #[error("manifest media type `{0}` is not supported")]
    UnsupportedType(String),
    #[error("manifest mediaType `{document}` differs from Content-Type `{header}`")]
    TypeMismatch { document: String, header: String },
}

/// A content descriptor, as it appears in manifests and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    /// A non-distributable layer that says where its bytes are: the registry need not hold it.
    /// Its URLs must be `http(s)`; a non-distributable type without URLs is an ordinary layer.
    fn foreign(&self) -> Result<bool, ManifestError> {
        let urls = self.urls.as_deref().unwrap_or_default();
        if !NON_DISTRIBUTABLE_LAYERS.contains(&self.media_type.as_str()) || urls.is_empty() {
            return Ok(false);
        }
        if let Some(bad) = urls.iter().find(|u| !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(char::is_whitespace)) {
            return Err(ManifestError::Invalid(format!("layer {} has URL `{bad}`, which is not an http(s) URL", self.digest)));
        }
        Ok(true)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What the registry needs to know of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub config_media_type: Option<String>,
    pub subject: Option<Digest>,
    pub references: Vec<ManifestRef>,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<Descriptor>,
}

impl ParsedManifest {
    /// The artifact type a referrers listing shows: `artifactType`, else the config's type.
    #[must_use]
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().or(self.config_media_type.as_deref())
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Parses and validates `body`; `content_type` is the request's `Content-Type`, if any.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, ManifestError> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| ManifestError::NotJson(e.to_string()))?;
    // Content-Type may carry parameters (`; charset=utf-8`) and may be a generic JSON type.
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "application/octet-stream");
    let media_type = match (&doc.media_type, &header) {
        (Some(d), Some(h)) if d != h => {
            return Err(ManifestError::TypeMismatch { document: d.clone(), header: h.clone() });
        }
        (Some(d), _) => d.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) if doc.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].contains(&media_type.as_str()) {
        return Err(ManifestError::UnsupportedType(media_type));
    }
    if doc.schema_version != Some(2) {
        return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
    }
    let mut references = Vec::new();
    let mut layers = Vec::new();
    let mut config_media_type = None;
    if is_index(&media_type) {
        if doc.config.is_some() || doc.layers.is_some() {
            return Err(ManifestError::Invalid("an index has `manifests`, not `config` or `layers`".into()));
        }
        let children = doc.manifests.ok_or_else(|| ManifestError::Invalid("an index needs `manifests`".into()))?;
        references.extend(children.into_iter().map(|d| ManifestRef::Manifest(d.digest)));
    } else {
        if doc.manifests.is_some() {
            return Err(ManifestError::Invalid("an image manifest has no `manifests`".into()));
        }
        let config = doc.config.ok_or_else(|| ManifestError::Invalid("`config` is required".into()))?;
        let doc_layers = doc.layers.ok_or_else(|| ManifestError::Invalid("`layers` is required".into()))?;
        config_media_type = Some(config.media_type.clone());
        references.push(ManifestRef::Blob(config.digest));
        for layer in &doc_layers {
            let digest = layer.digest.clone();
            references.push(if layer.foreign()? { ManifestRef::ForeignLayer(digest) } else { ManifestRef::Blob(digest) });
        }
        layers = doc_layers;
    }
    references.dedup();
    Ok(ParsedManifest {
        media_type,
        artifact_type: doc.artifact_type,
        config_media_type,
        subject: doc.subject.map(|s| s.digest),
        references,
        annotations: doc.annotations.unwrap_or_default(),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    fn helm_manifest() -> String {
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{}","size":10}}],
            "annotations":{{"org.opencontainers.image.title":"nginx"}}}}"#,
            d("config"),
            d("layer")
        )
    }

    #[test]
    fn helm_manifests_take_their_type_from_the_header() {
        let m = parse(helm_manifest().as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.references, [ManifestRef::Blob(d("config")), ManifestRef::Blob(d("layer"))]);
        assert_eq!(m.effective_artifact_type(), Some("application/vnd.cncf.helm.config.v1+json"));
        assert_eq!(m.annotations["org.opencontainers.image.title"], "nginx");
        // No header and no mediaType: an OCI image manifest by shape.
        assert_eq!(parse(helm_manifest().as_bytes(), None).unwrap().media_type, OCI_MANIFEST);
    }

    #[test]
    fn indexes_reference_child_manifests() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}}]}}"#,
            d("child")
        );
        let m = parse(body.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(m.references, [ManifestRef::Manifest(d("child"))]);
        assert_eq!(parse(body.as_bytes(), None).unwrap().media_type, OCI_INDEX);
    }

    #[test]
    fn artifacts_and_subjects() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x-sig",
            "config":{{"mediaType":"{OCI_EMPTY}","digest":"{}","size":2}},"layers":[],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":7}}}}"#,
            d("{}"),
            d("subject")
        );
        let m = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.subject, Some(d("subject")));
        assert_eq!(m.effective_artifact_type(), Some("application/x-sig"));
    }

    #[test]
    fn non_distributable_layers_with_urls_are_foreign() {
        let layer = |media_type: &str, urls: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
                "layers":[{{"mediaType":"{media_type}","digest":"{}","size":10{urls}}}]}}"#,
                d("config"),
                d("layer")
            )
        };
        let with_urls = r#","urls":["https://store.example.com/blobs/x"]"#;
        for media_type in NON_DISTRIBUTABLE_LAYERS {
            let m = parse(layer(media_type, with_urls).as_bytes(), None).unwrap();
            assert_eq!(m.references, [ManifestRef::Blob(d("config")), ManifestRef::ForeignLayer(d("layer"))], "{media_type}");
            // Without URLs there is nowhere else to fetch it from: the registry must hold it.
            let m = parse(layer(media_type, "").as_bytes(), None).unwrap();
            assert_eq!(m.references[1], ManifestRef::Blob(d("layer")));
        }
        // URLs on an ordinary layer change nothing.
        let m = parse(layer("application/vnd.oci.image.layer.v1.tar", with_urls).as_bytes(), None).unwrap();
        assert_eq!(m.references[1], ManifestRef::Blob(d("layer")));
        let bad = layer(NON_DISTRIBUTABLE_LAYERS[0], r#","urls":["file:///etc/passwd"]"#);
        assert!(matches!(parse(bad.as_bytes(), None), Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn sha512_descriptors() {
        let config = Digest::compute(crate::Algorithm::Sha512, b"config");
        let body = helm_manifest().replace(&d("config").to_string(), &config.to_string());
        let m = parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.references[0], ManifestRef::Blob(config));
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(matches!(parse(b"not json", None), Err(ManifestError::NotJson(_))));
        assert!(matches!(parse(b"[]", None), Err(ManifestError::NotJson(_))));
        assert!(matches!(parse(helm_manifest().as_bytes(), Some("application/x-other")), Err(ManifestError::UnsupportedType(_))));
        let mismatch = helm_manifest().replacen('{', &format!(r#"{{"mediaType":"{OCI_INDEX}","#), 1);
        assert!(matches!(parse(mismatch.as_bytes(), Some(OCI_MANIFEST)), Err(ManifestError::TypeMismatch { .. })));
        assert!(matches!(parse(br#"{"schemaVersion":1,"config":null}"#, None), Err(ManifestError::Invalid(_))));
        assert!(matches!(parse(br#"{"schemaVersion":2,"layers":[]}"#, None), Err(ManifestError::Invalid(_))));
        let bad_digest = helm_manifest().replace(&d("layer").to_string(), "sha256:nothex");
        assert!(matches!(parse(bad_digest.as_bytes(), None), Err(ManifestError::NotJson(_))));
    }
}
