//! Minisign signatures of packs: uploaded with the chart, alone, or as an OCI referrer (before
//! or after the pack); checked against the namespace's trusted keys (verified, unverified,
//! invalid); the require-signature policy; served at `<chart>.minisig` and through referrers.

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive, upload_chart_blobs};
use sherpack_test_support::oci::{OCI_MANIFEST, Oci, digest};
use sherpack_test_support::server::ServerOptions;
use sherpack_test_support::signing::{keygen, sign, trust};

async fn upload(t: &Tenants, archive: &[u8], signature: Option<Vec<u8>>) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().part("chart", reqwest::multipart::Part::bytes(archive.to_vec()).file_name("pack.tgz"));
    if let Some(sig) = signature {
        form = form.part("prov", reqwest::multipart::Part::bytes(sig).file_name("pack.tgz.minisig"));
    }
    let r = Cred::user("walt").apply(t.api.http.post(format!("{}/api/team/charts", t.api.base))).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn signature_status(t: &Tenants, name: &str, version: &str) -> Option<String> {
    let v = t.api.expect(&Cred::user("rita"), Method::GET, &format!("/api/team/charts/{name}/{version}"), None, 200).await;
    v["annotations"]["sherpack.io/signature"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_with_uploads_are_checked_against_trusted_keys() {
    let t = Tenants::start(ServerOptions::default()).await;
    let (trusted, stranger) = (keygen(), keygen());
    trust(&t, &trusted, "release").await;

    let good = sherpack_archive("good", "1.0.0", 100);
    let good_sig = sign(&trusted, &good, "good", "1.0.0");
    assert_eq!(upload(&t, &good, Some(good_sig.clone())).await.0, 201);
    assert_eq!(signature_status(&t, "good", "1.0.0").await.as_deref(), Some("verified"));
    // Served next to the chart, and as a referrer of the pack's manifest.
    let served = Cred::user("rita").apply(t.api.http.get(format!("{}/team/charts/good-1.0.0.tgz.minisig", t.api.base))).send().await.unwrap();
    assert_eq!(served.bytes().await.unwrap().to_vec(), good_sig);
    let oci = Oci::with_basic(&t.server.url, "rita", sherpack_test_support::auth::PASSWORD);
    let head = oci.http.head(oci.url("/v2/team/good/manifests/1.0.0")).send().await.unwrap();
    let pack_digest = head.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    let referrers: Value = oci.http.get(oci.url(&format!("/v2/team/good/referrers/{pack_digest}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(referrers["manifests"][0]["artifactType"], "application/vnd.sherpack.signature.v1+minisign");
    // The pack's own manifest keeps only the chart layer (the upstream client refuses others).
    let manifest: Value = oci.http.get(oci.url("/v2/team/good/manifests/1.0.0")).send().await.unwrap().json().await.unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);

    let other = sherpack_archive("other", "1.0.0", 100);
    assert_eq!(upload(&t, &other, Some(sign(&stranger, &other, "other", "1.0.0"))).await.0, 201);
    assert_eq!(signature_status(&t, "other", "1.0.0").await.as_deref(), Some("unverified"), "a key nobody trusts");

    let tampered = sherpack_archive("tampered", "1.0.0", 100);
    let original = sherpack_archive("tampered", "1.0.0", 101);
    assert_eq!(upload(&t, &tampered, Some(sign(&trusted, &original, "tampered", "1.0.0"))).await.0, 201);
    assert_eq!(signature_status(&t, "tampered", "1.0.0").await.as_deref(), Some("invalid"), "signed bytes differ");

    let (status, body) = upload(&t, &sherpack_archive("junk", "1.0.0", 10), Some(b"untrusted comment: x\nnot base64!!\n".to_vec())).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("does not parse"), "{body}");
    t.api.expect(&Cred::user("rita"), Method::GET, "/api/team/charts/junk", None, 404).await;

    // The policy: unsigned and wrongly signed uploads are refused, nothing stored.
    t.api.expect(&Cred::user("alice"), Method::PUT, "/api/v1/namespaces/team/policy", Some(json!({ "require_signature": true })), 200).await;
    let strict = sherpack_archive("strict", "1.0.0", 100);
    assert_eq!(upload(&t, &strict, None).await.0, 403);
    assert_eq!(upload(&t, &strict, Some(sign(&stranger, &strict, "strict", "1.0.0"))).await.0, 403);
    t.api.expect(&Cred::user("rita"), Method::GET, "/api/team/charts/strict", None, 404).await;
    assert_eq!(upload(&t, &strict, Some(sign(&trusted, &strict, "strict", "1.0.0"))).await.0, 201);
    // Over OCI too: a pack without a verified signature referrer is refused.
    let walt = Oci::with_basic(&t.server.url, "walt", sherpack_test_support::auth::PASSWORD);
    let unsigned = sherpack_archive("unsigned", "1.0.0", 100);
    let body = upload_chart_blobs(&walt, "team/unsigned", &unsigned).await;
    let r = walt.put_manifest("team/unsigned", "1.0.0", OCI_MANIFEST, &body).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("requires a signature"));
    // Signature first (a referrer of the manifest about to be pushed), then the pack: accepted.
    let r = push_signature_referrer(&walt, "team/unsigned", &digest(&body), &sign(&trusted, &unsigned, "unsigned", "1.0.0")).await;
    assert_eq!(r.status(), 201);
    let r = walt.put_manifest("team/unsigned", "1.0.0", OCI_MANIFEST, &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(signature_status(&t, "unsigned", "1.0.0").await.as_deref(), Some("verified"));
}

/// A signature referrer manifest for `subject` holding `signature`.
async fn push_signature_referrer(oci: &Oci, repo: &str, subject: &str, signature: &[u8]) -> reqwest::Response {
    let config = oci.push_blob(repo, b"{}").await;
    let layer = oci.push_blob(repo, signature).await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.sherpack.signature.v1+minisign",
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/vnd.sherpack.signature.v1+minisign", "digest": layer, "size": signature.len() }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": subject, "size": 100 },
    }))
    .unwrap();
    oci.put_manifest(repo, &digest(&body), OCI_MANIFEST, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_over_oci_and_alone() {
    let t = Tenants::start(ServerOptions::default()).await;
    let trusted = keygen();
    trust(&t, &trusted, "release").await;
    let walt = Oci::with_basic(&t.server.url, "walt", sherpack_test_support::auth::PASSWORD);

    // Pack first, then its signature as a referrer.
    let archive = sherpack_archive("api", "1.0.0", 100);
    push_like_upstream_sherpack(&walt, "team/api", "1.0.0", &archive).await;
    let head = walt.http.head(walt.url("/v2/team/api/manifests/1.0.0")).send().await.unwrap();
    let pack_digest = head.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    assert_eq!(signature_status(&t, "api", "1.0.0").await, None, "unsigned so far");
    let r = push_signature_referrer(&walt, "team/api", &pack_digest, &sign(&trusted, &archive, "api", "1.0.0")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(signature_status(&t, "api", "1.0.0").await.as_deref(), Some("verified"));
    // A referrer whose signature does not parse is refused.
    let r = push_signature_referrer(&walt, "team/api", &pack_digest, b"untrusted comment: x\n???\n").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("MANIFEST_INVALID"));

    // A signature uploaded alone names its pack in its trusted comment.
    let web = sherpack_archive("web", "2.0.0", 100);
    let form = reqwest::multipart::Form::new().part("chart", reqwest::multipart::Part::bytes(web.clone()));
    let r = Cred::user("walt").apply(t.api.http.post(format!("{}/api/team/charts", t.api.base))).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let prov_url = format!("{}/api/team/prov", t.api.base);
    let post = |body: Vec<u8>| Cred::user("walt").apply(t.api.http.post(&prov_url).body(body)).send();
    let r = post(sign(&trusted, &web, "web", "2.0.0")).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(signature_status(&t, "web", "2.0.0").await.as_deref(), Some("verified"));
    assert_eq!(post(sign(&trusted, &web, "web", "2.0.0")).await.unwrap().status(), 409);
    assert_eq!(post(sign(&trusted, &web, "web", "3.0.0")).await.unwrap().status(), 404);
    assert_eq!(post(b"-----BEGIN PGP SIGNED MESSAGE-----\n".to_vec()).await.unwrap().status(), 400);
}
