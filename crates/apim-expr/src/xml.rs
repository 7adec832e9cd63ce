//! LINQ to XML for expressions (`System.Xml.Linq`, on APIM's allow-list): `XDocument`, `XElement`,
//! `XAttribute`, `XText`/`XCData`, `XComment`, `XName`, `XNamespace`, as `context.Request.Body.As<XDocument>()`,
//! `XDocument.Parse` and `new XElement(…)` produce them.
//!
//! Azure: the policy expressions reference (reference 04 §3) allows every `System.Xml.Linq` type except
//! `XDocument.Load`. Behaviour follows .NET's LINQ to XML: parsing drops whitespace-only text
//! (`LoadOptions.None`), `ToString()` indents with two spaces except inside mixed content, names compare by
//! namespace and local name, and adding a node that already has a parent adds a copy.

use crate::value::*;
use parking_lot::Mutex;
use quick_xml::events::Event;
use rhai::Dynamic;
use std::sync::{Arc, Weak};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Elements nested deeper than this are refused by the parser (the serializer and the queries recurse).
const MAX_DEPTH: usize = 256;

/// An expanded name: namespace (empty for none) and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XName {
    pub ns: String,
    pub local: String,
}

impl XName {
    pub fn new(ns: &str, local: &str) -> XName {
        XName {
            ns: ns.to_string(),
            local: local.to_string(),
        }
    }

    /// `{namespace}local` or `local`, as `XName`'s implicit conversion from string reads it.
    pub fn parse(s: &str) -> Res<XName> {
        let bad = || {
            throw(
                "XmlException",
                format!(
                    "The '{}' character, hexadecimal value 0x{:X}, cannot be included in a name.",
                    s.chars().find(|c| !is_name_char(*c)).unwrap_or(' '),
                    s.chars().find(|c| !is_name_char(*c)).unwrap_or(' ') as u32
                ),
            )
        };
        if s.is_empty() {
            return Err(throw(
                "ArgumentException",
                "The empty string '' is not a valid name.",
            ));
        }
        let (ns, local) = match s.strip_prefix('{') {
            Some(rest) => match rest.split_once('}') {
                Some((ns, local)) if !local.is_empty() => (ns, local),
                _ => {
                    return Err(throw(
                        "XmlException",
                        "The '{' character, hexadecimal value 0x7B, cannot be included in a name."
                            .to_string(),
                    ));
                }
            },
            None => ("", s),
        };
        if !local.chars().all(is_name_char)
            || local.contains(':')
            || local.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(bad());
        }
        Ok(XName::new(ns, local))
    }

    /// `XName.ToString()`: `{namespace}local` or `local`.
    pub fn display(&self) -> String {
        if self.ns.is_empty() {
            self.local.clone()
        } else {
            format!("{{{}}}{}", self.ns, self.local)
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '\u{B7}')
}

pub type ElemRef = Arc<Mutex<XElem>>;
pub type DocRef = Arc<Mutex<XDoc>>;
pub type AttrRef = Arc<Mutex<XAttr>>;
pub type TextRef = Arc<Mutex<String>>;

#[derive(Debug, Default)]
pub struct XElem {
    pub name: XName,
    /// The prefix the element was written with, if any (serialization prefers it).
    pub prefix: Option<String>,
    pub attrs: Vec<AttrRef>,
    pub nodes: Vec<Node>,
    /// Written as `<a/>` (no content at all, not even empty text).
    pub empty: bool,
    pub parent: Option<Weak<Mutex<XElem>>>,
}

impl Default for XName {
    fn default() -> Self {
        XName::new("", "_")
    }
}

#[derive(Debug)]
pub struct XAttr {
    pub name: XName,
    pub prefix: Option<String>,
    pub value: String,
    pub parent: Option<Weak<Mutex<XElem>>>,
}

#[derive(Debug, Default)]
pub struct XDoc {
    pub nodes: Vec<Node>,
}

/// A child of an element or document.
#[derive(Debug, Clone)]
pub enum Node {
    Element(ElemRef),
    Text(TextRef),
    CData(TextRef),
    Comment(TextRef),
    /// Processing instruction: target and data.
    Pi(Arc<(String, String)>),
}

/// The root a handle holds only to keep its tree alive (never read).
pub type KeepAlive = Option<ElemRef>;

