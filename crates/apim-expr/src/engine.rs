//! The sandboxed Rhai engine, compilation with a span map, evaluation and the explain trace.

use crate::context::{self, Environment};
use crate::members;
use crate::runtime::{self, K, kind};
use crate::statics;
use crate::translate::{Translator, always_returns};
use crate::value::*;
use crate::{ErrorKind, ExprError, Kind, Range, parse, split};
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, NativeCallContext, Position, Scope};
use std::cell::RefCell;
use std::sync::Arc;

/// Sandbox limits. Hitting one is a located error, never a crash or a hang.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 1_000_000,
            max_call_levels: 48,
            max_string_size: 8 << 20,
            max_array_size: 1 << 20,
        }
    }
}

/// One engine, built once, shared by every compiled expression (it is `Send + Sync`).
pub struct Engine {
    rhai: rhai::Engine,
}

/// A compiled expression: the Rhai AST plus what maps Rhai positions back to the expression text.
#[derive(Clone)]
pub struct Compiled {
    ast: Arc<rhai::AST>,
    explain_ast: Option<Arc<rhai::AST>>,
    kind: Kind,
    /// (line, column) in the generated script of each marked call, and the C# range it came from.
    span_map: Vec<((usize, usize), Range)>,
    traced: Vec<(Range, &'static str)>,
    whole: Range,
    script: String,
    /// Bracket nesting of the generated script: how deep Rhai recurses on it.
    depth: usize,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("kind", &self.kind)
            .field("script", &self.script)
            .finish()
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        // Dropping a deep Rhai AST recurses as deep as evaluating it: do it where the stack has room.
        let ast = std::mem::replace(&mut self.ast, Arc::new(rhai::AST::empty()));
        crate::stack::guard_depth(self.depth, move || drop(ast));
    }
}

impl Compiled {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The generated Rhai source (for debugging the translator).
    pub fn script(&self) -> &str {
        &self.script
    }
}

/// The `context` an expression sees.
#[derive(Clone)]
pub struct Context(Dynamic);

impl Context {
    /// From the JSON context file format of `apim-emu eval --context` (see the CLI help).
    pub fn from_json(v: &serde_json::Value, env: &Environment) -> Result<Context, String> {
        context::context_from_json(v, env).map(Context)
    }

    /// Sets `context.Variables[name]`, as `set-variable` and `get-authorization-context` do.
    pub fn set_variable(&self, name: &str, value: Value) {
        context::set_variable(&self.0, name, value.0);
    }

    pub(crate) fn from_dynamic(d: Dynamic) -> Context {
        Context(d)
    }
}

/// A value an expression produced.
#[derive(Clone)]
pub struct Value(Dynamic);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl Value {
    pub(crate) fn from_dynamic(d: Dynamic) -> Value {
        Value(d)
    }

    pub(crate) fn into_dynamic(self) -> Dynamic {
        self.0
    }

    pub(crate) fn dynamic(&self) -> &Dynamic {
        &self.0
    }

    /// What `get-authorization-context` stores: APIM's `Authorization` (`AccessToken`, `Claims`).
    pub fn authorization(access_token: &str, claims: Vec<(String, String)>) -> Value {
        Value(context::authorization(access_token, claims))
    }

    /// The JSON the oracle prints: strings (and Guid, TimeSpan, Uri, char) quoted, numbers, bool, null,
    /// dates in round-trip format, JToken as compact JSON, other sequences as arrays.
    pub fn to_json(&self) -> String {
        context::result_json(&self.0).unwrap_or_else(|e| format!("\"<{e}>\""))
    }

