//! Scopes and fragments: the effective policy of a section across global → workspace → product → API →
//! operation, and checks of `include-fragment` against a set of fragment documents.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/api-management-howto-policies — inheritance is
//! nested and positioned by `<base />`: the narrowest scope's section runs, and where it holds `<base />` the
//! same section of the next broader scope runs at that spot. A section without `<base />` drops everything
//! broader; a missing section inherits. `<base />` at global scope does nothing.
//! Azure: https://learn.microsoft.com/azure/api-management/policy-fragments — a fragment is spliced in as is,
//! may not contain `<base />` and may not include another fragment.

use std::collections::BTreeMap;

use apim_source::{Code, Diagnostic, FileId, Severity, Span};

use crate::document::{DocumentKind, PolicyDocument, parse_in_section};
use crate::policies::Policy;
use crate::read::ParseOptions;
use crate::spec::{Scope, Section};

/// A policy document at a scope.
#[derive(Debug, Clone, Copy)]
pub struct ScopedDocument<'d> {
    pub scope: Scope,
    pub document: &'d PolicyDocument,
}

/// One policy of an effective section, with the scope it came from.
#[derive(Debug, Clone, Copy)]
pub struct EffectivePolicy<'d> {
    pub scope: Scope,
    pub policy: &'d Policy,
}

/// The effective policy list of `section`, expanding `<base />` from the narrowest scope outward.
/// `scopes` may come in any order and skip scopes; a scope given twice keeps the last.
pub fn effective_section<'d>(
    scopes: &[ScopedDocument<'d>],
    section: Section,
) -> Vec<EffectivePolicy<'d>> {
    let mut by_scope: BTreeMap<Scope, &'d PolicyDocument> = BTreeMap::new();
    for scoped in scopes {
        by_scope.insert(scoped.scope, scoped.document);
    }
    let chain: Vec<(Scope, &'d PolicyDocument)> = by_scope.into_iter().collect();
    let mut effective = Vec::new();
    if let Some(narrowest) = chain.len().checked_sub(1) {
        expand(&chain, narrowest, section, &mut effective);
    }
    effective
}