/// A LINQ to XML value.
#[derive(Debug, Clone)]
pub enum Xml {
    Document(DocRef),
    /// An element, and the root of its tree at the time the handle was made: the tree holds its children
    /// strongly and its parents weakly (no reference cycles), so a handle keeps its whole tree alive as a
    /// .NET reference would (`XElement.Parse(…).Element("b").Parent`).
    Element(ElemRef, #[allow(dead_code)] KeepAlive),
    Attribute(AttrRef, #[allow(dead_code)] KeepAlive),
    Node(Node),
    Name(Arc<XName>),
    Namespace(Arc<str>),
}

impl Xml {
    pub fn type_name(&self) -> &'static str {
        match self {
            Xml::Document(_) => "System.Xml.Linq.XDocument",
            Xml::Element(..) | Xml::Node(Node::Element(_)) => "System.Xml.Linq.XElement",
            Xml::Attribute(..) => "System.Xml.Linq.XAttribute",
            Xml::Node(Node::Text(_)) => "System.Xml.Linq.XText",
            Xml::Node(Node::CData(_)) => "System.Xml.Linq.XCData",
            Xml::Node(Node::Comment(_)) => "System.Xml.Linq.XComment",
            Xml::Node(Node::Pi(_)) => "System.Xml.Linq.XProcessingInstruction",
            Xml::Name(_) => "System.Xml.Linq.XName",
            Xml::Namespace(_) => "System.Xml.Linq.XNamespace",
        }
    }

    /// `is`/`as`/cast compatibility with a canonical type name.
    pub fn is_instance(&self, ty: &str) -> bool {
        let Some(short) = ty.strip_prefix("System.Xml.Linq.") else {
            return ty == "System.Object";
        };
        let own = self.type_name().trim_start_matches("System.Xml.Linq.");
        if short == own {
            return true;
        }
        match self {
            Xml::Document(_) => matches!(short, "XContainer" | "XNode" | "XObject"),
            Xml::Element(..) | Xml::Node(Node::Element(_)) => {
                matches!(short, "XContainer" | "XNode" | "XObject")
            }
            Xml::Attribute(..) => short == "XObject",
            Xml::Node(Node::CData(_)) => matches!(short, "XText" | "XNode" | "XObject"),
            Xml::Node(_) => matches!(short, "XNode" | "XObject"),
            Xml::Name(_) | Xml::Namespace(_) => false,
        }
    }

    /// Reference equality for nodes, value equality for names and namespaces.
    pub fn same(&self, other: &Xml) -> bool {
        match (self.normalized(), other.normalized()) {
            (Xml::Document(a), Xml::Document(b)) => Arc::ptr_eq(&a, &b),
            (Xml::Element(a, _), Xml::Element(b, _)) => Arc::ptr_eq(&a, &b),
            (Xml::Attribute(a, _), Xml::Attribute(b, _)) => Arc::ptr_eq(&a, &b),
            (Xml::Node(Node::Text(a)), Xml::Node(Node::Text(b)))
            | (Xml::Node(Node::CData(a)), Xml::Node(Node::CData(b)))
            | (Xml::Node(Node::Comment(a)), Xml::Node(Node::Comment(b))) => Arc::ptr_eq(&a, &b),
            (Xml::Name(a), Xml::Name(b)) => a == b,
            (Xml::Namespace(a), Xml::Namespace(b)) => a == b,
            _ => false,
        }
    }

    fn normalized(&self) -> Xml {
        match self {
            Xml::Node(Node::Element(e)) => Xml::Element(e.clone(), None),
            other => other.clone(),
        }
    }

    /// `ToString()`.
    pub fn to_net_string(&self) -> String {
        match self {
            Xml::Document(d) => {
                let mut w = Writer::new(true);
                for n in &d.lock().nodes {
                    w.node(n);
                }
                w.out
            }
            Xml::Element(e, _) | Xml::Node(Node::Element(e)) => {
                let mut w = Writer::new(true);
                w.element(e);
                w.out
            }
            Xml::Node(n) => {
                let mut w = Writer::new(true);
                w.node(n);
                w.out
            }
            Xml::Attribute(a, _) => {
                let a = a.lock();
                let mut out = String::new();
                if a.name.ns == XMLNS_NS {
                    out.push_str("xmlns:");
                } else if let Some(p) = &a.prefix {
                    out.push_str(p);
                    out.push(':');
                }
                out.push_str(&a.name.local);
                out.push_str("=\"");
                escape_attr(&a.value, &mut out);
                out.push('"');
                out
            }
            Xml::Name(n) => n.display(),
            Xml::Namespace(ns) => ns.to_string(),
        }
    }

    /// The string value an explicit conversion (`(string)element`, `(int)attribute`) reads.
    pub fn string_value(&self) -> Option<String> {
        match self {
            Xml::Element(e, _) | Xml::Node(Node::Element(e)) => Some(element_value(e)),
            Xml::Attribute(a, _) => Some(a.lock().value.clone()),
            Xml::Node(Node::Text(t) | Node::CData(t) | Node::Comment(t)) => Some(t.lock().clone()),
            _ => None,
        }
    }
}

pub fn xml(x: Xml) -> Dynamic {
    obj(Obj::Xml(x))
}

fn root_of(e: &ElemRef) -> Option<ElemRef> {
    let mut cur = parent_of(e)?;
    while let Some(p) = parent_of(&cur) {
        cur = p;
    }
    Some(cur)
}

/// A handle to an element (keeping its tree alive).
pub fn elem(e: ElemRef) -> Dynamic {
    let root = root_of(&e);
    xml(Xml::Element(e, root))
}

fn attr(a: AttrRef) -> Dynamic {
    let root = a
        .lock()
        .parent
        .as_ref()
        .and_then(Weak::upgrade)
        .map(|p| root_of(&p).unwrap_or(p));
    xml(Xml::Attribute(a, root))
}

fn node_value(n: Node) -> Dynamic {
    match n {
        Node::Element(e) => elem(e),
        other => xml(Xml::Node(other)),
    }
}

fn xml_error(message: impl Into<String>) -> Box<rhai::EvalAltResult> {
    throw("XmlException", message)
}

// ----- parsing -----

fn line_pos(text: &str, offset: usize) -> String {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    format!("Line {line}, position {col}.")
}

/// `XDocument.Parse(text)`: the whole document, whitespace-only text dropped.
pub fn parse_document(text: &str) -> Res<DocRef> {
    let nodes = parse_nodes(text)?;
    let doc = Arc::new(Mutex::new(XDoc { nodes }));
    Ok(doc)
}

/// `XElement.Parse(text)`: the root element of a document.
pub fn parse_element(text: &str) -> Res<ElemRef> {
    let nodes = parse_nodes(text)?;
    nodes
        .into_iter()
        .find_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
        .ok_or_else(|| xml_error("Root element is missing."))
}

struct Open {
    elem: ElemRef,
    scope_len: usize,
    qname: String,
}

fn parse_nodes(text: &str) -> Res<Vec<Node>> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut scopes: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    let mut root_seen = false;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            xml_error(format!(
                "{e}. {}",
                line_pos(text, reader.error_position() as usize)
            ))
        })?;
        // Text and references accumulate until the next markup.
        match &event {
            Event::Text(t) => {
                pending.push_str(&t.xml10_content());
                continue;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match r.as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        other => {
                            return Err(xml_error(format!(
                                "Reference to undeclared entity '{other}'. {}",
                                line_pos(text, at)
                            )));
                        }
                    },
                    Err(e) => return Err(xml_error(format!("{e}. {}", line_pos(text, at)))),
                };
                pending.push_str(&c);
                continue;
            }
            _ => {}
        }
        if !pending.is_empty() {
            let t = std::mem::take(&mut pending);
            // Azure/.NET: LoadOptions.None drops whitespace-only text.
            if !t.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                match stack.last() {
                    Some(open) => open
                        .elem
                        .lock()
                        .nodes
                        .push(Node::Text(Arc::new(Mutex::new(t)))),
                    None => {
                        return Err(xml_error(format!(
                            "Data at the root level is invalid. {}",
                            line_pos(text, at)
                        )));
                    }
                }
            }
        }
        match event {
            Event::Start(start) | Event::Empty(start) if stack.is_empty() && root_seen => {
                let _ = start;
                return Err(xml_error(format!(
                    "There are multiple root elements. {}",
                    line_pos(text, at)
                )));
            }
            ref ev @ (Event::Start(ref start) | Event::Empty(ref start)) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(throw(
                        "SandboxLimitExceeded",
                        format!("XML elements are nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let scope_len = scopes.len();
                let mut raw_attrs = Vec::new();
                for a in start.attributes().with_checks(true) {
                    let a = a.map_err(|e| xml_error(format!("{e}. {}", line_pos(text, at))))?;
                    let key = a.key.as_ref().to_string();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| xml_error(format!("{e}. {}", line_pos(text, at))))?
                        .into_owned();
                    if key == "xmlns" {
                        scopes.push((String::new(), value.clone()));
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        scopes.push((p.to_string(), value.clone()));
                    }
                    raw_attrs.push((key, value));
                }
                let qname = start.name().as_ref().to_string();
                let resolve = |q: &str, is_attr: bool| -> Res<(XName, Option<String>)> {
                    match q.split_once(':') {
                        Some(("xmlns", local)) => Ok((XName::new(XMLNS_NS, local), None)),
                        Some(("xml", local)) => Ok((XName::new(XML_NS, local), Some("xml".into()))),
                        Some((p, local)) => scopes
                            .iter()
                            .rev()
                            .find(|(sp, _)| sp == p)
                            .map(|(_, ns)| (XName::new(ns, local), Some(p.to_string())))
                            .ok_or_else(|| {
                                xml_error(format!(
                                    "'{p}' is an undeclared prefix. {}",
                                    line_pos(text, at)
                                ))
                            }),
                        None if is_attr => Ok((XName::new("", q), None)),
                        None => Ok((
                            XName::new(
                                scopes
                                    .iter()
                                    .rev()
                                    .find(|(sp, _)| sp.is_empty())
                                    .map(|(_, ns)| ns.as_str())
                                    .unwrap_or(""),
                                q,
                            ),
                            None,
                        )),
                    }
                };
                let (name, prefix) = resolve(&qname, false)?;
                let elem = Arc::new(Mutex::new(XElem {
                    name,
                    prefix,
                    attrs: Vec::new(),
                    nodes: Vec::new(),
                    empty: matches!(ev, Event::Empty(_)),
                    parent: stack.last().map(|o| Arc::downgrade(&o.elem)),
                }));
                {
                    let mut e = elem.lock();
                    for (key, value) in raw_attrs {
                        let (name, prefix) = resolve(&key, true)?;
                        e.attrs.push(Arc::new(Mutex::new(XAttr {
                            name,
                            prefix,
                            value,
                            parent: Some(Arc::downgrade(&elem)),
                        })));
                    }
                }
                match stack.last() {
                    Some(open) => open.elem.lock().nodes.push(Node::Element(elem.clone())),
                    None => {
                        root_seen = true;
                        top.push(Node::Element(elem.clone()));
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    stack.push(Open {
                        elem,
                        scope_len,
                        qname,
                    });
                } else {
                    scopes.truncate(scope_len);
                }
            }
            Event::End(_) => {
                if let Some(open) = stack.pop() {
                    scopes.truncate(open.scope_len);
                }
            }
            Event::CData(c) => {
                let t = c.xml10_content().into_owned();
                match stack.last() {
                    Some(open) => open
                        .elem
                        .lock()
                        .nodes
                        .push(Node::CData(Arc::new(Mutex::new(t)))),
                    None => {
                        return Err(xml_error(format!(
                            "Data at the root level is invalid. {}",
                            line_pos(text, at)
                        )));
                    }
                }
            }
            Event::Comment(c) => {
                let node = Node::Comment(Arc::new(Mutex::new(c.xml10_content().into_owned())));
                match stack.last() {
                    Some(open) => open.elem.lock().nodes.push(node),
                    None => top.push(node),
                }
            }
            Event::PI(pi) => {
                let node = Node::Pi(Arc::new((
                    pi.target().to_string(),
                    pi.content().trim_start().to_string(),
                )));
                match stack.last() {
                    Some(open) => open.elem.lock().nodes.push(node),
                    None => top.push(node),
                }
            }
            Event::Decl(_) | Event::DocType(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(xml_error(format!(
                        "Unexpected end of file has occurred. The following elements are not closed: {}. {}",
                        open.qname,
                        line_pos(text, text.len())
                    )));
                }
                if !root_seen {
                    return Err(xml_error("Root element is missing."));
                }
                return Ok(top);
            }
            Event::Text(_) | Event::GeneralRef(_) => {}
        }
    }
}