    /// `ToString()` of the value (what a header or a string attribute receives); null is `None`.
    pub fn to_text(&self) -> Option<String> {
        if self.0.is_unit() {
            None
        } else {
            runtime::to_string_fmt(&self.0, "").ok()
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.0.as_bool().ok()
    }

    pub fn as_int(&self) -> Option<i64> {
        match runtime::num(&self.0) {
            Some(runtime::N::I(i)) => Some(i as i64),
            Some(runtime::N::L(l)) => Some(l),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.0.is_unit()
    }

    /// The .NET type name (`System.String`).
    pub fn type_name(&self) -> String {
        runtime::type_of(&self.0)
    }
}

/// A failure while evaluating: a .NET exception (or a sandbox limit), located in the expression text.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// `FormatException`, `NullReferenceException`, … or `SandboxLimitExceeded`.
    pub exception: String,
    pub message: String,
    pub range: Range,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.exception, self.message)
    }
}

/// What happened to one node of the expression in an `--explain` run.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Evaluated to this value (rendered as the result JSON would be).
    Value(String),
    /// The node was being evaluated when an exception was thrown (in it or in a part of it); carries the
    /// exception type.
    Threw(String),
    /// Never reached: short-circuited (`&&`, `||`, `?:`, `??`, `?.`) or after an exception.
    NotEvaluated,
}

/// One step of `--explain`: a node of the expression, its range, and what happened to it.
#[derive(Debug, Clone)]
pub struct ExplainStep {
    pub range: Range,
    pub label: &'static str,
    pub outcome: StepOutcome,
}

/// Evaluation with a trace, in evaluation order, followed by the nodes that were never evaluated.
#[derive(Debug, Clone)]
pub struct Explain {
    pub steps: Vec<ExplainStep>,
    pub result: Result<Value, EvalError>,
}

thread_local! {
    static TRACE: RefCell<Option<Vec<(usize, String)>>> = const { RefCell::new(None) };
}

type Res<T = Dynamic> = Result<T, Box<EvalAltResult>>;

fn s(v: &ImmutableString) -> &str {
    v.as_str()
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Limits::default())
    }
}

