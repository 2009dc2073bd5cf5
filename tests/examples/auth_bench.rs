//! Cost of authentication per request: manifest GET anonymous (auth off, and a public
//! namespace with auth on), with a bearer token, with Basic credentials; and bearer tokens
//! issued per second. Prints a Markdown table. Run through `bench/auth.sh`.

use reqwest::Method;
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::bench::{Load, load};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json";

fn quiet() -> ServerOptions {
    ServerOptions { args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info".into()], ..ServerOptions::default() }
}

async fn manifest_gets(base: &str, cred: Cred, concurrency: usize, seconds: u64) -> Load {
    let url = format!("{base}/v2/pub/app/manifests/1.0");
    load(move |http| cred.apply(http.get(&url).header("accept", ACCEPT)), 200, concurrency, seconds).await
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let concurrency = 16;

    let open = ServerProcess::start(quiet());
    Oci::new(&open.url).push_image("pub/app", "1.0", b"layer").await;
    let off = manifest_gets(&open.url, Cred::Anonymous, concurrency, seconds).await;
    drop(open);

    let mut options = quiet();
    options.env.push(("SHERPACK_REGISTRY_AUTH__TOKEN_REQUESTS_PER_MINUTE".into(), "100000000".into()));
    let t = Tenants::start(options).await;
    let base = t.server.url.clone();
    Oci::with_basic(&base, "root", "root-password").push_image("pub/app", "1.0", b"layer").await;
    let anonymous = manifest_gets(&base, Cred::Anonymous, concurrency, seconds).await;
    let answer = t
        .api
        .expect(&Cred::user("walt"), Method::GET, "/v2/token?service=sherpack-registry&scope=repository%3Apub%2Fapp%3Apull", None, 200)
        .await;
    let bearer = Cred::Bearer(answer["token"].as_str().unwrap().to_owned());
    let with_bearer = manifest_gets(&base, bearer, concurrency, seconds).await;
    let with_basic = manifest_gets(&base, Cred::user("walt"), concurrency, seconds).await;
    let with_api_token = manifest_gets(&base, Cred::Basic("ci".into(), t.robot_pull.clone()), concurrency, seconds).await;
    let token_url = format!("{base}/v2/token?service=sherpack-registry&scope=repository%3Ateam%2Fapp%3Apull%2Cpush");
    let walt = Cred::user("walt");
    let tokens = load(move |http| walt.apply(http.get(&token_url)), 200, concurrency, seconds).await;

    println!("| measure (c={concurrency}) | req/s | p99 ms | vs anonymous, auth on | vs bearer token |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, l: &Load| {
        let (vs_anonymous, vs_bearer) = ((l.rps / anonymous.rps - 1.0) * 100.0, (l.rps / with_bearer.rps - 1.0) * 100.0);
        println!("| {name} | {:.0} | {:.2} | {vs_anonymous:+.1}% | {vs_bearer:+.1}% |", l.rps, l.p99_ms);
    };
    row("manifest GET, auth off (no users)", &off);
    row("manifest GET, anonymous, public namespace", &anonymous);
    row("manifest GET, bearer token (OCI token flow)", &with_bearer);
    row("manifest GET, Basic password (verified once, then cached)", &with_basic);
    row("manifest GET, Basic robot API token (verified once, then cached)", &with_api_token);
    println!("| bearer tokens issued (Basic password, GET /v2/token) | {:.0} | {:.2} | | |", tokens.rps, tokens.p99_ms);
}
