//! Operators, conversions, casts and `ToString()` with C# semantics over the value model.

use crate::format::{Num, Zone, format_datetime, format_number, timespan_to_string};
use crate::json::{JToken, JValue};
use crate::value::*;
use rhai::{Dynamic, ImmutableString};

/// What a value is, for dispatch. Rhai natives first, then `Obj`.
pub enum K {
    Null,
    Bool(bool),
    Int(i32),
    Double(f64),
    Char(char),
    Str(ImmutableString),
    Obj(Obj),
    /// A lambda.
    #[allow(dead_code)] // Matched to tell lambdas apart; the pointer itself is not read.
    Fn(rhai::FnPtr),
    Other(String),
}

pub fn kind(v: &Dynamic) -> K {
    if v.is_unit() {
        return K::Null;
    }
    if let Ok(b) = v.as_bool() {
        return K::Bool(b);
    }
    if let Ok(i) = v.as_int() {
        return K::Int(i as i32);
    }
    if let Ok(f) = v.as_float() {
        return K::Double(f);
    }
    if let Ok(c) = v.as_char() {
        return K::Char(c);
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return K::Str(s.clone());
    }
    if let Some(o) = v.read_lock::<Obj>() {
        return K::Obj(o.clone());
    }
    if let Some(f) = v.read_lock::<rhai::FnPtr>() {
        return K::Fn(f.clone());
    }
    K::Other(v.type_name().to_string())
}

/// The .NET type name of a value (for messages).
pub fn type_of(v: &Dynamic) -> String {
    match kind(v) {
        K::Null => "null".into(),
        K::Bool(_) => "System.Boolean".into(),
        K::Int(_) => "System.Int32".into(),
        K::Double(_) => "System.Double".into(),
        K::Char(_) => "System.Char".into(),
        K::Str(_) => "System.String".into(),
        K::Obj(o) => o.type_name(),
        K::Fn(_) => "System.Func".into(),
        K::Other(t) => t,
    }
}

pub fn short_type(v: &Dynamic) -> String {
    let t = type_of(v);
    t.rsplit('.').next().unwrap_or(&t).to_string()
}

pub fn str_of(v: &Dynamic) -> Option<ImmutableString> {
    v.read_lock::<ImmutableString>().map(|s| s.clone())
}

/// `x.ToString()` (and string concatenation's conversion): null is "" only in concatenation, so callers check.
pub fn to_display_string(v: &Dynamic) -> String {
    to_string_fmt(v, "").unwrap_or_default()
}

