//! Deployments: parameters, variables, resources (array or symbolic object), `condition`, `copy` loops, child
//! resources, nested deployments and outputs.
//!
//! Azure: "Understand the structure and syntax of ARM templates", "Resource iteration", "Property iteration",
//! "Variable iteration", "Output iteration", "Using linked and nested templates" (expression evaluation scope:
//! `outer` is the default for nested templates; `inner` evaluates the nested template on its own, with the
//! parameters passed to it).
//!
//! Values that cannot be computed locally (a `reference()` of a resource apim-emu does not deploy, a
//! `listKeys()`) do not stop the deployment: the failure is stored in a table and the value becomes a marker
//! string. Building strings (`format`, `concat`) carries the marker along; any other use of it fails with the
//! original error. At the end, every marker left in a resource is reported as [`Unresolved`] at its JSON path.

use crate::DeploymentContext;
use crate::eval::{self, EvalError, Scope, type_name};
use crate::expr::{self, Template};
use serde_json::{Map, Value, json};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Nested deployments deeper than this are refused.
const MAX_NESTING: usize = 16;
/// Copy loops larger than this are refused (ARM's own limit is 800).
const MAX_COPY: i64 = 800;

/// A parameter value supplied by the user.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// From a parameters file: already JSON.
    Json(Value),
    /// From `--param NAME=VALUE`: read as JSON when the declared type is not a string and the text is JSON.
    Text(String),
}

pub struct Options<'a> {
    pub context: DeploymentContext,
    /// Parameter values by name (matched case-insensitively).
    pub parameters: Vec<(String, ParamValue)>,
    /// Resource types (full, e.g. `Microsoft.ApiManagement/service/backends`) whose properties are evaluated and
    /// returned; other resources are only enumerated (name, type, condition), so that expressions about
    /// resources the caller does not model cannot fail the deployment.
    pub wanted: &'a dyn Fn(&str) -> bool,
    /// A parameter without a value or default is an error (a deployment); `false` makes it a note and leaves the
    /// values that need it unresolved (checking a template whose parameters come at deploy time).
    pub require_parameters: bool,
}

/// A located problem: file, JSON path, the expression and what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub file: String,
    pub path: String,
    pub expression: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)?;
        if let Some(e) = &self.expression {
            let e = if e.chars().count() > 160 {
                format!("{}…", e.chars().take(160).collect::<String>())
            } else {
                e.clone()
            };
            write!(f, "\n  in `{e}`")?;
        }
        Ok(())
    }
}

/// A value inside a deployed resource that could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    /// Path inside the resource, e.g. `properties.url`.
    pub at: String,
    /// Where the value was first needed and why it failed.
    pub error: TemplateError,
}

/// A resource of a wanted type, as the deployment would create it.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub type_: String,
    /// Full name, `service/backend` for a child resource.
    pub name: String,
    pub id: String,
    pub symbolic: Option<String>,
    pub file: String,
    /// JSON path of the resource definition in `file`.
    pub path: String,
    /// The resource with every expression evaluated (unresolved values are `null`).
    pub body: Value,
    pub unresolved: Vec<Unresolved>,
}

#[derive(Debug, Default)]
pub struct Deployment {
    pub resources: Vec<Deployed>,
    pub outputs: Map<String, Value>,
    /// Problems that make the deployment invalid (missing parameters, a name that cannot be computed …).
    pub errors: Vec<TemplateError>,
    /// Things skipped on purpose (linked templates, names of unmodelled resources that need runtime values).
    pub notes: Vec<String>,
}

/// Reads an ARM parameters file (`{"parameters": {"name": {"value": …}}}`).
pub fn read_parameters_file(text: &str) -> Result<Vec<(String, ParamValue)>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let params = v
        .get("parameters")
        .and_then(Value::as_object)
        .ok_or("not an ARM parameters file: no `parameters` object")?;
    let mut out = Vec::new();
    for (name, p) in params {
        match p.get("value") {
            Some(value) => out.push((name.clone(), ParamValue::Json(value.clone()))),
            None if p.get("reference").is_some() => {
                return Err(format!(
                    "parameter '{name}' is a Key Vault reference, which apim-emu cannot read; pass --param {name}=VALUE"
                ));
            }
            None => return Err(format!("parameter '{name}' has no `value`")),
        }
    }
    Ok(out)
}

