//! Types by name: resolution of C# type names (keywords, short names under the implicit usings, full names),
//! APIM's allow-list, static members and constructors.

use crate::format::{self, TICKS_PER_SECOND};
use crate::json::{self, JToken, JValue};
use crate::members::*;
use crate::runtime::*;
use crate::value::*;
use base64::Engine as _;
use rhai::{Dynamic, ImmutableString, NativeCallContext};
use std::sync::Arc;

/// Whether APIM lets expressions use a type (reference 04 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Every member.
    All,
    /// Only the listed members (System.DateTime, System.Enum).
    Only(&'static [&'static str]),
    /// Every member but the listed ones.
    Except(&'static [&'static str]),
    /// Not usable at all.
    No,
}

/// Azure: `System.DateTime` members allowed in expressions (reference 04 §3, "Allowed .NET types").
const DATETIME_MEMBERS: &[&str] = &[
    "Add",
    "AddDays",
    "AddHours",
    "AddMilliseconds",
    "AddMinutes",
    "AddMonths",
    "AddSeconds",
    "AddTicks",
    "AddYears",
    "Date",
    "Day",
    "DayOfWeek",
    "DayOfYear",
    "DaysInMonth",
    "Hour",
    "IsDaylightSavingTime",
    "IsLeapYear",
    "MaxValue",
    "Millisecond",
    "Minute",
    "MinValue",
    "Month",
    "Now",
    "Parse",
    "Second",
    "Subtract",
    "Ticks",
    "TimeOfDay",
    "Today",
    "ToString",
    "UtcNow",
    "Year",
    "Equals",
    "GetHashCode",
    "GetType",
    "CompareTo",
];

/// Known types: canonical name, allow-list status. Short names resolve through the implicit usings below.
pub const TYPES: &[(&str, Allowed)] = &[
    ("System.Object", Allowed::All),
    ("System.String", Allowed::All),
    ("System.Boolean", Allowed::All),
    ("System.Char", Allowed::All),
    ("System.Byte", Allowed::All),
    ("System.SByte", Allowed::All),
    ("System.Int16", Allowed::All),
    ("System.UInt16", Allowed::All),
    ("System.Int32", Allowed::All),
    ("System.UInt32", Allowed::All),
    ("System.Int64", Allowed::All),
    ("System.UInt64", Allowed::All),
    ("System.Single", Allowed::All),
    ("System.Double", Allowed::All),
    ("System.Decimal", Allowed::All),
    ("System.Math", Allowed::All),
    ("System.Convert", Allowed::All),
    ("System.Guid", Allowed::All),
    ("System.TimeSpan", Allowed::All),
    ("System.DateTime", Allowed::Only(DATETIME_MEMBERS)),
    ("System.DateTimeOffset", Allowed::All),
    ("System.DateTimeKind", Allowed::All),
    ("System.DayOfWeek", Allowed::All),
    ("System.Uri", Allowed::All),
    ("System.UriPartial", Allowed::All),
    ("System.Array", Allowed::All),
    ("System.Random", Allowed::All),
    ("System.Tuple", Allowed::All),
    ("System.Exception", Allowed::All),
    ("System.StringComparison", Allowed::All),
    ("System.StringComparer", Allowed::All),
    ("System.StringSplitOptions", Allowed::All),
    ("System.MidpointRounding", Allowed::All),
    ("System.BitConverter", Allowed::All),
    ("System.Nullable", Allowed::All),
    (
        "System.Enum",
        Allowed::Only(&["Parse", "TryParse", "ToString"]),
    ),
    ("System.Collections.Generic.List", Allowed::All),
    ("System.Collections.Generic.Dictionary", Allowed::All),
    ("System.Collections.Generic.HashSet", Allowed::All),
    ("System.Collections.Generic.KeyValuePair", Allowed::All),
    ("System.Collections.Generic.IEnumerable", Allowed::All),
    ("System.Collections.Generic.IList", Allowed::All),
    ("System.Collections.Generic.ICollection", Allowed::All),
    ("System.Collections.Generic.IDictionary", Allowed::All),
    (
        "System.Collections.Generic.IReadOnlyDictionary",
        Allowed::All,
    ),
    (
        "System.Collections.Generic.IReadOnlyCollection",
        Allowed::All,
    ),
    ("System.Collections.Generic.Queue", Allowed::All),
    ("System.Collections.Generic.Stack", Allowed::All),
    ("System.Linq.Enumerable", Allowed::All),
    ("System.Text.Encoding", Allowed::All),
    ("System.Text.StringBuilder", Allowed::All),
    ("System.Text.RegularExpressions.Regex", Allowed::All),
    ("System.Text.RegularExpressions.RegexOptions", Allowed::All),
    ("System.Text.RegularExpressions.Match", Allowed::All),
    ("System.Text.RegularExpressions.Group", Allowed::All),
    ("System.Net.WebUtility", Allowed::All),
    ("System.Net.IPAddress", Allowed::All),
    (
        "System.Security.Cryptography.AsymmetricAlgorithm",
        Allowed::All,
    ),
    ("System.Security.Cryptography.CipherMode", Allowed::All),
    ("System.Security.Cryptography.HashAlgorithm", Allowed::All),
    (
        "System.Security.Cryptography.HashAlgorithmName",
        Allowed::All,
    ),
    ("System.Security.Cryptography.HMAC", Allowed::All),
    ("System.Security.Cryptography.HMACMD5", Allowed::All),
    ("System.Security.Cryptography.HMACSHA1", Allowed::All),
    ("System.Security.Cryptography.HMACSHA256", Allowed::All),
    ("System.Security.Cryptography.HMACSHA384", Allowed::All),
    ("System.Security.Cryptography.HMACSHA512", Allowed::All),
    (
        "System.Security.Cryptography.KeyedHashAlgorithm",
        Allowed::All,
    ),
    ("System.Security.Cryptography.MD5", Allowed::All),
    (
        "System.Security.Cryptography.MD5CryptoServiceProvider",
        Allowed::All,
    ),
    ("System.Security.Cryptography.Oid", Allowed::All),
    ("System.Security.Cryptography.PaddingMode", Allowed::All),
    (
        "System.Security.Cryptography.RNGCryptoServiceProvider",
        Allowed::All,
    ),
    ("System.Security.Cryptography.RSA", Allowed::All),
    (
        "System.Security.Cryptography.RSAEncryptionPadding",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.RSASignaturePadding",
        Allowed::All,
    ),
    ("System.Security.Cryptography.SHA1", Allowed::All),
    ("System.Security.Cryptography.SHA1Managed", Allowed::All),
    ("System.Security.Cryptography.SHA256", Allowed::All),
    ("System.Security.Cryptography.SHA256Managed", Allowed::All),
    ("System.Security.Cryptography.SHA384", Allowed::All),
    ("System.Security.Cryptography.SHA384Managed", Allowed::All),
    ("System.Security.Cryptography.SHA512", Allowed::All),
    ("System.Security.Cryptography.SHA512Managed", Allowed::All),
    (
        "System.Security.Cryptography.SymmetricAlgorithm",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.PublicKey",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.RSACertificateExtensions",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.X500DistinguishedName",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.X509Certificate",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.X509Certificate2",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.X509ContentType",
        Allowed::All,
    ),
    (
        "System.Security.Cryptography.X509Certificates.X509NameType",
        Allowed::All,
    ),
    ("System.Xml.Linq.Extensions", Allowed::All),
    ("System.Xml.Linq.XAttribute", Allowed::All),
    ("System.Xml.Linq.XCData", Allowed::All),
    ("System.Xml.Linq.XComment", Allowed::All),
    ("System.Xml.Linq.XContainer", Allowed::All),
    ("System.Xml.Linq.XDeclaration", Allowed::All),
    ("System.Xml.Linq.XDocumentType", Allowed::All),
    ("System.Xml.Linq.XElement", Allowed::All),
    ("System.Xml.Linq.XName", Allowed::All),
    ("System.Xml.Linq.XNamespace", Allowed::All),
    ("System.Xml.Linq.XNode", Allowed::All),
    ("System.Xml.Linq.XNodeDocumentOrderComparer", Allowed::All),
    ("System.Xml.Linq.XNodeEqualityComparer", Allowed::All),
    ("System.Xml.Linq.XObject", Allowed::All),
    ("System.Xml.Linq.XProcessingInstruction", Allowed::All),
    ("System.Xml.Linq.XText", Allowed::All),
    // Azure: XDocument "all except Load".
    ("System.Xml.Linq.XDocument", Allowed::Except(&["Load"])),
    ("System.Xml.XmlNodeType", Allowed::All),
    ("System.IO.StringReader", Allowed::All),
    ("System.IO.StringWriter", Allowed::All),
    ("System.TimeZone", Allowed::All),
    ("System.TimeZoneInfo", Allowed::All),
    ("System.Collections.Generic.ISet", Allowed::All),
    ("System.Collections.Generic.IEnumerator", Allowed::All),
    (
        "System.Text.RegularExpressions.GroupCollection",
        Allowed::All,
    ),
    (
        "System.Text.RegularExpressions.CaptureCollection",
        Allowed::All,
    ),
    ("System.Text.RegularExpressions.Capture", Allowed::All),
    (
        "System.Text.RegularExpressions.MatchCollection",
        Allowed::All,
    ),
    ("Newtonsoft.Json.Linq.JConstructor", Allowed::All),
    ("Newtonsoft.Json.Linq.JRaw", Allowed::All),
    ("Newtonsoft.Json.Linq.Extensions", Allowed::All),
    (
        "Newtonsoft.Json.JsonConvert",
        Allowed::Only(&["SerializeObject", "DeserializeObject"]),
    ),
    ("Newtonsoft.Json.Formatting", Allowed::All),
    ("Newtonsoft.Json.Linq.JToken", Allowed::All),
    ("Newtonsoft.Json.Linq.JObject", Allowed::All),
    ("Newtonsoft.Json.Linq.JArray", Allowed::All),
    ("Newtonsoft.Json.Linq.JValue", Allowed::All),
    ("Newtonsoft.Json.Linq.JProperty", Allowed::All),
    ("Newtonsoft.Json.Linq.JContainer", Allowed::All),
    ("Newtonsoft.Json.Linq.JTokenType", Allowed::All),
    // APIM's own interfaces (castable).
    ("IResponse", Allowed::All),
    ("IRequest", Allowed::All),
    ("IMessageBody", Allowed::All),
    ("IUrl", Allowed::All),
    ("Jwt", Allowed::All),
    ("BasicAuthCredentials", Allowed::All),
    ("Authorization", Allowed::All),
    ("IContext", Allowed::All),
    // Refused by APIM: a located load-time error names them.
    ("System.IO.File", Allowed::No),
    ("System.IO.Directory", Allowed::No),
    ("System.IO.Path", Allowed::No),
    ("System.Environment", Allowed::No),
    ("System.Console", Allowed::No),
    ("System.Activator", Allowed::No),
    ("System.AppDomain", Allowed::No),
    ("System.Type", Allowed::No),
    ("System.Diagnostics.Process", Allowed::No),
    ("System.Threading.Thread", Allowed::No),
    ("System.Threading.Tasks.Task", Allowed::No),
    ("System.Net.Http.HttpClient", Allowed::No),
    ("System.Net.WebClient", Allowed::No),
    ("System.Globalization.CultureInfo", Allowed::No),
    ("System.Reflection.Assembly", Allowed::No),
    ("System.GC", Allowed::No),
];

