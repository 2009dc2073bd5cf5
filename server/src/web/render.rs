//! Turning what packs carry into safe HTML: the README (Markdown → HTML, then sanitised:
//! scripts, event handlers and `javascript:` links removed, relative images dropped, heading
//! anchors prefixed), YAML with syntax highlighting, and the values schema as table rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Prefix of every id the README brings, so it cannot clobber the page's own.
const ID_PREFIX: &str = "readme-";

pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A heading's anchor: lowercase words joined by `-`.
fn slug(text: &str) -> String {
    let mut slug = String::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_lowercase());
    }
    if slug.is_empty() { "section".to_owned() } else { slug }
}

fn is_absolute(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The README as sanitised HTML, and its headings (level, anchor, text) for a table of contents.
#[must_use]
pub fn markdown(source: &str) -> (String, Vec<(u8, String, String)>) {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_FOOTNOTES;
    let mut events = Vec::new();
    let mut headings = Vec::new();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut heading: Option<(HeadingLevel, Vec<Event>, String)> = None;
    let mut code: Option<(String, String)> = None;
    let mut skipped_image = 0usize;
    for event in Parser::new_ext(source, options) {
        if let Some((language, text)) = &mut code {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let class = if language.is_empty() { String::new() } else { format!(" class=\"language-{}\"", escape(language)) };
                    let body = code_html(language, text);
                    events.push(Event::Html(CowStr::from(format!("<pre><code{class}>{body}</code></pre>\n"))));
                    code = None;
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or_default().to_ascii_lowercase(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((language, String::new()));
            }
            // Relative images point into an archive the browser cannot reach: dropped, alt text kept.
            Event::Start(Tag::Image { ref dest_url, .. }) if !is_absolute(dest_url) => skipped_image += 1,
            Event::End(TagEnd::Image) if skipped_image > 0 => skipped_image -= 1,
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, Vec::new(), String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, inner, text)) = heading.take() {
                    let base = slug(&text);
                    let n = used.entry(base.clone()).or_default();
                    let anchor = if *n == 0 { base.clone() } else { format!("{base}-{n}") };
                    *n += 1;
                    let number = level as u8;
                    let mut html = String::new();
                    pulldown_cmark::html::push_html(&mut html, inner.into_iter());
                    events.push(Event::Html(CowStr::from(format!(
                        "<h{number} id=\"{ID_PREFIX}{anchor}\"><a class=\"anchor\" href=\"#{ID_PREFIX}{anchor}\" aria-hidden=\"true\">#</a>{html}</h{number}>\n"
                    ))));
                    headings.push((number, format!("{ID_PREFIX}{anchor}"), text));
                }
            }
            other => {
                if let Some((_, inner, text)) = &mut heading {
                    if let Event::Text(t) | Event::Code(t) = &other {
                        text.push_str(t);
                    }
                    inner.push(other);
                } else {
                    events.push(other);
                }
            }
        }
    }
    let mut html = String::with_capacity(source.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    (sanitise(&html), headings)
}

/// A one-line description (a schema's, say) as inline Markdown: code, emphasis, links; block
/// structure is flattened and everything else escaped or removed.
#[must_use]
pub fn inline_markdown(text: &str) -> String {
    static INLINE: std::sync::LazyLock<ammonia::Builder<'static>> = std::sync::LazyLock::new(|| {
        let mut b = ammonia::Builder::empty();
        b.add_tags(["code", "em", "strong", "del", "a"])
            .add_tag_attributes("a", ["href"])
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .link_rel(Some("noopener noreferrer nofollow"));
        b
    });
    let events = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).filter_map(|e| match e {
        Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::List(_) | Tag::Item | Tag::BlockQuote(_))
        | Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::List(_) | TagEnd::Item | TagEnd::BlockQuote(_)) => None,
        Event::SoftBreak | Event::HardBreak | Event::Rule => Some(Event::Text(CowStr::from(" "))),
        other => Some(other),
    });
    let mut html = String::with_capacity(text.len() + 16);
    pulldown_cmark::html::push_html(&mut html, events);
    INLINE.clean(html.trim()).to_string()
}

