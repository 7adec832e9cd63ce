//! The real upstream: reqwest with pooled connections, one client that follows redirects and one that does not.

use std::time::Duration;

use apim_exec::{
    BoxFuture, HttpVersion, Upstream, UpstreamError, UpstreamRequest, UpstreamResponse,
};

pub struct HttpUpstream {
    /// By (HTTP version, follows redirects).
    clients: Vec<((HttpVersion, bool), reqwest::Client)>,
}

impl HttpUpstream {
    pub fn new() -> Result<HttpUpstream, reqwest::Error> {
        let mut clients = Vec::new();
        for version in [HttpVersion::V1, HttpVersion::V2, HttpVersion::V2or1] {
            for follow in [false, true] {
                let mut builder = reqwest::Client::builder()
                    .redirect(if follow {
                        reqwest::redirect::Policy::limited(10)
                    } else {
                        reqwest::redirect::Policy::none()
                    })
                    .pool_idle_timeout(Duration::from_secs(90));
                builder = match version {
                    HttpVersion::V1 => builder.http1_only(),
                    // Azure: `2` speaks HTTP/2 only; `2or1` prefers it and falls back (TLS ALPN).
                    HttpVersion::V2 => builder.http2_prior_knowledge(),
                    HttpVersion::V2or1 => builder,
                };
                clients.push(((version, follow), builder.build()?));
            }
        }
        Ok(HttpUpstream { clients })
    }

    fn client(&self, version: HttpVersion, follow: bool) -> &reqwest::Client {
        self.clients
            .iter()
            .find(|(key, _)| *key == (version, follow))
            .map(|(_, c)| c)
            .unwrap_or(&self.clients[0].1)
    }
}

impl Upstream for HttpUpstream {
    fn send(
        &self,
        request: UpstreamRequest,
    ) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(async move {
            let client = self.client(request.http_version, request.follow_redirects);
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|e| UpstreamError::Connection(format!("invalid method: {e}")))?;
            let mut builder = client
                .request(method, &request.url)
                .timeout(request.timeout);
            for (name, value) in &request.headers {
                // reqwest sets Host from the URL itself.
                if name.eq_ignore_ascii_case("host") {
                    continue;
                }
                builder = builder.header(name, value);
            }
            if let Some(stream) = request
                .body_stream
                .as_ref()
                .and_then(apim_exec::Streamed::take)
            {
                builder = builder.body(reqwest::Body::wrap_stream(stream));
            } else if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(|e| {
                if e.is_timeout() {
                    UpstreamError::Timeout
                } else {
                    UpstreamError::Connection(e.to_string())
                }
            })?;
            let status = response.status();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (n.as_str().to_string(), v.to_string()))
                })
                .collect();
            let reason = status.canonical_reason().unwrap_or("").to_string();
            if request.stream_response {
                use futures::StreamExt as _;
                let stream = response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| e.to_string()));
                return Ok(UpstreamResponse {
                    status: status.as_u16(),
                    reason,
                    headers,
                    body: None,
                    stream: Some(apim_exec::Streamed::new(Box::pin(stream))),
                });
            }
            let body = response
                .text()
                .await
                .map_err(|e| UpstreamError::Connection(e.to_string()))?;
            Ok(UpstreamResponse {
                status: status.as_u16(),
                reason,
                headers,
                body: Some(body),
                stream: None,
            })
        })
    }
}
