//! Newtonsoft.Json's `JToken` family: JObject, JArray, JValue, JProperty, with Json.NET's formatting.
//!
//! Containers are shared and mutable (`obj["a"] = 1` through any copy is seen by all). JSON `null` is a
//! `JValue` of type Null, which is not C# `null`: `obj["x"] != null` is true for `{"x": null}` in .NET too.

use crate::value::{Res, Shared, shared, throw};
use indexmap::IndexMap;
use parking_lot::Mutex;
use std::sync::Arc;

/// Deepest JSON nesting that is parsed, printed or compared; beyond it (or on a cycle) a .NET-style exception.
const MAX_JSON_DEPTH: usize = 128;

#[derive(Debug, Clone)]
pub enum JValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
}

#[derive(Debug)]
pub struct JProperty {
    pub name: String,
    pub value: Mutex<JToken>,
    pub parent: Mutex<Option<Shared<IndexMap<String, JToken>>>>,
}

#[derive(Debug, Clone)]
pub enum JToken {
    Object(Shared<IndexMap<String, JToken>>),
    Array(Shared<Vec<JToken>>),
    Value(JValue),
    Property(Arc<JProperty>),
}

/// `JTokenType` names and values, as Newtonsoft numbers them.
pub const TOKEN_TYPES: &[(&str, i64)] = &[
    ("None", 0),
    ("Object", 1),
    ("Array", 2),
    ("Constructor", 3),
    ("Property", 4),
    ("Comment", 5),
    ("Integer", 6),
    ("Float", 7),
    ("String", 8),
    ("Boolean", 9),
    ("Null", 10),
    ("Undefined", 11),
    ("Date", 12),
    ("Raw", 13),
    ("Bytes", 14),
    ("Guid", 15),
    ("Uri", 16),
    ("TimeSpan", 17),
];

impl JToken {
    pub fn new_object() -> JToken {
        JToken::Object(shared(IndexMap::new()))
    }

    pub fn new_array() -> JToken {
        JToken::Array(shared(Vec::new()))
    }