/// `ToString(format)` of any value.
pub fn to_string_fmt(v: &Dynamic, format: &str) -> Res<String> {
    Ok(match kind(v) {
        K::Null => String::new(),
        K::Bool(b) => if b { "True" } else { "False" }.into(),
        K::Int(i) => format_number(Num::Int(i as i64), format)
            .ok_or_else(|| format_error("Format specifier was invalid."))?,
        K::Double(f) => format_number(Num::Float(f), format)
            .ok_or_else(|| format_error("Format specifier was invalid."))?,
        K::Char(c) => c.to_string(),
        K::Str(s) => s.to_string(),
        K::Fn(_) => "System.Func`2".into(),
        K::Other(t) => t,
        K::Obj(o) => match o {
            Obj::Long(i) => format_number(Num::Int(i), format)
                .ok_or_else(|| format_error("Format specifier was invalid."))?,
            Obj::Decimal(f) => format_number(Num::Float(f), format)
                .ok_or_else(|| format_error("Format specifier was invalid."))?,
            Obj::Guid(g) => guid_format(g, format)?,
            Obj::DateTime(t, k) => {
                let zone = match k {
                    DateKind::Utc => Zone::Utc,
                    _ => Zone::None,
                };
                format_datetime(t, zone, format)
                    .ok_or_else(|| format_error("Input string was not in a correct format."))?
            }
            Obj::DateTimeOffset(t, m) => format_datetime(t, Zone::Offset(m), format)
                .ok_or_else(|| format_error("Input string was not in a correct format."))?,
            Obj::TimeSpan(t) => timespan_to_string(t),
            Obj::Uri(u) => u.text.clone(),
            Obj::Json(j) => j.display()?,
            Obj::StringBuilder(s) => s.lock().clone(),
            Obj::Enum(e) => e.name.to_string(),
            Obj::Exception(e) => format!("System.{}: {}", e.ty, e.message),
            Obj::Match(m) => m.groups.first().map(|g| g.3.clone()).unwrap_or_default(),
            Obj::Group(g) => g.3.clone(),
            Obj::KeyValue(kv) => format!(
                "[{}, {}]",
                to_display_string(&kv.0),
                to_display_string(&kv.1)
            ),
            Obj::Type(t) => t,
            Obj::Xml(x) => x.to_net_string(),
            Obj::Tuple(items) => format!(
                "({})",
                items
                    .iter()
                    .map(to_display_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Obj::Record(r) if r.ty == "IUrl" => {
                r.get("text").map(to_display_string).unwrap_or_default()
            }
            other => other.type_name(),
        },
    })
}

fn guid_format(g: u128, format: &str) -> Res<String> {
    let h = format!("{g:032x}");
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    Ok(match format {
        "" | "D" | "d" => dashed,
        "N" | "n" => h,
        "B" | "b" => format!("{{{dashed}}}"),
        "P" | "p" => format!("({dashed})"),
        _ => {
            return Err(format_error(
                "Format string can be only \"D\", \"d\", \"N\", \"n\", \"P\", \"p\", \"B\", \"b\", \"X\" or \"x\".",
            ));
        }
    })
}

// ----- numbers -----

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum N {
    I(i32),
    L(i64),
    D(f64),
    M(f64),
}

pub fn num(v: &Dynamic) -> Option<N> {
    if let Ok(i) = v.as_int() {
        return Some(N::I(i as i32));
    }
    if let Ok(f) = v.as_float() {
        return Some(N::D(f));
    }
    if let Ok(c) = v.as_char() {
        return Some(N::I(c as i32));
    }
    match &*v.read_lock::<Obj>()? {
        Obj::Long(l) => Some(N::L(*l)),
        Obj::Decimal(d) => Some(N::M(*d)),
        _ => None,
    }
}

pub fn from_n(n: N) -> Dynamic {
    match n {
        N::I(i) => int(i),
        N::L(l) => long(l),
        N::D(d) => Dynamic::from_float(d),
        N::M(m) => obj(Obj::Decimal(m)),
    }
}

fn f(n: N) -> f64 {
    match n {
        N::I(i) => i as f64,
        N::L(l) => l as f64,
        N::D(d) | N::M(d) => d,
    }
}

fn l(n: N) -> i64 {
    match n {
        N::I(i) => i as i64,
        N::L(l) => l,
        N::D(d) | N::M(d) => d as i64,
    }
}

/// Binary numeric promotion: int < long < double; decimal with an integer stays decimal.
fn promote(a: N, b: N) -> (u8, N, N) {
    let rank = |n: N| match n {
        N::I(_) => 0,
        N::L(_) => 1,
        N::M(_) => 2,
        N::D(_) => 3,
    };
    (rank(a).max(rank(b)), a, b)
}

fn arith(a: N, b: N, op: char) -> Res {
    let (rank, a, b) = promote(a, b);
    Ok(match rank {
        0 => {
            let (x, y) = (l(a) as i32, l(b) as i32);
            int(match op {
                '+' => x.wrapping_add(y),
                '-' => x.wrapping_sub(y),
                '*' => x.wrapping_mul(y),
                '/' | '%' if y == 0 => {
                    return Err(throw(
                        "DivideByZeroException",
                        "Attempted to divide by zero.",
                    ));
                }
                '/' => x.wrapping_div(y),
                _ => x.wrapping_rem(y),
            })
        }
        1 => {
            let (x, y) = (l(a), l(b));
            long(match op {
                '+' => x.wrapping_add(y),
                '-' => x.wrapping_sub(y),
                '*' => x.wrapping_mul(y),
                '/' | '%' if y == 0 => {
                    return Err(throw(
                        "DivideByZeroException",
                        "Attempted to divide by zero.",
                    ));
                }
                '/' => x.wrapping_div(y),
                _ => x.wrapping_rem(y),
            })
        }
        2 => {
            let (x, y) = (f(a), f(b));
            if matches!(op, '/' | '%') && y == 0.0 {
                return Err(throw(
                    "DivideByZeroException",
                    "Attempted to divide by zero.",
                ));
            }
            obj(Obj::Decimal(match op {
                '+' => x + y,
                '-' => x - y,
                '*' => x * y,
                '/' => x / y,
                _ => x % y,
            }))
        }
        _ => {
            let (x, y) = (f(a), f(b));
            Dynamic::from_float(match op {
                '+' => x + y,
                '-' => x - y,
                '*' => x * y,
                '/' => x / y,
                _ => x % y,
            })
        }
    })
}

fn operator_error(op: &str, a: &Dynamic, b: &Dynamic) -> Box<rhai::EvalAltResult> {
    throw(
        "RuntimeBinderException",
        format!(
            "Operator '{op}' cannot be applied to operands of type '{}' and '{}'",
            short_type(a),
            short_type(b)
        ),
    )
}

pub fn add(a: Dynamic, b: Dynamic) -> Res {
    if let Some(name) = crate::xml::add(&a, &b) {
        return name;
    }
    // String concatenation with any operand (null is "").
    if a.is_string() || b.is_string() {
        let mut s = to_string_fmt(&a, "")?;
        s.push_str(&to_string_fmt(&b, "")?);
        return Ok(string(s));
    }
    if let (Some(x), Some(y)) = (num(&a), num(&b)) {
        if a.is_char() && b.is_char() {
            return Ok(int(x_i(x) + x_i(y)));
        }
        return arith(x, y, '+');
    }
    match (kind(&a), kind(&b)) {
        (K::Obj(Obj::DateTime(t, k)), K::Obj(Obj::TimeSpan(s))) => {
            Ok(obj(Obj::DateTime(date_add(t, s)?, k)))
        }
        (K::Obj(Obj::DateTimeOffset(t, o)), K::Obj(Obj::TimeSpan(s))) => {
            Ok(obj(Obj::DateTimeOffset(date_add(t, s)?, o)))
        }
        (K::Obj(Obj::TimeSpan(x)), K::Obj(Obj::TimeSpan(y))) => {
            Ok(obj(Obj::TimeSpan(x.wrapping_add(y))))
        }
        (K::Null, _) | (_, K::Null) => Ok(Dynamic::UNIT),
        _ => Err(operator_error("+", &a, &b)),
    }
}

fn x_i(n: N) -> i32 {
    l(n) as i32
}

pub fn date_add(t: i64, d: i64) -> Res<i64> {
    let r = t.checked_add(d).unwrap_or(-1);
    if !(0..=crate::format::MAX_TICKS).contains(&r) {
        return Err(arg_out_of_range(
            "value",
            "The added or subtracted value results in an un-representable DateTime.",
        ));
    }
    Ok(r)
}

pub fn sub(a: Dynamic, b: Dynamic) -> Res {
    if let (Some(x), Some(y)) = (num(&a), num(&b)) {
        return arith(x, y, '-');
    }
    match (kind(&a), kind(&b)) {
        (K::Obj(Obj::DateTime(x, _)), K::Obj(Obj::DateTime(y, _))) => Ok(obj(Obj::TimeSpan(x - y))),
        (K::Obj(Obj::DateTimeOffset(x, o1)), K::Obj(Obj::DateTimeOffset(y, o2))) => Ok(obj(
            Obj::TimeSpan((x - o1 as i64 * 600_000_000) - (y - o2 as i64 * 600_000_000)),
        )),
        (K::Obj(Obj::DateTime(t, k)), K::Obj(Obj::TimeSpan(s))) => {
            Ok(obj(Obj::DateTime(date_add(t, -s)?, k)))
        }
        (K::Obj(Obj::DateTimeOffset(t, o)), K::Obj(Obj::TimeSpan(s))) => {
            Ok(obj(Obj::DateTimeOffset(date_add(t, -s)?, o)))
        }
        (K::Obj(Obj::TimeSpan(x)), K::Obj(Obj::TimeSpan(y))) => {
            Ok(obj(Obj::TimeSpan(x.wrapping_sub(y))))
        }
        (K::Null, _) | (_, K::Null) => Ok(Dynamic::UNIT),
        _ => Err(operator_error("-", &a, &b)),
    }
}

macro_rules! numeric_op {
    ($name:ident, $op:literal) => {
        pub fn $name(a: Dynamic, b: Dynamic) -> Res {
            match (num(&a), num(&b)) {
                (Some(x), Some(y)) => arith(x, y, $op),
                _ if a.is_unit() || b.is_unit() => Ok(Dynamic::UNIT),
                _ => Err(operator_error(&$op.to_string(), &a, &b)),
            }
        }
    };
}
numeric_op!(mul, '*');
numeric_op!(div, '/');
numeric_op!(rem, '%');

fn int_op(a: &Dynamic, b: &Dynamic, op: &str) -> Res {
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return Ok(Dynamic::from_bool(match op {
            "&" => x & y,
            "|" => x | y,
            _ => x ^ y,
        }));
    }
    let (Some(x), Some(y)) = (num(a), num(b)) else {
        return Err(operator_error(op, a, b));
    };
    let (rank, x, y) = promote(x, y);
    if rank >= 2 {
        return Err(operator_error(op, a, b));
    }
    let (x, y) = (l(x), l(y));
    let r = match op {
        "&" => x & y,
        "|" => x | y,
        "^" => x ^ y,
        "<<" if rank == 0 => ((x as i32).wrapping_shl(y as u32 & 31)) as i64,
        ">>" if rank == 0 => ((x as i32).wrapping_shr(y as u32 & 31)) as i64,
        "<<" => x.wrapping_shl(y as u32 & 63),
        _ => x.wrapping_shr(y as u32 & 63),
    };
    Ok(if rank == 0 { int(r as i32) } else { long(r) })
}

pub fn band(a: Dynamic, b: Dynamic) -> Res {
    int_op(&a, &b, "&")
}
pub fn bor(a: Dynamic, b: Dynamic) -> Res {
    int_op(&a, &b, "|")
}
pub fn bxor(a: Dynamic, b: Dynamic) -> Res {
    int_op(&a, &b, "^")
}
pub fn shl(a: Dynamic, b: Dynamic) -> Res {
    int_op(&a, &b, "<<")
}
pub fn shr(a: Dynamic, b: Dynamic) -> Res {
    int_op(&a, &b, ">>")
}

pub fn neg(a: Dynamic) -> Res {
    match num(&a) {
        Some(N::I(i)) => Ok(int(i.wrapping_neg())),
        Some(N::L(l)) => Ok(long(l.wrapping_neg())),
        Some(N::D(d)) => Ok(Dynamic::from_float(-d)),
        Some(N::M(d)) => Ok(obj(Obj::Decimal(-d))),
        None => match kind(&a) {
            K::Obj(Obj::TimeSpan(t)) => Ok(obj(Obj::TimeSpan(-t))),
            K::Null => Ok(Dynamic::UNIT),
            _ => Err(throw(
                "RuntimeBinderException",
                format!(
                    "Operator '-' cannot be applied to operand of type '{}'",
                    short_type(&a)
                ),
            )),
        },
    }
}

pub fn not(a: Dynamic) -> Res {
    match a.as_bool() {
        Ok(b) => Ok(Dynamic::from_bool(!b)),
        Err(_) if a.is_unit() => Ok(Dynamic::UNIT),
        Err(_) => Err(throw(
            "RuntimeBinderException",
            format!(
                "Operator '!' cannot be applied to operand of type '{}'",
                short_type(&a)
            ),
        )),
    }
}

pub fn compl(a: Dynamic) -> Res {
    match num(&a) {
        Some(N::I(i)) => Ok(int(!i)),
        Some(N::L(l)) => Ok(long(!l)),
        _ => Err(throw(
            "RuntimeBinderException",
            format!(
                "Operator '~' cannot be applied to operand of type '{}'",
                short_type(&a)
            ),
        )),
    }
}

pub fn inc(a: Dynamic, by: i32) -> Res {
    match num(&a) {
        Some(n) if a.is_char() => Ok(Dynamic::from_char(
            char::from_u32((x_i(n) + by) as u32).unwrap_or('\0'),
        )),
        Some(n) => arith(n, N::I(by), '+'),
        None if a.is_unit() => Ok(Dynamic::UNIT),
        None => Err(throw(
            "RuntimeBinderException",
            format!(
                "Operator '++' cannot be applied to operand of type '{}'",
                short_type(&a)
            ),
        )),
    }
}

/// `==` with C# semantics: numbers by value after promotion, strings by value, other reference types by reference
/// (JToken, List…), value types (Guid, DateTime, TimeSpan, enums) by value.
pub fn equals(a: &Dynamic, b: &Dynamic) -> bool {
    if a.is_unit() || b.is_unit() {
        return a.is_unit() && b.is_unit();
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        if a.is_char() != b.is_char() && !(a.is_char() && b.is_int() || a.is_int() && b.is_char()) {
            return false;
        }
        let (rank, x, y) = promote(x, y);
        return if rank <= 1 {
            l(x) == l(y)
        } else {
            f(x) == f(y)
        };
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (
        a.read_lock::<ImmutableString>(),
        b.read_lock::<ImmutableString>(),
    ) {
        return *x == *y;
    }
    match (kind(a), kind(b)) {
        (K::Obj(x), K::Obj(y)) => obj_equals(&x, &y, false),
        // C# converts the string implicitly: `element.Name == "a"`.
        (K::Obj(Obj::Xml(x)), K::Str(s)) | (K::Str(s), K::Obj(Obj::Xml(x))) => {
            crate::xml::equals_string(&x, &s)
        }
        _ => false,
    }
}

/// Value equality for value types; reference equality for reference types unless `deep` (`Equals` on
/// KeyValuePair / anonymous types compares members).
pub fn obj_equals(x: &Obj, y: &Obj, deep: bool) -> bool {
    use std::sync::Arc;
    match (x, y) {
        (Obj::Guid(a), Obj::Guid(b)) => a == b,
        (Obj::DateTime(a, _), Obj::DateTime(b, _)) => a == b,
        (Obj::DateTimeOffset(a, o1), Obj::DateTimeOffset(b, o2)) => {
            a - *o1 as i64 * 600_000_000 == b - *o2 as i64 * 600_000_000
        }
        (Obj::TimeSpan(a), Obj::TimeSpan(b)) => a == b,
        (Obj::Enum(a), Obj::Enum(b)) => a.ty == b.ty && a.value == b.value,
        (Obj::Uri(a), Obj::Uri(b)) => a.text == b.text,
        (Obj::Xml(a), Obj::Xml(b)) => a.same(b),
        (Obj::Json(a), Obj::Json(b)) => {
            a.same(b) || matches!((a, b), (JToken::Value(_), JToken::Value(_))) && deep
        }
        (Obj::Seq(_, a), Obj::Seq(_, b)) => Arc::ptr_eq(a, b),
        (Obj::Dict(a), Obj::Dict(b)) => Arc::ptr_eq(a, b),
        (Obj::StringBuilder(a), Obj::StringBuilder(b)) => Arc::ptr_eq(a, b),
        (Obj::Record(a), Obj::Record(b)) => {
            Arc::ptr_eq(a, b)
                || a.ty == "<>f__AnonymousType"
                    && b.ty == a.ty
                    && a.fields.len() == b.fields.len()
                    && a.fields
                        .iter()
                        .zip(&b.fields)
                        .all(|((n1, v1), (n2, v2))| n1 == n2 && equals(v1, v2))
        }
        (Obj::KeyValue(a), Obj::KeyValue(b)) => equals(&a.0, &b.0) && equals(&a.1, &b.1),
        (Obj::Body(a), Obj::Body(b)) => Arc::ptr_eq(a, b),
        (Obj::Encoding(a), Obj::Encoding(b)) => a == b,
        (Obj::Type(a), Obj::Type(b)) => a == b,
        _ => false,
    }
}

pub fn compare(a: &Dynamic, b: &Dynamic, op: &str) -> Res {
    if a.is_unit() || b.is_unit() {
        // Lifted comparison with null is false.
        return Ok(Dynamic::FALSE);
    }
    let ord = if let (Some(x), Some(y)) = (num(a), num(b)) {
        let (rank, x, y) = promote(x, y);
        if rank <= 1 {
            l(x).partial_cmp(&l(y))
        } else {
            f(x).partial_cmp(&f(y))
        }
    } else {
        match (kind(a), kind(b)) {
            (K::Obj(Obj::DateTime(x, _)), K::Obj(Obj::DateTime(y, _))) => x.partial_cmp(&y),
            (K::Obj(Obj::DateTimeOffset(x, o1)), K::Obj(Obj::DateTimeOffset(y, o2))) => {
                (x - o1 as i64 * 600_000_000).partial_cmp(&(y - o2 as i64 * 600_000_000))
            }
            (K::Obj(Obj::TimeSpan(x)), K::Obj(Obj::TimeSpan(y))) => x.partial_cmp(&y),
            _ => return Err(operator_error(op, a, b)),
        }
    };
    let Some(ord) = ord else {
        return Ok(Dynamic::FALSE);
    };
    use std::cmp::Ordering::*;
    Ok(Dynamic::from_bool(match op {
        "<" => ord == Less,
        "<=" => ord != Greater,
        ">" => ord == Greater,
        _ => ord != Less,
    }))
}

/// Orders two values as `Comparer<T>.Default` does (for OrderBy, Min, Max, Sort): null first, strings with
/// ordinal comparison.
pub fn order(a: &Dynamic, b: &Dynamic) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_unit(), b.is_unit()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        let (rank, x, y) = promote(x, y);
        return if rank <= 1 {
            l(x).cmp(&l(y))
        } else {
            f(x).partial_cmp(&f(y)).unwrap_or(Ordering::Equal)
        };
    }
    if let (Some(x), Some(y)) = (str_of(a), str_of(b)) {
        return compare_strings_culture(&x, &y);
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x.cmp(&y);
    }
    match (kind(a), kind(b)) {
        (K::Obj(Obj::DateTime(x, _)), K::Obj(Obj::DateTime(y, _))) => x.cmp(&y),
        (K::Obj(Obj::DateTimeOffset(x, _)), K::Obj(Obj::DateTimeOffset(y, _))) => x.cmp(&y),
        (K::Obj(Obj::TimeSpan(x)), K::Obj(Obj::TimeSpan(y))) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}

/// `string.Compare(a, b)` / `Comparer<string>.Default` use culture-sensitive comparison; with the invariant
/// culture letters compare case-insensitively first, and lowercase sorts before uppercase on a tie.
pub fn compare_strings_culture(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = a.to_lowercase().cmp(&b.to_lowercase());
    if fold != std::cmp::Ordering::Equal {
        return fold;
    }
    b.cmp(a)
}

// ----- conversions -----

/// The operand of a cast is statically `object` (an unboxing cast), a JToken, or unknown to the translator.
pub const STATIC_UNKNOWN: i64 = 0;
pub const STATIC_JSON: i64 = 1;
pub const STATIC_OBJECT: i64 = 2;

/// Explicit cast `(T)value` by canonical type name.
pub fn cast(v: Dynamic, ty: &str, static_kind: i64) -> Res {
    let nullable = ty.ends_with('?');
    let base = ty.trim_end_matches('?');
    if v.is_unit() {
        return match base {
            "System.Int32"
            | "System.Int64"
            | "System.Double"
            | "System.Boolean"
            | "System.Char"
            | "System.Decimal"
            | "System.Guid"
            | "System.DateTime"
            | "System.TimeSpan"
            | "System.DateTimeOffset"
                if !nullable =>
            {
                Err(null_ref())
            }
            _ => Ok(v),
        };
    }
    // Newtonsoft's explicit conversions from JToken apply when the operand's static type is a JToken; unboxing a
    // JToken stored as `object` into a primitive is an InvalidCastException in .NET.
    if let K::Obj(Obj::Json(j)) = kind(&v)
        && is_json_type(base)
    {
        if static_kind == STATIC_OBJECT {
            return Err(invalid_cast(j.type_name(), base));
        }
        return json_convert(&j, base, nullable);
    }
    // LINQ to XML's explicit conversions: `(string)element`, `(int?)attribute`.
    if let K::Obj(Obj::Xml(x)) = kind(&v)
        && let Some(r) = crate::xml::convert(&x, base)
    {
        return r;
    }
    if let Some(n) = num(&v)
        && !matches!(base, "System.Object" | "System.String")
    {
        // Numeric conversions between numeric types (explicit casts truncate).
        if static_kind == STATIC_OBJECT && !numeric_unbox_ok(&v, base) {
            return Err(invalid_cast(&type_of(&v), base));
        }
        return Ok(match base {
            "System.Int32" => int(match n {
                N::I(i) => i,
                N::L(l) => l as i32,
                N::D(d) | N::M(d) => {
                    if d.is_nan() || d.is_infinite() {
                        i32::MIN
                    } else {
                        d as i64 as i32
                    }
                }
            }),
            "System.Int64" => long(match n {
                N::I(i) => i as i64,
                N::L(l) => l,
                N::D(d) | N::M(d) => d as i64,
            }),
            "System.Double" | "System.Single" => Dynamic::from_float(f(n)),
            "System.Decimal" => obj(Obj::Decimal(f(n))),
            "System.Char" => {
                Dynamic::from_char(char::from_u32(l(n) as u32 & 0xffff).unwrap_or('\u{fffd}'))
            }
            "System.Byte" => int(l(n) as u8 as i32),
            "System.Int16" => int(l(n) as i16 as i32),
            "System.UInt16" => int(l(n) as u16 as i32),
            "System.UInt32" => long(l(n) as u32 as i64),
            "System.SByte" => int(l(n) as i8 as i32),
            "System.UInt64" => long(l(n)),
            _ => return Err(invalid_cast(&type_of(&v), base)),
        });
    }
    if is_instance(&v, base) {
        return Ok(v);
    }
    Err(invalid_cast(&type_of(&v), base))
}

/// Unboxing requires the exact type: `(long)(object)1` fails in .NET.
fn numeric_unbox_ok(v: &Dynamic, base: &str) -> bool {
    matches!(
        (num(v), base),
        (Some(N::I(_)), "System.Int32")
            | (Some(N::L(_)), "System.Int64")
            | (Some(N::D(_)), "System.Double")
            | (Some(N::M(_)), "System.Decimal")
    ) || v.is_char() && base == "System.Char"
}

fn is_json_type(t: &str) -> bool {
    matches!(
        t,
        "System.String"
            | "System.Int32"
            | "System.Int64"
            | "System.Double"
            | "System.Boolean"
            | "System.Decimal"
            | "System.DateTime"
            | "System.Guid"
            | "System.Single"
            | "System.Char"
    )
}

/// Newtonsoft's `(T)jtoken` / `jtoken.Value<T>()` / `ToObject<T>()` for primitive `T`.
pub fn json_convert(j: &JToken, ty: &str, nullable: bool) -> Res {
    let short = ty.rsplit('.').next().unwrap_or(ty);
    let v = match j {
        JToken::Value(v) => v.clone(),
        JToken::Property(p) => {
            let inner = p.value.lock().clone();
            return match inner {
                JToken::Value(_) => json_convert(&inner, ty, nullable),
                _ => Err(throw(
                    "ArgumentException",
                    format!("Can not convert Property to {short}."),
                )),
            };
        }
        other => {
            let what = if matches!(other, JToken::Object(_)) {
                "Object"
            } else {
                "Array"
            };
            return Err(throw(
                "ArgumentException",
                format!("Can not convert {what} to {short}."),
            ));
        }
    };
    let cant = |what: &str| {
        throw(
            "ArgumentException",
            format!("Can not convert {what} to {short}."),
        )
    };
    Ok(match (ty, v) {
        (_, JValue::Null) if ty == "System.String" || nullable => Dynamic::UNIT,
        (_, JValue::Null) => return Err(cant("Null")),
        ("System.String", v) => string(crate::json::value_display(&v)),
        ("System.Boolean", JValue::Bool(b)) => Dynamic::from_bool(b),
        ("System.Boolean", JValue::Int(i)) => Dynamic::from_bool(i != 0),
        ("System.Boolean", JValue::Str(s)) => Dynamic::from_bool(parse_bool(&s)?),
        ("System.Int32", JValue::Int(i)) => {
            if i < i32::MIN as i64 || i > i32::MAX as i64 {
                return Err(throw(
                    "OverflowException",
                    "Value was either too large or too small for an Int32.",
                ));
            }
            int(i as i32)
        }
        ("System.Int32", JValue::Float(x)) => int(round_even(x) as i32),
        ("System.Int32", JValue::Str(s)) => int(parse_int(&s)?),
        ("System.Int32", JValue::Bool(b)) => int(b as i32),
        ("System.Int64", JValue::Int(i)) => long(i),
        ("System.Int64", JValue::Float(x)) => long(round_even(x) as i64),
        ("System.Int64", JValue::Str(s)) => long(parse_long(&s)?),
        ("System.Double" | "System.Single" | "System.Decimal", v) => {
            let x = match v {
                JValue::Int(i) => i as f64,
                JValue::Float(x) => x,
                JValue::Str(s) => parse_double(&s)?,
                JValue::Bool(b) => b as i32 as f64,
                JValue::Null => 0.0,
            };
            if ty == "System.Decimal" {
                obj(Obj::Decimal(x))
            } else {
                Dynamic::from_float(x)
            }
        }
        ("System.DateTime", JValue::Str(s)) => crate::members::parse_datetime(&s)?,
        ("System.Guid", JValue::Str(s)) => crate::members::parse_guid(&s)?,
        (_, JValue::Bool(_)) => return Err(cant("Boolean")),
        (_, JValue::Int(_)) => return Err(cant("Integer")),
        (_, JValue::Float(_)) => return Err(cant("Float")),
        (_, JValue::Str(_)) => return Err(cant("String")),
    })
}

pub fn round_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// `is T` / `as T` for a canonical type name.
pub fn is_instance(v: &Dynamic, ty: &str) -> bool {
    let ty = ty.trim_end_matches('?');
    if v.is_unit() {
        return false;
    }
    if ty == "System.Object" {
        return true;
    }
    match kind(v) {
        K::Bool(_) => ty == "System.Boolean" || ty == "System.ValueType",
        K::Int(_) => matches!(
            ty,
            "System.Int32" | "System.ValueType" | "System.IComparable"
        ),
        K::Double(_) => matches!(ty, "System.Double" | "System.ValueType"),
        K::Char(_) => ty == "System.Char",
        K::Str(_) => matches!(
            ty,
            "System.String" | "System.Collections.Generic.IEnumerable" | "System.IComparable"
        ),
        K::Fn(_) => ty.starts_with("System.Func") || ty.starts_with("System.Action"),
        K::Other(_) | K::Null => false,
        K::Obj(o) => match (&o, ty) {
            (Obj::Long(_), "System.Int64") => true,
            (Obj::Decimal(_), "System.Decimal") => true,
            (Obj::Guid(_), "System.Guid") => true,
            (Obj::DateTime(..), "System.DateTime") => true,
            (Obj::DateTimeOffset(..), "System.DateTimeOffset") => true,
            (Obj::TimeSpan(_), "System.TimeSpan") => true,
            (Obj::Uri(_), "System.Uri") => true,
            (Obj::Xml(x), t) => x.is_instance(t),
            (Obj::Json(_), "Newtonsoft.Json.Linq.JToken") => true,
            (
                Obj::Json(JToken::Object(_)),
                "Newtonsoft.Json.Linq.JObject" | "Newtonsoft.Json.Linq.JContainer",
            ) => true,
            (
                Obj::Json(JToken::Array(_)),
                "Newtonsoft.Json.Linq.JArray" | "Newtonsoft.Json.Linq.JContainer",
            ) => true,
            (Obj::Json(JToken::Value(_)), "Newtonsoft.Json.Linq.JValue") => true,
            (
                Obj::Json(JToken::Property(_)),
                "Newtonsoft.Json.Linq.JProperty" | "Newtonsoft.Json.Linq.JContainer",
            ) => true,
            (
                Obj::Json(JToken::Object(_) | JToken::Array(_)),
                "System.Collections.Generic.IEnumerable",
            ) => true,
            (Obj::Seq(SeqKind::Array, _), t) => {
                t.ends_with("[]")
                    || t.starts_with("System.Collections.Generic.I")
                    || t == "System.Array"
            }
            (Obj::Seq(SeqKind::List, _), t) => {
                t == "System.Collections.Generic.List"
                    || t.starts_with("System.Collections.Generic.I")
            }
            (Obj::Seq(SeqKind::Set, _), t) => {
                t == "System.Collections.Generic.HashSet"
                    || t.starts_with("System.Collections.Generic.I")
            }
            (Obj::Seq(SeqKind::Enumerable, _), t) => t == "System.Collections.Generic.IEnumerable",
            (Obj::Dict(_), t) => {
                t == "System.Collections.Generic.Dictionary"
                    || t.starts_with("System.Collections.Generic.IDictionary")
                    || t.starts_with("System.Collections.Generic.IReadOnlyDictionary")
                    || t == "System.Collections.Generic.IEnumerable"
            }
            (Obj::Bytes(_), "System.Byte[]") => true,
            (Obj::StringBuilder(_), "System.Text.StringBuilder") => true,
            (Obj::Record(r), t) => {
                let short = t.rsplit('.').next().unwrap_or(t);
                r.ty == short
                    || (r.ty == "Response" && short == "IResponse")
                    || r.ty.trim_start_matches('I') == short.trim_start_matches('I')
                    || (crate::crypto::is_hasher(r.ty)
                        && (short == "HashAlgorithm"
                            || (r.ty.starts_with("HMAC")
                                && matches!(short, "HMAC" | "KeyedHashAlgorithm"))))
            }
            (Obj::Body(_), "IMessageBody") => true,
            (Obj::Enum(e), t) => t.ends_with(e.ty),
            (Obj::Exception(e), t) => t == "System.Exception" || t.ends_with(&e.ty),
            (Obj::KeyValue(_), "System.Collections.Generic.KeyValuePair") => true,
            _ => false,
        },
    }
}

pub fn parse_int(s: &str) -> Res<i32> {
    let t = s.trim();
    match t.parse::<i64>() {
        Ok(v) if v >= i32::MIN as i64 && v <= i32::MAX as i64 => Ok(v as i32),
        Ok(_) => Err(throw(
            "OverflowException",
            "Value was either too large or too small for an Int32.",
        )),
        Err(_)
            if !t.is_empty()
                && t.trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
                && t.len() > 1 =>
        {
            Err(throw(
                "OverflowException",
                "Value was either too large or too small for an Int32.",
            ))
        }
        Err(_) => Err(format_error(&format!(
            "The input string '{s}' was not in a correct format."
        ))),
    }
}

pub fn parse_long(s: &str) -> Res<i64> {
    let t = s.trim();
    t.parse::<i64>().map_err(|_| {
        if !t.is_empty()
            && t.trim_start_matches(['-', '+'])
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            throw(
                "OverflowException",
                "Value was either too large or too small for an Int64.",
            )
        } else {
            format_error(&format!(
                "The input string '{s}' was not in a correct format."
            ))
        }
    })
}

