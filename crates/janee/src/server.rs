//! `janee serve`: the MCP server over stdio or Streamable HTTP, with graceful shutdown.
//!
//! HTTP binds loopback by default, checks `Host` and `Origin` against DNS rebinding, limits the
//! body size, and requires an agent's bearer token unless started with `--allow-anonymous`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::ServiceExt as _;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::audit::{EventKind, Record};
use crate::mcp::JaneeMcp;
use crate::policy::{Caller, IdentitySource};
use crate::state::AppState;

mod encode;
mod fast;
mod stdio;
mod workers;

const RELOAD_EVERY: Duration = Duration::from_millis(250);

/// Cancel `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = token.cancelled() => return,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
        token.cancel();
    });
}

async fn record_lifecycle(state: &AppState, kind: EventKind, detail: String) {
    let mut r = Record::new(kind);
    r.detail = Some(detail);
    if let Err(e) = state.audit().append(r).await {
        tracing::error!("audit write failed: {e}");
    }
}

/// Serve MCP on stdin/stdout for one caller.
pub async fn serve_stdio(state: AppState, caller: Caller) -> anyhow::Result<()> {
    let ct = state.shutdown_token().clone();
    cancel_on_signals(ct.clone());
    state.spawn_reloader(RELOAD_EVERY);
    record_lifecycle(
        &state,
        EventKind::ServerStart,
        format!("stdio, agent {}", caller.agent_str()),
    )
    .await;
    let handler = JaneeMcp::new(state.clone(), Some(caller)).with_own_encoder();
    let result = async {
        let transport = stdio::StdioTransport::new(handler.clone());
        let running = handler.serve_with_ct(transport, ct.clone()).await?;
        running.waiting().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    ct.cancel();
    record_lifecycle(&state, EventKind::ServerStop, "stdio".into()).await;
    state.audit().flush().await?;
    // A client that closes before initialising is not an error worth a non-zero exit.
    if let Err(e) = result {
        tracing::debug!("stdio session ended: {e}");
    }
    Ok(())
}

#[derive(Clone)]
struct Guard {
    state: AppState,
    allowed_hosts: Arc<Vec<String>>,
    max_body: u64,
}

fn host_only(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority)
}

/// The largest refused body that is still read (and dropped) before the 413 is sent.
const DRAIN_MAX_BYTES: u64 = 64 << 20;
/// How long reading a refused body may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops up to `len` bytes of `body`, for at most [`DRAIN_TIME`]. True when the
/// whole body was read (the connection can carry on).
async fn drain(mut body: axum::body::Body, len: u64) -> bool {
    use axum::body::HttpBody as _;
    let read = async {
        let mut seen: u64 = 0;
        while seen < len {
            match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => break,
            }
        }
        seen >= len && body.is_end_stream()
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

/// The HTTP routes, matched by hand: `/mcp` and anything under it go through the guard to the
/// MCP endpoint, `/healthz` answers GET and HEAD, and anything else is a 404. Three string
/// comparisons, where a router's matching, extensions and boxed services cost each call more.
#[derive(Clone)]
struct Front(Arc<(Guard, fast::McpEndpoint)>);

impl tower_service::Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        if path == "/mcp"
            || path
                .strip_prefix("/mcp/")
                .is_some_and(|rest| !rest.is_empty())
        {
            let routes = self.0.clone();
            return Box::pin(async move {
                let (g, endpoint) = &*routes;
                Ok(match guard(g, req).await {
                    Ok(req) => fast::endpoint(endpoint.clone(), req).await,
                    Err(refused) => refused,
                })
            });
        }
        let answer = if path != "/healthz" {
            StatusCode::NOT_FOUND.into_response()
        } else if matches!(*req.method(), Method::GET | Method::HEAD) {
            axum::Json(serde_json::json!({"ok": true, "mode": "server"})).into_response()
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET,HEAD")],
            )
                .into_response()
        };
        Box::pin(std::future::ready(Ok(answer)))
    }
}

