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

/// The objects of `bucket` under `prefix`, `(key, size)` in key order (`ListObjectsV2`, all pages).
pub async fn list_objects(bucket: &str, prefix: &str) -> Vec<(String, u64)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{}/{bucket}?list-type=2&prefix={}", endpoint(), percent_encode(prefix));
        if let Some(t) = &token {
            url = format!("{url}&continuation-token={}", percent_encode(t));
        }
        let response = http.get(&url).send().await.unwrap_or_else(|e| panic!("listing {url}: {e}"));
        assert!(response.status().is_success(), "listing {bucket}: {}", response.status());
        let xml = response.text().await.unwrap();
        for contents in xml.split("<Contents>").skip(1) {
            let key = xml_field(contents, "Key").unwrap_or_default();
            let size = xml_field(contents, "Size").and_then(|s| s.parse().ok()).unwrap_or(0);
            out.push((key, size));
        }
        token = xml_field(&xml, "NextContinuationToken");
        if token.is_none() {
            break;
        }
    }
    out.sort();
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn xml_field(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
}
