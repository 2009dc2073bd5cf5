//! The browser UI: server-rendered pages (askama templates in `web-templates/templates`), the
//! stylesheet and script embedded in the binary, under `/` and `/-/...` (a path no namespace
//! can take). Every page reads through the same authorization as the APIs: a private pack is
//! never rendered for someone who may not read it. Pages carry a Content-Security-Policy
//! without inline scripts.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_core::auth::{Action, Principal};

use crate::AppState;
use crate::auth::Caller;
use crate::packs::search::{Facets, Hit, Request, Sort};
use crate::routes::ClientAddress;

mod pack;
pub mod render;
mod schema;

const CSS: &str = include_str!("../../../web-templates/static/app.css");
const JS: &str = include_str!("../../../web-templates/static/app.js");
/// Results per search page.
const PAGE: usize = 20;
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/-/search", get(search))
        .route("/-/packs/{namespace}/{name}", get(pack::readme))
        .route("/-/packs/{namespace}/{name}/{view}", get(pack::view))
        // Artifact Hub's shape of a package page, which `sherpack search hub` prints.
        .route("/packages/{kind}/{namespace}/{name}", get(artifact_hub_page))
        .route("/-/ns/{namespace}", get(namespace))
        .route("/-/static/{file}", get(asset))
        .route("/-/{*rest}", get(not_found))
}

/// The pack page's address, which the search APIs give as the place to look.
#[must_use]
pub fn pack_url(base: &str, namespace: &str, name: &str) -> String {
    format!("{base}/-/packs/{namespace}/{name}")
}

async fn artifact_hub_page(Path((_kind, namespace, name)): Path<(String, String, String)>) -> Response {
    axum::response::Redirect::permanent(&pack_url("", &namespace, &name)).into_response()
}

/// What every page's frame shows.
struct Layout {
    query: String,
    version: &'static str,
    asset_version: String,
    /// The header's search box (the home page has its own, larger one).
    searchbox: bool,
}

impl Layout {
    fn new(query: &str) -> Self {
        Self { query: query.to_owned(), version: env!("CARGO_PKG_VERSION"), asset_version: asset_version(), searchbox: true }
    }
}

/// A short fingerprint of the embedded assets, so browsers may cache them for good.
fn asset_version() -> String {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| registry_core::Digest::of(format!("{CSS}{JS}").as_bytes()).hex()[..10].to_owned()).clone()
}

/// A search result as a card shows it.
struct Card {
    name: String,
    namespace: String,
    version: String,
    description: String,
    kind: String,
    kind_label: &'static str,
    signed: bool,
    deprecated: bool,
    app_version: Option<String>,
    icon: Option<String>,
    initials: String,
    hue: u8,
    updated_iso: String,
    updated_text: String,
}

fn kind_label(kind: &str) -> &'static str {
    if kind == "sherpack" { "Sherpack" } else { "Helm chart" }
}

fn date(millis: i64) -> (String, String) {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    let iso = humantime::format_rfc3339_seconds(at).to_string();
    let day = iso.get(..10).unwrap_or_default().to_owned();
    let ago = std::time::SystemTime::now().duration_since(at).unwrap_or_default().as_secs();
    let text = match ago {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", ago / 60),
        3600..86_400 => format!("{} h ago", ago / 3600),
        86_400..2_592_000 => format!("{} days ago", ago / 86_400),
        _ => day,
    };
    (iso, text)
}

