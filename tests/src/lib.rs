//! Shared test harness. Components a test needs must be present: a missing one fails the test
//! with a message saying what to start, it never skips.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod browser;
pub mod fixtures;
pub mod oci;
pub mod peers;
pub mod postgres;
pub mod s3;
pub mod server;
pub mod signing;
pub mod tls;
pub mod tools;
