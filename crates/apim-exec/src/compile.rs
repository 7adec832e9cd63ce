//! Scoped policy documents → an immutable [`Plan`]: `<base />` expanded, fragments spliced, named values
//! substituted, every expression compiled once, backend ids checked against the registry.

use std::collections::HashMap;
use std::sync::Arc;

use apim_expr::Engine;
use apim_policy::compose::{ScopedDocument, effective_section};
use apim_policy::policies::Policy;
use apim_policy::spec::{Scope, Section};
use apim_policy::value::{AttrValue, ExprSource, Value};
use apim_source::{Code, Diagnostic, Span};

use crate::policies;

/// A value as compiled: a literal, or an expression compiled once.
#[derive(Clone)]
pub enum Cv<T> {
    Lit(T),
    Expr(Arc<apim_expr::Compiled>, Arc<ExprSource>),
}

/// One executable policy.
pub struct Step {
    pub op: policies::Op,
    /// The policy's element name (`context.LastError.Source`).
    pub name: &'static str,
    pub scope: Scope,
    /// `choose[1]/when[2]/set-header[1]` (`context.LastError.Path`).
    pub path: String,
    pub policy_id: Option<String>,
    pub span: Span,
}

/// Everything a running request needs, immutable and shared.
pub struct Plan {
    pub(crate) sections: [Vec<Step>; 4],
    pub(crate) engine: Arc<Engine>,
    /// The executed policies' names, in document order.
    pub(crate) names: Vec<String>,
    reads_request_body: bool,
    reads_response_body: bool,
}

impl Plan {
    /// Whether the request body must be buffered: an expression reads it, a policy sets or copies it, or a
    /// forward-request buffers it for retries. Otherwise the gateway may pass it on as a stream.
    pub fn reads_request_body(&self) -> bool {
        self.reads_request_body
    }

    /// Whether something in outbound or on-error reads or replaces the response body (then
    /// `buffer-response="false"` replies are buffered too).
    pub fn reads_response_body(&self) -> bool {
        self.reads_response_body
    }

    /// The names of the policies the plan runs, in document order (for tests and `--trace`).
    pub fn policy_names(&self) -> &[String] {
        &self.names
    }
}

pub struct CompileOptions {
    pub named_values: HashMap<String, String>,
    /// Fragment id → its policies (already parsed).
    pub fragments: HashMap<String, Vec<Policy>>,
    /// Skip policies apim-emu cannot execute (with a warning) instead of refusing the plan.
    pub skip_unsupported: bool,
    /// Backend names the plan may refer to (`set-backend-service backend-id`).
    pub backends: Vec<String>,
}

pub(crate) struct Compiler<'o> {
    pub engine: &'o Engine,
    pub options: &'o CompileOptions,
    pub diagnostics: Vec<Diagnostic>,
    pub scope: Scope,
    pub section: Section,
    fragment_depth: usize,
    pub reads_request_body: bool,
    pub reads_response_body: bool,
}

/// The sections in execution order.
pub const SECTIONS: [Section; 4] = [
    Section::Inbound,
    Section::Backend,
    Section::Outbound,
    Section::OnError,
];

