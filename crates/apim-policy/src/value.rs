//! Attribute and text values: a literal of a known type, a policy expression, or a template with
//! `{{named-value}}` references that is interpreted once the named values are known.
//!
//! Typing happens at parse time: `timeout="abc"` is a diagnostic now, not a surprise at the first request.
//! A value holding a named value is type-checked after substitution when the value is supplied, and not at
//! all otherwise (named values are deployment-time input). This module does not evaluate expressions.

use apim_source::Span;

/// A value that may be a literal of type `T` or a policy expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<T> {
    /// A literal, already parsed into its type.
    Literal { value: T, span: Span },
    /// `@(...)` or `@{...}`.
    Expression(ExprSource),
    /// Literal text with `{{named-value}}` references, kept as written and interpreted when they are resolved.
    Template(Template),
}

impl<T> Value<T> {
    pub fn span(&self) -> &Span {
        match self {
            Value::Literal { span, .. } => span,
            Value::Expression(expr) => &expr.span,
            Value::Template(template) => &template.span,
        }
    }

    pub fn as_literal(&self) -> Option<&T> {
        match self {
            Value::Literal { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn as_expression(&self) -> Option<&ExprSource> {
        match self {
            Value::Expression(expr) => Some(expr),
            _ => None,
        }
    }
}

/// Whether an expression is a single C# expression or a statement block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprKind {
    /// `@( expression )`
    Single,
    /// `@{ statements }`
    Block,
}

/// The source of a policy expression, decoded from XML, with offsets back into the original file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprSource {
    /// From `@` to the closing bracket, XML entities decoded, named values not substituted.
    pub text: String,
    pub kind: ExprKind,
    /// The span of the expression in the original file.
    pub span: Span,
    /// The original-file offset of each byte of `text`, plus one for its end.
    pub offsets: Vec<u32>,
    /// `{{…}}` references inside the expression (also inside C# string literals: substitution is textual).
    pub named_values: Vec<NamedValueRef>,
}

impl ExprSource {
    /// The C# code between the brackets.
    pub fn code(&self) -> &str {
        &self.text[2..self.text.len() - 1]
    }

    /// The expression with the supplied named values substituted (textually, as APIM does), with offsets
    /// into the original file: each substituted byte maps to the start of its `{{reference}}`.
    /// `None` when a referenced named value is not supplied.
    pub fn resolve(
        &self,
        named_values: &std::collections::HashMap<String, String>,
    ) -> Option<ExprSource> {
        if self.named_values.is_empty() {
            return Some(self.clone());
        }
        let mut text = String::with_capacity(self.text.len());
        let mut offsets = Vec::with_capacity(self.offsets.len());
        let mut from = 0;
        // References were found in order; locate each one again in the decoded text.
        for reference in &self.named_values {
            let value = named_values.get(&reference.name)?;
            let pattern = format!("{{{{{}}}}}", reference.name);
            let at = from + self.text[from..].find(&pattern)?;
            text.push_str(&self.text[from..at]);
            offsets.extend_from_slice(&self.offsets[from..at]);
            text.push_str(value);
            offsets.extend(std::iter::repeat_n(self.offsets[at], value.len()));
            from = at + pattern.len();
        }
        text.push_str(&self.text[from..]);
        offsets.extend_from_slice(&self.offsets[from..]);
        Some(ExprSource {
            text,
            kind: self.kind,
            span: self.span.clone(),
            offsets,
            named_values: Vec::new(),
        })
    }

    /// The original-file span of a byte range of `text`.
    pub fn span_of(&self, range: std::ops::Range<usize>) -> Span {
        let start = self.offsets[range.start.min(self.offsets.len() - 1)];
        let end = self.offsets[range.end.min(self.offsets.len() - 1)];
        Span::new(self.span.file, start, end)
    }
}

/// Literal text holding `{{named-value}}` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The decoded text as written, references included.
    pub text: String,
    pub span: Span,
    pub named_values: Vec<NamedValueRef>,
}

/// One `{{name}}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedValueRef {
    pub name: String,
    pub span: Span,
}

/// The type of an attribute or text value, for validation and for `docs/policies.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Integer,
    Number,
    Bool,
    /// A non-negative whole number of seconds.
    Seconds,
    Enum(&'static [&'static str]),
}

