//! Storage URLs: `file://<path>`, `memory://`, `s3://<bucket>[/<prefix>]`.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

/// Settings of an S3-compatible store that do not fit in the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// `http(s)://host:port` of an S3-compatible server; AWS when absent.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (`MinIO`, moto, Ceph).
    #[serde(default)]
    pub path_style: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    File(PathBuf),
    Memory,
    S3 {
        bucket: String,
        prefix: String,
        options: S3Options,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StorageUrlError {
    #[error(
        "storage URL `{0}` has an unknown scheme (use file://<path>, s3://<bucket>/<prefix> or memory://)"
    )]
    UnknownScheme(String),
    #[error("storage URL `{0}` names no bucket")]
    NoBucket(String),
    #[error("storage URL `{0}` names no directory")]
    NoPath(String),
    #[error("cannot create storage directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot configure object storage: {0}")]
    Backend(#[from] object_store::Error),
}

impl StorageUrl {
    /// Parses a URL; S3 settings come separately because they hold credentials.
    pub fn parse(url: &str, s3: S3Options) -> Result<Self, StorageUrlError> {
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(StorageUrlError::NoPath(url.to_owned()));
            }
            Ok(Self::File(PathBuf::from(path)))
        } else if url == "memory://" || url == "memory:" {
            Ok(Self::Memory)
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageUrlError::NoBucket(url.to_owned()));
            }
            Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                options: s3,
            })
        } else {
            Err(StorageUrlError::UnknownScheme(url.to_owned()))
        }
    }

    /// The object store and the prefix the URL's objects live under (the blob store's, or
    /// another tool's storage an import reads).
    pub fn build(&self) -> Result<(Arc<dyn ObjectStore>, Path), StorageUrlError> {
        match self {
            Self::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StorageUrlError::Directory {
                    path: dir.display().to_string(),
                    source,
                })?;
                Ok((
                    Arc::new(LocalFileSystem::new_with_prefix(dir)?),
                    Path::default(),
                ))
            }
            Self::Memory => Ok((Arc::new(InMemory::new()), Path::default())),
            Self::S3 {
                bucket,
                prefix,
                options,
            } => {
                // Fail within seconds when the store is down (the request then answers 503 and
                // the client retries) rather than holding it for object_store's default 3 min.
                let retry = object_store::RetryConfig { max_retries: 3, retry_timeout: std::time::Duration::from_secs(5), ..object_store::RetryConfig::default() };
                let mut builder = AmazonS3Builder::from_env()
                    .with_retry(retry)
                    .with_bucket_name(bucket)
                    .with_virtual_hosted_style_request(!options.path_style);
                if let Some(endpoint) = &options.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(region) = &options.region {
                    builder = builder.with_region(region);
                }
                if let Some(key) = &options.access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = &options.secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                Ok((Arc::new(builder.build()?), Path::from(prefix.as_str())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            StorageUrl::parse("file:///var/lib/x", S3Options::default()).unwrap(),
            StorageUrl::File("/var/lib/x".into())
        );
        assert_eq!(
            StorageUrl::parse("file://./data/blobs", S3Options::default()).unwrap(),
            StorageUrl::File("./data/blobs".into())
        );
        assert_eq!(
            StorageUrl::parse("memory://", S3Options::default()).unwrap(),
            StorageUrl::Memory
        );
        match StorageUrl::parse("s3://bucket/some/prefix/", S3Options::default()).unwrap() {
            StorageUrl::S3 { bucket, prefix, .. } => assert_eq!(
                (bucket.as_str(), prefix.as_str()),
                ("bucket", "some/prefix")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StorageUrl::parse("gcs://b", S3Options::default()),
            Err(StorageUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            StorageUrl::parse("s3://", S3Options::default()),
            Err(StorageUrlError::NoBucket(_))
        ));
        assert!(matches!(
            StorageUrl::parse("file://", S3Options::default()),
            Err(StorageUrlError::NoPath(_))
        ));
    }
}
