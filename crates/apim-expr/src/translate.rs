//! C# AST → Rhai source. Every C# operation becomes a call into the runtime (`rt_*`), so C# semantics live in
//! Rust and Rhai provides variables, control flow, closures and exceptions. Each call is preceded by a
//! `/*@N*/` marker naming the C# source range it came from; `SpanMap` turns Rhai positions back into ranges.
//! Type names are resolved and checked against APIM's allow-list here, at load time.

use crate::ast::*;
use crate::implemented;
use crate::statics::{Allowed, allowed, is_namespace_prefix, resolve_type};
use crate::{ExprError, Range};
use std::collections::HashSet;
use std::fmt::Write as _;

/// What a translated expression is, as far as the translator can tell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    /// A value of a known canonical type, or of an unknown one.
    Value(Option<String>),
    /// A type name used as an expression (`string`, `DateTime`), for static members.
    Type(&'static str),
    /// A namespace prefix (`System.Text`).
    Namespace(String),
}

fn val(t: &str) -> Ty {
    Ty::Value(Some(t.to_string()))
}

const UNKNOWN: Ty = Ty::Value(None);

pub struct Translator {
    pub ranges: Vec<Range>,
    scopes: Vec<HashSet<String>>,
    temp: usize,
    /// The catch variable of the innermost `catch`, for a bare `throw;`.
    catch_var: Vec<String>,
    /// Whether to wrap traced nodes in `rt_tr(id, …)` for `--explain`.
    pub explain: bool,
    /// Range and label of each traced node.
    pub traced: Vec<(Range, &'static str)>,
    /// Context properties read through `c_<Name>` locals (see `prelude`).
    hoisted: Vec<String>,
}

fn local(name: &str) -> String {
    let mut s = String::from("l_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s.push(c);
        } else {
            let _ = write!(s, "_u{:x}_", c as u32);
        }
    }
    s
}

pub fn rhai_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' => out.push('$'),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The canonical name of a written type, checked against APIM's allow-list.
/// Allowed by APIM but not implemented by apim-emu: a load-time error, never a surprise at run time.
fn not_implemented(range: &Range, ty: &str, name: &str) -> ExprError {
    let what = if ty.is_empty() {
        format!("a member named `{name}` on any type")
    } else {
        format!("`{}.{name}`", ty.rsplit('.').next().unwrap_or(ty))
    };
    ExprError::unsupported(
        range.clone(),
        format!("apim-emu does not implement {what} yet"),
    )
}

/// Whether `Type.Name` (a property, field or enum member) is implemented: asked of the runtime itself,
/// which needs no request for these.
fn static_get_implemented(ty: &str, name: &str) -> bool {
    match crate::statics::static_get(ty, name) {
        Ok(_) => true,
        Err(e) => !crate::value::is_not_implemented(&e),
    }
}

fn is_bool(t: &Ty) -> bool {
    matches!(t, Ty::Value(Some(name)) if name == "System.Boolean")
}

pub fn check_type(t: &TypeRef) -> Result<String, ExprError> {
    let base = match resolve_type(&t.name) {
        Some(c) => c.to_string(),
        None if t.name.ends_with("Exception") => {
            format!("System.{}", t.name.rsplit('.').next().unwrap_or(&t.name))
        }
        None if t.name == "var" || t.name == "dynamic" => {
            return Err(ExprError::refused(
                t.range.clone(),
                format!("`{}` cannot be used here", t.name),
            ));
        }
        None => {
            let full = if t.name.contains('.') {
                t.name.clone()
            } else {
                t.name.to_string()
            };
            return Err(ExprError::refused(
                t.range.clone(),
                format!(
                    "Usage of type '{full}' is not supported within expressions (or the type does not exist)"
                ),
            ));
        }
    };
    if allowed(&base) == Allowed::No && !base.ends_with("Exception") {
        return Err(ExprError::refused(
            t.range.clone(),
            format!("Usage of type '{base}' is not supported within expressions"),
        ));
    }
    for a in &t.args {
        check_type(a)?;
    }
    let mut s = base;
    if !t.args.is_empty() {
        s.push('<');
        s.push_str(
            &t.args
                .iter()
                .map(check_type)
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
        );
        s.push('>');
    }
    for _ in 0..t.array {
        s.push_str("[]");
    }
    if t.nullable {
        s.push('?');
    }
    Ok(s)
}

fn check_member(ty: &str, member: &str, range: &Range) -> Result<(), ExprError> {
    let refused = match allowed(ty) {
        Allowed::Only(list) => !list.contains(&member),
        Allowed::Except(list) => list.contains(&member),
        // Only types listed as refused (`System.Type` …); generic, array and APIM-internal type names
        // are not in the table at all.
        Allowed::No => crate::statics::TYPES.iter().any(|(n, _)| *n == ty),
        Allowed::All => false,
    };
    if refused {
        return Err(ExprError::refused(
            range.clone(),
            format!(
                "Usage of member '{member}' of type '{ty}' is not supported within expressions"
            ),
        ));
    }
    Ok(())
}

/// Static result types the translator knows, for the allow-list check of later members.
fn member_type(ty: &str, member: &str) -> Option<&'static str> {
    Some(match (ty, member) {
        (
            "System.DateTime",
            "UtcNow" | "Now" | "Today" | "MinValue" | "MaxValue" | "Date" | "Parse",
        ) => "System.DateTime",
        ("System.DateTime", m) if m.starts_with("Add") => "System.DateTime",
        ("IContext", "Timestamp") => "System.DateTime",
        ("IContext", "Request") => "IRequest",
        ("IContext", "Response") => "IResponse",
        ("IContext", "Variables") => "Variables",
        ("IContext", "Elapsed") => "System.TimeSpan",
        ("IContext", "RequestId") => "System.Guid",
        ("IRequest", "Body") | ("IResponse", "Body") => "IMessageBody",
        ("IRequest", "Url" | "OriginalUrl") => "IUrl",
        ("System.DateTimeOffset", "UtcDateTime" | "DateTime") => "System.DateTime",
        ("System.DateTimeOffset", "UtcNow" | "Now") => "System.DateTimeOffset",
        ("IResponse", "StatusReason") | ("IRequest", "Method" | "IpAddress") => "System.String",
        ("IResponse", "StatusCode") => "System.Int32",
        (
            "System.String",
            "Contains" | "StartsWith" | "EndsWith" | "Equals" | "IsNullOrEmpty"
            | "IsNullOrWhiteSpace",
        ) => "System.Boolean",
        _ => return None,
    })
}