/// Everything a README may not do, removed: scripts, styles, event handlers, forms, frames,
/// `javascript:` and `data:` links. Links open without the page's referrer.
fn sanitise(html: &str) -> String {
    let heading_attributes: std::collections::HashSet<&str> = ["id"].into_iter().collect();
    let mut builder = ammonia::Builder::default();
    builder
        .add_tag_attributes("h1", heading_attributes.iter().copied())
        .add_tag_attributes("h2", heading_attributes.iter().copied())
        .add_tag_attributes("h3", heading_attributes.iter().copied())
        .add_tag_attributes("h4", heading_attributes.iter().copied())
        .add_tag_attributes("h5", heading_attributes.iter().copied())
        .add_tag_attributes("h6", heading_attributes.iter().copied())
        .add_tag_attributes("a", ["class", "aria-hidden"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("span", ["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tags(["input"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        // Relative paths point into an archive the browser cannot reach; anchors stay.
        .url_relative(ammonia::UrlRelative::Custom(Box::new(keep_anchors)))
        .link_rel(Some("noopener noreferrer nofollow"));
    scrollable(&with_alt_text(&builder.clean(html).to_string()))
}

/// Tables and code blocks scroll sideways when wider than the page: focusable, so a keyboard
/// scrolls them too. (Sanitised HTML: a `<` in text is escaped, so these are tags.)
fn scrollable(html: &str) -> String {
    html.replace("<table", "<table tabindex=\"0\"").replace("<pre", "<pre tabindex=\"0\"")
}

fn keep_anchors(url: &str) -> Option<std::borrow::Cow<'_, str>> {
    url.starts_with('#').then_some(std::borrow::Cow::Borrowed(url))
}

/// Every image gets an `alt` (empty when the README gave none: decorative, for screen readers).
fn with_alt_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    let mut rest = html;
    while let Some(start) = rest.find("<img") {
        let end = rest[start..].find('>').map_or(rest.len(), |e| start + e);
        out.push_str(&rest[..end]);
        if !rest[start..end].contains(" alt=") {
            out.push_str(" alt=\"\"");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Code, escaped, and highlighted for the languages READMEs show most.
fn code_html(language: &str, text: &str) -> String {
    match language {
        "yaml" | "yml" => yaml(text),
        "json" | "jsonc" => json_like(text),
        "sh" | "bash" | "shell" | "console" | "shell-session" | "zsh" => shell(text),
        _ => escape(text),
    }
}

fn span(class: &str, text: &str) -> String {
    format!("<span class=\"{class}\">{}</span>", escape(text))
}

/// JSON: keys, strings, numbers and literals.
fn json_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
            let literal: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            out.push_str(&span(if is_key { "k" } else { "s" }, &literal));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-' | '+')) {
                i += 1;
            }
            out.push_str(&span("n", &chars[start..i].iter().collect::<String>()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(word.as_str(), "true" | "false" | "null") { out.push_str(&span("b", &word)) } else { out.push_str(&escape(&word)) }
        } else {
            out.push_str(&escape(&c.to_string()));
            i += 1;
        }
    }
    out
}

/// Shell: prompts, comments and quoted strings.
fn shell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let (content, comment) = split_comment(body);
        let (prompt, command) = content.strip_prefix("$ ").map_or(("", content), |c| ("$ ", c));
        if !prompt.is_empty() {
            out.push_str(&span("c", prompt));
        }
        let mut rest = command;
        while let Some(start) = rest.find(['"', '\'']) {
            let quote = rest[start..].chars().next().unwrap_or('"');
            out.push_str(&escape(&rest[..start]));
            let end = rest[start + 1..].find(quote).map_or(rest.len(), |e| start + e + 2);
            out.push_str(&span("s", &rest[start..end]));
            rest = &rest[end..];
        }
        out.push_str(&escape(rest));
        if !comment.is_empty() {
            out.push_str(&span("c", comment));
        }
        out.push_str(newline);
    }
    out
}

/// YAML with keys, strings, numbers, booleans and comments in `<span class>`es, escaped.
#[must_use]
pub fn yaml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let (content, comment) = split_comment(body);
        let indent = content.len() - content.trim_start().len();
        out.push_str(&content[..indent]);
        let rest = &content[indent..];
        let (marker, rest) = rest.strip_prefix("- ").map_or(("", rest), |r| ("- ", r));
        out.push_str(marker);
        match key_split(rest) {
            Some((key, value)) => {
                let _ = write!(out, "<span class=\"k\">{}</span>:", escape(key));
                let spaces = value.len() - value.trim_start().len();
                out.push_str(&value[..spaces]);
                out.push_str(&scalar(value[spaces..].trim_end()));
                out.push_str(&value[spaces + value[spaces..].trim_end().len()..]);
            }
            None => out.push_str(&scalar(rest)),
        }
        if !comment.is_empty() {
            let _ = write!(out, "<span class=\"c\">{}</span>", escape(comment));
        }
        out.push_str(newline);
    }
    out
}

