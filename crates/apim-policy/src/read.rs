//! Reading one XML element into a typed struct according to its [`ElementSpec`], reporting every problem.
//!
//! [`ElementReader::new`] first checks the element's shape against the spec (unknown or duplicate attributes,
//! unexpected or missing children, stray text, cross-attribute rules); the `element!`-generated `parse` then
//! pulls typed values out of it. A missing required part or an invalid value marks the reader failed, and the
//! element is dropped from the AST (its diagnostics remain). Named values are checked here after substitution
//! when they are known.

use std::collections::HashMap;

use apim_source::{Code, Diagnostic, FileId, Severity, Span};

use crate::policies::Policy;
use crate::scan::{PlainChars, ScannedExpr, XmlChars, decode_with_offsets, match_expression};
use crate::spec::{ContentKind, ElementSpec, Rule, Section};
use crate::value::{
    AttrValue, ExprKind, ExprSource, NamedValueRef, Template, Value, find_named_values,
    is_valid_named_value_name,
};
use crate::xml::{XmlElement, XmlNode};

/// Inputs that change how a document is checked.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Named values by display name. References to names not listed here are reported as unresolved.
    pub named_values: HashMap<String, String>,
    /// Unresolved named values and fragments are errors instead of warnings.
    pub strict: bool,
}

/// State shared while parsing one document.
pub struct Ctx<'a> {
    pub file: FileId,
    pub text: &'a str,
    pub exprs: &'a [ScannedExpr],
    pub options: &'a ParseOptions,
    pub diagnostics: Vec<Diagnostic>,
    /// The section being parsed; `None` inside a fragment document, whose section is the includer's.
    pub section: Option<Section>,
    /// Every expression read so far (see `Parsed::expressions`).
    pub expressions: Vec<ExprSource>,
}

impl Ctx<'_> {
    pub fn span(&self, start: u32, end: u32) -> Span {
        Span::new(self.file, start, end)
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn unresolved_severity(&self) -> Severity {
        if self.options.strict {
            Severity::Error
        } else {
            Severity::Warning
        }
    }

    /// The scanned expression starting at `offset`, if any.
    fn expr_at(&self, offset: u32) -> Option<&ScannedExpr> {
        let idx = self.exprs.partition_point(|expr| expr.start < offset);
        self.exprs.get(idx).filter(|expr| expr.start == offset)
    }
}

/// An element with a typed form.
pub trait Element: Sized {
    const SPEC: ElementSpec;
    fn parse(reader: &mut ElementReader<'_, '_>) -> Option<Self>;
}

/// An element's own content, by kind.
pub trait Content: Sized {
    const KIND: ContentKind;
    fn read(reader: &mut ElementReader<'_, '_>) -> Option<Self>;
}

/// No content besides the declared child elements.
impl Content for () {
    const KIND: ContentKind = ContentKind::None;
    fn read(_reader: &mut ElementReader<'_, '_>) -> Option<()> {
        Some(())
    }
}

/// Text or a single expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub Option<Value<String>>);

impl Content for Text {
    const KIND: ContentKind = ContentKind::Text;
    fn read(reader: &mut ElementReader<'_, '_>) -> Option<Text> {
        reader.text_content(false).map(Text)
    }
}

/// Text, a single expression, or verbatim XML (a body).
#[derive(Debug, Clone, PartialEq)]
pub struct Raw(pub Option<Value<String>>);

impl Content for Raw {
    const KIND: ContentKind = ContentKind::Raw;
    fn read(reader: &mut ElementReader<'_, '_>) -> Option<Raw> {
        reader.text_content(true).map(Raw)
    }
}

/// Child policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Block(pub Vec<Policy>);

impl Content for Block {
    const KIND: ContentKind = ContentKind::Policies;
    fn read(reader: &mut ElementReader<'_, '_>) -> Option<Block> {
        let policies = crate::policies::parse_policies(reader.ctx, reader.element, false);
        Some(Block(policies))
    }
}

