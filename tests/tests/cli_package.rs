//! `sherpack package`, `sign`, `verify`, `keygen`, shell completions, where the CLI keeps its
//! files, and usage errors: offline commands, no server needed.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use sherpack_test_support::cli::{Sherpack, write_pack};
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// (path, mode, mtime, uid) of an entry.
type Entry = (String, u32, u64, u64);

/// Every entry, and the text of `MANIFEST` if present.
fn entries(archive: &Path) -> (Vec<Entry>, Option<String>) {
    let data = std::fs::read(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
    let mut out = Vec::new();
    let mut manifest = None;
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let h = e.header();
        out.push((path.clone(), h.mode().unwrap(), h.mtime().unwrap(), h.uid().unwrap()));
        if path == "MANIFEST" {
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            manifest = Some(text);
        }
    }
    (out, manifest)
}

#[test]
fn packages_are_reproducible_in_the_upstream_layouts() {
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = write_pack(w, "web", "1.0.0", "", "", false);
    std::fs::write(dir.join("notes.bak"), "scratch").unwrap();
    std::fs::write(dir.join(".sherpackignore"), "# editor files\n*.bak\n").unwrap();
    let first = cli.ok(&["package", dir.to_str().unwrap(), "-d", w.join("one").to_str().unwrap()]);
    // Touch every file: new mtimes must not change a byte.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for f in ["Pack.yaml", "values.yaml", "templates/cm.yaml"] {
        let text = std::fs::read(dir.join(f)).unwrap();
        std::fs::write(dir.join(f), text).unwrap();
    }
    let second = cli.ok(&["package", dir.to_str().unwrap(), "-d", w.join("two").to_str().unwrap()]);
    let (a, b) = (Path::new(first.trim()), Path::new(second.trim()));
    assert_eq!(a.file_name().unwrap(), "web-1.0.0.tgz");
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "same tree, same bytes");

    let (list, manifest) = entries(a);
    let paths: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(paths, vec!["MANIFEST", ".sherpackignore", "Pack.yaml", "README.md", "templates/cm.yaml", "values.yaml"], "no top directory, MANIFEST first, sorted, ignored files left out");
    assert!(list.iter().all(|e| e.1 == 0o644 && e.2 == 0 && e.3 == 0), "{list:?}");
    let manifest = manifest.unwrap();
    assert!(manifest.starts_with("sherpack-manifest-version: 1\nname: web\nversion: 1.0.0\n"), "{manifest}");
    let pack_yaml = std::fs::read(dir.join("Pack.yaml")).unwrap();
    assert!(manifest.contains(&format!("Pack.yaml {}", sherpack_test_support::oci::digest(&pack_yaml))), "{manifest}");
    assert!(manifest.contains("[digest]\nsha256:"), "{manifest}");

    // A Helm chart keeps its top directory, and helm itself accepts the archive.
    let chart = write_pack(w, "api", "0.3.0", "", "", true);
    let out = cli.ok(&["package", chart.to_str().unwrap(), "-d", w.join("charts").to_str().unwrap()]);
    let (list, manifest) = entries(Path::new(out.trim()));
    assert!(manifest.is_none());
    assert!(list.iter().all(|e| e.0.starts_with("api/")), "{list:?}");
    let home = tempfile::tempdir().unwrap();
    let rendered = run_ok(helm_command(&tools::helm(), home.path()).args(["template", "x"]).arg(out.trim()));
    assert!(String::from_utf8_lossy(&rendered.stdout).contains("name: api"));

    // Not a pack directory, a symbolic link: refused, nothing written.
    let err = cli.fails(&["package", w.join("one").to_str().unwrap(), "-d", w.join("three").to_str().unwrap()], 8);
    assert!(err.contains("neither Pack.yaml nor Chart.yaml"), "{err}");
    std::os::unix::fs::symlink("/etc/passwd", dir.join("templates/link.yaml")).unwrap();
    let err = cli.fails(&["package", dir.to_str().unwrap(), "-d", w.join("three").to_str().unwrap()], 8);
    assert!(err.contains("symbolic links"), "{err}");
    assert!(!w.join("three").exists());
}