impl Engine {
    pub fn new(limits: &Limits) -> Engine {
        let mut e = rhai::Engine::new_raw();
        e.set_max_operations(limits.max_operations);
        e.set_max_call_levels(limits.max_call_levels);
        e.set_max_string_size(limits.max_string_size);
        e.set_max_array_size(limits.max_array_size);
        // Generated nesting is a small multiple of the C# nesting (the parser limits that) or of the length
        // of a flat `&&` chain. The stack Rhai needs for it is reserved by `stack::guard_depth`.
        e.set_max_expr_depths(4096, 4096);
        e.set_optimization_level(rhai::OptimizationLevel::None);
        e.register_iterator::<Array>();
        e.on_print(|_| {});
        e.on_debug(|_, _, _| {});

        e.register_fn("rt_long", |t: ImmutableString| -> Res {
            let v: i128 = s(&t)
                .parse()
                .map_err(|_| throw("OverflowException", "integral constant is too large"))?;
            Ok(long(v as i64))
        });
        e.register_fn("rt_double", |t: ImmutableString| {
            Dynamic::from_float(s(&t).parse::<f64>().unwrap_or(f64::NAN))
        });
        e.register_fn("rt_decimal", |t: ImmutableString| {
            obj(Obj::Decimal(s(&t).parse::<f64>().unwrap_or(0.0)))
        });
        e.register_fn("rt_char", |c: rhai::INT| {
            Dynamic::from_char(char::from_u32(c as u32).unwrap_or('\u{fffd}'))
        });
        e.register_fn("rt_concat", |parts: Array| -> Res {
            let mut out = String::new();
            for p in &parts {
                out.push_str(&runtime::to_string_fmt(p, "")?);
            }
            Ok(string(out))
        });
        e.register_fn(
            "rt_fmt",
            |v: Dynamic, align: rhai::INT, f: ImmutableString| -> Res {
                let text = runtime::to_string_fmt(&v, s(&f))?;
                Ok(string(statics::align_text(
                    text,
                    if align == 0 { None } else { Some(align as i32) },
                )))
            },
        );
        e.register_fn("rt_sget", |t: ImmutableString, n: ImmutableString| {
            statics::static_get(s(&t), s(&n))
        });
        e.register_fn(
            "rt_get",
            |ctx: NativeCallContext, v: Dynamic, n: ImmutableString| {
                members::get_member(&ctx, &v, s(&n))
            },
        );
        e.register_fn(
            "rt_set",
            |v: Dynamic, n: ImmutableString, x: Dynamic| -> Res {
                members::set_member(&v, s(&n), x)?;
                Ok(Dynamic::UNIT)
            },
        );
        e.register_fn(
            "rt_scall",
            |ctx: NativeCallContext,
             t: ImmutableString,
             n: ImmutableString,
             ta: ImmutableString,
             a: Array| { statics::static_call(&ctx, s(&t), s(&n), s(&ta), &a) },
        );
        e.register_fn(
            "rt_call",
            |ctx: NativeCallContext,
             v: Dynamic,
             n: ImmutableString,
             ta: ImmutableString,
             a: Array| { members::call_method(&ctx, &v, s(&n), s(&ta), &a) },
        );
        e.register_fn("rt_idx", |v: Dynamic, a: Array| members::index_get(&v, &a));
        e.register_fn("rt_idx_set", |v: Dynamic, a: Array, x: Dynamic| -> Res {
            members::index_set(&v, &a, x)?;
            Ok(Dynamic::UNIT)
        });
        e.register_fn("rt_is_null", |v: Dynamic| v.is_unit());
        e.register_fn("rt_bool", |v: Dynamic| runtime::truthy(&v));
        e.register_fn("rt_add", runtime::add);
        e.register_fn("rt_sub", runtime::sub);
        e.register_fn("rt_mul", runtime::mul);
        e.register_fn("rt_div", runtime::div);
        e.register_fn("rt_rem", runtime::rem);
        e.register_fn("rt_shl", runtime::shl);
        e.register_fn("rt_shr", runtime::shr);
        e.register_fn("rt_band", runtime::band);
        e.register_fn("rt_bor", runtime::bor);
        e.register_fn("rt_bxor", runtime::bxor);
        e.register_fn("rt_eq", |a: Dynamic, b: Dynamic| runtime::equals(&a, &b));
        e.register_fn("rt_ne", |a: Dynamic, b: Dynamic| !runtime::equals(&a, &b));
        e.register_fn("rt_lt", |a: Dynamic, b: Dynamic| {
            runtime::compare(&a, &b, "<")
        });
        e.register_fn("rt_le", |a: Dynamic, b: Dynamic| {
            runtime::compare(&a, &b, "<=")
        });
        e.register_fn("rt_gt", |a: Dynamic, b: Dynamic| {
            runtime::compare(&a, &b, ">")
        });
        e.register_fn("rt_ge", |a: Dynamic, b: Dynamic| {
            runtime::compare(&a, &b, ">=")
        });
        e.register_fn("rt_neg", runtime::neg);
        e.register_fn("rt_not", runtime::not);
        e.register_fn("rt_compl", runtime::compl);
        e.register_fn("rt_inc", |v: Dynamic, by: rhai::INT| {
            runtime::inc(v, by as i32)
        });
        e.register_fn("rt_cast", |v: Dynamic, t: ImmutableString, k: rhai::INT| {
            runtime::cast(v, s(&t), k)
        });
        e.register_fn("rt_as", |v: Dynamic, t: ImmutableString| {
            if runtime::is_instance(&v, s(&t)) {
                v
            } else {
                Dynamic::UNIT
            }
        });
        e.register_fn("rt_is", |v: Dynamic, t: ImmutableString| {
            runtime::is_instance(&v, s(&t))
        });
        e.register_fn(
            "rt_new",
            |ctx: NativeCallContext, t: ImmutableString, a: Array| {
                statics::construct(&ctx, s(&t), "", &a)
            },
        );
        e.register_fn("rt_array", |a: Array| seq(SeqKind::Array, a));
        e.register_fn("rt_array_n", |t: ImmutableString, n: Dynamic| -> Res {
            let n = runtime::int_of(&n, "length")?;
            if n < 0 {
                return Err(throw(
                    "OverflowException",
                    "Arithmetic operation resulted in an overflow.",
                ));
            }
            if n > crate::value::MAX_ITEMS {
                return Err(crate::value::sandbox_limit("an array length", n));
            }
            Ok(seq(
                SeqKind::Array,
                vec![statics::default_of(s(&t)); n as usize],
            ))
        });
        e.register_fn("rt_anon", |names: Array, values: Array| {
            let fields: Vec<(&'static str, Dynamic)> = names
                .iter()
                .zip(values)
                .map(|(n, v)| {
                    let name: &'static str =
                        Box::leak(runtime::to_display_string(n).into_boxed_str());
                    (name, v)
                })
                .collect();
            record("<>f__AnonymousType", fields)
        });
        e.register_fn("rt_default", |t: ImmutableString| {
            statics::default_of(s(&t))
        });
        e.register_fn("rt_typeof", |t: ImmutableString| {
            obj(Obj::Type(t.to_string()))
        });
        e.register_fn("rt_exc", |v: Dynamic| exception_value(v));
        e.register_fn("rt_exc_is", |v: Dynamic, t: ImmutableString| {
            match kind(&v) {
                K::Obj(Obj::Exception(x)) => exception_is(&x.ty, s(&t)),
                _ => false,
            }
        });
        e.register_fn("rt_out", |v: Dynamic, i: rhai::INT| -> Res {
            match kind(&v) {
                K::Obj(Obj::Seq(_, xs)) => {
                    Ok(xs.lock().get(i as usize).cloned().unwrap_or(Dynamic::UNIT))
                }
                _ => Err(not_implemented("this method's `out` parameter")),
            }
        });
        e.register_fn("rt_iter", |v: Dynamic| -> Res<Array> { members::items(&v) });
        e.register_fn("rt_implicit", |v: Dynamic, t: ImmutableString| {
            runtime::implicit(v, s(&t))
        });
        e.register_fn("rt_tr", |id: rhai::INT, v: Dynamic| {
            TRACE.with(|t| {
                if let Some(steps) = t.borrow_mut().as_mut()
                    && steps.len() < 10_000
                {
                    steps.push((id as usize, context::result_json(&v).unwrap_or_default()));
                }
            });
            v
        });
        // Statements used as the last line of a block must not leak Rhai's unit-returning helpers.
        Engine { rhai: e }
    }

    /// Compiles `@(...)` or `@{...}` (the whole text, from `@` to the closing bracket).
    pub fn compile(&self, text: &str) -> Result<Compiled, ExprError> {
        self.compile_with(text, false)
    }

    /// Compiles for `--explain`: every member access, call, operator and cast records its value.
    pub fn compile_explained(&self, text: &str) -> Result<Compiled, ExprError> {
        self.compile_with(text, true)
    }

    fn compile_with(&self, text: &str, explain: bool) -> Result<Compiled, ExprError> {
        // Every level of the C# syntax tree takes at least one byte of text, so its depth (which building,
        // translating and dropping it recurse on) is bounded by the length; reserve the stack for that.
        crate::stack::guard_bytes(text.len(), || self.compile_inner(text, explain))
    }

    fn compile_inner(&self, text: &str, explain: bool) -> Result<Compiled, ExprError> {
        let (kind, code) = split(text).ok_or_else(|| {
            ExprError::syntax(
                0..text.len().min(2),
                "an expression must be `@( expression )` or `@{ statements }`",
            )
        })?;
        let mut tr = Translator::new(explain);
        let script = match kind {
            Kind::Single => {
                if text[code.clone()].trim().is_empty() {
                    return Err(ExprError::syntax(0..text.len(), "empty expression"));
                }
                let e = parse::parse_expression(text, code.clone())?;
                tr.stmt(&crate::ast::Stmt {
                    kind: crate::ast::StmtKind::Return(Some(e)),
                    range: code.clone(),
                })?
            }
            Kind::Block => {
                let stmts = parse::parse_block(text, code.clone())?;
                if !always_returns(&stmts) {
                    return Err(ExprError::syntax(
                        text.len().saturating_sub(1)..text.len(),
                        "not all code paths return a value: end the block with `return …;`",
                    ));
                }
                tr.block_body(&stmts)?
            }
        };
        let script = format!("{}{script}", tr.prelude());
        let depth = crate::stack::nesting(&script);
        let ast = crate::stack::guard_depth(depth, || self.rhai.compile(&script)).map_err(|e| {
            let kind = if matches!(e.err_type(), rhai::ParseErrorType::ExprTooDeep) {
                ErrorKind::Limit
            } else {
                ErrorKind::Unsupported
            };
            ExprError {
                kind,
                range: 0..text.len(),
                message: if kind == ErrorKind::Limit {
                    "expression is nested too deeply: simplify it".into()
                } else {
                    format!("apim-emu could not translate this expression (internal: {e})")
                },
            }
        })?;
        let span_map = build_span_map(&script, &tr.ranges);
        let explain_ast = None;
        Ok(Compiled {
            ast: Arc::new(ast),
            explain_ast,
            kind,
            span_map,
            traced: tr.traced,
            whole: 0..text.len(),
            script,
            depth,
        })
    }

    /// Evaluates a compiled expression against a context.
    pub fn eval(
        &self,
        compiled: &Compiled,
        ctx: &Context,
        env: &Environment,
    ) -> Result<Value, EvalError> {
        context::install(env);
        let mut scope = Scope::new();
        scope.push_constant_dynamic("ctx", ctx.0.clone());
        let ast = compiled.explain_ast.as_deref().unwrap_or(&compiled.ast);
        match crate::stack::guard_depth(compiled.depth, || {
            self.rhai.eval_ast_with_scope::<Dynamic>(&mut scope, ast)
        }) {
            Ok(v) => Ok(Value(v)),
            Err(e) => Err(self.error(compiled, *e)),
        }
    }

    /// Evaluates with a trace (the expression must come from `compile_explained`).
    pub fn explain(&self, compiled: &Compiled, ctx: &Context, env: &Environment) -> Explain {
        TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
        let result = self.eval(compiled, ctx, env);
        let recorded = TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default();
        let mut steps: Vec<ExplainStep> = recorded
            .iter()
            .filter_map(|(id, v)| {
                compiled.traced.get(*id).map(|(r, label)| ExplainStep {
                    range: r.clone(),
                    label,
                    outcome: StepOutcome::Value(v.clone()),
                })
            })
            .collect();
        for (id, (r, label)) in compiled.traced.iter().enumerate() {
            if !recorded.iter().any(|(i, _)| *i == id) {
                // A node with no value that encloses the failure was in progress when it was thrown.
                let outcome = match &result {
                    Err(e) if r.start <= e.range.start && e.range.end <= r.end => {
                        StepOutcome::Threw(e.exception.clone())
                    }
                    _ => StepOutcome::NotEvaluated,
                };
                steps.push(ExplainStep {
                    range: r.clone(),
                    label,
                    outcome,
                });
            }
        }
        Explain { steps, result }
    }

    fn error(&self, compiled: &Compiled, e: EvalAltResult) -> EvalError {
        let (inner, pos) = innermost(e);
        let range = locate(compiled, pos);
        match inner {
            EvalAltResult::ErrorRuntime(v, _) => {
                let x = exception_value(v);
                match kind(&x) {
                    K::Obj(Obj::Exception(x)) => EvalError {
                        exception: x.ty.clone(),
                        message: x.message.clone(),
                        range,
                    },
                    _ => EvalError {
                        exception: "Exception".into(),
                        message: runtime::to_display_string(&x),
                        range,
                    },
                }
            }
            EvalAltResult::ErrorTooManyOperations(_) => EvalError {
                exception: "SandboxLimitExceeded".into(),
                message: "the expression ran too long (operation limit reached; an endless loop?)"
                    .into(),
                range,
            },
            EvalAltResult::ErrorStackOverflow(_) => EvalError {
                exception: "SandboxLimitExceeded".into(),
                message: "calls are nested too deeply".into(),
                range,
            },
            EvalAltResult::ErrorDataTooLarge(what, _) => EvalError {
                exception: "SandboxLimitExceeded".into(),
                message: format!("{what} is too large"),
                range,
            },
            other => {
                let x = exception_value(Dynamic::from(other.to_string()));
                match kind(&x) {
                    K::Obj(Obj::Exception(x)) => EvalError {
                        exception: x.ty.clone(),
                        message: x.message.clone(),
                        range,
                    },
                    _ => EvalError {
                        exception: "Exception".into(),
                        message: other.to_string(),
                        range,
                    },
                }
            }
        }
    }
}

/// Unwraps errors raised inside lambdas (Rhai wraps them once per closure call).
fn innermost(e: EvalAltResult) -> (EvalAltResult, Position) {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, pos) => {
            let (i, p) = innermost(*inner);
            (i, if p.is_none() { pos } else { p })
        }
        other => {
            let pos = other.position();
            (other, pos)
        }
    }
}

