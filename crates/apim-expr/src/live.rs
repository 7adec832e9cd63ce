//! The `context` of a running pipeline: built from the executor's plain Rust state (request, response,
//! variables, last error) instead of a JSON file. Bodies and variables are shared handles, so what an expression
//! does to them (`Body.As<T>()` consuming the body, `context.Variables` writes) is what the pipeline sees next.

use crate::context::url_record;
use crate::engine::{Context, Value};
use crate::value::*;
use rhai::Dynamic;

/// A message body shared between the pipeline and its expressions.
#[derive(Clone, Debug)]
pub struct BodyHandle(Shared<Body>);

impl BodyHandle {
    pub fn new(text: Option<String>) -> BodyHandle {
        BodyHandle(shared(Body {
            text,
            consumed: false,
        }))
    }

    /// The content as it would be sent on: empty once an expression read it without `preserveContent`.
    /// Azure: reading `context.Request.Body` without preserveContent consumes the stream (reference 02 set-body).
    pub fn outgoing(&self) -> Option<String> {
        let b = self.0.lock();
        if b.consumed { None } else { b.text.clone() }
    }

    /// The content regardless of whether an expression consumed it.
    pub fn peek(&self) -> Option<String> {
        self.0.lock().text.clone()
    }

    pub fn is_consumed(&self) -> bool {
        self.0.lock().consumed
    }

    /// `set-body`: new content, readable again.
    pub fn set(&self, text: Option<String>) {
        let mut b = self.0.lock();
        b.text = text;
        b.consumed = false;
    }

    fn dynamic(&self) -> Dynamic {
        obj(Obj::Body(self.0.clone()))
    }
}

/// `context.Variables`, shared across the expressions of one request.
#[derive(Clone)]
pub struct Variables(Dynamic);

impl Default for Variables {
    fn default() -> Self {
        Variables(obj(Obj::Dict(shared(Dict::new(false, "variables")))))
    }
}

impl Variables {
    pub fn set(&self, name: &str, value: Value) {
        if let Some(Obj::Dict(d)) = self.0.read_lock::<Obj>().map(|o| o.clone()) {
            let mut d = d.lock();
            let key = d.key(&string(name));
            d.map.insert(key, (string(name), value.into_dynamic()));
        }
    }

    pub fn get(&self, name: &str) -> Option<Value> {
        let Some(Obj::Dict(d)) = self.0.read_lock::<Obj>().map(|o| o.clone()) else {
            return None;
        };
        let d = d.lock();
        d.map
            .get(&d.key(&string(name)))
            .map(|(_, v)| Value::from_dynamic(v.clone()))
    }

    pub fn names(&self) -> Vec<String> {
        let Some(Obj::Dict(d)) = self.0.read_lock::<Obj>().map(|o| o.clone()) else {
            return Vec::new();
        };
        let d = d.lock();
        d.map
            .values()
            .map(|(k, _)| crate::runtime::to_display_string(k))
            .collect()
    }
}

/// A request as the pipeline holds it.
#[derive(Clone, Debug, Default)]
pub struct RequestData {
    pub method: String,
    /// The URL the request will be forwarded to (`context.Request.Url`).
    pub url: String,
    /// The URL the client called (`context.Request.OriginalUrl`).
    pub original_url: String,
    /// Header lines in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub ip_address: String,
    pub matched_parameters: Vec<(String, String)>,
}

/// A response as the pipeline holds it.
#[derive(Clone, Debug, Default)]
pub struct ResponseData {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

/// `context.LastError`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LastErrorData {
    pub source: String,
    pub reason: String,
    pub message: String,
    pub scope: String,
    pub section: String,
    pub path: String,
    pub policy_id: String,
}

