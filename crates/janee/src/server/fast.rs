//! The stateless-HTTP fast path: a plain `POST /mcp` carrying one JSON-RPC `tools/call` is
//! answered here, by the same [`JaneeMcp`] tool methods, without rmcp building a service, a
//! transport and two tasks for it. The answer is the JSON-RPC message rmcp would send, built
//! from rmcp's own types; its bytes are those rmcp would send, written by Janee's encoder
//! ([`super::encode`]).
//!
//! Only requests on which rmcp's stateless handling is plain take this path; anything else (a
//! session, SSE, another method, a 2026-07-28 request with `_meta`, `Mcp-*` routing headers,
//! a chunked body, an unusual `Accept`, `janee_exec`, which needs the rmcp request context) goes
//! to rmcp unchanged. The guard in front of both ([`super::guard`]) has already checked Host,
//! Origin, the body size and the bearer token, and attached the [`Caller`].

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, RequestId, ServerJsonRpcMessage, ServerResult};
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::Deserialize;

use super::encode::Encoded;
use crate::mcp::{Arguments, JaneeMcp, ObjectText};
use crate::policy::Caller;

/// The MCP protocol versions whose stateless `tools/call` rmcp answers without per-request
/// metadata, standard-header checks or 2026-07-28 result shapes.
pub(super) const LEGACY_VERSIONS: &[&str] =
    &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// `/mcp`: the fast path where it applies, rmcp otherwise.
#[derive(Clone)]
pub(super) struct McpEndpoint {
    /// Shared: axum clones the endpoint for every request.
    rmcp: Arc<StreamableHttpService<JaneeMcp, LocalSessionManager>>,
    fast: Option<Arc<Fast>>,
}

struct Fast {
    handler: JaneeMcp,
    /// Host names (lower case, any port) that rmcp's own DNS-rebinding check accepts.
    hosts: Vec<String>,
    /// The client name rmcp reports for a stateless request (it has no `initialize`).
    label: String,
}

impl McpEndpoint {
    /// `stateless`: the server runs without sessions (the only mode with a fast path).
    /// `allowed_hosts`: the host names given to rmcp's DNS-rebinding check.
    pub(super) fn new(
        rmcp: StreamableHttpService<JaneeMcp, LocalSessionManager>,
        handler: JaneeMcp,
        stateless: bool,
        allowed_hosts: &[String],
    ) -> Self {
        let fast = stateless.then(|| {
            Arc::new(Fast {
                handler,
                hosts: allowed_hosts
                    .iter()
                    .filter(|h| is_plain_host(h))
                    .cloned()
                    .collect(),
                label: rmcp::model::Implementation::default().name,
            })
        });
        Self {
            rmcp: Arc::new(rmcp),
            fast,
        }
    }

    async fn to_rmcp(&self, req: Request) -> Response {
        self.rmcp.handle(req).await.map(Body::new)
    }
}

/// Whether an allowed-host entry means "this host name, any port" to rmcp as well.
fn is_plain_host(h: &str) -> bool {
    h == "::1"
        || (!h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'))
}

pub(super) async fn endpoint(ep: McpEndpoint, req: Request) -> Response {
    let Some(fast) = ep.fast.clone() else {
        return ep.to_rmcp(req).await;
    };
    if req.method() != Method::POST || !plain_headers(req.headers(), &fast.hosts) {
        return ep.to_rmcp(req).await;
    }
    let (parts, body) = req.into_parts();
    // The guard refused a Content-Length above the limit, and `plain_headers` requires one,
    // so this reads at most that many bytes.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to read request body: {e}"),
            )
                .into_response();
        }
    };
    let call = serde_json::from_slice::<Call<'_>>(&bytes).ok().filter(|c| {
        c.jsonrpc == "2.0" && c.method == "tools/call" && c.params.name != "janee_exec"
    });
    let Some(call) = call else {
        return ep
            .to_rmcp(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let Call { id, params, .. } = call;
    let (name, arguments) = params.into_parts();
    tracing::trace!(tool = %name, "tools/call on the fast path");
    let caller = parts.extensions.get::<Caller>().cloned();
    // A client that disconnects does not cut a call short (as under rmcp, where each call is
    // its own task): a call that reached the upstream is always audited.
    let call = Detached::new(async move {
        fast.handler
            .call_tool_stateless(caller.as_ref(), &fast.label, &name, arguments)
            .await
    });
    let Some(message) = legacy_reply(call.await, id) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the tool call failed").into_response();
    };
    match Encoded::new(message, false) {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json")],
            body.into_vec(),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("serialize json response: {e}"),
        )
            .into_response(),
    }
}

/// The JSON-RPC message rmcp sends a peer on a protocol version before 2026-07-28 for the
/// outcome of [`JaneeMcp::call_tool_stateless`]; `None` when there was no outcome.
pub(super) fn legacy_reply(
    outcome: Option<Result<CallToolResponse, ErrorData>>,
    id: RequestId,
) -> Option<ServerJsonRpcMessage> {
    Some(match outcome? {
        Ok(result) => {
            let mut result = ServerResult::from(result);
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            ServerJsonRpcMessage::response(result, id)
        }
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    })
}

