//! The `sherpack-registry` server: configuration, HTTP routes and process lifecycle.

pub mod admin;
pub mod admin_cli;
pub mod auth;
pub mod cli;
pub mod config;
pub mod gc;
pub mod health_probe;
pub mod import;
pub mod jobs;
pub mod metrics;
pub mod mirrors;
pub mod packs;
pub mod reindex;
pub mod routes;
pub mod serve;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod web;
pub mod webhooks;

pub use config::Config;
pub use state::AppState;
