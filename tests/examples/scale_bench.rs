//! The registry as it grows: for each size of `SCALE_SIZES` (default `10000,100000` pack
//! versions), a fresh Postgres database filled through the store's own write path
//! (`sherpack_test_support::scale`: 20 versions per chart, 100 charts per namespace, README of
//! about 5 KiB, plus a namespace of one 20-version chart), a server on it with filesystem
//! storage and its search index on disk, and: generation time; start to ready (first index and
//! search answer) from scratch and on the state the server persisted; RSS after start and after
//! serving every view once; push → visible in the namespace index and in search; the small
//! namespace's gzip index; search p99 at c=16 for `bench/search.sh`'s query mix; `_catalog`,
//! tag list, home and pack page server time at c=1. Then garbage collection of `GC_BLOBS`
//! (default 100,000) unreferenced blobs on S3 (moto) with pushes going on. Prints one Markdown
//! table, a column per size. Run through `bench/scale.sh`. With `SCALE_GENERATE_INTO=<url>`,
//! only generates the first size into that database and keeps it. With `SCALE_KEEP=1`, each
//! size's generated database is kept as `sherpack_scale_<size>` and later runs measure copies
//! of it (drop it by hand when done); `SCALE_PREPARE=1` beside it only generates what is missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use sherpack_test_support::bench::{Load, env_usize, load, rss_mib};
use sherpack_test_support::corpus::{self, MULTI_WORD, ONE_WORD, PREFIX, TYPO};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::scale::{self, CHARTS_PER_NAMESPACE, SMALL_CHART, SMALL_NAMESPACE, VERSIONS_PER_CHART};
use sherpack_test_support::server::{ServerOptions, ServerProcess};

/// The machine's lock for heavy work (`HEAVY_LOCK`, a file builds and benchmarks hold with
/// flock), held while measuring so nothing else heavy runs then; generation runs outside it.
async fn heavy_lock() -> Option<std::fs::File> {
    let path = std::env::var_os("HEAVY_LOCK")?;
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("opening HEAVY_LOCK");
        file.lock().expect("locking HEAVY_LOCK");
        file
    })
    .await
    .ok()
}

/// Seconds per load point.
fn seconds() -> u64 {
    env_usize("BENCH_SECONDS", 5) as u64
}

fn server_options(url: &str, data: &std::path::Path) -> ServerOptions {
    let mut options = ServerOptions {
        args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info,sherpack_registry::packs::index=info".into()],
        env: vec![
            ("SHERPACK_REGISTRY_DATABASE_URL".to_owned(), url.to_owned()),
            ("SHERPACK_REGISTRY_STORAGE_URL".to_owned(), format!("file://{}", data.join("blobs").display())),
            ("SHERPACK_REGISTRY_SEARCH__INDEX_DIR".to_owned(), data.join("search").display().to_string()),
        ],
        cwd: Some(data.to_owned()),
    };
    // glibc's allocator settings, to compare how much memory it keeps (the table says when set).
    if let Ok(tunables) = std::env::var("GLIBC_TUNABLES") {
        options.env.push(("GLIBC_TUNABLES".to_owned(), tunables));
    }
    options
}

fn search_url(base: &str, query: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{base}/api/v1/packages/search"), &[("ts_query_web", query), ("limit", "20")]).unwrap()
}

/// The first search hit's version for a query, if any.
async fn first_hit(http: &reqwest::Client, base: &str, query: &str) -> Option<String> {
    first_hit_in(http, search_url(base, query)).await
}

async fn first_hit_in(http: &reqwest::Client, url: reqwest::Url) -> Option<String> {
    let body: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
    body["packages"][0]["version"].as_str().map(str::to_owned)
}

/// A gzip index document, decompressed.
async fn gzip_index(http: &reqwest::Client, url: &str) -> String {
    let raw = http.get(url).header("accept-encoding", "gzip").send().await.unwrap().bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
    text
}