/// Visits the policy blocks nested in an element (the policies of `<when>`, `<retry>` …), outermost first.
pub trait Walk {
    fn walk<'p>(&'p self, visit: &mut dyn FnMut(&'p [Policy]));
}

impl<T: Walk> Walk for Vec<T> {
    fn walk<'p>(&'p self, visit: &mut dyn FnMut(&'p [Policy])) {
        for item in self {
            item.walk(visit);
        }
    }
}

impl<T: Walk> Walk for Option<T> {
    fn walk<'p>(&'p self, visit: &mut dyn FnMut(&'p [Policy])) {
        if let Some(item) = self {
            item.walk(visit);
        }
    }
}

impl Walk for () {
    fn walk<'p>(&'p self, _visit: &mut dyn FnMut(&'p [Policy])) {}
}

impl Walk for Text {
    fn walk<'p>(&'p self, _visit: &mut dyn FnMut(&'p [Policy])) {}
}

impl Walk for Raw {
    fn walk<'p>(&'p self, _visit: &mut dyn FnMut(&'p [Policy])) {}
}

impl Walk for Block {
    fn walk<'p>(&'p self, visit: &mut dyn FnMut(&'p [Policy])) {
        visit(&self.0);
    }
}

/// Reads one element against its spec.
pub struct ElementReader<'c, 'a> {
    pub ctx: &'c mut Ctx<'a>,
    pub element: &'c XmlElement,
    pub spec: &'static ElementSpec,
    failed: bool,
}

impl<'c, 'a> ElementReader<'c, 'a> {
    /// Checks the element's shape against `spec` and returns a reader for its typed parts.
    pub fn new(ctx: &'c mut Ctx<'a>, element: &'c XmlElement, spec: &'static ElementSpec) -> Self {
        let mut reader = ElementReader {
            ctx,
            element,
            spec,
            failed: false,
        };
        reader.check_attributes();
        reader.check_children();
        reader.check_rules();
        reader
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    pub fn span(&self) -> Span {
        self.element.span.clone()
    }

    pub fn name_span(&self) -> Span {
        self.element.name_span.clone()
    }

    /// The optional `id` attribute every policy accepts (it becomes `context.LastError.PolicyId`).
    pub fn policy_id(&mut self) -> Option<String> {
        let attr = self.element.attr("id")?;
        if self.spec.attr("id").is_some() {
            return None;
        }
        let (text, _) = self.decode(&attr.value_span);
        Some(text)
    }

    fn fail(&mut self, diagnostic: Diagnostic) {
        if diagnostic.is_error() {
            self.failed = true;
        }
        self.ctx.push(diagnostic);
    }

    fn check_attributes(&mut self) {
        let is_policy = crate::policies::lookup(self.spec.name)
            .is_some_and(|entry| std::ptr::eq(entry.spec, self.spec));
        for (idx, attr) in self.element.attrs.iter().enumerate() {
            if let Some(first) = self.element.attrs[..idx]
                .iter()
                .find(|earlier| earlier.name == attr.name)
            {
                let diagnostic = Diagnostic::error(
                    Code::DuplicateAttribute,
                    format!(
                        "attribute `{}` appears twice on `<{}>`",
                        attr.name, self.element.name
                    ),
                    attr.name_span.clone(),
                    "repeated here",
                )
                .with_secondary(first.name_span.clone(), "first here");
                self.fail(diagnostic);
                continue;
            }
            // Foreign markup such as `<xsl:stylesheet>` inside `<xsl-transform>` follows its own schema.
            let foreign = self.element.name.contains(':');
            let known = foreign
                || self.spec.attr(&attr.name).is_some()
                || (is_policy && attr.name == "id")
                || attr.name.starts_with("xmlns")
                || attr.name.contains(':');
            if !known {
                let candidates = self.spec.attrs.iter().map(|spec| spec.name);
                let mut diagnostic = Diagnostic::warning(
                    Code::UnknownAttribute,
                    format!(
                        "unknown attribute `{}` on `<{}>`",
                        attr.name, self.element.name
                    ),
                    attr.name_span.clone(),
                    "not an attribute of this element",
                );
                diagnostic.help = Some(match did_you_mean(&attr.name, candidates) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None if self.spec.attrs.is_empty() => {
                        format!("`<{}>` takes no attributes", self.element.name)
                    }
                    None => format!(
                        "known attributes: {}",
                        list(self.spec.attrs.iter().map(|spec| spec.name))
                    ),
                });
                self.ctx.push(diagnostic);
            }
        }
        for attr_spec in self.spec.attrs.iter().filter(|spec| spec.required) {
            if self.element.attr(attr_spec.name).is_none() {
                let diagnostic = Diagnostic::error(
                    Code::MissingAttribute,
                    format!(
                        "`<{}>` requires attribute `{}`",
                        self.element.name, attr_spec.name
                    ),
                    self.element.name_span.clone(),
                    format!("missing `{}`", attr_spec.name),
                )
                .with_help(format!(
                    "add `{}=\"…\"` ({})",
                    attr_spec.name,
                    attr_spec.ty.describe()
                ));
                self.fail(diagnostic);
            }
        }
    }

