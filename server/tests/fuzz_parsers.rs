//! Property-based fuzzing of every parser that sees untrusted input: repository names,
//! references, digests, OCI paths, manifests, pack archives and their Chart.yaml / Pack.yaml. In the suite each property runs its default
//! number of cases; `FUZZ_SECONDS=N` keeps generating for N seconds per property (see
//! `bench/fuzz.sh`, which records the long run under `bench/results/`).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use registry_core::manifest;
use registry_core::{Digest, Reference, RepoName};
use sherpack_registry::routes::oci::path;

/// Runs `property` over `strategy`: the default case count, or until `FUZZ_SECONDS` elapse.
fn fuzz<S: Strategy>(name: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seconds: Option<u64> = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    let Some(seconds) = seconds else {
        TestRunner::new(Config::default()).run(&strategy, &property).unwrap();
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut cases: u64 = 0;
    let mut round = 0u64;
    while Instant::now() < deadline {
        let config = Config {
            cases: 2_000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(round),
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config).run(&strategy, &property).unwrap_or_else(|e| panic!("{name}: {e}"));
        cases += 2_000;
        round += 1;
    }
    // The process's peak memory so far: archive reading is capped, so it stays flat.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map_or("?", str::trim).to_owned();
    println!("fuzz {name}: {cases} cases in {seconds} s, no failure, peak memory {peak}");
}

/// Strings over the alphabet that matters to names and paths, plus anything at all.
fn path_like() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("/"), Just("."), Just(".."), Just("_"), Just("-"), Just("__"), Just("a"), Just("Z"), Just("0"),
        Just("%2F"), Just("blobs"), Just("uploads"), Just("manifests"), Just("tags/list"), Just("referrers"), Just("sha256:"),
    ];
    prop_oneof![proptest::collection::vec(pieces, 0..24).prop_map(|parts| parts.concat()), any::<String>()]
}

#[test]
fn repository_names() {
    fuzz("names", path_like(), |s| {
        if let Ok(name) = s.parse::<RepoName>() {
            prop_assert_eq!(name.as_str(), s.as_str());
            prop_assert!(s.len() <= 255);
            prop_assert!(s.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".."));
            prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)));
        }
        Ok(())
    });
}

#[test]
fn references_and_digests() {
    let digest_like = prop_oneof![
        "sha256:[0-9a-fA-F]{60,68}".prop_map(String::from),
        "[a-z0-9+._-]{0,10}:[a-z0-9]{0,70}".prop_map(String::from),
        any::<String>(),
    ];
    fuzz("references", digest_like, |s| {
        match Reference::parse(&s) {
            Ok(Reference::Digest(d)) => {
                prop_assert_eq!(d.to_string(), s.clone());
                prop_assert_eq!(s.parse::<Digest>().unwrap(), d);
            }
            Ok(Reference::Tag(t)) => {
                prop_assert!(registry_core::reference::is_valid_tag(&t));
                prop_assert!(!t.contains(':') && !t.contains('/'));
            }
            Err(_) => {}
        }
        Ok(())
    });
}

#[test]
fn oci_paths() {
    fuzz("paths", path_like(), |s| {
        if let Ok(endpoint) = path::parse(&s) {
            let name = match &endpoint {
                path::Endpoint::Base | path::Endpoint::Catalog => return Ok(()),
                path::Endpoint::Tags(n) | path::Endpoint::UploadStart(n) => n,
                path::Endpoint::Manifest(n, last)
                | path::Endpoint::Blob(n, last)
                | path::Endpoint::Upload(n, last)
                | path::Endpoint::Referrers(n, last) => {
                    prop_assert!(!last.is_empty() && !last.contains('/'));
                    n
                }
            };
            prop_assert!(s.starts_with(name.as_str()), "the name is a prefix of the path");
        }
        Ok(())
    });
}

/// JSON documents shaped like manifests, with fields that are right, wrong or missing.
fn manifest_like() -> impl Strategy<Value = Vec<u8>> {
    let digest = prop_oneof![Just(Digest::of(b"x").to_string()), "sha256:[0-9a-f]{64}".prop_map(String::from), any::<String>()];
    let descriptor = (any::<String>(), digest, any::<i64>())
        .prop_map(|(media_type, digest, size)| serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size }));
    let media_type = prop_oneof![
        Just(manifest::OCI_MANIFEST.to_owned()),
        Just(manifest::OCI_INDEX.to_owned()),
        Just(manifest::DOCKER_MANIFEST.to_owned()),
        any::<String>(),
    ];
    (
        proptest::option::of(media_type),
        proptest::option::of(prop_oneof![Just(2i64), any::<i64>()]),
        proptest::option::of(descriptor.clone()),
        proptest::option::of(proptest::collection::vec(descriptor.clone(), 0..4)),
        proptest::option::of(proptest::collection::vec(descriptor.clone(), 0..4)),
        proptest::option::of(descriptor),
    )
        .prop_map(|(media_type, schema, config, layers, manifests, subject)| {
            let mut doc = serde_json::Map::new();
            for (k, v) in [
                ("mediaType", media_type.map(serde_json::Value::from)),
                ("schemaVersion", schema.map(serde_json::Value::from)),
                ("config", config),
                ("layers", layers.map(serde_json::Value::from)),
                ("manifests", manifests.map(serde_json::Value::from)),
                ("subject", subject),
            ] {
                if let Some(v) = v {
                    doc.insert(k.to_owned(), v);
                }
            }
            serde_json::to_vec(&doc).unwrap()
        })
}

