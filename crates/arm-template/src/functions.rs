//! The ARM template function library (everything that evaluates all its arguments first).

use crate::eval::{EvalError, Scope, get_property, to_text, type_name};
use serde_json::{Map, Value, json};

type R<T = Value> = Result<T, EvalError>;

fn arity(name: &str, args: &[Value], min: usize, max: usize) -> R<()> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(EvalError::new(format!(
            "`{name}` takes {expected} argument(s), got {}",
            args.len()
        )));
    }
    Ok(())
}

fn s<'v>(name: &str, v: &'v Value) -> R<&'v str> {
    v.as_str().ok_or_else(|| {
        EvalError::new(format!(
            "`{name}` expects a string here, got {}",
            type_name(v)
        ))
    })
}

fn i(name: &str, v: &Value) -> R<i64> {
    v.as_i64().ok_or_else(|| {
        EvalError::new(format!(
            "`{name}` expects an integer here, got {}",
            type_name(v)
        ))
    })
}

fn b(name: &str, v: &Value) -> R<bool> {
    v.as_bool().ok_or_else(|| {
        EvalError::new(format!(
            "`{name}` expects a boolean here, got {}",
            type_name(v)
        ))
    })
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Limits what one function may build (sandbox against `range(0, 100000000)` and the like).
const MAX_ITEMS: i64 = 100_000;

/// Larger strings than this are refused (a template that doubles a string in a chain of variables would
/// otherwise exhaust memory).
const MAX_STRING: usize = 16 << 20;

pub fn call(scope: &dyn Scope, name: &str, lower: &str, a: Vec<Value>) -> R {
    let v = call_inner(scope, name, lower, a)?;
    let too_big = match &v {
        Value::String(s) => s.len() > MAX_STRING,
        Value::Array(xs) => xs.len() as i64 > MAX_ITEMS * 10,
        _ => false,
    };
    if too_big {
        return Err(EvalError::new(format!(
            "`{name}` built a value larger than apim-emu accepts (16 MiB of text or {} items)",
            MAX_ITEMS * 10
        )));
    }
    Ok(v)
}

fn call_inner(scope: &dyn Scope, name: &str, lower: &str, a: Vec<Value>) -> R {
    let ctx = scope.context();
    Ok(match lower {
        // ----- deployment -----
        "parameters" => {
            arity(name, &a, 1, 1)?;
            scope.parameter(s(name, &a[0])?)?
        }
        "variables" => {
            arity(name, &a, 1, 1)?;
            scope.variable(s(name, &a[0])?)?
        }
        "copyindex" => {
            arity(name, &a, 0, 2)?;
            let (loop_name, offset) = match a.as_slice() {
                [] => (None, 0),
                [Value::String(l)] => (Some(l.as_str()), 0),
                [off] => (None, i(name, off)?),
                [l, off] => (Some(s(name, l)?), i(name, off)?),
                _ => (None, 0),
            };
            json!(scope.copy_index(loop_name)? + offset)
        }
        "deployment" => json!({
            "name": ctx.deployment_name,
            "properties": { "templateLink": null, "mode": "Incremental" },
            "location": ctx.location,
        }),
        "environment" => ctx.environment(),
        "subscription" => json!({
            "id": format!("/subscriptions/{}", ctx.subscription_id),
            "subscriptionId": ctx.subscription_id,
            "tenantId": ctx.tenant_id,
            "displayName": "apim-emu",
        }),
        "resourcegroup" => json!({
            "id": format!("/subscriptions/{}/resourceGroups/{}", ctx.subscription_id, ctx.resource_group),
            "name": ctx.resource_group,
            "type": "Microsoft.Resources/resourceGroups",
            "location": ctx.location,
            "managedBy": null,
            "tags": {},
            "properties": { "provisioningState": "Succeeded" },
        }),
        "deployer" => json!({
            "objectId": "00000000-0000-0000-0000-00000000d0d0",
            "tenantId": ctx.tenant_id,
            "userPrincipalName": "apim-emu@localhost",
        }),
        "tenant" => json!({
            "tenantId": ctx.tenant_id,
            "countryCode": "US",
            "displayName": "apim-emu",
        }),
        "managementgroup" => json!({
            "id": "/providers/Microsoft.Management/managementGroups/apim-emu",
            "name": "apim-emu",
            "type": "Microsoft.Management/managementGroups",
            "properties": { "displayName": "apim-emu", "tenantId": ctx.tenant_id },
        }),
        "reference" => {
            arity(name, &a, 1, 3)?;
            let full = a
                .get(2)
                .and_then(Value::as_str)
                .is_some_and(|f| f.eq_ignore_ascii_case("full"));
            scope.reference(s(name, &a[0])?, full)?
        }
        "resourceinfo" => {
            arity(name, &a, 1, 1)?;
            scope.resource_info(s(name, &a[0])?)?
        }
        _ if lower.starts_with("list") || lower == "pickzones" => {
            return Err(EvalError::new(format!(
                "`{name}()` reads a deployed Azure resource, which apim-emu cannot do"
            ))
            .with_help(
                "pass the value with --param NAME=VALUE, or replace the backend's URL with --backend-url NAME=URL",
            ));
        }
        "resourceid" => resource_id(ctx, name, &a, Kind::ResourceGroup)?,
        "subscriptionresourceid" => resource_id(ctx, name, &a, Kind::Subscription)?,
        "tenantresourceid" => resource_id(ctx, name, &a, Kind::Tenant)?,
        "extensionresourceid" => {
            arity(name, &a, 3, usize::MAX)?;
            let base = s(name, &a[0])?.trim_end_matches('/').to_string();
            let rest = type_and_names(name, &a[1..])?;
            Value::String(format!("{base}/providers/{rest}"))
        }
        "managementgroupresourceid" => {
            arity(name, &a, 2, usize::MAX)?;
            let rest = type_and_names(name, &a)?;
            Value::String(format!(
                "/providers/Microsoft.Management/managementGroups/apim-emu/providers/{rest}"
            ))
        }
        // ----- literals -----
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        // ----- comparison and logic -----
        "not" => {
            arity(name, &a, 1, 1)?;
            Value::Bool(!b(name, &a[0])?)
        }
        "equals" => {
            arity(name, &a, 2, 2)?;
            Value::Bool(values_equal(&a[0], &a[1]))
        }
        "less" | "lessorequals" | "greater" | "greaterorequals" => {
            arity(name, &a, 2, 2)?;
            let ord = match (&a[0], &a[1]) {
                (Value::Number(x), Value::Number(y)) => x
                    .as_f64()
                    .unwrap_or(0.0)
                    .partial_cmp(&y.as_f64().unwrap_or(0.0))
                    .unwrap_or(std::cmp::Ordering::Equal),
                (Value::String(x), Value::String(y)) => x.cmp(y),
                (x, y) => {
                    return Err(EvalError::new(format!(
                        "`{name}` compares two integers or two strings, got {} and {}",
                        type_name(x),
                        type_name(y)
                    )));
                }
            };
            Value::Bool(match lower {
                "less" => ord.is_lt(),
                "lessorequals" => ord.is_le(),
                "greater" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        // ----- numbers -----
        "add" | "sub" | "mul" | "div" | "mod" => {
            arity(name, &a, 2, 2)?;
            let (x, y) = (i(name, &a[0])?, i(name, &a[1])?);
            let r = match lower {
                "add" => x.checked_add(y),
                "sub" => x.checked_sub(y),
                "mul" => x.checked_mul(y),
                "div" if y == 0 => return Err(EvalError::new("division by zero in `div`")),
                "div" => x.checked_div(y),
                _ if y == 0 => return Err(EvalError::new("division by zero in `mod`")),
                _ => x.checked_rem(y),
            };
            json!(r.ok_or_else(|| EvalError::new(format!("integer overflow in `{name}`")))?)
        }
        "int" => {
            arity(name, &a, 1, 1)?;
            match &a[0] {
                Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) as i64),
                Value::String(t) => json!(t.trim().parse::<i64>().map_err(|_| EvalError::new(
                    format!("`int` cannot convert '{t}' to an integer")
                ))?),
                Value::Bool(x) => json!(*x as i64),
                other => {
                    return Err(EvalError::new(format!(
                        "`int` cannot convert {}",
                        type_name(other)
                    )));
                }
            }
        }
        "float" => {
            arity(name, &a, 1, 1)?;
            match &a[0] {
                Value::Number(n) => json!(n.as_f64().unwrap_or(0.0)),
                Value::String(t) => json!(
                    t.trim()
                        .parse::<f64>()
                        .map_err(|_| EvalError::new(format!("`float` cannot convert '{t}'")))?
                ),
                other => {
                    return Err(EvalError::new(format!(
                        "`float` cannot convert {}",
                        type_name(other)
                    )));
                }
            }
        }
        "bool" => {
            arity(name, &a, 1, 1)?;
            match &a[0] {
                Value::Bool(x) => Value::Bool(*x),
                Value::Number(n) => Value::Bool(n.as_i64() != Some(0)),
                Value::String(t) if t.eq_ignore_ascii_case("true") => Value::Bool(true),
                Value::String(t) if t.eq_ignore_ascii_case("false") => Value::Bool(false),
                other => {
                    return Err(EvalError::new(format!(
                        "`bool` cannot convert {}",
                        to_text(other)
                    )));
                }
            }
        }
        "min" | "max" => {
            let items = if let [Value::Array(xs)] = a.as_slice() {
                xs.clone()
            } else {
                a
            };
            if items.is_empty() {
                return Err(EvalError::new(format!("`{name}` of an empty array")));
            }
            let mut best = i(name, &items[0])?;
            for x in &items[1..] {
                let x = i(name, x)?;
                best = if lower == "min" {
                    best.min(x)
                } else {
                    best.max(x)
                };
            }
            json!(best)
        }
        "range" => {
            arity(name, &a, 2, 2)?;
            let (start, count) = (i(name, &a[0])?, i(name, &a[1])?);
            if !(0..=MAX_ITEMS).contains(&count) {
                return Err(EvalError::new(format!(
                    "`range` count {count} is out of bounds (0 to {MAX_ITEMS})"
                )));
            }
            Value::Array((0..count).map(|k| json!(start + k)).collect())
        }
        // ----- strings -----
        "string" => {
            arity(name, &a, 1, 1)?;
            Value::String(to_text(&a[0]))
        }
        "concat" => {
            if a.first().is_some_and(Value::is_array) {
                let mut out = Vec::new();
                for x in a {
                    match x {
                        Value::Array(xs) => out.extend(xs),
                        Value::Null => {}
                        other => {
                            return Err(EvalError::new(format!(
                                "`concat` of arrays got {}",
                                type_name(&other)
                            )));
                        }
                    }
                }
                Value::Array(out)
            } else {
                Value::String(a.iter().map(to_text).collect())
            }
        }
        "format" => {
            arity(name, &a, 1, usize::MAX)?;
            Value::String(format_composite(s(name, &a[0])?, &a[1..])?)
        }
        "tolower" => Value::String(one_str(name, &a)?.to_lowercase()),
        "toupper" => Value::String(one_str(name, &a)?.to_uppercase()),
        "trim" => Value::String(one_str(name, &a)?.trim().to_string()),
        "replace" => {
            arity(name, &a, 3, 3)?;
            let (t, from, to) = (s(name, &a[0])?, s(name, &a[1])?, s(name, &a[2])?);
            if from.is_empty() {
                return Err(EvalError::new("`replace` cannot replace an empty string"));
            }
            Value::String(t.replace(from, to))
        }
        "split" => {
            arity(name, &a, 2, 2)?;
            let t = s(name, &a[0])?;
            let delims: Vec<String> = match &a[1] {
                Value::String(d) => vec![d.clone()],
                Value::Array(ds) => ds
                    .iter()
                    .map(|d| s(name, d).map(str::to_string))
                    .collect::<R<_>>()?,
                other => {
                    return Err(EvalError::new(format!(
                        "`split` delimiter must be a string or array, got {}",
                        type_name(other)
                    )));
                }
            };
            let mut parts = vec![t.to_string()];
            for d in delims.iter().filter(|d| !d.is_empty()) {
                parts = parts
                    .iter()
                    .flat_map(|p| p.split(d.as_str()).map(str::to_string).collect::<Vec<_>>())
                    .collect();
            }
            Value::Array(parts.into_iter().map(Value::String).collect())
        }
        "join" => {
            arity(name, &a, 2, 2)?;
            let Value::Array(xs) = &a[0] else {
                return Err(EvalError::new("`join` takes an array"));
            };
            Value::String(
                xs.iter()
                    .map(to_text)
                    .collect::<Vec<_>>()
                    .join(s(name, &a[1])?),
            )
        }
        "substring" => {
            arity(name, &a, 2, 3)?;
            let t = chars(s(name, &a[0])?);
            let start = i(name, &a[1])?;
            let len = match a.get(2) {
                Some(l) => i(name, l)?,
                None => t.len() as i64 - start,
            };
            if start < 0 || len < 0 || start + len > t.len() as i64 {
                return Err(EvalError::new(format!(
                    "`substring` range {start}+{len} is outside the string of length {}",
                    t.len()
                )));
            }
            Value::String(t[start as usize..(start + len) as usize].iter().collect())
        }
        "padleft" => {
            arity(name, &a, 2, 3)?;
            let t = to_text(&a[0]);
            let total = i(name, &a[1])?.clamp(0, MAX_ITEMS) as usize;
            let pad = match a.get(2) {
                Some(p) => s(name, p)?.chars().next().unwrap_or(' '),
                None => ' ',
            };
            let n = t.chars().count();
            let mut out: String = std::iter::repeat_n(pad, total.saturating_sub(n)).collect();
            out.push_str(&t);
            Value::String(out)
        }
        "startswith" | "endswith" => {
            arity(name, &a, 2, 2)?;
            // Azure: case-insensitive.
            let (t, p) = (
                s(name, &a[0])?.to_lowercase(),
                s(name, &a[1])?.to_lowercase(),
            );
            Value::Bool(if lower == "startswith" {
                t.starts_with(&p)
            } else {
                t.ends_with(&p)
            })
        }
        "indexof" | "lastindexof" => {
            arity(name, &a, 2, 2)?;
            match &a[0] {
                Value::Array(xs) => {
                    let found = if lower == "indexof" {
                        xs.iter().position(|x| values_equal(x, &a[1]))
                    } else {
                        xs.iter().rposition(|x| values_equal(x, &a[1]))
                    };
                    json!(found.map(|p| p as i64).unwrap_or(-1))
                }
                _ => {
                    // Azure: case-insensitive, in characters.
                    let t = chars(&s(name, &a[0])?.to_lowercase());
                    let p = chars(&s(name, &a[1])?.to_lowercase());
                    let positions =
                        (0..=t.len().saturating_sub(p.len())).filter(|k| t[*k..].starts_with(&p));
                    let found = if lower == "indexof" {
                        positions.min()
                    } else {
                        positions.max()
                    };
                    json!(found.map(|p| p as i64).unwrap_or(-1))
                }
            }
        }
        "base64" => {
            use base64::Engine as _;
            Value::String(base64::engine::general_purpose::STANDARD.encode(one_str(name, &a)?))
        }
        "base64tostring" | "base64tojson" => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(one_str(name, &a)?)
                .map_err(|e| EvalError::new(format!("`{name}`: not base64: {e}")))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if lower == "base64tojson" {
                serde_json::from_str(&text)
                    .map_err(|e| EvalError::new(format!("`{name}`: not JSON: {e}")))?
            } else {
                Value::String(text)
            }
        }
        "datauri" => {
            use base64::Engine as _;
            Value::String(format!(
                "data:text/plain;charset=utf8;base64,{}",
                base64::engine::general_purpose::STANDARD
                    .encode(to_text(a.first().unwrap_or(&Value::Null)))
            ))
        }
        "datauritostring" => {
            use base64::Engine as _;
            let t = one_str(name, &a)?;
            let data = t.split_once(',').map(|(_, d)| d).unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| EvalError::new(format!("`{name}`: not a base64 data URI: {e}")))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        "uricomponent" => Value::String(
            url::form_urlencoded::byte_serialize(one_str(name, &a)?.as_bytes())
                .collect::<String>()
                .replace('+', "%20"),
        ),
        "uricomponenttostring" => Value::String(
            url::form_urlencoded::parse(
                format!("x={}", one_str(name, &a)?.replace('+', "%2B")).as_bytes(),
            )
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default(),
        ),
        "uri" => {
            arity(name, &a, 2, 2)?;
            let base = url::Url::parse(s(name, &a[0])?).map_err(|e| {
                EvalError::new(format!(
                    "`uri`: '{}' is not an absolute URI: {e}",
                    to_text(&a[0])
                ))
            })?;
            Value::String(
                base.join(s(name, &a[1])?)
                    .map_err(|e| EvalError::new(format!("`uri`: {e}")))?
                    .to_string(),
            )
        }
        "guid" => {
            arity(name, &a, 1, usize::MAX)?;
            let parts: Vec<&str> = a.iter().map(|x| s(name, x)).collect::<R<_>>()?;
            Value::String(crate::hash::guid(&parts))
        }
        "uniquestring" => {
            arity(name, &a, 1, usize::MAX)?;
            let parts: Vec<&str> = a.iter().map(|x| s(name, x)).collect::<R<_>>()?;
            Value::String(crate::hash::unique_string(&parts))
        }
        "newguid" => Value::String(ctx.new_guid()),
        "utcnow" => {
            let format = a
                .first()
                .and_then(Value::as_str)
                .unwrap_or("yyyyMMddTHHmmssZ");
            Value::String(format_datetime(&ctx.now, format))
        }
        "datetimeadd" => {
            arity(name, &a, 2, 3)?;
            let base = parse_datetime(s(name, &a[0])?)?;
            let d = crate::duration::parse(s(name, &a[1])?).map_err(EvalError::new)?;
            let t = base + d;
            Value::String(match a.get(2) {
                Some(f) => format_datetime(&t, s(name, f)?),
                None => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            })
        }
        "datetimetoepoch" => json!(parse_datetime(one_str(name, &a)?)?.timestamp()),
        "datetimefromepoch" => {
            arity(name, &a, 1, 1)?;
            let t = chrono::DateTime::from_timestamp(i(name, &a[0])?, 0)
                .ok_or_else(|| EvalError::new("`dateTimeFromEpoch`: out of range"))?;
            Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        // ----- arrays and objects -----
        "createarray" => Value::Array(a),
        "array" => {
            arity(name, &a, 1, 1)?;
            match &a[0] {
                Value::Array(_) => a[0].clone(),
                other => Value::Array(vec![other.clone()]),
            }
        }
        "createobject" => {
            if !a.len().is_multiple_of(2) {
                return Err(EvalError::new("`createObject` takes key/value pairs"));
            }
            let mut o = Map::new();
            for pair in a.chunks(2) {
                o.insert(s(name, &pair[0])?.to_string(), pair[1].clone());
            }
            Value::Object(o)
        }
        "json" => {
            let t = one_str(name, &a)?;
            serde_json::from_str(t)
                .map_err(|e| EvalError::new(format!("`json`: '{t}' is not valid JSON: {e}")))?
        }
        "length" => {
            arity(name, &a, 1, 1)?;
            json!(match &a[0] {
                Value::String(t) => t.encode_utf16().count(),
                Value::Array(xs) => xs.len(),
                Value::Object(o) => o.len(),
                other => return Err(EvalError::new(format!("`length` of {}", type_name(other)))),
            })
        }
        "empty" => {
            arity(name, &a, 1, 1)?;
            Value::Bool(match &a[0] {
                Value::Null => true,
                Value::String(t) => t.is_empty(),
                Value::Array(xs) => xs.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            })
        }
        "contains" => {
            arity(name, &a, 2, 2)?;
            Value::Bool(match &a[0] {
                Value::String(t) => t.contains(&to_text(&a[1])),
                Value::Array(xs) => xs.iter().any(|x| values_equal(x, &a[1])),
                Value::Object(o) => get_property(o, s(name, &a[1])?).is_some(),
                Value::Null => false,
                other => {
                    return Err(EvalError::new(format!(
                        "`contains` in {}",
                        type_name(other)
                    )));
                }
            })
        }
        "first" | "last" => {
            arity(name, &a, 1, 1)?;
            match &a[0] {
                Value::String(t) => {
                    let c = if lower == "first" {
                        t.chars().next()
                    } else {
                        t.chars().last()
                    };
                    Value::String(c.map(String::from).unwrap_or_default())
                }
                Value::Array(xs) => (if lower == "first" {
                    xs.first()
                } else {
                    xs.last()
                })
                .cloned()
                .unwrap_or(Value::Null),
                other => return Err(EvalError::new(format!("`{name}` of {}", type_name(other)))),
            }
        }
        "take" | "skip" => {
            arity(name, &a, 2, 2)?;
            let n = i(name, &a[1])?.max(0) as usize;
            match &a[0] {
                Value::String(t) => Value::String(if lower == "take" {
                    t.chars().take(n).collect()
                } else {
                    t.chars().skip(n).collect()
                }),
                Value::Array(xs) => Value::Array(if lower == "take" {
                    xs.iter().take(n).cloned().collect()
                } else {
                    xs.iter().skip(n).cloned().collect()
                }),
                other => return Err(EvalError::new(format!("`{name}` of {}", type_name(other)))),
            }
        }
        "union" => {
            arity(name, &a, 1, usize::MAX)?;
            let mut acc = a[0].clone();
            for x in &a[1..] {
                acc = union(&acc, x)?;
            }
            acc
        }
        "intersection" => {
            arity(name, &a, 2, usize::MAX)?;
            match &a[0] {
                Value::Array(first) => Value::Array(
                    first
                        .iter()
                        .filter(|x| {
                            a[1..].iter().all(|o| {
                                o.as_array()
                                    .is_some_and(|ys| ys.iter().any(|y| values_equal(x, y)))
                            })
                        })
                        .cloned()
                        .collect(),
                ),
                Value::Object(first) => Value::Object(
                    first
                        .iter()
                        .filter(|(k, v)| {
                            a[1..].iter().all(|o| {
                                o.as_object()
                                    .and_then(|m| m.get(*k))
                                    .is_some_and(|w| values_equal(v, w))
                            })
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => {
                    return Err(EvalError::new(format!(
                        "`intersection` of {}",
                        type_name(other)
                    )));
                }
            }
        }
        "flatten" => {
            arity(name, &a, 1, 1)?;
            let Value::Array(xs) = &a[0] else {
                return Err(EvalError::new("`flatten` takes an array of arrays"));
            };
            let mut out = Vec::new();
            for x in xs {
                match x {
                    Value::Array(inner) => out.extend(inner.iter().cloned()),
                    other => {
                        return Err(EvalError::new(format!(
                            "`flatten`: {} is not an array",
                            type_name(other)
                        )));
                    }
                }
            }
            Value::Array(out)
        }
        "items" => {
            arity(name, &a, 1, 1)?;
            let Value::Object(o) = &a[0] else {
                return Err(EvalError::new("`items` takes an object"));
            };
            // Azure: items() returns the properties sorted by key.
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by_key(|k| k.to_lowercase());
            Value::Array(
                keys.into_iter()
                    .map(|k| json!({ "key": k, "value": o[k] }))
                    .collect(),
            )
        }
        "objectkeys" => {
            arity(name, &a, 1, 1)?;
            let Value::Object(o) = &a[0] else {
                return Err(EvalError::new("`objectKeys` takes an object"));
            };
            Value::Array(o.keys().cloned().map(Value::String).collect())
        }
        "shallowmerge" => {
            arity(name, &a, 1, 1)?;
            let Value::Array(xs) = &a[0] else {
                return Err(EvalError::new("`shallowMerge` takes an array of objects"));
            };
            let mut out = Map::new();
            for x in xs {
                if let Value::Object(o) = x {
                    for (k, v) in o {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(out)
        }
        "tryget" => {
            arity(name, &a, 2, usize::MAX)?;
            let mut cur = a[0].clone();
            for k in &a[1..] {
                cur = match (&cur, k) {
                    (Value::Object(o), Value::String(key)) => {
                        get_property(o, key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(xs), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|u| xs.get(u as usize))
                        .cloned()
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                if cur.is_null() {
                    break;
                }
            }
            cur
        }
        "tryindexfromend" | "indexfromend" => {
            arity(name, &a, 2, 2)?;
            let Value::Array(xs) = &a[0] else {
                return Err(EvalError::new(format!("`{name}` takes an array")));
            };
            let k = i(name, &a[1])?;
            let found = usize::try_from(k)
                .ok()
                .filter(|k| *k >= 1 && *k <= xs.len())
                .map(|k| xs[xs.len() - k].clone());
            match (found, lower) {
                (Some(v), _) => v,
                (None, "tryindexfromend") => Value::Null,
                (None, _) => {
                    return Err(EvalError::new(format!(
                        "`indexFromEnd`: {k} is out of range"
                    )));
                }
            }
        }
        _ => {
            return Err(EvalError::new(format!("unknown template function `{name}`"))
                .with_help("apim-emu implements the functions of Microsoft's ARM template function reference; check the spelling"));
        }
    })
}

fn one_str<'v>(name: &str, a: &'v [Value]) -> R<&'v str> {
    arity(name, a, 1, 1)?;
    s(name, &a[0])
}

/// ARM equality: deep, strings case-sensitive, integers and floats by value.
pub fn values_equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| get_property(b, k).is_some_and(|w| values_equal(v, w)))
        }
        _ => x == y,
    }
}

/// Azure: `union` merges objects recursively (later values win) and concatenates arrays without duplicates.
fn union(x: &Value, y: &Value) -> R {
    Ok(match (x, y) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let merged = match out.get(k) {
                    Some(old @ Value::Object(_)) if v.is_object() => union(old, v)?,
                    _ => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(a), Value::Array(b)) => {
            let mut out: Vec<Value> = Vec::new();
            for v in a.iter().chain(b) {
                if !out.iter().any(|o| values_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Null, other) | (other, Value::Null) => other.clone(),
        _ => {
            return Err(EvalError::new(format!(
                "`union` takes objects or arrays, got {} and {}",
                type_name(x),
                type_name(y)
            )));
        }
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ResourceGroup,
    Subscription,
    Tenant,
}

/// `Microsoft.X/a/b` + names → `providers/Microsoft.X/a/n1/b/n2`.
fn type_and_names(name: &str, a: &[Value]) -> R<String> {
    let ty = s(name, &a[0])?;
    let mut segs = ty.split('/');
    let namespace = segs.next().unwrap_or_default();
    let types: Vec<&str> = segs.collect();
    let names: Vec<String> = a[1..]
        .iter()
        .map(|x| s(name, x).map(str::to_string))
        .collect::<R<_>>()?;
    // Names may also be given joined with '/'.
    let names: Vec<String> = names
        .iter()
        .flat_map(|n| n.split('/').map(str::to_string).collect::<Vec<_>>())
        .collect();
    if types.is_empty() || names.len() != types.len() {
        return Err(EvalError::new(format!(
            "`{name}`: type '{ty}' needs {} name segment(s), got {}",
            types.len(),
            names.len()
        )));
    }
    let mut out = namespace.to_string();
    for (t, n) in types.iter().zip(&names) {
        out.push('/');
        out.push_str(t);
        out.push('/');
        out.push_str(n);
    }
    Ok(out)
}

fn resource_id(ctx: &crate::DeploymentContext, name: &str, a: &[Value], kind: Kind) -> R {
    // Optional leading subscription id / resource group name come before the first argument that looks like a
    // resource type (`Namespace.Provider/type`).
    let type_at = a
        .iter()
        .position(|x| {
            x.as_str().is_some_and(|t| {
                t.contains('/') && t.split('/').next().is_some_and(|ns| ns.contains('.'))
            })
        })
        .ok_or_else(|| {
            EvalError::new(format!(
                "`{name}` needs a resource type such as 'Microsoft.ApiManagement/service'"
            ))
        })?;
    let prefix: Vec<&str> = a[..type_at].iter().map(|x| s(name, x)).collect::<R<_>>()?;
    let rest = type_and_names(name, &a[type_at..])?;
    Ok(Value::String(match kind {
        Kind::ResourceGroup => {
            let (sub, rg) = match prefix.as_slice() {
                [] => (ctx.subscription_id.as_str(), ctx.resource_group.as_str()),
                [rg] => (ctx.subscription_id.as_str(), *rg),
                [sub, rg, ..] => (*sub, *rg),
            };
            format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{rest}")
        }
        Kind::Subscription => {
            let sub = prefix
                .first()
                .copied()
                .unwrap_or(ctx.subscription_id.as_str());
            format!("/subscriptions/{sub}/providers/{rest}")
        }
        Kind::Tenant => format!("/providers/{rest}"),
    }))
}

/// .NET composite formatting as `format()` uses it: `{0}`, `{1,5}`, `{0:D3}`, `{{`, `}}`.
fn format_composite(f: &str, args: &[Value]) -> R<String> {
    let mut out = String::new();
    let cs: Vec<char> = f.chars().collect();
    let mut k = 0;
    while k < cs.len() {
        match cs[k] {
            '{' if cs.get(k + 1) == Some(&'{') => {
                out.push('{');
                k += 2;
            }
            '}' if cs.get(k + 1) == Some(&'}') => {
                out.push('}');
                k += 2;
            }
            '{' => {
                let end = cs[k..]
                    .iter()
                    .position(|c| *c == '}')
                    .ok_or_else(|| EvalError::new(format!("`format`: unclosed `{{` in '{f}'")))?;
                let hole: String = cs[k + 1..k + end].iter().collect();
                let (head, spec) = hole.split_once(':').unwrap_or((&hole, ""));
                let (idx, align) = head.split_once(',').unwrap_or((head, ""));
                let idx: usize = idx.trim().parse().map_err(|_| {
                    EvalError::new(format!("`format`: bad placeholder '{{{hole}}}'"))
                })?;
                let v = args.get(idx).ok_or_else(|| {
                    EvalError::new(format!(
                        "`format`: placeholder {{{idx}}} but only {} argument(s)",
                        args.len()
                    ))
                })?;
                let mut text = match (v, spec.chars().next()) {
                    (Value::Number(n), Some('D' | 'd')) if n.is_i64() => {
                        let width: usize = spec[1..].parse().unwrap_or(0);
                        let x = n.as_i64().unwrap_or(0);
                        format!(
                            "{}{:0width$}",
                            if x < 0 { "-" } else { "" },
                            x.unsigned_abs()
                        )
                    }
                    (Value::Number(n), Some('X' | 'x')) if n.is_i64() => {
                        let width: usize = spec[1..].parse().unwrap_or(0);
                        let x = n.as_i64().unwrap_or(0);
                        if spec.starts_with('X') {
                            format!("{x:0width$X}")
                        } else {
                            format!("{x:0width$x}")
                        }
                    }
                    _ => to_text(v),
                };
                if let Ok(w) = align
                    .trim()
                    .parse::<i64>()
                    .map(|w| w.clamp(-MAX_ITEMS, MAX_ITEMS))
                {
                    let n = text.chars().count() as i64;
                    if w.abs() > n {
                        let pad = " ".repeat((w.abs() - n) as usize);
                        text = if w > 0 {
                            format!("{pad}{text}")
                        } else {
                            format!("{text}{pad}")
                        };
                    }
                }
                out.push_str(&text);
                k += end + 1;
            }
            '}' => return Err(EvalError::new(format!("`format`: unmatched `}}` in '{f}'"))),
            c => {
                out.push(c);
                k += 1;
            }
        }
    }
    Ok(out)
}

fn parse_datetime(t: &str) -> R<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc())
        })
        .map_err(|_| EvalError::new(format!("'{t}' is not an ISO 8601 date and time")))
}

/// .NET custom date format strings as `utcNow()` and `dateTimeAdd()` take them (the common specifiers).
fn format_datetime(t: &chrono::DateTime<chrono::Utc>, f: &str) -> String {
    match f {
        "u" => return t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "o" | "O" => return t.format("%Y-%m-%dT%H:%M:%S%.7fZ").to_string(),
        "s" => return t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "d" => return t.format("%m/%d/%Y").to_string(),
        _ => {}
    }
    let mut out = String::new();
    let cs: Vec<char> = f.chars().collect();
    let mut k = 0;
    while k < cs.len() {
        let c = cs[k];
        let run = cs[k..].iter().take_while(|d| **d == c).count();
        let piece = match (c, run) {
            ('y', 4..) => t.format("%Y").to_string(),
            ('y', _) => t.format("%y").to_string(),
            ('M', 2..) => t.format("%m").to_string(),
            ('M', _) => t.format("%-m").to_string(),
            ('d', 2) => t.format("%d").to_string(),
            ('d', 1) => t.format("%-d").to_string(),
            ('H', 2..) => t.format("%H").to_string(),
            ('H', _) => t.format("%-H").to_string(),
            ('h', _) => t.format("%I").to_string(),
            ('m', 2..) => t.format("%M").to_string(),
            ('m', _) => t.format("%-M").to_string(),
            ('s', 2..) => t.format("%S").to_string(),
            ('s', _) => t.format("%-S").to_string(),
            ('f', n) => t.format("%f").to_string()[..n.min(9)].to_string(),
            _ => cs[k..k + run].iter().collect(),
        };
        out.push_str(&piece);
        k += run;
    }
    out
}
