//! What the executor needs from the world, injected: the upstream (HTTP to backends), the clock, and the
//! token issuer of managed identities. The gateway passes real ones; tests and scenarios scripted ones.

use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Body bytes as they arrive.
pub type ByteStream = Pin<Box<dyn futures::Stream<Item = Result<Vec<u8>, String>> + Send>>;

/// A body passed through without buffering (an upload, or a `buffer-response="false"` reply such as server-sent
/// events). It can be taken once; clones share it.
#[derive(Clone)]
pub struct Streamed(std::sync::Arc<Mutex<Option<ByteStream>>>);

impl Streamed {
    pub fn new(stream: ByteStream) -> Streamed {
        Streamed(std::sync::Arc::new(Mutex::new(Some(stream))))
    }

    /// The stream, if nobody took it yet.
    pub fn take(&self) -> Option<ByteStream> {
        self.0.lock().take()
    }
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streamed(..)")
    }
}

impl PartialEq for Streamed {
    fn eq(&self, other: &Streamed) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A request to a backend, as the gateway sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Time to wait for the response headers.
    pub timeout: Duration,
    pub follow_redirects: bool,
    /// The backend entity this goes to, if any (for scripted upstreams and counters).
    pub backend: Option<String>,
    /// The body as a stream instead of `body` (an upload passed through unbuffered).
    pub body_stream: Option<Streamed>,
    /// Return the response body as a stream (`buffer-response="false"`).
    pub stream_response: bool,
    /// `forward-request http-version`: `1`, `2` (HTTP/2 only) or `2or1` (HTTP/2 when the backend offers it).
    pub http_version: HttpVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    #[default]
    V1,
    V2,
    V2or1,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpstreamResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The body as a stream (when asked for with `stream_response`).
    pub stream: Option<Streamed>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamError {
    /// No response headers within the timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connection(String),
}

pub trait Upstream: Send + Sync {
    fn send(
        &self,
        request: UpstreamRequest,
    ) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>>;
}

/// Time as the executor sees it: a monotonic instant (since the clock's origin), the wall clock, and sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
    fn wall(&self) -> SystemTime;
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// A clock whose time only moves when told (`advance`) or when something sleeps on it (the sleep returns at
/// once, having moved time forward): trip durations and retry intervals take no real time.
#[derive(Debug)]
pub struct VirtualClock {
    origin: SystemTime,
    elapsed: Mutex<Duration>,
}

impl VirtualClock {
    pub fn new(origin: SystemTime) -> VirtualClock {
        VirtualClock {
            origin,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock() += by;
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        // 2026-01-02T03:04:05Z, the expressions' default timestamp.
        VirtualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045))
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        *self.elapsed.lock()
    }

    fn wall(&self) -> SystemTime {
        self.origin + *self.elapsed.lock()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Issues the bearer tokens `authentication-managed-identity` puts on requests.
pub trait TokenIssuer: Send + Sync {
    /// A token for `resource` (the audience) as the identity `client_id` (`None`: system-assigned).
    fn token(
        &self,
        resource: &str,
        client_id: Option<&str>,
        now: SystemTime,
    ) -> Result<String, String>;
}

/// A local Entra-like issuer: HS256 JWTs whose `aud` is the resource, with a stable identity (`oid`, `appid`)
/// per client id, valid for an hour. Backends under test can decode them; nothing validates the signature.
#[derive(Debug, Clone)]
pub struct LocalTokenIssuer {
    pub tenant_id: String,
    key: Vec<u8>,
}

impl Default for LocalTokenIssuer {
    fn default() -> Self {
        LocalTokenIssuer {
            tenant_id: "00000000-0000-0000-0000-000000000000".into(),
            key: b"apim-emu local token issuer (not a secret)".to_vec(),
        }
    }
}

impl TokenIssuer for LocalTokenIssuer {
    fn token(
        &self,
        resource: &str,
        client_id: Option<&str>,
        now: SystemTime,
    ) -> Result<String, String> {
        let identity = client_id.unwrap_or("system-assigned");
        let oid = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("apim-emu:{identity}").as_bytes(),
        );
        let iat = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = serde_json::json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{}/", self.tenant_id),
            "iat": iat,
            "nbf": iat,
            "exp": iat + 3600,
            "tid": self.tenant_id,
            "oid": oid.to_string(),
            "sub": oid.to_string(),
            "appid": client_id.map(str::to_string).unwrap_or_else(|| oid.to_string()),
            "idtyp": "app",
            "xms_mirid": format!("/apim-emu/managed-identity/{identity}"),
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&self.key),
        )
        .map_err(|e| e.to_string())
    }
}

/// Runs a task without waiting for it (`send-one-way-request`).
pub trait Spawn: Send + Sync {
    fn spawn(&self, task: BoxFuture<'static, ()>);
}

/// Keeps spawned tasks until [`Deferred::run_all`] drives them (tests, and runs without an async runtime).
#[derive(Default)]
pub struct Deferred {
    tasks: Mutex<Vec<BoxFuture<'static, ()>>>,
}

impl Deferred {
    /// The tasks spawned so far, taken out to be awaited.
    pub fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.tasks.lock())
    }

    pub fn len(&self) -> usize {
        self.tasks.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.lock().is_empty()
    }
}

impl Spawn for Deferred {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.tasks.lock().push(task);
    }
}
