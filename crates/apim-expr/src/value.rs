//! The .NET value model inside Rhai's `Dynamic`.
//!
//! C# `null` is Rhai `()`, `bool` is `bool`, `int` is Rhai's `INT` (always holding an `i32` value), `double` is
//! `FLOAT`, `char` is `char` and `string` is Rhai's immutable string. Everything else is an [`Obj`]. Reference
//! types that C# code can mutate (JObject, List, Dictionary, StringBuilder, arrays) are `Arc<Mutex<…>>` so that
//! copies of a value share state as .NET references do. Locks are held only for the duration of one primitive
//! operation and never while calling back into Rhai or locking another value, so they cannot deadlock.

use crate::json::JToken;
use indexmap::IndexMap;
use parking_lot::Mutex;
use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};
use std::sync::Arc;

pub type Res<T = Dynamic> = Result<T, Box<EvalAltResult>>;

/// A .NET exception thrown by an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    /// The exception type's simple name, `FormatException`.
    pub ty: String,
    pub message: String,
}

/// Throws a .NET exception from a native function; Rhai fills in the call position.
pub fn throw(ty: &str, message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(Obj::Exception(Arc::new(Exception {
            ty: ty.to_string(),
            message: message.into(),
        }))),
        Position::NONE,
    ))
}

pub fn null_ref() -> Box<EvalAltResult> {
    throw(
        "NullReferenceException",
        "Object reference not set to an instance of an object.",
    )
}

pub fn invalid_cast(from: &str, to: &str) -> Box<EvalAltResult> {
    throw(
        "InvalidCastException",
        format!("Unable to cast object of type '{from}' to type '{to}'."),
    )
}

pub fn format_error(message: &str) -> Box<EvalAltResult> {
    throw("FormatException", message)
}

pub fn arg_null(param: &str) -> Box<EvalAltResult> {
    throw(
        "ArgumentNullException",
        format!("Value cannot be null. (Parameter '{param}')"),
    )
}

pub fn arg_out_of_range(param: &str, message: &str) -> Box<EvalAltResult> {
    throw(
        "ArgumentOutOfRangeException",
        format!("{message} (Parameter '{param}')"),
    )
}

pub fn key_not_found(key: &str) -> Box<EvalAltResult> {
    throw(
        "KeyNotFoundException",
        format!("The given key '{key}' was not present in the dictionary."),
    )
}

pub fn index_out_of_range() -> Box<EvalAltResult> {
    throw(
        "IndexOutOfRangeException",
        "Index was outside the bounds of the array.",
    )
}

/// The most items a collection or characters a string built in one step may hold (what Rhai's own size
/// limits check after each call; these stop the allocation before it happens).
pub const MAX_ITEMS: i64 = 1 << 20;
pub const MAX_CHARS: i64 = 8 << 20;

/// Deviation: .NET would try (and maybe succeed); the sandbox stops a runaway allocation.
pub fn sandbox_limit(what: &str, n: i64) -> Box<EvalAltResult> {
    throw(
        "SandboxLimitExceeded",
        format!("{what} of {n} exceeds the sandbox limit"),
    )
}

pub fn not_implemented(what: impl std::fmt::Display) -> Box<EvalAltResult> {
    throw(
        "NotSupportedException",
        format!("apim-emu does not implement {what} yet"),
    )
}

/// Whether an error is [`not_implemented`]'s.
pub fn is_not_implemented(e: &EvalAltResult) -> bool {
    match e {
        EvalAltResult::ErrorRuntime(v, _) => v.read_lock::<Obj>().is_some_and(|o| {
            matches!(&*o, Obj::Exception(x) if x.ty == "NotSupportedException"
                && x.message.starts_with("apim-emu does not implement"))
        }),
        _ => false,
    }
}

/// The kind of a sequence value, which decides `Length` versus `Count` and how it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqKind {
    /// `T[]`
    Array,
    /// `List<T>`
    List,
    /// A LINQ result or another `IEnumerable<T>`.
    Enumerable,
    /// `HashSet<T>`
    Set,
}