    pub fn string(s: &str) -> JToken {
        JToken::Value(JValue::Str(Arc::from(s)))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            JToken::Object(_) => "Newtonsoft.Json.Linq.JObject",
            JToken::Array(_) => "Newtonsoft.Json.Linq.JArray",
            JToken::Value(_) => "Newtonsoft.Json.Linq.JValue",
            JToken::Property(_) => "Newtonsoft.Json.Linq.JProperty",
        }
    }

    pub fn short_type(&self) -> &'static str {
        match self {
            JToken::Object(_) => "JObject",
            JToken::Array(_) => "JArray",
            JToken::Value(_) => "JValue",
            JToken::Property(_) => "JProperty",
        }
    }

    /// `JToken.Type` as its `JTokenType` name.
    pub fn token_type(&self) -> &'static str {
        match self {
            JToken::Object(_) => "Object",
            JToken::Array(_) => "Array",
            JToken::Property(_) => "Property",
            JToken::Value(v) => match v {
                JValue::Null => "Null",
                JValue::Bool(_) => "Boolean",
                JValue::Int(_) => "Integer",
                JValue::Float(_) => "Float",
                JValue::Str(_) => "String",
            },
        }
    }

    pub fn same(&self, other: &JToken) -> bool {
        match (self, other) {
            (JToken::Object(a), JToken::Object(b)) => Arc::ptr_eq(a, b),
            (JToken::Array(a), JToken::Array(b)) => Arc::ptr_eq(a, b),
            (JToken::Property(a), JToken::Property(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn deep_clone(&self) -> Res<JToken> {
        self.deep_clone_at(0)
    }

    fn deep_clone_at(&self, depth: usize) -> Res<JToken> {
        check_depth(depth)?;
        Ok(match self {
            JToken::Object(o) => {
                let items: Vec<(String, JToken)> = o
                    .lock()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let mut map = IndexMap::new();
                for (k, v) in items {
                    map.insert(k, v.deep_clone_at(depth + 1)?);
                }
                JToken::Object(shared(map))
            }
            JToken::Array(a) => {
                let items: Vec<JToken> = a.lock().clone();
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    out.push(v.deep_clone_at(depth + 1)?);
                }
                JToken::Array(shared(out))
            }
            JToken::Value(v) => JToken::Value(v.clone()),
            JToken::Property(p) => {
                let value = p.value.lock().clone();
                JToken::Property(Arc::new(JProperty {
                    name: p.name.clone(),
                    value: Mutex::new(value.deep_clone_at(depth + 1)?),
                    parent: Mutex::new(None),
                }))
            }
        })
    }

    /// Children as `JToken.Children()` yields them: properties of an object, items of an array.
    pub fn children(&self) -> Vec<JToken> {
        match self {
            JToken::Object(o) => {
                let items: Vec<(String, JToken)> = o
                    .lock()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                items
                    .into_iter()
                    .map(|(k, v)| property(k, v, Some(o.clone())))
                    .collect()
            }
            JToken::Array(a) => a.lock().clone(),
            JToken::Property(p) => vec![p.value.lock().clone()],
            JToken::Value(_) => Vec::new(),
        }
    }

    /// `token[key]` for a string key.
    pub fn get_key(&self, key: &str) -> Res<Option<JToken>> {
        match self {
            JToken::Object(o) => Ok(o.lock().get(key).cloned()),
            JToken::Array(_) => Err(throw(
                "ArgumentException",
                format!(
                    "Accessed JArray values with invalid key value: \"{key}\". Int32 array index expected."
                ),
            )),
            JToken::Property(p) => {
                let v = p.value.lock().clone();
                v.get_key(key)
            }
            JToken::Value(_) => Err(no_child_value()),
        }
    }

    /// `token[index]` for an integer key.
    pub fn get_index(&self, index: i64) -> Res<Option<JToken>> {
        match self {
            JToken::Array(a) => {
                let a = a.lock();
                if index < 0 || index as usize >= a.len() {
                    return Err(throw(
                        "ArgumentOutOfRangeException",
                        "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')",
                    ));
                }
                Ok(Some(a[index as usize].clone()))
            }
            JToken::Object(_) => Err(throw(
                "ArgumentException",
                format!(
                    "Accessed JObject values with invalid key value: {index}. Object property name expected."
                ),
            )),
            JToken::Property(p) => {
                let v = p.value.lock().clone();
                v.get_index(index)
            }
            JToken::Value(_) => Err(no_child_value()),
        }
    }

    pub fn set_key(&self, key: &str, value: JToken) -> Res<()> {
        match self {
            JToken::Object(o) => {
                let value = adopt(value, self)?;
                o.lock().insert(key.to_string(), value);
                Ok(())
            }
            JToken::Property(p) => {
                let v = p.value.lock().clone();
                v.set_key(key, value)
            }
            _ => Err(throw(
                "InvalidOperationException",
                format!("Cannot set child value on {}.", self.type_name()),
            )),
        }
    }

    pub fn set_index(&self, index: i64, value: JToken) -> Res<()> {
        match self {
            JToken::Array(a) => {
                let value = adopt(value, self)?;
                let mut a = a.lock();
                if index < 0 || index as usize >= a.len() {
                    return Err(throw(
                        "ArgumentOutOfRangeException",
                        "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')",
                    ));
                }
                a[index as usize] = value;
                Ok(())
            }
            _ => Err(throw(
                "ArgumentException",
                format!(
                    "Set JObject values with invalid key value: {index}. Object property name expected."
                ),
            )),
        }
    }

    pub fn count(&self) -> usize {
        match self {
            JToken::Object(o) => o.lock().len(),
            JToken::Array(a) => a.lock().len(),
            JToken::Property(_) => 1,
            JToken::Value(_) => 0,
        }
    }

    /// Serialises as `ToString(Formatting.None)` (compact) or `ToString()` (indented, two spaces).
    pub fn to_json(&self, indented: bool) -> Res<String> {
        let mut out = String::new();
        self.write(&mut out, indented, 0)?;
        Ok(out)
    }

    fn write(&self, out: &mut String, indented: bool, depth: usize) -> Res<()> {
        check_depth(depth)?;
        match self {
            JToken::Value(v) => write_value(v, out),
            JToken::Property(p) => {
                write_string(&p.name, out);
                out.push(':');
                if indented {
                    out.push(' ');
                }
                let v = p.value.lock().clone();
                v.write(out, indented, depth + 1)?;
            }
            JToken::Object(o) => {
                let items: Vec<(String, JToken)> = o
                    .lock()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if items.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if indented {
                        newline(out, depth + 1);
                    }
                    write_string(k, out);
                    out.push(':');
                    if indented {
                        out.push(' ');
                    }
                    v.write(out, indented, depth + 1)?;
                }
                if indented {
                    newline(out, depth);
                }
                out.push('}');
            }
            JToken::Array(a) => {
                let items: Vec<JToken> = a.lock().clone();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if indented {
                        newline(out, depth + 1);
                    }
                    v.write(out, indented, depth + 1)?;
                }
                if indented {
                    newline(out, depth);
                }
                out.push(']');
            }
        }
        Ok(())
    }

    /// `JToken.ToString()`: a JValue prints its value (a string without quotes), containers print indented JSON.
    pub fn display(&self) -> Res<String> {
        match self {
            JToken::Value(v) => Ok(value_display(v)),
            _ => self.to_json(true),
        }
    }

    pub fn deep_equals(&self, other: &JToken) -> Res<bool> {
        Ok(self.to_json(false)? == other.to_json(false)?)
    }
}

fn check_depth(depth: usize) -> Res<()> {
    if depth > MAX_JSON_DEPTH {
        return Err(throw(
            "JsonException",
            format!("JSON is nested more than {MAX_JSON_DEPTH} levels deep (or contains itself)"),
        ));
    }
    Ok(())
}

