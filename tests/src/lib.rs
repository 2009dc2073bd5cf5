//! Shared test harness. Components a test needs must be present: a missing one fails the test
//! with a message saying what to start, it never skips. The Docker tests alone are `#[ignore]`d:
//! `scripts/test.sh` includes them when a Docker engine is usable, and they count as skipped
//! otherwise.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod docker;
pub mod browser;
pub mod chart;
pub mod fixtures;
pub mod oci;
pub mod outage;
pub mod peers;
pub mod postgres;
pub mod s3;
pub mod server;
pub mod signing;
pub mod tls;
pub mod tools;