impl ValueType {
    /// How the type is described to users: "an integer", "one of `a`, `b`".
    pub fn describe(self) -> String {
        match self {
            ValueType::String => "a string".to_string(),
            ValueType::Integer => "an integer".to_string(),
            ValueType::Number => "a number".to_string(),
            ValueType::Bool => "`true` or `false`".to_string(),
            ValueType::Seconds => "a whole number of seconds (0 or more)".to_string(),
            ValueType::Enum(values) => {
                let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
        }
    }

    /// A short name for tables.
    pub fn name(self) -> String {
        match self {
            ValueType::String => "string".to_string(),
            ValueType::Integer => "integer".to_string(),
            ValueType::Number => "number".to_string(),
            ValueType::Bool => "bool".to_string(),
            ValueType::Seconds => "seconds".to_string(),
            ValueType::Enum(values) => values.join(" \\| "),
        }
    }
}

/// A type a literal attribute or text value can be parsed into.
pub trait AttrValue: Sized + Clone + std::fmt::Debug + PartialEq {
    const TYPE: ValueType;
    /// Parses literal text (entities already decoded). `None` means "not a valid value of this type".
    fn parse_literal(text: &str) -> Option<Self>;
}

impl AttrValue for String {
    const TYPE: ValueType = ValueType::String;
    fn parse_literal(text: &str) -> Option<String> {
        Some(text.to_string())
    }
}

// Azure: numbers and booleans are read with .NET's Parse, which trims surrounding whitespace, accepts a
// leading sign for integers and compares `true`/`false` without regard to case.
impl AttrValue for i64 {
    const TYPE: ValueType = ValueType::Integer;
    fn parse_literal(text: &str) -> Option<i64> {
        let text = text.trim();
        text.strip_prefix('+').unwrap_or(text).parse().ok()
    }
}

impl AttrValue for f64 {
    const TYPE: ValueType = ValueType::Number;
    fn parse_literal(text: &str) -> Option<f64> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())
    }
}

impl AttrValue for bool {
    const TYPE: ValueType = ValueType::Bool;
    fn parse_literal(text: &str) -> Option<bool> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

/// A non-negative whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl AttrValue for Seconds {
    const TYPE: ValueType = ValueType::Seconds;
    fn parse_literal(text: &str) -> Option<Seconds> {
        let text = text.trim();
        text.strip_prefix('+')
            .unwrap_or(text)
            .parse()
            .ok()
            .map(Seconds)
    }
}

/// Declares an enum whose values are spelled as in APIM's XML.
#[macro_export]
macro_rules! attr_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $( $variant:ident = $text:literal ),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $variant, )+ }

        impl $name {
            /// The value as written in policy XML.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }
        }

        impl $crate::value::AttrValue for $name {
            const TYPE: $crate::value::ValueType = $crate::value::ValueType::Enum(&[$( $text, )+]);
            // Deviation: APIM's exact case rules for enum values are not documented; we accept any case
            // (as .NET's Enum.Parse with ignoreCase does) so that real policies are not rejected.
            fn parse_literal(text: &str) -> Option<$name> {
                let text = text.trim();
                $( if text.eq_ignore_ascii_case($text) { return Some($name::$variant); } )+
                None
            }
        }
    };
}

/// Finds `{{name}}` references in decoded text; `offsets` maps text bytes to file offsets.
pub fn find_named_values(
    text: &str,
    offsets: &[u32],
    file: apim_source::FileId,
) -> Vec<NamedValueRef> {
    let mut refs = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|idx| idx + from) {
        let Some(close) = text[open + 2..].find("}}").map(|idx| idx + open + 2) else {
            break;
        };
        let name = &text[open + 2..close];
        // `{{` inside a C# interpolated string or a Liquid template is not a reference unless it looks like one.
        if !name.is_empty() && !name.contains(['{', '}', '\n']) && name.len() <= 256 {
            let start = offsets[open.min(offsets.len() - 1)];
            let end = offsets[(close + 2).min(offsets.len() - 1)];
            refs.push(NamedValueRef {
                name: name.to_string(),
                span: apim_source::Span::new(file, start, end),
            });
            from = close + 2;
        } else {
            from = open + 2;
        }
    }
    refs
}

/// Whether a named-value name uses only the characters APIM allows (letters, digits, `.`, `-`, `_`).
pub fn is_valid_named_value_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_alphanumeric() || matches!(ch, '.' | '-' | '_'))
}
