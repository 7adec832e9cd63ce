//! APIM policy expressions: the C# subset that `@(...)` and `@{...}` use, parsed into a spanned AST, checked
//! against APIM's allow-list, translated into one Rhai script each and compiled once; evaluated against the
//! APIM `context` model with .NET semantics (exceptions included).
//!
//! No Rhai type appears in the public API. Positions are byte offsets into the expression text (from `@`);
//! callers map them to files (apim-policy's `ExprSource::span_of`).

mod ast;
mod context;
mod crypto;
mod engine;
mod format;
mod implemented;
mod json;
mod lex;
mod live;
mod members;
mod parse;
mod runtime;
mod stack;
mod statics;
mod translate;
mod value;
mod xml;

pub use context::Environment;
pub use engine::{
    Compiled, Context, Engine, EvalError, Explain, ExplainStep, Limits, StepOutcome, Value,
};
pub use live::{
    BodyHandle, LastErrorData, LiveParts, RequestData, RequestInfo, ResponseData, Variables,
};

/// A byte range into the expression text.
pub type Range = std::ops::Range<usize>;

/// Whether an expression is `@( expression )` or `@{ statements }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Single,
    Block,
}

/// Why an expression cannot be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not valid C# (what APIM rejects when the policy is saved).
    Syntax,
    /// Valid C#, but a type or member APIM does not allow.
    Refused,
    /// Valid C# that apim-emu cannot translate yet.
    Unsupported,
    /// Nesting or size beyond the sandbox limits.
    Limit,
}

/// A load-time problem with an expression, located in the expression text.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub kind: ErrorKind,
    pub range: Range,
    pub message: String,
}

impl ExprError {
    pub fn syntax(range: Range, message: impl Into<String>) -> Self {
        ExprError {
            kind: ErrorKind::Syntax,
            range,
            message: message.into(),
        }
    }

    pub fn refused(range: Range, message: impl Into<String>) -> Self {
        ExprError {
            kind: ErrorKind::Refused,
            range,
            message: message.into(),
        }
    }

    pub fn unsupported(range: Range, message: impl Into<String>) -> Self {
        ExprError {
            kind: ErrorKind::Unsupported,
            range,
            message: message.into(),
        }
    }

    pub fn limit(range: Range, message: impl Into<String>) -> Self {
        ExprError {
            kind: ErrorKind::Limit,
            range,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// Splits `@(...)` / `@{...}` into its kind and the code range.
pub fn split(text: &str) -> Option<(Kind, Range)> {
    let t = text.trim_end();
    if t.len() >= 3 && t.starts_with("@(") && t.ends_with(')') {
        return Some((Kind::Single, 2..t.len() - 1));
    }
    if t.len() >= 3 && t.starts_with("@{") && t.ends_with('}') {
        return Some((Kind::Block, 2..t.len() - 1));
    }
    None
}