fn is_json(ty: &Ty) -> bool {
    matches!(ty, Ty::Value(Some(t)) if t.starts_with("Newtonsoft.Json.Linq."))
}

fn lit_code(l: &Lit) -> (String, Ty) {
    match l {
        Lit::Null => ("()".into(), UNKNOWN),
        Lit::Bool(b) => (b.to_string(), val("System.Boolean")),
        Lit::Int(i) => (
            if *i < 0 {
                format!("({i})")
            } else {
                i.to_string()
            },
            val("System.Int32"),
        ),
        Lit::Long(l) => (
            format!("rt_long({})", rhai_string(&l.to_string())),
            val("System.Int64"),
        ),
        Lit::UInt(u) => (
            format!("rt_long({})", rhai_string(&u.to_string())),
            val("System.Int64"),
        ),
        Lit::Double(d) => (
            format!("rt_double({})", rhai_string(&format!("{d:e}"))),
            val("System.Double"),
        ),
        Lit::Decimal(d) => (
            format!("rt_decimal({})", rhai_string(&format!("{d:e}"))),
            val("System.Decimal"),
        ),
        Lit::Char(c) => (format!("rt_char({})", *c as u32), val("System.Char")),
        Lit::Str(s) => (rhai_string(s), val("System.String")),
    }
}

impl Translator {
    pub fn new(explain: bool) -> Self {
        Translator {
            ranges: Vec::new(),
            scopes: vec![HashSet::new()],
            temp: 0,
            catch_var: Vec::new(),
            explain,
            traced: Vec::new(),
            hoisted: Vec::new(),
        }
    }

    /// `let c_Response = rt_get(ctx, "Response");` … for the context properties the script reads: they
    /// are pure reads of the same object for the whole evaluation, so each is fetched once.
    pub fn prelude(&self) -> String {
        self.hoisted
            .iter()
            .map(|name| format!("let c_{name} = rt_get(ctx, {}); ", rhai_string(name)))
            .collect()
    }

    fn mark(&mut self, r: &Range) -> String {
        self.ranges.push(r.clone());
        format!("/*@{}*/", self.ranges.len() - 1)
    }

    fn tmp(&mut self) -> String {
        self.temp += 1;
        format!("t_{}", self.temp)
    }

