//! One line per template function: the value ARM's documentation gives for the example (or the rule it states).

use serde_json::{Value, json};

/// Evaluates `[expr]` as a template output, with two parameters in scope.
fn eval(expr: &str) -> Result<Value, String> {
    let template = json!({
        "parameters": {
            "name": { "type": "string", "defaultValue": "Contoso" },
            "cfg": { "type": "array", "defaultValue": [ { "name": "a", "weight": 3 }, { "name": "b" } ] }
        },
        "variables": { "suffix": "[toLower(parameters('name'))]" },
        "outputs": { "x": { "type": "object", "value": format!("[{expr}]") } }
    });
    let wanted = |_: &str| false;
    let options = arm_template::Options {
        context: arm_template::DeploymentContext::default(),
        parameters: Vec::new(),
        wanted: &wanted,
        require_parameters: true,
    };
    let d = arm_template::deploy("t.json", &template, &options);
    if let Some(e) = d.errors.first() {
        return Err(e.to_string());
    }
    if let Some(n) = d.notes.first() {
        return Err(n.clone());
    }
    Ok(d.outputs["x"]["value"].clone())
}

#[track_caller]
fn check(expr: &str, expected: Value) {
    assert_eq!(eval(expr), Ok(expected), "{expr}");
}

#[track_caller]
fn fails(expr: &str, message_part: &str) {
    match eval(expr) {
        Err(e) => assert!(e.contains(message_part), "{expr}: {e}"),
        Ok(v) => panic!("{expr} gave {v}, expected an error containing {message_part:?}"),
    }
}

#[test]
fn strings() {
    check("concat('a', 1, true())", json!("a1True"));
    check("format('{0}/{1}', 'apim', 'b1')", json!("apim/b1"));
    check("format('{0:D3}-{{x}}', 7)", json!("007-{x}"));
    check("toLower('ABC')", json!("abc"));
    check("toUpper('abc')", json!("ABC"));
    check("replace('a-b-c', '-', '')", json!("abc"));
    check(
        "split('a,b;c', createArray(',', ';'))",
        json!(["a", "b", "c"]),
    );
    check("substring('hello', 1, 3)", json!("ell"));
    check("take('hello', 2)", json!("he"));
    check("skip('hello', 3)", json!("lo"));
    check("padLeft('7', 3, '0')", json!("007"));
    check("startsWith('AbC', 'ab')", json!(true));
    check("endsWith('AbC', 'BC')", json!(true));
    check("indexOf('AbC', 'c')", json!(2));
    check("lastIndexOf('abab', 'b')", json!(3));
    check("trim('  x ')", json!("x"));
    check("string(createObject('a', 1))", json!("{\"a\":1}"));
    check("base64('one, two')", json!("b25lLCB0d28="));
    check("base64ToString('b25lLCB0d28=')", json!("one, two"));
    check("uriComponent('a b/c')", json!("a%20b%2Fc"));
    check("uriComponentToString('a%20b%2Fc')", json!("a b/c"));
    check(
        "uri('http://contoso.org/firstpath', 'myscript.sh')",
        json!("http://contoso.org/myscript.sh"),
    );
    check("length('abc')", json!(3));
    check("first('abc')", json!("a"));
    check("last('abc')", json!("c"));
    check("'it''s'", json!("it's"));
    fails("substring('hello', 3, 5)", "outside the string");
    check("length(format('{0,-5}|', 'ab'))", json!(6));
    check("length(format('{0,999999999}', 'a'))", json!(100000));
}

#[test]
fn numbers_and_logic() {
    check("add(2, 3)", json!(5));
    check("sub(2, 3)", json!(-1));
    check("mul(4, 3)", json!(12));
    check("div(7, 2)", json!(3));
    check("mod(7, 2)", json!(1));
    check("min(createArray(3, 1, 2))", json!(1));
    check("max(3, 5, 4)", json!(5));
    check("int('42')", json!(42));
    check("bool('TRUE')", json!(true));
    check(
        "equals(createObject('a', 1), createObject('a', 1))",
        json!(true),
    );
    check("equals('a', 'A')", json!(false));
    check("greater(2, 1)", json!(true));
    check("lessOrEquals('a', 'b')", json!(true));
    check("and(true(), not(false()))", json!(true));
    check("or(false(), true())", json!(true));
    // Only the chosen branch of `if` is evaluated.
    check(
        "if(equals(1, 1), 'yes', parameters('cfg')[5])",
        json!("yes"),
    );
    fails("div(1, 0)", "division by zero");
    fails("if('x', 1, 2)", "must be a boolean");
}

