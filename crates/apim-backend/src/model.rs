//! The validated domain types (not `Serialize`: the wire format lives in `arm`).

use std::ops::RangeInclusive;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// Where a backend was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// JSON path of the definition (`$.resources[2]`).
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Backend {
    /// The backend id `set-backend-service backend-id` uses (the last segment of `service/backend`).
    pub name: String,
    pub kind: BackendKind,
    pub description: Option<String>,
    pub origin: Origin,
    /// The properties as ARM would deploy them (expressions evaluated, `--backend-url` applied, nulls dropped).
    pub properties: serde_json::Value,
}

#[derive(Debug, Clone)]
pub enum BackendKind {
    Single(Box<Single>),
    Pool(Pool),
}

#[derive(Debug, Clone)]
pub struct Single {
    /// `None` only when the URL could not be computed (reported as an error unless overridden).
    pub url: Option<String>,
    pub protocol: String,
    /// Replaced by `--backend-url`.
    pub url_overridden: bool,
    pub breaker: Option<BreakerRule>,
    pub credentials: Credentials,
}

/// Azure: backend `credentials` are applied to the outgoing request when this backend is used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub header: Vec<(String, Vec<String>)>,
    pub query: Vec<(String, Vec<String>)>,
    /// `Authorization: <scheme> <parameter>`.
    pub authorization: Option<(String, String)>,
    /// Managed identity token audience (`credentials.managedIdentity.resource`, newer API versions).
    pub managed_identity_resource: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub members: Vec<PoolMember>,
    /// `pool.failureResponse.statusCode`: what the pool answers when no member is available (default 503).
    pub failure_status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    /// Name of a single backend.
    pub backend: String,
    /// Lower is preferred. Azure: range 0–100; absent means all members share one group.
    pub priority: u8,
    /// Relative share within the priority group. Absent counts as 1 (equal weights mean round-robin).
    pub weight: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerRule {
    pub name: String,
    pub threshold: Threshold,
    /// The window failures are counted in.
    pub interval: Duration,
    /// A response is a failure when its status is in any range (inclusive).
    pub status_ranges: Vec<RangeInclusive<u16>>,
    /// An error (no response) is a failure when its reason is listed (`BackendConnectionFailure`, …).
    pub error_reasons: Vec<String>,
    pub trip_duration: Duration,
    /// A `Retry-After` on the tripping response sets how long the breaker stays open.
    pub accept_retry_after: bool,
    /// `failureResponse.statusCode` while open (default 503).
    pub failure_status: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Trip when this many failures happened within the interval.
    Count(u32),
    /// Trip when at least this percentage of the responses within the interval were failures.
    Percentage(u8),
}

/// All backends of a deployment, looked up by name case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub backends: Vec<Backend>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&Backend> {
        self.backends
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(name))
    }
}