/// What stays the same for a whole request: Api, Operation, Product, Subscription, User, Deployment, and the
/// request id (built once, from the same JSON shapes `apim-emu eval --context` reads).
#[derive(Clone)]
pub struct RequestInfo {
    fields: Vec<(&'static str, Dynamic)>,
    request_id: u128,
}

impl RequestInfo {
    /// `parts` holds any of `api`, `operation`, `product`, `subscription`, `user`, `deployment`.
    pub fn from_json(parts: &serde_json::Value, request_id: u128) -> Result<RequestInfo, String> {
        let mut fields = Vec::new();
        for (key, field) in [
            ("api", "Api"),
            ("operation", "Operation"),
            ("product", "Product"),
            ("subscription", "Subscription"),
            ("user", "User"),
            ("deployment", "Deployment"),
        ] {
            fields.push((field, crate::context::named_record(key, parts.get(key))?));
        }
        Ok(RequestInfo { fields, request_id })
    }

    /// `context.RequestId` as a number.
    pub fn request_id(&self) -> u128 {
        self.request_id
    }
}

fn header_dict(lines: &[(String, String)]) -> Dynamic {
    let mut d = Dict::new(true, "headers");
    for (name, value) in lines {
        let key = d.key(&string(name.as_str()));
        match d.map.get_mut(&key) {
            Some((_, existing)) => {
                if let Some(Obj::Seq(_, items)) = existing.read_lock::<Obj>().map(|o| o.clone()) {
                    items.lock().push(string(value.as_str()));
                }
            }
            None => {
                d.map.insert(
                    key,
                    (
                        string(name.as_str()),
                        seq(SeqKind::Array, vec![string(value.as_str())]),
                    ),
                );
            }
        }
    }
    obj(Obj::Dict(shared(d)))
}

fn response_record(r: &ResponseData, body: &BodyHandle) -> Dynamic {
    record(
        "IResponse",
        vec![
            ("StatusCode", int(r.status as i32)),
            ("StatusReason", string(r.reason.as_str())),
            ("Headers", header_dict(&r.headers)),
            ("Body", body.dynamic()),
        ],
    )
}

/// Everything `context` is made of at one point of a request.
pub struct LiveParts<'a> {
    pub request: &'a RequestData,
    /// `None`: the request has no body (`context.Request.Body` is null).
    pub request_body: Option<&'a BodyHandle>,
    pub response: Option<(&'a ResponseData, &'a BodyHandle)>,
    pub variables: &'a Variables,
    pub last_error: Option<&'a LastErrorData>,
    pub info: &'a RequestInfo,
    pub elapsed_ms: i64,
    pub timestamp_ticks: i64,
    /// `context.Backend` (`Id`, `Type`), when a backend entity is in use.
    pub backend: Option<(&'a str, &'a str)>,
}

impl Context {
    /// The context of a running request.
    pub fn live(p: &LiveParts) -> Context {
        let url = url_record(&p.request.url).unwrap_or(Dynamic::UNIT);
        let original = url_record(&p.request.original_url).unwrap_or(Dynamic::UNIT);
        let mut params = Dict::new(true, "params");
        for (k, v) in &p.request.matched_parameters {
            let key = params.key(&string(k.as_str()));
            params
                .map
                .insert(key, (string(k.as_str()), string(v.as_str())));
        }
        let request = record(
            "IRequest",
            vec![
                ("Method", string(p.request.method.as_str())),
                ("Url", url),
                ("OriginalUrl", original),
                ("Headers", header_dict(&p.request.headers)),
                (
                    "Body",
                    p.request_body
                        .map(BodyHandle::dynamic)
                        .unwrap_or(Dynamic::UNIT),
                ),
                ("IpAddress", string(p.request.ip_address.as_str())),
                ("MatchedParameters", obj(Obj::Dict(shared(params)))),
                ("Certificate", Dynamic::UNIT),
                ("PrivateEndpointConnection", Dynamic::UNIT),
            ],
        );
        let response = match p.response {
            Some((r, b)) => response_record(r, b),
            None => Dynamic::UNIT,
        };
        let last_error = match p.last_error {
            Some(e) => record(
                "ILastError",
                vec![
                    ("Source", string(e.source.as_str())),
                    ("Reason", string(e.reason.as_str())),
                    ("Message", string(e.message.as_str())),
                    ("Scope", string(e.scope.as_str())),
                    ("Section", string(e.section.as_str())),
                    ("Path", string(e.path.as_str())),
                    ("PolicyId", string(e.policy_id.as_str())),
                ],
            ),
            None => Dynamic::UNIT,
        };
        let backend = match p.backend {
            Some((id, ty)) => record(
                "IBackend",
                vec![
                    ("Id", string(id)),
                    ("Type", string(ty)),
                    ("AzureRegion", Dynamic::UNIT),
                ],
            ),
            None => Dynamic::UNIT,
        };
        let mut fields = vec![
            ("Request", request),
            ("Response", response),
            ("Variables", p.variables.0.clone()),
            ("LastError", last_error),
        ];
        fields.extend(p.info.fields.iter().cloned());
        fields.extend([
            ("Workspace", Dynamic::UNIT),
            ("Backend", backend),
            ("Elapsed", obj(Obj::TimeSpan(p.elapsed_ms * 10_000))),
            ("RequestId", obj(Obj::Guid(p.info.request_id))),
            (
                "Timestamp",
                obj(Obj::DateTime(p.timestamp_ticks, DateKind::Utc)),
            ),
            ("Tracing", Dynamic::FALSE),
        ]);
        Context::from_dynamic(record("IContext", fields))
    }
}