    fn check_children(&mut self) {
        let kind = self.spec.content;
        let mut counts: HashMap<&str, (u32, Option<Span>)> = HashMap::new();
        let mut placeholder = false;
        for node in &self.element.children {
            match node {
                XmlNode::Element(child) => {
                    if let Some(child_spec) = self.spec.child(&child.name) {
                        let entry = counts.entry(child_spec.name).or_insert((0, None));
                        entry.0 += 1;
                        if entry.0 > 1 && !child_spec.occurs.repeatable() {
                            let first = entry.1.clone();
                            let mut diagnostic = Diagnostic::error(
                                Code::InvalidChild,
                                format!(
                                    "`<{}>` may contain only one `<{}>`",
                                    self.element.name, child.name
                                ),
                                child.name_span.clone(),
                                "repeated here",
                            );
                            if let Some(first) = first {
                                diagnostic = diagnostic.with_secondary(first, "first here");
                            }
                            self.fail(diagnostic);
                        } else if entry.1.is_none() {
                            entry.1 = Some(child.name_span.clone());
                        }
                    } else if matches!(kind, ContentKind::Raw | ContentKind::Policies) {
                        // Verbatim XML bodies take anything; policy blocks are checked policy by policy.
                    } else {
                        let candidates = self.spec.children.iter().map(|spec| spec.name);
                        let mut diagnostic = Diagnostic::error(
                            Code::InvalidChild,
                            format!(
                                "`<{}>` is not allowed inside `<{}>`",
                                child.name, self.element.name
                            ),
                            child.name_span.clone(),
                            "unexpected element",
                        );
                        diagnostic.help = Some(match did_you_mean(&child.name, candidates) {
                            Some(suggestion) => format!("did you mean `<{suggestion}>`?"),
                            None if self.spec.children.is_empty() && kind == ContentKind::Text => {
                                format!(
                                    "`<{}>` takes text or an expression, not elements",
                                    self.element.name
                                )
                            }
                            None if self.spec.children.is_empty() => {
                                format!("`<{}>` takes no child elements", self.element.name)
                            }
                            None => format!(
                                "allowed here: {}",
                                list(self.spec.children.iter().map(|spec| spec.name))
                            ),
                        });
                        self.fail(diagnostic);
                    }
                }
                XmlNode::Text(range)
                    if kind == ContentKind::None || kind == ContentKind::Policies =>
                {
                    let text = &self.ctx.text[range.start as usize..range.end as usize];
                    if is_placeholder_only(text) {
                        placeholder = true;
                        let trimmed_start =
                            range.start + (text.len() - text.trim_start().len()) as u32;
                        let trimmed_end = range.end - (text.len() - text.trim_end().len()) as u32;
                        let diagnostic = Diagnostic::warning(
                            Code::TemplatePlaceholder,
                            format!("`<{}>` holds the template placeholder `{}`", self.element.name, text.trim()),
                            self.ctx.span(trimmed_start, trimmed_end),
                            "filled in before deployment",
                        )
                        .with_help("the elements it stands for are checked once the placeholder is filled in");
                        self.ctx.push(diagnostic);
                    } else if !text.trim().is_empty() {
                        let trimmed_start =
                            range.start + (text.len() - text.trim_start().len()) as u32;
                        let trimmed_end = range.end - (text.len() - text.trim_end().len()) as u32;
                        let diagnostic = Diagnostic::error(
                            Code::UnexpectedText,
                            format!("`<{}>` does not take text content", self.element.name),
                            self.ctx.span(trimmed_start, trimmed_end),
                            "unexpected text",
                        );
                        self.fail(diagnostic);
                    }
                }
                XmlNode::CData(range)
                    if kind == ContentKind::None || kind == ContentKind::Policies =>
                {
                    let diagnostic = Diagnostic::error(
                        Code::UnexpectedText,
                        format!("`<{}>` does not take text content", self.element.name),
                        self.ctx.span(range.start, range.end),
                        "unexpected CDATA",
                    );
                    self.fail(diagnostic);
                }
                _ => {}
            }
        }
        for child_spec in self
            .spec
            .children
            .iter()
            .filter(|spec| spec.occurs.required() && !placeholder)
        {
            if !counts.contains_key(child_spec.name) {
                let diagnostic = Diagnostic::error(
                    Code::MissingChild,
                    format!(
                        "`<{}>` requires a `<{}>` element",
                        self.element.name, child_spec.name
                    ),
                    self.element.name_span.clone(),
                    format!("missing `<{}>`", child_spec.name),
                );
                self.fail(diagnostic);
            }
        }
    }