const USINGS: &[&str] = &[
    "System.",
    "System.Collections.Generic.",
    "System.Linq.",
    "System.Text.",
    "System.Text.RegularExpressions.",
    "System.Xml.Linq.",
    "System.Net.",
    "System.Security.Cryptography.",
    "System.Security.Cryptography.X509Certificates.",
    "System.Xml.",
    "System.IO.",
    "System.Threading.",
    "System.Threading.Tasks.",
    "System.Globalization.",
    "System.Reflection.",
    "System.Diagnostics.",
    "System.Net.Http.",
    "Newtonsoft.Json.",
    "Newtonsoft.Json.Linq.",
];

/// The canonical name of a C# type name as written (`string`, `String`, `System.String` → `System.String`).
pub fn resolve_type(name: &str) -> Option<&'static str> {
    let alias = match name {
        "string" => "System.String",
        "object" => "System.Object",
        "bool" => "System.Boolean",
        "char" => "System.Char",
        "byte" => "System.Byte",
        "sbyte" => "System.SByte",
        "short" => "System.Int16",
        "ushort" => "System.UInt16",
        "int" => "System.Int32",
        "uint" => "System.UInt32",
        "long" => "System.Int64",
        "ulong" => "System.UInt64",
        "float" => "System.Single",
        "double" => "System.Double",
        "decimal" => "System.Decimal",
        _ => "",
    };
    if !alias.is_empty() {
        return TYPES.iter().find(|(n, _)| *n == alias).map(|(n, _)| *n);
    }
    if let Some((n, _)) = TYPES.iter().find(|(n, _)| *n == name) {
        return Some(n);
    }
    for u in USINGS {
        if let Some((n, _)) = TYPES.iter().find(|(n, _)| n.strip_prefix(u) == Some(name)) {
            return Some(n);
        }
    }
    None
}

pub fn allowed(canonical: &str) -> Allowed {
    TYPES
        .iter()
        .find(|(n, _)| *n == canonical)
        .map(|(_, a)| *a)
        .unwrap_or(Allowed::No)
}

/// Whether a dotted name could name a namespace (so `System.Text` is a prefix, not an unknown variable).
pub fn is_namespace_prefix(name: &str) -> bool {
    let with_dot = format!("{name}.");
    TYPES.iter().any(|(n, _)| n.starts_with(&with_dot))
        || USINGS.iter().any(|u| u.starts_with(&with_dot))
}

/// `Dictionary<string, int>` → `int` etc.: the last generic argument in a canonical generic name.
pub fn generic_arg(name: &str) -> Option<&str> {
    let open = name.find('<')?;
    let inner = &name[open + 1..name.len().checked_sub(1)?];
    Some(inner.rsplit(',').next().map(str::trim).unwrap_or(inner))
}

/// The canonical type name of a run-time value (for generic inference from a default value).
pub fn canonical_runtime_type(v: &Dynamic) -> String {
    match kind(v) {
        K::Str(_) => "System.String".into(),
        K::Int(_) => "System.Int32".into(),
        K::Bool(_) => "System.Boolean".into(),
        K::Double(_) => "System.Double".into(),
        K::Char(_) => "System.Char".into(),
        K::Obj(Obj::Long(_)) => "System.Int64".into(),
        K::Obj(Obj::Json(j)) => j.type_name().into(),
        _ => "System.Object".into(),
    }
}

/// `default(T)`.
pub fn default_of(ty: &str) -> Dynamic {
    match ty.trim_end_matches('?') {
        _ if ty.ends_with('?') => Dynamic::UNIT,
        "System.Int32" | "System.Int16" | "System.Byte" | "System.SByte" | "System.UInt16" => {
            int(0)
        }
        "System.Int64" | "System.UInt32" | "System.UInt64" => long(0),
        "System.Double" | "System.Single" => Dynamic::from_float(0.0),
        "System.Decimal" => obj(Obj::Decimal(0.0)),
        "System.Boolean" => Dynamic::FALSE,
        "System.Char" => Dynamic::from_char('\0'),
        "System.Guid" => obj(Obj::Guid(0)),
        "System.DateTime" => obj(Obj::DateTime(0, DateKind::Unspecified)),
        "System.TimeSpan" => obj(Obj::TimeSpan(0)),
        _ => Dynamic::UNIT,
    }
}

fn arg(args: &[Dynamic], i: usize) -> Dynamic {
    args.get(i).cloned().unwrap_or(Dynamic::UNIT)
}

/// Enum members by type short name.
pub fn enum_member(ty: &str, name: &str) -> Option<Dynamic> {
    let table: &[(&'static str, i64)] = match ty {
        "JTokenType" => json::TOKEN_TYPES,
        "StringComparison" => &[
            ("CurrentCulture", 0),
            ("CurrentCultureIgnoreCase", 1),
            ("InvariantCulture", 2),
            ("InvariantCultureIgnoreCase", 3),
            ("Ordinal", 4),
            ("OrdinalIgnoreCase", 5),
        ],
        "StringSplitOptions" => &[("None", 0), ("RemoveEmptyEntries", 1), ("TrimEntries", 2)],
        "Formatting" => &[("None", 0), ("Indented", 1)],
        "RegexOptions" => &[
            ("None", 0),
            ("IgnoreCase", 1),
            ("Multiline", 2),
            ("ExplicitCapture", 4),
            ("Compiled", 8),
            ("Singleline", 16),
            ("IgnorePatternWhitespace", 32),
            ("RightToLeft", 64),
            ("ECMAScript", 256),
            ("CultureInvariant", 512),
        ],
        "DateTimeKind" => &[("Unspecified", 0), ("Utc", 1), ("Local", 2)],
        "UriPartial" => &[("Scheme", 0), ("Authority", 1), ("Path", 2), ("Query", 3)],
        "MidpointRounding" => &[
            ("ToEven", 0),
            ("AwayFromZero", 1),
            ("ToZero", 2),
            ("ToNegativeInfinity", 3),
            ("ToPositiveInfinity", 4),
        ],
        "DayOfWeek" => &[
            ("Sunday", 0),
            ("Monday", 1),
            ("Tuesday", 2),
            ("Wednesday", 3),
            ("Thursday", 4),
            ("Friday", 5),
            ("Saturday", 6),
        ],
        _ => return None,
    };
    let ty: &'static str = match ty {
        "JTokenType" => "JTokenType",
        "StringComparison" => "StringComparison",
        "StringSplitOptions" => "StringSplitOptions",
        "Formatting" => "Formatting",
        "RegexOptions" => "RegexOptions",
        "DateTimeKind" => "DateTimeKind",
        "UriPartial" => "UriPartial",
        "MidpointRounding" => "MidpointRounding",
        _ => "DayOfWeek",
    };
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, v)| enum_value(ty, n, *v))
}