impl Value {
    pub fn text(s: &str) -> Value {
        Value::from_dynamic(string(s))
    }

    pub fn bool(b: bool) -> Value {
        Value::from_dynamic(Dynamic::from_bool(b))
    }

    pub fn null() -> Value {
        Value::from_dynamic(Dynamic::UNIT)
    }

    /// A `Jwt` (what `AsJwt()` returns) of a token; `None` when it is not a well-formed JWT.
    pub fn jwt(token: &str) -> Option<Value> {
        crate::context::parse_jwt(token).map(Value::from_dynamic)
    }

    /// A JSON value as .NET sees it (integers `int`, objects JObject …).
    pub fn from_json(v: &serde_json::Value) -> Value {
        Value::from_dynamic(crate::context::clr_of_json(v).unwrap_or(Dynamic::UNIT))
    }

    /// An `IResponse` (what send-request stores in its variable).
    pub fn response(r: &ResponseData, body: &BodyHandle) -> Value {
        Value::from_dynamic(response_record(r, body))
    }

    /// The parts of an `IResponse` value (for `return-response response-variable-name`).
    pub fn as_response(&self) -> Option<(ResponseData, Option<BodyHandle>)> {
        let o = self.dynamic().read_lock::<Obj>()?.clone();
        let Obj::Record(r) = o else { return None };
        if r.ty != "IResponse" {
            return None;
        }
        let status = r
            .get("StatusCode")
            .and_then(|v| v.as_int().ok())
            .unwrap_or(200) as u16;
        let reason = r
            .get("StatusReason")
            .map(crate::runtime::to_display_string)
            .unwrap_or_default();
        let mut headers = Vec::new();
        if let Some(h) = r.get("Headers")
            && let Some(Obj::Dict(d)) = h.read_lock::<Obj>().map(|o| o.clone())
        {
            for (k, v) in d.lock().map.values() {
                let name = crate::runtime::to_display_string(k);
                match v.read_lock::<Obj>().map(|o| o.clone()) {
                    Some(Obj::Seq(_, items)) => {
                        for item in items.lock().iter() {
                            headers.push((name.clone(), crate::runtime::to_display_string(item)));
                        }
                    }
                    _ => headers.push((name.clone(), crate::runtime::to_display_string(v))),
                }
            }
        }
        let body = r
            .get("Body")
            .and_then(|b| match b.read_lock::<Obj>().map(|o| o.clone()) {
                Some(Obj::Body(s)) => Some(BodyHandle(s)),
                _ => None,
            });
        Some((
            ResponseData {
                status,
                reason,
                headers,
            },
            body,
        ))
    }
}
