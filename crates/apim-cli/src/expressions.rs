//! Load-time checks of a document's policy expressions: each one is compiled as the gateway will compile
//! it, and whatever stops it (C# syntax, a type or member outside APIM's allow-list, a construct apim-emu
//! cannot run yet, a sandbox limit) becomes a diagnostic at the XML line:col.

use std::collections::HashMap;

use apim_expr::{Engine, ErrorKind};
use apim_policy::ExprSource;
use apim_source::{Code, Diagnostic};

/// Compiles every expression; named values are substituted first when supplied. An expression whose named
/// values are missing is checked only if it compiles without them (their absence is reported as P023).
pub fn check(
    engine: &Engine,
    expressions: &[ExprSource],
    named_values: &HashMap<String, String>,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for source in expressions {
        let resolved = source.resolve(named_values);
        let expr = resolved.as_ref().unwrap_or(source);
        let Err(error) = engine.compile(&expr.text) else {
            continue;
        };
        if resolved.is_none() {
            continue;
        }
        let span = expr.span_of(error.range.clone());
        if error.kind == ErrorKind::Syntax
            && let Some(placeholder) = placeholder_at(&expr.text, &error.range)
        {
            diagnostics.push(
                Diagnostic::warning(
                    Code::TemplatePlaceholder,
                    format!("expression holds the template placeholder `{{{placeholder}}}`"),
                    span,
                    "not C# until filled in",
                )
                .with_help("fill in the placeholder before deploying; apim-emu checks the expression once it is there"),
            );
            continue;
        }
        let diagnostic = match error.kind {
            ErrorKind::Syntax => Diagnostic::error(
                Code::ExpressionSyntax,
                format!("invalid policy expression: {}", error.message),
                span,
                "here",
            )
            .with_help(
                "APIM compiles expressions as C# when the policy is saved; fix the C# syntax",
            ),
            ErrorKind::Refused => Diagnostic::error(
                Code::ExpressionMemberNotAllowed,
                error.message.clone(),
                span,
                "not allowed in policy expressions",
            )
            .with_help(
                "APIM allows only the .NET types and members listed in docs/expressions.md; \
                 Azure rejects the policy when it is saved",
            ),
            ErrorKind::Unsupported => Diagnostic::warning(
                Code::ExpressionUnsupported,
                format!("apim-emu cannot run this expression yet: {}", error.message),
                span,
                "not supported by apim-emu",
            )
            .with_help(
                "APIM may accept it, but `apim-emu serve` and `apim-emu test` refuse the policy; \
                 please report it with the expression",
            ),
            ErrorKind::Limit => Diagnostic::error(
                Code::ExpressionTooComplex,
                error.message.clone(),
                span,
                "limit reached here",
            )
            .with_help("split the expression, or move parts into variables with `set-variable`"),
        };
        diagnostics.push(diagnostic);
    }
    diagnostics
}

/// A deployment tool's `{kebab-case}` placeholder (never a C# interpolation hole: C# names have no `-`)
/// around or just before a syntax error.
fn placeholder_at<'t>(text: &'t str, error: &std::ops::Range<usize>) -> Option<&'t str> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|at| at + from) {
        let close = open + 1 + text[open + 1..].find('}')?;
        let name = &text[open + 1..close];
        let kebab = name.contains('-')
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if kebab && error.start >= open && error.start <= close + 1 {
            return Some(name);
        }
        from = open + 1;
    }
    None
}
