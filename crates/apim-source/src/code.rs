//! Diagnostic codes: a closed list, each with a stable id (`P012`) and a one-line summary.
//!
//! `docs/diagnostics.md` is generated from [`Code::ALL`] together with an example input per code
//! (kept beside the parser that emits it), so the list and the documentation cannot drift.

macro_rules! codes {
    ($( $(#[$meta:meta])* $variant:ident = $id:literal, $summary:literal; )*) => {
        /// What kind of problem a diagnostic reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$meta])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$( Code::$variant, )*];

            /// The stable id shown to users, such as `P012`.
            pub fn id(self) -> &'static str {
                match self { $( Code::$variant => $id, )* }
            }

            /// What the code means, in one line.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }

            /// The variant name, for machine-readable output.
            pub fn name(self) -> &'static str {
                match self { $( Code::$variant => stringify!($variant), )* }
            }

            /// Looks a code up by its id (`P012`).
            pub fn from_id(id: &str) -> Option<Code> {
                match id { $( $id => Some(Code::$variant), )* _ => None }
            }
        }
    };
}

codes! {
    /// The text is not XML the parser can read, even after expressions were set aside.
    XmlSyntax = "P001", "malformed XML";
    /// An end tag does not match the element that is open.
    MismatchedEndTag = "P002", "end tag does not match the open element";
    /// The file ends while elements are still open.
    UnclosedElement = "P003", "element is never closed";
    /// Elements or expression brackets are nested deeper than the parser allows.
    NestingTooDeep = "P004", "nesting too deep";
    /// An `@(` or `@{` expression is never closed, or its brackets do not match.
    UnbalancedExpression = "P005", "unbalanced policy expression";
    /// Something other than whitespace follows an expression in the same value.
    TextAfterExpression = "P006", "text after a policy expression";
    /// The document root is neither `<policies>` nor `<fragment>`.
    InvalidRoot = "P010", "document root is not <policies> or <fragment>";
    /// A child of `<policies>` is not one of the four sections, or a section appears twice.
    InvalidSection = "P011", "invalid or repeated section";
    /// An element name that is not a policy APIM knows.
    UnknownPolicy = "P012", "unknown policy";
    /// A policy used in a section where APIM does not allow it.
    PolicyNotAllowedInSection = "P013", "policy not allowed in this section";
    /// A required attribute is missing.
    MissingAttribute = "P014", "missing required attribute";
    /// An attribute value is not valid for its type (enum, number, boolean, duration …).
    InvalidAttributeValue = "P015", "invalid attribute value";
    /// An attribute the policy does not define (APIM ignores or rejects it).
    UnknownAttribute = "P016", "unknown attribute";
    /// A policy expression in an attribute or element that only takes literal values.
    ExpressionNotAllowed = "P017", "policy expressions are not allowed here";
    /// A child element the policy or element does not allow, or one that appears too often.
    InvalidChild = "P018", "invalid child element";
    /// A required child element is missing.
    MissingChild = "P019", "missing required child element";
    /// `<base />` somewhere other than directly inside a section, more than once, or in a fragment.
    MisplacedBase = "P020", "misplaced <base />";
    /// An attribute appears twice on one element.
    DuplicateAttribute = "P021", "duplicate attribute";
    /// Text content inside an element that takes none.
    UnexpectedText = "P022", "unexpected text content";
    /// A `{{named-value}}` reference that no supplied named value resolves.
    UnresolvedNamedValue = "P023", "unresolved named value";
    /// An `include-fragment` whose fragment is not in the fragments folder.
    UnresolvedFragment = "P024", "unresolved policy fragment";
    /// Attributes that exclude or require each other (exactly one of, at most one of …).
    AttributeConflict = "P025", "conflicting attributes";
    /// A policy that may appear only once per section or document appears again.
    RepeatedPolicy = "P026", "policy repeated where only one is allowed";
    /// A fragment that includes another fragment, or an include cycle.
    FragmentNesting = "P027", "fragment includes a fragment";
    /// A `{{…}}` reference whose name is not a valid named-value name.
    InvalidNamedValueName = "P028", "invalid named-value reference";
    /// A `{name}` placeholder of a deployment templating tool where a typed value or policies belong.
    TemplatePlaceholder = "P031", "deployment template placeholder";
    /// A policy expression that is not valid C# (APIM refuses to save the policy).
    ExpressionSyntax = "P032", "invalid policy expression";
    /// A type or member outside APIM's allow-list for policy expressions.
    ExpressionMemberNotAllowed = "P033", "type or member not allowed in policy expressions";
    /// Valid C# that apim-emu cannot run yet; `serve` and `test` refuse the policy.
    ExpressionUnsupported = "P034", "expression not supported by apim-emu";
    /// An expression nested or sized beyond the sandbox limits.
    ExpressionTooComplex = "P035", "expression beyond the sandbox limits";
    /// A policy apim-emu cannot execute yet; `serve` refuses the policy unless told to skip it.
    PolicyNotExecuted = "P040", "policy not executed by apim-emu";
    /// A `set-backend-service backend-id` that names no loaded backend.
    UnknownBackend = "P041", "unknown backend";
    /// A retry around `forward-request` without `buffer-request-body="true"`: a retried request with a body is
    /// sent without it.
    RetryBodyNotBuffered = "P042", "retried request body is not buffered";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.id()), "duplicate id {}", code.id());
            assert_eq!(Code::from_id(code.id()), Some(*code));
        }
    }
}
