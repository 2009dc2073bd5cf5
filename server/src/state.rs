//! Shared state handed to every handler.

use std::sync::Arc;

use registry_core::blob::BlobStore;
use registry_core::store::MetadataStore;

use crate::Config;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub meta: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
}

impl AppState {
    /// In-memory blobs and a fresh `SQLite` file in `dir`: for router tests.
    pub async fn for_tests(dir: &std::path::Path) -> anyhow::Result<Self> {
        let url = format!("sqlite://{}", dir.join("registry.db").display());
        let meta = registry_store::open_metadata(&url).await?;
        let blobs = registry_store::ObjectBlobStore::open(&registry_store::StorageUrl::Memory)?;
        Ok(Self {
            config: Arc::new(Config::default()),
            meta,
            blobs: Arc::new(blobs),
        })
    }
}
