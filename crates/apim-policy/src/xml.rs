//! A small spanned XML tree read with quick-xml from the masked text of [`crate::scan`].
//!
//! This is an intermediate form used only while building the typed AST: elements with their name, attribute
//! and content spans, all byte offsets into the original file. It is built with an explicit stack (no
//! recursion) and a depth limit, so thousands of nested elements give a located diagnostic, not a stack
//! overflow. End tags are matched here rather than by quick-xml so a mismatch names both tags and recovery
//! can continue. Nothing here knows what a policy is.

use std::ops::Range;

use apim_source::{Code, Diagnostic, FileId, Span};
use quick_xml::events::{BytesStart, Event};

/// Deepest element nesting accepted. Real policies rarely exceed 15 levels. The typed parser recurses once
/// per level (about 12 KiB of stack per level in a debug build), and 64 levels stay well inside a 2 MiB
/// thread stack (test threads, tokio workers); deeper input gets a located P004 instead of a stack overflow.
pub const MAX_ELEMENT_DEPTH: usize = 64;

/// One element with spans into the original text.
#[derive(Debug, Clone)]
pub struct XmlElement {
    pub name: String,
    pub name_span: Span,
    /// From `<` of the start tag to `>` of the end tag (or of `/>`).
    pub span: Span,
    pub attrs: Vec<XmlAttr>,
    pub children: Vec<XmlNode>,
    /// Between the start tag's `>` and the end tag's `<`; empty for `<x/>`.
    pub content: Range<u32>,
}

#[derive(Debug, Clone)]
pub struct XmlAttr {
    pub name: String,
    pub name_span: Span,
    /// The value between the quotes, still XML-escaped in the original text.
    pub value_span: Span,
}

#[derive(Debug, Clone)]
pub enum XmlNode {
    Element(XmlElement),
    /// Character data (entities not yet decoded).
    Text(Range<u32>),
    /// The inside of `<![CDATA[…]]>`.
    CData(Range<u32>),
}

impl XmlElement {
    pub fn attr(&self, name: &str) -> Option<&XmlAttr> {
        self.attrs.iter().find(|attr| attr.name == name)
    }

    pub fn elements(&self) -> impl Iterator<Item = &XmlElement> {
        self.children.iter().filter_map(|node| match node {
            XmlNode::Element(element) => Some(element),
            _ => None,
        })
    }
}

/// Reads the masked text into a tree. On a syntax error the tree read so far is dropped: `None`.
pub fn read_tree(
    file: FileId,
    masked: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<XmlElement> {
    // A byte-order mark would make quick-xml's positions disagree with ours; three spaces keep every offset.
    let without_bom;
    let masked = match masked.strip_prefix('\u{feff}') {
        Some(rest) => {
            without_bom = format!("   {rest}");
            without_bom.as_str()
        }
        None => masked,
    };
    let mut reader = quick_xml::Reader::from_str(masked);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    // Azure: APIM reads policies with .NET's XML reader, which rejects `--` inside a comment.
    config.check_comments = true;
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let span = |start: usize, end: usize| Span::new(file, start as u32, end as u32);
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => {
                let at = reader.error_position() as usize;
                let message = describe_xml_error(&error);
                let mut diagnostic = Diagnostic::error(
                    Code::XmlSyntax,
                    format!("malformed XML: {message}"),
                    span(at, (at + 1).min(masked.len())),
                    "here",
                );
                if message.contains("in a comment") {
                    diagnostic = diagnostic.with_help(
                        "XML comments may not contain `--` (check for a comment left open before the next `<!--`)",
                    );
                }
                diagnostics.push(diagnostic);
                return None;
            }
        };
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let _ = start;
                diagnostics.push(Diagnostic::error(
                    Code::XmlSyntax,
                    "malformed XML: more than one root element",
                    span(before, after),
                    "second root element",
                ));
                return None;
            }
            Event::Start(start) => {
                if stack.len() >= MAX_ELEMENT_DEPTH {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::NestingTooDeep,
                            format!("elements nested deeper than {MAX_ELEMENT_DEPTH} levels"),
                            span(before, after),
                            "too deep",
                        )
                        .with_help("policies this deep are not something APIM would accept either; flatten them"),
                    );
                    return None;
                }
                let element = open_element(file, masked, &start, before, after, diagnostics)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let mut element = open_element(file, masked, &start, before, after, diagnostics)?;
                element.content = after as u32..after as u32;
                attach(&mut stack, &mut root, element);
            }
            Event::End(end) => {
                let name = end.name().as_ref().to_string();
                let end_name_span = span(before + 2, before + 2 + name.len());
                match stack.iter().rposition(|open| open.name == name) {
                    Some(idx) => {
                        // Elements opened after the matching one were never closed.
                        while stack.len() > idx + 1 {
                            let mut unclosed = stack.pop().expect("len > idx + 1");
                            diagnostics.push(
                                Diagnostic::error(
                                    Code::MismatchedEndTag,
                                    format!("expected `</{}>`, found `</{name}>`", unclosed.name),
                                    end_name_span.clone(),
                                    format!("closes `<{name}>`"),
                                )
                                .with_secondary(
                                    unclosed.name_span.clone(),
                                    format!("`<{}>` opened here", unclosed.name),
                                ),
                            );
                            unclosed.content = unclosed.content.start..before as u32;
                            unclosed.span = unclosed.span.cover(&span(before, before));
                            attach(&mut stack, &mut root, unclosed);
                        }
                        let mut element = stack.pop().expect("idx < len");
                        element.content = element.content.start..before as u32;
                        element.span = element.span.cover(&span(before, after));
                        attach(&mut stack, &mut root, element);
                    }
                    None => {
                        let mut diagnostic = Diagnostic::error(
                            Code::MismatchedEndTag,
                            format!("end tag `</{name}>` does not close any open element"),
                            end_name_span,
                            "unexpected end tag",
                        );
                        if let Some(open) = stack.last() {
                            diagnostic = diagnostic
                                .with_secondary(
                                    open.name_span.clone(),
                                    format!("`<{}>` is open here", open.name),
                                )
                                .with_help(format!("did you mean `</{}>`?", open.name));
                        }
                        diagnostics.push(diagnostic);
                    }
                }
            }
            Event::Text(_) | Event::GeneralRef(_) => {
                if let Some(open) = stack.last_mut() {
                    match open.children.last_mut() {
                        Some(XmlNode::Text(range)) if range.end == before as u32 => {
                            range.end = after as u32
                        }
                        _ => open
                            .children
                            .push(XmlNode::Text(before as u32..after as u32)),
                    }
                } else if !masked
                    .get(before..after)
                    .is_none_or(|text| text.trim().is_empty())
                {
                    diagnostics.push(Diagnostic::error(
                        Code::XmlSyntax,
                        "malformed XML: text outside the root element",
                        span(before, after),
                        "unexpected text",
                    ));
                    return None;
                }
            }
            Event::CData(_) => {
                if let Some(open) = stack.last_mut() {
                    open.children
                        .push(XmlNode::CData((before + 9) as u32..(after - 3) as u32));
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(unclosed) = stack.first() {
        diagnostics.push(
            Diagnostic::error(
                Code::UnclosedElement,
                format!("`<{}>` is never closed", unclosed.name),
                unclosed.name_span.clone(),
                "opened here",
            )
            .with_help(format!("add `</{}>`", unclosed.name)),
        );
        if let Some(innermost) = stack
            .last()
            .filter(|innermost| innermost.name_span != unclosed.name_span)
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::UnclosedElement,
                    format!("`<{}>` is never closed", innermost.name),
                    innermost.name_span.clone(),
                    "opened here",
                )
                .with_help(format!("add `</{}>`", innermost.name)),
            );
        }
        return None;
    }
    if root.is_none() {
        diagnostics.push(Diagnostic::error(
            Code::XmlSyntax,
            "malformed XML: no root element",
            span(0, masked.len().min(1)),
            "expected `<policies>` or `<fragment>`",
        ));
    }
    root
}

