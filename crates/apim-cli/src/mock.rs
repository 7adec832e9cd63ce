//! `apim-emu mock`: several Azure-OpenAI-shaped mock backends, each on its own port, from one process. Each is
//! described by a `--backend` flag (`NAME=ADDR[,KEY=VALUE]...`) or by a YAML file; both build the same
//! [`MockConfig`].

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use apim_gateway::mock::{Fault, MockConfig};
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Options {
    /// `NAME=ADDR[,KEY=VALUE]...` specs.
    pub backends: Vec<(MockConfig, SocketAddr)>,
    pub config: Option<PathBuf>,
}

/// Keys a `--backend` spec accepts, for help and errors.
pub const SPEC_KEYS: &str = "region=NAME, deployments=A|B, tpm=TOKENS, cycle=N, throttle=N, retry-after=SECONDS, \
status=CODE@N, delay=DURATION@N, reset=N, blocklist=NAME:TERM|TERM";

/// An address: `8081` (127.0.0.1), `0.0.0.0:8081` or `[::1]:8081`.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("`{text}` is not an address: use a port (8081) or HOST:PORT (0.0.0.0:8081)")
    })
}

fn position(key: &str, text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{key}={text}`: expected a request position (1 = the first of each cycle)"
        )),
    }
}

fn split_at_position<'a>(key: &str, value: &'a str) -> Result<(&'a str, u64), String> {
    let (what, at) = value.split_once('@').ok_or_else(|| {
        format!("`{key}={value}`: expected VALUE@N (N: the request position in the cycle)")
    })?;
    Ok((what, position(key, at)?))
}

/// Parses `NAME=ADDR[,KEY=VALUE]...`, e.g. `primary=8081,region=eastus,throttle=4,retry-after=10`: every fourth
/// request is a 429 with `Retry-After: 10`.
pub fn parse_spec(text: &str) -> Result<(MockConfig, SocketAddr), String> {
    let mut parts = text.split(',');
    let head = parts.next().unwrap_or_default();
    let (name, addr) = head
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=ADDR[,KEY=VALUE]..., got `{text}`"))?;
    if name.is_empty() {
        return Err(format!("the backend name is empty in `{text}`"));
    }
    let addr = parse_addr(addr)?;
    let mut config = MockConfig::new(name);
    let mut throttles = Vec::new();
    let mut retry_after = 10;
    let mut cycle = None;
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` in `{text}`: expected KEY=VALUE ({SPEC_KEYS})"))?;
        match key {
            "region" => config.region = Some(value.to_string()),
            "blocklist" => {
                let (list, terms) = value
                    .split_once(':')
                    .filter(|(l, t)| !l.is_empty() && !t.is_empty())
                    .ok_or_else(|| {
                        format!("`blocklist={value}`: expected NAME:TERM|TERM (a Content Safety blocklist)")
                    })?;
                config.blocklists.push((
                    list.to_string(),
                    terms.split('|').map(str::to_string).collect(),
                ));
            }
            "deployments" => {
                config.deployments = Some(value.split('|').map(str::to_string).collect())
            }
            "tpm" => {
                config.tokens_per_minute = Some(value.parse().map_err(|_| {
                    format!("`tpm={value}`: expected tokens per minute (a whole number)")
                })?)
            }
            "cycle" => cycle = Some(position(key, value)?),
            "throttle" => throttles.push(position(key, value)?),
            "retry-after" => {
                retry_after = value
                    .parse()
                    .map_err(|_| format!("`retry-after={value}`: expected seconds"))?
            }
            "status" => {
                let (code, at) = split_at_position(key, value)?;
                let code: u16 = code
                    .parse()
                    .ok()
                    .filter(|c| (400..=599).contains(c))
                    .ok_or_else(|| format!("`status={value}`: expected a 4xx or 5xx status"))?;
                config.faults.push((at, Fault::Status(code)));
            }
            "delay" => {
                let (d, at) = split_at_position(key, value)?;
                config.faults.push((at, Fault::Delay(parse_duration(d)?)));
            }
            "reset" => config.faults.push((position(key, value)?, Fault::Reset)),
            other => {
                return Err(format!(
                    "unknown key `{other}` in `{text}`; keys: {SPEC_KEYS}"
                ));
            }
        }
    }
    config.faults.extend(
        throttles
            .into_iter()
            .map(|at| (at, Fault::Throttle { retry_after })),
    );
    finish(&mut config, cycle);
    Ok((config, addr))
}

