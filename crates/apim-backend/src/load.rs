//! From templates and APIOps folders to a validated [`Registry`], with every problem located by file and JSON
//! path.

use crate::arm::{self, PropertiesDto, RuleDto};
use crate::model::*;
use arm_template::{DeploymentContext, ParamValue};
use serde_json::Value;

/// Azure: "You can include up to 30 backends in a pool" (backends.md; reference 03 §2).
pub const MAX_POOL_MEMBERS: usize = 30;

const BACKENDS_TYPE: &str = "Microsoft.ApiManagement/service/backends";
/// Azure: backends of a workspace (reference 03 §1); their id is still the last name segment.
const WORKSPACE_BACKENDS_TYPE: &str = "Microsoft.ApiManagement/service/workspaces/backends";

/// One source of backend definitions.
#[derive(Debug, Clone)]
pub enum Input {
    /// An ARM deployment template.
    Template { file: String, json: Value },
    /// An APIOps extractor artifact: `backends/<name>/backendInformation.json`.
    ApiOps {
        file: String,
        name: String,
        json: Value,
    },
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--param` (text) and `--parameters` file (JSON) values; applied to every template that declares them.
    pub parameters: Vec<(String, ParamValue)>,
    /// `--backend-url NAME=URL`: replaces a backend's URL after resolution.
    pub backend_urls: Vec<(String, String)>,
    pub context: DeploymentContext,
    /// Checking definitions whose parameters come at deploy time (`validate`): a parameter without a value, and
    /// what cannot be computed without it, is a warning instead of an error.
    pub lenient: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub severity: Severity,
    pub file: String,
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        if self.path.is_empty() {
            write!(f, "{}: {level}: {}", self.file, self.message)?;
        } else {
            write!(f, "{}: {}: {level}: {}", self.file, self.path, self.message)?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  = help: {h}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub registry: Registry,
    pub problems: Vec<Problem>,
    /// (input file, backend name) of every backend the inputs define, valid or not (the registry holds only
    /// the valid ones).
    pub declared: Vec<(String, String)>,
    /// Templates that could not be enumerated completely (a backend resource whose name or type, or a nested
    /// deployment, failed to evaluate): a backend may exist there that `declared` does not list.
    pub incomplete: Vec<String>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

struct Raw {
    name: String,
    origin: Origin,
    properties: Value,
    unresolved: Vec<arm_template::Unresolved>,
}

struct Sink<'a>(&'a mut Vec<Problem>);

impl Sink<'_> {
    fn push(
        &mut self,
        severity: Severity,
        origin: &Origin,
        at: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let path = if at.is_empty() {
            origin.path.clone()
        } else {
            format!("{}.{at}", origin.path)
        };
        self.0.push(Problem {
            severity,
            file: origin.file.clone(),
            path,
            message: message.into(),
            help,
        });
    }

    fn error(&mut self, origin: &Origin, at: &str, message: impl Into<String>) {
        self.push(Severity::Error, origin, at, message, None);
    }

    fn warning(&mut self, origin: &Origin, at: &str, message: impl Into<String>) {
        self.push(Severity::Warning, origin, at, message, None);
    }
}

/// Reads every input, applies `--backend-url`, validates, and builds the registry.
pub fn load(inputs: &[Input], options: &LoadOptions) -> Loaded {
    let mut problems = Vec::new();
    let mut raws: Vec<Raw> = Vec::new();
    let mut incomplete = Vec::new();
    let mut declared = Vec::new();
    let wanted = |t: &str| {
        t.eq_ignore_ascii_case(BACKENDS_TYPE) || t.eq_ignore_ascii_case(WORKSPACE_BACKENDS_TYPE)
    };
    let templates: Vec<&Value> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Template { json, .. } => Some(json),
            _ => None,
        })
        .collect();
    // Parameters-file values go to the templates that declare them; one no template declares is an error.
    for (name, value) in &options.parameters {
        if matches!(value, ParamValue::Json(_))
            && !templates.iter().any(|t| declares(t, name))
            && !templates.is_empty()
        {
            problems.push(Problem {
                severity: Severity::Error,
                file: "--parameters".into(),
                path: format!("$.parameters.{name}"),
                message: format!("no template declares a parameter '{name}'"),
                help: None,
            });
        }
    }
    for input in inputs {
        match input {
            Input::Template { file, json } => {
                let parameters = options
                    .parameters
                    .iter()
                    .filter(|(n, v)| matches!(v, ParamValue::Text(_)) || declares(json, n))
                    .cloned()
                    .collect();
                let deployment = arm_template::deploy(
                    file,
                    json,
                    &arm_template::Options {
                        context: options.context.clone(),
                        parameters,
                        wanted: &wanted,
                        require_parameters: !options.lenient,
                    },
                );
                if !deployment.errors.is_empty() {
                    incomplete.push(file.clone());
                }
                for e in deployment.errors {
                    problems.push(Problem {
                        severity: Severity::Error,
                        file: e.file,
                        path: e.path,
                        message: match e.expression {
                            Some(x) => format!("{} (in `{}`)", e.message, shorten(&x)),
                            None => e.message,
                        },
                        help: e.help,
                    });
                }
                for d in deployment.resources {
                    let name = d.name.rsplit('/').next().unwrap_or(&d.name).to_string();
                    declared.push((file.clone(), name.clone()));
                    raws.push(Raw {
                        name,
                        origin: Origin {
                            file: d.file,
                            path: d.path,
                        },
                        properties: d.body.get("properties").cloned().unwrap_or(Value::Null),
                        unresolved: d.unresolved,
                    });
                }
            }
            Input::ApiOps { file, name, json } => {
                declared.push((file.clone(), name.clone()));
                raws.push(Raw {
                    name: name.clone(),
                    origin: Origin {
                        file: file.clone(),
                        path: "$".into(),
                    },
                    properties: json
                        .get("properties")
                        .cloned()
                        .unwrap_or_else(|| json.clone()),
                    unresolved: Vec::new(),
                });
            }
        }
    }
    let mut sink = Sink(&mut problems);
    // Duplicate names: APIM has one backend per id.
    for (i, r) in raws.iter().enumerate() {
        if let Some(first) = raws[..i]
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&r.name))
        {
            sink.push(
                Severity::Error,
                &r.origin,
                "",
                format!(
                    "backend '{}' is defined twice (also at {}: {})",
                    r.name, first.origin.file, first.origin.path
                ),
                None,
            );
        }
    }
    let mut overridden = Vec::new();
    for (name, url) in &options.backend_urls {
        match raws.iter_mut().find(|r| r.name.eq_ignore_ascii_case(name)) {
            Some(r) => {
                if let Value::Object(p) = &mut r.properties {
                    p.insert("url".into(), Value::String(url.clone()));
                }
                r.unresolved
                    .retain(|u| !(u.at == "properties.url" || u.at.starts_with("properties.url.")));
                overridden.push(r.name.to_ascii_lowercase());
            }
            None => {
                let known: Vec<&str> = raws.iter().map(|r| r.name.as_str()).collect();
                problems_push_usage(&mut sink, name, &known);
            }
        }
    }
    let mut backends = Vec::new();
    for r in &raws {
        for u in &r.unresolved {
            let at = u.at.strip_prefix("properties.").unwrap_or(&u.at);
            let is_url = at == "url";
            sink.push(
                if options.lenient { Severity::Note } else { Severity::Error },
                &r.origin,
                &u.at,
                if u.error.file == r.origin.file && u.error.path == format!("{}.{}", r.origin.path, u.at) {
                    format!("{at} could not be computed: {}{}", u.error.message, expression_note(&u.error))
                } else {
                    format!(
                        "{at} could not be computed: {}{} (at {}: {})",
                        u.error.message, expression_note(&u.error), u.error.file, u.error.path
                    )
                },
                Some(if is_url {
                    format!("point the backend at a local server: --backend-url {}=http://127.0.0.1:PORT", r.name)
                } else {
                    u.error.help.clone().unwrap_or_else(|| "pass the value with --param NAME=VALUE".into())
                }),
            );
        }
        let url_overridden = overridden.contains(&r.name.to_ascii_lowercase());
        let url_unresolved = r.unresolved.iter().any(|u| u.at == "properties.url");
        if let Some(b) = backend(r, url_overridden, url_unresolved, &mut sink) {
            backends.push(b);
        }
    }
    check_pools(&backends, &mut sink);
    // One cause, one message: a missing parameter also fails every value that uses it.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert((p.file.clone(), p.message.clone())));
    Loaded {
        registry: Registry { backends },
        problems,
        declared,
        incomplete,
    }
}

fn problems_push_usage(sink: &mut Sink, name: &str, known: &[&str]) {
    sink.0.push(Problem {
        severity: Severity::Error,
        file: "--backend-url".into(),
        path: String::new(),
        message: format!("no backend named '{name}'"),
        help: Some(if known.is_empty() {
            "the templates define no backends".into()
        } else {
            format!("backends are: {}", known.join(", "))
        }),
    });
}

/// ` in `[expression]`` for a message, shortened.
fn expression_note(e: &arm_template::TemplateError) -> String {
    match &e.expression {
        Some(x) => format!(" in `{}`", shorten(x)),
        None => String::new(),
    }
}

fn declares(template: &Value, name: &str) -> bool {
    template
        .get("parameters")
        .and_then(Value::as_object)
        .is_some_and(|p| p.keys().any(|k| k.eq_ignore_ascii_case(name)))
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Drops `null` members: ARM does not deploy them.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        // Only unresolved values are null inside arrays; they are reported on their own.
        Value::Array(xs) => Value::Array(
            xs.iter()
                .filter(|x| !x.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn duration(
    s: &Option<String>,
    sink: &mut Sink,
    origin: &Origin,
    at: &str,
) -> Option<std::time::Duration> {
    let text = s.as_deref()?;
    match arm_template::duration::parse(text) {
        Ok(d) if d > chrono::Duration::zero() => d.to_std().ok(),
        Ok(_) => {
            sink.error(origin, at, format!("'{text}' must be longer than zero"));
            None
        }
        Err(e) => {
            sink.error(origin, at, e);
            None
        }
    }
}

fn status(code: Option<i64>, sink: &mut Sink, origin: &Origin, at: &str) -> Option<u16> {
    let c = code?;
    if (100..=599).contains(&c) {
        Some(c as u16)
    } else {
        sink.error(origin, at, format!("status code {c} is outside 100–599"));
        None
    }
}

fn backend(
    r: &Raw,
    url_overridden: bool,
    url_unresolved: bool,
    sink: &mut Sink,
) -> Option<Backend> {
    let origin = &r.origin;
    let props = without_nulls(&r.properties);
    if !props.is_object() {
        sink.error(origin, "properties", "a backend needs `properties`");
        return None;
    }
    let dto: PropertiesDto = match arm::read(&props) {
        Ok(d) => d,
        Err((path, message)) => {
            sink.error(origin, &format!("properties.{path}"), message);
            return None;
        }
    };
    let is_pool = match dto.kind.as_deref() {
        Some(k) if k.eq_ignore_ascii_case("pool") => true,
        Some(k) if k.eq_ignore_ascii_case("single") => false,
        Some(k) => {
            sink.error(
                origin,
                "properties.type",
                format!("backend type '{k}' is not Single or Pool"),
            );
            return None;
        }
        None if dto.pool.is_some() => {
            sink.warning(
                origin,
                "properties.type",
                "`pool` is set without `type: \"Pool\"`; read as a pool",
            );
            true
        }
        None => false,
    };
    let kind = if is_pool {
        BackendKind::Pool(pool(&dto, sink, origin)?)
    } else {
        BackendKind::Single(Box::new(single(
            &dto,
            url_overridden,
            url_unresolved,
            sink,
            origin,
        )?))
    };
    Some(Backend {
        name: r.name.clone(),
        kind,
        description: dto.description.clone(),
        origin: origin.clone(),
        properties: props,
    })
}

