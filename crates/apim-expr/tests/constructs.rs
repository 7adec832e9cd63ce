//! One line per construct and per library member (`fixtures/expr/constructs.txt`), each asserting the value
//! or exception the real C# runtime gave (`constructs.oracle.jsonl`, from ../shared/tools/csharp-oracle via
//! `cargo run -p xtask -- oracle`). Also: refused and accepted members, located runtime errors.

mod support;

use apim_expr::{Context, Engine, Environment, ErrorKind, Value};

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/expr")
}

fn context_json() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("context.json")).expect("context.json");
    serde_json::from_str(&text).expect("context.json is JSON")
}

#[test]
fn every_construct_agrees_with_the_real_csharp_runtime() {
    let listed: Vec<String> = std::fs::read_to_string(fixtures().join("constructs.txt"))
        .expect("constructs.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let answers = std::fs::read_to_string(fixtures().join("constructs.oracle.jsonl"))
        .expect("constructs.oracle.jsonl");
    let cases: Vec<serde_json::Value> = answers
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle output is JSON"))
        .collect();
    let answered: Vec<&str> = cases.iter().filter_map(|c| c["expr"].as_str()).collect();
    assert_eq!(
        listed, answered,
        "constructs.txt changed: run `cargo run -p xtask -- oracle`"
    );
    // The oracle is plain .NET: a missing variable throws there.
    let env = Environment {
        missing_variable_throws: true,
        ..Environment::default()
    };
    let engine = Engine::default();
    let ctx = context_json();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| support::agrees(&engine, &ctx, &env, case).err())
        .collect();
    eprintln!(
        "constructs: {}/{} agree with C#",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn compile_error(text: &str) -> apim_expr::ExprError {
    Engine::default().compile(text).expect_err(text)
}

#[test]
fn members_outside_the_allow_list_are_refused_at_load_time_with_their_location() {
    for (text, name, at) in [
        ("@(DateTime.Now.ToUniversalTime())", "ToUniversalTime", 15),
        ("@(System.IO.File.ReadAllText(\"x\"))", "System.IO.File", 2),
        (
            "@(Environment.GetEnvironmentVariable(\"X\"))",
            "System.Environment",
            2,
        ),
        (
            "@(new System.Net.Http.HttpClient())",
            "System.Net.Http.HttpClient",
            6,
        ),
        (
            "@(System.Threading.Thread.Sleep(1000))",
            "System.Threading.Thread",
            2,
        ),
        ("@(typeof(string).Assembly)", "", 0),
        (
            "@(Newtonsoft.Json.JsonConvert.PopulateObject(\"{}\", null))",
            "PopulateObject",
            30,
        ),
        (
            "@(System.Globalization.CultureInfo.CurrentCulture)",
            "CultureInfo",
            2,
        ),
        ("@(XDocument.Load(\"x.xml\"))", "Load", 12),
        ("@(DateTime.TryParse(\"x\", out var d))", "TryParse", 11),
    ] {
        let e = compile_error(text);
        assert!(
            matches!(e.kind, ErrorKind::Refused | ErrorKind::Syntax),
            "{text}: {e:?}"
        );
        assert!(e.message.contains(name), "{text}: {}", e.message);
        if at > 0 {
            assert_eq!(e.range.start, at, "{text}: {e:?}");
        }
    }
}

#[test]
fn allowed_members_are_accepted() {
    let engine = Engine::default();
    for text in [
        "@(DateTime.UtcNow.AddMinutes(5).ToString(\"o\"))",
        "@(DateTime.Now.Subtract(DateTime.UtcNow).TotalSeconds)",
        "@(DateTimeOffset.UtcNow.ToUnixTimeSeconds())",
        "@(Newtonsoft.Json.JsonConvert.SerializeObject(new { a = 1 }))",
        "@(new Random(1).Next(10))",
        "@(System.Net.WebUtility.UrlDecode(\"a%20b\"))",
        "@(new HMACSHA256(new byte[] { 1 }).ComputeHash(new byte[] { 2 }).Length)",
        "@(((Authorization)context.Variables.GetValueOrDefault(\"auth\"))?.AccessToken)",
        "@(Encoding.UTF8.GetBytes(\"x\").Encrypt(\"Aes\", new byte[16], new byte[16]).Length)",
    ] {
        assert!(
            engine.compile(text).is_ok(),
            "{text}: {:?}",
            engine.compile(text)
        );
    }
}

#[test]
fn valid_csharp_apim_emu_cannot_run_yet_is_unsupported_not_silent() {
    for text in [
        "@(new XDeclaration(\"1.0\", null, null).ToString())",
        "@{ void F() { } return 1; }",
        "@(\"abc\".ToUpperInvariant().GetTypeCode())",
        "@(checked(1 + 2))",
    ] {
        assert_eq!(compile_error(text).kind, ErrorKind::Unsupported, "{text}");
    }
}

#[test]
fn runtime_errors_carry_the_exception_and_the_location_of_the_failing_part() {
    let engine = Engine::default();
    let env = Environment::default();
    let ctx = Context::from_json(&context_json(), &env).expect("context");
    for (text, exception, failing) in [
        ("@(1 + int.Parse(\"x\"))", "FormatException", "Parse"),
        (
            "@((int)context.Variables[\"backend\"] + 1)",
            "InvalidCastException",
            "(int)context.Variables[\"backend\"]",
        ),
        (
            "@{ string s = null; return s.Length; }",
            "NullReferenceException",
            "Length",
        ),
        (
            "@(new Dictionary<string, int>()[\"k\"])",
            "KeyNotFoundException",
            "new Dictionary<string, int>()[\"k\"]",
        ),
        (
            "@{ int z = 0; return 10 / z; }",
            "DivideByZeroException",
            "10 / z",
        ),
    ] {
        let compiled = engine.compile(text).expect(text);
        let e = engine.eval(&compiled, &ctx, &env).expect_err(text);
        assert_eq!(e.exception, exception, "{text}: {}", e.message);
        assert_eq!(&text[e.range.clone()], failing, "{text}");
    }
}

#[test]
fn missing_variables_are_null_by_default_and_throw_when_asked() {
    let engine = Engine::default();
    let compiled = engine
        .compile("@(context.Variables[\"nope\"] == null)")
        .expect("compiles");
    let lenient = Environment::default();
    let ctx = Context::from_json(&context_json(), &lenient).expect("context");
    let v = engine.eval(&compiled, &ctx, &lenient).expect("null");
    assert_eq!(v.to_json(), "true");
    let strict = Environment {
        missing_variable_throws: true,
        ..Environment::default()
    };
    let e = engine.eval(&compiled, &ctx, &strict).expect_err("throws");
    assert_eq!(e.exception, "KeyNotFoundException");
}

#[test]
fn authorization_context_variables_expose_the_access_token() {
    let engine = Engine::default();
    let env = Environment::default();
    let ctx = Context::from_json(&context_json(), &env).expect("context");
    ctx.set_variable(
        "auth",
        Value::authorization("tok-1", vec![("tid".into(), "t-9".into())]),
    );
    let compiled = engine
        .compile("@(\"Bearer \" + ((Authorization)context.Variables.GetValueOrDefault(\"auth\"))?.AccessToken)")
        .expect("compiles");
    let v = engine.eval(&compiled, &ctx, &env).expect("value");
    assert_eq!(v.to_json(), "\"Bearer tok-1\"");
}
