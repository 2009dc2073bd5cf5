//! A generated chart as large as the big charts of public collections (a README of about
//! 100 KiB with parameter tables, notes, code and a 20-column table; a `values.yaml` of more
//! than 2,000 lines; a schema of several hundred nested properties; templates full of template
//! actions), written from scratch, for the browser tests and the web benchmark.

use std::fmt::Write as _;

use crate::fixtures::{PackSpec, spec_archive};

/// Sections of the chart, each with parameters in the README, values and schema.
const SECTIONS: [&str; 24] = [
    "global", "image", "auth", "primary", "readReplicas", "backup", "metrics", "networkPolicy", "persistence", "volumePermissions",
    "serviceAccount", "rbac", "psp", "tls", "ldap", "shmVolume", "audit", "diagnosticMode", "service", "ingress", "resources",
    "podSecurityContext", "containerSecurityContext", "sidecars",
];
/// Parameters per section.
const PARAMETERS: usize = 16;

/// The icon URL of the large pack: one the page may not load (another port of the loopback,
/// which the Content-Security-Policy refuses), so the fallback shows.
pub const MISSING_ICON: &str = "http://127.0.0.1:9/icon.png";

pub struct LargePack {
    pub readme: String,
    pub values: String,
    pub schema: String,
    pub templates: Vec<(String, String)>,
}

fn parameter(section: &str, i: usize) -> (String, String, String) {
    let name = format!("{section}.option{i}");
    let description = format!(
        "Configures option {i} of the {section} component; see the `{section}` section of the upstream documentation for how it interacts with the other settings of this chart"
    );
    let value = match i % 5 {
        0 => "[]".to_owned(),
        1 => "{}".to_owned(),
        2 => "\"\"".to_owned(),
        3 => "true".to_owned(),
        _ => format!("{}", i * 10),
    };
    (name, description, value)
}