    fn declare(&mut self, name: &str, range: &Range) -> Result<String, ExprError> {
        if name == "context" {
            return Err(ExprError::syntax(
                range.clone(),
                "a local named `context` would hide the policy context",
            ));
        }
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string());
        }
        Ok(local(name))
    }

    fn is_local(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains(name))
    }

    fn traced(&mut self, code: String, range: &Range, label: &'static str) -> String {
        if !self.explain {
            return code;
        }
        self.traced.push((range.clone(), label));
        format!("rt_tr({}, {code})", self.traced.len() - 1)
    }

    fn args(&mut self, args: &[Arg]) -> Result<String, ExprError> {
        let mut parts = Vec::new();
        for a in args {
            match &a.out {
                Some(_) => parts.push("()".to_string()),
                None => parts.push(self.expr(&a.value)?.0),
            }
        }
        Ok(format!("[{}]", parts.join(", ")))
    }

    /// Wraps a call that has `out` arguments: the runtime returns `[result, out…]`.
    fn with_outs(&mut self, call: String, args: &[Arg]) -> Result<String, ExprError> {
        let outs: Vec<(usize, &Arg)> = args
            .iter()
            .enumerate()
            .filter(|(_, a)| a.out.is_some())
            .collect();
        if outs.is_empty() {
            return Ok(call);
        }
        let t = self.tmp();
        let mut s = format!("{{ let {t} = {call}; ");
        for (n, (_, a)) in outs.iter().enumerate() {
            let target = match (&a.out, &a.value.kind) {
                (Some(OutArg::Declare(_, name)), _) => local(name),
                (Some(OutArg::Existing), ExprKind::Name(name)) if self.is_local(name) => {
                    local(name)
                }
                _ => {
                    return Err(ExprError::unsupported(
                        a.value.range.clone(),
                        "an `out` argument must be a local variable",
                    ));
                }
            };
            let _ = write!(s, "{target} = rt_out({t}, {}); ", n + 1);
        }
        let _ = write!(s, "rt_out({t}, 0) }}");
        Ok(s)
    }

    pub fn expr(&mut self, e: &Expr) -> Result<(String, Ty), ExprError> {
        crate::stack::guard(|| self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) -> Result<(String, Ty), ExprError> {
        let r = &e.range;
        Ok(match &e.kind {
            ExprKind::Lit(l) => lit_code(l),
            ExprKind::Interp(parts) => {
                let mut items = Vec::new();
                for p in parts {
                    match p {
                        InterpPart::Text(t) => items.push(rhai_string(t)),
                        InterpPart::Hole {
                            expr,
                            alignment,
                            format,
                        } => {
                            let (c, _) = self.expr(expr)?;
                            let m = self.mark(&expr.range);
                            items.push(format!(
                                "{m}rt_fmt({c}, {}, {})",
                                alignment.unwrap_or(0),
                                rhai_string(format.as_deref().unwrap_or(""))
                            ));
                        }
                    }
                }
                (
                    format!("rt_concat([{}])", items.join(", ")),
                    val("System.String"),
                )
            }
            ExprKind::Name(n) => {
                if let Some(t) = n.strip_prefix('\u{0}') {
                    (t.to_string(), UNKNOWN)
                } else if self.is_local(n) {
                    (local(n), UNKNOWN)
                } else if n == "context" {
                    ("ctx".into(), val("IContext"))
                } else if let Some(t) = resolve_type(n) {
                    (String::new(), Ty::Type(t))
                } else if is_namespace_prefix(n) {
                    (String::new(), Ty::Namespace(n.clone()))
                } else {
                    return Err(ExprError::syntax(
                        r.clone(),
                        format!("the name '{n}' does not exist in the current context"),
                    ));
                }
            }
            ExprKind::TypeKeyword(k) => match resolve_type(k) {
                Some(t) => (String::new(), Ty::Type(t)),
                None => return Err(ExprError::syntax(r.clone(), format!("unexpected `{k}`"))),
            },
            ExprKind::Member {
                target,
                name,
                name_range,
                type_args,
            } => {
                // `List<int>` written as a member of an empty name: a generic type reference.
                if let ExprKind::Name(n) = &target.kind
                    && n.is_empty()
                {
                    let t = TypeRef {
                        name: name.clone(),
                        args: type_args.clone(),
                        array: 0,
                        nullable: false,
                        range: r.clone(),
                    };
                    check_type(&t)?;
                    return Err(ExprError::unsupported(
                        r.clone(),
                        "a generic type is only supported after `new`",
                    ));
                }
                let (tc, tt) = self.expr(target)?;
                match tt {
                    Ty::Namespace(ns) => {
                        let full = format!("{ns}.{name}");
                        if let Some(t) = resolve_type(&full) {
                            if allowed(t) == Allowed::No {
                                return Err(ExprError::refused(
                                    r.clone(),
                                    format!(
                                        "Usage of type '{t}' is not supported within expressions"
                                    ),
                                ));
                            }
                            (String::new(), Ty::Type(t))
                        } else if is_namespace_prefix(&full) {
                            (String::new(), Ty::Namespace(full))
                        } else {
                            return Err(ExprError::refused(
                                r.clone(),
                                format!(
                                    "Usage of type '{full}' is not supported within expressions (or the type does not exist)"
                                ),
                            ));
                        }
                    }
                    Ty::Type(t) => {
                        if allowed(t) == Allowed::No {
                            return Err(ExprError::refused(
                                target.range.clone(),
                                format!("Usage of type '{t}' is not supported within expressions"),
                            ));
                        }
                        check_member(t, name, name_range)?;
                        if !static_get_implemented(t, name) {
                            return Err(not_implemented(name_range, t, name));
                        }
                        let m = self.mark(name_range);
                        let ty = member_type(t, name).map(val).unwrap_or(UNKNOWN);
                        let code = format!("{m}rt_sget({}, {})", rhai_string(t), rhai_string(name));
                        (self.traced(code, r, "member"), ty)
                    }
                    Ty::Value(vt) => {
                        let ty = instance_member_type(&vt, name, name_range)?.unwrap_or(UNKNOWN);
                        if tc == "ctx"
                            && !self.explain
                            && name.chars().all(|c| c.is_ascii_alphanumeric())
                        {
                            if !self.hoisted.contains(name) {
                                self.hoisted.push(name.clone());
                            }
                            return Ok((format!("c_{name}"), ty));
                        }
                        let m = self.mark(name_range);
                        let code = format!("{m}rt_get({tc}, {})", rhai_string(name));
                        (self.traced(code, r, "member"), ty)
                    }
                }
            }
            ExprKind::Call { callee, args } => self.call(e, callee, args)?,
            ExprKind::Index { target, args } => {
                let (tc, _) = self.expr(target)?;
                let mut parts = Vec::new();
                for a in args {
                    parts.push(self.expr(a)?.0);
                }
                let m = self.mark(r);
                let code = format!("{m}rt_idx({tc}, [{}])", parts.join(", "));
                (self.traced(code, r, "index"), UNKNOWN)
            }
            ExprKind::CondAccess { target, chain } => {
                let (tc, _) = self.expr(target)?;
                let t = self.tmp();
                let chain_code = self.with_cond_target(chain, &t)?;
                (
                    format!(
                        "{{ let {t} = {tc}; if rt_is_null({t}) {{ () }} else {{ {chain_code} }} }}"
                    ),
                    UNKNOWN,
                )
            }
            ExprKind::CondTarget => {
                return Err(ExprError::syntax(r.clone(), "misplaced conditional access"));
            }
            ExprKind::Unary { op, operand } => self.unary(e, *op, operand)?,
            ExprKind::Binary { op, left, right } => {
                let (lc, lt) = self.expr(left)?;
                let (rc, rt) = self.expr(right)?;
                let m = self.mark(r);
                let (code, ty) = match op {
                    // Operands statically known to be `bool` (comparisons, `!`, `&&`) need no conversion:
                    // Rhai's own `&&`/`||` on them is the fast path of every retry condition.
                    BinOp::And | BinOp::Or => {
                        let conv = |c: String, t: &Ty| {
                            if is_bool(t) {
                                c
                            } else {
                                format!("{m}rt_bool({c})")
                            }
                        };
                        let sym = if *op == BinOp::And { "&&" } else { "||" };
                        (
                            format!("({} {sym} {})", conv(lc, &lt), conv(rc, &rt)),
                            val("System.Boolean"),
                        )
                    }
                    BinOp::Coalesce => {
                        let t = self.tmp();
                        (
                            format!(
                                "{{ let {t} = {lc}; if rt_is_null({t}) {{ {rc} }} else {{ {t} }} }}"
                            ),
                            lt,
                        )
                    }
                    _ => {
                        let f = match op {
                            BinOp::Add => "rt_add",
                            BinOp::Sub => "rt_sub",
                            BinOp::Mul => "rt_mul",
                            BinOp::Div => "rt_div",
                            BinOp::Rem => "rt_rem",
                            BinOp::Shl => "rt_shl",
                            BinOp::Shr => "rt_shr",
                            BinOp::Lt => "rt_lt",
                            BinOp::Le => "rt_le",
                            BinOp::Gt => "rt_gt",
                            BinOp::Ge => "rt_ge",
                            BinOp::Eq => "rt_eq",
                            BinOp::Ne => "rt_ne",
                            BinOp::BitAnd => "rt_band",
                            BinOp::BitOr => "rt_bor",
                            _ => "rt_bxor",
                        };
                        let ty = match op {
                            BinOp::Lt
                            | BinOp::Le
                            | BinOp::Gt
                            | BinOp::Ge
                            | BinOp::Eq
                            | BinOp::Ne => val("System.Boolean"),
                            BinOp::Add
                                if lt == val("System.String") || rt == val("System.String") =>
                            {
                                val("System.String")
                            }
                            _ => UNKNOWN,
                        };
                        let int = val("System.Int32");
                        let native = match op {
                            BinOp::Lt => Some("<"),
                            BinOp::Le => Some("<="),
                            BinOp::Gt => Some(">"),
                            BinOp::Ge => Some(">="),
                            BinOp::Eq => Some("=="),
                            BinOp::Ne => Some("!="),
                            _ => None,
                        };
                        match native {
                            // Both sides statically `int` (`StatusCode == 429`): Rhai's own integer
                            // comparison means the same and skips a function call.
                            Some(sym) if lt == int && rt == int => {
                                (format!("({lc} {sym} {rc})"), ty)
                            }
                            _ => (format!("{m}{f}({lc}, {rc})"), ty),
                        }
                    }
                };
                (self.traced(code, r, "operator"), ty)
            }
            ExprKind::Assign { op, target, value } => {
                let code = self.assign(target, *op, value, true)?;
                (code, UNKNOWN)
            }
            ExprKind::Conditional {
                cond,
                then,
                otherwise,
            } => {
                let (cc, _) = self.expr(cond)?;
                let (tc, tt) = self.expr(then)?;
                let (oc, _) = self.expr(otherwise)?;
                let m = self.mark(&cond.range);
                (
                    format!("if {m}rt_bool({cc}) {{ {tc} }} else {{ {oc} }}"),
                    tt,
                )
            }
            ExprKind::Cast { ty, operand } => {
                let canonical = check_type(ty)?;
                let (oc, ot) = self.expr(operand)?;
                let static_kind = if is_json(&ot) {
                    crate::runtime::STATIC_JSON
                } else if ot == val("System.Object") || ot == val("Variables.Item") {
                    crate::runtime::STATIC_OBJECT
                } else {
                    crate::runtime::STATIC_UNKNOWN
                };
                let m = self.mark(r);
                let code = format!(
                    "{m}rt_cast({oc}, {}, {static_kind})",
                    rhai_string(&canonical)
                );
                (self.traced(code, r, "cast"), val(&canonical))
            }
            ExprKind::As { operand, ty } => {
                let canonical = check_type(ty)?;
                let (oc, _) = self.expr(operand)?;
                (
                    format!("rt_as({oc}, {})", rhai_string(&canonical)),
                    val(&canonical),
                )
            }
            ExprKind::Is { operand, ty } => {
                let (oc, _) = self.expr(operand)?;
                let code = match ty {
                    IsPattern::Null => format!("rt_is_null({oc})"),
                    IsPattern::NotNull => format!("!rt_is_null({oc})"),
                    IsPattern::Const(c) => {
                        let (cc, _) = self.expr(c)?;
                        format!("rt_eq({oc}, {cc})")
                    }
                    IsPattern::Type(t, binding) => {
                        let canonical = check_type(t)?;
                        match binding {
                            None => format!("rt_is({oc}, {})", rhai_string(&canonical)),
                            Some(name) => {
                                let l = self.declare(name, r)?;
                                let t = self.tmp();
                                format!(
                                    "{{ let {t} = {oc}; if rt_is({t}, {}) {{ {l} = {t}; true }} else {{ false }} }}",
                                    rhai_string(&canonical)
                                )
                            }
                        }
                    }
                };
                (code, val("System.Boolean"))
            }
            ExprKind::Lambda { params, body } => {
                self.scopes.push(HashSet::new());
                let mut names = Vec::new();
                for (_, p) in params {
                    names.push(self.declare(p, r)?);
                }
                let body_code = match body {
                    LambdaBody::Expr(b) => self.expr(b)?.0,
                    LambdaBody::Block(stmts) => self.block_body(stmts)?,
                };
                self.scopes.pop();
                (format!("|{}| {{ {body_code} }}", names.join(", ")), UNKNOWN)
            }
            ExprKind::New { ty, args, init } => {
                let canonical = check_type(ty)?;
                if !implemented::constructor(&canonical) {
                    return Err(ExprError::unsupported(
                        ty.range.clone(),
                        format!("apim-emu does not implement `new {}(…)` yet", ty.name),
                    ));
                }
                let m = self.mark(r);
                let a = self.args(args)?;
                let base = format!("{m}rt_new({}, {a})", rhai_string(&canonical));
                let t_ty = val(&canonical);
                match init {
                    None => (base, t_ty),
                    Some(init) => {
                        let t = self.tmp();
                        let mut s = format!("{{ let {t} = {base}; ");
                        match init {
                            Init::Collection(items) => {
                                for item in items {
                                    let mut parts = Vec::new();
                                    for x in item {
                                        parts.push(self.expr(x)?.0);
                                    }
                                    let m = self.mark(
                                        &item.first().map(|x| x.range.clone()).unwrap_or(r.clone()),
                                    );
                                    let _ = write!(
                                        s,
                                        "{m}rt_call({t}, \"Add\", \"\", [{}]); ",
                                        parts.join(", ")
                                    );
                                }
                            }
                            Init::Indexed(items) => {
                                for (k, v) in items {
                                    let (kc, _) = self.expr(k)?;
                                    let (vc, _) = self.expr(v)?;
                                    let m = self.mark(&k.range);
                                    let _ = write!(s, "{m}rt_idx_set({t}, [{kc}], {vc}); ");
                                }
                            }
                            Init::Object(items) => {
                                for (name, nr, v) in items {
                                    let (vc, _) = self.expr(v)?;
                                    let m = self.mark(nr);
                                    let _ =
                                        write!(s, "{m}rt_set({t}, {}, {vc}); ", rhai_string(name));
                                }
                            }
                        }
                        let _ = write!(s, "{t} }}");
                        (s, t_ty)
                    }
                }
            }
            ExprKind::NewArray { elem, size, items } => {
                if let Some(elem) = elem {
                    check_type(elem)?;
                }
                match size {
                    Some(n) if items.is_empty() => {
                        let (nc, _) = self.expr(n)?;
                        let elem_name = elem
                            .as_ref()
                            .map(check_type)
                            .transpose()?
                            .unwrap_or_default();
                        let m = self.mark(r);
                        (
                            format!("{m}rt_array_n({}, {nc})", rhai_string(&elem_name)),
                            UNKNOWN,
                        )
                    }
                    _ => {
                        let mut parts = Vec::new();
                        for x in items {
                            parts.push(self.expr(x)?.0);
                        }
                        (format!("rt_array([{}])", parts.join(", ")), UNKNOWN)
                    }
                }
            }
            ExprKind::AnonObject(members) => {
                let mut names = Vec::new();
                let mut values = Vec::new();
                for (n, v) in members {
                    names.push(rhai_string(n));
                    values.push(self.expr(v)?.0);
                }
                (
                    format!("rt_anon([{}], [{}])", names.join(", "), values.join(", ")),
                    UNKNOWN,
                )
            }
            ExprKind::Default(t) => match t {
                Some(t) => {
                    let c = check_type(t)?;
                    (format!("rt_default({})", rhai_string(&c)), val(&c))
                }
                None => ("()".into(), UNKNOWN),
            },
            ExprKind::TypeOf(t) => {
                let c = check_type(t)?;
                (
                    format!("rt_typeof({})", rhai_string(&c)),
                    val("System.Type"),
                )
            }
            ExprKind::NameOf(n) => (rhai_string(n), val("System.String")),
            ExprKind::Throw(v) => {
                let (vc, _) = self.expr(v)?;
                let m = self.mark(r);
                (format!("{{ throw {m}rt_exc({vc}); }}"), UNKNOWN)
            }
        })
    }

    /// Translates a conditional-access chain with its target bound to the temporary `t`.
    fn with_cond_target(&mut self, chain: &Expr, t: &str) -> Result<String, ExprError> {
        let replaced = replace_cond_target(chain, t);
        self.scopes.push(HashSet::from([format!("\u{0}{t}")]));
        let r = self.expr(&replaced).map(|x| x.0);
        self.scopes.pop();
        r
    }

    fn call(&mut self, e: &Expr, callee: &Expr, args: &[Arg]) -> Result<(String, Ty), ExprError> {
        let r = &e.range;
        let ExprKind::Member {
            target,
            name,
            name_range,
            type_args,
        } = &callee.kind
        else {
            return Err(ExprError::unsupported(
                callee.range.clone(),
                "only method calls (`x.Method(…)`) are supported; delegates cannot be invoked",
            ));
        };
        let targs = type_args
            .iter()
            .map(check_type)
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        let (tc, tt) = self.expr(target)?;
        let a = self.args(args)?;
        let m = self.mark(name_range);
        let (code, ty) = match tt {
            Ty::Type(t) => {
                if allowed(t) == Allowed::No {
                    return Err(ExprError::refused(
                        target.range.clone(),
                        format!("Usage of type '{t}' is not supported within expressions"),
                    ));
                }
                check_member(t, name, name_range)?;
                if !implemented::static_call(t, name) {
                    return Err(not_implemented(name_range, t, name));
                }
                let ty = member_type(t, name).map(val).unwrap_or(UNKNOWN);
                (
                    format!(
                        "{m}rt_scall({}, {}, {}, {a})",
                        rhai_string(t),
                        rhai_string(name),
                        rhai_string(&targs)
                    ),
                    ty,
                )
            }
            Ty::Namespace(ns) => {
                return Err(ExprError::refused(
                    callee.range.clone(),
                    format!(
                        "Usage of type '{ns}' is not supported within expressions (or the type does not exist)"
                    ),
                ));
            }
            Ty::Value(vt) => {
                let ty =
                    instance_member_type(&vt, name, name_range)?.unwrap_or(match name.as_str() {
                        "ToString" => val("System.String"),
                        "As" | "ToObject" | "Value" | "GetValueOrDefault" if !targs.is_empty() => {
                            val(&targs)
                        }
                        _ => UNKNOWN,
                    });
                (
                    format!(
                        "{m}rt_call({tc}, {}, {}, {a})",
                        rhai_string(name),
                        rhai_string(&targs)
                    ),
                    ty,
                )
            }
        };
        let code = self.with_outs(code, args)?;
        Ok((self.traced(code, r, "call"), ty))
    }

    fn unary(&mut self, e: &Expr, op: UnOp, operand: &Expr) -> Result<(String, Ty), ExprError> {
        let r = &e.range;
        match op {
            UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec => {
                let by = if matches!(op, UnOp::PreInc | UnOp::PostInc) {
                    1
                } else {
                    -1
                };
                let ExprKind::Name(n) = &operand.kind else {
                    return Err(ExprError::unsupported(
                        r.clone(),
                        "`++`/`--` is supported on local variables",
                    ));
                };
                if !self.is_local(n) {
                    return Err(ExprError::syntax(
                        operand.range.clone(),
                        format!("the name '{n}' does not exist in the current context"),
                    ));
                }
                let l = local(n);
                let m = self.mark(r);
                Ok((
                    if matches!(op, UnOp::PreInc | UnOp::PreDec) {
                        format!("{{ {l} = {m}rt_inc({l}, {by}); {l} }}")
                    } else {
                        let t = self.tmp();
                        format!("{{ let {t} = {l}; {l} = {m}rt_inc({t}, {by}); {t} }}")
                    },
                    UNKNOWN,
                ))
            }
            _ => {
                let (c, t) = self.expr(operand)?;
                if op == UnOp::Not && is_bool(&t) {
                    // A `bool` operand: Rhai's own `!` (no conversion, no null to report).
                    return Ok((self.traced(format!("(!{c})"), r, "operator"), t));
                }
                let m = self.mark(r);
                let f = match op {
                    UnOp::Neg => "rt_neg",
                    UnOp::Not => "rt_not",
                    UnOp::Compl => "rt_compl",
                    _ => return Ok((c, t)),
                };
                Ok((
                    self.traced(format!("{m}{f}({c})"), r, "operator"),
                    if op == UnOp::Not {
                        val("System.Boolean")
                    } else {
                        t
                    },
                ))
            }
        }
    }

    fn assign(
        &mut self,
        target: &Expr,
        op: Option<BinOp>,
        value: &Expr,
        as_expr: bool,
    ) -> Result<String, ExprError> {
        let (vc, _) = self.expr(value)?;
        let combine = |me: &mut Self, current: String| -> String {
            match op {
                None => vc.clone(),
                Some(BinOp::Coalesce) => {
                    let t = me.tmp();
                    format!(
                        "{{ let {t} = {current}; if rt_is_null({t}) {{ {vc} }} else {{ {t} }} }}"
                    )
                }
                Some(op) => {
                    let f = match op {
                        BinOp::Add => "rt_add",
                        BinOp::Sub => "rt_sub",
                        BinOp::Mul => "rt_mul",
                        BinOp::Div => "rt_div",
                        BinOp::Rem => "rt_rem",
                        BinOp::BitAnd => "rt_band",
                        BinOp::BitOr => "rt_bor",
                        BinOp::BitXor => "rt_bxor",
                        BinOp::Shl => "rt_shl",
                        _ => "rt_shr",
                    };
                    let m = me.mark(&value.range);
                    format!("{m}{f}({current}, {vc})")
                }
            }
        };
        match &target.kind {
            ExprKind::Name(n) if self.is_local(n) => {
                let l = local(n);
                let v = combine(self, l.clone());
                Ok(if as_expr {
                    format!("{{ {l} = {v}; {l} }}")
                } else {
                    format!("{l} = {v}")
                })
            }
            ExprKind::Name(n) if n == "context" => Err(ExprError::syntax(
                target.range.clone(),
                "`context` is read-only",
            )),
            ExprKind::Name(n) => Err(ExprError::syntax(
                target.range.clone(),
                format!("the name '{n}' does not exist in the current context"),
            )),
            ExprKind::Index { target: t, args } => {
                let (tc, _) = self.expr(t)?;
                let mut parts = Vec::new();
                for a in args {
                    parts.push(self.expr(a)?.0);
                }
                let obj = self.tmp();
                let keys = self.tmp();
                let v = combine(self, format!("rt_idx({obj}, {keys})"));
                let tv = self.tmp();
                let m = self.mark(&target.range);
                Ok(format!(
                    "{{ let {obj} = {tc}; let {keys} = [{}]; let {tv} = {v}; {m}rt_idx_set({obj}, {keys}, {tv}); {tv} }}",
                    parts.join(", ")
                ))
            }
            ExprKind::Member {
                target: t,
                name,
                name_range,
                ..
            } => {
                let (tc, tt) = self.expr(t)?;
                if matches!(tt, Ty::Type(_) | Ty::Namespace(_))
                    || tc == "ctx"
                    || tc.contains("rt_get(ctx")
                    || tc.starts_with("c_")
                {
                    return Err(ExprError::syntax(
                        target.range.clone(),
                        format!("`{name}` is read-only"),
                    ));
                }
                let obj = self.tmp();
                let v = combine(self, format!("rt_get({obj}, {})", rhai_string(name)));
                let tv = self.tmp();
                let m = self.mark(name_range);
                Ok(format!(
                    "{{ let {obj} = {tc}; let {tv} = {v}; {m}rt_set({obj}, {}, {tv}); {tv} }}",
                    rhai_string(name)
                ))
            }
            _ => Err(ExprError::syntax(
                target.range.clone(),
                "the left-hand side of an assignment must be a variable, property or indexer",
            )),
        }
    }

    // ----- statements -----

    /// A block as a Rhai function body: statements, hoisted `out` declarations first.
    pub fn block_body(&mut self, stmts: &[Stmt]) -> Result<String, ExprError> {
        let mut s = String::new();
        for st in stmts {
            s.push_str(&self.stmt(st)?);
            s.push('\n');
        }
        Ok(s)
    }

    fn hoist(&mut self, exprs: &[&Expr]) -> Result<String, ExprError> {
        let mut names = Vec::new();
        for e in exprs {
            collect_declared(e, &mut names);
        }
        let mut s = String::new();
        for (n, r) in names {
            let l = self.declare(&n, &r)?;
            let _ = write!(s, "let {l} = (); ");
        }
        Ok(s)
    }

    fn stmt_scoped(&mut self, st: &Stmt) -> Result<String, ExprError> {
        self.scopes.push(HashSet::new());
        let r = self.stmt(st);
        self.scopes.pop();
        Ok(format!("{{ {} }}", r?))
    }

    pub fn stmt(&mut self, st: &Stmt) -> Result<String, ExprError> {
        crate::stack::guard(|| self.stmt_inner(st))
    }

    fn stmt_inner(&mut self, st: &Stmt) -> Result<String, ExprError> {
        Ok(match &st.kind {
            StmtKind::Empty => String::new(),
            StmtKind::Block(stmts) => {
                self.scopes.push(HashSet::new());
                let b = self.block_body(stmts);
                self.scopes.pop();
                format!("{{ {} }}", b?)
            }
            StmtKind::Local { ty, decls } => {
                let canonical = match ty {
                    Some(t) => Some(check_type(t)?),
                    None => None,
                };
                let mut s = String::new();
                for (name, r, init) in decls {
                    let hoisted = match init {
                        Some(e) => self.hoist(&[e])?,
                        None => String::new(),
                    };
                    let value = match init {
                        Some(e) => {
                            let (c, _) = self.expr(e)?;
                            match canonical.as_deref() {
                                Some(
                                    t @ ("System.Int64"
                                    | "System.Double"
                                    | "System.Single"
                                    | "System.Decimal"
                                    | "System.Xml.Linq.XNamespace"
                                    | "System.Xml.Linq.XName"),
                                ) => {
                                    format!("rt_implicit({c}, {})", rhai_string(t))
                                }
                                _ => c,
                            }
                        }
                        None => "()".into(),
                    };
                    let l = self.declare(name, r)?;
                    let _ = write!(s, "{hoisted}let {l} = {value}; ");
                }
                s
            }
            StmtKind::Expr(e) => {
                let hoisted = self.hoist(&[e])?;
                let code = match &e.kind {
                    ExprKind::Assign { op, target, value } => {
                        self.assign(target, *op, value, false)?
                    }
                    _ => self.expr(e)?.0,
                };
                format!("{hoisted}{code};")
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let hoisted = self.hoist(&[cond])?;
                let (c, _) = self.expr(cond)?;
                let m = self.mark(&cond.range);
                let t = self.stmt_scoped(then)?;
                let o = match otherwise {
                    Some(o) => format!(" else {}", self.stmt_scoped(o)?),
                    None => String::new(),
                };
                format!("{hoisted}if {m}rt_bool({c}) {t}{o}")
            }
            StmtKind::While { cond, body } => {
                let (c, _) = self.expr(cond)?;
                let m = self.mark(&cond.range);
                format!("while {m}rt_bool({c}) {}", self.stmt_scoped(body)?)
            }
            StmtKind::DoWhile { body, cond } => {
                let first = self.tmp();
                let (c, _) = self.expr(cond)?;
                let m = self.mark(&cond.range);
                format!(
                    "let {first} = true; loop {{ if !{first} && !{m}rt_bool({c}) {{ break; }} {first} = false; {} }}",
                    self.stmt_scoped(body)?
                )
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                self.scopes.push(HashSet::new());
                let mut s = String::from("{ ");
                for i in init {
                    s.push_str(&self.stmt(i)?);
                    s.push(' ');
                }
                let first = self.tmp();
                let mut step_code = String::new();
                for e in step {
                    let c = match &e.kind {
                        ExprKind::Assign { op, target, value } => {
                            self.assign(target, *op, value, false)?
                        }
                        _ => self.expr(e)?.0,
                    };
                    let _ = write!(step_code, "{c}; ");
                }
                let cond_code = match cond {
                    Some(c) => {
                        let (cc, _) = self.expr(c)?;
                        let m = self.mark(&c.range);
                        format!("if !{m}rt_bool({cc}) {{ break; }}")
                    }
                    None => String::new(),
                };
                let b = self.stmt_scoped(body);
                self.scopes.pop();
                let _ = write!(
                    s,
                    "let {first} = true; loop {{ if !{first} {{ {step_code} }} {first} = false; {cond_code} {} }} }}",
                    b?
                );
                s
            }
            StmtKind::Foreach {
                name,
                collection,
                body,
                ..
            } => {
                let (c, _) = self.expr(collection)?;
                let m = self.mark(&collection.range);
                self.scopes.push(HashSet::new());
                let l = self.declare(name, &st.range)?;
                let b = self.stmt_scoped(body);
                self.scopes.pop();
                format!("for {l} in {m}rt_iter({c}) {}", b?)
            }
            StmtKind::Switch { subject, sections } => {
                let (sc, _) = self.expr(subject)?;
                let t = self.tmp();
                let mut s = format!("{{ let {t} = {sc}; ");
                let mut default = None;
                let mut first = true;
                for sec in sections {
                    let mut conds = Vec::new();
                    for l in &sec.labels {
                        match l {
                            Some(e) => {
                                let (c, _) = self.expr(e)?;
                                conds.push(format!("rt_eq({t}, {c})"));
                            }
                            None => conds.push("true".into()),
                        }
                    }
                    let body = self.switch_body(&sec.body)?;
                    if sec.labels.iter().all(Option::is_none) {
                        default = Some(body);
                        continue;
                    }
                    let _ = write!(
                        s,
                        "{}if {} {{ {body} }}",
                        if first { "" } else { " else " },
                        conds.join(" || ")
                    );
                    first = false;
                }
                if let Some(d) = default {
                    if first {
                        let _ = write!(s, "{{ {d} }}");
                    } else {
                        let _ = write!(s, " else {{ {d} }}");
                    }
                }
                s.push_str(" }");
                s
            }
            StmtKind::Break => "break;".into(),
            StmtKind::Continue => "continue;".into(),
            StmtKind::Return(v) => match v {
                Some(e) => {
                    let hoisted = self.hoist(&[e])?;
                    format!("{hoisted}return {};", self.expr(e)?.0)
                }
                None => "return;".into(),
            },
            StmtKind::Throw(v) => match v {
                Some(e) => {
                    let (c, _) = self.expr(e)?;
                    let m = self.mark(&st.range);
                    format!("throw {m}rt_exc({c});")
                }
                None => match self.catch_var.last() {
                    Some(v) => format!("throw {v};"),
                    None => {
                        return Err(ExprError::syntax(
                            st.range.clone(),
                            "a `throw` without an expression is only allowed in a catch block",
                        ));
                    }
                },
            },
            StmtKind::Try {
                body,
                catches,
                finally,
            } => {
                self.scopes.push(HashSet::new());
                let b = self.block_body(body);
                self.scopes.pop();
                let mut s = format!("try {{ {} }}", b?);
                let err = self.tmp();
                let exc = self.tmp();
                let _ = write!(s, " catch ({err}) {{ let {exc} = rt_exc({err}); ");
                let mut first = true;
                for c in catches {
                    let ty = match &c.ty {
                        Some(t) => check_type(t)?,
                        None => "System.Exception".into(),
                    };
                    self.scopes.push(HashSet::new());
                    let bind = match &c.name {
                        Some(n) => format!("let {} = {exc}; ", self.declare(n, &st.range)?),
                        None => String::new(),
                    };
                    let filter = match &c.filter {
                        Some(f) => format!(" && rt_bool({})", self.expr(f)?.0),
                        None => String::new(),
                    };
                    self.catch_var.push(exc.clone());
                    let cb = self.block_body(&c.body);
                    self.catch_var.pop();
                    self.scopes.pop();
                    let _ = write!(
                        s,
                        "{}if rt_exc_is({exc}, {}){filter} {{ {bind}{} }}",
                        if first { "" } else { " else " },
                        rhai_string(&ty),
                        cb?
                    );
                    first = false;
                }
                if first {
                    let _ = write!(s, "throw {exc};");
                } else {
                    let _ = write!(s, " else {{ throw {exc}; }}");
                }
                s.push_str(" }");
                if let Some(f) = finally {
                    // Deviation: a `finally` block runs after normal completion and after an exception, but not
                    // when the try block returns (Rhai has no finally); policies use finally rarely.
                    self.scopes.push(HashSet::new());
                    let fb = self.block_body(f);
                    self.scopes.pop();
                    let fb = fb?;
                    let e2 = self.tmp();
                    s = format!("try {{ {s} }} catch ({e2}) {{ {fb} throw {e2}; }} {fb}");
                }
                s
            }
            StmtKind::Using { decl, body } => {
                self.scopes.push(HashSet::new());
                let d = self.stmt(decl);
                let b = self.stmt_scoped(body);
                self.scopes.pop();
                format!("{{ {} {} }}", d?, b?)
            }
        })
    }

    /// A switch section: a trailing `break;` ends it; a nested `break` would leave an enclosing loop in Rhai.
    fn switch_body(&mut self, stmts: &[Stmt]) -> Result<String, ExprError> {
        let mut body: Vec<&Stmt> = stmts.iter().collect();
        if matches!(body.last().map(|s| &s.kind), Some(StmtKind::Break)) {
            body.pop();
        }
        for s in &body {
            if contains_switch_break(s) {
                return Err(ExprError::unsupported(
                    s.range.clone(),
                    "`break` inside a switch section is only supported as its last statement",
                ));
            }
        }
        self.scopes.push(HashSet::new());
        let mut out = String::new();
        for s in body {
            match self.stmt(s) {
                Ok(c) => {
                    out.push_str(&c);
                    out.push(' ');
                }
                Err(e) => {
                    self.scopes.pop();
                    return Err(e);
                }
            }
        }
        self.scopes.pop();
        Ok(out)
    }
}

