//! The README's first command, `apim-emu serve` with no arguments, and `apim-emu mock`, run as a user runs them:
//! the real binary, real sockets on 127.0.0.1 port 0, stopped with SIGTERM as `docker stop` does.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `apim-emu`; killed when dropped.
pub(crate) struct Running {
    child: Child,
    /// Stdout up to the last line waited for.
    pub(crate) out: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `apim-emu ARGS` and reads stdout until `count` lines contain `marker`.
pub(crate) fn start(args: &[&str], marker: &str, count: usize) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(args)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apim-emu starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut out = Vec::new();
    while out.iter().filter(|l: &&String| l.contains(marker)).count() < count {
        match lines.next() {
            Some(Ok(line)) => out.push(line),
            _ => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!(
                    "apim-emu {args:?} stopped before printing `{marker}`:\n{}\n{err}",
                    out.join("\n")
                );
            }
        }
    }
    Running { child, out }
}

pub(crate) fn urls(lines: &[String], marker: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(marker))
        .filter_map(|l| l.split("http://").nth(1))
        .map(|rest| {
            format!(
                "http://{}",
                rest.split([' ', ')']).next().unwrap_or_default()
            )
        })
        .collect()
}

/// Sends SIGTERM and checks the process exits 0.
#[cfg(unix)]
pub(crate) fn terminate(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = running.child.wait().expect("exits");
    assert_eq!(exit.code(), Some(0), "clean shutdown on SIGTERM");
}

/// One backend's entry in the gateway's `/_emulator/backends`.
pub(crate) async fn backend_state(
    client: &reqwest::Client,
    gateway: &str,
    name: &str,
) -> serde_json::Value {
    let state: serde_json::Value = serde_json::from_slice(
        &client
            .get(format!("{gateway}/_emulator/backends"))
            .send()
            .await
            .expect("state")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("json");
    state
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} is listed"))
}

pub(crate) async fn chat(client: &reqwest::Client, gateway: &str) -> (u16, String) {
    let r = client
        .post(format!(
            "{gateway}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        ))
        .header("content-type", "application/json")
        .body(r#"{"messages": [{"role": "user", "content": "hi"}]}"#)
        .send()
        .await
        .expect("the gateway answers");
    let region = r
        .headers()
        .get("x-ms-region")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), region)
}

#[cfg(unix)]
#[tokio::test]
async fn serve_without_arguments_runs_the_seed_failover_demo_against_built_in_mocks() {
    let running = start(
        &["serve", "--listen", "127.0.0.1:0"],
        "/_emulator/backends",
        1,
    );
    let gateway = urls(&running.out, "listening on").remove(0);
    let banner = running.out.join("\n");
    assert!(banner.contains("foundry-model-pool"), "{banner}");
    assert_eq!(urls(&running.out, "built-in mock").len(), 2, "{banner}");
    let client = reqwest::Client::new();
    let mut served = Vec::new();
    for _ in 0..6 {
        let (status, region) = chat(&client, &gateway).await;
        assert_eq!(
            status, 200,
            "the retry hides the throttled answer from the client"
        );
        served.push(region);
    }
    // The fourth request to the primary is a 429 with Retry-After: 10: the breaker opens for 10 s and the retry
    // goes to the backup, which then serves everything until the trip ends.
    assert_eq!(
        served,
        [
            "foundry-primary",
            "foundry-primary",
            "foundry-primary",
            "foundry-backup",
            "foundry-backup",
            "foundry-backup"
        ]
    );
    let primary = backend_state(&client, &gateway, "foundry-primary").await;
    assert_eq!(primary["circuitBreaker"]["state"], "open");
    assert_eq!(primary["circuitBreaker"]["trippedBy"], "429");
    let open_for = primary["circuitBreaker"]["openForMs"]
        .as_u64()
        .expect("open until");
    assert!(
        open_for <= 10_000 && open_for > 5_000,
        "Retry-After: 10 sets the trip: {open_for}"
    );
    // The printed curl line is the request this test sends.
    assert!(
        banner.contains(&format!(
            "curl -i '{gateway}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'"
        )),
        "{banner}"
    );
    assert!(banner.contains("/_emulator/backends"), "{banner}");
    terminate(running);
}

#[test]
fn the_demo_refuses_flags_that_need_a_policy() {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(["serve", "--listen", "127.0.0.1:0", "--api-path", "x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--api-path needs --policy FILE or --service FILE"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn mock_runs_several_backends_on_their_own_ports() {
    let running = start(
        &[
            "mock",
            "--backend",
            "a=0,throttle=2,retry-after=5",
            "--backend",
            "b=127.0.0.1:0,region=westus",
        ],
        "listening on http://",
        2,
    );
    let addrs = urls(&running.out, "listening on");
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0], addrs[1]);
    let client = reqwest::Client::new();
    let post = |url: String| {
        client
            .post(format!("{url}/openai/deployments/gpt-4o/chat/completions"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    let first = post(addrs[0].clone()).await.expect("a answers");
    assert_eq!(
        (first.status().as_u16(), &first.headers()["x-ms-region"]),
        (
            200,
            &"a".parse::<reqwest::header::HeaderValue>().expect("value")
        )
    );
    let second = post(addrs[0].clone()).await.expect("a answers");
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "5");
    let b = post(addrs[1].clone()).await.expect("b answers");
    assert_eq!(b.headers()["x-ms-region"], "westus");
    let health = client
        .get(format!("{}/health", addrs[0]))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    terminate(running);
}

#[test]
fn mock_reports_a_bad_spec_and_a_bad_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(["mock", "--backend", "a=1,colour=red"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `colour`"));
    let dir = std::env::temp_dir().join(format!("apim-emu-mock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("mocks.yaml");
    std::fs::write(
        &file,
        "backends:\n  a:\n    listen: 0\n    faults:\n      - { at: 1, thrttle: 5 }\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(["mock", "--config"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mocks.yaml:5:") && err.contains("thrttle"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
