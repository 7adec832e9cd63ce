//! Instance members, indexers, iteration and LINQ: the .NET surface policy expressions call, dispatched on the
//! run-time value. Static members and constructors are in `statics`.

use crate::format::{self, TICKS_PER_SECOND};
use crate::json::{self, JToken, JValue};
use crate::runtime::*;
use crate::value::*;
use rhai::{Dynamic, FnPtr, ImmutableString, NativeCallContext};
use std::sync::Arc;

pub fn no_member(v: &Dynamic, name: &str) -> Box<rhai::EvalAltResult> {
    if v.is_unit() {
        return null_ref();
    }
    not_implemented(format!("member '{name}' of type '{}'", type_of(v)))
}

fn arg(args: &[Dynamic], i: usize) -> Dynamic {
    args.get(i).cloned().unwrap_or(Dynamic::UNIT)
}

fn to_json_token(v: &Dynamic) -> Res<JToken> {
    Ok(match kind(v) {
        K::Null => JToken::Value(JValue::Null),
        K::Bool(b) => JToken::Value(JValue::Bool(b)),
        K::Int(i) => JToken::Value(JValue::Int(i as i64)),
        K::Double(d) => JToken::Value(JValue::Float(d)),
        K::Char(c) => JToken::string(&c.to_string()),
        K::Str(s) => JToken::string(&s),
        K::Obj(Obj::Json(j)) => j,
        K::Obj(Obj::Long(l)) => JToken::Value(JValue::Int(l)),
        K::Obj(Obj::Decimal(d)) => JToken::Value(JValue::Float(d)),
        // Json.NET writes dates in ISO 8601.
        K::Obj(Obj::DateTime(..) | Obj::DateTimeOffset(..)) => {
            JToken::string(&to_string_fmt(v, "yyyy-MM-ddTHH:mm:ss.FFFFFFFK")?)
        }
        K::Obj(Obj::Guid(_) | Obj::TimeSpan(_) | Obj::Uri(_)) => {
            JToken::string(&to_string_fmt(v, "")?)
        }
        _ => from_object(v, 0)?,
    })
}

/// `JToken.FromObject` / `JsonConvert.SerializeObject` of .NET objects: anonymous objects, lists, dictionaries.
pub fn from_object(v: &Dynamic, depth: usize) -> Res<JToken> {
    if depth > 64 {
        return Err(throw(
            "JsonSerializationException",
            "Self referencing loop detected.",
        ));
    }
    Ok(match kind(v) {
        K::Obj(Obj::Record(r)) => {
            let obj = JToken::new_object();
            for (n, val) in &r.fields {
                obj.set_key(n, from_object(val, depth + 1)?)?;
            }
            obj
        }
        K::Obj(Obj::Seq(_, items)) => {
            let items = items.lock().clone();
            let mut out = Vec::new();
            for i in &items {
                out.push(from_object(i, depth + 1)?);
            }
            JToken::Array(shared(out))
        }
        K::Obj(Obj::Dict(d)) => {
            let entries: Vec<(Dynamic, Dynamic)> = d.lock().map.values().cloned().collect();
            let obj = JToken::new_object();
            for (k, val) in entries {
                obj.set_key(&to_display_string(&k), from_object(&val, depth + 1)?)?;
            }
            obj
        }
        K::Obj(Obj::DateTime(..)) => {
            JToken::string(&to_string_fmt(v, "yyyy-MM-ddTHH:mm:ss.FFFFFFFK")?)
        }
        K::Obj(Obj::Enum(e)) => JToken::Value(JValue::Int(e.value)),
        _ => to_json_token(v)?,
    })
}

fn jv(j: JToken) -> Dynamic {
    json(j)
}

fn opt_json(j: Option<JToken>) -> Dynamic {
    j.map(jv).unwrap_or(Dynamic::UNIT)
}

/// Every item of an enumerable value, as `foreach` sees it.
pub fn items(v: &Dynamic) -> Res<Vec<Dynamic>> {
    Ok(match kind(v) {
        K::Null => return Err(arg_null("source")),
        K::Str(s) => s.chars().map(Dynamic::from_char).collect(),
        K::Obj(o) => match o {
            Obj::Seq(_, items) => items.lock().clone(),
            Obj::Dict(d) => d
                .lock()
                .map
                .values()
                .map(|(k, v)| obj(Obj::KeyValue(Arc::new((k.clone(), v.clone())))))
                .collect(),
            Obj::Json(j) => j.children().into_iter().map(jv).collect(),
            Obj::Bytes(b) => b.lock().iter().map(|b| int(*b as i32)).collect(),
            Obj::Matches(m) => m.as_ref().clone(),
            Obj::Groups(m) => m
                .groups
                .iter()
                .map(|g| obj(Obj::Group(Arc::new(g.clone()))))
                .collect(),
            Obj::Tuple(t) => t.as_ref().clone(),
            _ => {
                return Err(invalid_cast(
                    &o.type_name(),
                    "System.Collections.IEnumerable",
                ));
            }
        },
        _ => return Err(invalid_cast(&type_of(v), "System.Collections.IEnumerable")),
    })
}

fn call_fn(ctx: &NativeCallContext, f: &Dynamic, args: Vec<Dynamic>) -> Res {
    let Some(fp) = f.read_lock::<FnPtr>().map(|f| f.clone()) else {
        return Err(throw(
            "ArgumentException",
            format!("expected a lambda, got '{}'", type_of(f)),
        ));
    };
    match args.len() {
        1 => fp.call_within_context::<Dynamic>(ctx, (arg(&args, 0),)),
        2 => fp.call_within_context::<Dynamic>(ctx, (arg(&args, 0), arg(&args, 1))),
        _ => fp.call_within_context::<Dynamic>(ctx, ()),
    }
}

fn pred(ctx: &NativeCallContext, f: &Dynamic, x: &Dynamic, i: usize) -> Res<bool> {
    let arity = f.read_lock::<FnPtr>().map(|f| f.curry().len()).unwrap_or(0);
    let _ = arity;
    let r = call_fn(ctx, f, vec![x.clone()]).or_else(|e| {
        if matches!(*e, rhai::EvalAltResult::ErrorFunctionNotFound(..)) {
            call_fn(ctx, f, vec![x.clone(), int(i as i32)])
        } else {
            Err(e)
        }
    })?;
    truthy(&r)
}

fn no_elements() -> Box<rhai::EvalAltResult> {
    throw("InvalidOperationException", "Sequence contains no elements")
}

fn no_match() -> Box<rhai::EvalAltResult> {
    throw(
        "InvalidOperationException",
        "Sequence contains no matching element",
    )
}

fn seq_of(kind: SeqKind, items: Vec<Dynamic>) -> Dynamic {
    seq(kind, items)
}

fn sum(xs: &[Dynamic]) -> Res {
    let mut acc = int(0);
    let mut first = true;
    for x in xs {
        if x.is_unit() {
            continue;
        }
        if first {
            acc = match num(x) {
                Some(N::I(_)) => int(0),
                Some(N::L(_)) => long(0),
                Some(N::D(_)) => Dynamic::from_float(0.0),
                Some(N::M(_)) => obj(Obj::Decimal(0.0)),
                None => return Err(invalid_cast(&type_of(x), "System.Int32")),
            };
            first = false;
        }
        acc = match (num(&acc), num(x)) {
            (Some(N::I(a)), Some(N::I(b))) => int(a.checked_add(b).ok_or_else(|| {
                throw(
                    "OverflowException",
                    "Arithmetic operation resulted in an overflow.",
                )
            })?),
            _ => add(acc, x.clone())?,
        };
    }
    Ok(acc)
}