/// Evaluates a template as a deployment.
pub fn deploy(file: &str, template: &Value, options: &Options) -> Deployment {
    let engine = Engine {
        ctx: &options.context,
        wanted: options.wanted,
        require_parameters: options.require_parameters,
        poison: RefCell::new(Vec::new()),
        errors: RefCell::new(Vec::new()),
        notes: RefCell::new(Vec::new()),
        deployed: RefCell::new(Vec::new()),
        nesting: Cell::new(0),
    };
    let Some(root) = template.as_object() else {
        return Deployment {
            errors: vec![TemplateError {
                file: file.into(),
                path: "$".into(),
                expression: None,
                message: "a template is a JSON object".into(),
                help: None,
            }],
            ..Deployment::default()
        };
    };
    if root.get("parameters").is_some()
        && root.get("resources").is_none()
        && root
            .get("$schema")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("deploymentParameters"))
    {
        engine.error(
            file,
            "$",
            None,
            EvalError::new("this is a parameters file, not a template")
                .with_help("pass it with --parameters FILE"),
        );
    }
    let provided: Vec<(String, Value, bool)> = options
        .parameters
        .iter()
        .map(|(n, v)| match v {
            ParamValue::Json(j) => (n.clone(), j.clone(), false),
            ParamValue::Text(t) => (n.clone(), Value::String(t.clone()), true),
        })
        .collect();
    let frame = Frame::new(&engine, file, "$".into(), root, provided, None);
    let outputs = frame.run(&engine);
    let mut deployed = engine.deployed.take();
    for d in &mut deployed {
        let mut found = Vec::new();
        engine.unpoison(&mut d.body, String::new(), &mut found);
        d.unresolved = found;
    }
    let mut outputs = outputs;
    let mut out_found = Vec::new();
    for (k, v) in outputs.iter_mut() {
        engine.unpoison(v, k.clone(), &mut out_found);
    }
    let mut notes = engine.notes.take();
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    for u in out_found {
        notes.push(format!(
            "output {} could not be computed: {}",
            u.at, u.error.message
        ));
    }
    Deployment {
        resources: deployed,
        outputs,
        errors: engine.errors.take(),
        notes,
    }
}

struct Engine<'a> {
    ctx: &'a DeploymentContext,
    wanted: &'a dyn Fn(&str) -> bool,
    require_parameters: bool,
    poison: RefCell<Vec<TemplateError>>,
    errors: RefCell<Vec<TemplateError>>,
    notes: RefCell<Vec<String>>,
    deployed: RefCell<Vec<Deployed>>,
    nesting: Cell<usize>,
}

const MARK: char = '\u{1}';

fn poison_index(s: &str) -> Option<usize> {
    let start = s.find(MARK)?;
    let rest = &s[start + 1..];
    let rest = rest.strip_prefix("unresolved#")?;
    let end = rest.find(MARK)?;
    rest[..end].parse().ok()
}

impl Engine<'_> {
    fn error(&self, file: &str, path: &str, expression: Option<&str>, e: EvalError) {
        self.errors.borrow_mut().push(TemplateError {
            file: file.into(),
            path: path.into(),
            expression: expression.map(|x| format!("[{x}]")),
            message: e.message,
            help: e.help,
        });
    }

    fn poisoned(&self, file: &str, path: &str, expression: &str, e: EvalError) -> Value {
        let mut table = self.poison.borrow_mut();
        table.push(TemplateError {
            file: file.into(),
            path: path.into(),
            expression: Some(format!("[{expression}]")),
            message: e.message,
            help: e.help,
        });
        Value::String(format!("{MARK}unresolved#{}{MARK}", table.len() - 1))
    }

    fn poison_error(&self, s: &str) -> Option<EvalError> {
        let n = poison_index(s)?;
        let table = self.poison.borrow();
        let original = table.get(n)?;
        Some(EvalError {
            message: format!(
                "it uses a value that could not be computed ({}: {}: {})",
                original.file, original.path, original.message
            ),
            help: original.help.clone(),
        })
    }

    /// Replaces marker strings by `null`, collecting where they were.
    fn unpoison(&self, v: &mut Value, at: String, found: &mut Vec<Unresolved>) {
        match v {
            Value::String(s) => {
                if let Some(n) = poison_index(s)
                    && let Some(original) = self.poison.borrow().get(n)
                {
                    found.push(Unresolved {
                        at,
                        error: original.clone(),
                    });
                    *v = Value::Null;
                }
            }
            Value::Array(xs) => {
                for (i, x) in xs.iter_mut().enumerate() {
                    self.unpoison(x, format!("{at}[{i}]"), found);
                }
            }
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    let p = if at.is_empty() {
                        key_path(k)
                    } else {
                        child_path(&at, k)
                    };
                    self.unpoison(x, p, found);
                }
            }
            _ => {}
        }
    }
}

fn key_path(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        k.to_string()
    } else {
        format!("['{}']", k.replace('\'', "\\'"))
    }
}

fn child_path(base: &str, k: &str) -> String {
    let kp = key_path(k);
    if kp.starts_with('[') {
        format!("{base}{kp}")
    } else {
        format!("{base}.{kp}")
    }
}

struct ParamSlot<'a> {
    name: String,
    decl: &'a Value,
    provided: Option<(Value, bool)>,
    cache: RefCell<Option<Result<Value, EvalError>>>,
    busy: Cell<bool>,
}