    fn present(&self, name: &str) -> bool {
        self.element.attr(name).is_some() || self.element.elements().any(|child| child.name == name)
    }

    fn check_rules(&mut self) {
        for rule in self.spec.rules {
            let (names, ok, what) = match *rule {
                Rule::ExactlyOne(names) => {
                    let n_present = names.iter().filter(|name| self.present(name)).count();
                    (names, n_present == 1, "exactly one of")
                }
                Rule::AtMostOne(names) => {
                    let n_present = names.iter().filter(|name| self.present(name)).count();
                    (names, n_present <= 1, "at most one of")
                }
                Rule::AtLeastOne(names) => {
                    let n_present = names.iter().filter(|name| self.present(name)).count();
                    (names, n_present >= 1, "at least one of")
                }
            };
            if !ok {
                let diagnostic = Diagnostic::error(
                    Code::AttributeConflict,
                    format!(
                        "`<{}>` needs {what} {}",
                        self.element.name,
                        list(names.iter().copied())
                    ),
                    self.element.name_span.clone(),
                    "here",
                );
                self.fail(diagnostic);
            }
        }
    }

    /// Decodes an attribute value (XML entities) with offsets.
    fn decode(&self, span: &Span) -> (String, Vec<u32>) {
        let chars = XmlChars::new(self.ctx.text, span.start() as usize, span.end() as usize);
        decode_with_offsets(chars, span.end())
    }

    /// A typed attribute; `None` when absent or invalid (invalid ones are reported).
    pub fn attr<T: AttrValue>(&mut self, name: &'static str) -> Option<Value<T>> {
        let attr_spec = *self
            .spec
            .attr(name)
            .expect("element! only reads attributes its spec declares");
        let attr = self.element.attr(name)?.clone();
        let (text, offsets) = self.decode(&attr.value_span);
        let what = format!("attribute `{name}`");
        self.interpret::<T>(
            text,
            offsets,
            attr.value_span.clone(),
            attr_spec.expr,
            &what,
            false,
        )
    }

