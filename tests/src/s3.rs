//! Buckets on the real S3-compatible server that `scripts/test.sh` starts.

/// Endpoint of the S3-compatible server, e.g. `http://127.0.0.1:PORT`.
#[must_use]
pub fn endpoint() -> String {
    std::env::var("SHERPACK_TEST_S3_ENDPOINT").expect(
        "SHERPACK_TEST_S3_ENDPOINT is not set: the S3 tests need the S3-compatible server that scripts/test.sh starts",
    )
}

/// Creates a bucket of its own for one test (a plain `PUT /<bucket>`).
pub async fn create_bucket() -> String {
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{bucket}", endpoint());
    let response = reqwest::Client::new()
        .put(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 server at {url}: {e}"));
    assert!(
        response.status().is_success(),
        "creating bucket {bucket}: {}",
        response.status()
    );
    bucket
}

/// Environment that points a server process at this S3 server.
#[must_use]
pub fn server_env() -> Vec<(String, String)> {
    [
        ("SHERPACK_REGISTRY_S3__ENDPOINT", endpoint()),
        ("SHERPACK_REGISTRY_S3__REGION", "us-east-1".to_owned()),
        ("SHERPACK_REGISTRY_S3__ACCESS_KEY_ID", "test".to_owned()),
        ("SHERPACK_REGISTRY_S3__SECRET_ACCESS_KEY", "test".to_owned()),
        ("SHERPACK_REGISTRY_S3__PATH_STYLE", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