fn contains_switch_break(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Break => true,
        StmtKind::Block(b) => b.iter().any(contains_switch_break),
        StmtKind::If {
            then, otherwise, ..
        } => contains_switch_break(then) || otherwise.as_deref().is_some_and(contains_switch_break),
        StmtKind::Try {
            body,
            catches,
            finally,
        } => {
            body.iter().any(contains_switch_break)
                || catches
                    .iter()
                    .any(|c| c.body.iter().any(contains_switch_break))
                || finally
                    .as_ref()
                    .is_some_and(|f| f.iter().any(contains_switch_break))
        }
        _ => false,
    }
}

/// Locals declared inside an expression (`out var x`, `is T x`), outside lambdas.
fn collect_declared(e: &Expr, out: &mut Vec<(String, Range)>) {
    match &e.kind {
        ExprKind::Call { callee, args } => {
            collect_declared(callee, out);
            for a in args {
                if let Some(OutArg::Declare(_, n)) = &a.out {
                    out.push((n.clone(), a.value.range.clone()));
                } else {
                    collect_declared(&a.value, out);
                }
            }
        }
        ExprKind::Member { target, .. } => collect_declared(target, out),
        ExprKind::Index { target, args } => {
            collect_declared(target, out);
            args.iter().for_each(|a| collect_declared(a, out));
        }
        ExprKind::CondAccess { target, chain } => {
            collect_declared(target, out);
            collect_declared(chain, out);
        }
        ExprKind::Unary { operand, .. } => collect_declared(operand, out),
        ExprKind::Binary { left, right, .. } => {
            collect_declared(left, out);
            collect_declared(right, out);
        }
        ExprKind::Assign { target, value, .. } => {
            collect_declared(target, out);
            collect_declared(value, out);
        }
        ExprKind::Conditional {
            cond,
            then,
            otherwise,
        } => {
            collect_declared(cond, out);
            collect_declared(then, out);
            collect_declared(otherwise, out);
        }
        ExprKind::Cast { operand, .. } | ExprKind::As { operand, .. } => {
            collect_declared(operand, out)
        }
        ExprKind::Is { operand, ty } => {
            collect_declared(operand, out);
            if let IsPattern::Type(_, Some(n)) = ty {
                out.push((n.clone(), e.range.clone()));
            }
        }
        ExprKind::Interp(parts) => {
            for p in parts {
                if let InterpPart::Hole { expr, .. } = p {
                    collect_declared(expr, out);
                }
            }
        }
        _ => {}
    }
}

