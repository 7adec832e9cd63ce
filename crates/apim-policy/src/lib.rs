//! APIM policy XML, as people really write it, into a typed AST with spans and every diagnostic.
//!
//! Pipeline: [`scan::prescan`] finds `@(…)`/`@{…}` expressions with a C#-aware bracket matcher and masks
//! them so the XML reader accepts raw quotes, `<` and `&&`; [`xml::read_tree`] reads the masked text into a
//! spanned tree (quick-xml, explicit stack, depth limit); [`policies`] turns elements into the typed
//! [`Policy`] enum (one module per policy), checking sections, attributes, children and values against
//! each element's [`spec::ElementSpec`]; [`compose`] expands `<base />` across scopes and splices fragments.
//!
//! This crate knows nothing about Rhai, HTTP or tokio: expressions stay [`value::ExprSource`].
//!
//! ```
//! use apim_policy::{parse, ParseOptions, Policy, Section};
//! use apim_source::FileId;
//!
//! let xml = r#"<policies><inbound><base /><set-header name="x" exists-action="override">
//!   <value>@(context.Request.Headers.GetValueOrDefault("a", "") + "&&")</value>
//! </set-header></inbound></policies>"#;
//! let parsed = parse(FileId(0), xml, &ParseOptions::default());
//! assert!(parsed.diagnostics.is_empty());
//! let document = parsed.document.unwrap();
//! let Policy::SetHeader(set_header) = &document.section(Section::Inbound).unwrap().policies[1] else { panic!() };
//! let expr = set_header.values[0].content.0.as_ref().unwrap().as_expression().unwrap();
//! assert_eq!(expr.code(), r#"context.Request.Headers.GetValueOrDefault("a", "") + "&&""#);
//! ```

pub mod compose;
pub mod document;
pub mod policies;
pub mod read;
pub mod scan;
pub mod spec;
pub mod value;
pub mod xml;

pub use document::{DocumentKind, Parsed, PolicyDocument, SectionBlock, parse, sniff_root};
pub use policies::Policy;
pub use read::ParseOptions;
pub use spec::{Scope, Section};
pub use value::{ExprSource, Value};