// ----- serialization -----

/// `XmlWriter` with `Indent = true` as LINQ to XML's `ToString()` uses it: two spaces, a line break before
/// each child element unless the parent's content is mixed (once text was written in an element, nothing
/// inside it is indented any more).
struct Writer {
    out: String,
    indent: bool,
    depth: usize,
    mixed: bool,
    /// In-scope namespace bindings (prefix, namespace), innermost last.
    scopes: Vec<(String, String)>,
}

impl Writer {
    fn new(indent: bool) -> Writer {
        Writer {
            out: String::new(),
            indent,
            depth: 0,
            mixed: false,
            scopes: Vec::new(),
        }
    }

    fn newline(&mut self) {
        if self.indent && !self.mixed && !self.out.is_empty() {
            self.out.push_str(NEWLINE);
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    fn node(&mut self, n: &Node) {
        match n {
            Node::Element(e) => self.element(e),
            Node::Text(t) => {
                self.mixed = true;
                escape_text(&t.lock(), &mut self.out);
            }
            Node::CData(t) => {
                self.mixed = true;
                self.out.push_str("<![CDATA[");
                self.out.push_str(&t.lock());
                self.out.push_str("]]>");
            }
            Node::Comment(t) => {
                self.newline();
                self.out.push_str("<!--");
                self.out.push_str(&t.lock());
                self.out.push_str("-->");
            }
            Node::Pi(p) => {
                self.newline();
                self.out.push_str("<?");
                self.out.push_str(&p.0);
                if !p.1.is_empty() {
                    self.out.push(' ');
                    self.out.push_str(&p.1);
                }
                self.out.push_str("?>");
            }
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        self.scopes
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, ns)| ns.as_str())
    }

    fn element(&mut self, e: &ElemRef) {
        let e = e.lock();
        self.newline();
        let scope_len = self.scopes.len();
        for a in &e.attrs {
            let a = a.lock();
            if a.name.ns == XMLNS_NS {
                self.scopes.push((a.name.local.clone(), a.value.clone()));
            } else if a.name.ns.is_empty() && a.name.local == "xmlns" {
                self.scopes.push((String::new(), a.value.clone()));
            }
        }
        // The element's prefix: the one it was written with if still bound to its namespace, else any
        // in-scope prefix of it, else a default-namespace declaration is added.
        let mut extra_decl = None;
        let prefix: Option<String> = if e.name.ns == XML_NS {
            Some("xml".into())
        } else if let Some(p) = e
            .prefix
            .as_ref()
            .filter(|p| self.lookup(p) == Some(e.name.ns.as_str()))
        {
            Some(p.clone())
        } else if self.lookup("").unwrap_or("") == e.name.ns {
            None
        } else if let Some((p, _)) = self
            .scopes
            .iter()
            .rev()
            .find(|(p, ns)| !p.is_empty() && *ns == e.name.ns && self.lookup(p) == Some(ns))
        {
            Some(p.clone())
        } else {
            extra_decl = Some(e.name.ns.clone());
            self.scopes.push((String::new(), e.name.ns.clone()));
            None
        };
        let qname = match &prefix {
            Some(p) => format!("{p}:{}", e.name.local),
            None => e.name.local.clone(),
        };
        self.out.push('<');
        self.out.push_str(&qname);
        for a in &e.attrs {
            let a = a.lock();
            self.out.push(' ');
            if a.name.ns == XMLNS_NS {
                self.out.push_str("xmlns:");
            } else if !a.name.ns.is_empty() {
                let p = if a.name.ns == XML_NS {
                    Some("xml".to_string())
                } else {
                    a.prefix
                        .clone()
                        .filter(|p| self.lookup(p) == Some(a.name.ns.as_str()))
                        .or_else(|| {
                            self.scopes
                                .iter()
                                .rev()
                                .find(|(p, ns)| !p.is_empty() && *ns == a.name.ns)
                                .map(|(p, _)| p.clone())
                        })
                };
                if let Some(p) = p {
                    self.out.push_str(&p);
                    self.out.push(':');
                }
            }
            self.out.push_str(&a.name.local);
            self.out.push_str("=\"");
            escape_attr(&a.value, &mut self.out);
            self.out.push('"');
        }
        if let Some(ns) = extra_decl {
            self.out.push_str(" xmlns=\"");
            escape_attr(&ns, &mut self.out);
            self.out.push('"');
        }
        if e.nodes.is_empty() && e.empty {
            self.out.push_str(" />");
        } else {
            self.out.push('>');
            let saved_mixed = self.mixed;
            self.depth += 1;
            for n in &e.nodes {
                self.node(n);
            }
            self.depth -= 1;
            let ends_with_text = matches!(e.nodes.last(), Some(Node::Text(_) | Node::CData(_)));
            if !e.nodes.is_empty() && !ends_with_text {
                self.newline();
            }
            self.mixed = saved_mixed;
            self.out.push_str("</");
            self.out.push_str(&qname);
            self.out.push('>');
        }
        self.scopes.truncate(scope_len);
    }
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}

// ----- queries -----

/// `XElement.Value`: the text of every descendant text node, in document order.
pub fn element_value(e: &ElemRef) -> String {
    fn walk(e: &ElemRef, out: &mut String) {
        for n in &e.lock().nodes {
            match n {
                Node::Element(c) => walk(c, out),
                Node::Text(t) | Node::CData(t) => out.push_str(&t.lock()),
                _ => {}
            }
        }
    }
    let mut out = String::new();
    walk(e, &mut out);
    out
}

fn child_elements(nodes: &[Node]) -> Vec<ElemRef> {
    nodes
        .iter()
        .filter_map(|n| match n {
            Node::Element(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn descendants(nodes: &[Node], out: &mut Vec<ElemRef>) {
    for e in child_elements(nodes) {
        out.push(e.clone());
        let inner = e.lock().nodes.clone();
        descendants(&inner, out);
    }
}

/// An optional name argument: `XName`, or a string in `{ns}local` form.
fn name_arg(v: &Dynamic) -> Res<Option<XName>> {
    match kind_of(v) {
        None if v.is_unit() => Ok(None),
        Some(Xml::Name(n)) => Ok(Some((*n).clone())),
        _ => match v.clone().into_immutable_string() {
            Ok(s) => XName::parse(&s).map(Some),
            Err(_) => Err(throw(
                "InvalidCastException",
                "Unable to cast the argument to System.Xml.Linq.XName.",
            )),
        },
    }
}

fn required_name(v: &Dynamic) -> Res<XName> {
    name_arg(v)?.ok_or_else(|| arg_null("name"))
}

fn kind_of(v: &Dynamic) -> Option<Xml> {
    match &*v.read_lock::<Obj>()? {
        Obj::Xml(x) => Some(x.clone()),
        _ => None,
    }
}

fn filter(elems: Vec<ElemRef>, name: &Option<XName>) -> Dynamic {
    let items = elems
        .into_iter()
        .filter(|e| name.as_ref().is_none_or(|n| e.lock().name == *n))
        .map(elem)
        .collect();
    seq(SeqKind::Enumerable, items)
}

fn first_named(nodes: &[Node], name: &XName) -> Option<ElemRef> {
    child_elements(nodes)
        .into_iter()
        .find(|e| e.lock().name == *name)
}

fn opt_elem(e: Option<ElemRef>) -> Dynamic {
    e.map(elem).unwrap_or(Dynamic::UNIT)
}

fn parent_of(e: &ElemRef) -> Option<ElemRef> {
    e.lock().parent.as_ref().and_then(Weak::upgrade)
}

// ----- building and changing -----

/// Deep copy of an element (the copy has no parent).
fn clone_element(e: &ElemRef) -> ElemRef {
    let src = e.lock();
    let copy = Arc::new(Mutex::new(XElem {
        name: src.name.clone(),
        prefix: src.prefix.clone(),
        attrs: Vec::new(),
        nodes: Vec::new(),
        empty: src.empty,
        parent: None,
    }));
    let attrs = src
        .attrs
        .iter()
        .map(|a| {
            let a = a.lock();
            Arc::new(Mutex::new(XAttr {
                name: a.name.clone(),
                prefix: a.prefix.clone(),
                value: a.value.clone(),
                parent: Some(Arc::downgrade(&copy)),
            }))
        })
        .collect();
    let nodes = src.nodes.iter().map(|n| clone_node(n, &copy)).collect();
    drop(src);
    {
        let mut c = copy.lock();
        c.attrs = attrs;
        c.nodes = nodes;
    }
    copy
}

fn clone_node(n: &Node, parent: &ElemRef) -> Node {
    match n {
        Node::Element(e) => {
            let c = clone_element(e);
            c.lock().parent = Some(Arc::downgrade(parent));
            Node::Element(c)
        }
        Node::Text(t) => Node::Text(Arc::new(Mutex::new(t.lock().clone()))),
        Node::CData(t) => Node::CData(Arc::new(Mutex::new(t.lock().clone()))),
        Node::Comment(t) => Node::Comment(Arc::new(Mutex::new(t.lock().clone()))),
        Node::Pi(p) => Node::Pi(p.clone()),
    }
}

/// Content for `Add`/`new XElement(name, content…)`: nodes and attributes, sequences flattened, other values
/// as text (XmlConvert formatting), null ignored.
enum Content {
    Node(Node),
    Attr(XName, Option<String>, String),
}

fn content(v: &Dynamic, out: &mut Vec<Content>, depth: usize) -> Res<()> {
    if depth > 64 {
        return Err(throw(
            "SandboxLimitExceeded",
            "XML content is nested too deeply",
        ));
    }
    if v.is_unit() {
        return Ok(());
    }
    if let Some(x) = kind_of(v) {
        match x {
            Xml::Element(e, _) | Xml::Node(Node::Element(e)) => {
                // .NET: a node that already has a parent is added as a copy.
                let has_parent = e
                    .lock()
                    .parent
                    .as_ref()
                    .is_some_and(|p| p.upgrade().is_some());
                let e = if has_parent { clone_element(&e) } else { e };
                out.push(Content::Node(Node::Element(e)));
            }
            Xml::Node(n) => out.push(Content::Node(n)),
            Xml::Attribute(a, _) => {
                let a = a.lock();
                out.push(Content::Attr(
                    a.name.clone(),
                    a.prefix.clone(),
                    a.value.clone(),
                ));
            }
            Xml::Document(d) => {
                for n in d.lock().nodes.clone() {
                    content(&node_value(n), out, depth + 1)?;
                }
            }
            Xml::Name(_) | Xml::Namespace(_) => {
                out.push(Content::Node(Node::Text(Arc::new(Mutex::new(
                    x.to_net_string(),
                )))));
            }
        }
        return Ok(());
    }
    if v.is_string() {
        out.push(Content::Node(Node::Text(Arc::new(Mutex::new(
            v.clone().into_string().unwrap_or_default(),
        )))));
        return Ok(());
    }
    if v.read_lock::<Obj>()
        .is_some_and(|o| matches!(&*o, Obj::Seq(..)))
    {
        for item in crate::members::items(v)? {
            content(&item, out, depth + 1)?;
        }
        return Ok(());
    }
    out.push(Content::Node(Node::Text(Arc::new(Mutex::new(
        xml_convert_string(v)?,
    )))));
    Ok(())
}

/// `XmlConvert.ToString` for the values LINQ to XML turns into text.
fn xml_convert_string(v: &Dynamic) -> Res<String> {
    if let Ok(b) = v.as_bool() {
        return Ok(if b { "true" } else { "false" }.into());
    }
    if let Ok(d) = v.as_float() {
        return Ok(if d.is_infinite() {
            if d > 0.0 { "INF" } else { "-INF" }.into()
        } else {
            crate::format::double_to_string(d)
        });
    }
    if let Some(o) = v.read_lock::<Obj>()
        && matches!(&*o, Obj::DateTime(..) | Obj::DateTimeOffset(..))
    {
        return crate::runtime::to_string_fmt(v, "o");
    }
    crate::runtime::to_string_fmt(v, "")
}

/// Levels of elements below and including `e` (trees never exceed `MAX_DEPTH`, so this is bounded).
fn height(e: &ElemRef) -> usize {
    1 + child_elements(&e.lock().nodes)
        .iter()
        .map(height)
        .max()
        .unwrap_or(0)
}

fn depth(e: &ElemRef) -> usize {
    let mut d = 1;
    let mut cur = parent_of(e);
    while let Some(p) = cur {
        d += 1;
        cur = parent_of(&p);
    }
    d
}

fn add_to_element(target: &ElemRef, items: Vec<Content>, first: bool) -> Res<()> {
    // Serialization, queries and drop recurse over the tree: keep it within the parser's depth limit.
    let room = MAX_DEPTH.saturating_sub(depth(target));
    for item in &items {
        if let Content::Node(Node::Element(c)) = item
            && height(c) > room
        {
            return Err(throw(
                "SandboxLimitExceeded",
                format!("XML elements would be nested deeper than {MAX_DEPTH} levels"),
            ));
        }
    }
    let mut new_nodes = Vec::new();
    for item in items {
        match item {
            Content::Node(n) => {
                if let Node::Element(c) = &n {
                    if Arc::ptr_eq(c, target) {
                        let copy = clone_element(c);
                        copy.lock().parent = Some(Arc::downgrade(target));
                        new_nodes.push(Node::Element(copy));
                        continue;
                    }
                    c.lock().parent = Some(Arc::downgrade(target));
                }
                new_nodes.push(n);
            }
            Content::Attr(name, prefix, value) => {
                let mut t = target.lock();
                if t.attrs.iter().any(|a| a.lock().name == name) {
                    return Err(throw("InvalidOperationException", "Duplicate attribute."));
                }
                t.attrs.push(Arc::new(Mutex::new(XAttr {
                    name,
                    prefix,
                    value,
                    parent: Some(Arc::downgrade(target)),
                })));
            }
        }
    }
    let mut t = target.lock();
    t.empty = false;
    if first {
        let rest = std::mem::take(&mut t.nodes);
        t.nodes = new_nodes;
        t.nodes.extend(rest);
    } else {
        for n in new_nodes {
            // .NET merges adjacent strings into one text node.
            if let (Node::Text(new), Some(Node::Text(last))) = (&n, t.nodes.last()) {
                let s = new.lock().clone();
                last.lock().push_str(&s);
                continue;
            }
            t.nodes.push(n);
        }
    }
    Ok(())
}

fn add_to_document(d: &DocRef, items: Vec<Content>) -> Res<()> {
    let mut doc = d.lock();
    for item in items {
        match item {
            Content::Node(Node::Element(e)) => {
                if doc.nodes.iter().any(|n| matches!(n, Node::Element(_))) {
                    return Err(throw(
                        "InvalidOperationException",
                        "This operation would create an incorrectly structured document.",
                    ));
                }
                doc.nodes.push(Node::Element(e));
            }
            Content::Node(n @ (Node::Comment(_) | Node::Pi(_))) => doc.nodes.push(n),
            Content::Node(Node::Text(t) | Node::CData(t)) => {
                if !t.lock().trim().is_empty() {
                    return Err(throw(
                        "ArgumentException",
                        "Non-whitespace characters cannot be added to content.",
                    ));
                }
            }
            Content::Attr(..) => {
                return Err(throw(
                    "ArgumentException",
                    "An attribute cannot be added to content.",
                ));
            }
        }
    }
    Ok(())
}

fn set_value(e: &ElemRef, v: &Dynamic) -> Res<()> {
    if v.is_unit() {
        return Err(arg_null("value"));
    }
    let text = match kind_of(v) {
        Some(x) => x.string_value().unwrap_or_else(|| x.to_net_string()),
        None if v.is_string() => v.clone().into_string().unwrap_or_default(),
        None => xml_convert_string(v)?,
    };
    let mut e = e.lock();
    e.nodes = vec![Node::Text(Arc::new(Mutex::new(text)))];
    e.empty = false;
    Ok(())
}

fn remove_from_parent(e: &ElemRef) -> Res<()> {
    let Some(parent) = parent_of(e) else {
        return Err(throw("InvalidOperationException", "The parent is missing."));
    };
    parent
        .lock()
        .nodes
        .retain(|n| !matches!(n, Node::Element(c) if Arc::ptr_eq(c, e)));
    e.lock().parent = None;
    Ok(())
}

/// `new XElement(…)`, `new XAttribute(…)`, `new XDocument(…)`, `new XComment(…)`, `new XCData(…)`, `new XText(…)`.
pub fn construct(ty: &str, args: &[Dynamic]) -> Res {
    let a = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    let text_arg = |i: usize| -> Res<String> {
        let v = a(i);
        if v.is_unit() {
            return Err(arg_null("value"));
        }
        Ok(crate::runtime::to_display_string(&v))
    };
    Ok(match ty {
        "System.Xml.Linq.XElement" => {
            if let Some(Xml::Element(src, _)) = kind_of(&a(0)) {
                return Ok(elem(clone_element(&src)));
            }
            let name = required_name(&a(0))?;
            let e = Arc::new(Mutex::new(XElem {
                name,
                empty: true,
                ..XElem::default()
            }));
            let mut items = Vec::new();
            for v in args.iter().skip(1) {
                content(v, &mut items, 0)?;
            }
            if !items.is_empty() {
                add_to_element(&e, items, false)?;
            }
            elem(e)
        }
        "System.Xml.Linq.XAttribute" => {
            let name = required_name(&a(0))?;
            let v = a(1);
            if v.is_unit() {
                return Err(arg_null("value"));
            }
            let value = match kind_of(&v) {
                Some(x) => x.string_value().unwrap_or_else(|| x.to_net_string()),
                None if v.is_string() => v.into_string().unwrap_or_default(),
                None => xml_convert_string(&v)?,
            };
            attr(Arc::new(Mutex::new(XAttr {
                name,
                prefix: None,
                value,
                parent: None,
            })))
        }
        "System.Xml.Linq.XDocument" => {
            let d = Arc::new(Mutex::new(XDoc::default()));
            if let Some(Xml::Document(src)) = kind_of(&a(0)) {
                let mut items = Vec::new();
                content(&xml(Xml::Document(src)), &mut items, 0)?;
                add_to_document(&d, items)?;
                return Ok(xml(Xml::Document(d)));
            }
            let mut items = Vec::new();
            for v in args {
                content(v, &mut items, 0)?;
            }
            add_to_document(&d, items)?;
            xml(Xml::Document(d))
        }
        "System.Xml.Linq.XComment" => {
            xml(Xml::Node(Node::Comment(Arc::new(Mutex::new(text_arg(0)?)))))
        }
        "System.Xml.Linq.XCData" => xml(Xml::Node(Node::CData(Arc::new(Mutex::new(text_arg(0)?))))),
        "System.Xml.Linq.XText" => xml(Xml::Node(Node::Text(Arc::new(Mutex::new(text_arg(0)?))))),
        other => return Err(not_implemented(format!("new {other}()"))),
    })
}

/// Static members: `XDocument.Parse`, `XElement.Parse`, `XName.Get`, `XNamespace.Get`.
pub fn static_call(ty: &str, name: &str, args: &[Dynamic]) -> Res {
    let a = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    let text = |i: usize| -> Res<String> {
        let v = a(i);
        if v.is_unit() {
            return Err(arg_null("text"));
        }
        Ok(crate::runtime::to_display_string(&v))
    };
    Ok(match (ty, name) {
        ("System.Xml.Linq.XDocument", "Parse") => xml(Xml::Document(parse_document(&text(0)?)?)),
        ("System.Xml.Linq.XElement", "Parse") => elem(parse_element(&text(0)?)?),
        ("System.Xml.Linq.XName", "Get") => {
            if args.len() >= 2 {
                let local = text(0)?;
                let ns = text(1)?;
                XName::parse(&local)?;
                xml(Xml::Name(Arc::new(XName::new(&ns, &local))))
            } else {
                xml(Xml::Name(Arc::new(XName::parse(&text(0)?)?)))
            }
        }
        ("System.Xml.Linq.XNamespace", "Get") => xml(Xml::Namespace(text(0)?.into())),
        _ => return Err(not_implemented(format!("{ty}.{name}"))),
    })
}

/// Static properties: `XNamespace.None`, `XNamespace.Xml`, `XNamespace.Xmlns`.
pub fn static_get(ty: &str, name: &str) -> Option<Dynamic> {
    match (ty, name) {
        ("System.Xml.Linq.XNamespace", "None") => Some(xml(Xml::Namespace("".into()))),
        ("System.Xml.Linq.XNamespace", "Xml") => Some(xml(Xml::Namespace(XML_NS.into()))),
        ("System.Xml.Linq.XNamespace", "Xmlns") => Some(xml(Xml::Namespace(XMLNS_NS.into()))),
        _ => None,
    }
}

/// Implicit conversions from string (`XNamespace ns = "urn:x";`, `XName n = "a";`).
pub fn implicit(v: Dynamic, ty: &str) -> Res {
    if !v.is_string() {
        return Ok(v);
    }
    let s = v.clone().into_string().unwrap_or_default();
    Ok(match ty {
        "System.Xml.Linq.XNamespace" => xml(Xml::Namespace(s.into())),
        "System.Xml.Linq.XName" => xml(Xml::Name(Arc::new(XName::parse(&s)?))),
        _ => v,
    })
}

/// `ns + "local"`: an `XName` in that namespace.
pub fn add(a: &Dynamic, b: &Dynamic) -> Option<Res> {
    let Some(Xml::Namespace(ns)) = kind_of(a) else {
        return None;
    };
    let local = b.clone().into_string().ok()?;
    Some(XName::parse(&local).map(|n| xml(Xml::Name(Arc::new(XName::new(&ns, &n.local))))))
}

/// `==` between an `XName`/`XNamespace` and a string (C# converts the string implicitly).
pub fn equals_string(x: &Xml, s: &str) -> bool {
    match x {
        Xml::Name(n) => XName::parse(s).is_ok_and(|p| p == **n),
        Xml::Namespace(ns) => &**ns == s,
        _ => false,
    }
}

/// Explicit conversions of an element, attribute or text to a primitive: XmlConvert's formats.
pub fn convert(x: &Xml, ty: &str) -> Option<Res> {
    let s = x.string_value()?;
    let format = |what: &str| {
        throw(
            "FormatException",
            format!("The string '{s}' is not a valid {what} value."),
        )
    };
    let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    Some(match ty {
        "System.String" => Ok(string(s.clone())),
        "System.Int32" => t.parse::<i32>().map(int).map_err(|_| format("Int32")),
        "System.Int64" => t.parse::<i64>().map(long).map_err(|_| format("Int64")),
        "System.Boolean" => match t {
            "true" | "1" => Ok(Dynamic::from_bool(true)),
            "false" | "0" => Ok(Dynamic::from_bool(false)),
            _ => Err(format("Boolean")),
        },
        "System.Double" | "System.Single" => match t {
            "INF" => Ok(Dynamic::from_float(f64::INFINITY)),
            "-INF" => Ok(Dynamic::from_float(f64::NEG_INFINITY)),
            "NaN" => Ok(Dynamic::from_float(f64::NAN)),
            _ if t
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) =>
            {
                t.parse::<f64>()
                    .map(Dynamic::from_float)
                    .map_err(|_| format("Double"))
            }
            _ => Err(format("Double")),
        },
        "System.Decimal" => t
            .parse::<f64>()
            .map(|d| obj(Obj::Decimal(d)))
            .map_err(|_| format("Decimal")),
        "System.DateTime" => crate::members::parse_datetime(t),
        "System.DateTimeOffset" => crate::members::parse_datetime_offset(t),
        "System.Guid" => crate::members::parse_guid(t),
        _ => return None,
    })
}

/// `Value = …` on an element or attribute.
pub fn set_member(x: &Xml, name: &str, v: Dynamic) -> Option<Res<()>> {
    match (x, name) {
        (Xml::Element(e, _) | Xml::Node(Node::Element(e)), "Value") => Some(set_value(e, &v)),
        (Xml::Attribute(a, _), "Value") => Some(if v.is_unit() {
            Err(arg_null("value"))
        } else {
            a.lock().value = crate::runtime::to_display_string(&v);
            Ok(())
        }),
        (Xml::Node(Node::Text(t) | Node::CData(t) | Node::Comment(t)), "Value") => {
            *t.lock() = crate::runtime::to_display_string(&v);
            Some(Ok(()))
        }
        _ => None,
    }
}

/// Instance members; `None` when the value has no such member.
pub fn member(x: &Xml, name: &str, args: &[Dynamic], property: bool) -> Res<Option<Dynamic>> {
    let a = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    let opt_name = || name_arg(&a(0));
    let r = match x {
        Xml::Name(n) => match name {
            "LocalName" => string(n.local.clone()),
            "NamespaceName" => string(n.ns.clone()),
            "Namespace" => xml(Xml::Namespace(n.ns.as_str().into())),
            _ => return Ok(None),
        },
        Xml::Namespace(ns) => match name {
            "NamespaceName" => string(ns.to_string()),
            "GetName" => {
                let local = XName::parse(&crate::runtime::to_display_string(&a(0)))?;
                xml(Xml::Name(Arc::new(XName::new(ns, &local.local))))
            }
            _ => return Ok(None),
        },
        Xml::Attribute(at, _) => match name {
            "Name" => xml(Xml::Name(Arc::new(at.lock().name.clone()))),
            "Value" => string(at.lock().value.clone()),
            "IsNamespaceDeclaration" => {
                let n = &at.lock().name;
                Dynamic::from_bool(n.ns == XMLNS_NS || n.ns.is_empty() && n.local == "xmlns")
            }
            "Parent" => opt_elem(at.lock().parent.as_ref().and_then(Weak::upgrade)),
            "Remove" => {
                let parent = at.lock().parent.as_ref().and_then(Weak::upgrade);
                let Some(p) = parent else {
                    return Err(throw("InvalidOperationException", "The parent is missing."));
                };
                p.lock().attrs.retain(|o| !Arc::ptr_eq(o, at));
                at.lock().parent = None;
                Dynamic::UNIT
            }
            "SetValue" => {
                set_member(x, "Value", a(0)).unwrap_or(Ok(()))?;
                Dynamic::UNIT
            }
            _ => return Ok(None),
        },
        Xml::Node(Node::Element(e)) | Xml::Element(e, _) => {
            return element_member(e, name, args, property);
        }
        Xml::Node(Node::Text(t) | Node::CData(t) | Node::Comment(t)) => match name {
            "Value" => string(t.lock().clone()),
            _ => return Ok(None),
        },
        Xml::Node(Node::Pi(p)) => match name {
            "Target" => string(p.0.clone()),
            "Data" => string(p.1.clone()),
            _ => return Ok(None),
        },
        Xml::Document(d) => {
            let nodes = d.lock().nodes.clone();
            match name {
                "Root" => opt_elem(child_elements(&nodes).into_iter().next()),
                "Elements" => filter(child_elements(&nodes), &opt_name()?),
                "Element" => opt_elem(first_named(&nodes, &required_name(&a(0))?)),
                "Descendants" => {
                    let mut all = Vec::new();
                    descendants(&nodes, &mut all);
                    filter(all, &opt_name()?)
                }
                "Nodes" => seq(
                    SeqKind::Enumerable,
                    nodes.into_iter().map(node_value).collect(),
                ),
                "FirstNode" => nodes
                    .first()
                    .cloned()
                    .map(node_value)
                    .unwrap_or(Dynamic::UNIT),
                "LastNode" => nodes
                    .last()
                    .cloned()
                    .map(node_value)
                    .unwrap_or(Dynamic::UNIT),
                "Declaration" => Dynamic::UNIT,
                "Add" => {
                    let mut items = Vec::new();
                    for v in args {
                        content(v, &mut items, 0)?;
                    }
                    add_to_document(d, items)?;
                    Dynamic::UNIT
                }
                _ => return Ok(None),
            }
        }
    };
    Ok(Some(r))
}

fn element_member(
    e: &ElemRef,
    name: &str,
    args: &[Dynamic],
    _property: bool,
) -> Res<Option<Dynamic>> {
    let a = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    let opt_name = || name_arg(&a(0));
    let nodes = || e.lock().nodes.clone();
    let items = || -> Res<Vec<Content>> {
        let mut items = Vec::new();
        for v in args {
            content(v, &mut items, 0)?;
        }
        Ok(items)
    };
    let r = match name {
        "Name" => xml(Xml::Name(Arc::new(e.lock().name.clone()))),
        "Value" => string(element_value(e)),
        "HasElements" => Dynamic::from_bool(nodes().iter().any(|n| matches!(n, Node::Element(_)))),
        "HasAttributes" => Dynamic::from_bool(!e.lock().attrs.is_empty()),
        "IsEmpty" => Dynamic::from_bool(e.lock().nodes.is_empty() && e.lock().empty),
        "Parent" => opt_elem(parent_of(e)),
        "Attribute" => {
            let n = required_name(&a(0))?;
            let attrs = e.lock().attrs.clone();
            attrs
                .into_iter()
                .find(|at| at.lock().name == n)
                .map(attr)
                .unwrap_or(Dynamic::UNIT)
        }
        "Attributes" => {
            let n = opt_name()?;
            let attrs = e.lock().attrs.clone();
            seq(
                SeqKind::Enumerable,
                attrs
                    .into_iter()
                    .filter(|at| n.as_ref().is_none_or(|n| at.lock().name == *n))
                    .map(attr)
                    .collect(),
            )
        }
        "FirstAttribute" => opt_attr(e.lock().attrs.first().cloned()),
        "LastAttribute" => opt_attr(e.lock().attrs.last().cloned()),
        "Element" => opt_elem(first_named(&nodes(), &required_name(&a(0))?)),
        "Elements" => filter(child_elements(&nodes()), &opt_name()?),
        "Descendants" | "DescendantsAndSelf" => {
            let mut all = Vec::new();
            if name == "DescendantsAndSelf" {
                all.push(e.clone());
            }
            descendants(&nodes(), &mut all);
            filter(all, &opt_name()?)
        }
        "Ancestors" | "AncestorsAndSelf" => {
            let mut all = Vec::new();
            if name == "AncestorsAndSelf" {
                all.push(e.clone());
            }
            let mut cur = parent_of(e);
            while let Some(p) = cur {
                cur = parent_of(&p);
                all.push(p);
            }
            filter(all, &opt_name()?)
        }
        "Nodes" => seq(
            SeqKind::Enumerable,
            nodes().into_iter().map(node_value).collect(),
        ),
        "FirstNode" => nodes()
            .first()
            .cloned()
            .map(node_value)
            .unwrap_or(Dynamic::UNIT),
        "LastNode" => nodes()
            .last()
            .cloned()
            .map(node_value)
            .unwrap_or(Dynamic::UNIT),
        "GetDefaultNamespace" => {
            let mut cur = Some(e.clone());
            let mut found = String::new();
            while let Some(el) = cur {
                if let Some(at) = el.lock().attrs.iter().find(|at| {
                    let n = &at.lock().name;
                    n.ns.is_empty() && n.local == "xmlns"
                }) {
                    found = at.lock().value.clone();
                    break;
                }
                cur = parent_of(&el);
            }
            xml(Xml::Namespace(found.into()))
        }
        "GetNamespaceOfPrefix" => {
            let p = crate::runtime::to_display_string(&a(0));
            if p == "xml" {
                return Ok(Some(xml(Xml::Namespace(XML_NS.into()))));
            }
            let mut cur = Some(e.clone());
            let mut found = Dynamic::UNIT;
            while let Some(el) = cur {
                if let Some(at) = el.lock().attrs.iter().find(|at| {
                    let n = &at.lock().name;
                    n.ns == XMLNS_NS && n.local == p
                }) {
                    found = xml(Xml::Namespace(at.lock().value.as_str().into()));
                    break;
                }
                cur = parent_of(&el);
            }
            found
        }
        "Add" => {
            add_to_element(e, items()?, false)?;
            Dynamic::UNIT
        }
        "AddFirst" => {
            add_to_element(e, items()?, true)?;
            Dynamic::UNIT
        }
        "ReplaceNodes" => {
            let new = items()?;
            e.lock().nodes.clear();
            add_to_element(e, new, false)?;
            Dynamic::UNIT
        }
        "ReplaceAll" => {
            let new = items()?;
            {
                let mut el = e.lock();
                el.nodes.clear();
                el.attrs.clear();
            }
            add_to_element(e, new, false)?;
            Dynamic::UNIT
        }
        "ReplaceWith" => {
            let new = items()?;
            let Some(parent) = parent_of(e) else {
                return Err(throw("InvalidOperationException", "The parent is missing."));
            };
            let mut replacement = Vec::new();
            for item in new {
                if let Content::Node(n) = item {
                    if let Node::Element(c) = &n {
                        c.lock().parent = Some(Arc::downgrade(&parent));
                    }
                    replacement.push(n);
                }
            }
            let mut p = parent.lock();
            if let Some(i) = p
                .nodes
                .iter()
                .position(|n| matches!(n, Node::Element(c) if Arc::ptr_eq(c, e)))
            {
                p.nodes.splice(i..=i, replacement);
            }
            drop(p);
            e.lock().parent = None;
            Dynamic::UNIT
        }
        "SetValue" => {
            set_value(e, &a(0))?;
            Dynamic::UNIT
        }
        "SetAttributeValue" => {
            let n = required_name(&a(0))?;
            let v = a(1);
            let mut el = e.lock();
            let existing = el.attrs.iter().position(|at| at.lock().name == n);
            match (existing, v.is_unit()) {
                (Some(i), true) => {
                    el.attrs.remove(i);
                }
                (Some(i), false) => el.attrs[i].lock().value = xml_convert_string(&v)?,
                (None, true) => {}
                (None, false) => el.attrs.push(Arc::new(Mutex::new(XAttr {
                    name: n,
                    prefix: None,
                    value: xml_convert_string(&v)?,
                    parent: Some(Arc::downgrade(e)),
                }))),
            }
            Dynamic::UNIT
        }
        "SetElementValue" => {
            let n = required_name(&a(0))?;
            let v = a(1);
            match (first_named(&nodes(), &n), v.is_unit()) {
                (Some(c), true) => remove_from_parent(&c)?,
                (Some(c), false) => set_value(&c, &v)?,
                (None, true) => {}
                (None, false) => {
                    let c = Arc::new(Mutex::new(XElem {
                        name: n,
                        parent: Some(Arc::downgrade(e)),
                        ..XElem::default()
                    }));
                    set_value(&c, &v)?;
                    let mut el = e.lock();
                    el.empty = false;
                    el.nodes.push(Node::Element(c));
                }
            }
            Dynamic::UNIT
        }
        "Remove" => {
            remove_from_parent(e)?;
            Dynamic::UNIT
        }
        "RemoveAll" => {
            let mut el = e.lock();
            el.nodes.clear();
            el.attrs.clear();
            el.empty = true;
            Dynamic::UNIT
        }
        "RemoveNodes" => {
            let mut el = e.lock();
            el.nodes.clear();
            el.empty = true;
            Dynamic::UNIT
        }
        "RemoveAttributes" => {
            e.lock().attrs.clear();
            Dynamic::UNIT
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn opt_attr(a: Option<AttrRef>) -> Dynamic {
    a.map(attr).unwrap_or(Dynamic::UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(s: &str) -> String {
        s.replace('\n', NEWLINE)
    }

    fn round_trip(text: &str) -> String {
        Xml::Document(parse_document(text).expect("parses")).to_net_string()
    }

    #[test]
    fn indents_like_xmlwriter() {
        assert_eq!(
            round_trip("<a x='1'><b>t</b><c/><d></d></a>"),
            crlf("<a x=\"1\">\n  <b>t</b>\n  <c />\n  <d></d>\n</a>")
        );
        // Mixed content is written as is.
        assert_eq!(round_trip("<a>x<b>y</b></a>"), "<a>x<b>y</b></a>");
        assert_eq!(
            round_trip("<a>\n  <b>1</b>\n</a>"),
            crlf("<a>\n  <b>1</b>\n</a>")
        );
    }

    #[test]
    fn keeps_prefixes_and_namespaces() {
        let doc = parse_document(
            "<s:Envelope xmlns:s='urn:s'><s:Body><m xmlns='urn:m'>1</m></s:Body></s:Envelope>",
        )
        .expect("parses");
        assert_eq!(
            Xml::Document(doc.clone()).to_net_string(),
            crlf(
                "<s:Envelope xmlns:s=\"urn:s\">\n  <s:Body>\n    <m xmlns=\"urn:m\">1</m>\n  </s:Body>\n</s:Envelope>"
            )
        );
        let root = parse_element("<a xmlns='urn:x'><b/></a>").expect("parses");
        assert_eq!(root.lock().name, XName::new("urn:x", "a"));
    }

    proptest::proptest! {
        /// Whatever a request body holds, parsing it gives a document or an XmlException, never a panic, and
        /// what parses serializes.
        #[test]
        fn any_body_parses_or_fails_cleanly(text in "(<[a-c:]{0,3}( [a-c:]{1,2}=['\"][a-c&;<]{0,2}['\"])?/?>|</[a-c:]{0,3}>|[a-c &;#x<>]{0,3}|<!--|-->|<!\\[CDATA\\[|\\]\\]>){0,12}") {
            if let Ok(doc) = parse_document(&text) {
                let _ = Xml::Document(doc).to_net_string();
            }
        }
    }

    #[test]
    fn trees_stay_within_the_depth_limit() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse_document(&deep).is_err());
        let mut e = Arc::new(Mutex::new(XElem::default()));
        let mut refused = false;
        for _ in 0..MAX_DEPTH + 10 {
            let parent = Arc::new(Mutex::new(XElem::default()));
            if add_to_element(
                &parent,
                vec![Content::Node(Node::Element(e.clone()))],
                false,
            )
            .is_err()
            {
                refused = true;
                break;
            }
            e = parent;
        }
        assert!(refused && height(&e) == MAX_DEPTH);
        assert_eq!(line_pos("é<", 1), "Line 1, position 1.");
    }

    #[test]
    fn malformed_documents_are_xml_exceptions() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "text",
            "<a/><b/>",
            "<p:a/>",
            "<a>&nope;</a>",
        ] {
            let e = parse_document(bad).expect_err(bad);
            let rhai::EvalAltResult::ErrorRuntime(v, _) = *e else {
                panic!("{bad}: {e:?}")
            };
            let ty = match &*v.read_lock::<Obj>().expect("an exception object") {
                Obj::Exception(x) => x.ty.clone(),
                other => panic!("{bad}: {other:?}"),
            };
            assert_eq!(ty, "XmlException", "{bad}");
        }
    }
}
