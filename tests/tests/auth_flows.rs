//! The OCI token flow, bad credentials of every shape, brute-force limits, the zero-config
//! default, and `sherpack-registry admin`, against the real server.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{self, Api, Cred, Tenants};
use sherpack_test_support::oci::{OCI_MANIFEST, Oci};
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};

/// `GET /v2/token` as `cred` for the given scopes; returns the JSON answer.
async fn token(api: &Api, cred: &Cred, scopes: &[&str]) -> Value {
    let query: Vec<String> = scopes.iter().map(|s| format!("scope={}", s.replace(':', "%3A").replace(',', "%2C"))).collect();
    let path = format!("/v2/token?service=sherpack-registry&{}", query.join("&"));
    api.expect(cred, Method::GET, &path, None, 200).await
}

fn bearer(answer: &Value) -> Cred {
    Cred::Bearer(answer["token"].as_str().unwrap().to_owned())
}

async fn put_manifest(api: &Api, cred: &Cred, repo: &str, body: &[u8]) -> reqwest::Response {
    cred.apply(api.http.put(format!("{}/v2/{repo}/manifests/2.0", api.base)))
        .header("content-type", OCI_MANIFEST)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_grants_what_the_caller_may_do() {
    let t = Tenants::start(ServerOptions::default()).await;
    let api = &t.api;
    let admin = Oci::with_basic(&t.server.url, "root", "root-password");
    let (manifest, _) = admin.push_image("team/app", "1.0", b"layer").await;
    admin.push_image("pub/app", "1.0", b"public layer").await;

    // The challenge names realm, service and scope.
    let r = api.send(&Cred::Anonymous, Method::GET, "/v2/", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r), format!("Bearer realm=\"{}/v2/token\",service=\"sherpack-registry\"", t.server.url));
    let r = api.send(&Cred::Anonymous, Method::GET, "/v2/team/app/manifests/1.0", None).await;
    assert!(challenge(&r).ends_with(",scope=\"repository:team/app:pull\""), "{}", challenge(&r));

    // The answer carries what every client reads.
    let answer = token(api, &Cred::user("walt"), &["repository:team/app:pull,push"]).await;
    assert_eq!(answer["token"], answer["access_token"]);
    assert_eq!(answer["expires_in"], 300);
    assert!(answer["issued_at"].as_str().unwrap().ends_with('Z'));
    let walt = bearer(&answer);
    assert_eq!(put_manifest(api, &walt, "team/app", &manifest).await.status(), 201);
    // The token is for that repository only: elsewhere the caller is asked to get another one,
    // or told the repository does not exist when it may not see it.
    let r = put_manifest(api, &walt, "pub/app", &manifest).await;
    assert_eq!(r.status(), 403, "walt cannot push to pub at all");
    let r = api.send(&walt, Method::GET, "/v2/other/app/tags/list", None).await;
    assert_eq!(r.status(), 404);

    // Anonymous tokens read public repositories, nothing else.
    let anonymous = bearer(&token(api, &Cred::Anonymous, &["repository:pub/app:pull", "repository:team/app:pull"]).await);
    api.expect(&anonymous, Method::GET, "/v2/pub/app/tags/list", None, 200).await;
    let r = api.send(&anonymous, Method::GET, "/v2/team/app/tags/list", None).await;
    assert_eq!(r.status(), 401);

    // Asking for more than one may do yields less: rita gets pull only, and a push is 403.
    let rita = token(api, &Cred::user("rita"), &["repository:team/app:pull,push"]).await;
    assert_eq!(put_manifest(api, &bearer(&rita), "team/app", &manifest).await.status(), 403);
    // A token that lacks a scope its holder has: 403 with an insufficient_scope challenge
    // (RFC 6750), so the client asks for a wider token.
    let alice = bearer(&token(api, &Cred::user("alice"), &["repository:team/app:pull"]).await);
    let r = put_manifest(api, &alice, "team/app", &manifest).await;
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).contains("error=\"insufficient_scope\"") && challenge(&r).contains("team/app:pull,push"));

    // Robot tokens and the OAuth2 form work at the token endpoint too.
    let robot = token(api, &Cred::Basic("ci".into(), t.robot_push.clone()), &["repository:team/app:push"]).await;
    assert_eq!(put_manifest(api, &bearer(&robot), "team/app", &manifest).await.status(), 201);
    let form = api
        .http
        .post(format!("{}/v2/token", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=walt&password={}&service=sherpack-registry&scope=repository%3Ateam%2Fapp%3Apull",
            auth::PASSWORD
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let form: Value = form.json().await.unwrap();
    api.expect(&bearer(&form), Method::GET, "/v2/team/app/manifests/1.0", None, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_change_nothing_and_are_audited() {
    let t = Tenants::start(ServerOptions::default()).await;
    let api = &t.api;
    let admin = Oci::with_basic(&t.server.url, "root", "root-password");
    let (manifest, _) = admin.push_image("team/app", "1.0", b"layer").await;
    let walt_token = bearer(&token(api, &Cred::user("walt"), &["repository:team/app:pull,push"]).await);
    let Cred::Bearer(valid) = &walt_token else { unreachable!() };

    // One character in the middle of the signature changed.
    let mut forged: Vec<char> = valid.chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let parts: Vec<&str> = valid.split('.').collect();
    let none_alg = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let headers: Vec<(&str, String)> = vec![
        ("garbage scheme", "Digest username=walt".into()),
        ("basic without base64", "Basic !!!not-base64".into()),
        ("basic without colon", "Basic d2FsdA==".into()),
        ("bearer without token", "Bearer ".into()),
        ("forged signature", format!("Bearer {forged}")),
        ("alg none", format!("Bearer {none_alg}")),
        ("not a JWT", "Bearer abc.def.ghi".into()),
        ("unknown API token", format!("Bearer shpk_000000000000_{}", "0".repeat(64))),
        ("oversized header", format!("Bearer {}", "x".repeat(10_000))),
        ("oversized password", format!("Basic {}", base64_of(&format!("walt:{}", "p".repeat(5000))))),
        ("unknown user", format!("Basic {}", base64_of("nobody:whatever-password"))),
    ];
    for (what, header) in &headers {
        let r = api
            .http
            .put(format!("{}/v2/team/app/manifests/9.9", api.base))
            .header("authorization", header)
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert!(challenge(&r).starts_with("Bearer realm="), "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{what}");
        // Same on the admin API, in its format and with its Basic challenge.
        let r = api.http.get(format!("{}/api/v1/whoami", api.base)).header("authorization", header).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(challenge(&r), "Basic realm=\"sherpack-registry\"");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{what}");
    }
    // A token for another repository does not open this one.
    let other = bearer(&token(api, &Cred::user("walt"), &["repository:team/other:pull,push"]).await);
    let r = put_manifest(api, &other, "team/app", &manifest).await;
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).contains("insufficient_scope"));
    // Malformed scopes are refused at the token endpoint.
    for scope in ["repository:UPPER/case:pull", "repository:team/app:fly", "bucket:x:y"] {
        let r = api.send(&Cred::user("walt"), Method::GET, &format!("/v2/token?scope={scope}"), None).await;
        assert_eq!(r.status(), 400, "{scope}");
    }
    // Nothing changed: no tag 9.9 anywhere.
    let r = api.send(&Cred::admin(), Method::GET, "/v2/team/app/tags/list", None).await;
    let tags: Value = r.json().await.unwrap();
    assert_eq!(tags["tags"], json!(["1.0"]));
    // Every attempt is in the audit log, without the secret.
    let log = api.expect(&Cred::admin(), Method::GET, "/api/v1/audit?action=login&limit=1000", None, 200).await;
    let failed = log.as_array().unwrap().iter().filter(|e| e["outcome"] == "failed").count();
    assert!(failed >= headers.len() * 2, "{failed} failed logins recorded");
    assert!(!log.to_string().contains(valid.as_str()) && !log.to_string().contains("whatever-password"));
}

fn base64_of(s: &str) -> String {
    base64_of_bytes(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_foreign_bearer_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let start = |service: &str, ttl: &str| {
        let mut env = auth::admin_env();
        env.push(("SHERPACK_REGISTRY_AUTH__SERVICE".into(), service.into()));
        env.push(("SHERPACK_REGISTRY_AUTH__TOKEN_TTL_SECS".into(), ttl.into()));
        ServerProcess::start(ServerOptions { env, cwd: Some(dir.path().to_owned()), ..ServerOptions::default() })
    };
    let server = start("svc-a", "1");
    let api = Api::new(&server.url);
    let scope = "repository:team/app:pull";
    let path = format!("/v2/token?service=svc-a&scope={scope}");
    let short = bearer(&api.expect(&Cred::admin(), Method::GET, &path, None, 200).await);
    api.expect(&short, Method::GET, "/v2/team/app/tags/list", None, 404).await;
    // One second of life plus the 5 s leeway for clock skew.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let r = api.send(&short, Method::GET, "/v2/team/app/tags/list", None).await;
    assert_eq!(r.status(), 401, "expired");
    assert!(r.text().await.unwrap().contains("expired"));
    drop(server);
    // Same data, same signing secret, another service name: the old audience is refused.
    let server = start("svc-b", "300");
    let api = Api::new(&server.url);
    let path = format!("/v2/token?service=svc-b&scope={scope}");
    let r = api.send(&short, Method::GET, "/v2/team/app/tags/list", None).await;
    assert_eq!(r.status(), 401);
    let fresh = bearer(&api.expect(&Cred::admin(), Method::GET, &path, None, 200).await);
    api.expect(&fresh, Method::GET, "/v2/team/app/tags/list", None, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_token_requests_are_rate_limited() {
    let mut env = auth::admin_env();
    env.push(("SHERPACK_REGISTRY_AUTH__LOGIN_ATTEMPTS_PER_MINUTE".into(), "3".into()));
    env.push(("SHERPACK_REGISTRY_AUTH__TOKEN_REQUESTS_PER_MINUTE".into(), "5".into()));
    let server = ServerProcess::start(ServerOptions { env, ..ServerOptions::default() });
    let api = Api::new(&server.url);
    let wrong = Cred::Basic("root".into(), "guess-number-n".into());
    for _ in 0..3 {
        api.expect(&wrong, Method::GET, "/v2/_catalog", None, 401).await;
    }
    let r = api.send(&wrong, Method::GET, "/v2/_catalog", None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    // Even the right password waits now: the limit is per address and per user.
    api.expect(&Cred::admin(), Method::GET, "/api/v1/whoami", None, 429).await;
    // The token endpoint has its own budget per address.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(api.send(&Cred::Anonymous, Method::GET, "/v2/token?service=sherpack-registry", None).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_writes_only_on_loopback() {
    // Loopback, no users: anonymous push works, and the log says so loudly.
    let open = ServerProcess::start(ServerOptions::default());
    Oci::new(&open.url).push_image("any/app", "1.0", b"layer").await;
    assert!(open.logs().contains("NO USERS CONFIGURED"), "{}", open.logs());
    // Any other address without an admin: reads yes, writes no.
    let wide = ServerProcess::start(ServerOptions { args: vec!["--listen".into(), "0.0.0.0:0".into()], ..ServerOptions::default() });
    let port = wide.url.rsplit(':').next().unwrap();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    api.expect(&Cred::Anonymous, Method::GET, "/v2/", None, 200).await;
    let r = api.send(&Cred::Anonymous, Method::POST, "/v2/any/app/blobs/uploads/", None).await;
    assert_eq!(r.status(), 401);
    assert!(wide.logs().contains("every write is refused"), "{}", wide.logs());
}

fn admin_cli(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(workspace_binary("sherpack-registry"))
        .arg("admin")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", "ops")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_the_same_store_as_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |args: &[&str], stdin: Option<&str>| {
        let (success, out, err) = admin_cli(d, args, stdin);
        assert!(success, "admin {args:?}: {err}");
        out
    };
    ok(&["user", "add", "boss", "--admin"], Some("boss-password\n"));
    ok(&["user", "add", "dev"], Some("dev-password\n"));
    ok(&["namespace", "add", "acme"], None);
    ok(&["member", "set", "acme", "dev", "writer"], None);
    let created: Value = serde_json::from_str(&ok(&["token", "create", "--owner", "dev", "--name", "ci", "--scopes", "pull,push"], None)).unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("shpk_"));
    let listed = ok(&["token", "list"], None);
    assert!(listed.contains("\"ci\"") && !listed.contains(&secret), "shown once: {listed}");
    // Refusals name the problem and exit non-zero.
    let (success, _, err) = admin_cli(d, &["user", "add", "dev"], Some("another-password\n"));
    assert!(!success && err.contains("already exists"), "{err}");
    let (success, _, err) = admin_cli(d, &["user", "add", "Bad Name"], Some("another-password\n"));
    assert!(!success && err.contains("not a valid user name"), "{err}");
    let (success, _, err) = admin_cli(d, &["user", "add", "short"], Some("x\n"));
    assert!(!success && err.contains("password"), "{err}");
    let (success, _, err) = admin_cli(d, &["user", "delete", "boss"], None);
    assert!(!success && err.contains("last registry admin"), "{err}");

    // The server on the same data directory knows them.
    let server = ServerProcess::start(ServerOptions { cwd: Some(d.to_owned()), ..ServerOptions::default() });
    let dev = Oci::with_basic(&server.url, "dev", &secret);
    dev.push_image("acme/app", "1.0", b"layer").await;
    let api = Api::new(&server.url);
    let r = api.send(&Cred::Basic("dev".into(), "dev-password".into()), Method::POST, "/v2/elsewhere/app/blobs/uploads/", None).await;
    assert_eq!(r.status(), 404, "dev is no member of elsewhere (no record: private to admins)");
    let id = created["id"].as_str().unwrap();
    ok(&["token", "revoke", id], None);
    // Another process revoked it: the server, which has the token cached, learns of it from the
    // change sequence within the revocation bound (`auth.revocation_bound_ms`, 2 s).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let r = api.send(&Cred::Basic("dev".into(), secret.clone()), Method::GET, "/v2/acme/app/tags/list", None).await;
    assert_eq!(r.status(), 401, "revoked within the bound");
    let audit = ok(&["audit", "--limit", "200"], None);
    for action in ["user.create", "member.set", "token.create", "token.revoke", "push"] {
        assert!(audit.contains(&format!("\"action\": \"{action}\"")), "{action} missing from {audit}");
    }
    assert!(audit.contains("cli:ops"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_keys_policies_and_bad_input() {
    let t = Tenants::start(ServerOptions::default()).await;
    let api = &t.api;
    let alice = Cred::user("alice");
    // A minisign public key file: "Ed", an 8-byte key id, a 32-byte Ed25519 key.
    let mut raw = b"Ed".to_vec();
    raw.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    raw.extend([9u8; 32]);
    let file = format!("untrusted comment: minisign public key 0807060504030201\n{}\n", base64_of_bytes(&raw));
    let key = api.expect(&alice, Method::POST, "/api/v1/namespaces/team/keys", Some(json!({ "name": "release", "public_key": file })), 201).await;
    assert_eq!(key["id"], "0807060504030201");
    api.expect(&alice, Method::POST, "/api/v1/namespaces/team/keys", Some(json!({ "name": "again", "public_key": file })), 409).await;
    let listed = api.expect(&Cred::user("rita"), Method::GET, "/api/v1/namespaces/team/keys", None, 200).await;
    assert_eq!(listed[0]["name"], "release");
    api.expect(&Cred::user("walt"), Method::POST, "/api/v1/namespaces/team/keys", Some(json!({ "name": "mine", "public_key": file })), 403).await;
    api.expect(&alice, Method::POST, "/api/v1/namespaces/team/keys", Some(json!({ "name": "bad", "public_key": "RWQ not a key" })), 400).await;
    api.expect(&alice, Method::DELETE, "/api/v1/namespaces/team/keys/0807060504030201", None, 204).await;

    let policy = json!({ "keep_last_versions": 5, "require_signature": true });
    let stored = api.expect(&alice, Method::PUT, "/api/v1/namespaces/team/policy", Some(policy), 200).await;
    assert_eq!(stored, json!({ "keep_last_versions": 5, "require_signature": true, "allow_overwrite": false }));
    api.expect(&alice, Method::PUT, "/api/v1/namespaces/team/policy", Some(json!({ "keep_forever": true })), 400).await;
    api.expect(&Cred::user("walt"), Method::PUT, "/api/v1/namespaces/team/policy", Some(json!({})), 403).await;
    // Visibility changes take effect at once: team becomes public, anonymous reads work.
    api.expect(&alice, Method::PATCH, "/api/v1/namespaces/team", Some(json!({ "visibility": "public" })), 200).await;
    let r = api.send(&Cred::Anonymous, Method::GET, "/v2/team/nothing/tags/list", None).await;
    assert_eq!(r.status(), 404, "visible now, just empty");

    // Bad input: the API's error format, nothing created.
    for (method, path, body, status) in [
        (Method::POST, "/api/v1/users", json!({ "name": "Bad Name", "password": "long-enough-1" }), 400),
        (Method::POST, "/api/v1/users", json!({ "name": "bob", "password": "short" }), 400),
        (Method::POST, "/api/v1/users", json!({ "name": "bob", "password": "long-enough-1", "root": true }), 400),
        (Method::POST, "/api/v1/users", json!({ "name": "alice", "password": "long-enough-1" }), 409),
        (Method::POST, "/api/v1/namespaces", json!({ "name": "../etc", "visibility": "public" }), 400),
        (Method::POST, "/api/v1/namespaces", json!({ "name": "ok", "visibility": "sideways" }), 400),
        (Method::PUT, "/api/v1/namespaces/team/members/nobody", json!({ "role": "reader" }), 404),
        (Method::PUT, "/api/v1/namespaces/team/members/walt", json!({ "role": "owner" }), 400),
        (Method::POST, "/api/v1/tokens", json!({ "name": "x", "scopes": [] }), 400),
        (Method::POST, "/api/v1/tokens", json!({ "name": "x", "scopes": ["root"] }), 400),
    ] {
        let r = api.send(&Cred::admin(), method, path, Some(body.clone())).await;
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(code, status, "{path} {body}: {text}");
        let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert!(parsed["errors"][0]["code"].is_string(), "{text}");
    }
    // A robot token for a namespace alice cannot see.
    let r = api.send(&alice, Method::POST, "/api/v1/tokens", Some(json!({ "name": "x", "scopes": ["pull"], "namespace": "other" }))).await;
    assert_eq!(r.status(), 404);
    let r = api.http.post(format!("{}/api/v1/users", api.base)).basic_auth("root", Some("root-password")).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = api.http.post(format!("{}/api/v1/users", api.base)).basic_auth("root", Some("root-password")).body(vec![b'x'; 100 * 1024]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let users = api.expect(&Cred::admin(), Method::GET, "/api/v1/users", None, 200).await;
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "otto", "rita", "root", "walt"], "nothing was created");
    api.expect(&Cred::admin(), Method::GET, "/api/v1/nope", None, 404).await;
}

fn base64_of_bytes(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