enum VarDef<'a> {
    Plain(&'a Value),
    /// A variable `copy` entry: `{name, count, input}`.
    Copy(&'a Value),
}

struct Slot {
    /// The resource definition (shared: a nested deployment's template is evaluated from here).
    def: std::rc::Rc<Map<String, Value>>,
    path: String,
    copies: Vec<(Option<String>, i64)>,
    type_: String,
    name: String,
    id: String,
    symbolic: Option<String>,
    existing: bool,
    state: RefCell<SlotState>,
}

#[derive(Clone)]
enum SlotState {
    Pending,
    Busy,
    /// What `reference()` returns (`properties`, or a deployment's `{outputs}`) and the full resource.
    Done(Value, Value),
    Failed(EvalError),
}

struct Frame<'a> {
    file: String,
    base: String,
    template: &'a Map<String, Value>,
    params: Vec<ParamSlot<'a>>,
    vars: HashMap<String, (String, VarDef<'a>, String)>,
    var_cache: RefCell<HashMap<String, Value>>,
    var_busy: RefCell<Vec<String>>,
    /// Outer expression scope: parameters and variables come from the parent template.
    outer: Option<&'a Frame<'a>>,
    slots: RefCell<Vec<std::rc::Rc<Slot>>>,
}

impl<'a> Frame<'a> {
    fn new(
        engine: &Engine,
        file: &str,
        base: String,
        template: &'a Map<String, Value>,
        provided: Vec<(String, Value, bool)>,
        outer: Option<&'a Frame<'a>>,
    ) -> Frame<'a> {
        let mut params = Vec::new();
        if let Some(Value::Object(decls)) = template.get("parameters") {
            for (name, decl) in decls {
                let given = provided
                    .iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v, text)| (v.clone(), *text));
                params.push(ParamSlot {
                    name: name.clone(),
                    decl,
                    provided: given,
                    cache: RefCell::new(None),
                    busy: Cell::new(false),
                });
            }
        }
        if outer.is_none() {
            for (n, _, text) in &provided {
                if !params.iter().any(|p| p.name.eq_ignore_ascii_case(n)) && !*text {
                    engine.error(
                        file,
                        &format!("{base}.parameters"),
                        None,
                        EvalError::new(format!("a value is given for parameter '{n}', which the template does not declare")),
                    );
                }
            }
        }
        let mut vars = HashMap::new();
        if let Some(Value::Object(decls)) = template.get("variables") {
            for (name, v) in decls {
                if name == "copy" && v.is_array() {
                    for (i, entry) in v.as_array().into_iter().flatten().enumerate() {
                        if let Some(n) = entry.get("name").and_then(Value::as_str) {
                            vars.insert(
                                n.to_lowercase(),
                                (
                                    n.to_string(),
                                    VarDef::Copy(entry),
                                    format!("{base}.variables.copy[{i}]"),
                                ),
                            );
                        }
                    }
                } else {
                    vars.insert(
                        name.to_lowercase(),
                        (
                            name.clone(),
                            VarDef::Plain(v),
                            child_path(&format!("{base}.variables"), name),
                        ),
                    );
                }
            }
        }
        Frame {
            file: file.into(),
            base,
            template,
            params,
            vars,
            var_cache: RefCell::new(HashMap::new()),
            var_busy: RefCell::new(Vec::new()),
            outer,
            slots: RefCell::new(Vec::new()),
        }
    }

    fn at<'f>(&'f self, engine: &'f Engine<'f>, copies: Vec<(Option<String>, i64)>) -> At<'f> {
        At {
            engine,
            frame: self,
            copies,
        }
    }

    /// Validates parameters, enumerates and deploys resources, evaluates outputs.
    fn run(&self, engine: &Engine) -> Map<String, Value> {
        let root = self.at(engine, Vec::new());
        for p in &self.params {
            if let Err(e) = root.param_value(p) {
                let path = child_path(&format!("{}.parameters", self.base), &p.name);
                let missing = p.provided.is_none() && p.decl.get("defaultValue").is_none();
                if missing && !engine.require_parameters {
                    engine
                        .notes
                        .borrow_mut()
                        .push(format!("{}: {path}: {}", self.file, e.message));
                } else {
                    engine.error(&self.file, &path, None, e);
                }
            }
        }
        match self.template.get("resources") {
            Some(Value::Array(rs)) => {
                for (i, r) in rs.iter().enumerate() {
                    self.expand(
                        engine,
                        r,
                        format!("{}.resources[{i}]", self.base),
                        None,
                        None,
                        None,
                    );
                }
            }
            Some(Value::Object(rs)) => {
                for (sym, r) in rs {
                    self.expand(
                        engine,
                        r,
                        child_path(&format!("{}.resources", self.base), sym),
                        Some(sym.clone()),
                        None,
                        None,
                    );
                }
            }
            _ => {}
        }
        let slots: Vec<_> = self.slots.borrow().clone();
        for slot in slots {
            if slot.existing {
                continue;
            }
            let deployable = is_deployment(&slot.type_) || (engine.wanted)(&slot.type_);
            if deployable && let Err(e) = self.force(engine, &slot) {
                // A failed nested deployment is reported where it failed; this only records why.
                engine
                    .notes
                    .borrow_mut()
                    .push(format!("{}: {}: {}", self.file, slot.path, e.message));
            }
        }
        let mut outputs = Map::new();
        if let Some(Value::Object(outs)) = self.template.get("outputs") {
            for (name, o) in outs {
                let path = child_path(&format!("{}.outputs", self.base), name);
                let value = match (o.get("copy"), o.get("value")) {
                    (Some(Value::Object(c)), _) => root.copy_array(c, None, &path),
                    (_, Some(v)) => root.tree(v, &format!("{path}.value")),
                    _ => Value::Null,
                };
                let ty = o.get("type").cloned().unwrap_or(Value::Null);
                outputs.insert(name.clone(), json!({ "type": ty, "value": value }));
            }
        }
        outputs
    }

    /// Enumerates one resource definition (with its copies and child resources) into slots.
    fn expand(
        &self,
        engine: &Engine,
        r: &'a Value,
        path: String,
        symbolic: Option<String>,
        parent: Option<(&str, &str)>,
        parent_copies: Option<&[(Option<String>, i64)]>,
    ) {
        let Some(def) = r.as_object() else {
            engine.error(
                &self.file,
                &path,
                None,
                EvalError::new("a resource is a JSON object"),
            );
            return;
        };
        let base_copies: Vec<(Option<String>, i64)> =
            parent_copies.map(<[_]>::to_vec).unwrap_or_default();
        let (loop_name, count) = match def.get("copy") {
            Some(Value::Object(c)) => {
                let name = c.get("name").and_then(Value::as_str).map(str::to_string);
                let at = self.at(engine, base_copies.clone());
                let count = match c.get("count").map(|v| at.strict(v)) {
                    Some(Ok(Value::Number(n))) => n.as_i64().unwrap_or(-1),
                    Some(Ok(other)) => {
                        self.report(
                            engine,
                            def,
                            &format!("{path}.copy.count"),
                            EvalError::new(format!(
                                "the copy count must be an integer, got {}",
                                type_name(&other)
                            )),
                        );
                        return;
                    }
                    Some(Err(e)) => {
                        self.report(engine, def, &format!("{path}.copy.count"), e);
                        return;
                    }
                    None => {
                        self.report(
                            engine,
                            def,
                            &format!("{path}.copy"),
                            EvalError::new("a resource copy loop needs `count`"),
                        );
                        return;
                    }
                };
                if !(0..=MAX_COPY).contains(&count) {
                    self.report(
                        engine,
                        def,
                        &format!("{path}.copy.count"),
                        EvalError::new(format!(
                            "the copy count {count} is outside 0 to {MAX_COPY}"
                        )),
                    );
                    return;
                }
                (name, Some(count))
            }
            _ => (None, None),
        };
        for index in 0..count.unwrap_or(1) {
            let mut copies = base_copies.clone();
            if count.is_some() {
                copies.push((loop_name.clone(), index));
            }
            let at = self.at(engine, copies.clone());
            let instance_path = if count.is_some() {
                format!("{path}<copy {index}>")
            } else {
                path.clone()
            };
            if let Some(c) = def.get("condition") {
                match at.strict(c) {
                    Ok(Value::Bool(true)) => {}
                    Ok(Value::Bool(false)) => continue,
                    Ok(other) => {
                        self.report(
                            engine,
                            def,
                            &format!("{path}.condition"),
                            EvalError::new(format!(
                                "the condition must be a boolean, got {}",
                                type_name(&other)
                            )),
                        );
                        continue;
                    }
                    Err(e) => {
                        self.report(engine, def, &format!("{path}.condition"), e);
                        continue;
                    }
                }
            }
            let text = |key: &str| -> Result<String, EvalError> {
                match def.get(key).map(|v| at.strict(v)) {
                    Some(Ok(Value::String(s))) => Ok(s),
                    Some(Ok(other)) => Err(EvalError::new(format!(
                        "`{key}` must be a string, got {}",
                        type_name(&other)
                    ))),
                    Some(Err(e)) => Err(e),
                    None => Err(EvalError::new(format!("the resource has no `{key}`"))),
                }
            };
            let (mut type_, mut name) = match (text("type"), text("name")) {
                (Ok(t), Ok(n)) => (t, n),
                (Err(e), _) => {
                    self.report(engine, def, &format!("{path}.type"), e);
                    continue;
                }
                (_, Err(e)) => {
                    self.report(engine, def, &format!("{path}.name"), e);
                    continue;
                }
            };
            if let Some((pt, pn)) = parent
                && !type_.contains('.')
            {
                type_ = format!("{pt}/{type_}");
                name = format!("{pn}/{name}");
            }
            let id = resource_id(engine.ctx, &type_, &name);
            let existing = def
                .get("existing")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let slot = std::rc::Rc::new(Slot {
                def: std::rc::Rc::new(def.clone()),
                path: instance_path.clone(),
                copies: copies.clone(),
                type_: type_.clone(),
                name: name.clone(),
                id,
                symbolic: symbolic.clone(),
                existing,
                state: RefCell::new(SlotState::Pending),
            });
            self.slots.borrow_mut().push(slot);
            if let Some(Value::Array(children)) = def.get("resources") {
                for (i, child) in children.iter().enumerate() {
                    self.expand(
                        engine,
                        child,
                        format!("{path}.resources[{i}]"),
                        None,
                        Some((&type_, &name)),
                        Some(&copies),
                    );
                }
            }
        }
    }

    /// An enumeration problem: an error for resources the caller wants (or nested deployments), a note otherwise.
    fn report(&self, engine: &Engine, def: &Map<String, Value>, path: &str, e: EvalError) {
        let ty = def.get("type").and_then(Value::as_str).unwrap_or("");
        if is_deployment(ty) || (engine.wanted)(ty) || ty.starts_with('[') {
            engine.error(&self.file, path, None, e);
        } else {
            engine.notes.borrow_mut().push(format!(
                "{}: {path}: skipped ({ty}): {}",
                self.file, e.message
            ));
        }
    }

    /// Deploys a slot once: a nested deployment runs its template; a wanted resource gets its body evaluated.
    fn force(&self, engine: &Engine, slot: &Slot) -> Result<(Value, Value), EvalError> {
        match slot.state.borrow().clone() {
            SlotState::Done(v, full) => return Ok((v, full)),
            SlotState::Failed(e) => return Err(e),
            SlotState::Busy => {
                return Err(EvalError::new(format!(
                    "circular dependency: {} '{}' needs itself",
                    slot.type_, slot.name
                )));
            }
            SlotState::Pending => {}
        }
        *slot.state.borrow_mut() = SlotState::Busy;
        let result = if is_deployment(&slot.type_) {
            self.run_nested(engine, slot)
        } else if (engine.wanted)(&slot.type_) {
            let at = self.at(engine, slot.copies.clone());
            let mut body = Map::new();
            for (k, v) in slot.def.iter() {
                if matches!(
                    k.as_str(),
                    "copy" | "condition" | "resources" | "dependsOn" | "existing" | "comments"
                ) {
                    continue;
                }
                body.insert(k.clone(), at.tree(v, &child_path(&slot.path, k)));
            }
            body.insert("type".into(), Value::String(slot.type_.clone()));
            body.insert("name".into(), Value::String(slot.name.clone()));
            let body = Value::Object(body);
            engine.deployed.borrow_mut().push(Deployed {
                type_: slot.type_.clone(),
                name: slot.name.clone(),
                id: slot.id.clone(),
                symbolic: slot.symbolic.clone(),
                file: self.file.clone(),
                path: slot.path.clone(),
                body: body.clone(),
                unresolved: Vec::new(),
            });
            let props = body.get("properties").cloned().unwrap_or(Value::Null);
            let mut full = body.clone();
            if let Value::Object(o) = &mut full {
                o.insert("id".into(), Value::String(slot.id.clone()));
            }
            Ok((props, full))
        } else {
            Err(not_deployed(slot))
        };
        *slot.state.borrow_mut() = match &result {
            Ok((v, f)) => SlotState::Done(v.clone(), f.clone()),
            Err(e) => SlotState::Failed(e.clone()),
        };
        result
    }

    fn run_nested(&self, engine: &Engine, slot: &Slot) -> Result<(Value, Value), EvalError> {
        let def = slot.def.clone();
        let props = def.get("properties").and_then(Value::as_object);
        let Some(template) = props
            .and_then(|p| p.get("template"))
            .and_then(Value::as_object)
        else {
            let linked = props.is_some_and(|p| p.contains_key("templateLink"));
            let message = if linked {
                "a linked template (templateLink) is not fetched by apim-emu; inline it (az bicep build does)"
            } else {
                "the nested deployment has no inline `properties.template`"
            };
            engine
                .notes
                .borrow_mut()
                .push(format!("{}: {}: {message}", self.file, slot.path));
            return Err(EvalError::new(message));
        };
        if engine.nesting.get() >= MAX_NESTING {
            let e = EvalError::new(format!(
                "nested deployments go deeper than {MAX_NESTING} levels"
            ));
            engine.error(&self.file, &slot.path, None, e.clone());
            return Err(e);
        }
        let inner_scope = props
            .and_then(|p| p.get("expressionEvaluationOptions"))
            .and_then(|o| o.get("scope"))
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
        let at = self.at(engine, slot.copies.clone());
        let mut provided = Vec::new();
        if inner_scope && let Some(Value::Object(ps)) = props.and_then(|p| p.get("parameters")) {
            for (name, p) in ps {
                let path = child_path(&format!("{}.properties.parameters", slot.path), name);
                match p.get("value") {
                    Some(v) => {
                        provided.push((name.clone(), at.tree(v, &format!("{path}.value")), false))
                    }
                    None => engine.error(
                        &self.file,
                        &path,
                        None,
                        EvalError::new(
                            "only `value` parameters are supported (not Key Vault references)",
                        ),
                    ),
                }
            }
        }
        let base = format!("{}.properties.template", slot.path);
        engine.nesting.set(engine.nesting.get() + 1);
        let outputs = if inner_scope {
            let inner = Frame::new(engine, &self.file, base, template, provided, None);
            inner.run(engine)
        } else {
            // Azure: with the default `outer` scope, the nested template's expressions see the parent's
            // parameters and variables.
            let inner = Frame::new(engine, &self.file, base, template, Vec::new(), Some(self));
            inner.run(engine)
        };
        engine.nesting.set(engine.nesting.get() - 1);
        let value = json!({ "outputs": outputs, "provisioningState": "Succeeded" });
        let full = json!({
            "id": slot.id,
            "name": slot.name,
            "type": slot.type_,
            "properties": value,
        });
        Ok((value, full))
    }

    fn lookup_param(&self, name: &str) -> Option<(&Frame<'a>, &ParamSlot<'a>)> {
        if let Some(outer) = self.outer {
            return outer.lookup_param(name);
        }
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| (self, p))
    }

    fn slots_matching(&self, target: &str) -> Vec<std::rc::Rc<Slot>> {
        let t = target.trim_end_matches('/');
        let mut out: Vec<_> = self
            .slots
            .borrow()
            .iter()
            .filter(|s| {
                s.id.eq_ignore_ascii_case(t)
                    || s.symbolic.as_deref().is_some_and(|x| x == t)
                    || relative_id(&s.type_, &s.name).eq_ignore_ascii_case(t)
                    || s.name.eq_ignore_ascii_case(t)
                    || t.to_ascii_lowercase().ends_with(&format!(
                        "/providers/{}",
                        relative_id(&s.type_, &s.name).to_ascii_lowercase()
                    ))
            })
            .cloned()
            .collect();
        if out.is_empty()
            && let Some(outer) = self.outer
        {
            out = outer.slots_matching(target);
        }
        out
    }
}

