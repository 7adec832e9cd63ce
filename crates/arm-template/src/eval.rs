//! Evaluating template expressions: the ARM function library over JSON values.
//!
//! Azure: "ARM template functions" (learn.microsoft.com/azure/azure-resource-manager/templates/template-functions).
//! Function and property names are case-insensitive; `if`, `and`, `or`, `coalesce` evaluate only the arguments
//! they need; lambdas (`map`, `filter`, `reduce`, `sort`, `toObject`, `groupBy`, `mapValues`) bind
//! `lambdaVariables('x')`.

use crate::expr::{Expr, MAX_DEPTH};
use serde_json::{Map, Value, json};

/// A failure while evaluating; the caller adds the file and JSON path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
    pub help: Option<String>,
}

impl EvalError {
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> EvalError {
        self.help = Some(help.into());
        self
    }
}

type R<T = Value> = Result<T, EvalError>;

/// Where an expression is evaluated: parameters, variables, loops, deployed resources.
pub trait Scope {
    fn parameter(&self, name: &str) -> R;
    fn variable(&self, name: &str) -> R;
    /// `copyIndex()` / `copyIndex('loop')` without the offset.
    fn copy_index(&self, loop_name: Option<&str>) -> R<i64>;
    /// `reference(idOrName, apiVersion, 'Full')`.
    fn reference(&self, target: &str, full: bool) -> R;
    /// `resourceInfo('symbolicName')` (languageVersion 2.0).
    fn resource_info(&self, symbolic: &str) -> R;
    /// A user-defined function (`namespace.name`), `None` when there is none of that name.
    fn user_function(&self, name: &str, args: Vec<Value>) -> Option<R>;
    fn context(&self) -> &crate::DeploymentContext;
    /// The original failure behind a value that could not be computed (a marker string), if `s` is one.
    fn poisoned(&self, s: &str) -> Option<EvalError>;
}

pub fn eval(expr: &Expr, scope: &dyn Scope) -> R {
    Evaluator {
        scope,
        lambdas: Vec::new(),
        depth: 0,
    }
    .eval(expr)
}

/// The text of a string as ARM functions that build strings use it (`concat`, `format`, `string`).
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        // Azure: ARM renders booleans as .NET does.
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// Property lookup as ARM does it: exact name first, then case-insensitively.
pub fn get_property<'v>(o: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

struct Evaluator<'a> {
    scope: &'a dyn Scope,
    lambdas: Vec<(String, Value)>,
    depth: usize,
}

