//! `apim-emu eval`: evaluate one policy expression against a JSON context and print its value as JSON.

use anyhow::Context as _;
use apim_expr::{Context, Engine, Environment, StepOutcome};
use std::io::Write;
use std::path::PathBuf;

pub struct Options {
    pub expression: String,
    pub context: Option<PathBuf>,
    pub named_values: Vec<(String, String)>,
    pub explain: bool,
    /// `context.Variables["missing"]` throws (plain .NET) instead of returning null (Microsoft's toolkit).
    pub strict_variables: bool,
}

/// Replaces `{{name}}` references textually, as APIM does before compiling an expression.
pub fn substitute(text: &str, named: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (k, v) in named {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Line and column (1-based, columns in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    arm_template::locate::line_col(text, offset)
}

/// Runs the command; returns the exit code (0 value printed, 1 the expression failed or is invalid).
pub fn run(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let env = Environment {
        missing_variable_throws: o.strict_variables,
        ..Environment::default()
    };
    let json: serde_json::Value = match &o.context {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", path.display()))?
        }
        None => serde_json::json!({}),
    };
    let where_ = o
        .context
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the context".into());
    let ctx = Context::from_json(&json, &env).map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
    let text = substitute(o.expression.trim(), &o.named_values);
    let engine = Engine::default();
    let compiled = if o.explain {
        engine.compile_explained(&text)
    } else {
        engine.compile(&text)
    };
    let compiled = match compiled {
        Ok(c) => c,
        Err(e) => {
            let (l, c) = line_col(&text, e.range.start);
            writeln!(err, "<expression>:{l}:{c}: error: {}", e.message)?;
            return Ok(1);
        }
    };
    let result = if o.explain {
        let x = engine.explain(&compiled, &ctx, &env);
        for step in &x.steps {
            let (l, c) = line_col(&text, step.range.start);
            let src = &text[step.range.clone()];
            let src: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
            match &step.outcome {
                StepOutcome::Value(v) => writeln!(err, "{l}:{c} {:<8} {src} = {v}", step.label)?,
                StepOutcome::Threw(x) => {
                    writeln!(err, "{l}:{c} {:<8} {src} (threw {x})", step.label)?
                }
                StepOutcome::NotEvaluated => {
                    writeln!(err, "{l}:{c} {:<8} {src} (not evaluated)", step.label)?
                }
            }
        }
        x.result
    } else {
        engine.eval(&compiled, &ctx, &env)
    };
    match result {
        Ok(v) => {
            writeln!(out, "{}", v.to_json())?;
            Ok(0)
        }
        Err(e) => {
            let (l, c) = line_col(&text, e.range.start);
            writeln!(
                err,
                "{}: {}\n  at <expression>:{l}:{c}: {}",
                e.exception,
                e.message,
                &text[e.range.clone()].lines().next().unwrap_or("")
            )?;
            Ok(1)
        }
    }
}
