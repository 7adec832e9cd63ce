//! Source files, byte spans and diagnostics as plain data.
//!
//! Every later stage (policy parser, expression compiler, ARM loader, executor) reports problems as
//! [`Diagnostic`] values that point into a [`SourceFile`] by byte [`Span`]. Nothing here renders them:
//! turning a diagnostic into `path:line:col: error[P012]: …` with a caret is the CLI's job.
//! This crate has no dependencies on purpose.
//!
//! ```
//! use apim_source::{Code, Diagnostic, SourceMap, Span};
//! let mut sources = SourceMap::default();
//! let file = sources.add("api.xml", "<policies>\n  <set-hedaer/>\n</policies>\n");
//! let diagnostic = Diagnostic::error(Code::UnknownPolicy, "unknown policy `set-hedaer`", Span::new(file, 14, 24), "not a known policy")
//!     .with_help("did you mean `set-header`?");
//! let position = sources.file(file).line_col(diagnostic.primary.span.start());
//! assert_eq!((position.line, position.col), (2, 4));
//! ```

mod code;
mod diagnostic;
mod source;

pub use code::Code;
pub use diagnostic::{Diagnostic, Label, Severity};
pub use source::{FileId, LineCol, SourceFile, SourceMap, Span};
