//! Process lifecycle of `serve`: open the stores, bind, serve until SIGTERM/SIGINT, drain.

use std::sync::Arc;
use std::time::Duration;

use registry_core::blob::BlobStore;
use registry_store::{ObjectBlobStore, StorageUrl};

use crate::{AppState, Config, routes};

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure to start, phrased for the operator: one line that names the problem.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Database(#[from] registry_store::sql::OpenError),
    #[error("cannot set up authentication: {0}")]
    Auth(#[from] registry_core::store::StoreError),
    #[error("{0}")]
    StorageUrl(#[from] registry_store::blobs::StorageUrlError),
    #[error("storage {url} is not writable: {source}")]
    StorageUnwritable {
        url: String,
        source: registry_core::blob::BlobError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load TLS certificate or key: {0}")]
    Tls(std::io::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Search(String),
}

/// Opens both stores named by the configuration, and the indexes a server keeps.
pub async fn open_state(config: Config) -> Result<AppState, StartError> {
    let mut state = open_stores(config).await?;
    let index = crate::packs::index::IndexCache::for_store(state.auth.store().as_ref(), &state.config).await.map_err(StartError::Search)?;
    state.index = Arc::new(index);
    Ok(state)
}

/// Opens both stores for a command that writes as a push would (an import), without the
/// server's indexes: the servers follow what it writes through the change sequence. Every
/// call to either has its deadline (`timeouts.*`).
pub async fn open_stores(config: Config) -> Result<AppState, StartError> {
    let deadlines = config.timeouts.deadlines();
    let store: Arc<dyn registry_core::store::RegistryStore> =
        Arc::new(registry_store::deadline::TimedStore::new(registry_store::open_store(&config.database_url).await?, deadlines));
    let storage_url = StorageUrl::parse(&config.storage_url, config.s3.clone())?;
    let blobs = ObjectBlobStore::open(&storage_url)?;
    blobs
        .check_writable()
        .await
        .map_err(|source| StartError::StorageUnwritable {
            url: config.storage_url.clone(),
            source,
        })?;
    let blobs: Arc<dyn BlobStore> = Arc::new(registry_store::deadline::TimedBlobs::new(Arc::new(blobs), deadlines));
    let auth = crate::auth::Auth::open(store.clone(), &config.auth, config.listen).await?;
    Ok(AppState {
        config: Arc::new(config),
        meta: store,
        blobs,
        auth,
        index: Arc::default(),
    })
}

pub async fn run(config: Config) -> Result<(), StartError> {
    let listen = config.listen;
    let tls = config.tls.clone();
    let embedded = config.is_embedded();
    let (database, storage) = (
        registry_store::sql::redact_url(&config.database_url),
        config.storage_url.clone(),
    );
    let state = open_state(config).await?;
    tokio::spawn(crate::jobs::expire_uploads_forever(state.clone()));
    tokio::spawn(crate::auth::refresh_forever(state.auth.clone()));
    tokio::spawn(crate::auth::follow_credentials_forever(state.auth.clone()));
    tokio::spawn(crate::jobs::follow_changes_forever(state.clone()));
    tokio::spawn(crate::jobs::listen_for_changes_forever(state.clone()));
    tokio::spawn(crate::webhooks::deliver_forever(state.clone()));
    tokio::spawn(crate::mirrors::sync::sync_forever(state.clone()));
    if state.config.gc.interval_secs > 0 {
        tokio::spawn(crate::gc::run_forever(state.clone()));
    }
    let app = routes::build_router(state);

    let listener = std::net::TcpListener::bind(listen).map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    if embedded {
        tracing::info!(database = %database, storage = %storage,
            "running in embedded default mode: SQLite database {database}, blobs in {storage}");
    } else {
        tracing::info!(database = %database, storage = %storage, "using database {database}, storage {storage}");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen.addr = %local, "listening on {scheme}://{local}");

    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(StartError::Tls)?;
            axum_server::from_tcp_rustls(listener, rustls)
                .map_err(StartError::Serve)?
                .map(|tls| tls.acceptor(axum_server::accept::NoDelayAcceptor::new()))
                .handle(handle)
                .serve(service)
                .await
                .map_err(StartError::Serve)?;
        }
        None => {
            axum_server::from_tcp(listener)
                .map_err(StartError::Serve)?
                // Small responses go out in one round trip (no Nagle wait on the delayed ACK).
                .acceptor(axum_server::accept::NoDelayAcceptor::new())
                .handle(handle)
                .serve(service)
                .await
                .map_err(StartError::Serve)?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_on_signal(handle: axum_server::Handle<std::net::SocketAddr>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
    handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
}
