//! The authorization matrix: every endpoint (OCI, Helm repository, `ChartMuseum` API, search,
//! admin) ×
//! every kind of caller → the expected status, for
//! a private and a public namespace, with no private name in any body a caller may not see.
//! Runs against the real server on `SQLite` and on Postgres.

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::{OCI_MANIFEST, Oci, digest};
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::ServerOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Reader,
    Writer,
    NsAdmin,
    OtherNs,
    RegistryAdmin,
    RobotPull,
    RobotPush,
    RobotDelete,
    RobotAdmin,
    Expired,
    Revoked,
    WrongPassword,
}

const EVERYONE: [Who; 13] = [
    Who::Anonymous,
    Who::Reader,
    Who::Writer,
    Who::NsAdmin,
    Who::OtherNs,
    Who::RegistryAdmin,
    Who::RobotPull,
    Who::RobotPush,
    Who::RobotDelete,
    Who::RobotAdmin,
    Who::Expired,
    Who::Revoked,
    Who::WrongPassword,
];

fn cred(t: &Tenants, who: Who) -> Cred {
    let robot = |token: &str| Cred::Basic("ci".into(), token.into());
    match who {
        Who::Anonymous => Cred::Anonymous,
        Who::Reader => Cred::user("rita"),
        Who::Writer => Cred::user("walt"),
        Who::NsAdmin => Cred::user("alice"),
        Who::OtherNs => Cred::user("otto"),
        Who::RegistryAdmin => Cred::admin(),
        Who::RobotPull => robot(&t.robot_pull),
        Who::RobotPush => robot(&t.robot_push),
        // Tokens work as Bearer credentials too.
        Who::RobotDelete => Cred::Bearer(t.robot_delete.clone()),
        Who::RobotAdmin => robot(&t.robot_admin),
        Who::Expired => Cred::Basic("walt".into(), t.expired.clone()),
        Who::Revoked => Cred::Basic("walt".into(), t.revoked.clone()),
        Who::WrongPassword => Cred::Basic("walt".into(), "not-the-password".into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pull,
    Push,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allowed,
    Unauthorized,
    Forbidden,
    Hidden,
}

/// The rule the registry promises, written out case by case.
fn expected(who: Who, public: bool, op: Op) -> Want {
    use Want::{Allowed, Forbidden, Hidden, Unauthorized};
    match who {
        Who::Expired | Who::Revoked | Who::WrongPassword => Unauthorized,
        Who::RegistryAdmin => Allowed,
        Who::Anonymous => {
            if public && op == Op::Pull {
                Allowed
            } else {
                Unauthorized
            }
        }
        _ if public => {
            if op == Op::Pull {
                Allowed
            } else {
                Forbidden
            }
        }
        Who::OtherNs => Hidden,
        Who::NsAdmin => Allowed,
        Who::Reader | Who::RobotPull | Who::RobotAdmin => {
            if op == Op::Pull {
                Allowed
            } else {
                Forbidden
            }
        }
        Who::Writer | Who::RobotPush => {
            if op == Op::Delete {
                Forbidden
            } else {
                Allowed
            }
        }
        Who::RobotDelete => {
            if op == Op::Push {
                Forbidden
            } else {
                Allowed
            }
        }
    }
}

struct Fixture {
    tenants: Tenants,
    /// The archive of pack `api` 1.0.0, pushed to `team/api` and `pub/api`.
    pack: Vec<u8>,
    /// Per repository: manifest bytes, manifest digest, layer digest.
    images: Vec<(&'static str, Vec<u8>, String, String)>,
}

async fn fixture(options: ServerOptions) -> Fixture {
    let tenants = Tenants::start(options).await;
    let admin = Oci::with_basic(&tenants.server.url, "root", "root-password");
    let mut images = Vec::new();
    for repo in ["team/app", "pub/app", "other/app"] {
        let layer = format!("layer of {repo}");
        let (body, d) = admin.push_image(repo, "1.0", layer.as_bytes()).await;
        images.push((repo, body, d, digest(layer.as_bytes())));
    }
    let pack = sherpack_archive("api", "1.0.0", 100);
    for repo in ["team/api", "pub/api"] {
        push_like_upstream_sherpack(&admin, repo, "1.0.0", &pack).await;
    }
    Fixture { tenants, pack, images }
}

/// Sends one request of `op` on `repo`; returns status, error code and body.
async fn attempt(f: &Fixture, cred: &Cred, repo: &str, op: Op) -> Vec<(String, u16, String)> {
    let (_, body, manifest_digest, layer) = f.images.iter().find(|i| i.0 == repo).unwrap();
    let api = &f.tenants.api;
    let mut requests: Vec<(Method, String, Option<Vec<u8>>)> = Vec::new();
    match op {
        Op::Pull => {
            requests.push((Method::GET, format!("/v2/{repo}/manifests/1.0"), None));
            requests.push((Method::HEAD, format!("/v2/{repo}/manifests/{manifest_digest}"), None));
            requests.push((Method::GET, format!("/v2/{repo}/blobs/{layer}"), None));
            requests.push((Method::GET, format!("/v2/{repo}/tags/list"), None));
            requests.push((Method::GET, format!("/v2/{repo}/referrers/{manifest_digest}"), None));
        }
        Op::Push => {
            requests.push((Method::POST, format!("/v2/{repo}/blobs/uploads/"), None));
            requests.push((Method::PUT, format!("/v2/{repo}/manifests/1.0"), Some(body.clone())));
        }
        // A digest nobody pushed: an allowed delete answers MANIFEST_UNKNOWN and changes nothing.
        Op::Delete => requests.push((Method::DELETE, format!("/v2/{repo}/manifests/{}", digest(b"never pushed")), None)),
    }
    let mut results = Vec::new();
    for (method, path, body) in requests {
        let mut request = cred.apply(api.http.request(method.clone(), format!("{}{path}", api.base)));
        if let Some(body) = body {
            request = request.header("content-type", OCI_MANIFEST).body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if status == 401 {
            let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            assert!(challenge.starts_with("Bearer realm=\"") && challenge.contains("/v2/token\""), "{method} {path}: {challenge}");
        }
        results.push((format!("{method} {path}"), status, response.text().await.unwrap()));
    }
    results
}

fn allowed_status(op: Op, request: &str) -> u16 {
    match op {
        Op::Pull => 200,
        Op::Push if request.starts_with("POST") => 202,
        Op::Push => 201,
        Op::Delete => 404,
    }
}

async fn check_oci_matrix(f: &Fixture) {
    let mut failures = Vec::new();
    for who in EVERYONE {
        let cred = cred(&f.tenants, who);
        for (repo, public) in [("team/app", false), ("pub/app", true)] {
            for op in [Op::Pull, Op::Push, Op::Delete] {
                let want = expected(who, public, op);
                for (request, status, body) in attempt(f, &cred, repo, op).await {
                    let (ok, expected_code) = match want {
                        Want::Allowed => (status == allowed_status(op, &request), if op == Op::Delete { "MANIFEST_UNKNOWN" } else { "" }),
                        Want::Unauthorized => (status == 401, "UNAUTHORIZED"),
                        Want::Forbidden => (status == 403, "DENIED"),
                        Want::Hidden => (status == 404, "NAME_UNKNOWN"),
                    };
                    let code_ok = request.starts_with("HEAD") || expected_code.is_empty() || body.contains(expected_code);
                    let leaks = matches!(want, Want::Hidden | Want::Unauthorized) && !public && body.contains("team");
                    if !ok || !code_ok || leaks {
                        failures.push(format!("{who:?} {request}: want {want:?}, got {status} {body}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cells wrong:\n{}", failures.len(), failures.join("\n"));
}

/// The Helm repository, `ChartMuseum` API and web page rows of the matrix: index, download,
/// list, the pack and namespace pages (pull),
/// upload of an existing version (push: 409 when allowed), delete of an unknown version
/// (delete: "chart not found" when allowed).
async fn check_repo_matrix(f: &Fixture) {
    let api = &f.tenants.api;
    let mut failures = Vec::new();
    for who in EVERYONE {
        let cred = cred(&f.tenants, who);
        for (ns, public) in [("team", false), ("pub", true)] {
            for op in [Op::Pull, Op::Push, Op::Delete] {
                let want = expected(who, public, op);
                let requests: Vec<(Method, String, Option<Vec<u8>>)> = match op {
                    Op::Pull => vec![
                        (Method::GET, format!("/{ns}/index.yaml"), None),
                        (Method::GET, format!("/{ns}/charts/api-1.0.0.tgz"), None),
                        (Method::GET, format!("/api/{ns}/charts"), None),
                        (Method::GET, format!("/api/{ns}/charts/api/latest"), None),
                        (Method::GET, format!("/-/packs/{ns}/api"), None),
                        (Method::GET, format!("/-/ns/{ns}"), None),
                    ],
                    Op::Push => vec![(Method::POST, format!("/api/{ns}/charts"), Some(f.pack.clone()))],
                    Op::Delete => vec![(Method::DELETE, format!("/api/{ns}/charts/api/9.9.9"), None)],
                };
                for (method, path, body) in requests {
                    let mut request = cred.apply(api.http.request(method.clone(), format!("{}{path}", api.base)));
                    if let Some(body) = body {
                        request = request.body(body);
                    }
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    let ok = match (want, op) {
                        (Want::Allowed, Op::Pull) => status == 200,
                        (Want::Allowed, Op::Push) => status == 409,
                        (Want::Allowed, Op::Delete) => status == 404 && text.contains("chart not found"),
                        (Want::Unauthorized, _) => status == 401,
                        (Want::Forbidden, _) => status == 403,
                        (Want::Hidden, _) => status == 404 && !text.contains("team") && !text.contains("chart not found"),
                    };
                    if !ok {
                        failures.push(format!("{who:?} {method} {path}: want {want:?}, got {status} {text}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cells wrong:\n{}", failures.len(), failures.join("\n"));
}

/// The listings across namespaces (the registry-wide index, the three search APIs, the home and
/// search pages): bad
/// credentials get 401, everyone else 200 with exactly the packs they may read, and no trace
/// of a private namespace (facets included) for those who may not.
async fn check_listing_matrix(f: &Fixture) {
    let api = &f.tenants.api;
    let mut failures = Vec::new();
    for who in EVERYONE {
        let bad = matches!(who, Who::Expired | Who::Revoked | Who::WrongPassword);
        let sees_team = expected(who, false, Op::Pull) == Want::Allowed;
        for path in [
            "/index.yaml",
            "/api/chartsvc/v1/charts/search?q=api",
            "/api/v1/packages/search?ts_query_web=api&facets=true",
            "/api/v1/packages/search?repo=team",
            "/api/v1/packages/autocomplete?q=ap",
            "/",
            "/-/search?q=api",
        ] {
            let response = api.send(&cred(&f.tenants, who), Method::GET, path, None).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            let ok = if bad {
                status == 401
            } else {
                let public_listed = path.contains("repo=team") || body.contains("pub");
                status == 200 && public_listed && body.contains("team") == sees_team
            };
            if !ok {
                failures.push(format!("{who:?} GET {path}: want {}, got {status} {body}", if bad { "401".to_owned() } else { format!("200, team shown: {sees_team}") }));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells wrong:\n{}", failures.len(), failures.join("\n"));
}

async fn check_catalog(f: &Fixture) {
    let api = &f.tenants.api;
    for (who, visible) in [
        (Who::Anonymous, vec!["pub/api", "pub/app"]),
        (Who::Reader, vec!["pub/api", "pub/app", "team/api", "team/app"]),
        (Who::OtherNs, vec!["other/app", "pub/api", "pub/app"]),
        (Who::RobotPull, vec!["pub/api", "pub/app", "team/api", "team/app"]),
        (Who::RegistryAdmin, vec!["other/app", "pub/api", "pub/app", "team/api", "team/app"]),
    ] {
        let body = api.expect(&cred(&f.tenants, who), Method::GET, "/v2/_catalog", None, 200).await;
        assert_eq!(body["repositories"], json!(visible), "{who:?}");
    }
    // Pagination skips what the caller may not read without short pages.
    let body = api.expect(&cred(&f.tenants, Who::OtherNs), Method::GET, "/v2/_catalog?n=1&last=pub/app", None, 200).await;
    assert_eq!(body["repositories"], json!([]));
    let body = api.expect(&cred(&f.tenants, Who::OtherNs), Method::GET, "/v2/_catalog?n=1&last=other/app", None, 200).await;
    assert_eq!(body["repositories"], json!(["pub/api"]));
}

/// The admin API's own matrix.
async fn check_admin_matrix(f: &Fixture) {
    let api = &f.tenants.api;
    let mut failures = Vec::new();
    for who in EVERYONE {
        let bad = matches!(who, Who::Anonymous | Who::Expired | Who::Revoked | Who::WrongPassword);
        let sees_team = !matches!(who, Who::OtherNs);
        let team_admin = matches!(who, Who::NsAdmin | Who::RegistryAdmin | Who::RobotAdmin);
        let cases: [(&str, u16); 5] = [
            ("/api/v1/whoami", 200),
            ("/api/v1/users", if who == Who::RegistryAdmin { 200 } else { 403 }),
            ("/api/v1/namespaces/team", if sees_team { 200 } else { 404 }),
            ("/api/v1/namespaces/team/members", if team_admin { 200 } else if sees_team { 403 } else { 404 }),
            ("/api/v1/audit", if who == Who::RegistryAdmin { 200 } else { 403 }),
        ];
        for (path, status) in cases {
            let want = if bad { 401 } else { status };
            let response = api.send(&cred(&f.tenants, who), Method::GET, path, None).await;
            let got = response.status().as_u16();
            let body = response.text().await.unwrap();
            let leak = want == 404 && body.contains("team");
            if got != want || leak {
                failures.push(format!("{who:?} GET {path}: want {want}, got {got} {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells wrong:\n{}", failures.len(), failures.join("\n"));
    // Namespace listings show only what the caller may see.
    let listed = api.expect(&Cred::user("otto"), Method::GET, "/api/v1/namespaces", None, 200).await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["other", "pub"]);
}

/// The audit log holds the pushes, the denied attempts and the failed logins of the matrix.
async fn check_audit(f: &Fixture) {
    let api = &f.tenants.api;
    let entries: Value = api.expect(&Cred::admin(), Method::GET, "/api/v1/audit?limit=1000", None, 200).await;
    let entries = entries.as_array().unwrap();
    let has = |action: &str, outcome: &str, actor: Option<&str>, target: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["outcome"] == outcome
                && actor.is_none_or(|a| e["actor"].as_str().is_some_and(|x| x.starts_with(a)))
                && e["target"].as_str().unwrap_or_default().contains(target)
                && e["address"] == "127.0.0.1"
        })
    };
    assert!(has("push", "ok", Some("walt"), "team/app:1.0"), "walt's push");
    assert!(has("push", "denied", Some("rita"), "team/app"), "rita's refused push");
    assert!(has("login", "failed", Some("walt"), ""), "the wrong password");
    assert!(has("token.create", "ok", Some("alice"), ""), "robot tokens");
    assert!(has("member.set", "ok", Some("root"), "team/walt"), "membership");
    assert!(has("namespace.create", "ok", Some("root"), "team"));
    for e in entries {
        let text = e.to_string();
        assert!(!text.contains("not-the-password") && !text.contains("a-good-password") && !text.contains("shpk_"), "secret in {text}");
    }
}

async fn run_matrix(options: ServerOptions) {
    let f = fixture(options).await;
    check_oci_matrix(&f).await;
    check_repo_matrix(&f).await;
    check_listing_matrix(&f).await;
    check_catalog(&f).await;
    check_admin_matrix(&f).await;
    check_audit(&f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_on_sqlite() {
    run_matrix(ServerOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_on_postgres() {
    PgDatabase::with(|url| async move {
        run_matrix(ServerOptions { args: vec!["--database-url".into(), url], ..ServerOptions::default() }).await;
    })
    .await;
}