fn is_deployment(ty: &str) -> bool {
    ty.eq_ignore_ascii_case("Microsoft.Resources/deployments")
}

fn not_deployed(slot: &Slot) -> EvalError {
    EvalError::new(format!(
        "{} '{}' is not deployed by apim-emu, so its runtime properties are unknown",
        slot.type_, slot.name
    ))
    .with_help("pass the value with --param NAME=VALUE, or point the backend at a local server with --backend-url NAME=URL")
}

/// `Namespace/a/b` + `n1/n2` → `Namespace/a/n1/b/n2`.
fn relative_id(ty: &str, name: &str) -> String {
    let mut segs = ty.split('/');
    let mut out = segs.next().unwrap_or_default().to_string();
    let names: Vec<&str> = name.split('/').collect();
    for (i, t) in segs.enumerate() {
        out.push('/');
        out.push_str(t);
        out.push('/');
        out.push_str(names.get(i).copied().unwrap_or(""));
    }
    out
}

fn resource_id(ctx: &DeploymentContext, ty: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/{}",
        ctx.subscription_id,
        ctx.resource_group,
        relative_id(ty, name)
    )
}

/// An evaluation point: a frame and the copy indices in effect.
struct At<'f> {
    engine: &'f Engine<'f>,
    frame: &'f Frame<'f>,
    copies: Vec<(Option<String>, i64)>,
}

