//! The APIM `context` object (reference 04 §2) built from data, the per-evaluation environment (clock, GUID
//! sequence, missing-variable behaviour), and the JSON form of a result that `apim-emu eval` prints.

use crate::json::{self, JToken};
use crate::runtime::*;
use crate::value::*;
use base64::Engine as _;
use rhai::Dynamic;
use std::cell::Cell;

/// What an evaluation sees of the world. Deterministic: the clock and GUIDs come from here, never from the OS.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `DateTime.UtcNow` in ticks.
    pub now_ticks: i64,
    /// Seed of `Guid.NewGuid()` and `new Random()`.
    pub seed: u64,
    /// `context.Variables["missing"]` throws KeyNotFoundException (plain .NET) instead of returning null.
    pub missing_variable_throws: bool,
}

/// 2026-01-02T03:04:05Z, the oracle's `context.Timestamp`.
pub const DEFAULT_TIMESTAMP_TICKS: i64 = 639029198450000000;

impl Default for Environment {
    fn default() -> Self {
        Environment {
            now_ticks: DEFAULT_TIMESTAMP_TICKS,
            seed: 42,
            missing_variable_throws: false,
        }
    }
}

thread_local! {
    static NOW: Cell<i64> = const { Cell::new(DEFAULT_TIMESTAMP_TICKS) };
    static SEED: Cell<u64> = const { Cell::new(42) };
    static MISSING_THROWS: Cell<bool> = const { Cell::new(false) };
}

/// Installs an environment for evaluations on this thread (an evaluation never crosses threads).
pub fn install(env: &Environment) {
    NOW.with(|c| c.set(env.now_ticks));
    SEED.with(|c| c.set(env.seed));
    MISSING_THROWS.with(|c| c.set(env.missing_variable_throws));
}

pub fn clock_ticks() -> i64 {
    NOW.with(Cell::get)
}

pub fn missing_variable_throws() -> bool {
    MISSING_THROWS.with(Cell::get)
}

/// The next version-4-shaped GUID of the deterministic sequence.
pub fn next_guid() -> u128 {
    SEED.with(|c| {
        let mut z = c.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        c.set(z);
        let mut out: u128 = 0;
        for _ in 0..2 {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            out = (out << 64) | z as u128;
        }
        (out & !(0xf000u128 << 64) | (0x4000u128 << 64)) & !(0xc000u128 << 48) | (0x8000u128 << 48)
    })
}

pub fn parse_url(text: &str) -> Option<Url> {
    let u = url::Url::parse(text).ok()?;
    let mut query = Dict::new(true, "query");
    for (k, v) in u.query_pairs() {
        let key = query.key(&string(k.to_string()));
        let entry = query
            .map
            .entry(key)
            .or_insert_with(|| (string(k.to_string()), seq(SeqKind::Array, Vec::new())));
        if let Some(Obj::Seq(_, xs)) = entry.1.read_lock::<Obj>().as_deref() {
            xs.lock().push(string(v.to_string()));
        }
    }
    let port = u.port_or_known_default().map(i64::from).unwrap_or(-1);
    Some(Url {
        scheme: u.scheme().to_string(),
        host: u.host_str().unwrap_or("").to_string(),
        port,
        path: u.path().to_string(),
        query_string: u.query().map(|q| format!("?{q}")).unwrap_or_default(),
        query: obj(Obj::Dict(shared(query))),
        text: u.to_string(),
    })
}

/// APIM's `IUrl` as a record.
pub fn url_record(text: &str) -> Option<Dynamic> {
    let u = parse_url(text)?;
    Some(record(
        "IUrl",
        vec![
            ("Scheme", string(u.scheme.clone())),
            ("Host", string(u.host.clone())),
            ("Port", int(u.port as i32)),
            ("Path", string(u.path.clone())),
            ("QueryString", string(u.query_string.clone())),
            ("Query", u.query.clone()),
            ("text", string(u.text.clone())),
        ],
    ))
}

fn b64url(part: &str) -> Option<Vec<u8>> {
    let p: String = part
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let padded = format!("{p}{}", "=".repeat((4 - p.len() % 4) % 4));
    base64::engine::general_purpose::STANDARD
        .decode(padded.as_bytes())
        .ok()
}