/// Replaces `CondTarget` in a chain by a reference to a temporary local.
fn replace_cond_target(e: &Expr, t: &str) -> Expr {
    let boxed = |x: &Expr| Box::new(replace_cond_target(x, t));
    let kind = match &e.kind {
        ExprKind::CondTarget => ExprKind::Name(format!("\u{0}{t}")),
        ExprKind::Member {
            target,
            name,
            name_range,
            type_args,
        } => ExprKind::Member {
            target: boxed(target),
            name: name.clone(),
            name_range: name_range.clone(),
            type_args: type_args.clone(),
        },
        ExprKind::Call { callee, args } => ExprKind::Call {
            callee: boxed(callee),
            args: args.clone(),
        },
        ExprKind::Index { target, args } => ExprKind::Index {
            target: boxed(target),
            args: args.clone(),
        },
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op: *op,
            operand: boxed(operand),
        },
        ExprKind::CondAccess { target, chain } => ExprKind::CondAccess {
            target: boxed(target),
            chain: chain.clone(),
        },
        other => other.clone(),
    };
    Expr {
        kind,
        range: e.range.clone(),
    }
}

/// Whether every path through a block ends in `return` or `throw` (C# CS0161).
pub fn always_returns(stmts: &[Stmt]) -> bool {
    stmts.iter().any(stmt_returns)
}