fn short(ty: &str) -> &str {
    ty.rsplit('.').next().unwrap_or(ty)
}

/// The clock and seed an evaluation sees; `eval` and the gateway set them, tests fix them.
pub fn now_ticks() -> i64 {
    crate::context::clock_ticks()
}

/// `Type.Name` (static property or field).
pub fn static_get(ty: &str, name: &str) -> Res {
    if let Some(e) = enum_member(short(ty), name) {
        return Ok(e);
    }
    if let Some(ns) = crate::xml::static_get(ty, name) {
        return Ok(ns);
    }
    Ok(match (ty, name) {
        ("System.String", "Empty") => string(""),
        ("System.Int32", "MaxValue") => int(i32::MAX),
        ("System.Int32", "MinValue") => int(i32::MIN),
        ("System.Int64", "MaxValue") => long(i64::MAX),
        ("System.Int64", "MinValue") => long(i64::MIN),
        ("System.Double", "MaxValue") => Dynamic::from_float(f64::MAX),
        ("System.Double", "MinValue") => Dynamic::from_float(f64::MIN),
        ("System.Double", "NaN") => Dynamic::from_float(f64::NAN),
        ("System.Double", "PositiveInfinity") => Dynamic::from_float(f64::INFINITY),
        ("System.Double", "NegativeInfinity") => Dynamic::from_float(f64::NEG_INFINITY),
        ("System.Double", "Epsilon") => Dynamic::from_float(4.94065645841247E-324),
        ("System.Math", "PI") => Dynamic::from_float(std::f64::consts::PI),
        ("System.Math", "E") => Dynamic::from_float(std::f64::consts::E),
        ("System.DateTime", "UtcNow") => obj(Obj::DateTime(now_ticks(), DateKind::Utc)),
        // Deviation: apim-emu's local time zone is UTC, so Now equals UtcNow (with kind Local).
        ("System.DateTime", "Now") => obj(Obj::DateTime(now_ticks(), DateKind::Local)),
        ("System.DateTime", "Today") => {
            let t = now_ticks();
            obj(Obj::DateTime(
                t - t % format::TICKS_PER_DAY,
                DateKind::Local,
            ))
        }
        ("System.DateTime", "MinValue") => obj(Obj::DateTime(0, DateKind::Unspecified)),
        ("System.DateTime", "MaxValue") => {
            obj(Obj::DateTime(format::MAX_TICKS, DateKind::Unspecified))
        }
        ("System.DateTimeOffset", "UtcNow" | "Now") => obj(Obj::DateTimeOffset(now_ticks(), 0)),
        ("System.DateTimeOffset", "MinValue") => obj(Obj::DateTimeOffset(0, 0)),
        ("System.DateTimeOffset", "MaxValue") => obj(Obj::DateTimeOffset(format::MAX_TICKS, 0)),
        ("System.DateTimeOffset", "UnixEpoch") | ("System.DateTime", "UnixEpoch") => {
            obj(Obj::DateTimeOffset(format::UNIX_EPOCH_TICKS, 0))
        }
        ("System.TimeSpan", "Zero") => obj(Obj::TimeSpan(0)),
        ("System.TimeSpan", "MaxValue") => obj(Obj::TimeSpan(i64::MAX)),
        ("System.TimeSpan", "MinValue") => obj(Obj::TimeSpan(i64::MIN)),
        ("System.Guid", "Empty") => obj(Obj::Guid(0)),
        (
            "System.Text.Encoding",
            "UTF8" | "ASCII" | "Unicode" | "BigEndianUnicode" | "Latin1" | "Default" | "UTF32",
        ) => obj(Obj::Encoding(match name {
            "UTF8" | "Default" => "UTF8",
            "ASCII" => "ASCII",
            "Unicode" => "Unicode",
            "BigEndianUnicode" => "BigEndianUnicode",
            "UTF32" => "UTF32",
            _ => "Latin1",
        })),
        (
            "System.StringComparer",
            "OrdinalIgnoreCase" | "InvariantCultureIgnoreCase" | "CurrentCultureIgnoreCase",
        ) => enum_value("StringComparer", "OrdinalIgnoreCase", 1),
        ("System.StringComparer", "Ordinal" | "InvariantCulture" | "CurrentCulture") => {
            enum_value("StringComparer", "Ordinal", 0)
        }
        ("System.Text.RegularExpressions.Match", "Empty") => {
            obj(Obj::Match(Arc::new(RegexMatch {
                success: false,
                groups: vec![(String::from("0"), false, 0, String::new())],
                regex: None,
                input: Arc::from(""),
                next_at: 0,
            })))
        }
        _ => return Err(not_implemented(format!("'{ty}.{name}'"))),
    })
}

fn b64_decode(s: &str) -> Res<Vec<u8>> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()).map_err(|_| {
        format_error("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
    })
}

fn escape_data(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape_data(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn web_url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-_.!*()".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html_encode(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// .NET regex syntax on `fancy-regex`, with RegexOptions.
pub fn make_regex(pattern: &str, options: i64) -> Res<Arc<fancy_regex::Regex>> {
    let mut flags = String::new();
    if options & 1 != 0 {
        flags.push('i');
    }
    if options & 2 != 0 {
        flags.push('m');
    }
    if options & 16 != 0 {
        flags.push('s');
    }
    if options & 32 != 0 {
        flags.push('x');
    }
    let full = if flags.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{flags}){pattern}")
    };
    fancy_regex::RegexBuilder::new(&full)
        .backtrack_limit(100_000)
        .build()
        .map(Arc::new)
        .map_err(|e| {
            throw(
                "ArgumentException",
                format!("Invalid pattern '{pattern}': {e}"),
            )
        })
}

fn regex_options(v: &Dynamic) -> i64 {
    match kind(v) {
        K::Obj(Obj::Enum(e)) => e.value,
        K::Int(i) => i as i64,
        _ => 0,
    }
}

pub fn regex_match_at(re: Option<Arc<fancy_regex::Regex>>, input: &str, at: usize) -> Res {
    let empty = || {
        obj(Obj::Match(Arc::new(RegexMatch {
            success: false,
            groups: vec![("0".into(), false, 0, String::new())],
            regex: None,
            input: Arc::from(""),
            next_at: 0,
        })))
    };
    let Some(re) = re else { return Ok(empty()) };
    if at > input.len() {
        return Ok(empty());
    }
    let caps = re
        .captures_from_pos(input, at)
        .map_err(|e| throw("RegexMatchTimeoutException", e.to_string()))?;
    let Some(caps) = caps else { return Ok(empty()) };
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut groups = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let label = name.map(str::to_string).unwrap_or_else(|| i.to_string());
        match caps.get(i) {
            Some(m) => groups.push((
                label,
                true,
                input[..m.start()].encode_utf16().count() as i64,
                m.as_str().to_string(),
            )),
            None => groups.push((label, false, 0, String::new())),
        }
    }
    let whole = caps
        .get(0)
        .map(|m| (m.start(), m.end()))
        .unwrap_or((at, at));
    let next_at = if whole.1 == whole.0 {
        whole.1 + input[whole.1..].chars().next().map_or(1, char::len_utf8)
    } else {
        whole.1
    };
    Ok(obj(Obj::Match(Arc::new(RegexMatch {
        success: true,
        groups,
        regex: Some(re),
        input: Arc::from(input),
        next_at,
    }))))
}