fn readme() -> String {
    let mut out = String::from("<!--- app-name: Large -->\n\n# Large chart packaged for testing\n\nA generated chart whose README is as long as the big ones of public collections.\n\n");
    out.push_str("> **Note:** this chart is a fixture; the parameters below configure nothing real.\n\n");
    out.push_str("## TL;DR\n\n```console\nhelm install my-release oci://registry.example.com/charts/large --set auth.enablePostgresUser=true --set primary.persistence.size=100Gi\n```\n\n");
    out.push_str("## Introduction\n\nThis chart bootstraps a deployment on a Kubernetes cluster using the Helm package manager. It also packages optional components (metrics exporters, backup jobs, read replicas) that are disabled by default.\n\n");
    out.push_str("### Prerequisites\n\n- Kubernetes 1.23+\n- Helm 3.8.0+\n- PV provisioner support in the underlying infrastructure\n\n#### A fourth-level heading\n\nText under it.\n\n##### A fifth-level heading\n\nText under it.\n\n###### A sixth-level heading\n\nText under it.\n\n");
    out.push_str("## Compatibility matrix\n\n");
    let columns: Vec<String> = (1..=20).map(|c| format!("Kubernetes{c}")).collect();
    let _ = writeln!(out, "| {} |", columns.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(20));
    for row in 0..6 {
        let cells: Vec<&str> = (1..=20).map(|c| if (row + c) % 7 == 0 { "Unsupported" } else { "Supported" }).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\n## Parameters\n\n");
    for section in SECTIONS {
        let _ = write!(out, "### {section} parameters\n\n| Name | Description | Value |\n| ---- | ----------- | ----- |\n");
        for i in 0..PARAMETERS {
            let (name, description, value) = parameter(section, i);
            let _ = writeln!(out, "| `{name}` | {description} | `{value}` |");
        }
        let _ = write!(
            out,
            "\n> Tip: the {section} values can be overridden in a file passed with `-f`.\n\n```yaml\n{section}:\n  option1: {{}}\n  option4: 40 # a comment\n  option3: true\n```\n\n"
        );
    }
    out.push_str("## Upgrading\n\nEach major version lists its breaking changes.\n\n");
    for major in (1..=40).rev() {
        let _ = write!(
            out,
            "### To {major}.0.0\n\nThis major version changes the default image and renames several parameters. Back up your data before upgrading, and read the notes about the {} section.\n\n",
            SECTIONS[major % SECTIONS.len()]
        );
    }
    out
}

fn values() -> String {
    let mut out = String::from("# Default values for the large chart.\n# This is a YAML-formatted file.\n\n");
    for section in SECTIONS {
        let _ = writeln!(out, "## @section {section} parameters\n##\n{section}:");
        for i in 0..PARAMETERS {
            let (_, description, value) = parameter(section, i);
            let _ = writeln!(out, "  ## @param {section}.option{i} {description}");
            let _ = writeln!(out, "  ##");
            let _ = writeln!(out, "  option{i}: {value}");
            if i % 3 == 0 {
                let _ = writeln!(out, "  nested{i}:\n    enabled: false\n    annotations: {{}}\n    labels:\n      app.kubernetes.io/component: {section}\n    # a very long line that keeps going so that it has to scroll inside its box rather than widen the page: {}", "x".repeat(160));
            }
        }
        out.push('\n');
    }
    out
}

fn schema() -> String {
    let mut properties = serde_json::Map::new();
    for section in SECTIONS {
        let mut inner = serde_json::Map::new();
        for i in 0..PARAMETERS {
            let (_, description, value) = parameter(section, i);
            let default: serde_json::Value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let mut p = serde_json::json!({ "description": description, "default": default, "type": match i % 5 { 0 => "array", 1 => "object", 2 => "string", 3 => "boolean", _ => "integer" } });
            if i % 4 == 0 {
                p["title"] = format!("Option {i}").into();
                p["properties"] = serde_json::json!({
                    "enabled": { "type": "boolean", "description": "Turns it on" },
                    "labels": { "type": "object", "description": "Extra labels, as `key: value`", "properties": { "app.kubernetes.io/component": { "type": "string" } } },
                });
            }
            inner.insert(format!("option{i}"), p);
        }
        properties.insert(
            section.to_owned(),
            serde_json::json!({ "type": "object", "title": format!("{section} parameters"), "description": format!("Settings of the **{section}** component"), "properties": inner }),
        );
    }
    serde_json::to_string_pretty(&serde_json::json!({ "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": properties })).unwrap()
}

fn templates() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for section in SECTIONS.iter().take(12) {
        let mut t = String::new();
        let _ = write!(
            t,
            "{{{{- if .Values.{section}.option3 }}}}\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{{{ include \"large.fullname\" . }}}}-{section}\n  labels: {{{{- include \"large.labels\" . | nindent 4 }}}}\nspec:\n  replicas: {{{{ .Values.{section}.option4 }}}}\n  template:\n    spec:\n      containers:\n        - name: {section}\n          image: {{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}\n          # a long comment line that must scroll inside its box and not widen the page at all, whatever the screen: {}\n{{{{- end }}}}\n",
            "y".repeat(120)
        );
        out.push((format!("templates/{}.yaml", section.to_lowercase()), t));
    }
    out.push(("templates/_helpers.tpl".to_owned(), "{{- define \"large.fullname\" -}}\n{{ .Release.Name }}-large\n{{- end }}\n".to_owned()));
    out
}

impl LargePack {
    #[must_use]
    pub fn new() -> Self {
        Self { readme: readme(), values: values(), schema: schema(), templates: templates() }
    }

    /// The chart's archive, named `name`, at `version`.
    #[must_use]
    pub fn archive(&self, name: &str, version: &str) -> Vec<u8> {
        let mut files: Vec<(&str, &str)> = vec![("values.schema.json", self.schema.as_str())];
        files.extend(self.templates.iter().map(|(p, c)| (p.as_str(), c.as_str())));
        spec_archive(&PackSpec {
            helm: true,
            description: "A generated chart as large as the big ones of public collections",
            keywords: &["database", "large"],
            maintainers: &["Fixture Team"],
            readme: Some(&self.readme),
            values: Some(&self.values),
            files: &files,
            icon: Some(MISSING_ICON),
            app_version: Some("17.2.0"),
            ..PackSpec::new(name, version)
        })
    }
}

impl Default for LargePack {
    fn default() -> Self {
        Self::new()
    }
}
