//! Calls the gateway makes to a backend entity on a policy's behalf: the embeddings backend of semantic caching,
//! the Azure AI Content Safety backend of `llm-content-safety`.
//!
//! Azure: these policies name a backend entity (`embeddings-backend-id`, `backend-id`) whose URL and credentials
//! the gateway uses (reference 03 §1 for credentials; the policies' pages for the backend's form). The backend's
//! header, query and authorization credentials are applied; its managed identity (`credentials.managedIdentity`)
//! or the policy's own (semantic caching's `embeddings-backend-auth="system-assigned"`, when the backend has no
//! credentials of its own) becomes a bearer token. UNVERIFIED: the 60 s timeout of these calls.
//! Deviation: only a single backend is called here; a pool is refused with an error naming it, and the backend's
//! circuit breaker does not see these calls (its request count does).

use std::time::Duration;

use apim_backend::BackendKind;

use crate::io::{HttpVersion, UpstreamError, UpstreamRequest, UpstreamResponse};
use crate::run::{Exchange, Runtime, join_url};

/// The request of a side call.
pub(crate) struct SideCall<'a> {
    /// Which policy makes the call (trace lines).
    pub policy: &'a str,
    pub backend_id: &'a str,
    /// Appended to the backend's URL (`/contentsafety/text:analyze`), or empty.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: serde_json::Value,
    /// A managed-identity audience to authenticate with when the backend's credentials have none.
    pub identity: Option<&'a str>,
}

/// A backend's credentials on a request: its headers (replacing the request's of the same name), query
/// parameters and `Authorization`. Azure: reference 03 §1.
pub(crate) fn apply_credentials(
    creds: &apim_backend::Credentials,
    headers: &mut Vec<(String, String)>,
    query: &mut Vec<(String, String)>,
) {
    for (name, values) in &creds.header {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.clone(), values.join(",")));
    }
    for (name, values) in &creds.query {
        for v in values {
            query.push((name.clone(), v.clone()));
        }
    }
    if let Some((scheme, parameter)) = &creds.authorization {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        headers.push(("Authorization".into(), format!("{scheme} {parameter}")));
    }
}

/// `host[:port]` of a URL (the `Host` header a request to it carries).
pub(crate) fn authority(url: &str) -> Option<String> {
    url::Url::parse(url).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    })
}

/// A side call's successful answer: its status and JSON body.
pub(crate) struct SideAnswer {
    pub status: u16,
    pub json: Option<serde_json::Value>,
}

/// Sends `call`; an error is a message for the trace and for `context.LastError`.
pub(crate) async fn send(
    call: SideCall<'_>,
    ex: &mut Exchange,
    rt: &Runtime,
) -> Result<SideAnswer, String> {
    let backends = &rt.backends;
    let id = call.backend_id;
    let backend = backends
        .registry
        .get(id)
        .ok_or_else(|| format!("Backend with id '{id}' could not be found."))?;
    let single = match &backend.kind {
        BackendKind::Single(s) => s,
        BackendKind::Pool(_) => {
            return Err(format!(
                "backend '{id}' is a pool; apim-emu calls only a single backend for {}",
                call.policy
            ));
        }
    };
    let base = single
        .url
        .clone()
        .ok_or_else(|| format!("Backend '{id}' has no URL."))?;
    let creds = &single.credentials;
    let mut query: Vec<(String, String)> = call.query.to_vec();
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    let own_credentials =
        !creds.header.is_empty() || !creds.query.is_empty() || creds.authorization.is_some();
    apply_credentials(creds, &mut headers, &mut query);
    if creds.authorization.is_none()
        && let Some(resource) = creds
            .managed_identity_resource
            .as_deref()
            .or(call.identity.filter(|_| !own_credentials))
    {
        let token = super::authentication::cached_token(rt, resource, None)
            .map_err(|e| format!("no managed-identity token for {resource}: {e}"))?;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let url = join_url(&base, call.path, &query);
    if let Some(host) = authority(&url) {
        headers.push(("Host".into(), host));
    }
    note!(
        ex,
        format!("{}: POST {url} (backend {})", call.policy, backend.name)
    );
    *backends
        .counts
        .lock()
        .entry(backend.name.to_ascii_lowercase())
        .or_insert(0) += 1;
    let answer = rt
        .upstream
        .send(UpstreamRequest {
            method: "POST".into(),
            url,
            headers,
            body: Some(call.body.to_string()),
            timeout: Duration::from_secs(60),
            follow_redirects: false,
            backend: Some(backend.name.clone()),
            body_stream: None,
            stream_response: false,
            http_version: HttpVersion::V1,
        })
        .await;
    match answer {
        Ok(UpstreamResponse { status, body, .. }) => {
            note!(
                ex,
                format!(
                    "{}: backend {} answered {status}",
                    call.policy, backend.name
                )
            );
            Ok(SideAnswer {
                status,
                json: body.and_then(|b| serde_json::from_str(&b).ok()),
            })
        }
        Err(UpstreamError::Timeout) => Err(format!("backend '{}' timed out", backend.name)),
        Err(UpstreamError::Connection(m)) => Err(format!(
            "backend '{}' could not be reached: {m}",
            backend.name
        )),
    }
}
