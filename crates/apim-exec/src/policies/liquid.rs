//! `set-body template="liquid"` (reference 02 set-body).
//!
//! Azure: Liquid in DotLiquid's "C# mode": PascalCase filters (`Upcase`, `Date`, `AtLeast`) and a model of
//! `context.Request.{Url, Method, OriginalMethod, OriginalUrl, IpAddress, MatchedParameters, HasBody, Headers}`,
//! `context.Response.{StatusCode, Method, Headers}` and `body` (the JSON body). apim-emu renders with the `liquid`
//! crate: filter names are read in either case (`Upcase` is `upcase`, `AtLeast` is `at_least`).
//! Deviation: a dictionary (`Headers`) iterates as `[name, value]` pairs, not DotLiquid's `Key`/`Value` objects;
//! header values with several lines are joined with `,`; XML bodies are not parsed into `body`.

use std::sync::Arc;

use apim_policy::spec::Section;
use serde_json::{Map, Value, json};

use crate::run::{Exchange, PolicyError};

pub struct LiquidTemplate(Arc<liquid::Template>);

/// `| Upcase` → `| upcase`, `| AtLeast: 1` → `| at_least: 1`.
fn snake_filters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if chars[i] == '|' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] == ' ' {
                out.push(' ');
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_uppercase() {
                let mut first = true;
                while j < chars.len() && chars[j].is_ascii_alphanumeric() {
                    let c = chars[j];
                    if c.is_ascii_uppercase() {
                        if !first {
                            out.push('_');
                        }
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                    first = false;
                    j += 1;
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

pub fn compile(text: &str) -> Result<LiquidTemplate, String> {
    let parser = liquid::ParserBuilder::with_stdlib()
        .build()
        .map_err(|e| e.to_string())?;
    parser
        .parse(&snake_filters(text))
        .map(|t| LiquidTemplate(Arc::new(t)))
        .map_err(|e| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or("invalid template")
                .to_string()
        })
}

fn headers(lines: &[(String, String)]) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for (n, v) in lines {
        match out.get_mut(n) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(v);
            }
            _ => {
                out.insert(n.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(out)
}

pub fn render(t: &LiquidTemplate, ex: &Exchange) -> Result<String, PolicyError> {
    let request = json!({
        "Url": ex.request.url,
        "Method": ex.request.method,
        "OriginalMethod": ex.request.method,
        "OriginalUrl": ex.request.original_url,
        "IpAddress": ex.request.ip_address,
        "MatchedParameters": ex.request.matched_parameters.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
        "HasBody": ex.request_body.as_ref().is_some_and(|b| b.peek().is_some_and(|t| !t.is_empty())),
        "Headers": headers(&ex.request.headers),
    });
    let response = match &ex.response {
        Some((r, _)) => {
            json!({ "StatusCode": r.status, "Method": ex.request.method, "Headers": headers(&r.headers) })
        }
        None => Value::Null,
    };
    // Azure: `body` is the body of the message the section works on, parsed when it is JSON.
    let text = match ex.section {
        Section::Inbound | Section::Backend => ex.request_body.as_ref().and_then(|b| b.peek()),
        Section::Outbound | Section::OnError => ex.response.as_ref().and_then(|(_, b)| b.peek()),
    };
    let body = text
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null);
    let globals = json!({ "context": { "Request": request, "Response": response }, "body": body });
    let object = liquid::model::to_object(&globals)
        .map_err(|e| PolicyError::new("set-body", "", format!("Liquid model: {e}")))?;
    t.0.render(&object)
        .map_err(|e| PolicyError::new("set-body", "", format!("Liquid template failed: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pascal_case_filters_become_snake_case() {
        assert_eq!(
            super::snake_filters("{{ a | Upcase | AtLeast: 2 }}"),
            "{{ a | upcase | at_least: 2 }}"
        );
        assert_eq!(
            super::snake_filters("{{ a | default: 'X' }}"),
            "{{ a | default: 'X' }}"
        );
    }
}
