//! Whole documents: `<policies>` with its four sections, or a `<fragment>`; the `parse` entry point.

use apim_source::{Code, Diagnostic, FileId, Span};

use crate::policies::{Policy, parse_policies};
use crate::read::{Ctx, ParseOptions};
use crate::spec::Section;
use crate::value::ExprSource;
use crate::xml::{XmlElement, XmlNode, read_tree};

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub file: FileId,
    /// The root element.
    pub span: Span,
    pub kind: DocumentKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DocumentKind {
    /// `<policies>` with up to four sections, in the order written.
    Policies(Vec<SectionBlock>),
    /// `<fragment>`: policies spliced into a section by `include-fragment`.
    Fragment(Vec<Policy>),
}

/// One section of a `<policies>` document.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionBlock {
    pub section: Section,
    pub span: Span,
    pub name_span: Span,
    pub policies: Vec<Policy>,
}

impl PolicyDocument {
    /// The policies of one section, if the document has it.
    pub fn section(&self, section: Section) -> Option<&SectionBlock> {
        match &self.kind {
            DocumentKind::Policies(sections) => {
                sections.iter().find(|block| block.section == section)
            }
            DocumentKind::Fragment(_) => None,
        }
    }

    pub fn is_fragment(&self) -> bool {
        matches!(self.kind, DocumentKind::Fragment(_))
    }
}

/// A document (when the XML could be read at all) and every diagnostic found.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub document: Option<PolicyDocument>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every policy expression the document's values hold, in reading order: what a gateway compiles.
    pub expressions: Vec<ExprSource>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses policy XML as APIM reads it (raw expressions allowed) and validates it.
pub fn parse(file: FileId, text: &str, options: &ParseOptions) -> Parsed {
    parse_with_section(file, text, None, options)
}

/// Parses a fragment as if spliced into `section`, so its policies are checked against that section.
pub fn parse_in_section(
    file: FileId,
    text: &str,
    section: Section,
    options: &ParseOptions,
) -> Parsed {
    parse_with_section(file, text, Some(section), options)
}

fn parse_with_section(
    file: FileId,
    text: &str,
    fragment_section: Option<Section>,
    options: &ParseOptions,
) -> Parsed {
    let scan = crate::scan::prescan(file, text);
    let mut diagnostics = scan.diagnostics;
    let Some(root) = read_tree(file, &scan.masked, &mut diagnostics) else {
        return Parsed {
            document: None,
            diagnostics,
            expressions: Vec::new(),
        };
    };
    let mut ctx = Ctx {
        file,
        text,
        exprs: &scan.exprs,
        options,
        diagnostics,
        section: None,
        expressions: Vec::new(),
    };
    let kind = match root.name.as_str() {
        "policies" => Some(DocumentKind::Policies(parse_sections(&mut ctx, &root))),
        "fragment" => {
            ctx.section = fragment_section;
            check_no_attributes(&mut ctx, &root);
            Some(DocumentKind::Fragment(parse_policies(
                &mut ctx, &root, false,
            )))
        }
        other => {
            ctx.push(
                Diagnostic::error(
                    Code::InvalidRoot,
                    format!("a policy document starts with `<policies>` or `<fragment>`, not `<{other}>`"),
                    root.name_span.clone(),
                    "unexpected root element",
                )
                .with_help("wrap the policies in `<policies><inbound>…</inbound></policies>`"),
            );
            None
        }
    };
    if let Some(kind) = &kind {
        check_retried_bodies(&mut ctx, kind);
    }
    let mut diagnostics = std::mem::take(&mut ctx.diagnostics);
    diagnostics.sort_by_key(|diagnostic| (diagnostic.primary.span.start(), diagnostic.code));
    diagnostics.dedup();
    Parsed {
        document: kind.map(|kind| PolicyDocument {
            file,
            span: root.span.clone(),
            kind,
        }),
        diagnostics,
        expressions: {
            let mut expressions = ctx.expressions;
            expressions.sort_by_key(|expr| expr.span.start());
            expressions.dedup_by_key(|expr| expr.span.clone());
            expressions
        },
    }
}

fn check_no_attributes(ctx: &mut Ctx<'_>, element: &XmlElement) {
    for attr in element
        .attrs
        .iter()
        .filter(|attr| !attr.name.starts_with("xmlns"))
    {
        ctx.push(Diagnostic::warning(
            Code::UnknownAttribute,
            format!("unknown attribute `{}` on `<{}>`", attr.name, element.name),
            attr.name_span.clone(),
            format!("`<{}>` takes no attributes", element.name),
        ));
    }
}

