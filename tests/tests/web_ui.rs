//! The web UI end to end in headless Chromium: type a query, see results, filter by a facet,
//! open a pack, switch version, read its README and values, copy an install command; a README
//! with `<script>`, `onerror=` and `javascript:` links renders inert; screenshots of every page
//! at desktop and phone width (in `target/debug/web-screenshots/`); axe-core's accessibility
//! rules on every page; every view of a pack as large as real charts (README headings, notes,
//! a 20-column table, 2,000 lines of values, a large schema, templates, a missing icon) at
//! desktop and phone width. Plus, without a browser:
//! the security headers, private packs, error pages and pages without JavaScript.

use reqwest::Method;
use serde_json::Value;
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::browser::{Browser, Locator};
use sherpack_test_support::fixtures::{PackSpec, pack_archive, spec_archive};
use sherpack_test_support::large_pack::LargePack;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

const README: &str = r#"# Webapp

A web application with **batteries included**.

## Getting started

| value | meaning |
|---|---|
| `replicaCount` | pods to run |

```yaml
replicaCount: 2 # more for production
image:
  tag: "1.25"
```

![architecture](docs/architecture.png)

<script>window.__pwned = "script";</script>
<img src="x" onerror="window.__pwned = 'onerror'">
[Click me](javascript:window.__pwned='link')
<a href="JAVASCRIPT:window.__pwned='upper'">shout</a>
<iframe src="https://example.com"></iframe>
"#;

const VALUES: &str = "# Default values for webapp.\nreplicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.25\" # pinned\nservice:\n  enabled: true\n";

const SCHEMA: &str = r#"{"type":"object","required":["replicaCount"],"properties":{"replicaCount":{"type":"integer","default":1,"description":"How many pods run"},"image":{"type":"object","properties":{"tag":{"type":"string","description":"Image tag"}}}}}"#;

