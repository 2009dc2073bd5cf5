//! A database or a storage that stops answering (a TCP proxy in front of it that holds every
//! byte: a paused process, a network black hole) is answered 503 with `Retry-After` in each
//! API's own format within the configured deadlines, and everything works again once it answers
//! again. The registry runs on Postgres and the S3-compatible server, both behind proxies.

use std::time::{Duration, Instant};

use sherpack_test_support::fixtures::{chart_manifest, sherpack_archive};
use sherpack_test_support::oci::{Oci, digest};
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::proxy::{Fault, Proxy};
use sherpack_test_support::server::{ServerOptions, ServerProcess};

/// The deadlines the server runs with: the defaults for reads (3 s to the database, 3 s to
/// the storage's first byte); 4 s for a write the storage stops taking (10 s by default).
const DEADLINE: Duration = Duration::from_secs(3);
const IDLE: Duration = Duration::from_secs(4);

/// What a client received, and how long it waited.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    body: String,
    took: Duration,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    // Without deadlines the server would hold the request for 30 s or more.
    let r = request.timeout(Duration::from_secs(15)).send().await.expect("the server answers while a backend hangs");
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (retry_after, content_type) = (header("retry-after"), header("content-type").unwrap_or_default());
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    Answer { status, retry_after, content_type, body, took: started.elapsed() }
}

/// A 503 telling the client to come back, in the API's own format (`json` field to look at
/// for JSON APIs, HTML otherwise), within `limit` and a margin for the request's own work.
fn assert_unavailable(what: &str, a: &Answer, format: &str, limit: Duration) {
    assert_eq!(a.status, 503, "{what}: {}", a.body);
    assert!(a.retry_after.as_deref().is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)), "{what}: Retry-After is missing");
    match format {
        "oci" => {
            let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            assert_eq!(v["errors"][0]["code"], "UNAVAILABLE", "{what}: {}", a.body);
        }
        "json" => {
            let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            assert!(v["error"].as_str().is_some_and(|m| m.contains("unavailable")), "{what}: {}", a.body);
        }
        _ => assert!(a.content_type.starts_with("text/html") && a.body.contains("Try again"), "{what}: {}", a.body),
    }
    assert!(a.took < limit + Duration::from_secs(2), "{what} took {:?}, past its deadline of {limit:?}", a.took);
    eprintln!("{what}: 503 after {:?}", a.took);
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_database_and_storage_answer_503_then_recover() {
    let db = PgDatabase::create().await;
    let pg_target = db.url.split_once('@').unwrap().1.split('/').next().unwrap().to_owned();
    let pg = Proxy::start(&pg_target).await;
    let s3 = Proxy::start(sherpack_test_support::s3::endpoint().trim_start_matches("http://")).await;
    let bucket = sherpack_test_support::s3::create_bucket().await;
    let mut env = sherpack_test_support::s3::server_env();
    for (k, v) in &mut env {
        if k == "SHERPACK_REGISTRY_S3__ENDPOINT" {
            *v = format!("http://{}", s3.address);
        }
    }
    env.extend([
        ("SHERPACK_REGISTRY_DATABASE_URL".to_owned(), pg.url_through(&db.url)),
        ("SHERPACK_REGISTRY_STORAGE_URL".to_owned(), format!("s3://{bucket}/registry")),
        ("SHERPACK_REGISTRY_TIMEOUTS__IDLE_MS".to_owned(), IDLE.as_millis().to_string()),
    ]);
    let server = ServerProcess::start(ServerOptions { env, ..ServerOptions::default() });
    let oci = Oci::new(&server.url);
    let archive = sherpack_archive("app", "1.0.0", 20_000);
    let config = oci.push_blob("team/app", b"{}").await;
    let layer = oci.push_blob("team/app", &archive).await;
    let r = oci.put_manifest("team/app", "1.0.0", "application/vnd.oci.image.manifest.v1+json", &chart_manifest(&config, 2, &layer, archive.len())).await;
    assert_eq!(r.status(), 201);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(oci.url(path));
    let blob = format!("/v2/team/app/blobs/{}", digest(&archive));

    // The storage hangs: reads and writes of blobs are refused, the metadata still answers.
    s3.set(Fault::Hang);
    assert_unavailable("blob GET", &send(get(&blob)).await, "oci", DEADLINE);
    assert_unavailable("chart download", &send(get("/team/charts/app-1.0.0.tgz")).await, "json", DEADLINE);
    // The pack page's template view reads the archive.
    assert_unavailable("template view", &send(get("/-/packs/team/app/templates?file=templates/deployment.yaml")).await, "html", DEADLINE);
    let other = sherpack_archive("other", "1.0.0", 30_000);
    let push = http.post(oci.url(&format!("/v2/team/other/blobs/uploads/?digest={}", digest(&other)))).body(other.clone());
    // The write stalls (`IDLE`), then removing what it wrote waits on the storage too (`DEADLINE`).
    assert_unavailable("blob upload", &send(push).await, "oci", IDLE + DEADLINE);
    assert_eq!(send(get("/v2/team/app/manifests/1.0.0")).await.status, 200, "the manifest comes from the database");
    s3.set(Fault::None);
    let resumed = Instant::now();
    let r = get(&blob).timeout(Duration::from_secs(15)).send().await.unwrap();
    assert_eq!(r.status(), 200, "the first read once the storage answers again");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &archive[..], "the whole blob");
    eprintln!("blob GET after the storage came back: 200 after {:?}", resumed.elapsed());
    assert_eq!(send(http.post(oci.url(&format!("/v2/team/other/blobs/uploads/?digest={}", digest(&other)))).body(other)).await.status, 201);

    // The database hangs: every API says so in its own format.
    pg.set(Fault::Hang);
    assert_unavailable("manifest GET", &send(get("/v2/team/app/manifests/1.0.0")).await, "oci", DEADLINE);
    assert_unavailable("Helm index", &send(get("/team/index.yaml")).await, "json", DEADLINE);
    assert_unavailable("ChartMuseum list", &send(get("/api/team/charts")).await, "json", DEADLINE);
    assert_unavailable("pack page", &send(get("/-/packs/team/app")).await, "html", DEADLINE);
    pg.set(Fault::None);
    let resumed = Instant::now();
    for path in ["/v2/team/app/manifests/1.0.0", "/team/index.yaml", "/api/team/charts", "/-/packs/team/app"] {
        let a = send(get(path)).await;
        assert_eq!(a.status, 200, "{path} once the database answers again: {}", a.body);
    }
    eprintln!("every API answered 200 within {:?} of the database coming back", resumed.elapsed());
    drop(server);
    db.drop_now().await;
}
