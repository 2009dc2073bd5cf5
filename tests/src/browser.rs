//! Headless Chromium driven through `ChromeDriver` (Debian's `chromium` and `chromium-driver`,
//! which `scripts/test.sh` installs): a fresh browser per test, stopped when dropped, and a
//! folder for its screenshots.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::{Client, Locator};

use crate::tools::system;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `ChromeDriver` on a free loopback port and opens a headless Chromium session with
    /// a viewport of this size (below 500 pixels wide, as a phone: Chromium's windows are not
    /// that narrow, so the device is emulated).
    pub async fn start(width: u32, height: u32) -> Self {
        let port = crate::peers::free_port();
        let mut driver = Command::new(system("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (Debian package chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                panic!("chromedriver did not answer on {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut options = serde_json::json!({
            "binary": system("chromium"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                format!("--window-size={},{}", width.max(500), height),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if width < 500 {
            options["mobileEmulation"] = serde_json::json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true } });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = match fantoccini::ClientBuilder::rustls().unwrap().capabilities(capabilities).connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                panic!("no Chromium session: {e}");
            }
        };
        Self { client, driver, _profile: profile }
    }

    /// Saves a PNG of the viewport as `<name>.png` among the test artifacts; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs a script and returns its value.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns true (at most 10 s).
    pub async fn wait_until(&self, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.eval(script).await != serde_json::Value::Bool(true) {
            assert!(Instant::now() < deadline, "never true: {script}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WCAG 2 A and AA rules axe-core finds broken on the current page, one line each.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(crate::tools::axe_core()).unwrap();
        self.client.execute(&axe, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] })
                    .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }

    /// Ends the session; dropping then stops `ChromeDriver`.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where screenshots go: `SHERPACK_SCREENSHOTS_DIR`, else `web-screenshots/` beside the test
/// binaries' profile directory (`target/debug/web-screenshots`).
#[must_use]
pub fn screenshots_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SHERPACK_SCREENSHOTS_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(std::path::Path::parent).unwrap().join("web-screenshots")
}