fn stmt_returns(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Return(_) | StmtKind::Throw(_) => true,
        StmtKind::Block(b) => always_returns(b),
        StmtKind::If {
            then,
            otherwise: Some(o),
            ..
        } => stmt_returns(then) && stmt_returns(o),
        StmtKind::Try {
            body,
            catches,
            finally,
        } => {
            finally.as_ref().is_some_and(|f| always_returns(f))
                || always_returns(body) && catches.iter().all(|c| always_returns(&c.body))
        }
        StmtKind::Using { body, .. } => stmt_returns(body),
        StmtKind::Switch { sections, .. } => {
            sections
                .iter()
                .any(|s| s.labels.iter().any(Option::is_none))
                && sections.iter().all(|s| always_returns(&s.body))
        }
        StmtKind::While { cond, body } => {
            matches!(cond.kind, ExprKind::Lit(Lit::Bool(true))) && !contains_loop_break(body)
        }
        StmtKind::For {
            cond: None, body, ..
        } => !contains_loop_break(body),
        _ => false,
    }
}

fn contains_loop_break(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Break => true,
        StmtKind::Block(b) => b.iter().any(contains_loop_break),
        StmtKind::If {
            then, otherwise, ..
        } => contains_loop_break(then) || otherwise.as_deref().is_some_and(contains_loop_break),
        _ => false,
    }
}

/// Load-time checks of an instance member (on the allow-list, implemented) and its static type when known.
fn instance_member_type(
    receiver: &Option<String>,
    name: &str,
    name_range: &Range,
) -> Result<Option<Ty>, ExprError> {
    if let Some(t) = receiver {
        check_member(t, name, name_range)?;
    }
    if !implemented::member(name) {
        return Err(not_implemented(name_range, "", name));
    }
    Ok(receiver
        .as_deref()
        .and_then(|t| member_type(t, name))
        .map(val))
}