impl From<&Hit> for Card {
    fn from(h: &Hit) -> Self {
        let (updated_iso, updated_text) = date(h.updated);
        let (initials, hue) = pack::initials(&h.name);
        Self {
            app_version: h.app_version.clone(),
            icon: web_url(h.icon.as_deref()),
            initials,
            hue,
            name: h.name.clone(),
            namespace: h.namespace.clone(),
            version: h.version.clone(),
            description: h.description.clone().unwrap_or_default(),
            kind: h.kind.clone(),
            kind_label: kind_label(&h.kind),
            signed: h.signed(),
            deprecated: h.deprecated,
            updated_iso,
            updated_text,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    packs: usize,
    versions: usize,
    namespaces: Vec<String>,
    recent: Vec<Card>,
    host: String,
}

struct FacetOption {
    label: String,
    count: u64,
    href: String,
    active: bool,
}

struct FacetGroup {
    title: &'static str,
    options: Vec<FacetOption>,
}

struct SortLink {
    label: &'static str,
    href: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    hits: Vec<Card>,
    total: usize,
    facets: Vec<FacetGroup>,
    sorts: Vec<SortLink>,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "namespace.html")]
struct NamespacePage {
    layout: Layout,
    namespace: String,
    repo_url: String,
    hits: Vec<Card>,
    mirror: Option<MirrorLine>,
}

/// A mirror namespace's source and last sync, as its page shows them.
struct MirrorLine {
    source: String,
    /// `never`, or the time of the last sync (UTC).
    last_sync: String,
    /// `succeeded`, `failed` or `pending`.
    outcome: String,
    message: String,
}

impl MirrorLine {
    fn of(m: registry_core::jobs::Mirror) -> Self {
        let last_sync = m.last_sync_at.and_then(|at| u64::try_from(at).ok()).map_or_else(
            || "never".to_owned(),
            |ms| humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string(),
        );
        Self { source: m.source_url, last_sync, outcome: m.last_outcome.unwrap_or_else(|| "pending".into()), message: m.last_message.unwrap_or_default() }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: String,
    message: String,
}

/// A page, or an error page with its status.
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "There is no such page or pack here, or it is not yours to see.")
    }
}

impl From<registry_core::store::StoreError> for PageError {
    fn from(e: registry_core::store::StoreError) -> Self {
        if let Some(backend) = crate::routes::unavailable::store(&e) {
            crate::routes::unavailable::log(backend, &e);
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, "The registry cannot reach its database right now. Try again in a moment.");
        }
        tracing::error!("page failed: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Try again in a moment.")
    }
}

impl From<crate::storage::StoreBlobError> for PageError {
    fn from(e: crate::storage::StoreBlobError) -> Self {
        match e {
            crate::storage::StoreBlobError::Store(e) => e.into(),
            crate::storage::StoreBlobError::Blob(registry_core::blob::BlobError::NotFound(_)) => Self::not_found(),
            crate::storage::StoreBlobError::Blob(e) if crate::routes::unavailable::blob(&e).is_some() => {
                crate::routes::unavailable::log("storage", &e);
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "The registry cannot reach its storage right now. Try again in a moment.")
            }
            e => {
                tracing::error!("page failed: {e}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Try again in a moment.")
            }
        }
    }
}

impl From<crate::routes::helm::RepoError> for PageError {
    fn from(e: crate::routes::helm::RepoError) -> Self {
        Self::new(e.status(), e.message().to_owned())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found".to_owned(),
            StatusCode::UNAUTHORIZED => "Sign in to see this".to_owned(),
            StatusCode::BAD_REQUEST => "That request is not right".to_owned(),
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts".to_owned(),
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable".to_owned(),
            _ => "Something went wrong".to_owned(),
        };
        let page = ErrorPage { layout: Layout::new(""), title, message: self.message };
        let mut response = html(self.status, &page);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"sherpack-registry\""));
        }
        crate::routes::unavailable::add_retry_after(&mut response);
        response
    }
}

type PageResult = Result<Response, PageError>;

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => {
            tracing::error!("rendering a page failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed").into_response()
        }
    }
}

async fn caller(state: &AppState, headers: &HeaderMap, address: Option<std::net::IpAddr>) -> Result<Caller, PageError> {
    Ok(crate::routes::helm::caller(state, headers, address).await?)
}