pub fn parse_double(s: &str) -> Res<f64> {
    let t = s.trim();
    let cleaned: String = t.chars().filter(|c| *c != ',').collect();
    match cleaned.as_str() {
        "NaN" => return Ok(f64::NAN),
        "Infinity" | "∞" => return Ok(f64::INFINITY),
        "-Infinity" | "-∞" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    if cleaned.is_empty() || cleaned.contains(['i', 'I', 'n', 'N']) {
        return Err(format_error(&format!(
            "The input string '{s}' was not in a correct format."
        )));
    }
    cleaned.parse::<f64>().map_err(|_| {
        format_error(&format!(
            "The input string '{s}' was not in a correct format."
        ))
    })
}

pub fn parse_bool(s: &str) -> Res<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format_error(&format!(
            "String '{s}' was not recognized as a valid Boolean."
        ))),
    }
}

/// Implicit conversion to a declared numeric type (`double d = 1;`, `long n = 5;`).
pub fn implicit(v: Dynamic, ty: &str) -> Res {
    if ty.starts_with("System.Xml.Linq.") {
        return crate::xml::implicit(v, ty);
    }
    match (ty, num(&v)) {
        ("System.Int64", Some(N::I(i))) => Ok(long(i as i64)),
        ("System.Double" | "System.Single", Some(N::I(_) | N::L(_))) => {
            Ok(Dynamic::from_float(f(num(&v).unwrap_or(N::I(0)))))
        }
        ("System.Decimal", Some(N::I(_) | N::L(_))) => {
            Ok(obj(Obj::Decimal(f(num(&v).unwrap_or(N::I(0))))))
        }
        _ => Ok(v),
    }
}

