//! docker-compose.yml and the Dockerfile: every command, flag and healthcheck they run exists and parses, they
//! are wired as the demo is, and the compose commands work when run as processes (ports swapped for free ones;
//! no Docker needed).

use std::collections::BTreeMap;

use apim_cli::cli::{Cli, Parser as _};
use serde::Deserialize;

use crate::root;

/// Where the Dockerfile puts the binary.
const BIN: &str = "/usr/local/bin/apim-emu";

#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, Service>,
}

#[derive(Debug, Deserialize)]
struct Service {
    command: Vec<String>,
    healthcheck: Option<Healthcheck>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    depends_on: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct Healthcheck {
    test: Vec<String>,
}

fn compose() -> Compose {
    let text =
        std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    serde_yaml_ng::from_str(&text).expect("docker-compose.yml is valid YAML of the expected shape")
}

fn parses(args: &[String]) {
    let argv = std::iter::once("apim-emu".to_string()).chain(args.iter().cloned());
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!("`apim-emu {}` does not parse:\n{e}", args.join(" "));
    }
}

/// The value after `flag` (every occurrence).
fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn every_compose_command_and_healthcheck_parses() {
    let c = compose();
    assert_eq!(
        c.services.keys().collect::<Vec<_>>(),
        ["foundry-backup", "foundry-primary", "gateway"]
    );
    for (name, s) in &c.services {
        parses(&s.command);
        let test = &s
            .healthcheck
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has a healthcheck"))
            .test;
        assert_eq!(test[0], "CMD", "{name}: exec form (the image has no shell)");
        assert_eq!(test[1], BIN, "{name}");
        parses(&test[2..]);
        assert_eq!(test[2], "health", "{name}");
    }
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_runs_commands_that_exist() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("FROM ")).count(),
        2,
        "build and run stages"
    );
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    assert!(text.contains(&format!("COPY --from=build /out/apim-emu {BIN}")));
    let json_of = |prefix: &str| -> Vec<String> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix}"));
        let start = line.find('[').expect("exec form");
        serde_json::from_str(&line[start..]).expect("a JSON array")
    };
    assert_eq!(json_of("ENTRYPOINT "), [BIN]);
    let cmd = json_of("CMD ");
    parses(&cmd);
    assert_eq!(values(&cmd, "--listen"), ["0.0.0.0:8080"]);
    let health = json_of("HEALTHCHECK ");
    assert_eq!(health[0], BIN);
    parses(&health[1..]);
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim_end_matches('/') == "target"));
}

#[test]
fn compose_is_wired_as_the_demo() {
    let c = compose();
    let gateway = &c.services["gateway"].command;
    assert_eq!(gateway[0], "serve");
    let listen = values(gateway, "--listen");
    assert_eq!(listen.len(), 1);
    assert!(
        listen[0].starts_with("0.0.0.0:"),
        "reachable from outside the container"
    );
    let port = listen[0].rsplit(':').next().expect("port");
    assert!(
        c.services["gateway"]
            .ports
            .iter()
            .any(|p| p.ends_with(&format!(":{port}")))
    );
    let demo = apim_cli::serve::demo_mocks();
    for (_, config) in &demo {
        let name = &config.name;
        let service = &c.services[name.as_str()];
        assert!(
            c.services["gateway"].depends_on.contains_key(name.as_str()),
            "{name}"
        );
        let spec = values(&service.command, "--backend");
        assert_eq!(spec.len(), 1, "{name}");
        let (mock, addr) = apim_cli::mock::parse_spec(spec[0]).expect("the spec parses");
        assert_eq!(&mock.name, name);
        assert!(addr.ip().is_unspecified(), "{name} listens on 0.0.0.0");
        // The same fault schedule as the built-in demo.
        assert_eq!(
            (mock.cycle, &mock.faults),
            (config.cycle, &config.faults),
            "{name}"
        );
        let url = format!("{name}=http://{name}:{}/openai", addr.port());
        assert!(
            values(gateway, "--backend-url").contains(&url.as_str()),
            "{url}"
        );
    }
}

/// Replaces `from` with `to` in every argument.
fn swap(args: &[String], from: &str, to: &str) -> Vec<String> {
    args.iter().map(|a| a.replace(from, to)).collect()
}

#[cfg(unix)]
#[tokio::test]
async fn the_compose_commands_run_together_as_processes() {
    use crate::demo::{chat, start, terminate, urls};
    let c = compose();
    let mut gateway_args = c.services["gateway"].command.clone();
    let mut mocks = Vec::new();
    let mut health_checks = Vec::new();
    for name in ["foundry-primary", "foundry-backup"] {
        let s = &c.services[name];
        let spec = values(&s.command, "--backend")[0].to_string();
        let (_, addr) = apim_cli::mock::parse_spec(&spec).expect("spec");
        let args = swap(
            &s.command,
            &format!("0.0.0.0:{}", addr.port()),
            "127.0.0.1:0",
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = start(&args, "listening on http://", 1);
        let actual = urls(&running.out, "listening on").remove(0);
        let actual_port = actual.rsplit(':').next().expect("port").to_string();
        gateway_args = swap(
            &gateway_args,
            &format!("http://{name}:{}", addr.port()),
            &actual,
        );
        let test = &s.healthcheck.as_ref().expect("healthcheck").test;
        health_checks.push(swap(
            &test[2..],
            &format!(":{}/", addr.port()),
            &format!(":{actual_port}/"),
        ));
        mocks.push(running);
    }
    let gateway_args = swap(&gateway_args, "0.0.0.0:8080", "127.0.0.1:0");
    let args: Vec<&str> = gateway_args.iter().map(String::as_str).collect();
    let gateway = start(&args, "listening on http://", 1);
    let url = urls(&gateway.out, "listening on").remove(0);
    assert!(
        !gateway.out.iter().any(|l| l.contains("built-in mock")),
        "--backend-url replaces both built-in mocks: {:?}",
        gateway.out
    );
    for check in &health_checks {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_apim-emu"))
            .args(check)
            .status()
            .expect("health runs");
        assert!(status.success(), "{check:?}");
    }
    let gateway_port = url.rsplit(':').next().expect("port");
    let gateway_health = swap(
        &c.services["gateway"]
            .healthcheck
            .as_ref()
            .expect("healthcheck")
            .test[2..],
        ":8080/",
        &format!(":{gateway_port}/"),
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(&gateway_health)
        .status()
        .expect("health runs");
    assert!(status.success(), "{gateway_health:?}");
    let client = reqwest::Client::new();
    let mut served = Vec::new();
    for _ in 0..5 {
        let (status, region) = chat(&client, &url).await;
        assert_eq!(status, 200);
        served.push(region);
    }
    assert_eq!(
        served,
        [
            "foundry-primary",
            "foundry-primary",
            "foundry-primary",
            "foundry-backup",
            "foundry-backup"
        ]
    );
    terminate(gateway);
    for m in mocks {
        terminate(m);
    }
}

#[test]
fn health_fails_when_nothing_answers() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args([
            "health",
            &format!("http://127.0.0.1:{port}/health"),
            "--timeout",
            "1",
        ])
        .output()
        .expect("health runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer from"));
}
