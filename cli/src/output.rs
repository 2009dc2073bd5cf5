//! Tables for people, JSON for scripts, progress bars only on a terminal.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{Format, Global};

/// Prints `rows` as JSON, or as a table with `headers` built by `cells`.
pub fn listing<T: Serialize>(global: &Global, headers: &[&str], rows: &[T], cells: impl Fn(&T) -> Vec<String>) {
    if global.output == Format::Json {
        println!("{}", serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into()));
        return;
    }
    let table: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells.into_iter().enumerate().map(|(i, c)| if i == last { c } else { format!("{c:<w$}", w = widths[i]) }).collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in table {
        line(row);
    }
}

/// A byte progress bar on stderr, hidden with `--quiet` or when stderr is not a terminal.
pub fn progress(global: &Global, len: u64, message: &str) -> ProgressBar {
    if global.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// An informational line on stderr (silenced by `--quiet`, kept off stdout for JSON users).
pub fn info(global: &Global, text: &str) {
    if !global.quiet {
        eprintln!("{text}");
    }
}
