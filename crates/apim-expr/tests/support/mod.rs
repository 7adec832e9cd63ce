//! Shared by the differential tests: evaluate one expression and compare it with what the real C# runtime
//! answered (a line of csharp-oracle output).

use apim_expr::{Context, Engine, Environment};

/// `Ok(())` when apim-emu agrees with the oracle on the value, or on the exception type; otherwise what
/// each side said.
pub fn agrees(
    engine: &Engine,
    ctx_json: &serde_json::Value,
    env: &Environment,
    case: &serde_json::Value,
) -> Result<(), String> {
    let expr = case["expr"].as_str().ok_or("a case without `expr`")?;
    // A fresh context per case: bodies are consumed by As<T>().
    let ctx = Context::from_json(ctx_json, env)?;
    let got = engine
        .compile(expr)
        .map_err(|e| format!("compile: {e}"))
        .and_then(|c| {
            engine
                .eval(&c, &ctx, env)
                .map_err(|e| format!("{}: {}", e.exception, e.message))
        });
    let ok = match (&got, case["ok"].as_bool()) {
        (Ok(v), Some(true)) => {
            // The oracle runs on Linux (`Environment.NewLine` is "\n"); apim-emu writes the Windows-hosted
            // gateway's "\r\n" (docs/expressions.md, Deviations).
            let ours = v.to_json().replace("\\r\\n", "\\n");
            serde_json::from_str::<serde_json::Value>(&ours)
                .ok()
                .as_ref()
                == Some(&case["value"])
        }
        (Err(e), Some(false)) => case["exception"]
            .as_str()
            .is_some_and(|x| e.starts_with(&format!("{x}:"))),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{expr}\n  C# says {}\n  apim-emu says {got:?}",
            case.get("value").or(case.get("exception")).unwrap_or(case)
        ))
    }
}