/// Read rights on a namespace: 401 (with a Basic challenge, so a browser asks) to anonymous
/// callers, 404 to those who may not see it.
async fn require_read(state: &AppState, caller: &Caller, namespace: &str) -> Result<(), PageError> {
    if state.auth.permissions(&caller.principal, namespace).await?.allows(Action::Pull) {
        Ok(())
    } else if caller.principal == Principal::Anonymous {
        Err(PageError::new(StatusCode::UNAUTHORIZED, "This namespace is private: sign in with an account that may read it."))
    } else {
        Err(PageError::not_found())
    }
}

fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Only `http(s)` links from a pack reach a page.
fn web_url(url: Option<&str>) -> Option<String> {
    url.map(str::trim).filter(|u| {
        let lower = u.to_ascii_lowercase();
        (lower.starts_with("https://") || lower.starts_with("http://")) && !u.contains(char::is_whitespace)
    }).map(str::to_owned)
}

async fn home(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress) -> PageResult {
    let caller = caller(&state, &headers, a).await?;
    let namespaces = crate::routes::search::readable_namespaces(&state, &caller).await?;
    let versions = state.index.version_count(state.meta.as_ref(), &namespaces).await?;
    let mut request = Request::new("", namespaces.clone());
    request.sort = Sort::LastUpdated;
    request.limit = 8;
    let results = state.index.search(state.meta.as_ref(), request).await?;
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let host = base.split("://").nth(1).unwrap_or_default().to_owned();
    let layout = Layout { searchbox: false, ..Layout::new("") };
    let page = HomePage { layout, packs: results.total, versions, namespaces, recent: results.hits.iter().map(Card::from).collect(), host };
    Ok(html(StatusCode::OK, &page))
}

/// The search page's state, to build links that change one thing.
#[derive(Clone, Default)]
struct Filters {
    q: String,
    kind: Option<String>,
    ns: Option<String>,
    deprecated: bool,
    signed: bool,
    sort: Option<String>,
    page: usize,
}

impl Filters {
    fn parse(query: Option<&str>) -> Result<Self, PageError> {
        let mut f = Self { page: 1, ..Self::default() };
        for (key, value) in pairs(query) {
            match key.as_str() {
                "q" => f.q = value.chars().take(1024).collect(),
                "kind" if value == "helm" || value == "sherpack" => f.kind = Some(value),
                "ns" if !value.is_empty() => f.ns = Some(value),
                "deprecated" => f.deprecated = value == "true",
                "signed" => f.signed = value == "true",
                "sort" if matches!(value.as_str(), "relevance" | "last_updated" | "name") => f.sort = Some(value),
                "page" => f.page = value.parse::<usize>().ok().filter(|p| (1..=5_000).contains(p)).ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "page must be a number from 1"))?,
                _ => {}
            }
        }
        Ok(f)
    }

    fn href(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            out.append_pair("q", &self.q);
        }
        for (key, value) in [("kind", &self.kind), ("ns", &self.ns), ("sort", &self.sort)] {
            if let Some(v) = value {
                out.append_pair(key, v);
            }
        }
        if self.deprecated {
            out.append_pair("deprecated", "true");
        }
        if self.signed {
            out.append_pair("signed", "true");
        }
        if self.page > 1 {
            out.append_pair("page", &self.page.to_string());
        }
        format!("/-/search?{}", out.finish())
    }

    fn with(&self, change: impl FnOnce(&mut Self)) -> String {
        let mut next = self.clone();
        next.page = 1;
        change(&mut next);
        next.href()
    }
}