pub type Shared<T> = Arc<Mutex<T>>;

pub fn shared<T>(v: T) -> Shared<T> {
    Arc::new(Mutex::new(v))
}

/// A dictionary key: .NET dictionaries here are keyed by strings (ordinal or case-insensitive) or integers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Str(String),
    Int(i64),
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Dict {
    pub case_insensitive: bool,
    /// What the dictionary stands for: `headers` and `query` join values with `,` in `GetValueOrDefault`,
    /// `variables` casts, anything else is a plain `Dictionary<K, V>`.
    pub flavour: &'static str,
    /// Normalised key → (original key, value).
    pub map: IndexMap<Key, (Dynamic, Dynamic)>,
}

impl Dict {
    pub fn new(case_insensitive: bool, flavour: &'static str) -> Self {
        Dict {
            case_insensitive,
            flavour,
            map: IndexMap::new(),
        }
    }

    pub fn key(&self, k: &Dynamic) -> Key {
        if let Some(s) = k.clone().try_cast::<ImmutableString>() {
            return Key::Str(if self.case_insensitive {
                s.to_lowercase()
            } else {
                s.to_string()
            });
        }
        if let Some(i) = k.clone().try_cast::<rhai::INT>() {
            return Key::Int(i);
        }
        Key::Other(crate::runtime::to_display_string(k))
    }
}