impl At<'_> {
    /// Evaluates a value that must be computed now (names, conditions, counts): unresolved values are errors.
    fn strict(&self, v: &Value) -> Result<Value, EvalError> {
        match v {
            Value::String(s) => match expr::classify(s) {
                Template::Literal(t) => Ok(Value::String(t.into_owned())),
                Template::Expression(e) => {
                    let parsed =
                        expr::parse(e).map_err(|x| EvalError::new(format!("syntax error: {x}")))?;
                    let r = eval::eval(&parsed, self)?;
                    if let Value::String(s) = &r
                        && let Some(e) = self.engine.poison_error(s)
                    {
                        return Err(e);
                    }
                    Ok(r)
                }
            },
            other => Ok(other.clone()),
        }
    }

    /// Evaluates every expression inside a JSON value (property copy loops included); failures become markers.
    fn tree(&self, v: &Value, path: &str) -> Value {
        stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || self.tree_here(v, path))
    }

    fn tree_here(&self, v: &Value, path: &str) -> Value {
        match v {
            Value::String(s) => match expr::classify(s) {
                Template::Literal(t) => Value::String(t.into_owned()),
                Template::Expression(e) => {
                    let result = expr::parse(e)
                        .map_err(|x| EvalError::new(format!("syntax error: {x}")))
                        .and_then(|parsed| eval::eval(&parsed, self));
                    match result {
                        Ok(v) => v,
                        Err(err) => self.engine.poisoned(&self.frame.file, path, e, err),
                    }
                }
            },
            Value::Array(xs) => Value::Array(
                xs.iter()
                    .enumerate()
                    .map(|(i, x)| self.tree(x, &format!("{path}[{i}]")))
                    .collect(),
            ),
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if k == "copy" && is_property_copy(x) {
                        for (i, entry) in x.as_array().into_iter().flatten().enumerate() {
                            let Some(c) = entry.as_object() else { continue };
                            let Some(name) = c.get("name").and_then(Value::as_str) else {
                                continue;
                            };
                            let arr = self.copy_array(c, Some(name), &format!("{path}.copy[{i}]"));
                            out.insert(name.to_string(), arr);
                        }
                    } else {
                        out.insert(k.clone(), self.tree(x, &child_path(path, k)));
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// `{count, input}` (with an optional loop name) → the array of evaluated inputs.
    fn copy_array(&self, c: &Map<String, Value>, name: Option<&str>, path: &str) -> Value {
        let count = match c.get("count").map(|v| self.strict(v)) {
            Some(Ok(Value::Number(n)))
                if n.as_i64().is_some_and(|k| (0..=MAX_COPY).contains(&k)) =>
            {
                n.as_i64().unwrap_or(0)
            }
            Some(Ok(other)) => {
                return self.engine.poisoned(
                    &self.frame.file,
                    &format!("{path}.count"),
                    "copy",
                    EvalError::new(format!(
                        "the copy count must be an integer from 0 to {MAX_COPY}, got {}",
                        eval::to_text(&other)
                    )),
                );
            }
            Some(Err(e)) => {
                return self
                    .engine
                    .poisoned(&self.frame.file, &format!("{path}.count"), "copy", e);
            }
            None => {
                return self.engine.poisoned(
                    &self.frame.file,
                    path,
                    "copy",
                    EvalError::new("a copy loop needs `count`"),
                );
            }
        };
        let input = c.get("input").unwrap_or(&Value::Null);
        let mut items = Vec::new();
        for i in 0..count {
            let mut copies = self.copies.clone();
            copies.push((name.map(str::to_string), i));
            let at = At {
                engine: self.engine,
                frame: self.frame,
                copies,
            };
            items.push(at.tree(input, &format!("{path}.input<copy {i}>")));
        }
        Value::Array(items)
    }

    fn param_value(&self, p: &ParamSlot) -> Result<Value, EvalError> {
        if let Some(cached) = p.cache.borrow().clone() {
            return cached;
        }
        if p.busy.get() {
            return Err(EvalError::new(format!(
                "parameter '{}' depends on itself",
                p.name
            )));
        }
        p.busy.set(true);
        let declared = p
            .decl
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let result = match &p.provided {
            Some((v, from_text)) => convert(&p.name, &declared, v, *from_text),
            None => match p.decl.get("defaultValue") {
                Some(d) => {
                    let at = At {
                        engine: self.engine,
                        frame: self.frame,
                        copies: Vec::new(),
                    };
                    Ok(at.tree(
                        d,
                        &format!("{}.parameters.{}.defaultValue", self.frame.base, p.name),
                    ))
                }
                None => Err(EvalError::new(format!(
                    "parameter '{}' has no value and no default",
                    p.name
                ))
                .with_help(format!(
                    "pass it with --param {}=VALUE or in a --parameters file",
                    p.name
                ))),
            },
        };
        let result = result.and_then(|v| {
            if let Some(Value::Array(allowed)) = p.decl.get("allowedValues")
                && !allowed
                    .iter()
                    .any(|a| crate::functions::values_equal(a, &v))
                && !matches!(&v, Value::String(s) if s.contains(MARK))
            {
                return Err(EvalError::new(format!(
                    "parameter '{}' is {}, which is not one of its allowedValues {}",
                    p.name,
                    v,
                    Value::Array(allowed.clone())
                )));
            }
            Ok(v)
        });
        p.busy.set(false);
        *p.cache.borrow_mut() = Some(result.clone());
        result
    }
}

/// Azure: a parameter's value must match its declared type; `--param` text is JSON unless the type is string.
fn convert(name: &str, declared: &str, v: &Value, from_text: bool) -> Result<Value, EvalError> {
    let text = v.as_str().filter(|_| from_text);
    let parsed = text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let mismatch = |got: &Value| {
        EvalError::new(format!(
            "parameter '{name}' is declared as {declared} but the value given is {} {}",
            type_name(got),
            got
        ))
    };
    match declared {
        "string" | "securestring" => match (text, v) {
            (Some(t), _) => Ok(Value::String(match serde_json::from_str::<Value>(t) {
                Ok(Value::String(inner)) if t.trim_start().starts_with('"') => inner,
                _ => t.to_string(),
            })),
            (None, Value::String(_)) => Ok(v.clone()),
            (None, other) => Err(mismatch(other)),
        },
        "int" => match parsed.as_ref().unwrap_or(v) {
            n @ Value::Number(x) if x.is_i64() => Ok(n.clone()),
            other => Err(mismatch(other)),
        },
        "bool" => match parsed.as_ref().unwrap_or(v) {
            b @ Value::Bool(_) => Ok(b.clone()),
            other => Err(mismatch(other)),
        },
        "object" | "secureobject" => match parsed.as_ref().unwrap_or(v) {
            o @ Value::Object(_) => Ok(o.clone()),
            other => Err(mismatch(other)),
        },
        "array" => match parsed.as_ref().unwrap_or(v) {
            a @ Value::Array(_) => Ok(a.clone()),
            other => Err(mismatch(other)),
        },
        _ => Ok(parsed.unwrap_or_else(|| v.clone())),
    }
}

fn is_property_copy(v: &Value) -> bool {
    v.as_array().is_some_and(|xs| {
        !xs.is_empty()
            && xs.iter().all(|x| {
                x.as_object().is_some_and(|o| {
                    o.contains_key("name") && o.contains_key("count") && o.contains_key("input")
                })
            })
    })
}

impl Scope for At<'_> {
    fn parameter(&self, name: &str) -> Result<Value, EvalError> {
        match self.frame.lookup_param(name) {
            Some((frame, p)) => {
                let at = At {
                    engine: self.engine,
                    frame,
                    copies: Vec::new(),
                };
                at.param_value(p)
            }
            None => Err(EvalError::new(format!(
                "the template declares no parameter '{name}'"
            ))),
        }
    }

    fn variable(&self, name: &str) -> Result<Value, EvalError> {
        let frame = {
            let mut f = self.frame;
            while let Some(o) = f.outer {
                f = o;
            }
            f
        };
        let key = name.to_lowercase();
        if let Some(v) = frame.var_cache.borrow().get(&key) {
            return Ok(v.clone());
        }
        let Some((_, def, path)) = frame.vars.get(&key) else {
            return Err(EvalError::new(format!(
                "the template declares no variable '{name}'"
            )));
        };
        if frame.var_busy.borrow().contains(&key) {
            return Err(EvalError::new(format!(
                "variable '{name}' depends on itself"
            )));
        }
        frame.var_busy.borrow_mut().push(key.clone());
        let at = At {
            engine: self.engine,
            frame,
            copies: Vec::new(),
        };
        let value = match def {
            VarDef::Plain(v) => at.tree(v, path),
            VarDef::Copy(entry) => match entry.as_object() {
                Some(c) => at.copy_array(c, Some(name), path),
                None => Value::Null,
            },
        };
        frame.var_busy.borrow_mut().retain(|k| k != &key);
        frame.var_cache.borrow_mut().insert(key, value.clone());
        Ok(value)
    }

    fn copy_index(&self, loop_name: Option<&str>) -> Result<i64, EvalError> {
        match loop_name {
            Some(n) => self
                .copies
                .iter()
                .rev()
                .find(|(l, _)| l.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(n)))
                .map(|(_, i)| *i)
                .ok_or_else(|| {
                    EvalError::new(format!(
                        "copyIndex('{n}') is used outside the copy loop '{n}'"
                    ))
                }),
            None => self
                .copies
                .iter()
                .rev()
                .map(|(_, i)| *i)
                .next()
                .ok_or_else(|| EvalError::new("copyIndex() is used outside a copy loop")),
        }
    }

    fn reference(&self, target: &str, full: bool) -> Result<Value, EvalError> {
        let slots = self.frame.slots_matching(target);
        let Some(slot) = slots.first() else {
            return Err(EvalError::new(format!(
                "reference('{target}'): no resource with this id or name is declared here"
            ))
            .with_help("pass the value with --param NAME=VALUE"));
        };
        if slot.existing {
            return Err(not_deployed(slot));
        }
        let owner = {
            // The slot belongs to this frame or one of its outer frames.
            let mut f = self.frame;
            loop {
                if f.slots
                    .borrow()
                    .iter()
                    .any(|s| std::rc::Rc::ptr_eq(s, slot))
                {
                    break f;
                }
                match f.outer {
                    Some(o) => f = o,
                    None => break self.frame,
                }
            }
        };
        let (value, full_value) = owner.force(self.engine, slot)?;
        Ok(if full { full_value } else { value })
    }

    fn resource_info(&self, symbolic: &str) -> Result<Value, EvalError> {
        let slots = self.frame.slots_matching(symbolic);
        let slot = slots
            .iter()
            .find(|s| s.symbolic.as_deref() == Some(symbolic))
            .ok_or_else(|| {
                EvalError::new(format!(
                    "resourceInfo('{symbolic}'): no resource with this symbolic name"
                ))
            })?;
        Ok(
            json!({ "id": slot.id, "name": slot.name, "type": slot.type_, "apiVersion": slot.def.get("apiVersion") }),
        )
    }

    /// Azure: user-defined functions (`functions: [{namespace, members: {name: {parameters, output}}}]`) see only
    /// their own parameters; they cannot use variables, `reference()` or other user functions.
    fn user_function(&self, name: &str, args: Vec<Value>) -> Option<Result<Value, EvalError>> {
        let (namespace, member) = name.split_once('.')?;
        let mut frame = self.frame;
        while let Some(o) = frame.outer {
            frame = o;
        }
        let def = frame
            .template
            .get("functions")
            .and_then(Value::as_array)?
            .iter()
            .filter(|ns| {
                ns.get("namespace")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(namespace))
            })
            .find_map(|ns| {
                ns.get("members")
                    .and_then(Value::as_object)
                    .and_then(|m| eval::get_property(m, member))
            })?;
        let names: Vec<String> = def
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if names.len() != args.len() {
            return Some(Err(EvalError::new(format!(
                "`{name}` takes {} argument(s), got {}",
                names.len(),
                args.len()
            ))));
        }
        let Some(Value::String(body)) = def.get("output").and_then(|o| o.get("value")) else {
            return Some(Err(EvalError::new(format!(
                "`{name}` has no `output.value`"
            ))));
        };
        let scope = FunctionScope {
            outer: self,
            parameters: names.into_iter().zip(args).collect(),
        };
        Some(match expr::classify(body) {
            Template::Literal(t) => Ok(Value::String(t.into_owned())),
            Template::Expression(e) => expr::parse(e)
                .map_err(|x| EvalError::new(format!("syntax error in `{name}`: {x}")))
                .and_then(|parsed| eval::eval(&parsed, &scope)),
        })
    }

    fn context(&self) -> &DeploymentContext {
        self.engine.ctx
    }

    fn poisoned(&self, s: &str) -> Option<EvalError> {
        self.engine.poison_error(s)
    }
}