    /// The child elements called `name`, parsed; invalid ones are left out (and reported).
    pub fn children<T: Element>(&mut self, name: &'static str) -> Vec<T> {
        let mut parsed = Vec::new();
        let element = self.element;
        for child in element.elements().filter(|child| child.name == name) {
            let mut reader = ElementReader::new(self.ctx, child, &T::SPEC);
            match T::parse(&mut reader) {
                Some(value) if !reader.failed => parsed.push(value),
                _ => self.failed = true,
            }
        }
        parsed
    }

    /// Text content (and, with `raw`, verbatim XML) as a value.
    fn text_content(&mut self, raw: bool) -> Option<Option<Value<String>>> {
        let element = self.element;
        let has_elements = element.elements().next().is_some();
        if raw && has_elements {
            let span = self.ctx.span(element.content.start, element.content.end);
            let text = self.ctx.text[element.content.start as usize..element.content.end as usize]
                .to_string();
            let named_values = find_named_values(
                &text,
                &offsets_from(element.content.start, &text),
                self.ctx.file,
            );
            if named_values.is_empty() {
                return Some(Some(Value::Literal { value: text, span }));
            }
            return Some(Some(Value::Template(Template {
                text,
                span,
                named_values,
            })));
        }
        let mut text = String::new();
        let mut offsets = Vec::new();
        for node in &element.children {
            let (piece, piece_offsets) = match node {
                XmlNode::Text(range) => decode_with_offsets(
                    XmlChars::new(self.ctx.text, range.start as usize, range.end as usize),
                    range.end,
                ),
                XmlNode::CData(range) => decode_with_offsets(
                    PlainChars::new(
                        &self.ctx.text[range.start as usize..range.end as usize],
                        range.start,
                    ),
                    range.end,
                ),
                XmlNode::Element(_) => continue,
            };
            text.push_str(&piece);
            offsets.extend_from_slice(&piece_offsets[..piece_offsets.len() - 1]);
        }
        if text.trim().is_empty() {
            return Some(None);
        }
        offsets.push(element.content.end);
        let start = offsets[0];
        let span = self.ctx.span(start, element.content.end);
        let what = format!("the content of `<{}>`", element.name);
        self.interpret::<String>(text, offsets, span, true, &what, raw)
            .map(Some)
    }

