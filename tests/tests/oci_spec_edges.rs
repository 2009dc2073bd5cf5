//! The spec's less travelled paths, through raw HTTP on `SQLite` and on Postgres: references
//! that can never name anything, sha512 digests end to end, non-distributable layers, and
//! charts under alias tags.

use sherpack_test_support::fixtures::{sherpack_archive, upload_chart_blobs};
use sherpack_test_support::oci::{OCI_INDEX, OCI_MANIFEST, Oci, digest, digest512, error_code};
use sherpack_test_support::on_both_databases;

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, error_code(r).await)
}

/// GET, HEAD and DELETE of `path` all answer 404 with `code`.
async fn unknown_everywhere(oci: &Oci, path: &str, code: &str) {
    let url = oci.url(path);
    let r = oci.http.get(&url).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (404, code.to_owned()), "GET {path}");
    assert_eq!(oci.http.head(&url).send().await.unwrap().status(), 404, "HEAD {path}");
    let r = oci.http.delete(&url).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (404, code.to_owned()), "DELETE {path}");
}

async fn unknown_references(oci: &Oci) {
    let (_, md) = oci.push_image("acme/refs", "1.0.0", b"refs layer").await;
    let md512 = format!("sha512:{}", "0".repeat(128));
    // Reads and deletes of references that cannot exist: unknown, like an absent tag.
    for reference in [".INVALID_MANIFEST_NAME", "-dash", "sha256:baddigeststring", "md5:d41d8cd98f00b204e9800998ecf8427e", "9.9.9", md512.as_str()] {
        unknown_everywhere(oci, &format!("/v2/acme/refs/manifests/{reference}"), "MANIFEST_UNKNOWN").await;
    }
    // A PUT is still held to the grammar.
    let (manifest, _) = oci.push_image("acme/refs", "1.0.1", b"refs layer").await;
    let r = oci.put_manifest("acme/refs", ".INVALID_MANIFEST_NAME", OCI_MANIFEST, &manifest).await;
    assert_eq!(status_and_code(r).await, (400, "MANIFEST_INVALID".into()));
    let r = oci.put_manifest("acme/refs", "sha256:baddigeststring", OCI_MANIFEST, &manifest).await;
    assert_eq!(status_and_code(r).await, (400, "DIGEST_INVALID".into()));
    // Blobs of a known algorithm that are not stored: unknown.
    for d in [digest(b"never pushed"), digest512(b"never pushed")] {
        unknown_everywhere(oci, &format!("/v2/acme/refs/blobs/{d}"), "BLOB_UNKNOWN").await;
    }
    // An algorithm the registry does not compute: refused, naming the ones it does.
    let md5 = "md5:d41d8cd98f00b204e9800998ecf8427e";
    for r in [
        oci.http.post(oci.url(&format!("/v2/acme/refs/blobs/uploads/?digest={md5}"))).body("x").send().await.unwrap(),
        oci.http.post(oci.url("/v2/acme/refs/blobs/uploads/?digest-algorithm=md5")).send().await.unwrap(),
        oci.http.get(oci.url(&format!("/v2/acme/refs/blobs/{md5}"))).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "DIGEST_INVALID");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("sha256, sha512"), "{body}");
    }
    // Nothing of that touched what is there.
    assert_eq!(oci.http.get(oci.url(&format!("/v2/acme/refs/manifests/{md}"))).send().await.unwrap().status(), 200);
}