/// A token added to a container: a property's value is taken out, and a container never contains itself.
fn adopt(value: JToken, parent: &JToken) -> Res<JToken> {
    let value = match value {
        JToken::Property(p) => p.value.lock().clone(),
        v => v,
    };
    if value.same(parent) {
        value.deep_clone()
    } else {
        Ok(value)
    }
}

pub fn property(
    name: String,
    value: JToken,
    parent: Option<Shared<IndexMap<String, JToken>>>,
) -> JToken {
    JToken::Property(Arc::new(JProperty {
        name,
        value: Mutex::new(value),
        parent: Mutex::new(parent),
    }))
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(v: &JValue, out: &mut String) {
    match v {
        JValue::Null => out.push_str("null"),
        JValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JValue::Int(i) => out.push_str(&i.to_string()),
        JValue::Float(f) => out.push_str(&json_float(*f)),
        JValue::Str(s) => write_string(s, out),
    }
}

/// Json.NET writes doubles round-trippably and always with a `.` or exponent (`1.0`, `1E+20`).
pub fn json_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = crate::format::double_to_string(f);
    if s.contains('.') || s.contains('E') {
        s
    } else {
        format!("{s}.0")
    }
}

/// `JValue.ToString()`.
pub fn value_display(v: &JValue) -> String {
    match v {
        JValue::Null => String::new(),
        JValue::Bool(b) => if *b { "True" } else { "False" }.into(),
        JValue::Int(i) => i.to_string(),
        JValue::Float(f) => crate::format::double_to_string(*f),
        JValue::Str(s) => s.to_string(),
    }
}

/// Parses JSON text as `JToken.Parse` does.
pub fn parse(text: &str) -> Res<JToken> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        throw(
            "JsonReaderException",
            format!("Unexpected character encountered while parsing value. Path '', line {}, position {}.", e.line(), e.column()),
        )
    })?;
    from_serde(&value, 0)
}

pub fn parse_object(text: &str) -> Res<JToken> {
    let t = parse(text)?;
    match t {
        JToken::Object(_) => Ok(t),
        other => Err(throw(
            "JsonReaderException",
            format!(
                "Error reading JObject from JsonReader. Current JsonReader item is not an object: {}. Path '', line 1, position 1.",
                reader_token(&other)
            ),
        )),
    }
}

pub fn parse_array(text: &str) -> Res<JToken> {
    let t = parse(text)?;
    match t {
        JToken::Array(_) => Ok(t),
        other => Err(throw(
            "JsonReaderException",
            format!(
                "Error reading JArray from JsonReader. Current JsonReader item is not an array: {}. Path '', line 1, position 1.",
                reader_token(&other)
            ),
        )),
    }
}

fn reader_token(t: &JToken) -> &'static str {
    match t {
        JToken::Object(_) => "StartObject",
        JToken::Array(_) => "StartArray",
        JToken::Value(JValue::Str(_)) => "String",
        JToken::Value(JValue::Int(_)) => "Integer",
        JToken::Value(JValue::Float(_)) => "Float",
        JToken::Value(JValue::Bool(_)) => "Boolean",
        _ => "Null",
    }
}

pub fn from_serde(v: &serde_json::Value, depth: usize) -> Res<JToken> {
    check_depth(depth)?;
    Ok(match v {
        serde_json::Value::Null => JToken::Value(JValue::Null),
        serde_json::Value::Bool(b) => JToken::Value(JValue::Bool(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => JToken::Value(JValue::Int(i)),
            None => JToken::Value(JValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => JToken::string(s),
        serde_json::Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for item in a {
                out.push(from_serde(item, depth + 1)?);
            }
            JToken::Array(shared(out))
        }
        serde_json::Value::Object(o) => {
            let mut map = IndexMap::new();
            for (k, item) in o {
                map.insert(k.clone(), from_serde(item, depth + 1)?);
            }
            JToken::Object(shared(map))
        }
    })
}

/// Newtonsoft's error for `value[key]` / `value[index]` on a JValue.
fn no_child_value() -> Box<rhai::EvalAltResult> {
    throw(
        "InvalidOperationException",
        "Cannot access child value on Newtonsoft.Json.Linq.JValue.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_matches_json_net() {
        let t = parse(r#"{"a":1,"b":[true,null,1.5,2.0],"c":{},"d":"x\"y"}"#).expect("parses");
        assert_eq!(
            t.to_json(false).expect("prints"),
            r#"{"a":1,"b":[true,null,1.5,2.0],"c":{},"d":"x\"y"}"#
        );
        assert_eq!(
            t.to_json(true).expect("prints"),
            "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    1.5,\n    2.0\n  ],\n  \"c\": {},\n  \"d\": \"x\\\"y\"\n}"
        );
    }

    #[test]
    fn a_container_never_contains_itself() {
        let o = JToken::new_object();
        o.set_key("self", o.clone()).expect("sets");
        assert!(o.to_json(false).is_ok());
    }
}