/// A condition: C# requires `bool` (a `bool?` null is not allowed either).
pub fn truthy(v: &Dynamic) -> Res<bool> {
    match v.as_bool() {
        Ok(b) => Ok(b),
        Err(_) if v.is_unit() => Err(throw(
            "InvalidOperationException",
            "Nullable object must have a value.",
        )),
        Err(_) => Err(invalid_cast(&type_of(v), "System.Boolean")),
    }
}

pub fn int_of(v: &Dynamic, what: &str) -> Res<i64> {
    match num(v) {
        Some(N::I(i)) => Ok(i as i64),
        Some(N::L(l)) => Ok(l),
        Some(N::D(d)) | Some(N::M(d)) => Ok(d as i64),
        None if v.is_unit() => Err(arg_null(what)),
        None => Err(invalid_cast(&type_of(v), "System.Int32")),
    }
}

pub fn string_arg(v: &Dynamic, what: &str) -> Res<ImmutableString> {
    if let Some(s) = str_of(v) {
        return Ok(s);
    }
    if v.is_unit() {
        return Err(arg_null(what));
    }
    if let Ok(c) = v.as_char() {
        return Ok(c.to_string().into());
    }
    Ok(to_string_fmt(v, "")?.into())
}

pub fn f64_of(v: &Dynamic) -> Res<f64> {
    match num(v) {
        Some(n) => Ok(f(n)),
        None => Err(invalid_cast(&type_of(v), "System.Double")),
    }
}