/// The scope inside a user-defined function: its parameters, nothing else of the template.
struct FunctionScope<'s, 'f> {
    outer: &'s At<'f>,
    parameters: Vec<(String, Value)>,
}

impl Scope for FunctionScope<'_, '_> {
    fn parameter(&self, name: &str) -> Result<Value, EvalError> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| EvalError::new(format!("the function has no parameter '{name}'")))
    }

    fn variable(&self, name: &str) -> Result<Value, EvalError> {
        Err(EvalError::new(format!(
            "variables('{name}'): user-defined functions cannot use variables"
        )))
    }

    fn copy_index(&self, _loop_name: Option<&str>) -> Result<i64, EvalError> {
        Err(EvalError::new(
            "user-defined functions cannot use copyIndex()",
        ))
    }

    fn reference(&self, target: &str, _full: bool) -> Result<Value, EvalError> {
        Err(EvalError::new(format!(
            "reference('{target}'): user-defined functions cannot use reference()"
        )))
    }

    fn resource_info(&self, symbolic: &str) -> Result<Value, EvalError> {
        self.outer.resource_info(symbolic)
    }

    fn user_function(&self, name: &str, _args: Vec<Value>) -> Option<Result<Value, EvalError>> {
        Some(Err(EvalError::new(format!(
            "`{name}`: user-defined functions cannot call other user-defined functions"
        ))))
    }

    fn context(&self) -> &DeploymentContext {
        self.outer.context()
    }

    fn poisoned(&self, s: &str) -> Option<EvalError> {
        self.outer.poisoned(s)
    }
}