fn locate(compiled: &Compiled, pos: Position) -> Range {
    if let (Some(line), Some(col)) = (pos.line(), pos.position())
        && let Some((_, r)) = compiled
            .span_map
            .iter()
            .find(|((l, c), _)| *l == line && *c == col)
    {
        return r.clone();
    }
    compiled.whole.clone()
}

fn build_span_map(script: &str, ranges: &[Range]) -> Vec<((usize, usize), Range)> {
    let mut out = Vec::new();
    let (mut line, mut col) = (1usize, 1usize);
    let mut chars = script.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '/'
            && script[i..].starts_with("/*@")
            && let Some(end) = script[i..].find("*/")
        {
            let id: Option<usize> = script[i + 3..i + end].parse().ok();
            let marker_len = script[i..i + end + 2].chars().count();
            col += marker_len;
            for _ in 1..marker_len {
                chars.next();
            }
            if let Some(r) = id.and_then(|id| ranges.get(id)) {
                out.push(((line, col), r.clone()));
            }
            continue;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    out
}

/// Normalises a thrown or caught value into an Exception object.
fn exception_value(v: Dynamic) -> Dynamic {
    if let K::Obj(Obj::Exception(_)) = kind(&v) {
        return v;
    }
    let text = runtime::to_display_string(&v);
    let (ty, message) =
        if text.contains("Function not found") || text.contains("Data type incorrect") {
            ("InvalidCastException", format!("apim-emu: {text}"))
        } else {
            ("Exception", text)
        };
    obj(Obj::Exception(Arc::new(Exception {
        ty: ty.into(),
        message,
    })))
}

/// `catch (T)` matches T and its base classes (the common .NET hierarchy).
fn exception_is(actual: &str, wanted: &str) -> bool {
    let wanted = wanted.rsplit('.').next().unwrap_or(wanted);
    if wanted == "Exception" || actual == wanted {
        return true;
    }
    let parent = |t: &str| -> Option<&'static str> {
        Some(match t {
            "ArgumentNullException" | "ArgumentOutOfRangeException" => "ArgumentException",
            "JsonReaderException" | "JsonSerializationException" => "JsonException",
            "FormatException"
            | "ArgumentException"
            | "InvalidOperationException"
            | "NullReferenceException"
            | "InvalidCastException"
            | "IndexOutOfRangeException"
            | "KeyNotFoundException"
            | "NotSupportedException"
            | "OverflowException"
            | "DivideByZeroException"
            | "JsonException" => "SystemException",
            "UriFormatException" => "FormatException",
            _ => return None,
        })
    };
    let mut cur = parent(actual);
    while let Some(p) = cur {
        if p == wanted {
            return true;
        }
        cur = parent(p);
    }
    false
}
