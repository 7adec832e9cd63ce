//! Deployments as a whole: parameter typing, and robustness on arbitrary input (no panics, located errors).

use arm_template::{DeploymentContext, Options, ParamValue, deploy};
use proptest::prelude::*;
use serde_json::{Value, json};

fn run(template: &Value, parameters: Vec<(String, ParamValue)>) -> arm_template::Deployment {
    let wanted = |t: &str| t.eq_ignore_ascii_case("Microsoft.ApiManagement/service/backends");
    deploy(
        "t.json",
        template,
        &Options {
            context: DeploymentContext::default(),
            parameters,
            wanted: &wanted,
            require_parameters: true,
        },
    )
}

#[test]
fn parameters_are_typed_by_their_declaration() {
    let template = json!({
        "parameters": {
            "release": { "type": "string" },
            "count": { "type": "int" },
            "config": { "type": "object" },
            "free": { "type": "string" }
        },
        "outputs": {
            "release": { "type": "string", "value": "[parameters('release')]" },
            "count": { "type": "int", "value": "[add(parameters('count'), 1)]" },
            "config": { "type": "object", "value": "[parameters('config').a]" },
            "free": { "type": "string", "value": "[parameters('free')]" }
        }
    });
    let d = run(
        &template,
        vec![
            ("release".into(), ParamValue::Text("2024".into())),
            ("COUNT".into(), ParamValue::Text("2".into())),
            ("config".into(), ParamValue::Text("{\"a\": [1]}".into())),
            ("free".into(), ParamValue::Text("\"quoted\"".into())),
        ],
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.outputs["release"]["value"], json!("2024"));
    assert_eq!(d.outputs["count"]["value"], json!(3));
    assert_eq!(d.outputs["config"]["value"], json!([1]));
    assert_eq!(d.outputs["free"]["value"], json!("quoted"));
}

#[test]
fn a_value_needing_an_azure_resource_is_unresolved_where_it_is_used() {
    let template = json!({
        "resources": [
            { "type": "Microsoft.CognitiveServices/accounts", "apiVersion": "2024-10-01", "name": "ai", "properties": {} },
            { "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": "apim/b",
              "properties": { "url": "[format('{0}openai', reference('ai').endpoint)]", "protocol": "http" } }
        ]
    });
    let d = run(&template, Vec::new());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let b = &d.resources[0];
    assert_eq!(b.body["properties"]["url"], Value::Null);
    assert_eq!(b.unresolved.len(), 1);
    assert_eq!(b.unresolved[0].at, "properties.url");
    assert!(
        b.unresolved[0]
            .error
            .message
            .contains("'ai' is not deployed by apim-emu"),
        "{:?}",
        b.unresolved
    );
    assert_eq!(b.unresolved[0].error.path, "$.resources[1].properties.url");
}

fn expression() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("parameters('p')".to_string()),
        Just("variables('v')".to_string()),
        Just("copyIndex()".to_string()),
        Just("'s'".to_string()),
        Just("1".to_string()),
        Just("-3".to_string()),
        Just("createArray(1, 'a')".to_string()),
        Just("reference('x')".to_string()),
        "[a-z(),.'\\[\\] 0-9]{0,12}",
    ];
    atom.prop_recursive(4, 32, 3, |inner| {
        (
            prop_oneof![
                Just("concat"),
                Just("format"),
                Just("if"),
                Just("length"),
                Just("union"),
                Just("substring"),
                Just("json"),
                Just("split"),
                Just("map"),
                Just("lambda"),
                Just("div"),
                Just("range"),
                Just("tryGet"),
                Just("padLeft"),
                Just("take"),
                Just("base64ToJson"),
                Just("uri"),
                Just("dateTimeAdd"),
                Just("nope"),
            ],
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(f, args)| format!("{f}({})", args.join(", ")))
    })
}

proptest! {
    /// Whatever expressions a template holds, a deployment finishes with values, unresolved values or located
    /// errors, never a panic.
    #[test]
    fn any_expression_deploys_or_fails_cleanly(name in expression(), url in expression(), count in expression()) {
        let template = json!({
            "parameters": { "p": { "type": "array", "defaultValue": [ "a", "b" ] } },
            "variables": { "v": "[concat('x', parameters('p')[0])]" },
            "resources": [
                { "copy": { "name": "l", "count": format!("[{count}]") },
                  "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01",
                  "name": format!("[{name}]"), "properties": { "url": format!("[{url}]") } }
            ],
            "outputs": { "o": { "type": "string", "value": format!("[{url}]") } }
        });
        let d = run(&template, Vec::new());
        for e in &d.errors {
            prop_assert!(e.path.starts_with("$."), "{:?}", e);
        }
    }
}

#[test]
fn runaway_values_are_refused_not_allocated() {
    let mut variables = serde_json::Map::new();
    variables.insert("v0".into(), json!("xxxxxxxxxxxxxxxx"));
    for i in 1..64 {
        variables.insert(
            format!("v{i}"),
            json!(format!(
                "[concat(variables('v{0}'), variables('v{0}'))]",
                i - 1
            )),
        );
    }
    let template = json!({
        "variables": variables,
        "resources": [
            { "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": "apim/b",
              "properties": { "url": "[variables('v63')]" } }
        ]
    });
    let d = run(&template, Vec::new());
    let b = &d.resources[0];
    assert!(
        b.unresolved[0]
            .error
            .message
            .contains("larger than apim-emu accepts"),
        "{:?}",
        b.unresolved
    );
}

#[test]
fn user_defined_functions_see_their_parameters() {
    let template = json!({
        "functions": [ { "namespace": "contoso", "members": {
            "backendName": { "parameters": [ { "name": "region", "type": "string" } ],
                             "output": { "type": "string", "value": "[format('aoai-{0}', toLower(parameters('region')))]" } } } } ],
        "outputs": {
            "name": { "type": "string", "value": "[contoso.backendName('EastUS')]" },
            "bad": { "type": "string", "value": "[contoso.backendName()]" }
        }
    });
    let d = run(&template, Vec::new());
    assert_eq!(d.outputs["name"]["value"], json!("aoai-eastus"));
    assert_eq!(d.outputs["bad"]["value"], Value::Null);
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("takes 1 argument(s), got 0")),
        "{:?}",
        d.notes
    );
}