/// POST, then PATCH chunks (with `Content-Range`, or streamed when `ranged` is false), then the
/// closing PUT; returns the final response.
async fn chunked_upload(oci: &Oci, repo: &str, query: &str, chunks: &[&[u8]], ranged: bool, d: &str) -> reqwest::Response {
    let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/{query}"))).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let mut location = oci.location(&r);
    let mut offset = 0;
    for chunk in chunks {
        let mut request = oci.http.patch(&location).header("content-type", "application/octet-stream").body(chunk.to_vec());
        if ranged {
            request = request.header("content-range", format!("{offset}-{}", offset + chunk.len() - 1));
        }
        let r = request.send().await.unwrap();
        offset += chunk.len();
        assert_eq!((r.status().as_u16(), r.headers()["range"].to_str().unwrap()), (202, format!("0-{}", offset - 1).as_str()));
        location = oci.location(&r);
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    oci.http.put(format!("{location}{sep}digest={d}")).send().await.unwrap()
}

async fn sha512_end_to_end(oci: &Oci) {
    let repo = "acme/five12";
    let blob_url = |repo: &str, d: &str| oci.url(&format!("/v2/{repo}/blobs/{d}"));
    // Every way of pushing a blob, by its sha512 digest.
    let monolithic = b"pushed in one POST".to_vec();
    let d = digest512(&monolithic);
    let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}"))).body(monolithic.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str(), "answered in the algorithm used");
    assert_eq!(oci.location(&r), blob_url(repo, &d));
    let post_put = b"posted, then put".to_vec();
    assert_eq!(oci.push_blob_as(repo, &post_put, &digest512(&post_put)).await, digest512(&post_put));
    let chunked: Vec<u8> = (0..300_000u32).map(|i| u8::try_from(i % 253).unwrap()).collect();
    let (first, second) = chunked.split_at(123_457);
    let r = chunked_upload(oci, repo, "", &[first, second], true, &digest512(&chunked)).await;
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, digest512(&chunked).as_str()));
    let streamed = b"streamed in one PATCH without a range".to_vec();
    let r = chunked_upload(oci, repo, "?digest-algorithm=sha512", &[&streamed], false, &digest512(&streamed)).await;
    assert_eq!(r.status(), 201);
    for (data, d) in [(&monolithic, digest512(&monolithic)), (&post_put, digest512(&post_put)), (&chunked, digest512(&chunked)), (&streamed, digest512(&streamed))] {
        let r = oci.http.get(blob_url(repo, &d)).send().await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (200, d.as_str()));
        assert_eq!(r.bytes().await.unwrap(), data.as_slice(), "{d}");
        let h = oci.http.head(blob_url(repo, &d)).send().await.unwrap();
        assert_eq!(h.headers()["content-length"], data.len().to_string().as_str());
    }
    let r = oci.http.get(blob_url(repo, &d)).header("range", "bytes=7-9").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-range"].to_str().unwrap()), (206, "bytes 7-9/18"));
    assert_eq!(r.bytes().await.unwrap(), &b"in "[..]);

    // A sha512 that does not match the bytes: refused, every way, and nothing stored.
    let wrong = digest512(b"other bytes");
    let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/?digest={wrong}"))).body("actual").send().await.unwrap();
    assert_eq!(status_and_code(r).await, (400, "DIGEST_INVALID".into()));
    let r = chunked_upload(oci, repo, "", &[b"act", b"ual"], true, &wrong).await;
    assert_eq!(status_and_code(r).await, (400, "DIGEST_INVALID".into()));
    for d in [&wrong, &digest512(b"actual"), &digest(b"actual")] {
        assert_eq!(oci.http.head(blob_url(repo, d)).send().await.unwrap().status(), 404, "{d} is not stored");
    }
    // The same bytes under sha256 are another blob.
    assert_eq!(oci.http.head(blob_url(repo, &digest(&monolithic))).send().await.unwrap().status(), 404);

    // Mounts, from a repository and without one.
    let r = oci.http.post(oci.url(&format!("/v2/acme/mounted/blobs/uploads/?mount={d}&from={repo}"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, d.as_str()));
    let anonymous = digest512(&post_put);
    let r = oci.http.post(oci.url(&format!("/v2/acme/anonymous/blobs/uploads/?mount={anonymous}"))).send().await.unwrap();
    assert_eq!(r.status(), 201, "mounted from wherever it is");
    assert_eq!(oci.location(&r), blob_url("acme/anonymous", &anonymous));
    assert_eq!(oci.http.get(blob_url("acme/anonymous", &anonymous)).send().await.unwrap().bytes().await.unwrap(), post_put.as_slice());
    let r = oci.http.post(oci.url(&format!("/v2/acme/anonymous/blobs/uploads/?mount={}", digest512(b"nowhere")))).send().await.unwrap();
    assert_eq!(r.status(), 202, "not found anywhere: an upload session instead");

    // Manifests naming sha512 blobs, pushed by tag and by their sha512 digest.
    let config = oci.push_blob_as(repo, b"{}", &digest512(b"{}")).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest512(&chunked), "size": chunked.len() }],
    }))
    .unwrap();
    let r = oci.put_manifest(repo, "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, digest(&manifest).as_str()));
    let md = digest512(&manifest);
    let r = oci.put_manifest(repo, &md, OCI_MANIFEST, &manifest).await;
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, md.as_str()));
    assert_eq!(oci.location(&r), oci.url(&format!("/v2/{repo}/manifests/{md}")));
    let r = oci.http.get(oci.url(&format!("/v2/{repo}/manifests/{md}"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (200, md.as_str()));
    assert_eq!(r.bytes().await.unwrap(), manifest.as_slice());
    let h = oci.http.head(oci.url(&format!("/v2/{repo}/manifests/{md}"))).send().await.unwrap();
    assert_eq!(h.headers()["content-length"], manifest.len().to_string().as_str());
    let r = oci.put_manifest(repo, &digest512(b"not this manifest"), OCI_MANIFEST, &manifest).await;
    assert_eq!(status_and_code(r).await, (400, "DIGEST_INVALID".into()));
    // An index of it, by its own sha512 digest.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len() }],
    }))
    .unwrap();
    assert_eq!(oci.put_manifest(repo, &digest512(&index), OCI_INDEX, &index).await.status(), 201);
    // Deleted by their sha512 digests.
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/{}", digest512(&index)))).send().await.unwrap().status(), 202);
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/{md}"))).send().await.unwrap().status(), 202);
    assert_eq!(oci.http.get(oci.url(&format!("/v2/{repo}/manifests/{md}"))).send().await.unwrap().status(), 404);
    assert_eq!(oci.http.delete(blob_url(repo, &d)).send().await.unwrap().status(), 202);
    let r = oci.http.get(blob_url(repo, &d)).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (404, "BLOB_UNKNOWN".into()));
}