fn regex_op(
    re: Arc<fancy_regex::Regex>,
    op: &str,
    input: &str,
    args: &[Dynamic],
    ctx: &NativeCallContext,
) -> Res {
    Ok(match op {
        "IsMatch" => Dynamic::from_bool(
            re.is_match(input)
                .map_err(|e| throw("RegexMatchTimeoutException", e.to_string()))?,
        ),
        "Match" => regex_match_at(Some(re), input, 0)?,
        "Matches" => {
            let mut out = Vec::new();
            let mut at = 0;
            loop {
                let m = regex_match_at(Some(re.clone()), input, at)?;
                let (ok, next) = match m.read_lock::<Obj>().as_deref() {
                    Some(Obj::Match(mm)) => (mm.success, mm.next_at),
                    _ => (false, 0),
                };
                if !ok || out.len() > 100_000 {
                    break;
                }
                out.push(m);
                at = next;
            }
            obj(Obj::Matches(Arc::new(out)))
        }
        "Replace" => {
            let replacement = arg(args, 0);
            let mut out = String::new();
            let mut last = 0;
            let mut at = 0;
            loop {
                let m = regex_match_at(Some(re.clone()), input, at)?;
                let mm = match m.read_lock::<Obj>().as_deref() {
                    Some(Obj::Match(mm)) if mm.success => mm.clone(),
                    _ => break,
                };
                let g0 = &mm.groups[0];
                let start = byte_of_utf16(input, g0.2 as usize);
                out.push_str(&input[last..start]);
                if replacement.is::<rhai::FnPtr>() {
                    let fp = replacement.read_lock::<rhai::FnPtr>().map(|f| f.clone());
                    if let Some(fp) = fp {
                        let r: Dynamic = fp.call_within_context(ctx, (m.clone(),))?;
                        out.push_str(&to_display_string(&r));
                    }
                } else {
                    out.push_str(&expand_replacement(
                        &string_arg(&replacement, "replacement")?,
                        &mm.groups,
                    ));
                }
                last = start + g0.3.len();
                at = mm.next_at;
                if at > input.len() {
                    break;
                }
            }
            out.push_str(&input[last.min(input.len())..]);
            string(out)
        }
        "Split" => {
            let mut parts = Vec::new();
            let mut last = 0;
            for m in re.find_iter(input) {
                let m = m.map_err(|e| throw("RegexMatchTimeoutException", e.to_string()))?;
                parts.push(string(&input[last..m.start()]));
                last = m.end();
            }
            parts.push(string(&input[last..]));
            seq(SeqKind::Array, parts)
        }
        _ => return Err(not_implemented(format!("Regex.{op}"))),
    })
}

fn byte_of_utf16(s: &str, units: usize) -> usize {
    if s.is_ascii() {
        return units.min(s.len());
    }
    let mut n = 0;
    for (b, c) in s.char_indices() {
        if n >= units {
            return b;
        }
        n += c.len_utf16();
    }
    s.len()
}

/// `string.Format` with `{0}`, `{0,5}`, `{0:N2}` and `{{`/`}}`.
pub fn string_format(format: &str, args: &[Dynamic]) -> Res<String> {
    let args: Vec<Dynamic> =
        if args.len() == 1 && matches!(kind(&args[0]), K::Obj(Obj::Seq(SeqKind::Array, _))) {
            items(&args[0])?
        } else {
            args.to_vec()
        };
    let bad = || format_error("Input string was not in a correct format.");
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                out.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                out.push('}');
                i += 2;
            }
            '{' => {
                let end = chars[i..].iter().position(|c| *c == '}').ok_or_else(bad)? + i;
                let spec: String = chars[i + 1..end].iter().collect();
                let (head, fmt) = spec.split_once(':').unwrap_or((&spec, ""));
                let (idx, align) = head
                    .split_once(',')
                    .map(|(a, b)| (a, Some(b)))
                    .unwrap_or((head, None));
                let idx: usize = idx.trim().parse().map_err(|_| bad())?;
                let v = args.get(idx).ok_or_else(|| format_error("Index (zero based) must be greater than or equal to zero and less than the size of the argument list."))?;
                let text = to_string_fmt(v, fmt)?;
                out.push_str(&align_text(text, align.and_then(|a| a.trim().parse().ok())));
                i = end + 1;
            }
            '}' => return Err(bad()),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

pub fn align_text(text: String, align: Option<i32>) -> String {
    match align {
        Some(w) if w > 0 && (w as usize) > text.chars().count() => {
            format!("{}{}", " ".repeat(w as usize - text.chars().count()), text)
        }
        Some(w) if w < 0 && ((-w) as usize) > text.chars().count() => format!(
            "{}{}",
            text,
            " ".repeat((-w) as usize - text.chars().count())
        ),
        _ => text,
    }
}

fn try_parse(r: Res) -> Dynamic {
    match r {
        Ok(v) => seq(SeqKind::Array, vec![Dynamic::TRUE, v]),
        Err(_) => seq(SeqKind::Array, vec![Dynamic::FALSE, Dynamic::UNIT]),
    }
}

fn try_parse_default(r: Res, default: Dynamic) -> Dynamic {
    match r {
        Ok(v) => seq(SeqKind::Array, vec![Dynamic::TRUE, v]),
        Err(_) => seq(SeqKind::Array, vec![Dynamic::FALSE, default]),
    }
}

fn round_to(x: f64, digits: i64, away: bool) -> f64 {
    let factor = 10f64.powi(digits as i32);
    let scaled = x * factor;
    let r = if away {
        scaled.round()
    } else {
        round_even(scaled)
    };
    r / factor
}

fn math(name: &str, args: &[Dynamic]) -> Res {
    let a = |i| arg(args, i);
    Ok(match name {
        "Max" | "Min" => {
            let (x, y) = (a(0), a(1));
            let o = order(&x, &y);
            let pick_x = if name == "Max" { o.is_ge() } else { o.is_le() };
            let (x, y) = (num(&x), num(&y));
            let (Some(xn), Some(yn)) = (x, y) else {
                return Err(arg_null("val"));
            };
            // Promote to the common type, as overload resolution does.
            let (xs, ys) = (from_n(xn), from_n(yn));
            let pair = add(int(0), xs.clone()).map(|_| ());
            let _ = pair;
            let promoted = |v: Dynamic| -> Res {
                match (num(&v), xn, yn) {
                    (Some(N::I(i)), N::D(_), _) | (Some(N::I(i)), _, N::D(_)) => {
                        Ok(Dynamic::from_float(i as f64))
                    }
                    (Some(N::L(i)), N::D(_), _) | (Some(N::L(i)), _, N::D(_)) => {
                        Ok(Dynamic::from_float(i as f64))
                    }
                    (Some(N::I(i)), N::L(_), _) | (Some(N::I(i)), _, N::L(_)) => Ok(long(i as i64)),
                    _ => Ok(v),
                }
            };
            promoted(if pick_x { xs } else { ys })?
        }
        "Abs" => match num(&a(0)) {
            Some(N::I(i)) => {
                if i == i32::MIN {
                    return Err(throw(
                        "OverflowException",
                        "Negating the minimum value of a twos complement number is invalid.",
                    ));
                }
                int(i.abs())
            }
            Some(N::L(l)) => long(l.abs()),
            Some(N::D(d)) => Dynamic::from_float(d.abs()),
            Some(N::M(d)) => obj(Obj::Decimal(d.abs())),
            None => return Err(arg_null("value")),
        },
        "Sign" => int(match num(&a(0)) {
            Some(N::I(i)) => i.signum(),
            Some(N::L(l)) => l.signum() as i32,
            Some(N::D(d) | N::M(d)) => {
                if d.is_nan() {
                    return Err(throw(
                        "ArithmeticException",
                        "Function does not accept floating point Not-a-Number values.",
                    ));
                }
                if d > 0.0 {
                    1
                } else if d < 0.0 {
                    -1
                } else {
                    0
                }
            }
            None => 0,
        }),
        "Round" => {
            let x = f64_of(&a(0))?;
            let mut digits = 0;
            let mut away = false;
            for extra in &args[1.min(args.len())..] {
                match kind(extra) {
                    K::Int(d) => digits = d as i64,
                    K::Obj(Obj::Enum(e)) => away = e.name == "AwayFromZero",
                    _ => {}
                }
            }
            let r = round_to(x, digits, away);
            if matches!(num(&a(0)), Some(N::M(_))) {
                obj(Obj::Decimal(r))
            } else {
                Dynamic::from_float(r)
            }
        }
        "Floor" | "Ceiling" | "Truncate" | "Sqrt" | "Log10" | "Exp" | "Sin" | "Cos" | "Tan" => {
            let x = f64_of(&a(0))?;
            let r = match name {
                "Floor" => x.floor(),
                "Ceiling" => x.ceil(),
                "Truncate" => x.trunc(),
                "Sqrt" => x.sqrt(),
                "Log10" => x.log10(),
                "Exp" => x.exp(),
                "Sin" => x.sin(),
                "Cos" => x.cos(),
                _ => x.tan(),
            };
            if matches!(num(&a(0)), Some(N::M(_))) {
                obj(Obj::Decimal(r))
            } else {
                Dynamic::from_float(r)
            }
        }
        "Log" => {
            let x = f64_of(&a(0))?;
            Dynamic::from_float(if args.len() > 1 {
                x.log(f64_of(&a(1))?)
            } else {
                x.ln()
            })
        }
        "Pow" => Dynamic::from_float(f64_of(&a(0))?.powf(f64_of(&a(1))?)),
        "Clamp" => {
            let (x, lo, hi) = (a(0), a(1), a(2));
            if order(&x, &lo).is_lt() {
                lo
            } else if order(&x, &hi).is_gt() {
                hi
            } else {
                x
            }
        }
        _ => return Err(not_implemented(format!("'Math.{name}'"))),
    })
}

