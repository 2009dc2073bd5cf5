//! The values schema (JSON Schema, in JSON or YAML) as a nested table: one row per property,
//! depth-first, indented by depth, with its title, type, default, whether it is required and
//! its description as inline Markdown. Array items' properties nest under `name[]`.

use std::fmt::Write as _;

use super::render::{escape, inline_markdown};

/// Deepest nesting shown.
const MAX_DEPTH: usize = 8;

/// One property of the values schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    /// The dotted path (`image.tag`, `extraEnv[].name`).
    pub path: String,
    /// The last segment of the path, as shown indented.
    pub key: String,
    pub depth: usize,
    pub title: String,
    pub kind: String,
    pub default: String,
    /// Sanitised inline HTML.
    pub description_html: String,
    pub required: bool,
}

/// The schema's properties as rows, at most `limit`; and whether some were left out.
#[must_use]
pub fn rows(schema: &str, limit: usize) -> (Vec<SchemaRow>, bool) {
    let value: serde_json::Value = serde_json::from_str(schema).or_else(|_| serde_saphyr::from_str(schema)).unwrap_or_default();
    let mut rows = Vec::new();
    let complete = walk(&value, "", &mut rows, limit, 0);
    (rows, !complete)
}

fn kind_of(property: &serde_json::Value) -> String {
    match property.get("type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(" | "),
        _ if property.get("enum").is_some() => "enum".to_owned(),
        _ if property.get("properties").is_some() => "object".to_owned(),
        _ => String::new(),
    }
}

/// Adds the properties of `node`; false when the limit stopped it.
fn walk(node: &serde_json::Value, path: &str, rows: &mut Vec<SchemaRow>, limit: usize, depth: usize) -> bool {
    let Some(properties) = node.get("properties").and_then(|p| p.as_object()) else { return true };
    if depth > MAX_DEPTH {
        return true;
    }
    let required: Vec<&str> = node.get("required").and_then(|r| r.as_array()).map(|r| r.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    for (name, property) in properties {
        if rows.len() >= limit {
            return false;
        }
        let full = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        let text = |key: &str| property.get(key).and_then(|d| d.as_str()).unwrap_or_default();
        rows.push(SchemaRow {
            path: full.clone(),
            key: name.clone(),
            depth,
            title: text("title").to_owned(),
            kind: kind_of(property),
            default: property.get("default").map(ToString::to_string).unwrap_or_default(),
            description_html: inline_markdown(text("description")),
            required: required.contains(&name.as_str()),
        });
        if !walk(property, &full, rows, limit, depth + 1) {
            return false;
        }
        if let Some(items) = property.get("items")
            && !walk(items, &format!("{full}[]"), rows, limit, depth + 1)
        {
            return false;
        }
    }
    true
}

/// The rows as the `<tbody>` of the schema table (rendered once per pack and kept).
#[must_use]
pub fn table_body(rows: &[SchemaRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 200);
    for row in rows {
        let _ = write!(out, "<tr><td class=\"depth-{}\"><code title=\"{}\">{}</code>", row.depth.min(MAX_DEPTH), escape(&row.path), escape(&row.key));
        if row.required {
            out.push_str(" <span class=\"req\" title=\"required\">required</span>");
        }
        let _ = write!(out, "</td><td>{}</td><td>", escape(&row.kind));
        if !row.default.is_empty() {
            let _ = write!(out, "<code>{}</code>", escape(&row.default));
        }
        out.push_str("</td><td>");
        if !row.title.is_empty() {
            let _ = write!(out, "<strong>{}</strong>", escape(&row.title));
            if !row.description_html.is_empty() {
                out.push_str("<br>");
            }
        }
        out.push_str(&row.description_html);
        out.push_str("</td></tr>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{rows, table_body};

    #[test]
    fn properties_nest_with_titles_markdown_and_items() {
        let schema = r#"{"properties":{
            "replicas":{"type":"integer","default":1,"description":"Pods to run, see `replicaCount`"},
            "image":{"title":"Container image","description":"Where the image comes from","properties":{"tag":{"type":"string"}}},
            "env":{"type":"array","items":{"properties":{"name":{"type":"string"}}}}},
            "required":["replicas"]}"#;
        let (rows, truncated) = rows(schema, 100);
        assert!(!truncated);
        let paths: Vec<(&str, usize)> = rows.iter().map(|r| (r.path.as_str(), r.depth)).collect();
        assert_eq!(paths, [("env", 0), ("env[].name", 1), ("image", 0), ("image.tag", 1), ("replicas", 0)]);
        assert_eq!(rows[2].kind, "object", "an object without a type says what it is");
        assert_eq!(rows[2].title, "Container image");
        assert_eq!(rows[2].description_html, "Where the image comes from");
        assert!(rows[4].required && rows[4].default == "1");
        assert_eq!(rows[4].description_html, "Pods to run, see <code>replicaCount</code>");
        let html = table_body(&rows);
        assert!(html.contains("<td class=\"depth-1\"><code title=\"image.tag\">tag</code>"), "{html}");
        assert!(html.contains("<strong>Container image</strong><br>Where the image comes from"), "{html}");
    }

    #[test]
    fn the_limit_says_rows_were_left_out() {
        let (rows, truncated) = rows(r#"{"properties":{"a":{},"b":{},"c":{}}}"#, 2);
        assert_eq!((rows.len(), truncated), (2, true));
    }
}