const NON_DISTRIBUTABLE_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
const DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

async fn non_distributable_layers(oci: &Oci) {
    let repo = "acme/windows";
    let config = oci.push_blob(repo, b"{\"os\":\"windows\"}").await;
    let layer = oci.push_blob(repo, b"an ordinary layer").await;
    let foreign = |media_type: &str, d: &str, urls: bool| {
        let mut descriptor = serde_json::json!({ "mediaType": media_type, "digest": d, "size": 123_456 });
        if urls {
            descriptor["urls"] = serde_json::json!([format!("https://store.example.com/blobs/{d}")]);
        }
        descriptor
    };
    let manifest = |layers: Vec<serde_json::Value>| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 16 },
            "layers": layers,
        }))
        .unwrap()
    };
    let ordinary = serde_json::json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 17 });
    let base = manifest(vec![
        foreign(NON_DISTRIBUTABLE_GZIP, &digest(b"base layer, elsewhere"), true),
        foreign(DOCKER_FOREIGN, &digest512(b"docker foreign layer"), true),
        ordinary.clone(),
    ]);
    let r = oci.put_manifest(repo, "ltsc2022", OCI_MANIFEST, &base).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let md = digest(&base);
    for reference in ["ltsc2022", md.as_str()] {
        let r = oci.http.get(oci.url(&format!("/v2/{repo}/manifests/{reference}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap(), base.as_slice());
    }
    let tags: serde_json::Value = oci.http.get(oci.url(&format!("/v2/{repo}/tags/list"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["ltsc2022"]));
    // Without URLs there is nowhere to fetch the layer from; ordinary layers must be here.
    let without_urls = manifest(vec![foreign(NON_DISTRIBUTABLE_GZIP, &digest(b"no urls"), false), ordinary.clone()]);
    let r = oci.put_manifest(repo, "no-urls", OCI_MANIFEST, &without_urls).await;
    assert_eq!(status_and_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    let missing_ordinary = manifest(vec![
        foreign(NON_DISTRIBUTABLE_GZIP, &digest(b"base layer, elsewhere"), true),
        serde_json::json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(b"never pushed"), "size": 12 }),
    ]);
    let r = oci.put_manifest(repo, "missing", OCI_MANIFEST, &missing_ordinary).await;
    assert_eq!(status_and_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    // Deleted like any other.
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/{md}"))).send().await.unwrap().status(), 202);
    let r = oci.http.get(oci.url(&format!("/v2/{repo}/manifests/ltsc2022"))).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (404, "MANIFEST_UNKNOWN".into()));
}

async fn get_json(oci: &Oci, path: &str) -> serde_json::Value {
    let r = oci.http.get(oci.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn chart_aliases(oci: &Oci) {
    let repo = "acme/web";
    let archive = sherpack_archive("web", "1.0.0", 100);
    let manifest = upload_chart_blobs(oci, repo, &archive).await;
    assert_eq!(oci.put_manifest(repo, "1.0.0", OCI_MANIFEST, &manifest).await.status(), 201);
    // The same manifest under tags that are no versions: aliases.
    for alias in ["stable", "latest", "copied"] {
        let r = oci.put_manifest(repo, alias, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status(), 201, "{alias}: {}", r.text().await.unwrap());
    }
    let tags = get_json(oci, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["1.0.0", "copied", "latest", "stable"]));
    for alias in ["stable", "1.0.0"] {
        let r = oci.http.get(oci.url(&format!("/v2/{repo}/manifests/{alias}"))).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap(), manifest.as_slice());
    }
    // The pack stays keyed by its version: one index entry, the aliases in the JSON API and on
    // the pack page next to it.
    let index = get_json(oci, "/acme/index.json").await;
    let versions: Vec<&str> = index["entries"]["web"].as_array().unwrap().iter().map(|e| e["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.0.0"]);
    let version = get_json(oci, "/api/acme/charts/web/1.0.0").await;
    assert_eq!(version["aliases"], serde_json::json!(["copied", "latest", "stable"]));
    assert_eq!(get_json(oci, "/api/acme/charts/web").await[0]["aliases"], version["aliases"]);
    assert_eq!(get_json(oci, "/api/acme/charts").await["web"][0]["aliases"], version["aliases"]);
    let page = oci.http.get(oci.url("/-/packs/acme/web")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">1.0.0</a> <span class=\"tag\" title=\"also tagged\">copied</span>"), "{page}");

    // A tag that is another version is refused, saying which two disagree.
    let r = oci.put_manifest(repo, "2.0.0", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("MANIFEST_INVALID") && body.contains("the tag 2.0.0 is a version and the pack's version is 1.0.0"), "{body}");
    // Another archive claiming version 1.0.0 under an alias is refused too: the version is
    // already the first archive.
    let rebuilt = sherpack_archive("web", "1.0.0", 200);
    let other = upload_chart_blobs(oci, repo, &rebuilt).await;
    let r = oci.put_manifest(repo, "prod", OCI_MANIFEST, &other).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("MANIFEST_INVALID") && body.contains(&format!("version 1.0.0 is already the archive {}", digest(&archive))), "{body}");
    // The same archive in a manifest written another way (a client that re-serialises it) is
    // the same version: an alias.
    let reformatted = serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()).unwrap();
    assert_ne!(digest(&reformatted), digest(&manifest));
    assert_eq!(oci.put_manifest(repo, "reformatted", OCI_MANIFEST, &reformatted).await.status(), 201);
    assert_eq!(get_json(oci, "/api/acme/charts/web/1.0.0").await["aliases"], serde_json::json!(["copied", "latest", "reformatted", "stable"]));
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/reformatted"))).send().await.unwrap().status(), 202);
    // A new version pushed under an alias only: its pack record is its version.
    let next = sherpack_archive("web", "1.1.0", 100);
    let next_manifest = upload_chart_blobs(oci, repo, &next).await;
    assert_eq!(oci.put_manifest(repo, "next", OCI_MANIFEST, &next_manifest).await.status(), 201);
    assert_eq!(get_json(oci, "/api/acme/charts/web/1.1.0").await["aliases"], serde_json::json!(["next"]));
    let tags = get_json(oci, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["1.0.0", "copied", "latest", "next", "stable"]), "nothing of the refusals stayed");
    // Deleting an alias leaves the version.
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/copied"))).send().await.unwrap().status(), 202);
    assert_eq!(get_json(oci, "/api/acme/charts/web/1.0.0").await["aliases"], serde_json::json!(["latest", "stable"]));
    let r = oci.http.get(oci.url("/acme/charts/web-1.0.0.tgz")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), archive.as_slice());
    // A chart manifest without a tag at all still records its version (unchanged behaviour).
    let third = sherpack_archive("web", "1.2.0", 100);
    let third_manifest = upload_chart_blobs(oci, repo, &third).await;
    assert_eq!(oci.put_manifest(repo, &digest(&third_manifest), OCI_MANIFEST, &third_manifest).await.status(), 201);
    assert!(get_json(oci, "/api/acme/charts/web/1.2.0").await.get("aliases").is_none());
}

on_both_databases!(unknown_references, sha512_end_to_end, non_distributable_layers, chart_aliases);