    /// Turns decoded text into a typed value: expression, literal, or template with named values.
    fn interpret<T: AttrValue>(
        &mut self,
        text: String,
        offsets: Vec<u32>,
        span: Span,
        expr_allowed: bool,
        what: &str,
        lenient_refs: bool,
    ) -> Option<Value<T>> {
        let leading = text.len() - text.trim_start().len();
        let first = offsets[leading.min(offsets.len() - 1)];
        let trimmed = text.trim();
        if trimmed.starts_with("@(") || trimmed.starts_with("@{") {
            let Some(scanned) = self.ctx.expr_at(first).cloned() else {
                // The scanner found it unbalanced and has reported it already.
                self.failed = true;
                return None;
            };
            let expr_end_in_text = offsets
                .iter()
                .position(|offset| *offset >= scanned.end)
                .unwrap_or(text.len());
            let trailing = text[expr_end_in_text.min(text.len())..].trim();
            if !trailing.is_empty() {
                let trailing_start = scanned.end
                    + (text[expr_end_in_text..].len() - text[expr_end_in_text..].trim_start().len())
                        as u32;
                let diagnostic = Diagnostic::error(
                    Code::TextAfterExpression,
                    format!("{what} continues after its expression"),
                    Span::new(self.ctx.file, trailing_start, span.end().max(trailing_start)),
                    "unexpected text",
                )
                .with_secondary(Span::new(self.ctx.file, scanned.start, scanned.end), "the expression ends here")
                .with_help("an expression must be the whole value; build the text inside it, e.g. `@(\"prefix\" + value)`");
                self.fail(diagnostic);
                return None;
            }
            let expr_span = Span::new(self.ctx.file, scanned.start, scanned.end);
            if !expr_allowed {
                let diagnostic = Diagnostic::error(
                    Code::ExpressionNotAllowed,
                    format!(
                        "{what} of `<{}>` does not accept policy expressions",
                        self.element.name
                    ),
                    expr_span,
                    "expression not allowed here",
                )
                .with_help("APIM reads this value literally; use a fixed value");
                self.fail(diagnostic);
                return None;
            }
            let kind = if scanned.text.starts_with("@{") {
                ExprKind::Block
            } else {
                ExprKind::Single
            };
            let named_values = find_named_values(&scanned.text, &scanned.offsets, self.ctx.file);
            self.check_named_values(&named_values, false);
            if let Some(substituted) = self.substitute(&scanned.text, &named_values)
                && let Err(error) = match_expression(PlainChars::new(&substituted, 0))
            {
                let _ = error;
                let diagnostic = Diagnostic::error(
                    Code::UnbalancedExpression,
                    "unbalanced expression after substituting named values",
                    expr_span.clone(),
                    "in this expression",
                )
                .with_help("a named value used inside an expression must not break its brackets or string literals");
                self.fail(diagnostic);
                return None;
            }
            let expr = ExprSource {
                text: scanned.text,
                kind,
                span: expr_span,
                offsets: scanned.offsets,
                named_values,
            };
            self.ctx.expressions.push(expr.clone());
            return Some(Value::Expression(expr));
        }
        let named_values = find_named_values(&text, &offsets, self.ctx.file);
        if named_values.is_empty() {
            return match T::parse_literal(&text) {
                Some(value) => Some(Value::Literal { value, span }),
                None if has_placeholder(&text) => {
                    // Like a named value, a deployment-time input: checked once filled in, not before.
                    let diagnostic = Diagnostic::warning(
                        Code::TemplatePlaceholder,
                        format!("{what} of `<{}>` holds the template placeholder `{}`", self.element.name, text.trim()),
                        span.clone(),
                        format!("expected {} once filled in", T::TYPE.describe()),
                    )
                    .with_help("fill in the placeholder before deploying; apim-emu checks the value once it is there");
                    self.ctx.push(diagnostic);
                    Some(Value::Template(Template {
                        text,
                        span,
                        named_values,
                    }))
                }
                None => {
                    self.invalid_value::<T>(what, &text, span, None);
                    None
                }
            };
        }
        let all_known = self.check_named_values(&named_values, lenient_refs);
        if all_known && let Some(substituted) = self.substitute(&text, &named_values) {
            let substituted_trimmed = substituted.trim();
            let note = format!(
                "after substituting {}",
                list(named_values.iter().map(|r| format!("{{{{{}}}}}", r.name)))
            );
            if substituted_trimmed.starts_with("@(") || substituted_trimmed.starts_with("@{") {
                if !expr_allowed {
                    let diagnostic = Diagnostic::error(
                        Code::ExpressionNotAllowed,
                        format!(
                            "{what} of `<{}>` does not accept policy expressions ({note})",
                            self.element.name
                        ),
                        span,
                        "the named value holds an expression",
                    );
                    self.fail(diagnostic);
                    return None;
                }
            } else if T::parse_literal(&substituted).is_none() {
                self.invalid_value::<T>(what, &substituted, span, Some(note));
                return None;
            }
        }
        Some(Value::Template(Template {
            text,
            span,
            named_values,
        }))
    }

    fn invalid_value<T: AttrValue>(
        &mut self,
        what: &str,
        text: &str,
        span: Span,
        note: Option<String>,
    ) {
        let shown: String = text.trim().chars().take(60).collect();
        let mut message = format!(
            "invalid value `{shown}` for {what} of `<{}>`",
            self.element.name
        );
        if let Some(note) = note {
            message = format!("{message} ({note})");
        }
        let mut diagnostic = Diagnostic::error(
            Code::InvalidAttributeValue,
            message,
            span,
            format!("expected {}", T::TYPE.describe()),
        );
        if let crate::value::ValueType::Enum(values) = T::TYPE
            && let Some(suggestion) = did_you_mean(text.trim(), values.iter().copied())
        {
            diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
        }
        self.fail(diagnostic);
    }

