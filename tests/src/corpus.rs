//! A corpus of packs with realistic metadata for the benchmarks: names, descriptions and
//! keywords drawn from a vocabulary of real chart words, and READMEs of install-and-configure
//! prose; and the query mix the search benchmarks send.

pub const WORDS: &[&str] = &[
    "redis", "postgres", "mysql", "mariadb", "mongodb", "cassandra", "kafka", "rabbitmq", "nats", "pulsar", "elasticsearch",
    "opensearch", "kibana", "grafana", "prometheus", "loki", "tempo", "jaeger", "zipkin", "fluentd", "fluentbit", "vector",
    "nginx", "traefik", "haproxy", "envoy", "istio", "linkerd", "cilium", "calico", "coredns", "externaldns", "certmanager",
    "vault", "consul", "keycloak", "dex", "oauth2", "argo", "flux", "tekton", "jenkins", "gitlab", "gitea", "harbor",
    "minio", "velero", "longhorn", "rook", "ceph", "etcd", "zookeeper", "clickhouse", "influxdb", "timescale", "memcached",
    "valkey", "keydb", "dragonfly", "spark", "airflow", "jupyter", "mlflow", "kubeflow", "ray", "superset", "metabase",
    "wordpress", "drupal", "ghost", "nextcloud", "mattermost", "rocketchat", "sentry", "posthog", "plausible", "matomo",
    "operator", "exporter", "controller", "gateway", "proxy", "agent", "collector", "dashboard", "backup", "scheduler",
    "webhook", "adapter", "stack", "cluster", "ha", "standalone", "lite", "enterprise", "community", "cloud", "edge",
    "ingress", "mesh", "storage", "cache", "queue", "stream", "search", "metrics", "logs", "traces", "alerts", "secrets",
    "policy", "registry", "runner", "builder", "cdn", "dns", "tls", "auth", "sso", "api", "ui", "worker",
];

/// The words READMEs are mostly made of: how charts are installed and configured.
pub const PROSE: &[&str] = &[
    "install", "installing", "upgrade", "uninstall", "configure", "configuration", "parameter", "parameters", "value", "values",
    "default", "defaults", "release", "namespace", "service", "services", "deployment", "pod", "pods", "replica", "replicas",
    "container", "image", "tag", "repository", "pull", "secret", "configmap", "volume", "persistence", "storageclass",
    "resources", "limits", "requests", "cpu", "memory", "probe", "liveness", "readiness", "port", "ports", "annotation",
    "labels", "selector", "affinity", "tolerations", "node", "nodes", "rbac", "serviceaccount", "role", "binding", "network",
    "networkpolicy", "hostname", "domain", "certificate", "chart", "charts", "version", "versions", "requirements",
    "prerequisites", "kubernetes", "cluster", "command", "example", "examples", "following", "table", "lists", "section",
    "documentation", "support", "license", "contributing", "changelog", "notes", "troubleshooting", "enable", "disable",
    "enabled", "disabled", "set", "override", "file", "files", "yaml", "using", "use", "run", "runs", "running", "start",
    "stop", "restart", "update", "updates", "create", "created", "delete", "deleted", "check", "status", "logs", "debug",
    "production", "development", "testing", "high", "availability", "scaling", "autoscaling", "horizontal", "vertical",
    "backup", "restore", "snapshot", "migration", "database", "user", "users", "password", "credentials", "token", "access",
    "external", "internal", "endpoint", "endpoints", "url", "path", "route", "load", "balancer", "traffic", "connection",
    "timeout", "retry", "interval", "schedule", "job", "cronjob", "init", "sidecar", "operator", "custom", "resource",
];

#[must_use]
pub fn word(i: usize) -> &'static str {
    WORDS[i % WORDS.len()]
}

/// The name of pack `i`: two vocabulary words, and a number once the pairs run out.
#[must_use]
pub fn name(i: usize) -> String {
    let n = WORDS.len();
    let base = format!("{}-{}", word(i), word(i / n + i % 7 + 1));
    if i < n * n { base } else { format!("{base}-{}", i / (n * n)) }
}

/// The metadata (`PackMeta` JSON) of pack `i` at `version`: description, keywords, maintainer
/// and annotation drawn from the vocabulary, and a README of `readme_words` words of prose that
/// mention the pack's own words and two related tools.
#[must_use]
pub fn metadata(pack: &str, version: &str, i: usize, readme_words: usize) -> String {
    let (a, b, c) = (word(i * 7 + 3), word(i * 13 + 5), word(i * 17 + 11));
    let prose = (0..readme_words).map(|k| PROSE[(i * 31 + k * 17) % PROSE.len()]);
    let readme: String = prose.chain([a, b, word(i * 19 + 7), word(i * 23 + 1)]).collect::<Vec<_>>().join(" ");
    serde_json::json!({
        "kind": if i.is_multiple_of(5) { "sherpack" } else { "helm" },
        "name": pack,
        "version": version,
        "api_version": "v2",
        "app_version": format!("{}.{}", i % 7, i % 13),
        "description": format!("Deploys {} with {a} and {b} on Kubernetes, with {c} support", pack.replace('-', " ")),
        "keywords": [a, b, c],
        "maintainers": [{ "name": format!("{} team", word(i * 3)), "email": "team@example.com" }],
        "annotations": { "category": word(i * 5) },
        "deprecated": i.is_multiple_of(50),
        "chart_type": "application",
        "readme": format!("# {pack}\n\n{readme}\n"),
    })
    .to_string()
}

/// The search query mix: one word, several words, prefixes, typos.
pub const ONE_WORD: &[&str] = &["redis", "prometheus", "gateway", "backup", "keycloak", "storage", "ingress", "kafka"];
pub const MULTI_WORD: &[&str] = &["postgres operator", "grafana dashboard metrics", "nginx ingress controller", "vault secrets", "kafka stream cluster"];
pub const PREFIX: &[&str] = &["prom", "elast", "cert", "ingr", "rabb", "post"];
pub const TYPO: &[&str] = &["prometeus", "elasticsaerch", "postgress", "grafanna", "rabitmq", "kubeflw"];