/// `string.AsJwt()`: the token (optionally after `Bearer `) decoded without validation; null when malformed.
pub fn parse_jwt(s: &str) -> Option<Dynamic> {
    // Azure: AsJwt parses the token itself; policies strip "Bearer " first (`.Split(' ').Last()`).
    let t = s.trim();
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() < 2 {
        return None;
    }
    let header = json::parse(&String::from_utf8(b64url(parts[0])?).ok()?).ok()?;
    let body = json::parse(&String::from_utf8(b64url(parts[1])?).ok()?).ok()?;
    let (JToken::Object(h), JToken::Object(b)) = (&header, &body) else {
        return None;
    };
    let h = h.lock().clone();
    let b = b.lock().clone();
    let text = |m: &indexmap::IndexMap<String, JToken>, k: &str| -> Dynamic {
        match m.get(k) {
            Some(JToken::Value(v)) => string(json::value_display(v)),
            _ => Dynamic::UNIT,
        }
    };
    let mut claims = Dict::new(true, "headers");
    for (k, v) in &b {
        let values: Vec<Dynamic> = match v {
            JToken::Array(a) => a
                .lock()
                .iter()
                .map(|x| string(x.display().unwrap_or_default()))
                .collect(),
            other => vec![string(other.display().unwrap_or_default())],
        };
        let key = claims.key(&string(k.clone()));
        claims
            .map
            .insert(key, (string(k.clone()), seq(SeqKind::Array, values)));
    }
    let time = |k: &str| -> Dynamic {
        match b.get(k) {
            Some(JToken::Value(json::JValue::Int(secs))) => obj(Obj::DateTime(
                crate::format::UNIX_EPOCH_TICKS + secs * crate::format::TICKS_PER_SECOND,
                DateKind::Utc,
            )),
            _ => Dynamic::UNIT,
        }
    };
    let audiences = match b.get("aud") {
        Some(JToken::Array(a)) => a
            .lock()
            .iter()
            .map(|x| string(x.display().unwrap_or_default()))
            .collect(),
        Some(v) => vec![string(v.display().unwrap_or_default())],
        None => Vec::new(),
    };
    Some(record(
        "Jwt",
        vec![
            ("Algorithm", text(&h, "alg")),
            ("Type", text(&h, "typ")),
            ("Id", text(&b, "jti")),
            ("Issuer", text(&b, "iss")),
            ("Subject", text(&b, "sub")),
            ("Audiences", seq(SeqKind::Array, audiences)),
            ("Claims", obj(Obj::Dict(shared(claims)))),
            ("ExpirationTime", time("exp")),
            ("IssuedAt", time("iat")),
            ("NotBefore", time("nbf")),
        ],
    ))
}

/// What `get-authorization-context` stores in its variable (APIM's `Authorization` interface): the
/// credential manager's access token and the claims of the connection.
pub fn authorization(access_token: &str, claims: Vec<(String, String)>) -> Dynamic {
    let mut d = Dict::new(false, "dictionary");
    for (k, v) in claims {
        let key = d.key(&string(&k));
        d.map.insert(key, (string(&k), string(&v)));
    }
    record(
        "Authorization",
        vec![
            ("AccessToken", string(access_token)),
            ("Claims", obj(Obj::Dict(shared(d)))),
        ],
    )
}

/// `context.Variables[name] = value` from outside an expression (what `set-variable` and other policies
/// do between expressions).
pub fn set_variable(context: &Dynamic, name: &str, value: Dynamic) {
    if let Some(Obj::Record(r)) = context.read_lock::<Obj>().map(|o| o.clone())
        && let Some(vars) = r.get("Variables")
        && let Some(Obj::Dict(d)) = vars.read_lock::<Obj>().map(|o| o.clone())
    {
        let mut d = d.lock();
        let key = d.key(&string(name));
        d.map.insert(key, (string(name), value));
    }
}

/// `string.AsBasic()`: `Basic base64(user:password)`; null when not a Basic credential.
pub fn parse_basic(s: &str) -> Option<Dynamic> {
    let rest = s.trim();
    let rest = if rest.len() > 6 && rest[..6].eq_ignore_ascii_case("basic ") {
        &rest[6..]
    } else {
        rest
    };
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim().as_bytes())
            .ok()?,
    )
    .ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some(record(
        "BasicAuthCredentials",
        vec![("UserId", string(user)), ("Password", string(password))],
    ))
}