/// A record with a fixed set of named members: the parts of `context`, `Jwt`, `BasicAuthCredentials`,
/// anonymous objects.
#[derive(Debug, Clone)]
pub struct Record {
    /// The .NET type name shown in errors (`IRequest`).
    pub ty: &'static str,
    pub fields: Vec<(&'static str, Dynamic)>,
}

impl Record {
    pub fn get(&self, name: &str) -> Option<&Dynamic> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// `IMessageBody`: text that `As<T>()` consumes unless `preserveContent` is true.
#[derive(Debug, Clone)]
pub struct Body {
    pub text: Option<String>,
    pub consumed: bool,
}

/// A URL as APIM's `IUrl` exposes it.
#[derive(Debug, Clone)]
pub struct Url {
    pub scheme: String,
    pub host: String,
    pub port: i64,
    pub path: String,
    /// `?a=1&b=2` or empty.
    pub query_string: String,
    pub query: Dynamic,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct RegexMatch {
    pub success: bool,
    /// (name, success, index, value) of every group, group 0 first.
    pub groups: Vec<(String, bool, i64, String)>,
    pub regex: Option<Arc<fancy_regex::Regex>>,
    pub input: Arc<str>,
    pub next_at: usize,
}

/// Enum values of the .NET enums expressions use (`JTokenType.Null`, `StringComparison.OrdinalIgnoreCase`).
#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub ty: &'static str,
    pub name: &'static str,
    pub value: i64,
}

/// Everything that is not a Rhai-native value.
#[derive(Debug, Clone)]
pub enum Obj {
    Long(i64),
    Decimal(f64),
    Guid(u128),
    /// Ticks (100 ns since 0001-01-01) and whether the kind is UTC.
    DateTime(i64, DateKind),
    /// Local ticks and the offset in minutes.
    DateTimeOffset(i64, i32),
    /// Ticks.
    TimeSpan(i64),
    Uri(Arc<Url>),
    Json(JToken),
    Seq(SeqKind, Shared<Vec<Dynamic>>),
    Dict(Shared<Dict>),
    Bytes(Shared<Vec<u8>>),
    StringBuilder(Shared<String>),
    Regex(Arc<fancy_regex::Regex>),
    Match(Arc<RegexMatch>),
    Group(Arc<(String, bool, i64, String)>),
    Groups(Arc<RegexMatch>),
    Matches(Arc<Vec<Dynamic>>),
    Record(Arc<Record>),
    Body(Shared<Body>),
    KeyValue(Arc<(Dynamic, Dynamic)>),
    Enum(EnumValue),
    Encoding(&'static str),
    Random(Shared<u64>),
    Exception(Arc<Exception>),
    /// A `typeof(T)` value.
    Type(String),
    /// A .NET `Tuple`/`ValueTuple` of items.
    Tuple(Arc<Vec<Dynamic>>),
    /// LINQ to XML: documents, elements, attributes, names …
    Xml(crate::xml::Xml),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKind {
    Unspecified,
    Utc,
    Local,
}

impl Obj {
    /// The .NET type name of this value, as exceptions print it.
    pub fn type_name(&self) -> String {
        match self {
            Obj::Long(_) => "System.Int64".into(),
            Obj::Decimal(_) => "System.Decimal".into(),
            Obj::Guid(_) => "System.Guid".into(),
            Obj::DateTime(..) => "System.DateTime".into(),
            Obj::DateTimeOffset(..) => "System.DateTimeOffset".into(),
            Obj::TimeSpan(_) => "System.TimeSpan".into(),
            Obj::Uri(_) => "System.Uri".into(),
            Obj::Json(j) => j.type_name().into(),
            Obj::Seq(SeqKind::Array, _) => "System.Object[]".into(),
            Obj::Seq(SeqKind::List, _) => "System.Collections.Generic.List`1".into(),
            Obj::Seq(SeqKind::Set, _) => "System.Collections.Generic.HashSet`1".into(),
            Obj::Seq(SeqKind::Enumerable, _) => "System.Collections.Generic.IEnumerable`1".into(),
            Obj::Dict(_) => "System.Collections.Generic.Dictionary`2".into(),
            Obj::Bytes(_) => "System.Byte[]".into(),
            Obj::StringBuilder(_) => "System.Text.StringBuilder".into(),
            Obj::Regex(_) => "System.Text.RegularExpressions.Regex".into(),
            Obj::Match(_) => "System.Text.RegularExpressions.Match".into(),
            Obj::Group(_) => "System.Text.RegularExpressions.Group".into(),
            Obj::Groups(_) => "System.Text.RegularExpressions.GroupCollection".into(),
            Obj::Matches(_) => "System.Text.RegularExpressions.MatchCollection".into(),
            Obj::Record(r) => r.ty.into(),
            Obj::Body(_) => "IMessageBody".into(),
            Obj::KeyValue(_) => "System.Collections.Generic.KeyValuePair`2".into(),
            Obj::Enum(e) => e.ty.into(),
            Obj::Encoding(_) => "System.Text.Encoding".into(),
            Obj::Random(_) => "System.Random".into(),
            Obj::Exception(e) => format!("System.{}", e.ty),
            Obj::Type(_) => "System.Type".into(),
            Obj::Tuple(_) => "System.Tuple".into(),
            Obj::Xml(x) => x.type_name().into(),
        }
    }
}

/// `Environment.NewLine` of the gateway, used by `StringBuilder.AppendLine` and by LINQ to XML's indented
/// `ToString()`. Deviation: the gateway's runtime is not documented; apim-emu follows the Windows-hosted managed
/// gateway (`\r\n`), while a Linux runtime (the self-hosted gateway, the C# oracle) writes `\n`.
pub const NEWLINE: &str = "\r\n";

pub fn obj(o: Obj) -> Dynamic {
    Dynamic::from(o)
}

pub fn long(v: i64) -> Dynamic {
    obj(Obj::Long(v))
}

pub fn int(v: i32) -> Dynamic {
    Dynamic::from_int(v as rhai::INT)
}

pub fn string(s: impl Into<ImmutableString>) -> Dynamic {
    Dynamic::from(s.into())
}

pub fn seq(kind: SeqKind, items: Vec<Dynamic>) -> Dynamic {
    obj(Obj::Seq(kind, shared(items)))
}

pub fn json(j: JToken) -> Dynamic {
    obj(Obj::Json(j))
}

pub fn record(ty: &'static str, fields: Vec<(&'static str, Dynamic)>) -> Dynamic {
    obj(Obj::Record(Arc::new(Record { ty, fields })))
}

pub fn enum_value(ty: &'static str, name: &'static str, value: i64) -> Dynamic {
    obj(Obj::Enum(EnumValue { ty, name, value }))
}