fn parse_sections(ctx: &mut Ctx<'_>, root: &XmlElement) -> Vec<SectionBlock> {
    check_no_attributes(ctx, root);
    let mut sections: Vec<SectionBlock> = Vec::new();
    for node in &root.children {
        let element = match node {
            XmlNode::Element(element) => element,
            XmlNode::Text(range) | XmlNode::CData(range) => {
                let text = &ctx.text[range.start as usize..range.end as usize];
                if !text.trim().is_empty() {
                    let span = ctx.span(range.start, range.end);
                    ctx.push(Diagnostic::error(
                        Code::UnexpectedText,
                        "`<policies>` does not take text content",
                        span,
                        "unexpected text",
                    ));
                }
                continue;
            }
        };
        let Some(section) = Section::from_name(&element.name) else {
            let mut diagnostic = Diagnostic::error(
                Code::InvalidSection,
                format!("`<{}>` is not a section", element.name),
                element.name_span.clone(),
                "expected `inbound`, `backend`, `outbound` or `on-error`",
            );
            if let Some(suggestion) = crate::read::did_you_mean(
                &element.name,
                Section::ALL.iter().map(|section| section.as_str()),
            ) {
                diagnostic = diagnostic.with_help(format!("did you mean `<{suggestion}>`?"));
            } else if crate::policies::lookup(&element.name).is_some() {
                diagnostic = diagnostic.with_help(format!(
                    "put `<{}>` inside a section such as `<inbound>`",
                    element.name
                ));
            }
            ctx.push(diagnostic);
            continue;
        };
        if let Some(first) = sections.iter().find(|block| block.section == section) {
            let diagnostic = Diagnostic::error(
                Code::InvalidSection,
                format!("section `<{}>` appears twice", element.name),
                element.name_span.clone(),
                "repeated section",
            )
            .with_secondary(first.name_span.clone(), "first here");
            ctx.push(diagnostic);
            continue;
        }
        check_no_attributes(ctx, element);
        ctx.section = Some(section);
        let policies = parse_policies(ctx, element, true);
        ctx.section = None;
        sections.push(SectionBlock {
            section,
            span: element.span.clone(),
            name_span: element.name_span.clone(),
            policies,
        });
    }
    sections
}

/// The root element name of a document, if the text looks like XML at all. Used to skip files in a folder
/// that are not policies (a cheap look, not a parse).
pub fn sniff_root(text: &str) -> Option<&str> {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = &after[after.find("?>")? + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->")? + 3..];
        } else if let Some(after) = rest.strip_prefix("<!") {
            rest = &after[after.find('>')? + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let end = after.find(|ch: char| ch.is_whitespace() || ch == '>' || ch == '/')?;
            return Some(&after[..end]);
        } else {
            return None;
        }
    }
}

/// Azure: without `buffer-request-body="true"`, a request body is not replayed when `<retry>` runs
/// `forward-request` again (reference 02 forward-request; a well-known production surprise).
fn check_retried_bodies(ctx: &mut Ctx<'_>, kind: &DocumentKind) {
    use crate::policies::Policy;
    let blocks: Vec<&[Policy]> = match kind {
        DocumentKind::Policies(sections) => {
            sections.iter().map(|s| s.policies.as_slice()).collect()
        }
        DocumentKind::Fragment(policies) => vec![policies.as_slice()],
    };
    for block in blocks {
        crate::compose::visit_policies(block, &mut |policy| {
            let Policy::Retry(retry) = policy else { return };
            crate::compose::visit_policies(&retry.content.0, &mut |inner| {
                let Policy::ForwardRequest(forward) = inner else {
                    return;
                };
                let buffered = matches!(
                    &forward.buffer_request_body,
                    Some(crate::value::Value::Literal { value: true, .. })
                ) || matches!(
                    &forward.buffer_request_body,
                    Some(crate::value::Value::Expression(_))
                );
                if !buffered {
                    ctx.push(
                        Diagnostic::warning(
                            Code::RetryBodyNotBuffered,
                            "a retried `forward-request` without `buffer-request-body=\"true\"` sends the request body only on the first attempt",
                            forward.name_span.clone(),
                            "retried without a buffered body",
                        )
                        .with_secondary(retry.name_span.clone(), "retried here")
                        .with_help("add buffer-request-body=\"true\" if requests to this API have bodies (POST, PUT)"),
                    );
                }
            });
        });
    }
}
