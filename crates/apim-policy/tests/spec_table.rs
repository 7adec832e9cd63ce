//! Table-driven over the whole policy registry: for every policy (and every element inside it) a minimal
//! document built from its spec validates clean, and each required attribute, required child, typed value,
//! literal-only attribute and cross-attribute rule is enforced with the right diagnostic code.

use apim_policy::policies::REGISTRY;
use apim_policy::spec::{ContentKind, ElementSpec, Rule};
use apim_policy::value::ValueType;
use apim_policy::{ParseOptions, parse};
use apim_source::{Code, FileId};

/// An element to print as XML.
#[derive(Clone, Debug)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: Option<String>,
}

impl Node {
    fn to_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attrs {
            out.push_str(&format!(
                " {name}=\"{}\"",
                value
                    .replace('&', "&amp;")
                    .replace('"', "&quot;")
                    .replace('<', "&lt;")
            ));
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            out.push_str(text);
        }
        for child in &self.children {
            child.to_xml(out);
        }
        out.push_str(&format!("</{}>", self.name));
    }

    /// The node at a path of child indices.
    fn at(&mut self, path: &[usize]) -> &mut Node {
        match path.split_first() {
            None => self,
            Some((first, rest)) => self.children[*first].at(rest),
        }
    }
}

fn sample(ty: ValueType) -> String {
    match ty {
        ValueType::String => "x".to_string(),
        ValueType::Integer | ValueType::Seconds => "1".to_string(),
        ValueType::Number => "0.5".to_string(),
        ValueType::Bool => "true".to_string(),
        ValueType::Enum(values) => values[0].to_string(),
    }
}

/// The smallest valid element for a spec.
fn minimal(spec: &ElementSpec) -> Node {
    let mut node = Node {
        name: spec.name.to_string(),
        attrs: Vec::new(),
        children: Vec::new(),
        text: None,
    };
    for attr in spec.attrs.iter().filter(|attr| attr.required) {
        node.attrs.push((attr.name.to_string(), sample(attr.ty)));
    }
    for child in spec.children.iter().filter(|child| child.occurs.required()) {
        node.children.push(minimal(child.spec));
    }
    for rule in spec.rules {
        if let Rule::ExactlyOne(names) | Rule::AtLeastOne(names) = rule {
            add_named(&mut node, spec, names[0]);
        }
    }
    node.text = match spec.content {
        ContentKind::Text | ContentKind::Raw => Some("x".to_string()),
        ContentKind::None | ContentKind::Policies => None,
    };
    node
}

/// Adds the attribute or child element called `name` (rules name either).
fn add_named(node: &mut Node, spec: &ElementSpec, name: &str) {
    if node.attrs.iter().any(|(existing, _)| existing == name)
        || node.children.iter().any(|child| child.name == name)
    {
        return;
    }
    if let Some(attr) = spec.attr(name) {
        node.attrs.push((name.to_string(), sample(attr.ty)));
    } else if let Some(child) = spec.child(name) {
        node.children.push(minimal(child.spec));
    } else {
        panic!(
            "rule of <{}> names `{name}`, which is neither an attribute nor a child",
            spec.name
        );
    }
}

/// Wraps a policy in a document whose section allows it.
fn document(policy: &Node, sections: &[apim_policy::Section]) -> String {
    let mut body = String::new();
    policy.to_xml(&mut body);
    match sections.first() {
        Some(section) => format!("<policies><{0}>{body}</{0}></policies>", section.as_str()),
        None => format!("<fragment>{body}</fragment>"),
    }
}

fn codes(xml: &str) -> Vec<(Code, String)> {
    parse(FileId(0), xml, &ParseOptions::default())
        .diagnostics
        .into_iter()
        .map(|diagnostic| (diagnostic.code, diagnostic.message))
        .collect()
}

#[track_caller]
fn expect_code(xml: &str, code: Code, mention: &str, case: &str) {
    let found = codes(xml);
    assert!(
        found
            .iter()
            .any(|(found_code, message)| *found_code == code && message.contains(mention)),
        "{case}: expected {} mentioning `{mention}`, got {found:?}\n{xml}",
        code.id()
    );
}

