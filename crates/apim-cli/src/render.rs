//! Diagnostics as people read them (`path:line:col: error[P012]: …`, source line, caret, help) and as JSON.
//!
//! The only place diagnostics become text. Line and column are computed here from byte spans; columns count
//! characters, and tabs in the source line are kept so carets line up in a terminal.

use std::fmt::Write as _;

use apim_source::{Diagnostic, Label, Severity, SourceMap};
use serde_json::{Value as Json, json};

/// Whether to use ANSI colors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Renders one diagnostic in the human format.
pub fn human(diagnostic: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let mut out = String::new();
    let file = sources.file(diagnostic.primary.span.file);
    let start = file.line_col(diagnostic.primary.span.start());
    let (severity_color, caret_char) = match diagnostic.severity {
        Severity::Error => ("1;31", '^'),
        Severity::Warning => ("1;33", '^'),
        Severity::Note => ("1;36", '^'),
    };
    let head = format!("{}[{}]", diagnostic.severity.as_str(), diagnostic.code.id());
    let _ = writeln!(
        out,
        "{}:{}:{}: {}: {}",
        file.name,
        start.line,
        start.col,
        style.paint(severity_color, &head),
        style.paint("1", &diagnostic.message)
    );
    let mut labels: Vec<(&Label, char, &str)> =
        vec![(&diagnostic.primary, caret_char, severity_color)];
    labels.extend(
        diagnostic
            .secondary
            .iter()
            .map(|label| (label, '-', "1;34")),
    );
    let gutter = labels
        .iter()
        .filter_map(|(label, _, _)| sources.get(label.span.file))
        .zip(labels.iter())
        .map(|(file, (label, _, _))| file.line_col(label.span.start()).line.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(gutter);
    for (idx, (label, marker, color)) in labels.iter().enumerate() {
        let Some(label_file) = sources.get(label.span.file) else {
            continue;
        };
        let position = label_file.line_col(label.span.start());
        if idx > 0 {
            let _ = writeln!(
                out,
                "{pad}{} {}:{}:{}",
                style.paint("1;34", "-->"),
                label_file.name,
                position.line,
                position.col
            );
        }
        let line_text = label_file.line_text(position.line);
        let end = label_file.line_col(label.span.end());
        let line_chars = line_text.chars().count() as u32;
        let end_col = if end.line == position.line {
            end.col
        } else {
            line_chars + 1
        };
        let width = end_col.saturating_sub(position.col).max(1) as usize;
        let prefix: String = line_text
            .chars()
            .take(position.col as usize - 1)
            .map(|ch| if ch == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{pad} {}", style.paint("1;34", "|"));
        let _ = writeln!(
            out,
            "{} {} {}",
            style.paint("1;34", &format!("{:>gutter$}", position.line)),
            style.paint("1;34", "|"),
            line_text
        );
        let markers: String = std::iter::repeat_n(*marker, width).collect();
        let _ = writeln!(
            out,
            "{pad} {} {prefix}{}",
            style.paint("1;34", "|"),
            style.paint(color, format!("{markers} {}", label.text).trim_end())
        );
    }
    if let Some(help) = &diagnostic.help {
        let _ = writeln!(out, "{pad} {} help: {help}", style.paint("1;34", "="));
    }
    out
}

/// One diagnostic as a JSON object with 1-based positions.
pub fn json(diagnostic: &Diagnostic, sources: &SourceMap) -> Json {
    let label = |label: &Label| {
        let file = sources.file(label.span.file);
        let start = file.line_col(label.span.start());
        let end = file.line_col(label.span.end());
        json!({
            "path": file.name,
            "line": start.line,
            "col": start.col,
            "end_line": end.line,
            "end_col": end.col,
            "byte_start": label.span.start(),
            "byte_end": label.span.end(),
            "text": label.text,
        })
    };
    json!({
        "severity": diagnostic.severity.as_str(),
        "code": diagnostic.code.id(),
        "name": diagnostic.code.name(),
        "message": diagnostic.message,
        "primary": label(&diagnostic.primary),
        "secondary": diagnostic.secondary.iter().map(label).collect::<Vec<_>>(),
        "help": diagnostic.help,
    })
}