fn pool(dto: &PropertiesDto, sink: &mut Sink, origin: &Origin) -> Option<Pool> {
    if dto.url.is_some() {
        // Azure: the service rejects it: "Url is not supported for backend pool" (Azure/bicep#14097).
        sink.error(
            origin,
            "properties.url",
            "Url is not supported for backend pool: a pool has no URL of its own",
        );
    }
    if dto.protocol.is_some() {
        sink.warning(
            origin,
            "properties.protocol",
            "a pool has no protocol of its own; its members' are used",
        );
    }
    if dto.circuit_breaker.is_some() {
        sink.warning(
            origin,
            "properties.circuitBreaker",
            "a circuit breaker on a pool is ignored; configure it on the member backends",
        );
    }
    let p = dto.pool.as_ref();
    let services = p.and_then(|p| p.services.as_ref());
    let Some(services) = services.filter(|s| !s.is_empty()) else {
        sink.error(
            origin,
            "properties.pool.services",
            "a pool needs at least one member backend in `pool.services`",
        );
        return None;
    };
    if services.len() > MAX_POOL_MEMBERS {
        sink.error(
            origin,
            "properties.pool.services",
            format!(
                "a pool has at most {MAX_POOL_MEMBERS} members; this one has {}",
                services.len()
            ),
        );
    }
    let mut members = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let at = format!("properties.pool.services[{i}]");
        let Some(id) = s.id.as_deref().filter(|x| !x.is_empty()) else {
            sink.error(
                origin,
                &format!("{at}.id"),
                "a pool member needs the `id` of a backend",
            );
            continue;
        };
        // Azure: members are referenced by ARM id, full (`/subscriptions/…/backends/b`) or short (`/backends/b`).
        let name = match id.to_ascii_lowercase().rfind("/backends/") {
            Some(k) => id[k + "/backends/".len()..]
                .trim_end_matches('/')
                .to_string(),
            None => id.rsplit('/').next().unwrap_or(id).to_string(),
        };
        let mut bounded = |v: Option<i64>, what: &str, default: u8| -> u8 {
            match v {
                None => default,
                Some(x) if (0..=100).contains(&x) => x as u8,
                Some(x) => {
                    sink.error(
                        origin,
                        &format!("{at}.{what}"),
                        format!("{what} {x} is outside 0–100"),
                    );
                    default
                }
            }
        };
        let priority = bounded(s.priority, "priority", 0);
        let weight = bounded(s.weight, "weight", 1);
        if members
            .iter()
            .any(|m: &PoolMember| m.backend.eq_ignore_ascii_case(&name))
        {
            sink.warning(
                origin,
                &at,
                format!("backend '{name}' is listed twice in the pool"),
            );
        }
        members.push(PoolMember {
            backend: name,
            priority,
            weight,
        });
    }
    let failure_status = status(
        p.and_then(|p| p.failure_response.as_ref())
            .and_then(|f| f.status_code),
        sink,
        origin,
        "properties.pool.failureResponse.statusCode",
    );
    Some(Pool {
        members,
        failure_status,
    })
}