fn str_of<'v>(v: &'v Value, what: &str) -> R<&'v str> {
    v.as_str().ok_or_else(|| {
        EvalError::new(format!(
            "{what} must be a string, but it is {} {}",
            type_name(v),
            short(v)
        ))
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

impl Evaluator<'_> {
    fn eval(&mut self, e: &Expr) -> R {
        // Variables, parameters and nested deployments evaluate through here recursively: move to a fresh stack
        // segment when the thread's stack runs low instead of overflowing it.
        stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || self.eval_here(e))
    }

    fn eval_here(&mut self, e: &Expr) -> R {
        self.depth += 1;
        if self.depth > MAX_DEPTH * 4 {
            return Err(EvalError::new("expressions are nested too deeply"));
        }
        let r = match e {
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Int(i) => Ok(json!(i)),
            Expr::Member(t, name) => self.eval(t).and_then(|v| {
                self.check(&v)?;
                member(&v, name)
            }),
            Expr::Index(t, i) => self.eval(t).and_then(|v| {
                self.check(&v)?;
                let i = self.eval(i)?;
                self.check(&i)?;
                index(&v, &i)
            }),
            Expr::Call { name, args } => self.call(name, args),
        };
        self.depth -= 1;
        r
    }

    /// A value that could not be computed fails here, with the original reason.
    fn check(&self, v: &Value) -> R<()> {
        if let Value::String(s) = v
            && let Some(e) = self.scope.poisoned(s)
        {
            return Err(e);
        }
        Ok(())
    }

    fn args(&mut self, args: &[Expr]) -> R<Vec<Value>> {
        args.iter().map(|a| self.eval(a)).collect()
    }

    /// `lambda('a', 'b', body)` as (parameter names, body).
    fn lambda<'e>(&self, e: &'e Expr, fname: &str) -> R<(Vec<String>, &'e Expr)> {
        match e {
            Expr::Call { name, args }
                if name.eq_ignore_ascii_case("lambda") && !args.is_empty() =>
            {
                let mut params = Vec::new();
                for p in &args[..args.len() - 1] {
                    match p {
                        Expr::Str(s) => params.push(s.clone()),
                        _ => {
                            return Err(EvalError::new(
                                "lambda parameter names must be string literals",
                            ));
                        }
                    }
                }
                Ok((params, &args[args.len() - 1]))
            }
            _ => Err(EvalError::new(format!(
                "`{fname}` expects a lambda('x', …) argument"
            ))),
        }
    }

    fn apply(&mut self, params: &[String], body: &Expr, values: Vec<Value>) -> R {
        let n = self.lambdas.len();
        for (p, v) in params.iter().zip(values) {
            self.lambdas.push((p.clone(), v));
        }
        let r = self.eval(body);
        self.lambdas.truncate(n);
        r
    }

    fn bool_arg(&mut self, e: &Expr, what: &str) -> R<bool> {
        let v = self.eval(e)?;
        self.check(&v)?;
        v.as_bool().ok_or_else(|| {
            EvalError::new(format!("{what} must be a boolean, got {}", type_name(&v)))
        })
    }

    fn call(&mut self, name: &str, raw: &[Expr]) -> R {
        let lower = name.to_ascii_lowercase();
        // Functions that choose which arguments to evaluate.
        match lower.as_str() {
            "if" => {
                if raw.len() != 3 {
                    return Err(EvalError::new("`if` takes 3 arguments"));
                }
                // Azure: only the chosen branch is evaluated.
                let c = self.bool_arg(&raw[0], "the condition of `if`")?;
                return self.eval(&raw[if c { 1 } else { 2 }]);
            }
            // Deviation: `and`/`or` stop at the first deciding argument, so that a guarded `reference()` of a
            // resource apim-emu does not deploy is not evaluated.
            "and" | "or" => {
                if raw.len() < 2 {
                    return Err(EvalError::new(format!(
                        "`{name}` takes at least 2 arguments"
                    )));
                }
                let want = lower == "or";
                for a in raw {
                    if self.bool_arg(a, &format!("an argument of `{name}`"))? == want {
                        return Ok(Value::Bool(want));
                    }
                }
                return Ok(Value::Bool(!want));
            }
            "coalesce" => {
                for a in raw {
                    let v = self.eval(a)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                return Ok(Value::Null);
            }
            "lambdavariables" => {
                let v = self.args(raw)?;
                let Some(Value::String(n)) = v.first() else {
                    return Err(EvalError::new(
                        "`lambdaVariables` takes the variable's name",
                    ));
                };
                return self
                    .lambdas
                    .iter()
                    .rev()
                    .find(|(p, _)| p == n)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| EvalError::new(format!("no lambda variable named '{n}'")));
            }
            "map" | "filter" | "sort" | "reduce" | "groupby" | "mapvalues" | "toobject" => {
                return self.lambda_call(name, &lower, raw);
            }
            _ => {}
        }
        let args = self.args(raw)?;
        // Only functions that build values carry an uncomputable value along; the others need it now.
        if !matches!(
            lower.as_str(),
            "concat"
                | "format"
                | "string"
                | "createobject"
                | "createarray"
                | "array"
                | "union"
                | "tryget"
        ) {
            for a in &args {
                self.check(a)?;
            }
        }
        if name.contains('.') {
            return match self.scope.user_function(name, args) {
                Some(r) => r,
                None => Err(EvalError::new(format!(
                    "unknown user-defined function `{name}`"
                ))),
            };
        }
        crate::functions::call(self.scope, name, &lower, args)
    }

    fn lambda_call(&mut self, name: &str, lower: &str, raw: &[Expr]) -> R {
        if raw.len() < 2 {
            return Err(EvalError::new(format!(
                "`{name}` takes at least 2 arguments"
            )));
        }
        let input = self.eval(&raw[0])?;
        self.check(&input)?;
        if lower == "mapvalues" {
            let Value::Object(o) = input else {
                return Err(EvalError::new("`mapValues` takes an object"));
            };
            let (ps, body) = self.lambda(&raw[1], name)?;
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(k, self.apply(&ps, body, vec![v])?);
            }
            return Ok(Value::Object(out));
        }
        let items = match input {
            Value::Array(a) => a,
            other => {
                return Err(EvalError::new(format!(
                    "`{name}` takes an array, got {}",
                    type_name(&other)
                )));
            }
        };
        match lower {
            "map" | "filter" => {
                let (ps, body) = self.lambda(&raw[1], name)?;
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    let r = self.apply(&ps, body, vec![item.clone(), json!(i)])?;
                    if lower == "map" {
                        out.push(r);
                    } else if r
                        .as_bool()
                        .ok_or_else(|| EvalError::new("a `filter` lambda must return a boolean"))?
                    {
                        out.push(item);
                    }
                }
                Ok(Value::Array(out))
            }
            "sort" => {
                let (ps, body) = self.lambda(&raw[1], name)?;
                let mut items = items;
                // Insertion sort: stable, and the comparison may fail cleanly.
                for i in 1..items.len() {
                    let mut j = i;
                    while j > 0 {
                        let less =
                            self.apply(&ps, body, vec![items[j].clone(), items[j - 1].clone()])?;
                        if less.as_bool() == Some(true) {
                            items.swap(j, j - 1);
                            j -= 1;
                        } else {
                            break;
                        }
                    }
                }
                Ok(Value::Array(items))
            }
            "reduce" => {
                if raw.len() != 3 {
                    return Err(EvalError::new("`reduce` takes 3 arguments"));
                }
                let mut acc = self.eval(&raw[1])?;
                let (ps, body) = self.lambda(&raw[2], name)?;
                for (i, item) in items.into_iter().enumerate() {
                    acc = self.apply(&ps, body, vec![acc, item, json!(i)])?;
                }
                Ok(acc)
            }
            "groupby" => {
                let (ps, body) = self.lambda(&raw[1], name)?;
                let mut out = Map::new();
                for item in items {
                    let k = to_text(&self.apply(&ps, body, vec![item.clone()])?);
                    if let Value::Array(a) =
                        out.entry(k).or_insert_with(|| Value::Array(Vec::new()))
                    {
                        a.push(item);
                    }
                }
                Ok(Value::Object(out))
            }
            _ => {
                // toObject(array, keyLambda, valueLambda?)
                let (kp, kb) = self.lambda(&raw[1], name)?;
                let value_lambda = match raw.get(2) {
                    Some(e) => Some(self.lambda(e, name)?),
                    None => None,
                };
                let mut out = Map::new();
                for item in items {
                    let k = self.apply(&kp, kb, vec![item.clone()])?;
                    let k = str_of(&k, "a `toObject` key")?.to_string();
                    let v = match &value_lambda {
                        Some((vp, vb)) => self.apply(vp, vb, vec![item])?,
                        None => item,
                    };
                    out.insert(k, v);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

/// `value.name`
pub fn member(v: &Value, name: &str) -> R {
    match v {
        Value::Object(o) => get_property(o, name).cloned().ok_or_else(|| {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(12).collect();
            EvalError::new(format!(
                "the object has no property '{name}' (it has: {})",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ))
        }),
        Value::Null => Err(EvalError::new(format!(
            "cannot read property '{name}' of null"
        ))),
        other => Err(EvalError::new(format!(
            "cannot read property '{name}' of {} {}",
            type_name(other),
            short(other)
        ))),
    }
}

/// `value[index]`
pub fn index(v: &Value, i: &Value) -> R {
    match (v, i) {
        (Value::Array(a), Value::Number(n)) => {
            let idx = n.as_i64().unwrap_or(-1);
            usize::try_from(idx)
                .ok()
                .and_then(|u| a.get(u))
                .cloned()
                .ok_or_else(|| {
                    EvalError::new(format!(
                        "index {idx} is out of range (the array has {} items)",
                        a.len()
                    ))
                })
        }
        (Value::Object(_), Value::String(k)) => member(v, k),
        _ => Err(EvalError::new(format!(
            "cannot index {} with {}",
            type_name(v),
            type_name(i)
        ))),
    }
}