/// Checks Host, Origin, the body size and the bearer token; on success the request goes on
/// with its [`Caller`] attached.
async fn guard(g: &Guard, mut req: Request) -> Result<Request, Response> {
    let h = req.headers();
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host_name = host_only(host).to_ascii_lowercase();
    if !g.allowed_hosts.contains(&host_name) {
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed (DNS rebinding protection)",
        )
            .into_response());
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .and_then(|u| {
                u.host_str()
                    .map(|s| s.trim_matches(['[', ']']).to_ascii_lowercase())
            })
            .is_some_and(|oh| g.allowed_hosts.contains(&oh));
        if !ok {
            return Err((
                StatusCode::FORBIDDEN,
                "Forbidden: cross-origin requests are not allowed",
            )
                .into_response());
        }
    }
    let presented = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let snap = g.state.snapshot();
    let agent = presented.and_then(|t| crate::token::verify(t, &snap.tokens));
    let presented = presented.is_some();
    if let Some(len) = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > g.max_body
    {
        // Clients that send the whole body before reading see the 413 only if it is read:
        // an unread body makes the connection close under them (a reset, a broken pipe).
        // For a caller with a valid token, bodies up to a bound are read and dropped first;
        // anyone else is answered at once and the connection closed.
        let drained =
            agent.is_some() && len <= DRAIN_MAX_BYTES && drain(req.into_body(), len).await;
        let mut resp = (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        if !drained {
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        return Err(resp);
    }
    let caller = match agent {
        Some(agent) => Caller {
            agent: Some(agent.to_string()),
            via: IdentitySource::Token,
            label: None,
        },
        None if !presented && g.state.options().allow_anonymous => Caller {
            agent: None,
            via: IdentitySource::Anonymous,
            label: None,
        },
        None => {
            let msg = if presented {
                "invalid agent token"
            } else {
                "missing agent token: send Authorization: Bearer <token> (create one with `janee agent add NAME`)"
            };
            return Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"janee\"")],
                msg,
            )
                .into_response());
        }
    };
    req.extensions_mut().insert(caller);
    Ok(req)
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub host: String,
    pub port: u16,
    pub stateless: bool,
    pub extra_hosts: Vec<String>,
}

/// Bind and serve MCP over Streamable HTTP until shutdown. Prints the bound address on stderr.
pub async fn serve_http(state: AppState, opts: HttpOptions) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port))
        .await
        .map_err(|e| anyhow::anyhow!("could not listen on {}:{}: {e}", opts.host, opts.port))?;
    let addr = listener.local_addr()?;
    serve_http_on(state, listener, addr, opts).await
}

pub async fn serve_http_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    opts: HttpOptions,
) -> anyhow::Result<()> {
    let ct = state.shutdown_token().clone();
    cancel_on_signals(ct.clone());
    state.spawn_reloader(RELOAD_EVERY);
    let snap = state.snapshot();
    let max_body = snap.config.server.max_request_bytes;
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.push(
        host_only(&opts.host)
            .trim_matches(['[', ']'])
            .to_ascii_lowercase(),
    );
    hosts.extend(opts.extra_hosts.iter().map(|h| h.to_ascii_lowercase()));
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!opts.stateless)
        .with_json_response(opts.stateless)
        .with_allowed_hosts(hosts.clone())
        .with_max_request_body_bytes(usize::try_from(max_body).unwrap_or(usize::MAX))
        .with_cancellation_token(ct.child_token());
    let factory_state = state.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(JaneeMcp::new(factory_state.clone(), None)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let endpoint = fast::McpEndpoint::new(
        mcp,
        JaneeMcp::new(state.clone(), None).with_own_encoder(),
        opts.stateless,
        &hosts,
    );
    let guard_state = Guard {
        state: state.clone(),
        allowed_hosts: Arc::new(hosts),
        max_body,
    };
    let app = Front(Arc::new((guard_state, endpoint)));
    eprintln!("janee: serving MCP on http://{addr}/mcp");
    record_lifecycle(&state, EventKind::ServerStart, format!("http {addr}")).await;
    let workers = workers::count();
    if workers > 1 {
        workers::serve(listener, app, workers, ct.clone()).await?;
    } else {
        axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .await?;
    }
    record_lifecycle(&state, EventKind::ServerStop, format!("http {addr}")).await;
    state.audit().flush().await?;
    Ok(())
}