/// LINQ over any enumerable, eagerly.
fn linq(
    ctx: &NativeCallContext,
    v: &Dynamic,
    name: &str,
    targs: &str,
    args: &[Dynamic],
) -> Res<Option<Dynamic>> {
    let f = |i: usize| arg(args, i);
    let has_fn = |i: usize| args.get(i).is_some_and(|a| a.is::<FnPtr>());
    let project = |xs: Vec<Dynamic>, i: usize| -> Res<Vec<Dynamic>> {
        if has_fn(i) {
            xs.iter()
                .map(|x| call_fn(ctx, &f(i), vec![x.clone()]))
                .collect()
        } else {
            Ok(xs)
        }
    };
    let filter = |xs: Vec<Dynamic>, i: usize| -> Res<Vec<Dynamic>> {
        if has_fn(i) {
            let mut out = Vec::new();
            for (n, x) in xs.into_iter().enumerate() {
                if pred(ctx, &f(i), &x, n)? {
                    out.push(x);
                }
            }
            Ok(out)
        } else {
            Ok(xs)
        }
    };
    let r = match name {
        "Where" => seq_of(SeqKind::Enumerable, filter(items(v)?, 0)?),
        "Select" => {
            let xs = items(v)?;
            let mut out = Vec::with_capacity(xs.len());
            for (n, x) in xs.into_iter().enumerate() {
                let r = call_fn(ctx, &f(0), vec![x.clone()]).or_else(|e| {
                    if matches!(*e, rhai::EvalAltResult::ErrorFunctionNotFound(..)) {
                        call_fn(ctx, &f(0), vec![x, int(n as i32)])
                    } else {
                        Err(e)
                    }
                })?;
                out.push(r);
            }
            seq_of(SeqKind::Enumerable, out)
        }
        "SelectMany" => {
            let mut out = Vec::new();
            for x in project(items(v)?, 0)? {
                out.extend(items(&x)?);
            }
            seq_of(SeqKind::Enumerable, out)
        }
        "Any" => Dynamic::from_bool(!filter(items(v)?, 0)?.is_empty()),
        "All" => {
            let xs = items(v)?;
            let mut all = true;
            for (n, x) in xs.iter().enumerate() {
                if !pred(ctx, &f(0), x, n)? {
                    all = false;
                    break;
                }
            }
            Dynamic::from_bool(all)
        }
        "Count" | "LongCount" => {
            let n = filter(items(v)?, 0)?.len();
            if name == "Count" {
                int(n as i32)
            } else {
                long(n as i64)
            }
        }
        "First" | "FirstOrDefault" | "Last" | "LastOrDefault" | "Single" | "SingleOrDefault" => {
            let all = items(v)?;
            let had_any = !all.is_empty();
            let xs = filter(all.clone(), 0)?;
            let or_default = name.ends_with("OrDefault");
            let default = if or_default && args.len() > usize::from(has_fn(0)) {
                f(usize::from(has_fn(0)))
            } else {
                // default(T): sequences carry no element type, so it is read off an element (0 for
                // numbers, false for bool, null for references); an empty sequence gives null.
                all.first()
                    .map(|x| crate::statics::default_of(&crate::statics::canonical_runtime_type(x)))
                    .unwrap_or(Dynamic::UNIT)
            };
            let empty = || {
                if has_fn(0) && had_any {
                    no_match()
                } else {
                    no_elements()
                }
            };
            match name {
                "First" => xs.first().cloned().ok_or_else(empty)?,
                "Last" => xs.last().cloned().ok_or_else(empty)?,
                "FirstOrDefault" => xs.first().cloned().unwrap_or(default),
                "LastOrDefault" => xs.last().cloned().unwrap_or(default),
                _ => {
                    if xs.len() > 1 {
                        return Err(throw(
                            "InvalidOperationException",
                            if has_fn(0) {
                                "Sequence contains more than one matching element"
                            } else {
                                "Sequence contains more than one element"
                            },
                        ));
                    }
                    match xs.first() {
                        Some(x) => x.clone(),
                        None if or_default => default,
                        None => return Err(empty()),
                    }
                }
            }
        }
        "ElementAt" | "ElementAtOrDefault" => {
            let xs = items(v)?;
            let i = int_of(&f(0), "index")?;
            match xs.get(i as usize).filter(|_| i >= 0) {
                Some(x) => x.clone(),
                None if name == "ElementAtOrDefault" => Dynamic::UNIT,
                None => {
                    return Err(arg_out_of_range(
                        "index",
                        "Index was out of range. Must be non-negative and less than the size of the collection.",
                    ));
                }
            }
        }
        "Sum" => sum(&project(items(v)?, 0)?)?,
        "Average" => {
            let xs = project(items(v)?, 0)?;
            if xs.is_empty() {
                return Err(no_elements());
            }
            let total: f64 = xs.iter().map(f64_of).sum::<Res<f64>>()?;
            Dynamic::from_float(total / xs.len() as f64)
        }
        "Min" | "Max" => {
            let xs = project(items(v)?, 0)?;
            let mut best: Option<Dynamic> = None;
            for x in xs {
                best = Some(match best {
                    None => x,
                    Some(b) => {
                        let o = order(&x, &b);
                        if (name == "Min" && o.is_lt()) || (name == "Max" && o.is_gt()) {
                            x
                        } else {
                            b
                        }
                    }
                });
            }
            best.ok_or_else(no_elements)?
        }
        "OrderBy" | "OrderByDescending" | "ThenBy" | "ThenByDescending" => {
            let xs = items(v)?;
            let mut keyed: Vec<(Dynamic, Dynamic)> = Vec::with_capacity(xs.len());
            for x in xs {
                let k = if has_fn(0) {
                    call_fn(ctx, &f(0), vec![x.clone()])?
                } else {
                    x.clone()
                };
                keyed.push((k, x));
            }
            keyed.sort_by(|a, b| order(&a.0, &b.0));
            if name.ends_with("Descending") {
                keyed.reverse();
            }
            seq_of(
                SeqKind::Enumerable,
                keyed.into_iter().map(|(_, x)| x).collect(),
            )
        }
        "Reverse" => {
            let mut xs = items(v)?;
            xs.reverse();
            seq_of(SeqKind::Enumerable, xs)
        }
        "Skip" | "Take" => {
            let xs = items(v)?;
            let n = int_of(&f(0), "count")?.max(0) as usize;
            let xs = if name == "Skip" {
                xs.into_iter().skip(n).collect()
            } else {
                xs.into_iter().take(n).collect()
            };
            seq_of(SeqKind::Enumerable, xs)
        }
        "SkipWhile" | "TakeWhile" => {
            let xs = items(v)?;
            let mut out = Vec::new();
            let mut taking = name == "TakeWhile";
            let mut skipping = name == "SkipWhile";
            for (n, x) in xs.into_iter().enumerate() {
                if skipping && pred(ctx, &f(0), &x, n)? {
                    continue;
                }
                skipping = false;
                if taking && !pred(ctx, &f(0), &x, n)? {
                    taking = false;
                    break;
                }
                out.push(x);
            }
            let _ = taking;
            seq_of(SeqKind::Enumerable, out)
        }
        "Distinct" => {
            let mut out: Vec<Dynamic> = Vec::new();
            for x in items(v)? {
                if !out.iter().any(|y| equals(y, &x)) {
                    out.push(x);
                }
            }
            seq_of(SeqKind::Enumerable, out)
        }
        "Contains" if !v.is_string() => {
            let needle = f(0);
            Dynamic::from_bool(
                items(v)?
                    .iter()
                    .any(|x| equals(x, &needle) || json_value_equals(x, &needle)),
            )
        }
        "ToList" => seq_of(SeqKind::List, items(v)?),
        "ToArray" => seq_of(SeqKind::Array, items(v)?),
        "ToHashSet" => {
            let mut out: Vec<Dynamic> = Vec::new();
            for x in items(v)? {
                if !out.iter().any(|y| equals(y, &x)) {
                    out.push(x);
                }
            }
            seq_of(SeqKind::Set, out)
        }
        "AsEnumerable" => seq_of(SeqKind::Enumerable, items(v)?),
        "Concat" | "Union" | "Intersect" | "Except" if !v.is_string() => {
            let a = items(v)?;
            let b = items(&f(0))?;
            let out: Vec<Dynamic> = match name {
                "Concat" => a.into_iter().chain(b).collect(),
                "Union" => {
                    let mut out: Vec<Dynamic> = Vec::new();
                    for x in a.into_iter().chain(b) {
                        if !out.iter().any(|y| equals(y, &x)) {
                            out.push(x);
                        }
                    }
                    out
                }
                "Intersect" => a
                    .into_iter()
                    .filter(|x| b.iter().any(|y| equals(x, y)))
                    .collect(),
                _ => a
                    .into_iter()
                    .filter(|x| !b.iter().any(|y| equals(x, y)))
                    .collect(),
            };
            seq_of(SeqKind::Enumerable, out)
        }
        "ToDictionary" => {
            let mut d = Dict::new(false, "dictionary");
            for x in items(v)? {
                let k = call_fn(ctx, &f(0), vec![x.clone()])?;
                let val = if has_fn(1) {
                    call_fn(ctx, &f(1), vec![x.clone()])?
                } else {
                    x
                };
                let key = d.key(&k);
                if d.map.contains_key(&key) {
                    return Err(duplicate_key(&k));
                }
                d.map.insert(key, (k, val));
            }
            obj(Obj::Dict(shared(d)))
        }
        "GroupBy" => {
            let mut groups: Vec<(Dynamic, Vec<Dynamic>)> = Vec::new();
            for x in items(v)? {
                let k = call_fn(ctx, &f(0), vec![x.clone()])?;
                let val = if has_fn(1) {
                    call_fn(ctx, &f(1), vec![x.clone()])?
                } else {
                    x
                };
                match groups.iter_mut().find(|(g, _)| equals(g, &k)) {
                    Some((_, xs)) => xs.push(val),
                    None => groups.push((k, vec![val])),
                }
            }
            seq_of(
                SeqKind::Enumerable,
                groups
                    .into_iter()
                    .map(|(k, xs)| {
                        record(
                            "IGrouping",
                            vec![("Key", k), ("Items", seq(SeqKind::Enumerable, xs))],
                        )
                    })
                    .collect(),
            )
        }
        "Aggregate" => {
            let xs = items(v)?;
            let (mut acc, func, rest) = if args.len() >= 2 && !has_fn(0) {
                (f(0), f(1), xs)
            } else {
                let mut it = xs.into_iter();
                let first = it.next().ok_or_else(no_elements)?;
                (first, f(0), it.collect())
            };
            for x in rest {
                acc = call_fn(ctx, &func, vec![acc, x])?;
            }
            acc
        }
        "SequenceEqual" => {
            let a = items(v)?;
            let b = items(&f(0))?;
            Dynamic::from_bool(a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| equals(x, y)))
        }
        "DefaultIfEmpty" => {
            let xs = items(v)?;
            seq_of(
                SeqKind::Enumerable,
                if xs.is_empty() { vec![f(0)] } else { xs },
            )
        }
        "Cast" | "OfType" => {
            let xs = items(v)?;
            let mut out = Vec::new();
            for x in xs {
                if name == "OfType" {
                    if is_instance(&x, targs) {
                        out.push(x);
                    }
                } else if targs.is_empty()
                    || targs == "System.Object"
                    || is_instance(&x, targs)
                    || x.is_unit()
                {
                    out.push(x);
                } else {
                    out.push(cast(x, targs, STATIC_OBJECT)?);
                }
            }
            seq_of(SeqKind::Enumerable, out)
        }
        "Zip" => {
            let a = items(v)?;
            let b = items(&f(0))?;
            let mut out = Vec::new();
            for (x, y) in a.into_iter().zip(b) {
                out.push(if has_fn(1) {
                    call_fn(ctx, &f(1), vec![x, y])?
                } else {
                    obj(Obj::Tuple(Arc::new(vec![x, y])))
                });
            }
            seq_of(SeqKind::Enumerable, out)
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

/// `JArray.Contains("x")` compares tokens by reference in .NET, so a string never matches; keep that.
fn json_value_equals(_x: &Dynamic, _needle: &Dynamic) -> bool {
    false
}

// ----- strings -----

fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

fn utf16_slice(s: &str, start: usize, len: usize) -> String {
    if s.is_ascii() {
        return s[start..start + len].to_string();
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    String::from_utf16_lossy(&units[start..start + len])
}

/// Byte offset of a UTF-16 index, or the UTF-16 index of a byte offset.
fn utf16_index_of_byte(s: &str, byte: usize) -> usize {
    if s.is_ascii() {
        byte
    } else {
        s[..byte].encode_utf16().count()
    }
}

fn comparison_ignores_case(v: &Dynamic) -> bool {
    match kind(v) {
        K::Obj(Obj::Enum(e)) => e.name.ends_with("IgnoreCase"),
        K::Bool(b) => b,
        _ => false,
    }
}

fn split_options(args: &[Dynamic]) -> (i64, Option<i64>) {
    let mut opts = 0;
    let mut count = None;
    for a in args {
        match kind(a) {
            K::Obj(Obj::Enum(e)) if e.ty == "StringSplitOptions" => opts = e.value,
            K::Int(i) => count = Some(i as i64),
            _ => {}
        }
    }
    (opts, count)
}

fn string_member(
    ctx: &NativeCallContext,
    s: &ImmutableString,
    v: &Dynamic,
    name: &str,
    targs: &str,
    args: &[Dynamic],
) -> Res<Option<Dynamic>> {
    let a = |i: usize| arg(args, i);
    let sarg = |i: usize, what: &str| string_arg(&a(i), what);
    let len = utf16_len(s);
    let r = match (name, args.len()) {
        ("Length", _) => int(len as i32),
        ("ToString", 0) | ("Clone", 0) | ("Normalize", _) => v.clone(),
        ("ToLower" | "ToLowerInvariant", _) => string(s.to_lowercase()),
        ("ToUpper" | "ToUpperInvariant", _) => string(s.to_uppercase()),
        ("Trim", 0) => string(s.trim()),
        ("TrimStart", 0) => string(s.trim_start()),
        ("TrimEnd", 0) => string(s.trim_end()),
        ("Trim" | "TrimStart" | "TrimEnd", _) => {
            let mut chars: Vec<char> = Vec::new();
            for x in args {
                match kind(x) {
                    K::Char(c) => chars.push(c),
                    K::Str(t) => chars.extend(t.chars()),
                    K::Obj(Obj::Seq(_, xs)) => {
                        chars.extend(xs.lock().iter().filter_map(|c| c.as_char().ok()))
                    }
                    _ => {}
                }
            }
            let t: &str = match name {
                "Trim" => s.trim_matches(chars.as_slice()),
                "TrimStart" => s.trim_start_matches(chars.as_slice()),
                _ => s.trim_end_matches(chars.as_slice()),
            };
            string(t)
        }
        ("Contains", _) => {
            let needle = match kind(&a(0)) {
                K::Char(c) => c.to_string(),
                K::Null => return Err(arg_null("value")),
                _ => sarg(0, "value")?.to_string(),
            };
            if comparison_ignores_case(&a(1)) {
                Dynamic::from_bool(s.to_lowercase().contains(&needle.to_lowercase()))
            } else {
                Dynamic::from_bool(s.contains(needle.as_str()))
            }
        }
        ("StartsWith" | "EndsWith", _) => {
            let needle = match kind(&a(0)) {
                K::Char(c) => c.to_string(),
                K::Null => return Err(arg_null("value")),
                _ => sarg(0, "value")?.to_string(),
            };
            let (h, n) = if comparison_ignores_case(&a(1)) {
                (s.to_lowercase(), needle.to_lowercase())
            } else {
                (s.to_string(), needle)
            };
            Dynamic::from_bool(if name == "StartsWith" {
                h.starts_with(&n)
            } else {
                h.ends_with(&n)
            })
        }
        ("IndexOf" | "LastIndexOf", _) => {
            let needle = match kind(&a(0)) {
                K::Char(c) => c.to_string(),
                K::Null => return Err(arg_null("value")),
                _ => sarg(0, "value")?.to_string(),
            };
            let ignore = args.iter().skip(1).any(comparison_ignores_case);
            let start = match kind(&a(1)) {
                K::Int(i) => {
                    if i < 0 || i as usize > len {
                        return Err(arg_out_of_range(
                            "startIndex",
                            "Index was out of range. Must be non-negative and less than the size of the collection.",
                        ));
                    }
                    i as usize
                }
                _ => 0,
            };
            let (h, n) = if ignore {
                (s.to_lowercase(), needle.to_lowercase())
            } else {
                (s.to_string(), needle)
            };
            let hs: Vec<u16> = h.encode_utf16().collect();
            let ns: Vec<u16> = n.encode_utf16().collect();
            let found = if name == "IndexOf" {
                (start..=hs.len().saturating_sub(ns.len()))
                    .find(|&i| i + ns.len() <= hs.len() && hs[i..i + ns.len()] == ns[..])
            } else {
                (0..=hs.len().saturating_sub(ns.len()))
                    .rev()
                    .find(|&i| i + ns.len() <= hs.len() && hs[i..i + ns.len()] == ns[..])
            };
            int(found.map(|i| i as i32).unwrap_or(-1))
        }
        ("IndexOfAny", _) => {
            let set: Vec<char> = items(&a(0))?
                .iter()
                .filter_map(|c| c.as_char().ok())
                .collect();
            let idx = s
                .char_indices()
                .find(|(_, c)| set.contains(c))
                .map(|(b, _)| utf16_index_of_byte(s, b) as i32)
                .unwrap_or(-1);
            int(idx)
        }
        ("Substring", _) => {
            let start = int_of(&a(0), "startIndex")?;
            if start < 0 || start as usize > len {
                return Err(arg_out_of_range(
                    "startIndex",
                    "startIndex cannot be larger than length of string.",
                ));
            }
            let count = if args.len() > 1 {
                int_of(&a(1), "length")?
            } else {
                (len - start as usize) as i64
            };
            if count < 0 || start as usize + count as usize > len {
                return Err(arg_out_of_range(
                    "length",
                    "Index and length must refer to a location within the string.",
                ));
            }
            string(utf16_slice(s, start as usize, count as usize))
        }
        ("Remove", _) => {
            let start = int_of(&a(0), "startIndex")?;
            let count = if args.len() > 1 {
                int_of(&a(1), "count")?
            } else {
                len as i64 - start
            };
            if start < 0 || count < 0 || (start + count) as usize > len {
                return Err(arg_out_of_range(
                    "count",
                    "Index and count must refer to a location within the string.",
                ));
            }
            let units: Vec<u16> = s.encode_utf16().collect();
            let mut out = units[..start as usize].to_vec();
            out.extend_from_slice(&units[(start + count) as usize..]);
            string(String::from_utf16_lossy(&out))
        }
        ("Insert", 2) => {
            let at = int_of(&a(0), "startIndex")? as usize;
            if at > len {
                return Err(arg_out_of_range("startIndex", "Index was out of range."));
            }
            let units: Vec<u16> = s.encode_utf16().collect();
            let mut out = String::from_utf16_lossy(&units[..at]);
            out.push_str(&sarg(1, "value")?);
            out.push_str(&String::from_utf16_lossy(&units[at..]));
            string(out)
        }
        ("Replace", _) => match (kind(&a(0)), kind(&a(1))) {
            (K::Char(x), K::Char(y)) => string(s.replace(x, &y.to_string())),
            (K::Null, _) => return Err(arg_null("oldValue")),
            (K::Str(x), _) if x.is_empty() => {
                return Err(throw(
                    "ArgumentException",
                    "String cannot be of zero length. (Parameter 'oldValue')",
                ));
            }
            (K::Str(x), K::Null) => string(s.replace(x.as_str(), "")),
            (K::Str(x), _) => {
                if comparison_ignores_case(&a(2)) {
                    string(replace_ignore_case(s, &x, &sarg(1, "newValue")?))
                } else {
                    string(s.replace(x.as_str(), &sarg(1, "newValue")?))
                }
            }
            _ => return Ok(None),
        },
        ("Split", _) => {
            let mut seps: Vec<String> = Vec::new();
            for x in args {
                match kind(x) {
                    K::Char(c) => seps.push(c.to_string()),
                    K::Str(t) => seps.push(t.to_string()),
                    K::Obj(Obj::Seq(_, xs)) => {
                        for y in xs.lock().iter() {
                            seps.push(to_display_string(y));
                        }
                    }
                    _ => {}
                }
            }
            let (opts, count) = split_options(args);
            let mut parts: Vec<String> = if seps.is_empty() || seps.iter().all(|x| x.is_empty()) {
                s.split(char::is_whitespace).map(str::to_string).collect()
            } else {
                split_multi(s, &seps, count)
            };
            if opts & 2 != 0 {
                parts = parts.into_iter().map(|p| p.trim().to_string()).collect();
            }
            if opts & 1 != 0 {
                parts.retain(|p| !p.is_empty());
            }
            seq(SeqKind::Array, parts.into_iter().map(string).collect())
        }
        ("PadLeft" | "PadRight", _) => {
            let width = int_of(&a(0), "totalWidth")?;
            if width < 0 {
                return Err(arg_out_of_range(
                    "totalWidth",
                    "Non-negative number required.",
                ));
            }
            if width > MAX_CHARS {
                return Err(sandbox_limit("a string length", width));
            }
            let width = width as usize;
            let c = a(1).as_char().unwrap_or(' ');
            let pad: String = std::iter::repeat_n(c, width.saturating_sub(len)).collect();
            string(if name == "PadLeft" {
                format!("{pad}{s}")
            } else {
                format!("{s}{pad}")
            })
        }
        ("Equals", _) => {
            let other = a(0);
            match str_of(&other) {
                Some(o) if comparison_ignores_case(&a(1)) => {
                    Dynamic::from_bool(s.to_lowercase() == o.to_lowercase())
                }
                Some(o) => Dynamic::from_bool(*s == o),
                None => Dynamic::FALSE,
            }
        }
        ("CompareTo", 1) => match str_of(&a(0)) {
            Some(o) => int(compare_strings_culture(s, &o) as i32),
            None => int(1),
        },
        ("ToCharArray", _) => seq(SeqKind::Array, s.chars().map(Dynamic::from_char).collect()),
        ("GetHashCode", 0) => int(s
            .bytes()
            .fold(17i32, |h, b| h.wrapping_mul(31).wrapping_add(b as i32))),
        ("AsJwt", 0) => crate::context::parse_jwt(s).unwrap_or(Dynamic::UNIT),
        ("AsBasic", 0) => crate::context::parse_basic(s).unwrap_or(Dynamic::UNIT),
        ("TryParseJwt", _) => {
            let j = crate::context::parse_jwt(s);
            seq(
                SeqKind::Array,
                vec![Dynamic::from_bool(j.is_some()), j.unwrap_or(Dynamic::UNIT)],
            )
        }
        ("TryParseBasic", _) => {
            let j = crate::context::parse_basic(s);
            seq(
                SeqKind::Array,
                vec![Dynamic::from_bool(j.is_some()), j.unwrap_or(Dynamic::UNIT)],
            )
        }
        ("IsNormalized", _) => Dynamic::TRUE,
        _ => return linq(ctx, v, name, targs, args),
    };
    Ok(Some(r))
}

fn replace_ignore_case(s: &str, from: &str, to: &str) -> String {
    let lower = s.to_lowercase();
    let needle = from.to_lowercase();
    if lower.len() != s.len() {
        return s.replace(from, to);
    }
    let mut out = String::new();
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&needle) {
        out.push_str(&s[i..i + pos]);
        out.push_str(to);
        i += pos + needle.len();
    }
    out.push_str(&s[i..]);
    out
}

fn split_multi(s: &str, seps: &[String], count: Option<i64>) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = s;
    let max = count.unwrap_or(i64::MAX).max(1) as usize;
    loop {
        if parts.len() + 1 >= max {
            parts.push(rest.to_string());
            return parts;
        }
        let next = seps
            .iter()
            .filter(|x| !x.is_empty())
            .filter_map(|x| rest.find(x.as_str()).map(|i| (i, x.len())))
            .min_by_key(|(i, _)| *i);
        match next {
            Some((i, l)) => {
                parts.push(rest[..i].to_string());
                rest = &rest[i + l..];
            }
            None => {
                parts.push(rest.to_string());
                return parts;
            }
        }
    }
}

// ----- dates -----

pub fn parse_datetime(s: &str) -> Res {
    let t = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        let utc = dt.naive_utc();
        // .NET parses a string with an offset into local time; apim-emu's local zone is UTC.
        return Ok(obj(Obj::DateTime(
            format::naive_to_ticks(&utc),
            if t.ends_with('Z') || t.ends_with('z') {
                DateKind::Utc
            } else {
                DateKind::Local
            },
        )));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Ok(obj(Obj::DateTime(
                format::naive_to_ticks(&dt),
                DateKind::Unspecified,
            )));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%m/%d/%Y"))
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(obj(Obj::DateTime(
            format::naive_to_ticks(&dt),
            DateKind::Unspecified,
        )));
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc2822(t) {
        return Ok(obj(Obj::DateTime(
            format::naive_to_ticks(&dt.naive_utc()),
            DateKind::Local,
        )));
    }
    Err(format_error(&format!(
        "The string '{s}' was not recognized as a valid DateTime."
    )))
}

pub fn parse_datetime_offset(s: &str) -> Res {
    let t = s.trim();
    if let Ok(dt) =
        chrono::DateTime::parse_from_rfc3339(t).or_else(|_| chrono::DateTime::parse_from_rfc2822(t))
    {
        let offset = dt.offset().local_minus_utc() / 60;
        return Ok(obj(Obj::DateTimeOffset(
            format::naive_to_ticks(&dt.naive_local()),
            offset,
        )));
    }
    match kind(&parse_datetime(s)?) {
        K::Obj(Obj::DateTime(t, _)) => Ok(obj(Obj::DateTimeOffset(t, 0))),
        _ => Err(format_error(&format!(
            "The string '{s}' was not recognized as a valid DateTime."
        ))),
    }
}

pub fn parse_guid(s: &str) -> Res {
    let t = s
        .trim()
        .trim_start_matches(['{', '('])
        .trim_end_matches(['}', ')']);
    uuid::Uuid::parse_str(t)
        .map(|u| obj(Obj::Guid(u.as_u128())))
        .map_err(|_| format_error("Unrecognized Guid format."))
}

fn date_member(
    ticks: i64,
    k: Option<DateKind>,
    offset: i32,
    name: &str,
    args: &[Dynamic],
) -> Res<Option<Dynamic>> {
    let mk = |t: i64| -> Res {
        Ok(match k {
            Some(k) => obj(Obj::DateTime(t, k)),
            None => obj(Obj::DateTimeOffset(t, offset)),
        })
    };
    let Some(dt) = format::ticks_to_naive(ticks) else {
        return Ok(None);
    };
    use chrono::{Datelike, Timelike};
    let add_units = |unit: f64| -> Res {
        let x = f64_of(&arg(args, 0))?;
        let delta = (x * unit).round() as i64;
        mk(date_add(ticks, delta)?)
    };
    let r = match name {
        "Year" => int(dt.year()),
        "Month" => int(dt.month() as i32),
        "Day" => int(dt.day() as i32),
        "Hour" => int(dt.hour() as i32),
        "Minute" => int(dt.minute() as i32),
        "Second" => int(dt.second() as i32),
        "Millisecond" => int((ticks / 10_000 % 1000) as i32),
        "Ticks" => long(ticks),
        "DayOfYear" => int(dt.ordinal() as i32),
        "DayOfWeek" => {
            let d = dt.weekday().num_days_from_sunday() as i64;
            enum_value("DayOfWeek", format::day_name(&dt), d)
        }
        "Date" => mk(ticks - ticks % format::TICKS_PER_DAY)?,
        "TimeOfDay" => obj(Obj::TimeSpan(ticks % format::TICKS_PER_DAY)),
        "Kind" => match k {
            Some(DateKind::Utc) => enum_value("DateTimeKind", "Utc", 1),
            Some(DateKind::Local) => enum_value("DateTimeKind", "Local", 2),
            _ => enum_value("DateTimeKind", "Unspecified", 0),
        },
        "Offset" => obj(Obj::TimeSpan(offset as i64 * 600_000_000)),
        "UtcDateTime" => obj(Obj::DateTime(
            ticks - offset as i64 * 600_000_000,
            DateKind::Utc,
        )),
        "DateTime" | "LocalDateTime" => obj(Obj::DateTime(ticks, DateKind::Unspecified)),
        "UtcTicks" => long(ticks - offset as i64 * 600_000_000),
        "AddDays" => add_units(format::TICKS_PER_DAY as f64)?,
        "AddHours" => add_units(36_000_000_000.0)?,
        "AddMinutes" => add_units(600_000_000.0)?,
        "AddSeconds" => add_units(TICKS_PER_SECOND as f64)?,
        "AddMilliseconds" => add_units(10_000.0)?,
        "AddTicks" => mk(date_add(ticks, int_of(&arg(args, 0), "value")?)?)?,
        "AddMonths" | "AddYears" => {
            let n =
                int_of(&arg(args, 0), "months")? as i32 * if name == "AddYears" { 12 } else { 1 };
            let months = dt.year() * 12 + dt.month0() as i32 + n;
            let (y, m) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
            let last = days_in_month(y, m);
            let d = chrono::NaiveDate::from_ymd_opt(y, m, dt.day().min(last))
                .and_then(|d| {
                    d.and_hms_nano_opt(dt.hour(), dt.minute(), dt.second(), dt.nanosecond())
                })
                .ok_or_else(|| {
                    arg_out_of_range(
                        "months",
                        "The added or subtracted value results in an un-representable DateTime.",
                    )
                })?;
            mk(format::naive_to_ticks(&d))?
        }
        "Add" => match kind(&arg(args, 0)) {
            K::Obj(Obj::TimeSpan(s)) => mk(date_add(ticks, s)?)?,
            _ => return Ok(None),
        },
        "Subtract" => match kind(&arg(args, 0)) {
            K::Obj(Obj::TimeSpan(s)) => mk(date_add(ticks, -s)?)?,
            K::Obj(Obj::DateTime(t, _)) => obj(Obj::TimeSpan(ticks - t)),
            K::Obj(Obj::DateTimeOffset(t, o)) => obj(Obj::TimeSpan(
                (ticks - offset as i64 * 600_000_000) - (t - o as i64 * 600_000_000),
            )),
            _ => return Ok(None),
        },
        "ToUnixTimeSeconds" => long(
            (ticks - offset as i64 * 600_000_000 - format::UNIX_EPOCH_TICKS)
                .div_euclid(TICKS_PER_SECOND),
        ),
        "ToUnixTimeMilliseconds" => long(
            (ticks - offset as i64 * 600_000_000 - format::UNIX_EPOCH_TICKS).div_euclid(10_000),
        ),
        "ToUniversalTime" if k.is_none() => {
            obj(Obj::DateTimeOffset(ticks - offset as i64 * 600_000_000, 0))
        }
        "IsDaylightSavingTime" => Dynamic::FALSE,
        "ToString" => {
            let f = str_of(&arg(args, 0))
                .map(|s| s.to_string())
                .unwrap_or_default();
            let zone = match k {
                Some(DateKind::Utc) => format::Zone::Utc,
                Some(_) => format::Zone::None,
                None => format::Zone::Offset(offset),
            };
            string(
                format::format_datetime(ticks, zone, &f)
                    .ok_or_else(|| format_error("Input string was not in a correct format."))?,
            )
        }
        "CompareTo" => {
            let o = match kind(&arg(args, 0)) {
                K::Obj(Obj::DateTime(t, _)) => t,
                K::Obj(Obj::DateTimeOffset(t, o)) => t - o as i64 * 600_000_000,
                _ => return Ok(None),
            };
            int((ticks - offset as i64 * 600_000_000).cmp(&o) as i32)
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .map(|d| chrono::Datelike::day(&d))
        .unwrap_or(31)
}

fn timespan_member(t: i64, name: &str) -> Option<Dynamic> {
    Some(match name {
        "Days" => int((t / format::TICKS_PER_DAY) as i32),
        "Hours" => int((t / 36_000_000_000 % 24) as i32),
        "Minutes" => int((t / 600_000_000 % 60) as i32),
        "Seconds" => int((t / TICKS_PER_SECOND % 60) as i32),
        "Milliseconds" => int((t / 10_000 % 1000) as i32),
        "Ticks" => long(t),
        "TotalDays" => Dynamic::from_float(t as f64 / format::TICKS_PER_DAY as f64),
        "TotalHours" => Dynamic::from_float(t as f64 / 36_000_000_000.0),
        "TotalMinutes" => Dynamic::from_float(t as f64 / 600_000_000.0),
        "TotalSeconds" => Dynamic::from_float(t as f64 / TICKS_PER_SECOND as f64),
        "TotalMilliseconds" => Dynamic::from_float(t as f64 / 10_000.0),
        "Duration" => obj(Obj::TimeSpan(t.abs())),
        "Negate" => obj(Obj::TimeSpan(-t)),
        _ => return None,
    })
}

// ----- the dispatcher -----

/// `value.Name` (a property or field).
pub fn get_member(ctx: &NativeCallContext, v: &Dynamic, name: &str) -> Res {
    // Fast path for the context model (`context.Response.StatusCode`): a record field.
    if let Some(o) = v.read_lock::<Obj>()
        && let Obj::Record(r) = &*o
        && let Some(x) = r.get(name)
    {
        return Ok(x.clone());
    }
    match call_member(ctx, v, name, "", &[], true)? {
        Some(r) => Ok(r),
        None => Err(no_member(v, name)),
    }
}

/// `value.Name(args)`.
pub fn call_method(
    ctx: &NativeCallContext,
    v: &Dynamic,
    name: &str,
    targs: &str,
    args: &[Dynamic],
) -> Res {
    match call_member(ctx, v, name, targs, args, false)? {
        Some(r) => Ok(r),
        None => Err(no_member(v, name)),
    }
}

fn call_member(
    ctx: &NativeCallContext,
    v: &Dynamic,
    name: &str,
    targs: &str,
    args: &[Dynamic],
    property: bool,
) -> Res<Option<Dynamic>> {
    let a = |i: usize| arg(args, i);
    // Members every object has.
    if !property {
        match (name, args.len()) {
            ("ToString", 0) if !v.is_unit() => return Ok(Some(string(to_string_fmt(v, "")?))),
            ("ToString", 1)
                if num(v).is_some() && a(0).is_string() || v.is::<Obj>() && a(0).is_string() =>
            {
                if let K::Obj(Obj::Json(_)) = kind(v) {
                } else {
                    return Ok(Some(string(to_string_fmt(
                        v,
                        &str_of(&a(0)).unwrap_or_default(),
                    )?)));
                }
            }
            ("Equals", 1) if !v.is_string() && !v.is_unit() => {
                return Ok(Some(Dynamic::from_bool(
                    equals(v, &a(0)) || obj_deep_equals(v, &a(0)),
                )));
            }
            ("GetType", 0) if !v.is_unit() => return Ok(Some(obj(Obj::Type(type_of(v))))),
            ("HasValue", _) if property => return Ok(Some(Dynamic::from_bool(!v.is_unit()))),
            _ => {}
        }
    }
    if property && name == "HasValue" {
        return Ok(Some(Dynamic::from_bool(!v.is_unit())));
    }
    if property
        && name == "Value"
        && !v.is_unit()
        && (num(v).is_some() || v.is_bool() || v.is_char())
    {
        return Ok(Some(v.clone()));
    }
    match kind(v) {
        K::Null => Err(null_ref()),
        K::Str(s) => string_member(ctx, &s, v, name, targs, args),
        K::Int(_) | K::Double(_) | K::Bool(_) | K::Char(_) => Ok(match name {
            "CompareTo" => Some(int(order(v, &a(0)) as i32)),
            "GetValueOrDefault" => Some(v.clone()),
            _ => None,
        }),
        K::Fn(_) | K::Other(_) => Ok(None),
        K::Obj(o) => obj_member(ctx, v, o, name, targs, args, property),
    }
}

fn obj_deep_equals(a: &Dynamic, b: &Dynamic) -> bool {
    match (kind(a), kind(b)) {
        (K::Obj(x), K::Obj(y)) => obj_equals(&x, &y, true),
        _ => false,
    }
}

fn obj_member(
    ctx: &NativeCallContext,
    v: &Dynamic,
    o: Obj,
    name: &str,
    targs: &str,
    args: &[Dynamic],
    property: bool,
) -> Res<Option<Dynamic>> {
    let a = |i: usize| arg(args, i);
    let r = match o {
        Obj::Long(_) | Obj::Decimal(_) => match name {
            "CompareTo" => int(order(v, &a(0)) as i32),
            _ => return Ok(None),
        },
        Obj::Guid(g) => match name {
            // .NET's byte order: the first three fields little-endian, the rest as written.
            "ToByteArray" => obj(Obj::Bytes(shared(
                uuid::Uuid::from_u128(g).to_bytes_le().to_vec(),
            ))),
            _ => return Ok(None),
        },
        Obj::DateTime(t, k) => return date_member(t, Some(k), 0, name, args),
        Obj::DateTimeOffset(t, off) => return date_member(t, None, off, name, args),
        Obj::TimeSpan(t) => match timespan_member(t, name) {
            Some(r) => r,
            None => match name {
                "Add" | "Subtract" => {
                    let other = match kind(&a(0)) {
                        K::Obj(Obj::TimeSpan(x)) => x,
                        _ => return Ok(None),
                    };
                    obj(Obj::TimeSpan(if name == "Add" {
                        t + other
                    } else {
                        t - other
                    }))
                }
                _ => return Ok(None),
            },
        },
        Obj::Uri(u) => match name {
            "Host" | "DnsSafeHost" | "IdnHost" => string(u.host.clone()),
            "Scheme" => string(u.scheme.clone()),
            "Port" => int(u.port as i32),
            "AbsolutePath" => string(u.path.clone()),
            "Query" => string(u.query_string.clone()),
            "PathAndQuery" => string(format!("{}{}", u.path, u.query_string)),
            "AbsoluteUri" | "OriginalString" => string(u.text.clone()),
            "Authority" => string(if is_default_port(&u.scheme, u.port) {
                u.host.clone()
            } else {
                format!("{}:{}", u.host, u.port)
            }),
            "IsDefaultPort" => Dynamic::from_bool(is_default_port(&u.scheme, u.port)),
            "Segments" => {
                let mut segs = vec![string("/")];
                let parts: Vec<&str> = u
                    .path
                    .trim_start_matches('/')
                    .split_inclusive('/')
                    .collect();
                segs.extend(parts.into_iter().filter(|p| !p.is_empty()).map(string));
                seq(SeqKind::Array, segs)
            }
            "GetLeftPart" => {
                let part = match kind(&a(0)) {
                    K::Obj(Obj::Enum(e)) => e.name,
                    _ => "Path",
                };
                let auth = if is_default_port(&u.scheme, u.port) {
                    u.host.clone()
                } else {
                    format!("{}:{}", u.host, u.port)
                };
                string(match part {
                    "Scheme" => format!("{}://", u.scheme),
                    "Authority" => format!("{}://{auth}", u.scheme),
                    "Query" => format!("{}://{auth}{}{}", u.scheme, u.path, u.query_string),
                    _ => format!("{}://{auth}{}", u.scheme, u.path),
                })
            }
            _ => return Ok(None),
        },
        Obj::Json(j) => return json_member(ctx, v, &j, name, targs, args, property),
        Obj::Seq(kind_, items_) => match name {
            "Length" if kind_ == SeqKind::Array => int(items_.lock().len() as i32),
            "Count"
                if property
                    || (args.is_empty()
                        && kind_ != SeqKind::Array
                        && kind_ != SeqKind::Enumerable) =>
            {
                int(items_.lock().len() as i32)
            }
            "Add" if kind_ == SeqKind::List => {
                items_.lock().push(a(0));
                Dynamic::UNIT
            }
            "Add" if kind_ == SeqKind::Set => {
                let x = a(0);
                let mut xs = items_.lock();
                let present = xs.iter().any(|y| equals(y, &x));
                if !present {
                    xs.push(x);
                }
                Dynamic::from_bool(!present)
            }
            "AddRange" => {
                let more = items(&a(0))?;
                items_.lock().extend(more);
                Dynamic::UNIT
            }
            "Insert" => {
                let i = int_of(&a(0), "index")?;
                let mut xs = items_.lock();
                if i < 0 || i as usize > xs.len() {
                    return Err(arg_out_of_range(
                        "index",
                        "Index must be within the bounds of the List.",
                    ));
                }
                xs.insert(i as usize, a(1));
                Dynamic::UNIT
            }
            "Remove" => {
                let x = a(0);
                let mut xs = items_.lock();
                match xs.iter().position(|y| equals(y, &x)) {
                    Some(i) => {
                        let _ = xs.remove(i);
                        Dynamic::TRUE
                    }
                    None => Dynamic::FALSE,
                }
            }
            "RemoveAt" => {
                let i = int_of(&a(0), "index")?;
                let mut xs = items_.lock();
                if i < 0 || i as usize >= xs.len() {
                    return Err(arg_out_of_range(
                        "index",
                        "Index was out of range. Must be non-negative and less than the size of the collection.",
                    ));
                }
                let _ = xs.remove(i as usize);
                Dynamic::UNIT
            }
            "Clear" => {
                items_.lock().clear();
                Dynamic::UNIT
            }
            "IndexOf" => {
                let x = a(0);
                int(items_
                    .lock()
                    .iter()
                    .position(|y| equals(y, &x))
                    .map(|i| i as i32)
                    .unwrap_or(-1))
            }
            "Sort" => {
                let mut xs = items_.lock().clone();
                xs.sort_by(order);
                *items_.lock() = xs;
                Dynamic::UNIT
            }
            "Key" | "Items" => return Ok(None),
            _ => return linq(ctx, v, name, targs, args),
        },
        Obj::Dict(d) => return dict_member(ctx, v, &d, name, targs, args, property),
        Obj::Bytes(b) => match name {
            "Length" => int(b.lock().len() as i32),
            // Azure: APIM's `byte[] Encrypt/Decrypt(this byte[] input, string alg, byte[] key, byte[] iv)`.
            "Encrypt" | "Decrypt" if args.len() == 3 && a(0).is_string() => {
                let alg = to_display_string(&a(0));
                let input = b.lock().clone();
                obj(Obj::Bytes(shared(crate::crypto::symmetric(
                    name == "Encrypt",
                    &alg,
                    &input,
                    &bytes_of(&a(1))?,
                    &bytes_of(&a(2))?,
                )?)))
            }
            _ => return linq(ctx, v, name, targs, args),
        },
        Obj::StringBuilder(sb) => match name {
            "Append" | "AppendLine" => {
                let text = if args.is_empty() {
                    String::new()
                } else {
                    to_string_fmt(&a(0), "")?
                };
                let mut s = sb.lock();
                s.push_str(&text);
                if name == "AppendLine" {
                    s.push_str(NEWLINE);
                }
                v.clone()
            }
            "AppendFormat" => {
                let text = crate::statics::string_format(
                    &string_arg(&a(0), "format")?,
                    &args[1.min(args.len())..],
                )?;
                sb.lock().push_str(&text);
                v.clone()
            }
            "Length" => int(utf16_len(&sb.lock()) as i32),
            "Clear" => {
                sb.lock().clear();
                v.clone()
            }
            "Insert" => {
                let at = int_of(&a(0), "index")? as usize;
                let text = to_string_fmt(&a(1), "")?;
                let mut s = sb.lock();
                let units: Vec<u16> = s.encode_utf16().collect();
                if at > units.len() {
                    return Err(arg_out_of_range("index", "Index was out of range."));
                }
                let mut out = String::from_utf16_lossy(&units[..at]);
                out.push_str(&text);
                out.push_str(&String::from_utf16_lossy(&units[at..]));
                *s = out;
                v.clone()
            }
            "Replace" => {
                let from = to_string_fmt(&a(0), "")?;
                let to = to_string_fmt(&a(1), "")?;
                let mut s = sb.lock();
                *s = s.replace(&from, &to);
                v.clone()
            }
            _ => return Ok(None),
        },
        Obj::Regex(re) => return crate::statics::regex_instance(ctx, re, name, args).map(Some),
        Obj::Match(m) | Obj::Groups(m)
            if name == "Groups"
                || matches!(v.read_lock::<Obj>().as_deref(), Some(Obj::Groups(_))) =>
        {
            match name {
                "Groups" => obj(Obj::Groups(m)),
                "Count" => int(m.groups.len() as i32),
                _ => return linq(ctx, v, name, targs, args),
            }
        }
        Obj::Match(m) => match name {
            "Success" => Dynamic::from_bool(m.success),
            "Value" => string(m.groups.first().map(|g| g.3.clone()).unwrap_or_default()),
            "Index" => int(m.groups.first().map(|g| g.2 as i32).unwrap_or(0)),
            "Length" => int(m
                .groups
                .first()
                .map(|g| utf16_len(&g.3) as i32)
                .unwrap_or(0)),
            "NextMatch" => crate::statics::regex_match_at(m.regex.clone(), &m.input, m.next_at)?,
            "Result" => {
                let pattern = string_arg(&a(0), "replacement")?;
                string(expand_replacement(&pattern, &m.groups))
            }
            _ => return Ok(None),
        },
        Obj::Groups(_) => return Ok(None),
        Obj::Group(g) => match name {
            "Success" => Dynamic::from_bool(g.1),
            "Value" => string(g.3.clone()),
            "Index" => int(g.2 as i32),
            "Length" => int(utf16_len(&g.3) as i32),
            "Name" => string(g.0.clone()),
            _ => return Ok(None),
        },
        Obj::Matches(ms) => match name {
            "Count" => int(ms.len() as i32),
            _ => return linq(ctx, v, name, targs, args),
        },
        Obj::Record(r) => {
            if let Some(x) = r.get(name) {
                if property {
                    return Ok(Some(x.clone()));
                }
                if x.is::<FnPtr>() {
                    return call_fn(ctx, x, args.to_vec()).map(Some);
                }
            }
            if r.ty == "IGrouping" {
                let xs = r.get("Items").cloned().unwrap_or(Dynamic::UNIT);
                return linq(ctx, &xs, name, targs, args);
            }
            if r.ty == "IUrl" && name == "ToUri" {
                return crate::statics::construct(
                    ctx,
                    "System.Uri",
                    "",
                    &[r.get("text").cloned().unwrap_or(Dynamic::UNIT)],
                )
                .map(Some);
            }
            if crate::crypto::is_hasher(r.ty) {
                return Ok(Some(match name {
                    "ComputeHash" => {
                        let mut bytes = bytes_of(&a(0))?;
                        if args.len() == 3 {
                            let from = int_of(&a(1), "offset")?.max(0) as usize;
                            let count = int_of(&a(2), "count")?.max(0) as usize;
                            if from + count > bytes.len() {
                                return Err(throw(
                                    "ArgumentException",
                                    "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.",
                                ));
                            }
                            bytes = bytes[from..from + count].to_vec();
                        }
                        let key = r.get("Key").map(bytes_of).transpose()?;
                        obj(Obj::Bytes(shared(crate::crypto::compute(
                            r.ty,
                            key.as_deref(),
                            &bytes,
                        ))))
                    }
                    "HashSize" => int(crate::crypto::hash_size(r.ty)),
                    "Dispose" | "Clear" | "Initialize" => Dynamic::UNIT,
                    _ => return Ok(None),
                }));
            }
            if r.ty == "IContext" && name == "Trace" {
                return Ok(Some(Dynamic::UNIT));
            }
            return Ok(None);
        }
        Obj::Body(b) => match name {
            "As" => body_as(&b, targs, a(0).as_bool().unwrap_or(false))?,
            "AsFormUrlEncodedContent" => {
                let text = body_as(&b, "System.String", a(0).as_bool().unwrap_or(false))?;
                let mut d = Dict::new(true, "form");
                for pair in str_of(&text)
                    .unwrap_or_default()
                    .split('&')
                    .filter(|p| !p.is_empty())
                {
                    let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                    let k = url_decode(k);
                    let key = d.key(&string(k.clone()));
                    let entry = d
                        .map
                        .entry(key)
                        .or_insert_with(|| (string(k), seq(SeqKind::List, Vec::new())));
                    if let Some(Obj::Seq(_, xs)) = entry.1.read_lock::<Obj>().as_deref() {
                        xs.lock().push(string(url_decode(val)));
                    }
                }
                obj(Obj::Dict(shared(d)))
            }
            _ => return Ok(None),
        },
        Obj::KeyValue(kv) => match name {
            "Key" => kv.0.clone(),
            "Value" => kv.1.clone(),
            _ => return Ok(None),
        },
        Obj::Enum(e) => match name {
            "HasFlag" => match kind(&a(0)) {
                K::Obj(Obj::Enum(f)) => Dynamic::from_bool(e.value & f.value == f.value),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        },
        Obj::Encoding(enc) => match name {
            "GetBytes" => {
                let s = string_arg(&a(0), "s")?;
                obj(Obj::Bytes(shared(encode(enc, &s))))
            }
            "GetString" => {
                let bytes = bytes_of(&a(0))?;
                string(decode(enc, &bytes))
            }
            "WebName" | "BodyName" => string(enc.to_lowercase()),
            "EncodingName" => string(enc),
            "GetByteCount" => int(encode(enc, &string_arg(&a(0), "s")?).len() as i32),
            _ => return Ok(None),
        },
        Obj::Random(state) => match name {
            "Next" => {
                let (lo, hi) = match args.len() {
                    0 => (0, i32::MAX as i64),
                    1 => (0, int_of(&a(0), "maxValue")?),
                    _ => (int_of(&a(0), "minValue")?, int_of(&a(1), "maxValue")?),
                };
                if hi < lo {
                    return Err(arg_out_of_range(
                        "minValue",
                        "'minValue' cannot be greater than maxValue.",
                    ));
                }
                let r = next_random(&state);
                int((lo
                    + if hi > lo {
                        (r % (hi - lo) as u64) as i64
                    } else {
                        0
                    }) as i32)
            }
            "NextDouble" => {
                Dynamic::from_float((next_random(&state) >> 11) as f64 / (1u64 << 53) as f64)
            }
            _ => return Ok(None),
        },
        Obj::Exception(e) => match name {
            "Message" => string(e.message.clone()),
            "InnerException" => Dynamic::UNIT,
            "StackTrace" => string(""),
            _ => return Ok(None),
        },
        Obj::Type(t) => match name {
            "Name" => string(
                t.rsplit('.')
                    .next()
                    .unwrap_or(&t)
                    .trim_end_matches("`1")
                    .to_string(),
            ),
            "FullName" => string(t),
            _ => return Ok(None),
        },
        Obj::Tuple(items) => {
            if let Some(i) = name
                .strip_prefix("Item")
                .and_then(|n| n.parse::<usize>().ok())
            {
                return Ok(items.get(i.wrapping_sub(1)).cloned());
            }
            return Ok(None);
        }
        Obj::Xml(x) => return crate::xml::member(&x, name, args, property),
    };
    Ok(Some(r))
}

fn is_default_port(scheme: &str, port: i64) -> bool {
    matches!(
        (scheme, port),
        ("http", 80) | ("https", 443) | ("ftp", 21) | ("ws", 80) | ("wss", 443)
    )
}

/// A deterministic generator (splitmix64): expressions see repeatable "random" numbers.
fn next_random(state: &Shared<u64>) -> u64 {
    let mut s = state.lock();
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn expand_replacement(pattern: &str, groups: &[(String, bool, i64, String)]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && i + 1 < chars.len() {
            if chars[i + 1] == '$' {
                out.push('$');
                i += 2;
                continue;
            }
            if chars[i + 1] == '{'
                && let Some(end) = chars[i + 2..].iter().position(|c| *c == '}')
            {
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                if let Some(g) = groups.iter().find(|g| g.0 == name) {
                    out.push_str(&g.3);
                    i += end + 3;
                    continue;
                }
            }
            let digits: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = digits.parse::<usize>()
                && let Some(g) = groups.get(n)
            {
                out.push_str(&g.3);
                i += 1 + digits.len();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

pub fn encode(enc: &str, s: &str) -> Vec<u8> {
    match enc {
        "Unicode" => s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        "BigEndianUnicode" => s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect(),
        "ASCII" => s
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
        "Latin1" => s
            .chars()
            .map(|c| {
                if (c as u32) < 256 {
                    c as u32 as u8
                } else {
                    b'?'
                }
            })
            .collect(),
        _ => s.as_bytes().to_vec(),
    }
}

pub fn decode(enc: &str, b: &[u8]) -> String {
    match enc {
        "Unicode" => String::from_utf16_lossy(
            &b.chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect::<Vec<_>>(),
        ),
        "BigEndianUnicode" => String::from_utf16_lossy(
            &b.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect::<Vec<_>>(),
        ),
        "ASCII" => b
            .iter()
            .map(|&x| if x < 128 { x as char } else { '?' })
            .collect(),
        "Latin1" => b.iter().map(|&x| x as char).collect(),
        _ => String::from_utf8_lossy(b).into_owned(),
    }
}

pub fn bytes_of(v: &Dynamic) -> Res<Vec<u8>> {
    match kind(v) {
        K::Obj(Obj::Bytes(b)) => Ok(b.lock().clone()),
        K::Obj(Obj::Seq(_, xs)) => xs
            .lock()
            .iter()
            .map(|x| int_of(x, "bytes").map(|i| i as u8))
            .collect(),
        K::Null => Err(arg_null("bytes")),
        _ => Err(invalid_cast(&type_of(v), "System.Byte[]")),
    }
}

pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn body_as(b: &Shared<Body>, targs: &str, preserve: bool) -> Res {
    let text = {
        let mut body = b.lock();
        // Azure: `As<T>()` without preserveContent consumes the body stream (reference 04 §2); a second read
        // sees no content.
        let text = if body.consumed {
            None
        } else {
            body.text.clone()
        };
        if !preserve {
            body.consumed = true;
        }
        text
    };
    let short = targs.rsplit('.').next().unwrap_or(targs);
    Ok(match short {
        "String" | "" => text.map(string).unwrap_or(Dynamic::UNIT),
        "JObject" => match text {
            Some(t) => jv(json::parse_object(&t)?),
            None => Dynamic::UNIT,
        },
        "JArray" => match text {
            Some(t) => jv(json::parse_array(&t)?),
            None => Dynamic::UNIT,
        },
        "JToken" => match text {
            Some(t) => jv(json::parse(&t)?),
            None => Dynamic::UNIT,
        },
        "Byte[]" => match text {
            Some(t) => obj(Obj::Bytes(shared(t.into_bytes()))),
            None => Dynamic::UNIT,
        },
        "XDocument" => match text {
            Some(t) => crate::xml::xml(crate::xml::Xml::Document(crate::xml::parse_document(&t)?)),
            None => Dynamic::UNIT,
        },
        "XElement" | "XNode" => match text {
            Some(t) => crate::xml::elem(crate::xml::parse_element(&t)?),
            None => Dynamic::UNIT,
        },
        other => return Err(not_implemented(format!("Body.As<{other}>()"))),
    })
}

fn dict_member(
    ctx: &NativeCallContext,
    v: &Dynamic,
    d: &Shared<Dict>,
    name: &str,
    targs: &str,
    args: &[Dynamic],
    property: bool,
) -> Res<Option<Dynamic>> {
    let a = |i: usize| arg(args, i);
    let flavour = d.lock().flavour;
    let r = match name {
        "Count" if property || args.is_empty() => int(d.lock().map.len() as i32),
        "Keys" => seq(
            SeqKind::Enumerable,
            d.lock().map.values().map(|(k, _)| k.clone()).collect(),
        ),
        "Values" => seq(
            SeqKind::Enumerable,
            d.lock().map.values().map(|(_, v)| v.clone()).collect(),
        ),
        "ContainsKey" => {
            let k = a(0);
            if k.is_unit() {
                return Err(arg_null("key"));
            }
            let dd = d.lock();
            Dynamic::from_bool(dd.map.contains_key(&dd.key(&k)))
        }
        "ContainsValue" => {
            let x = a(0);
            Dynamic::from_bool(d.lock().map.values().any(|(_, y)| equals(y, &x)))
        }
        "TryGetValue" => {
            let k = a(0);
            if k.is_unit() {
                return Err(arg_null("key"));
            }
            let dd = d.lock();
            let found = dd.map.get(&dd.key(&k)).map(|(_, v)| v.clone());
            seq(
                SeqKind::Array,
                vec![
                    Dynamic::from_bool(found.is_some()),
                    found.unwrap_or(Dynamic::UNIT),
                ],
            )
        }
        "GetValueOrDefault" => {
            let k = a(0);
            if k.is_unit() {
                return Err(arg_null("key"));
            }
            let found = {
                let dd = d.lock();
                dd.map.get(&dd.key(&k)).map(|(_, v)| v.clone())
            };
            match flavour {
                // Azure: header and query values are joined with "," (reference 04 §2, helper methods).
                "headers" | "query" => match found {
                    Some(x) => string(
                        items(&x)?
                            .iter()
                            .map(to_display_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    None => a(1),
                },
                "variables" => match found {
                    Some(x) => {
                        let ty = if !targs.is_empty() {
                            targs.to_string()
                        } else if !a(1).is_unit() {
                            crate::statics::canonical_runtime_type(&a(1))
                        } else {
                            "System.Object".to_string()
                        };
                        if ty == "System.Object" || x.is_unit() {
                            x
                        } else {
                            cast(x, &ty, STATIC_OBJECT)?
                        }
                    }
                    None => a(1),
                },
                _ => found.unwrap_or_else(|| a(1)),
            }
        }
        "Add" => {
            let (k, val) = (a(0), a(1));
            if k.is_unit() {
                return Err(arg_null("key"));
            }
            let mut dd = d.lock();
            let key = dd.key(&k);
            if dd.map.contains_key(&key) {
                return Err(duplicate_key(&k));
            }
            dd.map.insert(key, (k, val));
            Dynamic::UNIT
        }
        "TryAdd" => {
            let (k, val) = (a(0), a(1));
            let mut dd = d.lock();
            let key = dd.key(&k);
            if dd.map.contains_key(&key) {
                Dynamic::FALSE
            } else {
                dd.map.insert(key, (k, val));
                Dynamic::TRUE
            }
        }
        "Remove" => {
            let k = a(0);
            let mut dd = d.lock();
            let key = dd.key(&k);
            Dynamic::from_bool(dd.map.shift_remove(&key).is_some())
        }
        "Clear" => {
            d.lock().map.clear();
            Dynamic::UNIT
        }
        _ => return linq(ctx, v, name, targs, args),
    };
    Ok(Some(r))
}

fn json_member(
    ctx: &NativeCallContext,
    v: &Dynamic,
    j: &JToken,
    name: &str,
    targs: &str,
    args: &[Dynamic],
    property: bool,
) -> Res<Option<Dynamic>> {
    let a = |i: usize| arg(args, i);
    let r = match (name, j) {
        ("Type", _) => {
            let t = j.token_type();
            let value = json::TOKEN_TYPES
                .iter()
                .find(|(n, _)| *n == t)
                .map(|(_, v)| *v)
                .unwrap_or(0);
            enum_value("JTokenType", t, value)
        }
        ("HasValues", _) => Dynamic::from_bool(j.count() > 0 && !matches!(j, JToken::Value(_))),
        ("Count", JToken::Object(_) | JToken::Array(_)) if property || args.is_empty() => {
            int(j.count() as i32)
        }
        ("Name", JToken::Property(p)) => string(p.name.clone()),
        ("Value", JToken::Property(p)) if property => jv(p.value.lock().clone()),
        ("Value", JToken::Value(val)) if property => match val {
            JValue::Null => Dynamic::UNIT,
            JValue::Bool(b) => Dynamic::from_bool(*b),
            JValue::Int(i) => long(*i),
            JValue::Float(f) => Dynamic::from_float(*f),
            JValue::Str(s) => string(s.to_string()),
        },
        ("Value", _) => {
            // `token.Value<T>(key)`; without a key, the token itself converted.
            let target = if args.is_empty() {
                Some(j.clone())
            } else {
                index_json(j, &a(0))?
            };
            match target {
                None => crate::statics::default_of(targs),
                Some(t) => convert_json_to(&t, targs)?,
            }
        }
        ("Values", _) => {
            let children = if args.is_empty() {
                match j {
                    JToken::Object(_) => j
                        .children()
                        .into_iter()
                        .map(|p| match p {
                            JToken::Property(p) => p.value.lock().clone(),
                            other => other,
                        })
                        .collect(),
                    _ => j.children(),
                }
            } else {
                match index_json(j, &a(0))? {
                    Some(t) => t.children(),
                    None => Vec::new(),
                }
            };
            let mut out = Vec::new();
            for c in children {
                out.push(if targs.is_empty() {
                    jv(c)
                } else {
                    convert_json_to(&c, targs)?
                });
            }
            seq(SeqKind::Enumerable, out)
        }
        ("ToObject", _) => convert_json_to(j, targs)?,
        ("ToString", _) => {
            let indented = match kind(&a(0)) {
                K::Obj(Obj::Enum(e)) => e.name == "Indented",
                _ => true,
            };
            match j {
                JToken::Value(_) if args.is_empty() => string(j.display()?),
                _ => string(j.to_json(indented)?),
            }
        }
        ("DeepClone", _) => jv(j.deep_clone()?),
        ("Children", _) => seq(
            SeqKind::Enumerable,
            j.children().into_iter().map(jv).collect(),
        ),
        ("Properties", JToken::Object(_)) => seq(
            SeqKind::Enumerable,
            j.children().into_iter().map(jv).collect(),
        ),
        ("Property", JToken::Object(o)) => {
            let key = string_arg(&a(0), "name")?;
            let found = o.lock().get(key.as_str()).cloned();
            match found {
                Some(val) => jv(json::property(key.to_string(), val, Some(o.clone()))),
                None => Dynamic::UNIT,
            }
        }
        ("ContainsKey", JToken::Object(o)) => Dynamic::from_bool(
            o.lock()
                .contains_key(string_arg(&a(0), "propertyName")?.as_str()),
        ),
        ("TryGetValue", JToken::Object(o)) => {
            let found = o
                .lock()
                .get(string_arg(&a(0), "propertyName")?.as_str())
                .cloned();
            seq(
                SeqKind::Array,
                vec![Dynamic::from_bool(found.is_some()), opt_json(found)],
            )
        }
        ("GetValue", JToken::Object(o)) => {
            let key = string_arg(&a(0), "propertyName")?;
            let ignore = comparison_ignores_case(&a(1));
            let found = {
                let m = o.lock();
                if ignore {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                        .map(|(_, v)| v.clone())
                } else {
                    m.get(key.as_str()).cloned()
                }
            };
            opt_json(found)
        }
        ("Add", JToken::Object(o)) => {
            if args.len() == 2 {
                let key = string_arg(&a(0), "propertyName")?;
                if o.lock().contains_key(key.as_str()) {
                    return Err(throw(
                        "ArgumentException",
                        format!(
                            "Can not add property {key} to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object."
                        ),
                    ));
                }
                j.set_key(&key, to_json_token(&a(1))?)?;
            } else {
                match kind(&a(0)) {
                    K::Obj(Obj::Json(JToken::Property(p))) => {
                        if o.lock().contains_key(&p.name) {
                            return Err(throw(
                                "ArgumentException",
                                format!(
                                    "Can not add property {} to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.",
                                    p.name
                                ),
                            ));
                        }
                        let val = p.value.lock().clone();
                        j.set_key(&p.name, val)?;
                        *p.parent.lock() = Some(o.clone());
                    }
                    _ => {
                        return Err(throw(
                            "ArgumentException",
                            format!(
                                "Can not add {} to Newtonsoft.Json.Linq.JObject.",
                                short_type(&a(0))
                            ),
                        ));
                    }
                }
            }
            Dynamic::UNIT
        }
        ("Remove", JToken::Object(o)) if !args.is_empty() => {
            let key = string_arg(&a(0), "propertyName")?;
            Dynamic::from_bool(o.lock().shift_remove(key.as_str()).is_some())
        }
        ("Remove", JToken::Property(p)) if args.is_empty() => {
            let parent = p.parent.lock().clone();
            match parent {
                Some(o) => {
                    o.lock().shift_remove(&p.name);
                    *p.parent.lock() = None;
                }
                None => return Err(throw("InvalidOperationException", "The parent is missing.")),
            }
            Dynamic::UNIT
        }
        ("Replace", JToken::Property(p)) => {
            let parent = p.parent.lock().clone();
            if let Some(o) = parent {
                let new = to_json_token(&a(0))?;
                if let JToken::Property(np) = &new {
                    let val = np.value.lock().clone();
                    let mut m = o.lock();
                    if let Some(i) = m.get_index_of(&p.name) {
                        m.shift_remove_index(i);
                        m.shift_insert(i, np.name.clone(), val);
                    }
                }
            }
            Dynamic::UNIT
        }
        ("Merge", JToken::Object(o)) => {
            if let K::Obj(Obj::Json(JToken::Object(other))) = kind(&a(0)) {
                let items: Vec<(String, JToken)> = other
                    .lock()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, val) in items {
                    o.lock().insert(k, val);
                }
            }
            Dynamic::UNIT
        }
        ("Add", JToken::Array(arr)) => {
            let t = to_json_token(&a(0))?;
            let t = if t.same(j) { t.deep_clone()? } else { t };
            arr.lock().push(t);
            Dynamic::UNIT
        }
        ("Insert", JToken::Array(arr)) => {
            let i = int_of(&a(0), "index")? as usize;
            let t = to_json_token(&a(1))?;
            let mut xs = arr.lock();
            if i > xs.len() {
                return Err(arg_out_of_range(
                    "index",
                    "Index must be within the bounds of the List.",
                ));
            }
            xs.insert(i, t);
            Dynamic::UNIT
        }
        ("RemoveAt", JToken::Array(arr)) => {
            let i = int_of(&a(0), "index")? as usize;
            let mut xs = arr.lock();
            if i >= xs.len() {
                return Err(arg_out_of_range(
                    "index",
                    "Index is equal to or greater than Count.",
                ));
            }
            xs.remove(i);
            Dynamic::UNIT
        }
        ("Clear", JToken::Array(arr)) => {
            arr.lock().clear();
            Dynamic::UNIT
        }
        ("Clear", JToken::Object(o)) => {
            o.lock().clear();
            Dynamic::UNIT
        }
        ("First" | "Last", _) if property => {
            let cs = j.children();
            opt_json(if name == "First" {
                cs.first().cloned()
            } else {
                cs.last().cloned()
            })
        }
        ("SelectToken", _) => opt_json(select_token(j, &string_arg(&a(0), "path")?)?),
        ("SelectTokens", _) => seq(
            SeqKind::Enumerable,
            select_token(j, &string_arg(&a(0), "path")?)?
                .into_iter()
                .map(jv)
                .collect(),
        ),
        ("Parent", JToken::Property(p)) => p
            .parent
            .lock()
            .clone()
            .map(|o| jv(JToken::Object(o)))
            .unwrap_or(Dynamic::UNIT),
        ("Path", _) => string(""),
        ("Contains", JToken::Array(_)) => {
            let needle = a(0);
            Dynamic::from_bool(items(v)?.iter().any(|x| equals(x, &needle)))
        }
        ("IndexOf", JToken::Array(_)) => {
            let needle = a(0);
            int(items(v)?
                .iter()
                .position(|x| equals(x, &needle))
                .map(|i| i as i32)
                .unwrap_or(-1))
        }
        _ => return linq(ctx, v, name, targs, args),
    };
    Ok(Some(r))
}

fn convert_json_to(t: &JToken, targs: &str) -> Res {
    let ty = if targs.is_empty() {
        "Newtonsoft.Json.Linq.JToken"
    } else {
        targs
    };
    let nullable = ty.ends_with('?');
    let base = ty.trim_end_matches('?');
    match base {
        "Newtonsoft.Json.Linq.JToken" | "System.Object" => Ok(jv(t.clone())),
        "Newtonsoft.Json.Linq.JObject"
        | "Newtonsoft.Json.Linq.JArray"
        | "Newtonsoft.Json.Linq.JValue" => {
            let d = jv(t.clone());
            if is_instance(&d, base) {
                Ok(d)
            } else {
                Err(invalid_cast(t.type_name(), base))
            }
        }
        b if b.ends_with("[]") || b.starts_with("System.Collections.Generic.List") => {
            let elem = b.trim_end_matches("[]");
            let elem = crate::statics::generic_arg(elem).unwrap_or(elem);
            let mut out = Vec::new();
            for c in t.children() {
                out.push(convert_json_to(&c, elem)?);
            }
            Ok(seq(
                if b.ends_with("[]") {
                    SeqKind::Array
                } else {
                    SeqKind::List
                },
                out,
            ))
        }
        b if b.starts_with("System.Collections.Generic.Dictionary") => {
            let mut d = Dict::new(false, "dictionary");
            for c in t.children() {
                if let JToken::Property(p) = c {
                    let k = string(p.name.clone());
                    let key = d.key(&k);
                    let val = p.value.lock().clone();
                    d.map.insert(key, (k, jv(val)));
                }
            }
            Ok(obj(Obj::Dict(shared(d))))
        }
        _ => json_convert(t, base, nullable),
    }
}

fn index_json(j: &JToken, key: &Dynamic) -> Res<Option<JToken>> {
    match kind(key) {
        K::Str(s) => j.get_key(&s),
        K::Int(i) => j.get_index(i as i64),
        K::Obj(Obj::Long(i)) => j.get_index(i),
        K::Null => Err(arg_null("key")),
        _ => Err(throw(
            "ArgumentException",
            format!(
                "Accessed {} values with invalid key value: {}.",
                j.short_type(),
                to_display_string(key)
            ),
        )),
    }
}

/// `SelectToken` for the JSONPath subset people use: `a.b`, `a[0].b`, `['a b']`, `$.a`.
fn select_token(j: &JToken, path: &str) -> Res<Option<JToken>> {
    let mut cur = Some(j.clone());
    let mut rest = path.trim().trim_start_matches('$');
    while !rest.is_empty() {
        let Some(c) = cur.clone() else {
            return Ok(None);
        };
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| {
                throw(
                    "JsonException",
                    format!("Path ended with open indexer: {path}"),
                )
            })?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            cur = if let Some(name) = inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
                match c {
                    JToken::Object(_) => c.get_key(name)?,
                    _ => None,
                }
            } else {
                let i: i64 = inner.parse().map_err(|_| {
                    throw(
                        "JsonException",
                        format!("Unexpected character while parsing path indexer: {inner}"),
                    )
                })?;
                match c {
                    JToken::Array(ref a) => a.lock().get(i as usize).cloned(),
                    _ => {
                        return Err(throw(
                            "JsonException",
                            format!("Index {i} not valid on {}.", c.short_type()),
                        ));
                    }
                }
            };
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        rest = &rest[end..];
        cur = match c {
            JToken::Object(_) => c.get_key(name)?,
            JToken::Property(_) => c.get_key(name)?,
            _ => {
                return Err(throw(
                    "JsonException",
                    format!("Property '{name}' not valid on {}.", c.short_type()),
                ));
            }
        };
    }
    Ok(cur)
}

/// `target[args]`.
pub fn index_get(v: &Dynamic, args: &[Dynamic]) -> Res {
    let key = arg(args, 0);
    match kind(v) {
        K::Null => Err(null_ref()),
        K::Str(s) => {
            let i = int_of(&key, "index")?;
            let units: Vec<u16> = s.encode_utf16().collect();
            match units.get(i as usize).filter(|_| i >= 0) {
                Some(u) => Ok(Dynamic::from_char(
                    char::from_u32(*u as u32).unwrap_or('\u{fffd}'),
                )),
                None => Err(index_out_of_range()),
            }
        }
        K::Obj(o) => match o {
            Obj::Json(j) => Ok(opt_json(index_json(&j, &key)?)),
            Obj::Seq(k, xs) => {
                let i = int_of(&key, "index")?;
                let xs = xs.lock();
                match xs.get(i as usize).filter(|_| i >= 0) {
                    Some(x) => Ok(x.clone()),
                    None if k == SeqKind::Array => Err(index_out_of_range()),
                    None => Err(arg_out_of_range(
                        "index",
                        "Index was out of range. Must be non-negative and less than the size of the collection.",
                    )),
                }
            }
            Obj::Bytes(b) => {
                let i = int_of(&key, "index")?;
                b.lock()
                    .get(i as usize)
                    .map(|x| int(*x as i32))
                    .ok_or_else(index_out_of_range)
            }
            Obj::Dict(d) => {
                if key.is_unit() {
                    return Err(arg_null("key"));
                }
                let dd = d.lock();
                match dd.map.get(&dd.key(&key)) {
                    Some((_, x)) => Ok(x.clone()),
                    // Azure (UNVERIFIED): a missing variable reads as null per Microsoft's toolkit; the engine
                    // option `missing_variable_throws` switches to .NET's KeyNotFoundException (reference 04 §2).
                    None if dd.flavour == "variables"
                        && !crate::context::missing_variable_throws() =>
                    {
                        Ok(Dynamic::UNIT)
                    }
                    None => Err(key_not_found(&to_display_string(&key))),
                }
            }
            Obj::Groups(m) => {
                let g = match kind(&key) {
                    K::Int(i) => m.groups.get(i as usize).cloned(),
                    K::Str(s) => m.groups.iter().find(|g| g.0 == s.as_str()).cloned(),
                    _ => None,
                };
                Ok(obj(Obj::Group(Arc::new(g.unwrap_or_else(|| {
                    (String::new(), false, 0, String::new())
                })))))
            }
            Obj::Matches(ms) => {
                let i = int_of(&key, "index")?;
                ms.get(i as usize).cloned().ok_or_else(|| {
                    arg_out_of_range(
                        "i",
                        "Specified argument was out of the range of valid values.",
                    )
                })
            }
            Obj::StringBuilder(sb) => {
                let i = int_of(&key, "index")?;
                sb.lock()
                    .chars()
                    .nth(i as usize)
                    .map(Dynamic::from_char)
                    .ok_or_else(index_out_of_range)
            }
            Obj::Record(r) => match kind(&key) {
                K::Str(s) => r.get(&s).cloned().ok_or_else(|| key_not_found(&s)),
                _ => Err(no_member(v, "this[]")),
            },
            other => Err(not_implemented(format!(
                "the indexer of '{}'",
                other.type_name()
            ))),
        },
        _ => Err(not_implemented(format!("the indexer of '{}'", type_of(v)))),
    }
}

/// `target[args] = value`.
pub fn index_set(v: &Dynamic, args: &[Dynamic], value: Dynamic) -> Res<()> {
    let key = arg(args, 0);
    match kind(v) {
        K::Null => Err(null_ref()),
        K::Obj(Obj::Json(j)) => {
            let t = to_json_token(&value)?;
            match kind(&key) {
                K::Str(s) => j.set_key(&s, t),
                K::Int(i) => j.set_index(i as i64, t),
                _ => Err(throw(
                    "ArgumentException",
                    "Set JObject values with invalid key value. Object property name expected.",
                )),
            }
        }
        K::Obj(Obj::Seq(_, xs)) => {
            let i = int_of(&key, "index")?;
            let mut xs = xs.lock();
            match xs.get_mut(i as usize).filter(|_| i >= 0) {
                Some(slot) => {
                    *slot = value;
                    Ok(())
                }
                None => Err(index_out_of_range()),
            }
        }
        K::Obj(Obj::Bytes(b)) => {
            let i = int_of(&key, "index")?;
            let byte = u8::try_from(int_of(&value, "value")?).map_err(|_| {
                throw(
                    "InvalidCastException",
                    "Cannot implicitly convert type 'int' to 'byte'.",
                )
            })?;
            let mut b = b.lock();
            match b.get_mut(i as usize).filter(|_| i >= 0) {
                Some(slot) => {
                    *slot = byte;
                    Ok(())
                }
                None => Err(index_out_of_range()),
            }
        }
        K::Obj(Obj::Dict(d)) => {
            if key.is_unit() {
                return Err(arg_null("key"));
            }
            let mut dd = d.lock();
            if matches!(dd.flavour, "headers" | "query" | "params" | "variables") {
                return Err(throw("NotSupportedException", "Collection is read-only."));
            }
            let k = dd.key(&key);
            dd.map.insert(k, (key, value));
            Ok(())
        }
        _ => Err(not_implemented(format!(
            "setting the indexer of '{}'",
            type_of(v)
        ))),
    }
}

/// `target.Name = value` (object initializers, JProperty.Value).
pub fn set_member(v: &Dynamic, name: &str, value: Dynamic) -> Res<()> {
    match kind(v) {
        K::Null => Err(null_ref()),
        K::Obj(Obj::Json(JToken::Property(p))) if name == "Value" => {
            let t = to_json_token(&value)?;
            *p.value.lock() = t.clone();
            if let Some(o) = p.parent.lock().clone() {
                o.lock().insert(p.name.clone(), t);
            }
            Ok(())
        }
        K::Obj(Obj::Xml(x)) if crate::xml::set_member(&x, name, value.clone()).is_some() => {
            crate::xml::set_member(&x, name, value).unwrap_or(Ok(()))
        }
        _ => Err(not_implemented(format!(
            "setting member '{name}' of type '{}'",
            type_of(v)
        ))),
    }
}

pub fn to_json_value(v: &Dynamic) -> Res<JToken> {
    to_json_token(v)
}

/// .NET's error for adding a key a dictionary already holds (`Add`, `ToDictionary`).
fn duplicate_key(k: &Dynamic) -> Box<rhai::EvalAltResult> {
    throw(
        "ArgumentException",
        format!(
            "An item with the same key has already been added. Key: {}",
            to_display_string(k)
        ),
    )
}