fn expand<'d>(
    chain: &[(Scope, &'d PolicyDocument)],
    idx: usize,
    section: Section,
    effective: &mut Vec<EffectivePolicy<'d>>,
) {
    let (scope, document) = chain[idx];
    let Some(block) = document.section(section) else {
        // Azure (UNVERIFIED, observed): a scope whose document omits the section inherits it as if it held
        // `<section><base /></section>`; API policies with only `<inbound>` still reach the backend through
        // the global forward-request. A section that is present but has no `<base />` does drop it.
        if let Some(broader) = idx.checked_sub(1) {
            expand(chain, broader, section, effective);
        }
        return;
    };
    for policy in &block.policies {
        match policy {
            // Azure: `<base />` at the broadest scope has no effect.
            Policy::Base(_) => {
                if let Some(broader) = idx.checked_sub(1) {
                    expand(chain, broader, section, effective);
                }
            }
            policy => effective.push(EffectivePolicy { scope, policy }),
        }
    }
}

/// Calls `visit` for every policy in `policies` and in the blocks nested inside them, in document order.
pub fn visit_policies<'p>(policies: &'p [Policy], visit: &mut dyn FnMut(&'p Policy)) {
    // An explicit stack rather than recursion: nesting depth is bounded by the XML reader, but this keeps
    // stack use flat whatever the limit is.
    let mut stack: Vec<std::slice::Iter<'p, Policy>> = vec![policies.iter()];
    while let Some(iter) = stack.last_mut() {
        let Some(policy) = iter.next() else {
            stack.pop();
            continue;
        };
        visit(policy);
        let mut nested: Vec<&'p [Policy]> = Vec::new();
        policy.for_each_block(&mut |block| nested.push(block));
        for block in nested.into_iter().rev() {
            stack.push(block.iter());
        }
    }
}

/// Fragment documents by fragment id, as loaded by the caller.
#[derive(Debug, Default)]
pub struct Fragments {
    by_id: BTreeMap<String, FragmentSource>,
}

#[derive(Debug, Clone)]
struct FragmentSource {
    file: FileId,
    text: String,
}

impl Fragments {
    /// Adds a fragment document's text under its id (the APIM fragment name).
    pub fn insert(&mut self, id: impl Into<String>, file: FileId, text: impl Into<String>) {
        self.by_id.insert(
            id.into(),
            FragmentSource {
                file,
                text: text.into(),
            },
        );
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The file and text of a fragment.
    pub fn get(&self, id: &str) -> Option<(FileId, &str)> {
        self.by_id.get(id).map(|f| (f.file, f.text.as_str()))
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Checks every `include-fragment` in `document`: the fragment exists (a warning when it does not, an error
/// with `strict`), it is a `<fragment>`, its policies are allowed in the including section, and it does not
/// include another fragment. `fragments` is `None` when no fragments folder was given.
pub fn check_includes(
    document: &PolicyDocument,
    fragments: Option<&Fragments>,
    options: &ParseOptions,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let DocumentKind::Policies(sections) = &document.kind else {
        // Inside a fragment, an include is itself the problem.
        if let DocumentKind::Fragment(policies) = &document.kind {
            visit_policies(policies, &mut |policy| {
                if let Policy::IncludeFragment(include) = policy {
                    diagnostics.push(nested_include(&include.name_span));
                }
            });
        }
        return diagnostics;
    };
    for block in sections {
        let mut includes: Vec<(&Span, String)> = Vec::new();
        visit_policies(&block.policies, &mut |policy| {
            if let Policy::IncludeFragment(include) = policy
                && let Some(id) = include.fragment_id.as_literal()
            {
                includes.push((&include.name_span, id.clone()));
            }
        });
        for (span, id) in includes {
            check_one_include(
                span,
                &id,
                block.section,
                fragments,
                options,
                &mut diagnostics,
            );
        }
    }
    diagnostics
}

fn check_one_include(
    span: &Span,
    id: &str,
    section: Section,
    fragments: Option<&Fragments>,
    options: &ParseOptions,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let severity = if options.strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let Some(source) = fragments.and_then(|fragments| fragments.by_id.get(id)) else {
        let help = match fragments {
            None => "pass `--fragments DIR` with the fragment documents to check it".to_string(),
            Some(fragments) => match crate::read::did_you_mean(id, fragments.ids()) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!("no `{id}.xml` or `{id}/policy.xml` in the fragments folder"),
            },
        };
        diagnostics.push(
            Diagnostic::new(
                severity,
                Code::UnresolvedFragment,
                format!("fragment `{id}` is not available"),
                span.clone(),
                "included here",
            )
            .with_help(help),
        );
        return;
    };
    let parsed = parse_in_section(source.file, &source.text, section, options);
    let Some(fragment) = parsed.document else {
        return;
    };
    let DocumentKind::Fragment(policies) = &fragment.kind else {
        diagnostics.push(Diagnostic::error(
            Code::InvalidRoot,
            format!("`{id}` is not a `<fragment>` document"),
            span.clone(),
            "included here",
        ));
        return;
    };
    // The fragment's own problems are reported when it is validated itself; what depends on the including
    // section is reported here, pointing at both places.
    for diagnostic in parsed
        .diagnostics
        .into_iter()
        .filter(|diagnostic| diagnostic.code == Code::PolicyNotAllowedInSection)
    {
        diagnostics.push(diagnostic.with_secondary(
            span.clone(),
            format!("fragment `{id}` is included in `{}` here", section.as_str()),
        ));
    }
    visit_policies(policies, &mut |policy| {
        if let Policy::IncludeFragment(nested) = policy {
            diagnostics.push(
                nested_include(&nested.name_span)
                    .with_secondary(span.clone(), format!("fragment `{id}` is included here")),
            );
        }
    });
}

fn nested_include(span: &Span) -> Diagnostic {
    Diagnostic::error(
        Code::FragmentNesting,
        "a fragment cannot include another fragment",
        span.clone(),
        "nested include",
    )
    .with_help("APIM splices fragments as they are and does not resolve includes inside them")
}

/// Checks every literal `set-backend-service backend-id` of `document` against the backends the service
/// defines (`declared`, compared without regard to case as APIM compares entity ids). Nothing is checked when
/// `declared` is empty (templates whose backends all come from parameters define none with their defaults),
/// and an id holding a `{placeholder}` of a deployment tool is checked once it is filled in.
///
/// Azure: APIM refuses to save such a policy: "Error in element 'set-backend-service' on line 4, column 4:
/// Backend with id 'X' could not be found." (reported in Azure/apiops#56). `backend-id="dapr"` is the Dapr
/// form and names no backend entity.
pub fn check_backend_ids(document: &PolicyDocument, declared: &[String]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    if declared.is_empty() {
        return diagnostics;
    }
    let mut check = |policy: &Policy| {
        // The policies that name a backend entity.
        let (value, dapr) = match policy {
            Policy::SetBackendService(p) => match &p.backend_id {
                Some(v) => (v, p.dapr_app_id.is_some()),
                None => return,
            },
            Policy::LlmSemanticCacheLookup(p) => (&p.embeddings_backend_id, false),
            Policy::AzureOpenaiSemanticCacheLookup(p) => (&p.embeddings_backend_id, false),
            Policy::LlmContentSafety(p) => (&p.backend_id, false),
            _ => return,
        };
        let Some(id) = value.as_literal() else { return };
        if crate::read::has_placeholder(id)
            || (id.eq_ignore_ascii_case("dapr") && dapr)
            || declared.iter().any(|name| name.eq_ignore_ascii_case(id))
        {
            return;
        }
        let help = match crate::read::did_you_mean(id, declared.iter().map(String::as_str)) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!(
                "the validated templates define: {}; APIM refuses to save this policy (\"Backend with id '{id}' could not be found.\")",
                declared.join(", ")
            ),
        };
        diagnostics.push(
            Diagnostic::error(
                Code::UnknownBackend,
                format!("backend `{id}` is not defined"),
                value.span().clone(),
                "no such backend",
            )
            .with_help(help),
        );
    };
    match &document.kind {
        DocumentKind::Policies(sections) => {
            for block in sections {
                visit_policies(&block.policies, &mut check);
            }
        }
        DocumentKind::Fragment(policies) => visit_policies(policies, &mut check),
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn doc(file: u32, xml: &str) -> PolicyDocument {
        let parsed = parse(FileId(file), xml, &ParseOptions::default());
        assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
        parsed.document.expect("parses")
    }

    /// The effective list as `scope:variable-name` of each set-variable.
    fn names(scopes: &[ScopedDocument<'_>], section: Section) -> Vec<String> {
        effective_section(scopes, section)
            .into_iter()
            .map(|effective| match effective.policy {
                Policy::SetVariable(set) => {
                    format!(
                        "{}:{}",
                        effective.scope.as_str(),
                        set.name.as_literal().expect("literal")
                    )
                }
                other => format!("{}:{}", effective.scope.as_str(), other.name()),
            })
            .collect()
    }

    #[test]
    fn base_positions_the_broader_scope() {
        let global = doc(
            0,
            r#"<policies><inbound><set-variable name="g" value="1" /><base /></inbound><backend><forward-request /></backend></policies>"#,
        );
        let product = doc(
            1,
            r#"<policies><inbound><set-variable name="p1" value="1" /><base /><set-variable name="p2" value="1" /></inbound></policies>"#,
        );
        let api = doc(
            2,
            r#"<policies><inbound><base /><set-variable name="a" value="1" /></inbound><backend><base /></backend><outbound><set-variable name="only-api" value="1" /></outbound></policies>"#,
        );
        let operation = doc(
            3,
            r#"<policies><inbound><set-variable name="o1" value="1" /><base /></inbound><backend><base /></backend><outbound><base /></outbound></policies>"#,
        );
        let scopes = [
            ScopedDocument {
                scope: Scope::Operation,
                document: &operation,
            },
            ScopedDocument {
                scope: Scope::Global,
                document: &global,
            },
            ScopedDocument {
                scope: Scope::Api,
                document: &api,
            },
            ScopedDocument {
                scope: Scope::Product,
                document: &product,
            },
        ];
        assert_eq!(
            names(&scopes, Section::Inbound),
            [
                "operation:o1",
                "product:p1",
                "global:g",
                "product:p2",
                "api:a"
            ]
        );
        assert_eq!(names(&scopes, Section::Backend), ["global:forward-request"]);
        // The API's outbound has no <base />, so nothing broader runs there.
        assert_eq!(names(&scopes, Section::Outbound), ["api:only-api"]);
        // No scope has on-error.
        assert!(names(&scopes, Section::OnError).is_empty());
    }

    #[test]
    fn a_missing_section_inherits_but_an_empty_one_drops() {
        let global = doc(
            0,
            r#"<policies><backend><forward-request /></backend></policies>"#,
        );
        let api = doc(1, r#"<policies><inbound><base /></inbound></policies>"#);
        let api_without_base = doc(2, r#"<policies><backend /></policies>"#);
        let inheriting = [
            ScopedDocument {
                scope: Scope::Global,
                document: &global,
            },
            ScopedDocument {
                scope: Scope::Api,
                document: &api,
            },
        ];
        assert_eq!(
            names(&inheriting, Section::Backend),
            ["global:forward-request"]
        );
        let dropping = [
            ScopedDocument {
                scope: Scope::Global,
                document: &global,
            },
            ScopedDocument {
                scope: Scope::Api,
                document: &api_without_base,
            },
        ];
        assert!(
            names(&dropping, Section::Backend).is_empty(),
            "an empty <backend /> drops the forward-request"
        );
    }

    #[test]
    fn visit_reaches_nested_policies_in_order() {
        let document = doc(
            0,
            r#"<policies><inbound><choose><when condition="@(true)"><set-variable name="a" value="1" /><retry condition="@(false)" count="1" interval="0"><set-variable name="b" value="1" /></retry></when><otherwise><set-variable name="c" value="1" /></otherwise></choose><set-variable name="d" value="1" /></inbound></policies>"#,
        );
        let mut seen = Vec::new();
        visit_policies(
            &document
                .section(Section::Inbound)
                .expect("inbound")
                .policies,
            &mut |policy| {
                seen.push(match policy {
                    Policy::SetVariable(set) => set.name.as_literal().expect("literal").clone(),
                    other => other.name().to_string(),
                });
            },
        );
        assert_eq!(seen, ["choose", "a", "retry", "b", "c", "d"]);
    }
}
