//! The OCI distribution spec's four workflows (pull, push, content discovery, content
//! management) and its error cases, endpoint by endpoint, against the real server process on
//! `SQLite` and on Postgres.

use sherpack_test_support::oci::{OCI_INDEX, OCI_MANIFEST, Oci, digest, error_code, raw_head, raw_request};
use sherpack_test_support::on_both_databases;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

async fn pull(oci: &Oci) {
    let (manifest, manifest_digest) = oci.push_image("acme/app", "1.0.0", b"layer bytes").await;
    let layer = digest(b"layer bytes");

    // Manifest by tag and by digest, GET and HEAD.
    for reference in ["1.0.0", manifest_digest.as_str()] {
        let url = oci.url(&format!("/v2/acme/app/manifests/{reference}"));
        let r = oci.http.get(&url).header("accept", OCI_MANIFEST).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], manifest_digest.as_str());
        assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
        assert_eq!(r.bytes().await.unwrap(), manifest);
        let h = oci.http.head(&url).send().await.unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(h.headers()["content-length"], manifest.len().to_string().as_str());
        assert_eq!(h.headers()["docker-content-digest"], manifest_digest.as_str());
    }
    // Several Accept lines are merged; one that lists only other types is refused.
    let r = oci
        .http
        .get(oci.url("/v2/acme/app/manifests/1.0.0"))
        .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = oci
        .http
        .get(oci.url("/v2/acme/app/manifests/1.0.0"))
        .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Blobs: GET, HEAD, ranges.
    let url = oci.url(&format!("/v2/acme/app/blobs/{layer}"));
    let r = oci.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], layer.as_str());
    assert_eq!(r.headers()["etag"], format!("\"{layer}\"").as_str());
    assert_eq!(r.headers()["content-length"], "11");
    assert_eq!(r.bytes().await.unwrap(), &b"layer bytes"[..]);
    let h = oci.http.head(&url).send().await.unwrap();
    assert_eq!((h.status().as_u16(), h.headers()["content-length"].to_str().unwrap()), (200, "11"));
    let r = oci.http.get(&url).header("range", "bytes=6-10").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 6-10/11");
    assert_eq!(r.bytes().await.unwrap(), &b"bytes"[..]);
    let r = oci.http.get(&url).header("range", "bytes=11-").send().await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */11");
    let r = oci.http.get(&url).header("if-none-match", format!("\"{layer}\"")).send().await.unwrap();
    assert_eq!(r.status(), 304);

    // Unknowns.
    let r = oci.http.get(oci.url("/v2/acme/app/manifests/9.9.9")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = oci.http.get(oci.url("/v2/acme/nothing/manifests/1.0.0")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let r = oci.http.get(oci.url(&format!("/v2/acme/app/blobs/{}", digest(b"absent")))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    // A blob another repository holds is not readable here.
    let r = oci.http.get(oci.url(&format!("/v2/other/repo/blobs/{layer}"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn push(oci: &Oci) {
    // POST then PUT.
    let r = oci.http.post(oci.url("/v2/acme/push/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let location = oci.location(&r);
    assert!(location.starts_with("http://127.0.0.1:"), "absolute Location from the Host header: {location}");
    let data = b"posted then put";
    let d = digest(data);
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = oci.http.put(format!("{location}{sep}digest={d}")).body(data.to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(oci.location(&r), oci.url(&format!("/v2/acme/push/blobs/{d}")));

    // Chunked: PATCH with Content-Range, PATCH without, status, final PUT with a last chunk.
    let r = oci.http.post(oci.url("/v2/acme/push/blobs/uploads/")).send().await.unwrap();
    let location = oci.location(&r);
    let r = oci.http.patch(&location).header("content-range", "0-4").body("chunk").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-4");
    let location = oci.location(&r);
    let r = oci.http.patch(&location).body("-two").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["range"].to_str().unwrap()), (202, "0-8"));
    // Out of order: 416, and the session is unchanged.
    let r = oci.http.patch(&location).header("content-range", "3-5").body("xyz").send().await.unwrap();
    assert_eq!(r.status(), 416);
    let r = oci.http.get(&location).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["range"].to_str().unwrap()), (204, "0-8"));
    let d = digest(b"chunk-two-three");
    let r = oci.http.put(format!("{location}?digest={d}")).body("-three").send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = oci.http.get(oci.url(&format!("/v2/acme/push/blobs/{d}"))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), &b"chunk-two-three"[..]);
    // The finished session is gone.
    assert_eq!(oci.http.get(&location).send().await.unwrap().status(), 404);

    // Cross-repository mount, and the fall-back to a session when the source lacks the blob.
    let r = oci.http.post(oci.url(&format!("/v2/acme/mounted/blobs/uploads/?mount={d}&from=acme/push"))).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(oci.location(&r), oci.url(&format!("/v2/acme/mounted/blobs/{d}")));
    assert_eq!(oci.http.head(oci.url(&format!("/v2/acme/mounted/blobs/{d}"))).send().await.unwrap().status(), 200);
    let r = oci.http.post(oci.url(&format!("/v2/acme/mounted2/blobs/uploads/?mount={d}&from=acme/nothing"))).send().await.unwrap();
    assert_eq!(r.status(), 202);

    // Cancel.
    let r = oci.http.post(oci.url("/v2/acme/push/blobs/uploads/")).send().await.unwrap();
    let location = oci.location(&r);
    assert_eq!(oci.http.delete(&location).send().await.unwrap().status(), 204);
    let r = oci.http.get(&location).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    // Manifest by digest, then tagged; an index of it; one without mediaType typed by the header.
    let (manifest, md) = oci.push_image("acme/push", "v1", b"image layer").await;
    let r = oci.put_manifest("acme/push", &md, OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201);
    assert_eq!(oci.location(&r), oci.url(&format!("/v2/acme/push/manifests/{md}")));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len() }]
    }))
    .unwrap();
    assert_eq!(oci.put_manifest("acme/push", "multi", OCI_INDEX, &index).await.status(), 201);
    let r = oci.http.get(oci.url("/v2/acme/push/manifests/multi")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let untyped = String::from_utf8(manifest.clone()).unwrap().replace(&format!("\"mediaType\":\"{OCI_MANIFEST}\","), "");
    assert!(!untyped.contains(OCI_MANIFEST));
    assert_eq!(oci.put_manifest("acme/push", "docker", docker, untyped.as_bytes()).await.status(), 201);
    let r = oci.http.get(oci.url("/v2/acme/push/manifests/docker")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], docker, "served with the type it was pushed with");
}