/// A JSON value from the context file as a CLR value: integers are `int` (or `long`), other numbers `double`,
/// objects and arrays JObject / JArray.
pub fn clr_of_json(v: &serde_json::Value) -> Result<Dynamic, String> {
    Ok(match v {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(b) => Dynamic::from_bool(*b),
        serde_json::Value::String(s) => string(s.as_str()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => int(i as i32),
            Some(i) => long(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        other => {
            json(json::from_serde(other, 0).map_err(|_| "JSON nested too deeply".to_string())?)
        }
    })
}

fn headers(v: Option<&serde_json::Value>) -> Result<Dynamic, String> {
    let mut d = Dict::new(true, "headers");
    if let Some(v) = v {
        let o = v
            .as_object()
            .ok_or("`headers` must be an object of name → string or array of strings")?;
        for (k, val) in o {
            let values: Vec<Dynamic> = match val {
                serde_json::Value::String(s) => vec![string(s.as_str())],
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(string)
                            .ok_or_else(|| format!("header `{k}`: values must be strings"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(format!(
                        "header `{k}`: expected a string or an array of strings"
                    ));
                }
            };
            let key = d.key(&string(k.as_str()));
            d.map
                .insert(key, (string(k.as_str()), seq(SeqKind::Array, values)));
        }
    }
    Ok(obj(Obj::Dict(shared(d))))
}

fn str_field(
    o: &serde_json::Map<String, serde_json::Value>,
    k: &str,
) -> Result<Option<String>, String> {
    match o.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{k}` must be a string, found {other}")),
    }
}

fn body(o: &serde_json::Map<String, serde_json::Value>) -> Result<Dynamic, String> {
    Ok(match o.get("body") {
        None | Some(serde_json::Value::Null) => Dynamic::UNIT,
        Some(serde_json::Value::String(s)) => obj(Obj::Body(shared(Body {
            text: Some(s.clone()),
            consumed: false,
        }))),
        // A JSON body may also be given as JSON itself.
        Some(other) => obj(Obj::Body(shared(Body {
            text: Some(other.to_string()),
            consumed: false,
        }))),
    })
}

const RECORD_FIELDS: &[(&str, &str, &[&str])] = &[
    (
        "api",
        "IApi",
        &[
            "Id",
            "Name",
            "Path",
            "Revision",
            "Version",
            "IsCurrentRevision",
            "Protocols",
            "ServiceUrl",
            "SubscriptionKeyParameterNames",
        ],
    ),
    (
        "operation",
        "IOperation",
        &["Id", "Method", "Name", "UrlTemplate"],
    ),
    (
        "product",
        "IProduct",
        &[
            "Id",
            "Name",
            "ApprovalRequired",
            "Groups",
            "State",
            "SubscriptionsLimit",
            "SubscriptionRequired",
        ],
    ),
    (
        "subscription",
        "ISubscription",
        &[
            "Id",
            "Key",
            "Name",
            "PrimaryKey",
            "SecondaryKey",
            "CreatedDate",
            "EndDate",
            "StartDate",
        ],
    ),
    (
        "user",
        "IUser",
        &[
            "Id",
            "Email",
            "FirstName",
            "LastName",
            "Note",
            "Groups",
            "Identities",
            "RegistrationDate",
        ],
    ),
    (
        "deployment",
        "IDeployment",
        &[
            "Region",
            "ServiceName",
            "ServiceId",
            "GatewayId",
            "Gateway",
            "Certificates",
            "SustainabilityInfo",
        ],
    ),
    (
        "lastError",
        "ILastError",
        &[
            "Source", "Reason", "Message", "Scope", "Section", "Path", "PolicyId",
        ],
    ),
];

pub(crate) fn named_record(part: &str, v: Option<&serde_json::Value>) -> Result<Dynamic, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Dynamic::UNIT);
    };
    let o = v
        .as_object()
        .ok_or_else(|| format!("`{part}` must be an object"))?;
    let Some((_, ty, fields)) = RECORD_FIELDS.iter().find(|(p, _, _)| *p == part) else {
        return Ok(Dynamic::UNIT);
    };
    let mut out = Vec::new();
    for f in *fields {
        let key = format!("{}{}", f[..1].to_lowercase(), &f[1..]);
        let value = match o.get(&key) {
            None => match *f {
                "IsCurrentRevision" | "ApprovalRequired" | "SubscriptionRequired" => Dynamic::FALSE,
                "Protocols" | "Groups" | "Identities" => seq(SeqKind::Array, Vec::new()),
                _ => Dynamic::UNIT,
            },
            Some(serde_json::Value::String(s)) if *f == "ServiceUrl" => {
                url_record(s).ok_or_else(|| format!("`{part}.serviceUrl` is not a URL: {s}"))?
            }
            Some(serde_json::Value::String(s)) if f.ends_with("Date") => {
                crate::members::parse_datetime(s)
                    .map_err(|_| format!("`{part}.{key}` is not a date: {s}"))?
            }
            Some(serde_json::Value::Array(a)) => seq(
                SeqKind::Array,
                a.iter().map(clr_of_json).collect::<Result<_, _>>()?,
            ),
            Some(x) => clr_of_json(x)?,
        };
        out.push((*f, value));
    }
    let ty: &'static str = ty;
    Ok(record(ty, out))
}

/// Builds `context` from the JSON that `apim-emu eval --context` reads. Missing parts behave as in APIM: no
/// `response` means `context.Response` is null; missing headers or matchedParameters are empty dictionaries.
pub fn context_from_json(v: &serde_json::Value, env: &Environment) -> Result<Dynamic, String> {
    let empty = serde_json::Map::new();
    let root = v.as_object().ok_or("the context must be a JSON object")?;
    let known = [
        "request",
        "response",
        "variables",
        "lastError",
        "api",
        "operation",
        "product",
        "subscription",
        "user",
        "deployment",
        "timestamp",
        "elapsedMilliseconds",
        "requestId",
        "tracing",
    ];
    if let Some(k) = root.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown context member `{k}`; expected one of: {}",
            known.join(", ")
        ));
    }
    let rq = match root.get("request") {
        Some(serde_json::Value::Object(o)) => o,
        None | Some(serde_json::Value::Null) => &empty,
        Some(_) => return Err("`request` must be an object".into()),
    };
    let url = str_field(rq, "url")?.unwrap_or_else(|| "https://apim-local.azure-api.net/".into());
    let original = str_field(rq, "originalUrl")?.unwrap_or_else(|| url.clone());
    let mut params = Dict::new(true, "params");
    if let Some(p) = rq.get("matchedParameters") {
        for (k, val) in p
            .as_object()
            .ok_or("`matchedParameters` must be an object")?
        {
            let key = params.key(&string(k.as_str()));
            let s = val
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_string());
            params.map.insert(key, (string(k.as_str()), string(s)));
        }
    }
    let request = record(
        "IRequest",
        vec![
            (
                "Method",
                string(str_field(rq, "method")?.unwrap_or_else(|| "GET".into())),
            ),
            (
                "Url",
                url_record(&url)
                    .ok_or_else(|| format!("`request.url` is not an absolute URL: {url}"))?,
            ),
            (
                "OriginalUrl",
                url_record(&original).ok_or_else(|| {
                    format!("`request.originalUrl` is not an absolute URL: {original}")
                })?,
            ),
            ("Headers", headers(rq.get("headers"))?),
            ("Body", body(rq)?),
            (
                "IpAddress",
                string(str_field(rq, "ipAddress")?.unwrap_or_else(|| "127.0.0.1".into())),
            ),
            ("MatchedParameters", obj(Obj::Dict(shared(params)))),
            ("Certificate", Dynamic::UNIT),
            ("PrivateEndpointConnection", Dynamic::UNIT),
        ],
    );
    let response = match root.get("response") {
        None | Some(serde_json::Value::Null) => Dynamic::UNIT,
        Some(serde_json::Value::Object(rs)) => record(
            "IResponse",
            vec![
                (
                    "StatusCode",
                    int(rs
                        .get("statusCode")
                        .and_then(serde_json::Value::as_i64)
                        .unwrap_or(200) as i32),
                ),
                (
                    "StatusReason",
                    string(str_field(rs, "statusReason")?.unwrap_or_else(|| "OK".into())),
                ),
                ("Headers", headers(rs.get("headers"))?),
                ("Body", body(rs)?),
            ],
        ),
        Some(_) => return Err("`response` must be an object".into()),
    };
    let mut vars = Dict::new(false, "variables");
    if let Some(vs) = root.get("variables") {
        for (k, val) in vs.as_object().ok_or("`variables` must be an object")? {
            let key = vars.key(&string(k.as_str()));
            vars.map
                .insert(key, (string(k.as_str()), clr_of_json(val)?));
        }
    }
    let timestamp = match root.get("timestamp").and_then(|t| t.as_str()) {
        Some(t) => match crate::members::parse_datetime(t)
            .map_err(|_| format!("`timestamp` is not a date: {t}"))?
            .read_lock::<Obj>()
            .as_deref()
        {
            Some(Obj::DateTime(ticks, _)) => *ticks,
            _ => env.now_ticks,
        },
        None => env.now_ticks,
    };
    let elapsed = root
        .get("elapsedMilliseconds")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(12);
    let request_id = match root.get("requestId").and_then(|t| t.as_str()) {
        Some(t) => uuid::Uuid::parse_str(t)
            .map_err(|_| format!("`requestId` is not a GUID: {t}"))?
            .as_u128(),
        None => 0x0f8f_ad5b_d9cb_469f_a165_7086_7728_950e,
    };
    Ok(record(
        "IContext",
        vec![
            ("Request", request),
            ("Response", response),
            ("Variables", obj(Obj::Dict(shared(vars)))),
            (
                "LastError",
                named_record("lastError", root.get("lastError"))?,
            ),
            ("Api", named_record("api", root.get("api"))?),
            (
                "Operation",
                named_record("operation", root.get("operation"))?,
            ),
            ("Product", named_record("product", root.get("product"))?),
            (
                "Subscription",
                named_record("subscription", root.get("subscription"))?,
            ),
            ("User", named_record("user", root.get("user"))?),
            (
                "Deployment",
                named_record("deployment", root.get("deployment"))?,
            ),
            ("Workspace", Dynamic::UNIT),
            ("Backend", Dynamic::UNIT),
            ("Elapsed", obj(Obj::TimeSpan(elapsed * 10_000))),
            ("RequestId", obj(Obj::Guid(request_id))),
            ("Timestamp", obj(Obj::DateTime(timestamp, DateKind::Utc))),
            (
                "Tracing",
                Dynamic::from_bool(
                    root.get("tracing")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                ),
            ),
        ],
    ))
}

/// The JSON that `apim-emu eval` prints for a result, as the C# oracle prints it.
pub fn result_json(v: &Dynamic) -> Result<String, Box<rhai::EvalAltResult>> {
    result_json_at(v, 0)
}

fn result_json_at(v: &Dynamic, depth: usize) -> Res<String> {
    if depth > 64 {
        return Err(throw(
            "InvalidOperationException",
            "result nested too deeply to print",
        ));
    }
    let quoted = |s: &str| {
        let mut out = String::new();
        json::write_string(s, &mut out);
        out
    };
    Ok(match kind(v) {
        K::Null => "null".into(),
        K::Bool(b) => b.to_string(),
        K::Int(i) => i.to_string(),
        K::Double(d) => crate::format::double_to_string(d).replace('∞', "Infinity"),
        K::Char(c) => quoted(&c.to_string()),
        K::Str(s) => quoted(&s),
        K::Obj(o) => match o {
            Obj::Long(l) => l.to_string(),
            Obj::Decimal(d) => crate::format::double_to_string(d),
            Obj::DateTime(..) | Obj::DateTimeOffset(..) => quoted(&to_string_fmt(v, "o")?),
            Obj::Json(j) => j.to_json(false)?,
            Obj::Seq(..) | Obj::Dict(_) | Obj::Bytes(_) | Obj::Matches(_) | Obj::Groups(_) => {
                let items = crate::members::items(v)?;
                let parts: Vec<String> = items
                    .iter()
                    .map(|x| result_json_at(x, depth + 1))
                    .collect::<Res<_>>()?;
                format!("[{}]", parts.join(","))
            }
            _ => quoted(&to_string_fmt(v, "")?),
        },
        K::Fn(_) | K::Other(_) => quoted(&to_display_string(v)),
    })
}