/// Every element in a spec tree with its path of child indices in the minimal node.
fn elements(
    spec: &'static ElementSpec,
    node: &Node,
    path: Vec<usize>,
    out: &mut Vec<(&'static ElementSpec, Vec<usize>)>,
) {
    out.push((spec, path.clone()));
    for (idx, child) in node.children.iter().enumerate() {
        let child_spec = spec
            .child(&child.name)
            .expect("minimal nodes only hold declared children")
            .spec;
        let mut child_path = path.clone();
        child_path.push(idx);
        elements(child_spec, child, child_path, out);
    }
}

#[test]
fn every_policy_checks_its_attributes_children_and_rules() {
    let mut n_checks = 0;
    for entry in REGISTRY {
        let policy = minimal(entry.spec);
        let sections = entry.info.sections;
        let clean = document(&policy, sections);
        assert_eq!(
            codes(&clean),
            vec![],
            "minimal <{}> should validate clean:\n{clean}",
            entry.spec.name
        );

        let mut all = Vec::new();
        elements(entry.spec, &policy, Vec::new(), &mut all);
        for (spec, path) in all {
            let case = format!("<{}> in <{}>", spec.name, entry.spec.name);
            for attr in spec.attrs {
                let present = policy
                    .clone()
                    .at(&path)
                    .attrs
                    .iter()
                    .any(|(name, _)| name == attr.name);
                if attr.required {
                    let mut mutated = policy.clone();
                    mutated
                        .at(&path)
                        .attrs
                        .retain(|(name, _)| name != attr.name);
                    expect_code(
                        &document(&mutated, sections),
                        Code::MissingAttribute,
                        attr.name,
                        &case,
                    );
                    n_checks += 1;
                }
                let with_value = |value: &str| {
                    let mut mutated = policy.clone();
                    let node = mutated.at(&path);
                    node.attrs.retain(|(name, _)| name != attr.name);
                    node.attrs.push((attr.name.to_string(), value.to_string()));
                    document(&mutated, sections)
                };
                if attr.ty != ValueType::String {
                    expect_code(
                        &with_value("not-a-valid-value"),
                        Code::InvalidAttributeValue,
                        attr.name,
                        &case,
                    );
                    n_checks += 1;
                    // A named value is checked after substitution; unknown, it is only a warning.
                    let deferred = codes(&with_value("{{some-named-value}}"));
                    assert!(
                        deferred
                            .iter()
                            .all(|(code, _)| *code == Code::UnresolvedNamedValue),
                        "{case}: {deferred:?}"
                    );
                }
                if !attr.expr {
                    expect_code(
                        &with_value("@(\"x\")"),
                        Code::ExpressionNotAllowed,
                        "does not accept policy expressions",
                        &case,
                    );
                    n_checks += 1;
                } else if present || attr.required {
                    let found = codes(&with_value("@(context.Variables[\"v\"])"));
                    assert_eq!(found, vec![], "{case}: `{}` takes expressions", attr.name);
                }
            }
            for child in spec.children.iter().filter(|child| child.occurs.required()) {
                let mut mutated = policy.clone();
                mutated
                    .at(&path)
                    .children
                    .retain(|node| node.name != child.name);
                expect_code(
                    &document(&mutated, sections),
                    Code::MissingChild,
                    child.name,
                    &case,
                );
                n_checks += 1;
            }
            for rule in spec.rules {
                let names = match rule {
                    Rule::ExactlyOne(names) | Rule::AtMostOne(names) => names,
                    Rule::AtLeastOne(_) => continue,
                };
                let mut mutated = policy.clone();
                add_named(mutated.at(&path), spec, names[0]);
                add_named(mutated.at(&path), spec, names[1]);
                expect_code(
                    &document(&mutated, sections),
                    Code::AttributeConflict,
                    names[1],
                    &case,
                );
                n_checks += 1;
            }
            // Foreign markup (`<xsl:stylesheet>`) follows its own schema and is not checked for attributes.
            if !spec.name.contains(':') {
                let mut unknown = policy.clone();
                unknown
                    .at(&path)
                    .attrs
                    .push(("definitely-not-an-attribute".to_string(), "1".to_string()));
                expect_code(
                    &document(&unknown, sections),
                    Code::UnknownAttribute,
                    "definitely-not-an-attribute",
                    &case,
                );
            }
        }
        if let Some(forbidden) = apim_policy::Section::ALL
            .iter()
            .find(|section| !sections.contains(section))
            && !sections.is_empty()
        {
            expect_code(
                &document(&policy, &[*forbidden]),
                Code::PolicyNotAllowedInSection,
                entry.spec.name,
                entry.spec.name,
            );
        }
    }
    eprintln!(
        "checked {} policies with {n_checks} mutations",
        REGISTRY.len()
    );
    assert!(REGISTRY.len() >= 70 && n_checks > 200);
}

#[test]
fn registry_is_sorted_and_names_are_unique() {
    for pair in REGISTRY.windows(2) {
        assert!(
            pair[0].spec.name < pair[1].spec.name,
            "{} before {}",
            pair[0].spec.name,
            pair[1].spec.name
        );
    }
    for name in [
        "set-backend-service",
        "retry",
        "authentication-managed-identity",
        "llm-token-limit",
        "azure-openai-emit-token-metric",
        "cache-store-value",
        "validate-azure-ad-token",
        "get-authorization-context",
        "find-and-replace",
        "emit-metric",
        "include-fragment",
    ] {
        assert!(
            apim_policy::policies::lookup(name).is_some(),
            "{name} is missing"
        );
    }
}