async fn content_discovery(oci: &Oci) {
    let (_, subject) = oci.push_image("acme/disc", "1.0.0", b"subject layer").await;
    for tag in ["b", "a", "c", "d"] {
        let (m, _) = oci.push_image("acme/disc", "1.0.0", b"subject layer").await;
        assert_eq!(oci.put_manifest("acme/disc", tag, OCI_MANIFEST, &m).await.status(), 201);
    }
    let r = oci.http.get(oci.url("/v2/acme/disc/tags/list")).send().await.unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "name": "acme/disc", "tags": ["1.0.0", "a", "b", "c", "d"] }));
    let r = oci.http.get(oci.url("/v2/acme/disc/tags/list?n=2")).send().await.unwrap();
    assert_eq!(r.headers()["link"], "</v2/acme/disc/tags/list?n=2&last=a>; rel=\"next\"");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!(["1.0.0", "a"]));
    let r = oci.http.get(oci.url("/v2/acme/disc/tags/list?n=2&last=c")).send().await.unwrap();
    assert!(r.headers().get("link").is_none(), "last page");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!(["d"]));
    let r = oci.http.get(oci.url("/v2/acme/disc/tags/list?n=0")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!([]));
    let r = oci.http.get(oci.url("/v2/acme/disc/tags/list?n=lots")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = oci.http.get(oci.url("/v2/nobody/here/tags/list")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "NAME_UNKNOWN"));

    // Referrers: two artifacts with a subject, one filtered out by artifactType.
    let empty = oci.push_blob("acme/disc", b"{}").await;
    let mut referrers = Vec::new();
    for (artifact_type, annotation) in [("application/vnd.example.sbom", "sbom"), ("application/vnd.example.sig", "sig")] {
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2 },
            "layers": [], "subject": { "mediaType": OCI_MANIFEST, "digest": subject, "size": 1 },
            "annotations": { "kind": annotation },
        }))
        .unwrap();
        let r = oci.put_manifest("acme/disc", &digest(&m), OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
        referrers.push(digest(&m));
    }
    let r = oci.http.get(oci.url(&format!("/v2/acme/disc/referrers/{subject}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let index: serde_json::Value = r.json().await.unwrap();
    let mut found: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    found.sort_unstable();
    let mut expected: Vec<&str> = referrers.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(found, expected);
    let r = oci.http.get(oci.url(&format!("/v2/acme/disc/referrers/{subject}?artifactType=application/vnd.example.sig"))).send().await.unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(index["manifests"][0]["annotations"]["kind"], "sig");
    let r = oci.http.get(oci.url(&format!("/v2/acme/disc/referrers/{}", digest(b"none")))).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["manifests"], serde_json::json!([]));
    let r = oci.http.get(oci.url("/v2/acme/disc/referrers/sha256:short")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));

    // Catalog with pagination.
    oci.push_image("acme/zzz", "1", b"z").await;
    let r = oci.http.get(oci.url("/v2/_catalog")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["repositories"], serde_json::json!(["acme/disc", "acme/zzz"]));
    let r = oci.http.get(oci.url("/v2/_catalog?n=1")).send().await.unwrap();
    assert_eq!(r.headers()["link"], "</v2/_catalog?n=1&last=acme%2Fdisc>; rel=\"next\"");
    let r = oci.http.get(oci.url("/v2/_catalog?n=1&last=acme/disc")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["repositories"], serde_json::json!(["acme/zzz"]));
}