#[test]
fn manifests() {
    let content_type =
        proptest::option::of(prop_oneof![Just(manifest::OCI_MANIFEST.to_owned()), Just(manifest::OCI_INDEX.to_owned()), any::<String>()]);
    let body = prop_oneof![manifest_like(), proptest::collection::vec(any::<u8>(), 0..256)];
    fuzz("manifests", (body, content_type), |(body, content_type)| {
        if let Ok(parsed) = manifest::parse(&body, content_type.as_deref()) {
            let is_index = parsed.media_type == manifest::OCI_INDEX || parsed.media_type == manifest::DOCKER_MANIFEST_LIST;
            prop_assert!(is_index || !parsed.references.is_empty(), "an image manifest references its config");
        }
        Ok(())
    });
}

/// Limits small enough that every case hits them quickly.
fn small_limits() -> registry_core::pack::Limits {
    registry_core::pack::Limits { max_archive_bytes: 1 << 20, max_unpacked_bytes: 256 << 10, max_entries: 64, max_file_bytes: 64 << 10 }
}

/// `tar_gz` over owned entries.
fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    sherpack_test_support::fixtures::tar_gz(&borrowed)
}

const GOOD_CHART: &str = "apiVersion: v2\nname: web\nversion: 1.2.3\ndescription: d\nkeywords: [a, b]\n";

/// Valid archives with bytes flipped, cut short, or extended: the reader refuses or reads,
/// never panics, and what it reads respects the limits.
#[test]
fn pack_archives_mutated() {
    let base = tar_gz(&[("web/Chart.yaml".into(), GOOD_CHART.as_bytes().to_vec()), ("web/values.yaml".into(), b"a: 1\n".to_vec())]);
    let mutations = proptest::collection::vec((0..base.len(), any::<u8>()), 0..8);
    fuzz("pack archives mutated", (mutations, 0..=base.len(), proptest::collection::vec(any::<u8>(), 0..64)), |(flips, cut, tail)| {
        let mut data = base.clone();
        for (at, byte) in flips {
            data[at] = byte;
        }
        data.truncate(cut.max(1));
        data.extend(tail);
        if let Ok(meta) = registry_core::pack::read(&data, &small_limits()) {
            prop_assert!(meta.values.as_ref().is_none_or(|v| v.len() <= 64 << 10));
            prop_assert!(semver::Version::parse(&meta.version).is_ok());
        }
        Ok(())
    });
}

/// Arbitrary entries (paths with `..`, absolute paths, many files, large files) and arbitrary
/// Chart.yaml / Pack.yaml text inside well-formed archives.
#[test]
fn pack_archives_generated() {
    let path = prop_oneof![
        Just("web/Chart.yaml".to_owned()),
        Just("Pack.yaml".to_owned()),
        Just("web/templates/a.yaml".to_owned()),
        Just("../evil".to_owned()),
        Just("/abs".to_owned()),
        Just("web/../../x".to_owned()),
        "[a-zA-Z0-9_./-]{1,40}",
    ];
    let yaml_like = prop_oneof![
        Just(GOOD_CHART.to_owned()),
        Just("apiVersion: sherpack/v1\nmetadata:\n  name: web\n  version: 1.0.0\n".to_owned()),
        "[a-zA-Z0-9:\\[\\]{}, \n\"'|>&*!%@#.-]{0,200}",
        any::<String>(),
    ];
    let entry = (path, prop_oneof![yaml_like.prop_map(String::into_bytes), proptest::collection::vec(any::<u8>(), 0..4096)]);
    fuzz("pack archives generated", proptest::collection::vec(entry, 0..12), |entries| {
        let data = tar_gz(&entries);
        if let Ok(meta) = registry_core::pack::read(&data, &small_limits()) {
            prop_assert!(registry_core::pack::is_valid_pack_name(&meta.name));
            let unsafe_path = |p: &str| p.starts_with('/') || p.split('/').any(|segment| segment == "..");
            prop_assert!(!entries.iter().any(|(p, _)| unsafe_path(p)), "unsafe path accepted: {entries:?}");
        }
        Ok(())
    });
}