#[test]
fn arrays_and_objects() {
    check("createArray(1, 'a')", json!([1, "a"]));
    check("array('x')", json!(["x"]));
    check(
        "concat(createArray(1), createArray(2, 3))",
        json!([1, 2, 3]),
    );
    check(
        "union(createObject('a', 1, 'b', createObject('c', 1)), createObject('b', createObject('d', 2)))",
        json!({"a": 1, "b": {"c": 1, "d": 2}}),
    );
    check(
        "union(createArray(1, 2), createArray(2, 3))",
        json!([1, 2, 3]),
    );
    check(
        "intersection(createArray(1, 2, 3), createArray(2, 3, 4))",
        json!([2, 3]),
    );
    check("contains(createArray('a', 'b'), 'b')", json!(true));
    check("contains(createObject('Key', 1), 'key')", json!(true));
    check("contains('abc', 'B')", json!(false));
    check("empty(createArray())", json!(true));
    check("empty(null())", json!(true));
    check("length(parameters('cfg'))", json!(2));
    check("parameters('cfg')[0].name", json!("a"));
    check("parameters('cfg')[0]['NAME']", json!("a"));
    check("tryGet(parameters('cfg')[1], 'weight')", Value::Null);
    check("tryGet(parameters('cfg'), 0, 'weight')", json!(3));
    check("coalesce(null(), null(), 'x')", json!("x"));
    check("range(2, 3)", json!([2, 3, 4]));
    check("first(createArray(1, 2))", json!(1));
    check("take(createArray(1, 2, 3), 2)", json!([1, 2]));
    check("skip(createArray(1, 2, 3), 2)", json!([3]));
    check(
        "flatten(createArray(createArray(1), createArray(2, 3)))",
        json!([1, 2, 3]),
    );
    check(
        "items(createObject('b', 2, 'a', 1))",
        json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    );
    check("json('{\"a\": [1]}').a[0]", json!(1));
    check("indexOf(createArray('a', 'b'), 'b')", json!(1));
    check("join(createArray('a', 'b'), ',')", json!("a,b"));
    fails("parameters('cfg')[5]", "out of range");
    fails("parameters('cfg')[0].missing", "no property 'missing'");
}

#[test]
fn lambdas() {
    check(
        "map(range(0, 3), lambda('i', mul(lambdaVariables('i'), 2)))",
        json!([0, 2, 4]),
    );
    check(
        "filter(parameters('cfg'), lambda('c', contains(lambdaVariables('c'), 'weight')))",
        json!([{ "name": "a", "weight": 3 }]),
    );
    check(
        "reduce(createArray(1, 2, 3), 0, lambda('acc', 'x', add(lambdaVariables('acc'), lambdaVariables('x'))))",
        json!(6),
    );
    check(
        "sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))",
        json!([1, 2, 3]),
    );
    check(
        "toObject(parameters('cfg'), lambda('c', lambdaVariables('c').name))",
        json!({"a": { "name": "a", "weight": 3 }, "b": { "name": "b" }}),
    );
}

#[test]
fn deployment_scope() {
    check(
        "resourceId('Microsoft.ApiManagement/service/backends', 'apim', 'b1')",
        json!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/apim-emu/providers/Microsoft.ApiManagement/service/apim/backends/b1"
        ),
    );
    check(
        "resourceId('other-rg', 'Microsoft.Web/sites', 'app')",
        json!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/other-rg/providers/Microsoft.Web/sites/app"
        ),
    );
    check(
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r')",
        json!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/r"
        ),
    );
    check(
        "tenantResourceId('Microsoft.Management/managementGroups', 'm')",
        json!("/providers/Microsoft.Management/managementGroups/m"),
    );
    check(
        "extensionResourceId('/subscriptions/s/resourceGroups/g', 'Microsoft.Authorization/locks', 'l')",
        json!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/locks/l"),
    );
    check("resourceGroup().location", json!("westeurope"));
    check(
        "subscription().id",
        json!("/subscriptions/00000000-0000-0000-0000-000000000000"),
    );
    check("variables('suffix')", json!("contoso"));
    check("uniqueString('hello', 'world')", json!("a7wkljktk6wne"));
    check("length(guid('a'))", json!(36));
    check("environment().suffixes.storage", json!("core.windows.net"));
    check("utcNow('yyyy-MM-dd')", json!("2026-01-01"));
    check(
        "dateTimeAdd('2026-01-01T00:00:00Z', 'PT1H')",
        json!("2026-01-01T01:00:00Z"),
    );
    fails("listKeys('x', '2020-01-01')", "cannot do");
    fails("parameters('nope')", "no parameter 'nope'");
    fails("copyIndex()", "outside a copy loop");
    fails("nosuchfunction()", "unknown template function");
    fails("concat('a'", "syntax error");
}