async fn content_management(oci: &Oci) {
    let (manifest, md) = oci.push_image("acme/mgmt", "1.0.0", b"to delete").await;
    assert_eq!(oci.put_manifest("acme/mgmt", "latest", OCI_MANIFEST, &manifest).await.status(), 201);
    // Delete a tag: the manifest stays under its digest and other tags.
    assert_eq!(oci.http.delete(oci.url("/v2/acme/mgmt/manifests/latest")).send().await.unwrap().status(), 202);
    assert_eq!(oci.http.get(oci.url("/v2/acme/mgmt/manifests/latest")).send().await.unwrap().status(), 404);
    assert_eq!(oci.http.get(oci.url(&format!("/v2/acme/mgmt/manifests/{md}"))).send().await.unwrap().status(), 200);
    // Delete the manifest: its tags go with it.
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/acme/mgmt/manifests/{md}"))).send().await.unwrap().status(), 202);
    let r = oci.http.get(oci.url(&format!("/v2/acme/mgmt/manifests/{md}"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "MANIFEST_UNKNOWN"));
    assert_eq!(oci.http.get(oci.url("/v2/acme/mgmt/manifests/1.0.0")).send().await.unwrap().status(), 404);
    let r = oci.http.get(oci.url("/v2/acme/mgmt/tags/list")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!([]));
    let r = oci.http.delete(oci.url(&format!("/v2/acme/mgmt/manifests/{md}"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Delete a blob.
    let layer = digest(b"to delete");
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/acme/mgmt/blobs/{layer}"))).send().await.unwrap().status(), 202);
    let r = oci.http.get(oci.url(&format!("/v2/acme/mgmt/blobs/{layer}"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "BLOB_UNKNOWN"));
    let r = oci.http.delete(oci.url(&format!("/v2/acme/mgmt/blobs/{layer}"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn bad_input(oci: &Oci) {
    let (manifest, _) = oci.push_image("acme/bad", "1.0.0", b"good layer").await;

    // Names: `..`, uppercase, empty segments.
    for name in ["acme/../etc", "../../etc", "acme/./app", "Acme/app", "acme//app", "acme/app-", "acme/a..b"] {
        for path in [format!("/v2/{name}/tags/list"), format!("/v2/{name}/blobs/uploads/"), format!("/v2/{name}/manifests/latest")] {
            let method = if path.ends_with("uploads/") { "POST" } else { "GET" };
            let (status, body) = raw_request(&oci.base, method, &path).await;
            assert_eq!(status, 400, "{method} {path}: {body}");
            assert!(body.contains("NAME_INVALID"), "{path}: {body}");
        }
    }
    // Digests: malformed, mismatched.
    let r = oci.http.post(oci.url("/v2/acme/bad/blobs/uploads/?digest=sha256:1234")).body("x").send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));
    let wrong = digest(b"something else");
    let r = oci.http.post(oci.url(&format!("/v2/acme/bad/blobs/uploads/?digest={wrong}"))).body("actual").send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));
    for d in [&wrong, &digest(b"actual")] {
        assert_eq!(oci.http.head(oci.url(&format!("/v2/acme/bad/blobs/{d}"))).send().await.unwrap().status(), 404, "nothing visible");
    }
    let r = oci.http.post(oci.url("/v2/acme/bad/blobs/uploads/")).send().await.unwrap();
    let location = oci.location(&r);
    let r = oci.http.put(format!("{location}?digest={wrong}")).body("actual").send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));
    let r = oci.http.put(location.clone()).body("no digest").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Unknown upload ids, including ones that are not ours at all.
    for id in ["3c4b0a7e-0000-4000-8000-000000000000", "not-a-uuid", "..%2F..%2Fetc"] {
        let r = oci.http.patch(oci.url(&format!("/v2/acme/bad/blobs/uploads/{id}"))).body("x").send().await.unwrap();
        assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "BLOB_UPLOAD_UNKNOWN"), "{id}");
    }
    // A session belongs to its repository.
    let r = oci.http.post(oci.url("/v2/acme/bad/blobs/uploads/")).send().await.unwrap();
    let id = r.headers()["docker-upload-uuid"].to_str().unwrap().to_owned();
    let r = oci.http.get(oci.url(&format!("/v2/acme/other/blobs/uploads/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // A Content-Range that does not match the body.
    let r = oci.http.patch(oci.url(&format!("/v2/acme/bad/blobs/uploads/{id}"))).header("content-range", "0-99").body("short").send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "BLOB_UPLOAD_INVALID"));
    let r = oci.http.get(oci.url(&format!("/v2/acme/bad/blobs/uploads/{id}"))).send().await.unwrap();
    assert_eq!(r.headers()["range"], "0-0", "a refused chunk does not count");

    // Manifests: not JSON, missing blob, missing child, unsupported type, wrong digest, bad tag, too large.
    let put = |reference: &'static str, media_type: &'static str, body: Vec<u8>| async move { oci.put_manifest("acme/bad", reference, media_type, &body).await };
    let r = put("x", OCI_MANIFEST, b"{not json".to_vec()).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "MANIFEST_INVALID"));
    let missing = String::from_utf8(manifest.clone()).unwrap().replace(&digest(b"good layer"), &digest(b"never pushed"));
    let r = put("x", OCI_MANIFEST, missing.into_bytes()).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_MANIFEST, "digest": digest(b"no such manifest"), "size": 3 }]
    }))
    .unwrap();
    let r = put("x", OCI_INDEX, index).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    let r = put("x", "application/vnd.example.unknown+json", manifest.clone()).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "MANIFEST_INVALID"));
    let r = oci.put_manifest("acme/bad", &digest(b"other"), OCI_MANIFEST, &manifest).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));
    let r = put(".hidden", OCI_MANIFEST, manifest.clone()).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "MANIFEST_INVALID"));
    // Over 4 MiB: refused from its Content-Length, before the body is read.
    let head = format!("Content-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n", 4 * 1024 * 1024 + 1);
    let (status, body) = raw_head(&oci.base, "PUT", "/v2/acme/bad/manifests/x", &head).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("SIZE_INVALID"), "{body}");
    // None of them left a tag behind.
    let r = oci.http.get(oci.url("/v2/acme/bad/tags/list")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!(["1.0.0"]));

    // Methods and paths the API does not have.
    let r = oci.http.put(oci.url("/v2/acme/bad/tags/list")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (405, "UNSUPPORTED"));
    let r = oci.http.get(oci.url("/v2/acme/bad/whatever")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
}