#[test]
fn sign_and_verify_offline() {
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let d = w.to_str().unwrap();
    cli.ok(&["keygen", "-d", d]);
    let err = cli.fails(&["keygen", "-d", d], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::metadata(w.join("sherpack.key")).unwrap().permissions().mode() & 0o777, 0o600);
    cli.ok(&["keygen", "--name", "other", "-d", d]);
    let dir = write_pack(w, "web", "1.0.0", "", "", false);
    let out = cli.ok(&["package", dir.to_str().unwrap(), "-d", d, "--sign", w.join("sherpack.key").to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    let (archive, sig) = (lines[0], lines[1]);
    assert_eq!(sig, format!("{archive}.minisig"));
    let text = std::fs::read_to_string(sig).unwrap();
    assert!(text.contains("trusted comment: sherpack:web v1.0.0 digest:"), "{text}");

    let public = w.join("sherpack.pub");
    let p = public.to_str().unwrap();
    cli.ok(&["verify", archive, "--key", p]);
    // The key as base64 works too (what the registry's key API takes).
    let b64 = std::fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_owned();
    cli.ok(&["verify", archive, "--key", &b64]);
    let err = cli.fails(&["verify", archive, "--key", w.join("other.pub").to_str().unwrap()], 6);
    assert!(err.contains("does not verify"), "{err}");
    // A changed archive fails verification.
    let tampered = w.join("web-tampered.tgz");
    let mut data = std::fs::read(archive).unwrap();
    let n = data.len();
    data[n - 5] ^= 0xff;
    std::fs::write(&tampered, &data).unwrap();
    std::fs::copy(sig, w.join("web-tampered.tgz.minisig")).unwrap();
    let run = cli.run(&["verify", tampered.to_str().unwrap(), "--key", p]);
    assert!(run.code == 6 || run.code == 8, "a tampered archive is refused: {} {}", run.code, run.stderr);
    // No signature next to it.
    std::fs::remove_file(sig).unwrap();
    let err = cli.fails(&["verify", archive, "--key", p], 4);
    assert!(err.contains("sherpack sign"), "{err}");
    let err = cli.fails(&["verify", archive, "--key", "not-a-key"], 2);
    assert!(err.contains("neither a minisign public key"), "{err}");
}

#[test]
fn configuration_paths_completions_and_usage_errors() {
    let cli = Sherpack::new();
    // XDG_CONFIG_HOME decides where files go when SHERPACK_CONFIG_HOME is unset.
    let xdg = cli.home.path().join("xdg");
    let out = cli.command().env_remove("SHERPACK_CONFIG_HOME").env("XDG_CONFIG_HOME", &xdg).args(["repo", "add", "here", &format!("file://{}", cli.home.path().display())]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let repos = std::fs::read_to_string(xdg.join("sherpack/repositories.yaml")).unwrap();
    assert!(repos.contains("apiVersion: sherpack.io/v1") && repos.contains("name: here") && repos.contains("repoType: file"), "{repos}");

    let bash = cli.ok(&["completion", "bash"]);
    assert!(bash.contains("_sherpack") && bash.contains("dependency"), "bash completion names the commands");
    cli.ok(&["completion", "zsh"]);

    // Usage errors exit 2 with a message saying what is expected.
    let err = cli.fails(&["pull", "just-a-name"], 2);
    assert!(err.contains("oci://<host>/<repository> or <repo>/<name>"), "{err}");
    let err = cli.fails(&["push", "x.tgz"], 4);
    assert!(err.contains("x.tgz"), "{err}");
    let err = cli.fails(&["pull", "oci://Bad/Name"], 2);
    assert!(err.contains("not an OCI reference") || err.contains("not a valid repository name"), "{err}");
    let err = cli.fails(&["repo", "add", "x", "ftp://example"], 2);
    assert!(err.contains("http(s)://, oci://"), "{err}");
    let err = cli.fails(&["no-such-command"], 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    let err = cli.fails(&["login", "127.0.0.1:1", "-u", "me"], 2);
    assert!(err.contains("--password-stdin"), "no terminal and no password: {err}");
}