/// The cycle is the given one, or the last fault position.
fn finish(config: &mut MockConfig, cycle: Option<u64>) {
    config.cycle = cycle
        .or_else(|| config.faults.iter().map(|(at, _)| *at).max())
        .unwrap_or(1);
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = arm_template::duration::parse(text)?;
    d.to_std()
        .map_err(|_| format!("`{text}`: a delay cannot be negative"))
}

/// A mock file: `backends: {NAME: {listen, region, deployments, tokens-per-minute, cycle, faults, blocklists}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    backends: BTreeMap<String, FileBackend>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileBackend {
    listen: String,
    region: Option<String>,
    deployments: Option<Vec<String>>,
    tokens_per_minute: Option<u64>,
    cycle: Option<u64>,
    #[serde(default)]
    faults: Vec<FileFault>,
    /// Content Safety blocklists: `{NAME: [TERM, …]}`.
    #[serde(default)]
    blocklists: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileFault {
    /// Position in the cycle (1-based).
    at: u64,
    /// 429 with this Retry-After (seconds).
    throttle: Option<u64>,
    status: Option<u16>,
    /// ISO 8601 (PT2S).
    delay: Option<String>,
    #[serde(default)]
    reset: bool,
}

/// Reads a mock file; errors name the file, line and column.
pub fn read_file(path: &Path) -> Result<Vec<(MockConfig, SocketAddr)>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let file: File = serde_yaml_ng::from_str(&text).map_err(|e| match e.location() {
        Some(l) => format!("{name}:{}:{}: {e}", l.line(), l.column()),
        None => format!("{name}: {e}"),
    })?;
    let mut out = Vec::new();
    for (backend, b) in file.backends {
        let at = |what: String| format!("{name}: backends.{backend}: {what}");
        let addr = parse_addr(&b.listen).map_err(at)?;
        let mut config = MockConfig::new(&backend);
        config.region = b.region;
        config.deployments = b.deployments;
        config.tokens_per_minute = b.tokens_per_minute;
        config.blocklists = b.blocklists.into_iter().collect();
        for (i, f) in b.faults.iter().enumerate() {
            let at = |what: String| at(format!("faults[{i}]: {what}"));
            if f.at == 0 {
                return Err(at("`at` is a request position, 1 or more".into()));
            }
            let mut kinds = Vec::new();
            if let Some(s) = f.throttle {
                kinds.push(Fault::Throttle { retry_after: s });
            }
            if let Some(code) = f.status {
                if !(400..=599).contains(&code) {
                    return Err(at(format!("status {code} is not a 4xx or 5xx status")));
                }
                kinds.push(Fault::Status(code));
            }
            if let Some(d) = &f.delay {
                kinds.push(Fault::Delay(parse_duration(d).map_err(at)?));
            }
            if f.reset {
                kinds.push(Fault::Reset);
            }
            if kinds.len() != 1 {
                return Err(at(
                    "give exactly one of throttle, status, delay, reset".into()
                ));
            }
            config.faults.extend(kinds.into_iter().map(|k| (f.at, k)));
        }
        finish(&mut config, b.cycle);
        out.push((config, addr));
    }
    Ok(out)
}

/// One line describing a mock's behaviour.
pub fn describe(config: &MockConfig) -> String {
    let mut parts = Vec::new();
    for (at, fault) in &config.faults {
        let what = match fault {
            Fault::Throttle { retry_after } => format!("429 Retry-After: {retry_after}"),
            Fault::Status(code) => format!("{code}"),
            Fault::Delay(d) => format!("a {:?} delay", d),
            Fault::Reset => "a connection reset".into(),
        };
        parts.push(format!(
            "request {at} of every {} gets {what}",
            config.cycle
        ));
    }
    if let Some(tpm) = config.tokens_per_minute {
        parts.push(format!("{tpm} tokens per minute"));
    }
    if parts.is_empty() {
        "always answers 200".into()
    } else {
        parts.join("; ")
    }
}