    /// Reports names that are invalid or unresolved; returns whether all resolve.
    fn check_named_values(&mut self, named_values: &[NamedValueRef], lenient: bool) -> bool {
        let mut all_known = true;
        for named_value in named_values {
            if self
                .ctx
                .options
                .named_values
                .contains_key(&named_value.name)
            {
                continue;
            }
            all_known = false;
            if lenient {
                // Liquid templates in bodies use `{{body.x}}` too; only a supplied named value is substituted.
                continue;
            }
            if !is_valid_named_value_name(&named_value.name) {
                let diagnostic = Diagnostic::warning(
                    Code::InvalidNamedValueName,
                    format!(
                        "`{{{{{}}}}}` is not a valid named-value reference",
                        named_value.name
                    ),
                    named_value.span.clone(),
                    "named values use only letters, digits, `.`, `-` and `_`",
                );
                self.ctx.push(diagnostic);
                continue;
            }
            let severity = self.ctx.unresolved_severity();
            let diagnostic = Diagnostic::new(
                severity,
                Code::UnresolvedNamedValue,
                format!("named value `{}` is not defined", named_value.name),
                named_value.span.clone(),
                "unresolved",
            )
            .with_help(format!(
                "pass `--named-value {}=VALUE`, or define it in the service",
                named_value.name
            ));
            if severity == Severity::Error {
                self.failed = true;
            }
            self.ctx.push(diagnostic);
        }
        all_known
    }

    /// Text with every reference replaced, when all are known.
    fn substitute(&self, text: &str, named_values: &[NamedValueRef]) -> Option<String> {
        if named_values.is_empty() {
            return None;
        }
        let mut result = text.to_string();
        for named_value in named_values {
            let value = self.ctx.options.named_values.get(&named_value.name)?;
            // Azure: substitution is textual and values cannot contain further references.
            result = result.replace(&format!("{{{{{}}}}}", named_value.name), value);
        }
        Some(result)
    }
}

/// Whether text contains a `{name}` placeholder (single braces) of a deployment templating tool.
pub(crate) fn has_placeholder(text: &str) -> bool {
    placeholders(text).next().is_some()
}

/// Whether text is nothing but `{name}` placeholders and whitespace.
fn is_placeholder_only(text: &str) -> bool {
    let mut rest = text.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(name) = rest
            .strip_prefix('{')
            .and_then(|after| after.split_once('}'))
        else {
            return false;
        };
        if !is_placeholder_name(name.0) {
            return false;
        }
        rest = name.1.trim_start();
    }
    true
}

fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|piece| piece.split_once('}').map(|(name, _)| name))
        .filter(|name| is_placeholder_name(name))
}

fn is_placeholder_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

fn offsets_from(start: u32, text: &str) -> Vec<u32> {
    (0..=text.len() as u32).map(|idx| start + idx).collect()
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|left, right| left.0.total_cmp(&right.0))
        .map(|(_, candidate)| candidate)
}

fn list<S: std::fmt::Display>(items: impl Iterator<Item = S>) -> String {
    let quoted: Vec<String> = items.map(|item| format!("`{item}`")).collect();
    quoted.join(", ")
}