async fn upload(base: &str, cred: &Cred, namespace: &str, archive: Vec<u8>) {
    let r = cred.apply(reqwest::Client::new().post(format!("{base}/api/{namespace}/charts"))).body(archive).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

async fn seed(base: &str, cred: &Cred, namespace: &str) {
    for version in ["1.0.0", "1.1.0"] {
        let spec = PackSpec {
            helm: true,
            description: "A web application with batteries included",
            keywords: &["web", "http"],
            maintainers: &["Web Team"],
            readme: Some(README),
            values: Some(VALUES),
            dependencies: &[("redis", "^7.0.0", "file://../redis")],
            files: &[("values.schema.json", SCHEMA), ("templates/service.yaml", "kind: Service\n")],
            ..PackSpec::new("webapp", version)
        };
        upload(base, cred, namespace, spec_archive(&spec)).await;
    }
    upload(base, cred, namespace, pack_archive("redis", "7.0.0", "Redis key-value store for webapp caches", &["cache"], false, 0)).await;
    upload(base, cred, namespace, pack_archive("webapp-legacy", "0.9.0", "The old web application", &["web"], true, 0)).await;
}

/// A phone's screen width in CSS pixels.
const PHONE: u32 = 390;

async fn text(b: &Browser, css: &str) -> String {
    b.client.wait().for_element(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Nothing on the page is wider than the phone's screen (a phone widens its layout viewport to
/// the widest content, so the screen width is what to compare with), except inside boxes that
/// scroll on their own (code blocks, wide tables).
async fn no_horizontal_scroll(b: &Browser, page: &str, width: u32) {
    let script = format!(
        "const scrolls = (e) => {{ for (let p = e.parentElement; p; p = p.parentElement) {{ if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; }} return false; }};
         return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > {width} + 1 && !scrolls(e)).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
    );
    let wide = b.eval(&script).await;
    assert_eq!(wide, serde_json::json!([]), "{page} is wider than {width} pixels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_reads_and_installs_a_pack() {
    let server = ServerProcess::start(ServerOptions::default());
    let base = server.url.clone();
    seed(&base, &Cred::Anonymous, "charts").await;
    let b = Browser::start(1280, 900).await;

    // Home: counts, recent packs, a search box.
    b.client.goto(&format!("{base}/")).await.unwrap();
    assert!(text(&b, ".counts").await.contains("3 packs"), "{}", text(&b, ".counts").await);
    b.screenshot("home-desktop").await;

    // Autocomplete suggests names while typing.
    let input = b.client.find(Locator::Css("#home-q")).await.unwrap();
    input.send_keys("red").await.unwrap();
    b.wait_until("return [...document.querySelectorAll('#suggestions option')].some(o => o.value === 'redis')").await;

    // Type a query, see results.
    input.clear().await.unwrap();
    input.send_keys("webapp\u{E007}").await.unwrap();
    b.wait_until("return location.pathname === '/-/search'").await;
    assert!(text(&b, "#results-title").await.contains("webapp"));
    let cards: Vec<String> = titles(&b).await;
    assert_eq!(cards[0], "webapp", "{cards:?}");
    assert!(!cards.contains(&"webapp-legacy".to_owned()), "deprecated packs are hidden until asked for: {cards:?}");
    b.screenshot("search-desktop").await;

    // Filter by a facet: only Sherpack packs, then back and include deprecated ones.
    b.client.find(Locator::XPath("//a[contains(@class,'facet')][contains(., 'Include deprecated')]")).await.unwrap().click().await.unwrap();
    b.wait_until("return location.search.includes('deprecated=true')").await;
    assert!(titles(&b).await.contains(&"webapp-legacy".to_owned()));
    let sherpack = b.client.find(Locator::XPath("//a[contains(@class,'facet')][starts-with(normalize-space(.),'Sherpack')]")).await.unwrap();
    sherpack.click().await.unwrap();
    b.wait_until("return location.search.includes('kind=sherpack')").await;
    let sherpacks = titles(&b).await;
    assert!(sherpacks.contains(&"webapp-legacy".to_owned()) && !sherpacks.contains(&"webapp".to_owned()), "webapp is a Helm chart: {sherpacks:?}");
    b.client.goto(&format!("{base}/-/search?q=webapp")).await.unwrap();

    // Open the pack: the latest version and its README; each other view at its own address.
    b.client.find(Locator::LinkText("webapp")).await.unwrap().click().await.unwrap();
    b.wait_until("return location.pathname === '/-/packs/charts/webapp'").await;
    assert!(text(&b, "h1").await.contains("1.1.0"));
    let readme = text(&b, "#readme").await;
    assert!(readme.contains("Getting started") && readme.contains("batteries included"), "{readme}");
    assert!(text(&b, "#readme table").await.contains("pods to run"));
    assert_eq!(b.eval("return document.querySelectorAll('#readme pre .k').length > 0").await, Value::Bool(true), "highlighted YAML in the README");
    b.screenshot("pack-desktop").await;
    open_tab(&b, "Default values", "/-/packs/charts/webapp/values").await;
    assert!(text(&b, "#values").await.contains("replicaCount: 1"));
    assert_eq!(b.eval("return document.querySelector('#values .c').textContent").await, "# Default values for webapp.");
    open_tab(&b, "Values schema", "/-/packs/charts/webapp/schema").await;
    assert!(text(&b, "#schema").await.contains("How many pods run"));
    open_tab(&b, "Templates", "/-/packs/charts/webapp/templates").await;
    assert!(text(&b, "#templates .file-list").await.contains("templates/service.yaml"));
    assert_eq!(text(&b, "#file-text").await, "kind: Service", "the first template is open");
    open_tab(&b, "Dependencies", "/-/packs/charts/webapp/dependencies").await;
    let dependency = b.client.find(Locator::Css("#dependencies a")).await.unwrap();
    assert_eq!(dependency.attr("href").await.unwrap().as_deref(), Some("/-/packs/charts/redis"), "a dependency that lives here is linked");
    open_tab(&b, "README", "/-/packs/charts/webapp").await;

    // The README's scripts, handlers and javascript: links are inert.
    assert_eq!(b.eval("return window.__pwned === undefined").await, Value::Bool(true));
    assert_eq!(b.eval("return document.querySelectorAll('#readme script, #readme iframe, #readme [onerror]').length").await, 0);
    assert_eq!(b.eval("return [...document.querySelectorAll('#readme a')].filter(a => /^javascript:/i.test(a.getAttribute('href') || '')).length").await, 0);
    assert_eq!(b.eval("return document.querySelectorAll('#readme img[src*=\"architecture\"]').length").await, 0, "relative images are dropped");

    // Copy the install command.
    let copy = b.client.find(Locator::Css("button[data-copy='install-1']")).await.unwrap();
    copy.click().await.unwrap();
    b.wait_until("return document.querySelector(\"button[data-copy='install-1']\").textContent === 'Copied'").await;
    let command = text(&b, "#install-1").await;
    assert_eq!(command, format!("sherpack pull oci://{}/charts/webapp:1.1.0", base.trim_start_matches("http://")));

    // Switch version.
    b.client.find(Locator::Css("#version option[value='1.0.0']")).await.unwrap().click().await.unwrap();
    b.wait_until("return location.search === '?version=1.0.0'").await;
    assert!(text(&b, "h1").await.contains("1.0.0"));
    assert!(text(&b, ".badges").await.contains("not the latest version"));

    // Namespace page and a missing pack.
    b.client.goto(&format!("{base}/-/ns/charts")).await.unwrap();
    assert_eq!(titles(&b).await, ["redis", "webapp", "webapp-legacy"]);
    b.screenshot("namespace-desktop").await;
    b.client.goto(&format!("{base}/-/packs/charts/nothing")).await.unwrap();
    assert_eq!(text(&b, "h1").await, "Not found");
    b.screenshot("not-found-desktop").await;

    // Accessibility (axe-core's WCAG 2 A/AA rules: labels, contrast, alt text, landmarks...).
    for path in ["/", "/-/search?q=web", "/-/packs/charts/webapp", "/-/packs/charts/webapp/versions", "/-/ns/charts", "/-/nope"] {
        b.client.goto(&format!("{base}{path}")).await.unwrap();
        let violations = b.accessibility_violations().await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
    }
    b.close().await;

    // Phone width: every page usable without sideways scrolling.
    let phone = Browser::start(PHONE, 844).await;
    for (page, path) in [("home", "/"), ("search", "/-/search?q=web"), ("pack", "/-/packs/charts/webapp"), ("namespace", "/-/ns/charts"), ("not-found", "/-/nope")] {
        phone.client.goto(&format!("{base}{path}")).await.unwrap();
        phone.screenshot(&format!("{page}-phone")).await;
        no_horizontal_scroll(&phone, page, PHONE).await;
    }
    phone.close().await;
}

/// Follows a tab of the pack page and waits for its address.
async fn open_tab(b: &Browser, label: &str, path: &str) {
    b.client.find(Locator::XPath(&format!("//nav[@aria-label='Pack views']/a[normalize-space(.)='{label}']"))).await.unwrap().click().await.unwrap();
    b.wait_until(&format!("return location.pathname === '{path}'")).await;
    assert_eq!(text(b, ".tabs a[aria-current]").await, label);
}

async fn titles(b: &Browser) -> Vec<String> {
    let mut out = Vec::new();
    for card in b.client.find_all(Locator::Css(".card-title")).await.unwrap() {
        out.push(card.text().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_safe_private_and_work_without_javascript() {
    let t = Tenants::start(ServerOptions::default()).await;
    let base = t.server.url.clone();
    seed(&base, &Cred::admin(), "team").await;
    upload(&base, &Cred::admin(), "pub", pack_archive("hello", "1.0.0", "Hello for everyone", &["demo"], false, 0)).await;
    let http = reqwest::Client::new();
    let get = |cred: Cred, path: &str| cred.apply(http.get(format!("{base}{path}"))).send();

    // Security headers; no inline script anywhere.
    let r = get(Cred::user("rita"), "/-/packs/team/webapp").await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let page = r.text().await.unwrap().to_lowercase();
    for inline in ["<script>", " onerror=", "href=\"javascript:", "<iframe"] {
        assert!(!page.contains(inline), "{inline} in the page");
    }
    assert_eq!(page.matches("<script").count(), 1, "one script, the embedded file");

    // Private packs: anonymous callers are asked to sign in, other tenants see nothing.
    let r = get(Cred::Anonymous, "/-/packs/team/webapp").await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert!(!r.text().await.unwrap().contains("webapp"));
    for path in ["/-/packs/team/webapp", "/-/ns/team"] {
        let r = get(Cred::user("otto"), path).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("batteries"), "{path}");
    }
    for (cred, shows_team) in [(Cred::Anonymous, false), (Cred::user("otto"), false), (Cred::user("rita"), true)] {
        for path in ["/", "/-/search?q=web", "/-/search"] {
            let body = get(cred.clone(), path).await.unwrap().text().await.unwrap();
            assert_eq!(body.contains("/-/packs/team/"), shows_team, "{path}");
            assert!(body.contains("/-/packs/pub/hello") || path.contains("q=web"), "{path}");
        }
    }

    // Pages without JavaScript: the search form is a plain GET form (one on the home page), the
    // version switch too, and every view of a pack is a page of its own.
    let home = get(Cred::Anonymous, "/").await.unwrap().text().await.unwrap();
    assert!(home.contains("action=\"/-/search\" method=\"get\""));
    assert_eq!(home.matches("role=\"search\"").count(), 1, "one search box on the home page");
    assert!(home.contains("<strong>1</strong> namespace<"), "one namespace, singular");
    for (path, shows) in [
        ("/-/packs/team/webapp/values?version=1.0.0", "<span class=\"k\">replicaCount</span>"),
        ("/-/packs/team/webapp/schema", "How many pods run"),
        ("/-/packs/team/webapp/templates?file=templates/service.yaml", "Service"),
        ("/-/packs/team/webapp/dependencies", "file://../redis"),
        ("/-/packs/team/webapp/versions", "1.0.0"),
    ] {
        let r = get(Cred::user("rita"), path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains(shows) && body.contains("aria-current=\"page\""), "{path}");
    }
    let download = get(Cred::user("rita"), "/-/packs/team/webapp/values.yaml?version=1.0.0").await.unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"].to_str().unwrap().contains("webapp-1.0.0-values.yaml"));
    assert_eq!(download.text().await.unwrap(), VALUES);
    for path in ["/-/packs/team/webapp/nothing", "/-/packs/team/webapp/templates?file=templates/none.yaml", "/-/packs/team/redis/schema"] {
        assert_eq!(get(Cred::user("rita"), path).await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(get(Cred::user("otto"), "/-/packs/team/webapp/values.yaml").await.unwrap().status(), 404, "a private download stays private");
    // Artifact Hub's address of a package page (what `sherpack search hub` prints) leads here.
    let r = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(format!("{base}/packages/helm/team/webapp")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/-/packs/team/webapp");
    let pack = get(Cred::user("rita"), "/-/packs/team/webapp?version=1.0.0").await.unwrap().text().await.unwrap();
    assert!(pack.contains("<option value=\"1.0.0\" selected>"));
    assert!(pack.contains("<button type=\"submit\">Show</button>"));

    // Errors are pages, with the right status.
    let r = get(Cred::user("rita"), "/-/packs/team/webapp?version=9.9.9").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("1.1.0, 1.0.0"), "the versions that exist");
    assert_eq!(get(Cred::Anonymous, "/-/search?page=0").await.unwrap().status(), 400);
    assert_eq!(get(Cred::Anonymous, "/-/elsewhere").await.unwrap().status(), 404);
    let css = get(Cred::Anonymous, "/-/static/app.css").await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("prefers-color-scheme: dark"), "a dark theme from the system setting");

    // The page never lists what the search API would not.
    let api = t.api.expect(&Cred::user("otto"), Method::GET, "/api/v1/packages/search?ts_query_web=web", None, 200).await;
    assert!(!api.to_string().contains("team"));
}

/// The views of a pack as large as the big charts of public collections.
const LARGE_VIEWS: [(&str, &str); 6] = [
    ("readme", ""),
    ("values", "/values"),
    ("schema", "/schema"),
    ("templates", "/templates"),
    ("versions", "/versions"),
    ("template-file", "/templates?file=templates/metrics.yaml"),
];

/// The README's headings, h1 to h6, each smaller than the one before.
const HEADING_SIZES: &str = "return [1, 2, 3, 4, 5, 6].map(n => parseFloat(getComputedStyle(document.querySelector('#readme h' + n)).fontSize))";

/// Cells of the README's 20-column table whose text wraps (a word broken, or split over lines).
const WRAPPED_CELLS: &str = "const table = [...document.querySelectorAll('#readme table')].find(t => t.rows[0].cells.length === 20);
    const r = document.createRange();
    const wrapped = [...table.querySelectorAll('th, td')].filter(c => { r.selectNodeContents(c); return r.getClientRects().length > 1; }).length;
    return [table.scrollWidth > table.clientWidth, wrapped]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_pack_reads_well_in_every_view() {
    let server = ServerProcess::start(ServerOptions::default());
    let base = server.url.clone();
    let large = LargePack::new();
    assert!(large.values.lines().count() > 2_000 && large.readme.len() > 80_000, "as large as real charts");
    for version in ["17.0.0", "17.1.0"] {
        upload(&base, &Cred::Anonymous, "charts", large.archive("large", version)).await;
    }
    let pack = format!("{base}/-/packs/charts/large");

    let b = Browser::start(1280, 900).await;
    for (view, suffix) in LARGE_VIEWS {
        b.client.goto(&format!("{pack}{suffix}")).await.unwrap();
        // The icon cannot load: the generated initials show instead, never a broken image.
        b.wait_until("return document.querySelectorAll('.pack-head img').length === 0").await;
        assert_eq!(text(&b, ".pack-head .initials").await, "L");
        no_horizontal_scroll(&b, view, 1280).await;
        let violations = b.accessibility_violations().await;
        assert!(violations.is_empty(), "{view}: {violations:#?}");
        b.screenshot(&format!("large-{view}-desktop")).await;
    }

    // README: headings keep their order of size, notes carry a bar, the wide table scrolls.
    b.client.goto(&pack).await.unwrap();
    let sizes: Vec<f64> = serde_json::from_value(b.eval(HEADING_SIZES).await).unwrap();
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "h1 to h6 shrink: {sizes:?}");
    assert_ne!(b.eval("return getComputedStyle(document.querySelector('#readme blockquote')).borderLeftWidth").await, "0px", "a note has its bar");
    assert_eq!(b.eval(WRAPPED_CELLS).await, serde_json::json!([true, 0]), "the 20-column table scrolls and no cell wraps");
    assert_eq!(
        b.eval("return [...document.querySelectorAll('#readme th')].filter(th => th.textContent === 'Value').every(th => th.getBoundingClientRect().height < 2.2 * parseFloat(getComputedStyle(th).lineHeight))").await,
        Value::Bool(true),
        "the Value header stays on one line"
    );

    // Values: every line numbered, long lines scroll inside their box, copy and download.
    b.client.goto(&format!("{pack}/values")).await.unwrap();
    assert_eq!(b.eval("return document.querySelectorAll('#values .line').length").await, large.values.lines().count());
    assert_eq!(b.eval("const p = document.querySelector('#values pre'); return p.scrollWidth > p.clientWidth").await, Value::Bool(true));
    assert_eq!(b.eval("return document.getElementById('values-text').textContent").await, large.values.as_str(), "the numbers are not part of the text");
    b.client.find(Locator::Css("button[data-copy='values-text']")).await.unwrap().click().await.unwrap();
    b.wait_until("return document.querySelector(\"button[data-copy='values-text']\").textContent === 'Copied'").await;
    let href = b.eval("return document.querySelector('#values a[download]').href").await;
    let download = reqwest::get(href.as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert_eq!(download, large.values);

    // Schema: nested properties, titles, descriptions as Markdown (no raw backticks).
    b.client.goto(&format!("{pack}/schema")).await.unwrap();
    assert!(b.eval("return document.querySelectorAll('#schema tbody tr').length").await.as_u64().unwrap() > 400);
    assert!(b.eval("return document.querySelectorAll('#schema .depth-2').length").await.as_u64().unwrap() > 0, "nested properties are indented");
    assert_eq!(b.eval("return [...document.querySelectorAll('#schema tbody td:nth-child(4)')].some(td => td.textContent.includes('`'))").await, Value::Bool(false));
    assert!(text(&b, "#schema tbody").await.contains("Option 0"), "titles show");

    // Templates: another file opens at its own address, highlighted.
    b.client.goto(&format!("{pack}/templates")).await.unwrap();
    b.client.find(Locator::LinkText("templates/_helpers.tpl")).await.unwrap().click().await.unwrap();
    b.wait_until("return location.search.includes('file=templates%2F_helpers.tpl')").await;
    assert!(b.eval("return document.querySelectorAll('#file-text .t').length").await.as_u64().unwrap() >= 2);
    b.close().await;

    let phone = Browser::start(PHONE, 844).await;
    for (view, suffix) in LARGE_VIEWS {
        phone.client.goto(&format!("{pack}{suffix}")).await.unwrap();
        no_horizontal_scroll(&phone, view, PHONE).await;
        phone.screenshot(&format!("large-{view}-phone")).await;
    }
    phone.client.goto(&pack).await.unwrap();
    assert_eq!(phone.eval(WRAPPED_CELLS).await, serde_json::json!([true, 0]), "on a phone too");
    phone.close().await;
}