/// A future run by the task that awaits it, which runs on as a task of its own if that task
/// drops it before it is done (a request whose connection closed).
struct Detached<F: Future<Output: Send + 'static> + Send + 'static> {
    fut: Option<Pin<Box<F>>>,
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Detached<F> {
    fn new(fut: F) -> Self {
        Self {
            fut: Some(Box::pin(fut)),
        }
    }
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Future for Detached<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Pending;
        };
        let out = ready!(fut.as_mut().poll(cx));
        self.fut = None;
        Poll::Ready(out)
    }
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Drop for Detached<F> {
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(fut);
        }
    }
}

/// A JSON-RPC request with nothing but what a plain `tools/call` carries: no `_meta`, no
/// task, no unknown member (any of which sends the request to rmcp).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Call<'a> {
    #[serde(borrow)]
    pub(super) jsonrpc: Cow<'a, str>,
    pub(super) id: RequestId,
    #[serde(borrow)]
    pub(super) method: Cow<'a, str>,
    pub(super) params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    pub(super) name: String,
    #[serde(default)]
    pub(super) arguments: Option<ObjectText>,
}

impl Params {
    /// The tool name and its arguments.
    pub(super) fn into_parts(self) -> (String, Arguments) {
        let arguments = match self.arguments {
            Some(text) => Arguments::Text(text),
            None => Arguments::Parsed(None),
        };
        (self.name, arguments)
    }
}

/// Headers on which rmcp's stateless POST handling has nothing to say beyond answering: a
/// fixed-length JSON body, an `Accept` that plainly lists both media types, no session or
/// SEP-2243 routing headers, a protocol version from before 2026-07-28 (or none), and a Host
/// that rmcp's rebinding check accepts.
fn plain_headers(h: &HeaderMap, hosts: &[String]) -> bool {
    if !h.contains_key(header::CONTENT_LENGTH) || h.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    // rmcp's Content-Type check, exactly.
    let json_body = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split_once(';').map_or(v, |(e, _)| e);
            essence.trim().eq_ignore_ascii_case("application/json")
        });
    if !json_body {
        return false;
    }
    let mut accept = h.get_all(header::ACCEPT).iter();
    let (Some(accept), None) = (accept.next(), accept.next()) else {
        return false;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    if accept.contains(['"', ';']) {
        return false;
    }
    let listed = |t: &str| accept.split(',').any(|e| e.trim().eq_ignore_ascii_case(t));
    if !listed("application/json") || !listed("text/event-stream") {
        return false;
    }
    let mut version = None;
    for (name, value) in h {
        let name = name.as_str();
        if name == "mcp-protocol-version" {
            if version.is_some() {
                return false;
            }
            version = Some(value);
        } else if name.starts_with("mcp-") {
            return false;
        }
    }
    if let Some(v) = version
        && !v.to_str().is_ok_and(|v| LEGACY_VERSIONS.contains(&v))
    {
        return false;
    }
    h.get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
        .is_some_and(|a| {
            let host = a.host().trim_matches(['[', ']']).to_ascii_lowercase();
            hosts.contains(&host)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|_| panic!("{k}")),
                HeaderValue::from_str(v).unwrap_or_else(|_| panic!("{v}")),
            );
        }
        h
    }

    const BASE: &[(&str, &str)] = &[
        ("host", "127.0.0.1:9119"),
        ("content-type", "application/json"),
        ("content-length", "10"),
        ("accept", "application/json, text/event-stream"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        headers(&all)
    }

    #[test]
    fn plain_requests_only() {
        let hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        assert!(plain_headers(&with(&[]), &hosts));
        assert!(plain_headers(
            &with(&[("mcp-protocol-version", "2025-11-25")]),
            &hosts
        ));
        for extra in [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-session-id", "abc"),
            ("mcp-method", "tools/call"),
            ("transfer-encoding", "chunked"),
            ("accept", "*/*"),
        ] {
            assert!(!plain_headers(&with(&[extra]), &hosts), "{extra:?}");
        }
        let mut h = with(&[]);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!plain_headers(&h, &hosts));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0, text/event-stream"),
        );
        assert!(!plain_headers(&h, &hosts));
        let mut h = with(&[]);
        h.insert(header::HOST, HeaderValue::from_static("[::1]:80"));
        assert!(plain_headers(&h, &hosts));
        h.insert(header::HOST, HeaderValue::from_static("[::1"));
        assert!(!plain_headers(&h, &hosts));
        h.insert(header::HOST, HeaderValue::from_static("evil.example"));
        assert!(!plain_headers(&h, &hosts));
        let mut h = with(&[]);
        h.remove(header::CONTENT_LENGTH);
        assert!(!plain_headers(&h, &hosts));
    }

    #[test]
    fn only_plain_calls_parse() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#;
        assert!(serde_json::from_slice::<Call<'_>>(ok).is_ok());
        for bad in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{}}}"#
                [..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","task":{}}}"#,
            br#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
            br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
            // Arguments that are not an object go to rmcp, which refuses them.
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":["a"]}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":"a"}}"#,
        ] {
            assert!(
                serde_json::from_slice::<Call<'_>>(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