/// Compiles the effective policy of every section. `None` when there are errors (all reported).
pub fn compile(
    scopes: &[ScopedDocument<'_>],
    engine: Arc<Engine>,
    options: &CompileOptions,
) -> (Option<Plan>, Vec<Diagnostic>) {
    let mut compiler = Compiler {
        engine: &engine,
        options,
        diagnostics: Vec::new(),
        scope: Scope::Global,
        section: Section::Inbound,
        fragment_depth: 0,
        reads_request_body: false,
        reads_response_body: false,
    };
    let mut sections: [Vec<Step>; 4] = Default::default();
    let mut names = Vec::new();
    for (i, section) in SECTIONS.into_iter().enumerate() {
        compiler.section = section;
        let effective = effective_section(scopes, section);
        let mut counters: HashMap<&'static str, usize> = HashMap::new();
        for p in effective {
            compiler.scope = p.scope;
            compiler.block_item(p.policy, "", &mut counters, &mut sections[i], &mut names);
        }
    }
    let failed = compiler
        .diagnostics
        .iter()
        .any(|d| d.severity == apim_source::Severity::Error);
    let diagnostics = std::mem::take(&mut compiler.diagnostics);
    if failed {
        return (None, diagnostics);
    }
    let (reads_request_body, reads_response_body) =
        (compiler.reads_request_body, compiler.reads_response_body);
    (
        Some(Plan {
            sections,
            engine,
            names,
            reads_request_body,
            reads_response_body,
        }),
        diagnostics,
    )
}

impl Compiler<'_> {
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(
            Code::ExpressionSyntax,
            message.into(),
            span.clone(),
            "here",
        ));
    }

    /// Compiles a nested block (`<when>`, `<retry>` …).
    pub fn block(&mut self, policies: &[Policy], parent: &str) -> Vec<Step> {
        let mut out = Vec::new();
        let mut counters = HashMap::new();
        let mut names = Vec::new();
        for p in policies {
            self.block_item(p, parent, &mut counters, &mut out, &mut names);
        }
        out
    }

    fn block_item(
        &mut self,
        policy: &Policy,
        parent: &str,
        counters: &mut HashMap<&'static str, usize>,
        out: &mut Vec<Step>,
        names: &mut Vec<String>,
    ) {
        if let Policy::IncludeFragment(inc) = policy {
            // Azure: a fragment is spliced in as is (reference 01 §4); fragments may not include fragments.
            let id = match &inc.fragment_id {
                Value::Literal { value, .. } => value.clone(),
                other => {
                    self.error(other.span(), "fragment-id must be a literal");
                    return;
                }
            };
            let Some(policies) = self.options.fragments.get(&id) else {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::UnresolvedFragment,
                        format!("fragment `{id}` is not loaded"),
                        inc.span.clone(),
                        "included here",
                    )
                    .with_help("pass the fragments folder with --fragments DIR"),
                );
                return;
            };
            if self.fragment_depth > 0 {
                self.diagnostics.push(Diagnostic::error(
                    Code::FragmentNesting,
                    "a fragment may not include another fragment",
                    inc.span.clone(),
                    "included here",
                ));
                return;
            }
            self.fragment_depth += 1;
            for p in policies.clone().iter() {
                self.block_item(p, parent, counters, out, names);
            }
            self.fragment_depth -= 1;
            return;
        }
        let Some((name, span, policy_id)) = policies::identity(policy) else {
            return;
        };
        let n = counters.entry(name).or_insert(0);
        *n += 1;
        let path = if parent.is_empty() {
            format!("{name}[{n}]")
        } else {
            format!("{parent}/{name}[{n}]")
        };
        match policies::compile(self, policy, &path) {
            Some(op) => {
                names.push(name.to_string());
                out.push(Step {
                    op,
                    name,
                    scope: self.scope,
                    path,
                    policy_id,
                    span,
                });
            }
            None if self.options.skip_unsupported => {
                self.diagnostics.push(Diagnostic::warning(
                    Code::PolicyNotExecuted,
                    format!(
                        "`{name}` is not executed by apim-emu yet; skipped (--skip-unsupported)"
                    ),
                    span,
                    "skipped",
                ));
            }
            None => {}
        }
    }

    /// A value: literal, `{{named value}}` template, or expression.
    pub fn value<T: AttrValue>(&mut self, v: &Value<T>) -> Option<Cv<T>> {
        match v {
            Value::Literal { value, .. } => Some(Cv::Lit(value.clone())),
            Value::Expression(src) => self.expression(src).map(|(c, s)| Cv::Expr(c, s)),
            Value::Template(t) => {
                let mut text = t.text.clone();
                for r in &t.named_values {
                    match self.options.named_values.get(&r.name) {
                        Some(v) => text = text.replace(&format!("{{{{{}}}}}", r.name), v),
                        None => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::UnresolvedNamedValue,
                                    format!("named value `{}` has no value", r.name),
                                    r.span.clone(),
                                    "referenced here",
                                )
                                .with_help(format!("pass it with --named-value {}=VALUE", r.name)),
                            );
                            return None;
                        }
                    }
                }
                if apim_expr::split(&text).is_some() {
                    let src = ExprSource {
                        offsets: vec![t.span.start(); text.len() + 1],
                        text,
                        kind: apim_policy::value::ExprKind::Single,
                        span: t.span.clone(),
                        named_values: Vec::new(),
                    };
                    return self.expression(&src).map(|(c, s)| Cv::Expr(c, s));
                }
                match T::parse_literal(&text) {
                    Some(value) => Some(Cv::Lit(value)),
                    None => {
                        self.error(
                            &t.span,
                            format!(
                                "`{text}` (after named values) is not {}",
                                T::TYPE.describe()
                            ),
                        );
                        None
                    }
                }
            }
        }
    }

    /// The explained twin of an expression value, for the explain trace (compiled at load like every
    /// expression; `None` for a literal).
    pub fn explained<T>(&mut self, cv: &Cv<T>) -> Option<Arc<apim_expr::Compiled>> {
        match cv {
            Cv::Expr(_, src) => self.engine.compile_explained(&src.text).ok().map(Arc::new),
            Cv::Lit(_) => None,
        }
    }

    pub fn opt<T: AttrValue>(&mut self, v: &Option<Value<T>>) -> Option<Option<Cv<T>>> {
        match v {
            Some(v) => self.value(v).map(Some),
            None => Some(None),
        }
    }

    /// Text with the supplied named values substituted; other `{{…}}` are left as they are (Liquid, JSON).
    pub fn substitute_known(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.options.named_values {
            out = out.replace(&format!("{{{{{name}}}}}"), value);
        }
        out
    }

    /// Records that the policy being compiled reads or replaces a body.
    /// Whether a literal backend id names a loaded backend; when not, reports P041 (APIM refuses to save such
    /// a policy: "Backend with id 'X' could not be found.").
    pub fn known_backend(&mut self, id: &str, span: &Span) -> bool {
        if self
            .options
            .backends
            .iter()
            .any(|b| b.eq_ignore_ascii_case(id))
        {
            return true;
        }
        let known = if self.options.backends.is_empty() {
            "no backends are loaded; pass the templates that define them with --backends"
                .to_string()
        } else {
            format!("backends are: {}", self.options.backends.join(", "))
        };
        self.diagnostics.push(
            Diagnostic::error(
                Code::UnknownBackend,
                format!("backend `{id}` is not defined"),
                span.clone(),
                "no such backend",
            )
            .with_help(known),
        );
        false
    }

    pub fn touches_body(&mut self) {
        match self.section {
            Section::Inbound | Section::Backend => self.reads_request_body = true,
            Section::Outbound | Section::OnError => self.reads_response_body = true,
        }
    }

    fn expression(
        &mut self,
        src: &ExprSource,
    ) -> Option<(Arc<apim_expr::Compiled>, Arc<ExprSource>)> {
        // Bodies are streamed unless something reads them (a conservative textual check).
        if src.text.contains("Request.Body") {
            self.reads_request_body = true;
        }
        if matches!(self.section, Section::Outbound | Section::OnError)
            && src.text.contains(".Body")
        {
            self.reads_response_body = true;
        }
        let resolved = match src.resolve(&self.options.named_values) {
            Some(r) => r,
            None => {
                self.error(
                    &src.span,
                    "the expression uses a named value that has no value",
                );
                return None;
            }
        };
        match self.engine.compile(&resolved.text) {
            Ok(c) => Some((Arc::new(c), Arc::new(resolved))),
            Err(e) => {
                let code = match e.kind {
                    apim_expr::ErrorKind::Syntax => Code::ExpressionSyntax,
                    apim_expr::ErrorKind::Refused => Code::ExpressionMemberNotAllowed,
                    apim_expr::ErrorKind::Unsupported => Code::ExpressionUnsupported,
                    apim_expr::ErrorKind::Limit => Code::ExpressionTooComplex,
                };
                let span = resolved.span_of(e.range.clone());
                // Valid C# apim-emu cannot run is an error here: serve would fail at the first request.
                self.diagnostics.push(Diagnostic::error(
                    code,
                    e.message,
                    span,
                    "in this expression",
                ));
                None
            }
        }
    }
}