fn convert(name: &str, args: &[Dynamic]) -> Res {
    let a = |i| arg(args, i);
    let v = a(0);
    Ok(match name {
        "ToBase64String" => {
            let bytes = bytes_of(&v)?;
            string(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        "FromBase64String" => obj(Obj::Bytes(shared(b64_decode(&string_arg(&v, "s")?)?))),
        "ToHexString" => string(
            bytes_of(&v)?
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>(),
        ),
        "ToString" => {
            if v.is_unit() {
                string("")
            } else if let (Some(n), Some(base)) = (num(&v), num(&a(1))) {
                let (n, base) = (
                    match n {
                        N::I(i) => i as i64,
                        N::L(l) => l,
                        _ => return Ok(string(to_string_fmt(&v, "")?)),
                    },
                    base,
                );
                string(match base {
                    N::I(2) => format!("{n:b}"),
                    N::I(8) => format!("{n:o}"),
                    N::I(16) => format!("{n:x}"),
                    _ => n.to_string(),
                })
            } else {
                string(to_string_fmt(&v, "")?)
            }
        }
        "ToInt32" | "ToInt64" | "ToInt16" | "ToByte" => {
            let r: i64 = if v.is_unit() {
                0
            } else if let Some(s) = str_of(&v) {
                if let Some(N::I(base)) = num(&a(1)) {
                    i64::from_str_radix(s.trim_start_matches("0x"), base as u32)
                        .map_err(|_| format_error("Could not find any recognizable digits."))?
                } else {
                    parse_long(&s)?
                }
            } else if let Ok(b) = v.as_bool() {
                b as i64
            } else {
                match num(&v) {
                    Some(N::I(i)) => i as i64,
                    Some(N::L(l)) => l,
                    Some(N::D(d) | N::M(d)) => round_even(d) as i64,
                    None => match kind(&v) {
                        K::Obj(Obj::Json(j)) => {
                            return json_convert(
                                &j,
                                if name == "ToInt64" {
                                    "System.Int64"
                                } else {
                                    "System.Int32"
                                },
                                false,
                            );
                        }
                        _ => return Err(invalid_cast(&type_of(&v), "System.IConvertible")),
                    },
                }
            };
            if name == "ToInt64" {
                long(r)
            } else {
                if r < i32::MIN as i64 || r > i32::MAX as i64 {
                    return Err(throw(
                        "OverflowException",
                        "Value was either too large or too small for an Int32.",
                    ));
                }
                int(r as i32)
            }
        }
        "ToDouble" | "ToDecimal" | "ToSingle" => {
            let r = if v.is_unit() {
                0.0
            } else if let Some(s) = str_of(&v) {
                parse_double(&s)?
            } else if let Ok(b) = v.as_bool() {
                b as i32 as f64
            } else {
                match kind(&v) {
                    K::Obj(Obj::Json(j)) => return json_convert(&j, "System.Double", false),
                    _ => f64_of(&v)?,
                }
            };
            if name == "ToDecimal" {
                obj(Obj::Decimal(r))
            } else {
                Dynamic::from_float(r)
            }
        }
        "ToBoolean" => {
            if v.is_unit() {
                Dynamic::FALSE
            } else if let Some(s) = str_of(&v) {
                Dynamic::from_bool(parse_bool(&s)?)
            } else if let Ok(b) = v.as_bool() {
                Dynamic::from_bool(b)
            } else {
                Dynamic::from_bool(f64_of(&v)? != 0.0)
            }
        }
        "ToChar" => Dynamic::from_char(char::from_u32(int_of(&v, "value")? as u32).unwrap_or('\0')),
        "ToDateTime" => match str_of(&v) {
            Some(s) => parse_datetime(&s)?,
            None => v,
        },
        _ => return Err(not_implemented(format!("'Convert.{name}'"))),
    })
}

/// `Type.Name(args)`.
pub fn static_call(
    ctx: &NativeCallContext,
    ty: &str,
    name: &str,
    targs: &str,
    args: &[Dynamic],
) -> Res {
    let a = |i| arg(args, i);
    let s = |i: usize, what: &str| -> Res<ImmutableString> { string_arg(&a(i), what) };
    Ok(match (ty, name) {
        ("System.Xml.Linq.XDocument" | "System.Xml.Linq.XElement", "Parse")
        | ("System.Xml.Linq.XName" | "System.Xml.Linq.XNamespace", "Get") => {
            return crate::xml::static_call(ty, name, args);
        }
        ("System.String", "IsNullOrEmpty") => {
            Dynamic::from_bool(str_of(&a(0)).is_none_or(|s| s.is_empty()))
        }
        ("System.String", "IsNullOrWhiteSpace") => {
            Dynamic::from_bool(str_of(&a(0)).is_none_or(|s| s.trim().is_empty()))
        }
        ("System.String", "Join") => {
            let sep = to_display_string(&a(0));
            let parts: Vec<Dynamic> = if args.len() == 2 && !a(1).is_string() {
                match kind(&a(1)) {
                    K::Null => return Err(arg_null("values")),
                    _ => items(&a(1))?,
                }
            } else {
                args[1.min(args.len())..].to_vec()
            };
            let strs: Vec<String> = parts
                .iter()
                .map(|p| to_string_fmt(p, ""))
                .collect::<Res<_>>()?;
            string(strs.join(&sep))
        }
        ("System.String", "Concat") => {
            let parts: Vec<Dynamic> = if args.len() == 1 && !a(0).is_string() && !a(0).is_unit() {
                items(&a(0))?
            } else {
                args.to_vec()
            };
            let strs: Vec<String> = parts
                .iter()
                .map(|p| to_string_fmt(p, ""))
                .collect::<Res<_>>()?;
            string(strs.concat())
        }
        ("System.String", "Format") => {
            string(string_format(&s(0, "format")?, &args[1.min(args.len())..])?)
        }
        ("System.String", "Equals") => {
            let ignore =
                matches!(kind(&a(2)), K::Obj(Obj::Enum(e)) if e.name.ends_with("IgnoreCase"));
            match (str_of(&a(0)), str_of(&a(1))) {
                (Some(x), Some(y)) => Dynamic::from_bool(if ignore {
                    x.to_lowercase() == y.to_lowercase()
                } else {
                    x == y
                }),
                (None, None) => Dynamic::from_bool(a(0).is_unit() && a(1).is_unit()),
                _ => Dynamic::FALSE,
            }
        }
        ("System.String", "Compare" | "CompareOrdinal") => {
            let ignore = matches!(kind(&a(2)), K::Obj(Obj::Enum(e)) if e.name.ends_with("IgnoreCase"))
                || a(2).as_bool().unwrap_or(false);
            let (x, y) = (str_of(&a(0)), str_of(&a(1)));
            int(match (x, y) {
                (None, None) => 0,
                (None, _) => -1,
                (_, None) => 1,
                (Some(x), Some(y)) => {
                    let ordinal = name == "CompareOrdinal"
                        || matches!(kind(&a(2)), K::Obj(Obj::Enum(e)) if e.name.starts_with("Ordinal"));
                    let o = if ignore {
                        x.to_lowercase().cmp(&y.to_lowercase())
                    } else if ordinal {
                        x.cmp(&y)
                    } else {
                        compare_strings_culture(&x, &y)
                    };
                    o as i32
                }
            })
        }
        ("System.String", "Copy") => a(0),
        (
            "System.Int32" | "System.Int64" | "System.Double" | "System.Boolean" | "System.Decimal"
            | "System.Single" | "System.Int16" | "System.Byte",
            "Parse" | "TryParse",
        ) => {
            let v = a(0);
            let parsed = |text: &str| -> Res {
                Ok(match ty {
                    "System.Int32" | "System.Int16" | "System.Byte" => int(parse_int(text)?),
                    "System.Int64" => long(parse_long(text)?),
                    "System.Boolean" => Dynamic::from_bool(parse_bool(text)?),
                    "System.Decimal" => obj(Obj::Decimal(parse_double(text)?)),
                    _ => Dynamic::from_float(parse_double(text)?),
                })
            };
            if name == "Parse" {
                match str_of(&v) {
                    Some(t) => parsed(&t)?,
                    None if v.is_unit() => return Err(arg_null("s")),
                    None => parsed(&to_display_string(&v))?,
                }
            } else {
                let default = default_of(ty);
                match str_of(&v) {
                    Some(t) => try_parse_default(parsed(&t), default),
                    None => seq(SeqKind::Array, vec![Dynamic::FALSE, default]),
                }
            }
        }
        ("System.Double", "IsNaN") => Dynamic::from_bool(f64_of(&a(0))?.is_nan()),
        ("System.Double", "IsInfinity") => Dynamic::from_bool(f64_of(&a(0))?.is_infinite()),
        ("System.Double", "IsPositiveInfinity") => {
            Dynamic::from_bool(f64_of(&a(0))? == f64::INFINITY)
        }
        ("System.Double", "IsNegativeInfinity") => {
            Dynamic::from_bool(f64_of(&a(0))? == f64::NEG_INFINITY)
        }
        ("System.Double", "IsFinite") => Dynamic::from_bool(f64_of(&a(0))?.is_finite()),
        ("System.Char", _) => {
            let c = match kind(&a(0)) {
                K::Char(c) => c,
                K::Str(s) => {
                    let i = int_of(&a(1), "index")? as usize;
                    s.chars().nth(i).ok_or_else(index_out_of_range)?
                }
                _ => return Err(arg_null("c")),
            };
            match name {
                "IsDigit" | "IsNumber" => Dynamic::from_bool(c.is_ascii_digit() || c.is_numeric()),
                "IsLetter" => Dynamic::from_bool(c.is_alphabetic()),
                "IsLetterOrDigit" => Dynamic::from_bool(c.is_alphanumeric()),
                "IsWhiteSpace" => Dynamic::from_bool(c.is_whitespace()),
                "IsUpper" => Dynamic::from_bool(c.is_uppercase()),
                "IsLower" => Dynamic::from_bool(c.is_lowercase()),
                "IsPunctuation" => Dynamic::from_bool(c.is_ascii_punctuation()),
                "ToUpper" | "ToUpperInvariant" => {
                    Dynamic::from_char(c.to_uppercase().next().unwrap_or(c))
                }
                "ToLower" | "ToLowerInvariant" => {
                    Dynamic::from_char(c.to_lowercase().next().unwrap_or(c))
                }
                "ToString" => string(c.to_string()),
                _ => return Err(not_implemented(format!("'Char.{name}'"))),
            }
        }
        ("System.Math", _) => math(name, args)?,
        ("System.Convert", _) => convert(name, args)?,
        ("System.DateTime", "Parse") => parse_datetime(&s(0, "s")?)?,
        ("System.DateTime", "DaysInMonth") => int(days_in_month(
            int_of(&a(0), "year")? as i32,
            int_of(&a(1), "month")? as u32,
        ) as i32),
        ("System.DateTime", "IsLeapYear") => {
            let y = int_of(&a(0), "year")?;
            Dynamic::from_bool(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        }
        ("System.DateTime", "SpecifyKind") => match (kind(&a(0)), kind(&a(1))) {
            (K::Obj(Obj::DateTime(t, _)), K::Obj(Obj::Enum(e))) => obj(Obj::DateTime(
                t,
                match e.value {
                    1 => DateKind::Utc,
                    2 => DateKind::Local,
                    _ => DateKind::Unspecified,
                },
            )),
            _ => return Err(arg_null("value")),
        },
        ("System.DateTimeOffset", "Parse") => parse_datetime_offset(&s(0, "input")?)?,
        ("System.DateTimeOffset", "TryParse") => try_parse(
            str_of(&a(0))
                .ok_or_else(|| arg_null("input"))
                .and_then(|t| parse_datetime_offset(&t)),
        ),
        ("System.DateTimeOffset", "FromUnixTimeSeconds" | "FromUnixTimeMilliseconds") => {
            let n = int_of(&a(0), "seconds")?;
            let unit = if name == "FromUnixTimeSeconds" {
                TICKS_PER_SECOND
            } else {
                10_000
            };
            let t = n
                .checked_mul(unit)
                .and_then(|d| d.checked_add(format::UNIX_EPOCH_TICKS))
                .filter(|t| (0..=format::MAX_TICKS).contains(t));
            obj(Obj::DateTimeOffset(
                t.ok_or_else(|| {
                    arg_out_of_range(
                        "seconds",
                        "Valid values are between -62135596800 and 253402300799, inclusive.",
                    )
                })?,
                0,
            ))
        }
        (
            "System.TimeSpan",
            "FromSeconds" | "FromMinutes" | "FromHours" | "FromDays" | "FromMilliseconds"
            | "FromTicks",
        ) => {
            let x = f64_of(&a(0))?;
            let unit = match name {
                "FromSeconds" => TICKS_PER_SECOND as f64,
                "FromMinutes" => 600_000_000.0,
                "FromHours" => 36_000_000_000.0,
                "FromDays" => format::TICKS_PER_DAY as f64,
                "FromMilliseconds" => 10_000.0,
                _ => 1.0,
            };
            obj(Obj::TimeSpan((x * unit).round() as i64))
        }
        ("System.TimeSpan", "Parse") => {
            let text = s(0, "input")?;
            let parts: Vec<&str> = text.split(':').collect();
            let nums: Vec<f64> = parts
                .iter()
                .map(|p| p.parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| format_error("String was not recognized as a valid TimeSpan."))?;
            let ticks = match nums.as_slice() {
                [h, m] => (h * 3600.0 + m * 60.0) * TICKS_PER_SECOND as f64,
                [h, m, sec] => (h * 3600.0 + m * 60.0 + sec) * TICKS_PER_SECOND as f64,
                [d] => d * format::TICKS_PER_DAY as f64,
                _ => {
                    return Err(format_error(
                        "String was not recognized as a valid TimeSpan.",
                    ));
                }
            };
            obj(Obj::TimeSpan(ticks.round() as i64))
        }
        ("System.Guid", "NewGuid") => obj(Obj::Guid(crate::context::next_guid())),
        ("System.Guid", "Parse") => parse_guid(&s(0, "input")?)?,
        ("System.Guid", "TryParse") => try_parse_default(
            str_of(&a(0))
                .ok_or_else(|| arg_null("input"))
                .and_then(|t| parse_guid(&t)),
            obj(Obj::Guid(0)),
        ),
        ("System.Uri", "EscapeDataString") => string(escape_data(&s(0, "stringToEscape")?, "")),
        ("System.Uri", "EscapeUriString") => {
            string(escape_data(&s(0, "stringToEscape")?, "!#$&'()*+,/:;=?@[]"))
        }
        ("System.Uri", "UnescapeDataString") => string(unescape_data(&s(0, "stringToUnescape")?)),
        ("System.Uri", "IsWellFormedUriString") => {
            Dynamic::from_bool(url::Url::parse(&s(0, "uriString")?).is_ok())
        }
        ("System.Uri", "TryCreate") => try_parse(construct(ctx, "System.Uri", "", &[a(0)])),
        ("System.Net.WebUtility", "UrlEncode") => match str_of(&a(0)) {
            Some(t) => string(web_url_encode(&t)),
            None => Dynamic::UNIT,
        },
        ("System.Net.WebUtility", "UrlDecode") => match str_of(&a(0)) {
            Some(t) => string(url_decode(&t)),
            None => Dynamic::UNIT,
        },
        ("System.Net.WebUtility", "HtmlEncode") => match str_of(&a(0)) {
            Some(t) => string(html_encode(&t)),
            None => Dynamic::UNIT,
        },
        ("System.Net.WebUtility", "HtmlDecode") => match str_of(&a(0)) {
            Some(t) => string(html_decode(&t)),
            None => Dynamic::UNIT,
        },
        ("System.Text.RegularExpressions.Regex", "Escape") => {
            let t = s(0, "str")?;
            let mut out = String::new();
            for c in t.chars() {
                if "\\*+?|{[()^$.# \t\n\r".contains(c) {
                    out.push('\\');
                }
                out.push(match c {
                    '\t' => 't',
                    '\n' => 'n',
                    '\r' => 'r',
                    c => c,
                });
            }
            string(out)
        }
        ("System.Text.RegularExpressions.Regex", "Unescape") => {
            string(s(0, "str")?.replace('\\', ""))
        }
        ("System.Text.RegularExpressions.Regex", op) => {
            let input = s(0, "input")?;
            let pattern = s(1, "pattern")?;
            let (rest, options) = match op {
                "Replace" => (
                    args.get(2..3).map(<[Dynamic]>::to_vec).unwrap_or_default(),
                    regex_options(&a(3)),
                ),
                _ => (Vec::new(), regex_options(&a(2))),
            };
            let re = make_regex(&pattern, options)?;
            regex_op(re, op, &input, &rest, ctx)?
        }
        ("System.Text.Encoding", "GetEncoding") => {
            let n = s(0, "name")?.to_lowercase();
            obj(Obj::Encoding(match n.as_str() {
                "utf-8" | "utf8" => "UTF8",
                "ascii" | "us-ascii" => "ASCII",
                "utf-16" | "unicode" => "Unicode",
                "iso-8859-1" | "latin1" => "Latin1",
                _ => {
                    return Err(throw(
                        "ArgumentException",
                        format!("'{n}' is not a supported encoding name."),
                    ));
                }
            }))
        }
        ("Newtonsoft.Json.Linq.JObject", "Parse") => json(json::parse_object(&s(0, "json")?)?),
        ("Newtonsoft.Json.Linq.JArray", "Parse") => json(json::parse_array(&s(0, "json")?)?),
        ("Newtonsoft.Json.Linq.JToken", "Parse") => json(json::parse(&s(0, "json")?)?),
        (
            "Newtonsoft.Json.Linq.JObject"
            | "Newtonsoft.Json.Linq.JToken"
            | "Newtonsoft.Json.Linq.JArray",
            "FromObject",
        ) => {
            let t = from_object(&a(0), 0)?;
            if ty.ends_with("JObject") && !matches!(t, JToken::Object(_)) {
                return Err(throw(
                    "ArgumentException",
                    format!(
                        "Object serialized to {}. JObject instance expected.",
                        t.token_type()
                    ),
                ));
            }
            json(t)
        }
        ("Newtonsoft.Json.Linq.JToken", "DeepEquals") => match (kind(&a(0)), kind(&a(1))) {
            (K::Obj(Obj::Json(x)), K::Obj(Obj::Json(y))) => Dynamic::from_bool(x.deep_equals(&y)?),
            (K::Null, K::Null) => Dynamic::TRUE,
            _ => Dynamic::FALSE,
        },
        ("Newtonsoft.Json.JsonConvert", "SerializeObject") => {
            let indented = matches!(kind(&a(1)), K::Obj(Obj::Enum(e)) if e.name == "Indented");
            match kind(&a(0)) {
                K::Null => string("null"),
                _ => string(from_object(&a(0), 0)?.to_json(indented)?),
            }
        }
        ("Newtonsoft.Json.JsonConvert", "DeserializeObject") => {
            let text = s(0, "value")?;
            let t = json::parse(&text)?;
            if targs.is_empty() || targs == "System.Object" {
                json(t)
            } else {
                crate::members::to_json_value(&json(t.clone()))
                    .and_then(|t| convert_json(&t, targs))?
            }
        }
        ("System.Linq.Enumerable", "Range") => {
            let (start, count) = (int_of(&a(0), "start")?, int_of(&a(1), "count")?);
            if count < 0 || start + count - 1 > i64::from(i32::MAX) {
                return Err(arg_out_of_range(
                    "count",
                    "Specified argument was out of the range of valid values.",
                ));
            }
            if count > MAX_ITEMS {
                return Err(sandbox_limit("Enumerable.Range count", count));
            }
            seq(
                SeqKind::Enumerable,
                (start..start + count).map(|i| int(i as i32)).collect(),
            )
        }
        ("System.Linq.Enumerable", "Repeat") => {
            let count = int_of(&a(1), "count")?;
            if count < 0 {
                return Err(arg_out_of_range(
                    "count",
                    "Specified argument was out of the range of valid values.",
                ));
            }
            if count > MAX_ITEMS {
                return Err(sandbox_limit("Enumerable.Repeat count", count));
            }
            seq(SeqKind::Enumerable, vec![a(0); count as usize])
        }
        ("System.Array", "Copy") => {
            // Copy(source, destination, length) or Copy(source, sourceIndex, destination, destinationIndex, length).
            let (src, from, dst, to, len) = if args.len() >= 5 {
                (
                    a(0),
                    int_of(&a(1), "sourceIndex")?,
                    a(2),
                    int_of(&a(3), "destinationIndex")?,
                    int_of(&a(4), "length")?,
                )
            } else {
                (a(0), 0, a(1), 0, int_of(&a(2), "length")?)
            };
            if src.is_unit() {
                return Err(arg_null("sourceArray"));
            }
            if dst.is_unit() {
                return Err(arg_null("destinationArray"));
            }
            let source = items(&src)?;
            if from < 0 || to < 0 || len < 0 {
                return Err(arg_out_of_range("length", "Non-negative number required."));
            }
            let (from, to, len) = (from as usize, to as usize, len as usize);
            let dst_len = items(&dst)?.len();
            if from + len > source.len() || to + len > dst_len {
                return Err(throw(
                    "ArgumentException",
                    "Destination array was not long enough. Check the destination index, length, and the array's lower bounds.",
                ));
            }
            for (k, item) in source[from..from + len].iter().enumerate() {
                index_set(&dst, &[int((to + k) as i32)], item.clone())?;
            }
            Dynamic::UNIT
        }
        ("System.Linq.Enumerable", "Empty") | ("System.Array", "Empty") => seq(
            if ty == "System.Array" {
                SeqKind::Array
            } else {
                SeqKind::Enumerable
            },
            Vec::new(),
        ),
        ("System.Linq.Enumerable", _) if !args.is_empty() => {
            call_method(ctx, &a(0), name, targs, &args[1..])?
        }
        ("System.Tuple", "Create") => obj(Obj::Tuple(Arc::new(args.to_vec()))),
        ("System.Enum", "Parse" | "TryParse") => return Err(not_implemented("Enum.Parse")),
        ("System.BitConverter", "ToString") => string(
            bytes_of(&a(0))?
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join("-"),
        ),
        (
            "System.Security.Cryptography.MD5"
            | "System.Security.Cryptography.SHA1"
            | "System.Security.Cryptography.SHA256"
            | "System.Security.Cryptography.SHA384"
            | "System.Security.Cryptography.SHA512",
            "Create",
        ) if args.is_empty() => crate::crypto::hasher(short(ty), None)?,
        _ => return Err(not_implemented(format!("'{ty}.{name}'"))),
    })
}

fn convert_json(t: &JToken, targs: &str) -> Res {
    let d = json(t.clone());
    call_method_free(&d, "ToObject", targs)
}

fn call_method_free(v: &Dynamic, _name: &str, targs: &str) -> Res {
    match kind(v) {
        K::Obj(Obj::Json(j)) => match targs {
            "Newtonsoft.Json.Linq.JObject"
            | "Newtonsoft.Json.Linq.JToken"
            | "Newtonsoft.Json.Linq.JArray" => Ok(v.clone()),
            t => json_convert(&j, t, t.ends_with('?')),
        },
        _ => Ok(v.clone()),
    }
}

/// `new T(args)`.
pub fn construct(ctx: &NativeCallContext, ty: &str, targs: &str, args: &[Dynamic]) -> Res {
    let a = |i| arg(args, i);
    let base = ty.split('<').next().unwrap_or(ty);
    Ok(match base {
        "System.Collections.Generic.List"
        | "System.Collections.Generic.HashSet"
        | "System.Collections.Generic.Queue"
        | "System.Collections.Generic.Stack" => {
            let kind_ = if base.ends_with("HashSet") {
                SeqKind::Set
            } else {
                SeqKind::List
            };
            let init = match kind(&a(0)) {
                K::Null | K::Int(_) => Vec::new(),
                _ => items(&a(0))?,
            };
            seq(kind_, init)
        }
        "System.Xml.Linq.XElement"
        | "System.Xml.Linq.XAttribute"
        | "System.Xml.Linq.XDocument"
        | "System.Xml.Linq.XComment"
        | "System.Xml.Linq.XCData"
        | "System.Xml.Linq.XText" => return crate::xml::construct(base, args),
        "System.Collections.Generic.Dictionary" => {
            let ci = matches!(kind(&a(0)), K::Obj(Obj::Enum(e)) if e.ty == "StringComparer" && e.value == 1)
                || matches!(kind(&a(1)), K::Obj(Obj::Enum(e)) if e.ty == "StringComparer" && e.value == 1);
            let mut d = Dict::new(ci, "dictionary");
            if let K::Obj(Obj::Dict(src)) = kind(&a(0)) {
                let entries: Vec<(Dynamic, Dynamic)> = src.lock().map.values().cloned().collect();
                for (k, v) in entries {
                    let key = d.key(&k);
                    d.map.insert(key, (k, v));
                }
            }
            obj(Obj::Dict(shared(d)))
        }
        "System.Collections.Generic.KeyValuePair" => obj(Obj::KeyValue(Arc::new((a(0), a(1))))),
        "System.String" => match (kind(&a(0)), args.len()) {
            (K::Char(c), 2) => {
                let n = int_of(&a(1), "count")?;
                if n < 0 {
                    return Err(arg_out_of_range("count", "Non-negative number required."));
                }
                if n > MAX_CHARS {
                    return Err(sandbox_limit("a string length", n));
                }
                string(std::iter::repeat_n(c, n as usize).collect::<String>())
            }
            (K::Null, 1) => string(""),
            (_, 1) => string(
                items(&a(0))?
                    .iter()
                    .filter_map(|c| c.as_char().ok())
                    .collect::<String>(),
            ),
            _ => return Err(not_implemented("this `new string(…)` overload")),
        },
        "System.Text.StringBuilder" => obj(Obj::StringBuilder(shared(
            str_of(&a(0)).map(|s| s.to_string()).unwrap_or_default(),
        ))),
        "System.Uri" => {
            let text = string_arg(&a(0), "uriString")?;
            let text = match str_of(&a(1)) {
                Some(rel) => url::Url::parse(&text)
                    .and_then(|b| b.join(&rel))
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| text.to_string()),
                None => text.to_string(),
            };
            obj(Obj::Uri(Arc::new(
                crate::context::parse_url(&text).ok_or_else(|| {
                    throw(
                        "UriFormatException",
                        "Invalid URI: The format of the URI could not be determined.",
                    )
                })?,
            )))
        }
        "System.DateTime" => {
            let n: Vec<i64> = args
                .iter()
                .filter(|x| num(x).is_some())
                .map(|x| int_of(x, "value"))
                .collect::<Res<_>>()?;
            let kind_ = args.iter().find_map(|x| match kind(x) {
                K::Obj(Obj::Enum(e)) if e.ty == "DateTimeKind" => Some(match e.value {
                    1 => DateKind::Utc,
                    2 => DateKind::Local,
                    _ => DateKind::Unspecified,
                }),
                _ => None,
            });
            if n.len() == 1 {
                obj(Obj::DateTime(n[0], kind_.unwrap_or(DateKind::Unspecified)))
            } else {
                let get = |i: usize| n.get(i).copied().unwrap_or(0);
                let dt = chrono::NaiveDate::from_ymd_opt(
                    get(0) as i32,
                    get(1) as u32,
                    get(2) as u32,
                )
                .and_then(|d| {
                    d.and_hms_milli_opt(get(3) as u32, get(4) as u32, get(5) as u32, get(6) as u32)
                })
                .ok_or_else(|| {
                    arg_out_of_range(
                        "year",
                        "Year, Month, and Day parameters describe an un-representable DateTime.",
                    )
                })?;
                obj(Obj::DateTime(
                    format::naive_to_ticks(&dt),
                    kind_.unwrap_or(DateKind::Unspecified),
                ))
            }
        }
        "System.DateTimeOffset" => {
            match (kind(&a(0)), kind(&a(1))) {
                (K::Obj(Obj::DateTime(t, _)), K::Obj(Obj::TimeSpan(o))) => {
                    obj(Obj::DateTimeOffset(t, (o / 600_000_000) as i32))
                }
                (K::Obj(Obj::DateTime(t, _)), _) => obj(Obj::DateTimeOffset(t, 0)),
                _ => {
                    let n: Vec<i64> = args
                        .iter()
                        .filter(|x| num(x).is_some())
                        .map(|x| int_of(x, "value"))
                        .collect::<Res<_>>()?;
                    let offset = args.iter().find_map(|x| match kind(x) {
                        K::Obj(Obj::TimeSpan(o)) => Some((o / 600_000_000) as i32),
                        _ => None,
                    });
                    let get = |i: usize| n.get(i).copied().unwrap_or(0);
                    let dt = chrono::NaiveDate::from_ymd_opt(get(0) as i32, get(1) as u32, get(2) as u32)
                    .and_then(|d| d.and_hms_opt(get(3) as u32, get(4) as u32, get(5) as u32))
                    .ok_or_else(|| arg_out_of_range("year", "Year, Month, and Day parameters describe an un-representable DateTime."))?;
                    obj(Obj::DateTimeOffset(
                        format::naive_to_ticks(&dt),
                        offset.unwrap_or(0),
                    ))
                }
            }
        }
        "System.TimeSpan" => {
            let n: Vec<i64> = args
                .iter()
                .map(|x| int_of(x, "value"))
                .collect::<Res<_>>()?;
            let t = match n.as_slice() {
                [t] => *t,
                [h, m, s] => (h * 3600 + m * 60 + s) * TICKS_PER_SECOND,
                [d, h, m, s] => ((d * 24 + h) * 3600 + m * 60 + s) * TICKS_PER_SECOND,
                [d, h, m, s, ms] => {
                    ((d * 24 + h) * 3600 + m * 60 + s) * TICKS_PER_SECOND + ms * 10_000
                }
                _ => 0,
            };
            obj(Obj::TimeSpan(t))
        }
        "System.Guid" => match str_of(&a(0)) {
            Some(s) => parse_guid(&s)?,
            None => obj(Obj::Guid(0)),
        },
        "System.Random" => obj(Obj::Random(shared(
            num(&a(0))
                .map(|n| match n {
                    N::I(i) => i as u64,
                    _ => 0,
                })
                .unwrap_or(crate::context::next_guid() as u64),
        ))),
        "System.Text.RegularExpressions.Regex" => obj(Obj::Regex(make_regex(
            &string_arg(&a(0), "pattern")?,
            regex_options(&a(1)),
        )?)),
        "Newtonsoft.Json.Linq.JObject" => {
            let o = JToken::new_object();
            for x in args {
                for item in if let K::Obj(Obj::Json(JToken::Property(_))) = kind(x) {
                    vec![x.clone()]
                } else {
                    items(x)?
                } {
                    let _ = crate::members::call_method(ctx, &json(o.clone()), "Add", "", &[item])?;
                }
            }
            json(o)
        }
        "Newtonsoft.Json.Linq.JArray" => {
            let arr = JToken::new_array();
            for x in args {
                let list = match kind(x) {
                    K::Obj(Obj::Json(JToken::Array(_))) | K::Obj(Obj::Seq(..)) => items(x)?,
                    _ => vec![x.clone()],
                };
                for item in list {
                    let _ =
                        crate::members::call_method(ctx, &json(arr.clone()), "Add", "", &[item])?;
                }
            }
            json(arr)
        }
        "Newtonsoft.Json.Linq.JProperty" => {
            let name = string_arg(&a(0), "name")?;
            let value = if args.len() > 2 {
                let arr = JToken::new_array();
                for x in &args[1..] {
                    let _ = crate::members::call_method(
                        ctx,
                        &json(arr.clone()),
                        "Add",
                        "",
                        std::slice::from_ref(x),
                    )?;
                }
                arr
            } else {
                crate::members::to_json_value(&a(1))?
            };
            json(json::property(name.to_string(), value, None))
        }
        "Newtonsoft.Json.Linq.JValue" => {
            json(crate::members::to_json_value(&a(0)).map(|t| match t {
                JToken::Value(_) => t,
                _ => JToken::Value(JValue::Null),
            })?)
        }
        "System.Security.Cryptography.HMACMD5"
        | "System.Security.Cryptography.HMACSHA1"
        | "System.Security.Cryptography.HMACSHA256"
        | "System.Security.Cryptography.HMACSHA384"
        | "System.Security.Cryptography.HMACSHA512" => {
            let key = match kind(&a(0)) {
                K::Null => None,
                _ => Some(bytes_of(&a(0))?),
            };
            crate::crypto::hasher(short(base), key)?
        }
        "System.Security.Cryptography.MD5CryptoServiceProvider"
        | "System.Security.Cryptography.SHA1Managed"
        | "System.Security.Cryptography.SHA256Managed"
        | "System.Security.Cryptography.SHA384Managed"
        | "System.Security.Cryptography.SHA512Managed" => crate::crypto::hasher(short(base), None)?,
        t if t.ends_with("Exception") => obj(Obj::Exception(Arc::new(Exception {
            ty: short(t).to_string(),
            message: str_of(&a(0))
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("Exception of type 'System.{}' was thrown.", short(t))),
        }))),
        _ => {
            let _ = targs;
            return Err(not_implemented(format!("constructor of '{ty}'")));
        }
    })
}

/// Instance members of a compiled `Regex` object.
pub fn regex_instance(
    ctx: &NativeCallContext,
    re: Arc<fancy_regex::Regex>,
    name: &str,
    args: &[Dynamic],
) -> Res {
    let input = string_arg(&arg(args, 0), "input")?;
    regex_op(re, name, &input, &args[1.min(args.len())..], ctx)
}