fn single(
    dto: &PropertiesDto,
    url_overridden: bool,
    url_unresolved: bool,
    sink: &mut Sink,
    origin: &Origin,
) -> Option<Single> {
    let url = match dto.url.as_deref() {
        Some(u) => match url::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(u.to_string()),
            Ok(parsed) => {
                sink.error(
                    origin,
                    "properties.url",
                    format!(
                        "'{u}' has scheme '{}'; a backend URL is http or https",
                        parsed.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                sink.push(
                    Severity::Error,
                    origin,
                    "properties.url",
                    format!("'{u}' is not an absolute URL: {e}"),
                    Some(if url_overridden {
                        "check the --backend-url value".into()
                    } else {
                        "write it as https://host/path".into()
                    }),
                );
                None
            }
        },
        None if url_unresolved => None,
        None => {
            sink.error(origin, "properties.url", "a single backend needs a `url`");
            None
        }
    };
    let protocol = match dto.protocol.as_deref() {
        Some(p) if p.eq_ignore_ascii_case("http") || p.eq_ignore_ascii_case("soap") => {
            p.to_ascii_lowercase()
        }
        Some(p) => {
            sink.error(
                origin,
                "properties.protocol",
                format!("protocol '{p}' is not http or soap"),
            );
            "http".into()
        }
        None => {
            sink.warning(
                origin,
                "properties.protocol",
                "a single backend should set `protocol` (http or soap); http is assumed",
            );
            "http".into()
        }
    };
    let rules = dto
        .circuit_breaker
        .as_ref()
        .and_then(|c| c.rules.as_deref())
        .unwrap_or(&[]);
    if rules.len() > 1 {
        // Azure: "Currently, only one rule for a backend circuit breaker is supported" (backends.md).
        sink.error(
            origin,
            "properties.circuitBreaker.rules",
            format!(
                "APIM supports one circuit breaker rule per backend; this backend has {}",
                rules.len()
            ),
        );
    }
    let breaker = rules
        .first()
        .and_then(|r| rule(r, sink, origin, "properties.circuitBreaker.rules[0]"));
    let mut credentials = Credentials::default();
    if let Some(c) = &dto.credentials {
        credentials.header = c.header.clone().unwrap_or_default().into_iter().collect();
        credentials.query = c.query.clone().unwrap_or_default().into_iter().collect();
        if let Some(a) = &c.authorization {
            match (&a.scheme, &a.parameter) {
                (Some(s), Some(p)) => credentials.authorization = Some((s.clone(), p.clone())),
                _ => sink.error(
                    origin,
                    "properties.credentials.authorization",
                    "authorization needs `scheme` and `parameter`",
                ),
            }
        }
        credentials.managed_identity_resource =
            c.managed_identity.as_ref().and_then(|m| m.resource.clone());
    }
    Some(Single {
        url,
        protocol,
        url_overridden,
        breaker,
        credentials,
    })
}

fn rule(r: &RuleDto, sink: &mut Sink, origin: &Origin, at: &str) -> Option<BreakerRule> {
    let name = r.name.clone().unwrap_or_else(|| {
        sink.warning(
            origin,
            &format!("{at}.name"),
            "a circuit breaker rule should have a `name`",
        );
        "rule".into()
    });
    let trip_duration = match &r.trip_duration {
        Some(_) => duration(
            &r.trip_duration,
            sink,
            origin,
            &format!("{at}.tripDuration"),
        )?,
        None => {
            sink.error(
                origin,
                &format!("{at}.tripDuration"),
                "a circuit breaker rule needs `tripDuration` (ISO 8601, e.g. PT1M)",
            );
            return None;
        }
    };
    let Some(c) = &r.failure_condition else {
        sink.error(
            origin,
            &format!("{at}.failureCondition"),
            "a circuit breaker rule needs `failureCondition`",
        );
        return None;
    };
    let fc = format!("{at}.failureCondition");
    let threshold = match (c.count, c.percentage) {
        (Some(n), None) if n >= 1 => Threshold::Count(n.min(u32::MAX as i64) as u32),
        (None, Some(p)) if (1..=100).contains(&p) => Threshold::Percentage(p as u8),
        (Some(_), Some(_)) => {
            sink.error(origin, &fc, "set either `count` or `percentage`, not both");
            return None;
        }
        (None, None) => {
            sink.error(
                origin,
                &fc,
                "the failure condition needs `count` or `percentage`",
            );
            return None;
        }
        (Some(n), None) => {
            sink.error(
                origin,
                &format!("{fc}.count"),
                format!("count {n} must be at least 1"),
            );
            return None;
        }
        (None, Some(p)) => {
            sink.error(
                origin,
                &format!("{fc}.percentage"),
                format!("percentage {p} is outside 1–100"),
            );
            return None;
        }
    };
    let interval = match &c.interval {
        Some(_) => duration(&c.interval, sink, origin, &format!("{fc}.interval"))?,
        None => {
            sink.error(
                origin,
                &format!("{fc}.interval"),
                "the failure condition needs `interval` (ISO 8601, e.g. PT1M)",
            );
            return None;
        }
    };
    let mut status_ranges = Vec::new();
    let ranges = c.status_code_ranges.as_deref().unwrap_or(&[]);
    if ranges.len() > 10 {
        sink.error(
            origin,
            &format!("{fc}.statusCodeRanges"),
            "at most 10 status code ranges",
        );
    }
    for (i, range) in ranges.iter().enumerate() {
        let p = format!("{fc}.statusCodeRanges[{i}]");
        match (range.min, range.max) {
            // Azure: each bound 200–599 (schema).
            (Some(lo), Some(hi))
                if (200..=599).contains(&lo) && (200..=599).contains(&hi) && lo <= hi =>
            {
                status_ranges.push(lo as u16..=hi as u16)
            }
            (Some(lo), Some(hi)) => sink.error(
                origin,
                &p,
                format!("status code range {lo}–{hi} must lie within 200–599 with min ≤ max"),
            ),
            _ => sink.error(origin, &p, "a status code range needs `min` and `max`"),
        }
    }
    let error_reasons = c.error_reasons.clone().unwrap_or_default();
    if error_reasons.len() > 10 {
        sink.error(
            origin,
            &format!("{fc}.errorReasons"),
            "at most 10 error reasons",
        );
    }
    if status_ranges.is_empty() && error_reasons.is_empty() {
        sink.warning(
            origin,
            &fc,
            "no statusCodeRanges or errorReasons: this rule never trips",
        );
    }
    let failure_status = status(
        r.failure_response.as_ref().and_then(|f| f.status_code),
        sink,
        origin,
        &format!("{at}.failureResponse.statusCode"),
    );
    Some(BreakerRule {
        name,
        threshold,
        interval,
        status_ranges,
        error_reasons,
        trip_duration,
        accept_retry_after: r.accept_retry_after.unwrap_or(false),
        failure_status,
    })
}

/// Members must exist and be single backends.
fn check_pools(backends: &[Backend], sink: &mut Sink) {
    for b in backends {
        let BackendKind::Pool(p) = &b.kind else {
            continue;
        };
        for (i, m) in p.members.iter().enumerate() {
            let at = format!("properties.pool.services[{i}].id");
            match backends
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&m.backend))
            {
                Some(Backend {
                    kind: BackendKind::Pool(_),
                    ..
                }) => {
                    // Azure: "You can only include single backends" in a pool (backends.md).
                    sink.error(
                        &b.origin,
                        &at,
                        format!(
                            "'{}' is a pool; a pool's members must be single backends",
                            m.backend
                        ),
                    )
                }
                Some(_) => {}
                None => {
                    let singles: Vec<&str> = backends
                        .iter()
                        .filter(|o| matches!(o.kind, BackendKind::Single(_)))
                        .map(|o| o.name.as_str())
                        .collect();
                    sink.push(
                        Severity::Error,
                        &b.origin,
                        &at,
                        format!("pool member '{}' is not a backend defined here", m.backend),
                        Some(if singles.is_empty() {
                            "define the member backends in the same templates".into()
                        } else {
                            format!("backends are: {}", singles.join(", "))
                        }),
                    );
                }
            }
        }
    }
}