/// Runs the mocks until Ctrl-C or SIGTERM.
pub fn run(o: &Options, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut backends = o.backends.clone();
    if let Some(path) = &o.config {
        backends.extend(read_file(path).map_err(anyhow::Error::msg)?);
    }
    if backends.is_empty() {
        anyhow::bail!(
            "no backends: pass --backend NAME=ADDR[,KEY=VALUE]... (repeatable) or --config FILE"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = crate::shutdown_signal();
        let mut running = Vec::new();
        for (config, addr) in backends {
            let name = config.name.clone();
            let summary = describe(&config);
            let m = apim_gateway::mock::start(config, addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for mock `{name}`"))?;
            writeln!(
                out,
                "mock {name} listening on http://{} ({summary})",
                m.addr
            )?;
            running.push(m);
        }
        out.flush()?;
        shutdown.await;
        eprintln!("apim-emu: shutting down");
        anyhow::Ok(())
    })?;
    Ok(0)
}

/// `apim-emu health URL`: 0 when a GET answers 2xx within `timeout` seconds, 1 otherwise (said on stderr).
pub fn health(url: &str, timeout: u64) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout.max(1)))
        .build()
        .context("cannot create the HTTP client")?;
    let answer = runtime.block_on(async { client.get(url).send().await });
    match answer {
        Ok(r) if r.status().is_success() => Ok(0),
        Ok(r) => {
            eprintln!("apim-emu: {url} answered {}", r.status());
            Ok(1)
        }
        Err(e) => {
            eprintln!("apim-emu: no answer from {url}: {e}");
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_builds_the_config() {
        let (c, addr) = parse_spec("primary=8081,region=eastus,throttle=4,retry-after=30,status=503@2,delay=PT1S@3,deployments=a|b,tpm=100").expect("test value");
        assert_eq!(addr, "127.0.0.1:8081".parse().expect("address"));
        assert_eq!(c.region.as_deref(), Some("eastus"));
        assert_eq!(c.deployments, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(c.tokens_per_minute, Some(100));
        assert_eq!(c.cycle, 4);
        assert_eq!(
            c.faults,
            vec![
                (2, Fault::Status(503)),
                (3, Fault::Delay(Duration::from_secs(1))),
                (4, Fault::Throttle { retry_after: 30 })
            ]
        );
        let (c, addr) = parse_spec("b=0.0.0.0:9000").expect("test value");
        assert_eq!(addr.port(), 9000);
        assert_eq!((c.cycle, c.faults.len()), (1, 0));
        let (c, _) = parse_spec("cs=0,blocklist=rivals:contoso|fabrikam,blocklist=words:x")
            .expect("test value");
        assert_eq!(
            c.blocklists,
            vec![
                (
                    "rivals".to_string(),
                    vec!["contoso".to_string(), "fabrikam".to_string()]
                ),
                ("words".to_string(), vec!["x".to_string()])
            ]
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("primary", "expected NAME=ADDR"),
            ("=8081", "name is empty"),
            ("a=localhost", "not an address"),
            ("a=1,colour=red", "unknown key `colour`"),
            ("a=1,throttle=0", "request position"),
            ("a=1,blocklist=rivals", "expected NAME:TERM|TERM"),
            ("a=1,status=200@1", "4xx or 5xx"),
            ("a=1,status=503", "VALUE@N"),
            ("a=1,delay=soon@1", "ISO 8601"),
            ("a=1,tpm=lots", "tokens per minute"),
            ("a=1,region", "KEY=VALUE"),
        ] {
            let e = parse_spec(spec).expect_err("a bad spec");
            assert!(e.contains(says), "{spec}: {e}");
        }
    }
}
