//! The real upstream: reqwest with pooled connections, one client that follows redirects and one that does not.

use std::time::Duration;

use apim_exec::{BoxFuture, Upstream, UpstreamError, UpstreamRequest, UpstreamResponse};

pub struct HttpUpstream {
    plain: reqwest::Client,
    following: reqwest::Client,
}

impl HttpUpstream {
    pub fn new() -> Result<HttpUpstream, reqwest::Error> {
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .redirect(redirects)
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
        };
        Ok(HttpUpstream {
            plain: build(reqwest::redirect::Policy::none())?,
            following: build(reqwest::redirect::Policy::limited(10))?,
        })
    }
}

impl Upstream for HttpUpstream {
    fn send(
        &self,
        request: UpstreamRequest,
    ) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(async move {
            let client = if request.follow_redirects {
                &self.following
            } else {
                &self.plain
            };
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
