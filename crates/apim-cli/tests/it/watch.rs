//! `serve --watch` as a user runs it: the real binary on 127.0.0.1:0 in front of mock backends, files edited on
//! disk. A good edit is served with the breaker state kept; a bad edit is reported with `validate`'s
//! diagnostics while the last good configuration keeps serving. Waits are on the process's own output lines,
//! never on a timer.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apim_gateway::mock::{self, Fault, MockConfig};

struct Gateway {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Stderr lines up to the first containing `marker` (the test fails after a minute without it).
    fn wait_for(&self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let hit = line.contains(marker);
                    seen.push(line);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("no `{marker}` on stderr; saw:\n{}", seen.join("\n")),
            }
        }
    }
}

fn policy(version: &str) -> String {
    format!(
        r#"<policies>
    <inbound>
        <base />
        <set-backend-service backend-id="foundry-model-pool" />
    </inbound>
    <backend>
        <forward-request buffer-request-body="true" />
    </backend>
    <outbound>
        <base />
        <set-header name="x-policy-version" exists-action="override">
            <value>{version}</value>
        </set-header>
    </outbound>
    <on-error>
        <base />
    </on-error>
</policies>
"#
    )
}

fn start(dir: &std::path::Path, primary: &str, backup: &str) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .arg("--color=never")
        .args([
            "serve",
            "--watch",
            "--listen",
            "127.0.0.1:0",
            "--api-path",
            "openai",
        ])
        .arg("--policy")
        .arg(dir.join("api.xml"))
        .arg("--backends")
        .arg(crate::root().join("policies/foundry-failover/backends.json"))
        .args([
            "--param",
            &format!("primaryUrl={primary}"),
            "--param",
            &format!("backupUrl={backup}"),
        ])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apim-emu starts");
    let (tx, stderr) = mpsc::channel();
    let err = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let out = child.stdout.take().expect("piped");
    let mut url = None;
    let mut lines = BufReader::new(out).lines();
    let mut seen = Vec::new();
    while url.is_none() {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    url = Some(rest.to_string());
                }
                seen.push(line);
            }
            _ => panic!("apim-emu stopped before listening:\n{}", seen.join("\n")),
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("watching ")), "{seen:?}");
    Gateway {
        child,
        url: url.expect("url"),
        stderr,
    }
}

async fn chat(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client
        .post(format!("{url}/openai/deployments/gpt-4o/chat/completions"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("the gateway answers");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (
        r.status().as_u16(),
        header("x-ms-region"),
        header("x-policy-version"),
    )
}

async fn primary_state(client: &reqwest::Client, url: &str) -> String {
    let primary = crate::demo::backend_state(client, url, "foundry-primary").await;
    primary["circuitBreaker"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn watch_reloads_a_good_edit_keeping_breakers_and_keeps_serving_through_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("apim-emu-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("api.xml"), policy("1")).expect("write");
    // The primary's first answer is a 429 with Retry-After: 600, which opens its breaker for ten minutes.
    let mut primary = MockConfig::new("foundry-primary");
    primary.cycle = 1000;
    primary.faults = vec![(1, Fault::Throttle { retry_after: 600 })];
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
    let p = mock::start(primary, any).await.expect("primary");
    let b = mock::start(MockConfig::new("foundry-backup"), any)
        .await
        .expect("backup");
    let gw = start(
        &dir,
        &format!("http://{}/openai", p.addr),
        &format!("http://{}/openai", b.addr),
    );
    let client = reqwest::Client::new();

    assert_eq!(
        chat(&client, &gw.url).await,
        (429, "foundry-primary".into(), "1".into())
    );
    assert_eq!(
        chat(&client, &gw.url).await,
        (200, "foundry-backup".into(), "1".into())
    );
    assert_eq!(primary_state(&client, &gw.url).await, "open");

    // A good edit: served at once, and the primary's breaker is still open (the backup answers).
    std::fs::write(dir.join("api.xml"), policy("2")).expect("write");
    let lines = gw.wait_for("reloaded");
    assert!(
        lines.last().expect("a line").contains("api.xml changed"),
        "{lines:?}"
    );
    assert_eq!(
        primary_state(&client, &gw.url).await,
        "open",
        "breaker state survives the reload"
    );
    assert_eq!(
        chat(&client, &gw.url).await,
        (200, "foundry-backup".into(), "2".into())
    );

    // A bad edit: validate's diagnostic (file:line:col, code), and version 2 keeps serving.
    std::fs::write(
        dir.join("api.xml"),
        policy("3")
            .replace("<set-header", "<set-hedaer")
            .replace("</set-header>", "</set-hedaer>"),
    )
    .expect("write");
    let lines = gw.wait_for("keeps serving").join("\n");
    assert!(
        lines.contains("api.xml:11:10: error[P012]: unknown policy `set-hedaer`"),
        "{lines}"
    );
    assert!(lines.contains("did you mean `set-header`?"), "{lines}");
    assert_eq!(
        chat(&client, &gw.url).await,
        (200, "foundry-backup".into(), "2".into())
    );

    // Fixed again: reloaded.
    std::fs::write(dir.join("api.xml"), policy("4")).expect("write");
    gw.wait_for("reloaded");
    assert_eq!(chat(&client, &gw.url).await.2, "4");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_needs_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(["serve", "--watch", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--watch needs --policy FILE or --service FILE")
    );
}