fn facet_groups(f: &Filters, facets: &Facets) -> Vec<FacetGroup> {
    let kinds = facets
        .kinds
        .iter()
        .map(|(kind, count)| {
            let active = f.kind.as_deref() == Some(kind);
            FacetOption { label: kind_label(kind).to_owned(), count: *count, active, href: f.with(|n| n.kind = (!active).then(|| kind.clone())) }
        })
        .collect();
    let namespaces = facets
        .namespaces
        .iter()
        .map(|(ns, count)| {
            let active = f.ns.as_deref() == Some(ns);
            FacetOption { label: ns.clone(), count: *count, active, href: f.with(|n| n.ns = (!active).then(|| ns.clone())) }
        })
        .collect();
    let flags = vec![
        FacetOption { label: "Signed only".to_owned(), count: facets.signed, active: f.signed, href: f.with(|n| n.signed = !f.signed) },
        FacetOption { label: "Include deprecated".to_owned(), count: facets.deprecated, active: f.deprecated, href: f.with(|n| n.deprecated = !f.deprecated) },
    ];
    vec![
        FacetGroup { title: "Kind", options: kinds },
        FacetGroup { title: "Namespace", options: namespaces },
        FacetGroup { title: "Status", options: flags },
    ]
}

async fn search(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress, RawQuery(query): RawQuery) -> PageResult {
    let caller = caller(&state, &headers, a).await?;
    let f = Filters::parse(query.as_deref())?;
    let readable = crate::routes::search::readable_namespaces(&state, &caller).await?;
    let mut request = Request::new(&f.q, readable.clone());
    request.facets = true;
    request.limit = PAGE;
    request.offset = (f.page - 1) * PAGE;
    request.kinds = f.kind.iter().cloned().collect();
    if let Some(ns) = &f.ns {
        request.namespaces.retain(|n| n == ns);
    }
    request.deprecated = if f.deprecated { None } else { Some(false) };
    request.signed = f.signed.then_some(true);
    request.sort = match f.sort.as_deref() {
        Some("last_updated") => Sort::LastUpdated,
        Some("name") => Sort::Name,
        None if f.q.trim().is_empty() => Sort::LastUpdated,
        _ => Sort::Relevance,
    };
    let active_sort = request.sort;
    let results = state.index.search(state.meta.as_ref(), request).await?;
    let pages = results.total.div_ceil(PAGE).max(1);
    let sorts = [("Relevance", "relevance", Sort::Relevance), ("Recently updated", "last_updated", Sort::LastUpdated), ("Name", "name", Sort::Name)]
        .into_iter()
        .map(|(label, key, sort)| SortLink { label, active: sort == active_sort, href: f.with(|n| n.sort = Some(key.to_owned())) })
        .collect();
    let page = SearchPage {
        layout: Layout::new(&f.q),
        hits: results.hits.iter().map(Card::from).collect(),
        total: results.total,
        facets: facet_groups(&f, &results.facets.unwrap_or_default()),
        sorts,
        page: f.page,
        pages,
        previous: (f.page > 1).then(|| {
            let mut p = f.clone();
            p.page -= 1;
            p.href()
        }),
        next: (f.page < pages).then(|| {
            let mut p = f.clone();
            p.page += 1;
            p.href()
        }),
    };
    Ok(html(StatusCode::OK, &page))
}

async fn namespace(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress, Path(namespace): Path<String>) -> PageResult {
    let caller = caller(&state, &headers, a).await?;
    require_read(&state, &caller, &namespace).await?;
    let mut request = Request::new("", vec![namespace.clone()]);
    request.sort = Sort::Name;
    request.limit = 1000;
    let results = state.index.search(state.meta.as_ref(), request).await?;
    let mirror = state.auth.store().mirror(&namespace).await?.map(MirrorLine::of);
    if results.hits.is_empty() && mirror.is_none() && !state.index.namespaces(state.meta.as_ref()).await?.contains(&namespace) {
        return Err(PageError::not_found());
    }
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let page = NamespacePage { layout: Layout::new(""), repo_url: format!("{base}/{namespace}"), namespace, hits: results.hits.iter().map(Card::from).collect(), mirror };
    Ok(html(StatusCode::OK, &page))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return PageError::not_found().into_response(),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn not_found() -> Response {
    PageError::not_found().into_response()
}