/// YAML, highlighted, each line in a `<span class="line">` (numbered by the stylesheet, so the
/// numbers are neither copied nor found by search-in-page).
#[must_use]
pub fn yaml_lines(text: &str) -> String {
    numbered(text, yaml)
}

fn numbered(text: &str, highlight: fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() * 2 + text.len() / 2);
    for line in text.lines() {
        out.push_str("<span class=\"line\">");
        out.push_str(&highlight(line));
        out.push_str("</span>\n");
    }
    out
}

/// A template (Helm's `{{ }}`, Jinja's `{% %}` and `{# #}` around YAML), numbered: template
/// actions marked, the YAML between them highlighted.
#[must_use]
pub fn template(text: &str) -> String {
    numbered(text, template_line)
}

fn template_line(line: &str) -> String {
    let next_action = |s: &str| ["{{", "{%", "{#"].iter().filter_map(|open| s.find(open)).min();
    if next_action(line).is_none() {
        return yaml(line);
    }
    let mut out = String::with_capacity(line.len() * 2);
    let mut rest = line;
    let mut first = true;
    while let Some(start) = next_action(rest) {
        let close = match &rest[start..start + 2] {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        // What leads up to the first action is YAML (`key: {{ ... }}`).
        out.push_str(&if first { yaml(&rest[..start]) } else { escape(&rest[..start]) });
        first = false;
        let end = rest[start + 2..].find(close).map_or(rest.len(), |e| start + 2 + e + 2);
        out.push_str(&span("t", &rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(&escape(rest));
    out
}

/// A line split before a `#` comment that is not inside quotes.
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if c == '#' && previous.is_whitespace() {
            return (&line[..i], &line[i..]);
        }
        previous = c;
    }
    (line, "")
}

/// `key: value` → (key, ": value" without the colon), for a plain or quoted key.
fn key_split(text: &str) -> Option<(&str, &str)> {
    let end = if text.starts_with('"') || text.starts_with('\'') {
        let quote = text.chars().next()?;
        text[1..].find(quote)? + 2
    } else {
        text.find(':').filter(|i| text[..*i].chars().all(|c| c.is_alphanumeric() || "-_./ ".contains(c)))?
    };
    let after = text.get(end..)?;
    let value = after.strip_prefix(':')?;
    (value.is_empty() || value.starts_with(' ')).then_some((&text[..end], value))
}

fn scalar(value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let class = if value.starts_with('"') || value.starts_with('\'') {
        "s"
    } else if matches!(value, "true" | "false" | "null" | "~" | "yes" | "no") {
        "b"
    } else if value.parse::<f64>().is_ok() {
        "n"
    } else if value.starts_with('|') || value.starts_with('>') || value.starts_with('{') || value.starts_with('[') || value.starts_with('&') || value.starts_with('*') {
        "p"
    } else {
        "s"
    };
    format!("<span class=\"{class}\">{}</span>", escape(value))
}

#[cfg(test)]
mod tests {
    use super::{inline_markdown, markdown, template, yaml};

    #[test]
    fn readme_scripts_handlers_and_javascript_links_are_removed() {
        let (html, _) = markdown(
            "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n\n<a href=\"JaVaScRiPt:alert(4)\">x</a>\n\n<iframe src=\"https://evil\"></iframe>\n",
        );
        for bad in ["<script", "onerror", "href=\"javascript", "<iframe", "alert(1)"] {
            assert!(!html.to_lowercase().contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("click"), "the link text stays: {html}");
        assert!(html.contains("<img alt=\"\">") || html.contains("<img alt=\"\"/>") || !html.contains("src=\"x\""), "relative image source gone, alt added: {html}");
    }

    #[test]
    fn headings_get_prefixed_anchors_and_tables_and_code_render() {
        let (html, headings) = markdown("# Install\n\n## Install\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```yaml\nkey: \"v\" # note\n```\n\n![logo](logo.png) ![badge](https://example.com/b.svg)\n");
        assert!(html.contains("id=\"readme-install\"") && html.contains("id=\"readme-install-1\""), "{html}");
        assert_eq!(headings[0], (1, "readme-install".to_owned(), "Install".to_owned()));
        assert!(html.contains("<table tabindex=\"0\">") && html.contains("<td>1</td>"), "{html}");
        assert!(html.contains("<span class=\"k\">key</span>"), "{html}");
        assert!(!html.contains("logo.png") && html.contains("logo"), "relative image dropped, alt kept: {html}");
        assert!(html.contains("https://example.com/b.svg"));
    }

    #[test]
    fn yaml_is_highlighted_and_escaped() {
        let html = yaml("replicas: 3 # how many\nimage:\n  tag: \"<latest>\"\n  pull: true\nlist:\n- a: 1\n");
        assert!(html.contains("<span class=\"k\">replicas</span>: <span class=\"n\">3</span> <span class=\"c\"># how many</span>"), "{html}");
        assert!(html.contains("<span class=\"s\">&quot;&lt;latest&gt;&quot;</span>"), "{html}");
        assert!(html.contains("<span class=\"b\">true</span>"));
        assert!(html.contains("- <span class=\"k\">a</span>"));
    }

    #[test]
    fn json_and_shell_are_highlighted() {
        let json = super::json_like("{\"replicas\": 3, \"name\": \"<x>\", \"on\": true}");
        assert!(json.contains("<span class=\"k\">&quot;replicas&quot;</span>: <span class=\"n\">3</span>"), "{json}");
        assert!(json.contains("<span class=\"s\">&quot;&lt;x&gt;&quot;</span>") && json.contains("<span class=\"b\">true</span>"), "{json}");
        let sh = super::shell("$ helm install x \"a b\" # go\n");
        assert_eq!(sh, "<span class=\"c\">$ </span>helm install x <span class=\"s\">&quot;a b&quot;</span> <span class=\"c\"># go</span>\n");
    }

    #[test]
    fn numbered_lines_and_templates() {
        let html = super::yaml_lines("a: 1\nb: x\n");
        assert_eq!(html, "<span class=\"line\"><span class=\"k\">a</span>: <span class=\"n\">1</span></span>\n<span class=\"line\"><span class=\"k\">b</span>: <span class=\"s\">x</span></span>\n");
        let t = template("name: {{ .Values.name | quote }}\n{%- if x %}<b>\n");
        assert!(t.contains("<span class=\"t\">{{ .Values.name | quote }}</span>"), "{t}");
        assert!(t.contains("<span class=\"t\">{%- if x %}</span>&lt;b&gt;"), "{t}");
        assert!(t.starts_with("<span class=\"line\"><span class=\"k\">name</span>:"), "{t}");
    }

    #[test]
    fn inline_markdown_keeps_only_inline_formatting() {
        assert_eq!(inline_markdown("Use `replicas` for **more** pods"), "Use <code>replicas</code> for <strong>more</strong> pods");
        let bad = inline_markdown("<script>x()</script> [a](javascript:y) # not a heading\n\n- not a list");
        assert!(!bad.contains("<script") && !bad.contains("x()") && !bad.contains("href") && !bad.contains("<li") && !bad.contains("<h1"), "{bad}");
    }
}