on_both_databases!(pull, push, content_discovery, content_management, bad_input);

#[tokio::test]
async fn deletion_can_be_switched_off() {
    let server = ServerProcess::start(ServerOptions {
        env: vec![("SHERPACK_REGISTRY_OCI__DELETE_ENABLED".into(), "false".into())],
        ..ServerOptions::default()
    });
    let oci = Oci::new(&server.url);
    let (_, md) = oci.push_image("acme/keep", "1.0.0", b"kept").await;
    for path in [format!("/v2/acme/keep/manifests/{md}"), "/v2/acme/keep/manifests/1.0.0".into(), format!("/v2/acme/keep/blobs/{}", digest(b"kept"))] {
        let r = oci.http.delete(oci.url(&path)).send().await.unwrap();
        assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (405, "UNSUPPORTED"), "{path}");
    }
    assert_eq!(oci.http.get(oci.url("/v2/acme/keep/manifests/1.0.0")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn locations_use_the_public_url() {
    let server = ServerProcess::start(ServerOptions {
        args: vec!["--public-url".into(), "https://registry.example.com/".into()],
        ..ServerOptions::default()
    });
    let oci = Oci::new(&server.url);
    let r = oci.http.post(oci.url("/v2/acme/proxy/blobs/uploads/")).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("https://registry.example.com/v2/acme/proxy/blobs/uploads/"), "{location}");
}