/// Declares a typed element: its struct, its [`ElementSpec`] and its `parse`.
///
/// ```text
/// element! {
///     /// `<set-header>`: sets, appends or deletes a header.
///     pub struct SetHeader = "set-header";
///     attrs {
///         name: String = "name", required, expr;
///         exists_action: ExistsAction = "exists-action", optional, expr, default "override";
///     }
///     children { values: many Value_ = "value"; }
///     content: ();
///     rules: [];
/// }
/// ```
#[macro_export]
macro_rules! element {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $xml:literal;
        attrs { $( $(#[$ameta:meta])* $afield:ident : $aty:ty = $axml:literal, $areq:ident, $aexpr:ident $(, default $adefault:literal)? ; )* }
        children { $( $(#[$cmeta:meta])* $cfield:ident : $coccurs:ident $cty:ty = $cxml:literal ; )* }
        content: $content:ty;
        rules: [ $( $rule:expr ),* $(,)? ];
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            /// The whole element in the source.
            pub span: apim_source::Span,
            /// The element name in its start tag.
            pub name_span: apim_source::Span,
            /// The `id` attribute (policies only), reported as `context.LastError.PolicyId`.
            pub policy_id: Option<String>,
            $( $(#[$ameta])* pub $afield: $crate::element!(@attr_ty $areq $aty), )*
            $( $(#[$cmeta])* pub $cfield: $crate::element!(@child_ty $coccurs $cty), )*
            /// The element's own content.
            pub content: $content,
        }

        impl $crate::read::Element for $name {
            const SPEC: $crate::spec::ElementSpec = $crate::spec::ElementSpec {
                name: $xml,
                attrs: &[ $( $crate::spec::AttrSpec {
                    name: $axml,
                    required: $crate::element!(@required $areq),
                    expr: $crate::element!(@expr $aexpr),
                    ty: <$aty as $crate::value::AttrValue>::TYPE,
                    default: $crate::element!(@default $($adefault)?),
                }, )* ],
                children: &[ $( $crate::spec::ChildSpec {
                    name: $cxml,
                    occurs: $crate::element!(@occurs $coccurs),
                    spec: &<$cty as $crate::read::Element>::SPEC,
                }, )* ],
                content: <$content as $crate::read::Content>::KIND,
                rules: &[ $( $rule, )* ],
            };

            #[allow(unused_variables, non_snake_case)]
            fn parse(reader: &mut $crate::read::ElementReader<'_, '_>) -> Option<Self> {
                let policy_id = reader.policy_id();
                $( let $afield = reader.attr::<$aty>($axml); )*
                $( let $cfield = reader.children::<$cty>($cxml); )*
                let content = <$content as $crate::read::Content>::read(reader);
                if reader.failed() {
                    return None;
                }
                Some($name {
                    span: reader.span(),
                    name_span: reader.name_span(),
                    policy_id,
                    $( $afield: $crate::element!(@attr_take $areq $afield), )*
                    $( $cfield: $crate::element!(@child_take $coccurs $cfield), )*
                    content: content?,
                })
            }
        }

        impl $crate::read::Walk for $name {
            fn walk<'p>(&'p self, visit: &mut dyn FnMut(&'p [$crate::policies::Policy])) {
                $( $crate::read::Walk::walk(&self.$cfield, visit); )*
                $crate::read::Walk::walk(&self.content, visit);
            }
        }
    };
    (@attr_ty required $ty:ty) => { $crate::value::Value<$ty> };
    (@attr_ty optional $ty:ty) => { Option<$crate::value::Value<$ty>> };
    (@required required) => { true };
    (@required optional) => { false };
    (@expr expr) => { true };
    (@expr literal) => { false };
    (@default $default:literal) => { Some($default) };
    (@default) => { None };
    (@attr_take required $field:ident) => { $field? };
    (@attr_take optional $field:ident) => { $field };
    (@child_ty one $ty:ty) => { $ty };
    (@child_ty optional $ty:ty) => { Option<$ty> };
    (@child_ty many $ty:ty) => { Vec<$ty> };
    (@child_ty some $ty:ty) => { Vec<$ty> };
    (@occurs one) => { $crate::spec::Occurs::One };
    (@occurs optional) => { $crate::spec::Occurs::Optional };
    (@occurs many) => { $crate::spec::Occurs::Many };
    (@occurs some) => { $crate::spec::Occurs::Some };
    (@child_take one $field:ident) => { $field.into_iter().next()? };
    (@child_take optional $field:ident) => { $field.into_iter().next() };
    (@child_take many $field:ident) => { $field };
    (@child_take some $field:ident) => { $field };
}
