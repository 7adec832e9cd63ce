//! `cargo run -p arm-template --example deploy -- TEMPLATE [PARAMS.json] [NAME=VALUE…]`: prints the wanted
//! resources (API Management backends) a template deploys, for trying the engine by hand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: deploy TEMPLATE [PARAMS.json] [NAME=VALUE…]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).expect("readable template");
    let template: serde_json::Value = serde_json::from_str(&text).expect("JSON template");
    let mut parameters = Vec::new();
    for a in &args[1..] {
        if let Some((n, v)) = a.split_once('=') {
            parameters.push((n.to_string(), arm_template::ParamValue::Text(v.to_string())));
        } else {
            let p = std::fs::read_to_string(a).expect("readable parameters file");
            parameters.extend(arm_template::read_parameters_file(&p).expect("parameters file"));
        }
    }
    let wanted = |t: &str| t.eq_ignore_ascii_case("Microsoft.ApiManagement/service/backends");
    let options = arm_template::Options {
        context: arm_template::DeploymentContext::default(),
        parameters,
        wanted: &wanted,
        require_parameters: true,
    };
    let start = std::time::Instant::now();
    let d = arm_template::deploy(path, &template, &options);
    eprintln!("deployed in {:?}", start.elapsed());
    for r in &d.resources {
        println!("{} {}\n  {}", r.type_, r.name, r.body["properties"]);
        for u in &r.unresolved {
            println!("  unresolved {}: {}", u.at, u.error);
        }
    }
    for e in &d.errors {
        println!("error: {e}");
    }
    for n in &d.notes {
        println!("note: {n}");
    }
}