/// Starts the server and waits until it answers the small namespace's index and a search
/// for its chart: seconds from the process start, and the server.
async fn start_ready(options: ServerOptions, http: &reqwest::Client) -> (f64, ServerProcess) {
    let started = Instant::now();
    let server = ServerProcess::start(options);
    let base = server.url.clone();
    loop {
        let index = http.get(format!("{base}/{SMALL_NAMESPACE}/index.yaml")).send().await.unwrap();
        if index.status() == 200 && first_hit(http, &base, SMALL_CHART).await.is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_mins(30), "the server never got ready: {}", server.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (started.elapsed().as_secs_f64(), server)
}

/// Every view once: each namespace's index (YAML and JSON, gzip and plain) and page, the
/// registry-wide index, every `_catalog` page, a tag list and a pack page per namespace, the
/// home page and the search query mix.
async fn every_view(http: &reqwest::Client, base: &str, charts: usize) {
    let namespaces: Vec<String> = (0..charts.div_ceil(CHARTS_PER_NAMESPACE)).map(|n| scale::namespace(n * CHARTS_PER_NAMESPACE)).chain([SMALL_NAMESPACE.to_owned()]).collect();
    let get = |url: String, gzip: bool| async move {
        let mut request = http.get(&url);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.unwrap().len()
    };
    for (n, ns) in namespaces.iter().enumerate() {
        for file in ["index.yaml", "index.json"] {
            get(format!("{base}/{ns}/{file}"), true).await;
            get(format!("{base}/{ns}/{file}"), false).await;
        }
        get(format!("{base}/-/ns/{ns}"), false).await;
        let repo = if ns == SMALL_NAMESPACE { format!("{SMALL_NAMESPACE}/{SMALL_CHART}") } else { scale::repository(n * CHARTS_PER_NAMESPACE) };
        get(format!("{base}/v2/{repo}/tags/list"), false).await;
        get(format!("{base}/-/packs/{repo}"), false).await;
    }
    for file in ["index.yaml", "index.json"] {
        get(format!("{base}/{file}"), true).await;
    }
    let mut last = String::new();
    loop {
        let mut params = vec![("n", "1000")];
        if !last.is_empty() {
            params.push(("last", last.as_str()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{base}/v2/_catalog"), &params).unwrap();
        let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
        let Some(name) = body["repositories"].as_array().and_then(|r| r.last()).and_then(|r| r.as_str()) else { break };
        name.clone_into(&mut last);
    }
    get(format!("{base}/"), false).await;
    for q in [ONE_WORD, MULTI_WORD, PREFIX, TYPO].concat() {
        http.get(search_url(base, q)).send().await.unwrap().bytes().await.unwrap();
    }
}

/// Push → visible, in ms (sorted): 5 pushes each polled for in the namespace's gzip index, 5
/// in search (the chart's own name as the query, in its namespace).
async fn push_to_visible(http: &reqwest::Client, base: &str) -> (Vec<f64>, Vec<f64>) {
    let oci = Oci::new(base);
    let name = corpus::name(0);
    let repo = scale::repository(0);
    let index = format!("{base}/{}/index.yaml", scale::namespace(0));
    let (mut in_index, mut in_search) = (Vec::new(), Vec::new());
    for round in 0..10 {
        let version = format!("9.{round}.0");
        push_like_upstream_sherpack(&oci, &repo, &version, &sherpack_archive(&name, &version, 64)).await;
        let pushed = Instant::now();
        loop {
            let seen = if round % 2 == 0 {
                gzip_index(http, &index).await.contains(&format!("-{version}.tgz"))
            } else {
                // In its namespace: at 1,000,000 versions another chart bears the same name.
                let mut url = search_url(base, &name);
                url.query_pairs_mut().append_pair("repo", &scale::namespace(0));
                first_hit_in(http, url).await.as_deref() == Some(version.as_str())
            };
            if seen {
                break;
            }
            assert!(pushed.elapsed() < Duration::from_mins(1), "{version} never became visible");
        }
        let ms = pushed.elapsed().as_secs_f64() * 1000.0;
        if round % 2 == 0 { in_index.push(ms) } else { in_search.push(ms) }
    }
    in_index.sort_by(f64::total_cmp);
    in_search.sort_by(f64::total_cmp);
    (in_index, in_search)
}

/// The search query mix at c=16.
async fn search_mix(base: &str) -> Load {
    let queries: &'static [&'static str] = Box::leak([ONE_WORD, MULTI_WORD, PREFIX, TYPO].concat().into_boxed_slice());
    let next = Arc::new(AtomicUsize::new(0));
    let base = base.to_owned();
    load(move |h| h.get(search_url(&base, queries[next.fetch_add(1, Ordering::Relaxed) % queries.len()])), 200, 16, seconds()).await
}

async fn at_c1(url: String, gzip: bool) -> Load {
    load(
        move |h| {
            let r = h.get(&url);
            if gzip { r.header("accept-encoding", "gzip") } else { r }
        },
        200,
        1,
        seconds(),
    )
    .await
}

/// One size's figures, as table cells.
struct Column {
    size: usize,
    cells: Vec<(&'static str, String)>,
}

/// Server time p99 (p50); where the route sends no `Server-Timing`, the client's, marked: it
/// includes the server's, so it bounds it from above.
fn server_ms(l: &Load) -> String {
    l.server_ms.map_or_else(|| format!("{:.2} ({:.2}) client", l.p99_ms, l.p50_ms), |(p50, p99)| format!("{p99:.2} ({p50:.2})"))
}

fn median_max(v: &[f64]) -> String {
    format!("{:.0} / {:.0}", v[v.len() / 2], v[v.len() - 1])
}

#[allow(clippy::cast_precision_loss)]
async fn one_size(size: usize) -> Column {
    let (db, generated) = database(size).await;
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let charts = size.div_ceil(VERSIONS_PER_CHART);
    let pg_bytes: (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap())
        .await
        .unwrap();
    let lock = heavy_lock().await;

    // From scratch: the database only.
    let (cold_s, mut server) = start_ready(server_options(&db.url, data.path()), &http).await;
    let cold_rss = rss_mib(server.pid(), "VmRSS:");
    server.terminate();
    drop(server);

    // On the state the server persisted.
    let (warm_s, server) = start_ready(server_options(&db.url, data.path()), &http).await;
    let base = server.url.clone();
    let warm_rss = rss_mib(server.pid(), "VmRSS:");
    let views = Instant::now();
    every_view(&http, &base, charts).await;
    let views_s = views.elapsed().as_secs_f64();
    let views_rss = rss_mib(server.pid(), "VmRSS:");
    // Anonymous memory (the heap) against mapped files (the search index, read through mmap).
    let views_split = (rss_mib(server.pid(), "RssAnon:"), rss_mib(server.pid(), "RssFile:"));
    let (packed, fragments) = helm_index_bytes(&http, &base).await;

    let small = at_c1(format!("{base}/{SMALL_NAMESPACE}/index.yaml"), true).await;
    let search = search_mix(&base).await;
    let catalog = at_c1(format!("{base}/v2/_catalog?n=100"), false).await;
    let tags = at_c1(format!("{base}/v2/{}/tags/list", scale::repository(charts / 2)), false).await;
    let home = at_c1(format!("{base}/"), false).await;
    let pack = at_c1(format!("{base}/-/packs/{}", scale::repository(charts / 2)), false).await;
    let (in_index, in_search) = push_to_visible(&http, &base).await;
    let end_rss = rss_mib(server.pid(), "VmRSS:");
    let peak_rss = rss_mib(server.pid(), "VmHWM:");
    drop(server);
    let state_bytes = du(data.path()) - du(&data.path().join("blobs"));
    drop(lock);
    db.drop_now().await;

    #[allow(clippy::cast_precision_loss)]
    let mib = |b: u64| b as f64 / 1_048_576.0;
    Column {
        size,
        cells: vec![
            ("versions (charts; namespaces)", format!("{} ({} charts; {} namespaces)", generated.versions, charts + 1, charts.div_ceil(CHARTS_PER_NAMESPACE) + 1)),
            ("generation through `put_manifests` (versions/s); Postgres size", format!("{:.0} s ({:.0}/s){}; {:.0} MiB", generated.seconds, generated.versions as f64 / generated.seconds, generated.when.as_deref().map_or_else(String::new, |when| format!(", {when}")), mib(pg_bytes.0.unsigned_abs()))),
            ("start → ready from the database alone (s)", format!("{cold_s:.2}")),
            ("start → ready on persisted state (s)", format!("{warm_s:.2}")),
            ("state on disk (Helm index + search), MiB", format!("{:.0}", mib(state_bytes))),
            ("RSS after start from scratch / on persisted state (MiB)", format!("{cold_rss:.0} / {warm_rss:.0}")),
            ("RSS after serving every view once (MiB; took s)", format!("{views_rss:.0} ({views_s:.1} s)")),
            ("of which anonymous / mapped files (MiB)", format!("{:.0} / {:.0}", views_split.0, views_split.1)),
            ("of which Helm index: packed entries / rendered fragments (MiB)", format!("{:.1} / {:.1}", mib(packed), mib(fragments))),
            ("RSS at the end / peak (MiB)", format!("{end_rss:.0} / {peak_rss:.0}")),
            ("push → in namespace gzip index, ms median / max", median_max(&in_index)),
            ("push → in search, ms median / max", median_max(&in_search)),
            ("20-version namespace gzip index.yaml, server p99 (p50) ms, c=1", server_ms(&small)),
            ("search mix, c=16: p99 (p50) ms client; req/s", format!("{:.2} ({:.2}); {:.0}", search.p99_ms, search.p50_ms, search.rps)),
            ("search mix, c=16: server p99 (p50) ms", server_ms(&search)),
            ("`_catalog?n=100`, server p99 (p50) ms, c=1", server_ms(&catalog)),
            ("tag list, server p99 (p50) ms, c=1", server_ms(&tags)),
            ("home page, server p99 (p50) ms, c=1", server_ms(&home)),
            ("pack page, server p99 (p50) ms, c=1", server_ms(&pack)),
        ],
    }
}

/// What generating a size took; `when` says when, if not in this run.
struct Generation {
    versions: usize,
    seconds: f64,
    when: Option<String>,
}

/// The database of one size: generated now into a fresh one, or with `SCALE_KEEP` set, a copy
/// of the kept database of that size (see [`kept_database`]), so that several runs, or a run
/// after a change to the server, measure the same data without generating it again.
async fn database(size: usize) -> (PgDatabase, Generation) {
    if std::env::var_os("SCALE_KEEP").is_none() {
        let db = PgDatabase::create().await;
        let generated = scale::generate(&db.url, size).await;
        return (db, Generation { versions: generated.versions, seconds: generated.seconds, when: None });
    }
    let (kept, generation) = kept_database(size).await;
    (PgDatabase::copy_of(&kept).await, generation)
}

/// The kept database `sherpack_scale_<size>`, generated by the first run that found none and
/// never dropped by the benchmark; its generation figures are the database's comment.
async fn kept_database(size: usize) -> (String, Generation) {
    let kept = format!("sherpack_scale_{size}");
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&sherpack_test_support::postgres::admin_url()).await.unwrap();
    let comment: Option<(Option<String>,)> = sqlx::query_as("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1").bind(&kept).fetch_optional(&mut admin).await.unwrap();
    let recorded = comment.and_then(|(c,)| c).and_then(|c| {
        let mut words = c.split(' ');
        Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?, words.next()?.to_owned()))
    });
    let (versions, seconds, when) = if let Some(recorded) = recorded {
        recorded
    } else {
        // A kept database without its comment was cut short: made again.
        sherpack_test_support::postgres::admin_sql(&format!("DROP DATABASE IF EXISTS {kept} WITH (FORCE)")).await;
        sherpack_test_support::postgres::admin_sql(&format!("CREATE DATABASE {kept}")).await;
        let generated = scale::generate(&sherpack_test_support::postgres::database_url(&kept), size).await;
        // The store's connections must be gone before the kept database is copied.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1").bind(&kept).execute(&mut admin).await.unwrap();
        let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        sherpack_test_support::postgres::admin_sql(&format!("COMMENT ON DATABASE {kept} IS '{} {} {when}'", generated.versions, generated.seconds)).await;
        (generated.versions, generated.seconds, when)
    };
    (kept.clone(), Generation { versions, seconds, when: Some(format!("generated {when} into `{kept}`, copied for this run")) })
}

/// The Helm index's packed entries and rendered fragments in memory, from `/metrics`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // byte counts
async fn helm_index_bytes(http: &reqwest::Client, base: &str) -> (u64, u64) {
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let gauge = |part: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with("sherpack_helm_index_bytes") && l.contains(&format!("part=\"{part}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (gauge("packed_entries"), gauge("rendered_fragments"))
}

/// Bytes of the files under `dir`, recursively.
fn du(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => du(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Garbage collection of `count` unreferenced blobs on S3 (moto), pushes going on through a
/// server on the same database and bucket: blobs removed, seconds, pushes made meanwhile.
async fn gc_on_s3(count: usize) -> (usize, f64, usize) {
    let db = PgDatabase::create().await;
    let bucket = sherpack_test_support::s3::create_bucket().await;
    let endpoint = sherpack_test_support::s3::endpoint();
    drop(registry_store::open_store(&db.url).await.unwrap());
    // The objects, then their records (stored an hour ago, linked nowhere): what an upload
    // whose manifest never came leaves.
    let http = reqwest::Client::new();
    let digests: Vec<registry_core::Digest> = (0..count).map(|i| registry_core::Digest::of(format!("gc blob {i}").as_bytes())).collect();
    futures::stream::iter(&digests)
        .map(|d| {
            let url = format!("{endpoint}/{bucket}/blobs/sha256/{}/{}", &d.hex()[..2], d.hex());
            let http = http.clone();
            async move {
                let r = http.put(url).body(vec![7u8; 64]).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let hour_ago = 1_000 * (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600);
    for chunk in digests.chunks(10_000) {
        let names: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        sqlx::query("INSERT INTO blobs (digest, size, created_at) SELECT d, 64, $2 FROM unnest($1::text[]) AS d")
            .bind(&names)
            .bind(i64::try_from(hour_ago).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut env = sherpack_test_support::s3::server_env();
    env.push(("SHERPACK_REGISTRY_DATABASE_URL".to_owned(), db.url.clone()));
    env.push(("SHERPACK_REGISTRY_STORAGE_URL".to_owned(), format!("s3://{bucket}")));
    let lock = heavy_lock().await;
    // `serve=info`: the harness waits for the line saying where it listens.
    let server = ServerProcess::start(ServerOptions { args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info".into()], env: env.clone(), cwd: None });
    let base = server.url.clone();
    let pushing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pusher = {
        let pushing = Arc::clone(&pushing);
        tokio::spawn(async move {
            let oci = Oci::new(&base);
            let mut pushes = 0;
            while pushing.load(Ordering::Relaxed) {
                let version = format!("1.0.{pushes}");
                push_like_upstream_sherpack(&oci, "gc/busy", &version, &sherpack_archive("busy", &version, 256)).await;
                pushes += 1;
            }
            pushes
        })
    };
    let mut gc = std::process::Command::new(sherpack_test_support::server::workspace_binary("sherpack-registry"));
    gc.args(["gc", "--grace", "10m", "--json"]).env_clear().envs(env).env("PATH", std::env::var("PATH").unwrap_or_default());
    let output = tokio::task::spawn_blocking(move || gc.output().unwrap()).await.unwrap();
    pushing.store(false, Ordering::Relaxed);
    let pushes_made = pusher.await.unwrap();
    drop(lock);
    assert!(output.status.success(), "gc failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    drop(server);
    db.drop_now().await;
    (usize::try_from(report["blobs"].as_u64().unwrap()).unwrap(), report["seconds"].as_f64().unwrap(), pushes_made)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES").unwrap_or_else(|_| "10000,100000".to_owned()).split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    // Generation alone, into a database kept for looking at a server by hand.
    if let Ok(url) = std::env::var("SCALE_GENERATE_INTO") {
        let generated = scale::generate(&url, sizes[0]).await;
        eprintln!("scale: {} versions generated into {url} in {:.0} s", generated.versions, generated.seconds);
        return;
    }
    // With `SCALE_KEEP`, `SCALE_PREPARE` only makes the kept databases that are missing.
    if std::env::var_os("SCALE_KEEP").is_some() && std::env::var_os("SCALE_PREPARE").is_some() {
        for size in sizes {
            let (kept, generation) = kept_database(size).await;
            eprintln!("scale: {kept}: {} versions in {:.0} s", generation.versions, generation.seconds);
        }
        return;
    }
    let mut columns = Vec::new();
    for size in sizes {
        eprintln!("scale: {size} versions");
        let column = one_size(size).await;
        for (label, value) in &column.cells {
            eprintln!("scale: {size}: {label}: {value}");
        }
        columns.push(column);
    }
    println!("Every figure from one run on this machine; server times come from the `Server-Timing` header; load points {} s.", seconds());
    if std::env::var_os("HEAVY_LOCK").is_some() {
        println!("Measured phases held the machine's heavy-work lock; generation (and the GC blobs' seeding) ran outside it, beside other work.");
    }
    if let Ok(tunables) = std::env::var("GLIBC_TUNABLES") {
        println!("The servers ran with `GLIBC_TUNABLES={tunables}`.");
    }
    println!();
    let sizes: Vec<String> = columns.iter().map(|c| format!("{} versions", c.size)).collect();
    println!("| measure | {} |", sizes.join(" | "));
    println!("|---|{}", "---|".repeat(columns.len()));
    for (row, (label, _)) in columns.first().map_or(&[][..], |c| &c.cells[..]).iter().enumerate() {
        let cells: Vec<&str> = columns.iter().map(|c| c.cells[row].1.as_str()).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
    // The table first: garbage collection on moto takes long and should not cost it.
    let gc_blobs = env_usize("GC_BLOBS", 100_000);
    if gc_blobs > 0 {
        eprintln!("scale: garbage collection of {gc_blobs} blobs");
        let (removed, gc_s, pushes) = gc_on_s3(gc_blobs).await;
        #[allow(clippy::cast_precision_loss)]
        let rate = removed as f64 / gc_s;
        println!("Garbage collection on S3 (moto): {removed} unreferenced blobs removed in {gc_s:.1} s ({rate:.0} blobs/s), {pushes} pushes made meanwhile.");
    }
}