fn attach(stack: &mut [XmlElement], root: &mut Option<XmlElement>, element: XmlElement) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(XmlNode::Element(element)),
        None => *root = Some(element),
    }
}

fn open_element(
    file: FileId,
    masked: &str,
    start: &BytesStart<'_>,
    before: usize,
    after: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<XmlElement> {
    let base = masked.as_ptr() as usize;
    let name = start.name().as_ref().to_string();
    let name_start = before + 1;
    let mut attrs = Vec::new();
    for attribute in start.attributes().with_checks(false) {
        let attribute = match attribute {
            Ok(attribute) => attribute,
            Err(error) => {
                let at = (before + error_offset(&error)).min(after);
                diagnostics.push(Diagnostic::error(
                    Code::XmlSyntax,
                    format!("malformed XML: {}", strip_position(&error.to_string())),
                    Span::new(file, at as u32, (at + 1).min(after) as u32),
                    "in this tag",
                ));
                return None;
            }
        };
        let key: &str = attribute.key.as_ref();
        let key_start = key.as_ptr() as usize - base;
        let value_start = match &attribute.value {
            std::borrow::Cow::Borrowed(value) => value.as_ptr() as usize - base,
            std::borrow::Cow::Owned(_) => unreachable!("attributes read from a &str borrow it"),
        };
        attrs.push(XmlAttr {
            name: key.to_string(),
            name_span: Span::new(file, key_start as u32, (key_start + key.len()) as u32),
            value_span: Span::new(
                file,
                value_start as u32,
                (value_start + attribute.value.len()) as u32,
            ),
        });
    }
    Some(XmlElement {
        name_span: Span::new(file, name_start as u32, (name_start + name.len()) as u32),
        name,
        span: Span::new(file, before as u32, after as u32),
        attrs,
        children: Vec::new(),
        content: after as u32..after as u32,
    })
}

fn error_offset(error: &quick_xml::events::attributes::AttrError) -> usize {
    use quick_xml::events::attributes::AttrError;
    match error {
        AttrError::ExpectedEq(at)
        | AttrError::ExpectedValue(at)
        | AttrError::UnquotedValue(at)
        | AttrError::ExpectedQuote(at, _)
        | AttrError::Duplicated(at, _) => *at + 1,
    }
}

/// quick-xml prefixes some messages with a relative "position N:"; our spans already say where.
fn strip_position(message: &str) -> String {
    match message
        .strip_prefix("position ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((number, rest)) if number.chars().all(|ch| ch.is_ascii_digit()) => rest.to_string(),
        _ => message.to_string(),
    }
}

fn describe_xml_error(error: &quick_xml::Error) -> String {
    let text = strip_position(&error.to_string());
    // quick-xml messages sometimes start with a capital and end with a period; ours do neither.
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unreadable input".to_string(),
    }
}
