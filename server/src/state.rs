//! Shared state handed to every handler.

use std::sync::Arc;

use registry_core::blob::BlobStore;
use registry_core::store::MetadataStore;

use crate::Config;
use crate::auth::Auth;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub meta: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub auth: Arc<Auth>,
    /// The Helm repository index, kept current from the store's change sequence.
    pub index: Arc<crate::packs::index::IndexCache>,
}

impl AppState {
    /// In-memory blobs and a fresh `SQLite` file in `dir`: for router tests.
    pub async fn for_tests(dir: &std::path::Path) -> anyhow::Result<Self> {
        let url = format!("sqlite://{}", dir.join("registry.db").display());
        let store = registry_store::open_store(&url).await?;
        let blobs = registry_store::ObjectBlobStore::open(&registry_store::StorageUrl::Memory)?;
        let config = Config::default();
        let auth = Auth::open(store.clone(), &config.auth, config.listen).await?;
        Ok(Self {
            config: Arc::new(config),
            meta: store,
            blobs: Arc::new(blobs),
            auth,
            index: Arc::default(),
        })
    }
}
