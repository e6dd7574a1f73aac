//! The MCP tools. One handler serves stdio and Streamable HTTP; identity comes from the
//! transport (bearer token or `--agent`), never from the MCP session.

mod args;
mod exec;
pub(crate) mod json;

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::audit::{EventKind, Record};
use crate::config::raw::IdentityMode;
use crate::policy::{self, Caller, Decision, Denial, IdentitySource, ReasonCode, Request};
use crate::state::AppState;
pub use args::{Arguments, ExecuteArgs, ExplainArgs, ObjectText};

/// The MCP server for one connection (stdio) or one HTTP session.
#[derive(Clone, Debug)]
pub struct JaneeMcp {
    state: AppState,
    /// The stdio caller, fixed at start-up. Over HTTP the caller comes with each request.
    fixed: Option<Caller>,
    /// Results are written by Janee's own message encoder, which splices deferred large
    /// strings in ([`json::deferred_text`]); rmcp's writers are given whole texts.
    own_encoder: bool,
}

impl JaneeMcp {
    pub fn new(state: AppState, fixed: Option<Caller>) -> Self {
        Self {
            state,
            fixed,
            own_encoder: false,
        }
    }

    /// For a handler whose every result is written by Janee's own encoder (stdio, the HTTP
    /// fast path): a large upstream body is escaped into the message once, as it is written,
    /// rather than into the result text first.
    #[must_use]
    pub fn with_own_encoder(mut self) -> Self {
        self.own_encoder = true;
        self
    }

    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        let from_http = ctx
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>());
        let info = ctx.client_info();
        self.resolve_caller(from_http, info.as_ref().map(|i| i.name.as_str()))
    }

    /// The caller of one request: the identity the HTTP guard attached (bearer token), else the
    /// stdio caller; `label` is the client's self-chosen name.
    fn resolve_caller(
        &self,
        from_http: Option<&Caller>,
        label: Option<&str>,
    ) -> Result<Caller, ErrorData> {
        let mut caller = from_http
            .or(self.fixed.as_ref())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("no caller identity on this request", None))?;
        caller.label = label.map(|l| crate::audit::sanitize(l, 80).into_owned());
        if self.state.snapshot().config.server.identity == IdentityMode::ClientAsserted
            && let Some(name) = caller
                .label
                .clone()
                .filter(|n| crate::names::AgentName::new(n.clone()).is_ok())
        {
            caller.agent = Some(name);
            caller.via = IdentitySource::ClientAsserted;
        }
        Ok(caller)
    }

    /// Answer a `tools/call` without going through rmcp's request handling (the stateless HTTP
    /// fast path, the stdio pump): `caller` is the identity the HTTP guard attached (`None`:
    /// the stdio caller) and `label` the client name rmcp would have reported. `None` for `janee_exec`, which needs the rmcp
    /// request context; the caller then hands the request to rmcp.
    pub(crate) async fn call_tool_stateless(
        &self,
        caller: Option<&Caller>,
        label: &str,
        name: &str,
        arguments: Arguments,
    ) -> Option<Result<CallToolResponse, ErrorData>> {
        if name == "janee_exec" {
            return None;
        }
        Some(match self.resolve_caller(caller, Some(label)) {
            Ok(caller) => self.call_other(&caller, name, arguments, None).await,
            Err(e) => Err(e),
        })
    }

    /// Whether an `execute` of `capability` may stop to ask the human for approval (which over
    /// stdio is asked through the MCP client, by elicitation).
    pub(crate) fn may_ask_approval(&self, capability: &str) -> bool {
        self.state
            .snapshot()
            .config
            .capability(capability)
            .is_some_and(|c| !c.auto_approve)
    }

    /// Every tool but `janee_exec`: they need nothing from the rmcp request context but, for
    /// `execute`, an elicitor (which over HTTP is never offered).
    async fn call_other(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Arguments,
        elicitor: Option<crate::gate::Elicitor>,
    ) -> Result<CallToolResponse, ErrorData> {
        match name {
            "list_services" => Ok(self.list_services(caller)),
            "whoami" => Ok(self.whoami(caller)),
            "execute" => {
                let a: ExecuteArgs = args::parse_arguments(arguments)?;
                Ok(self.execute(caller, a, elicitor).await)
            }
            "test_service" => {
                let a: args::TestServiceArgs = args::parse_arguments(arguments)?;
                Ok(self.test_service(caller, a).await)
            }
            "explain_access" => {
                let a: ExplainArgs = args::parse_arguments(arguments)?;
                Ok(self.explain(caller, a))
            }
            other => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}",
                    other.chars().take(64).collect::<String>()
                ),
                Some(json!({"field": "name"})),
            )),
        }
    }
}

fn text_result(value: &Value, is_error: bool) -> CallToolResponse {
    json_result(value, is_error)
}

/// A tool result whose text is `value` as compact JSON (serialised once, straight from the
/// typed value: a large response body is not copied through a `serde_json::Value`).
fn json_result<T: serde::Serialize + ?Sized>(value: &T, is_error: bool) -> CallToolResponse {
    let text = serde_json::to_string(value).unwrap_or_default();
    let r = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    r.into()
}

/// The tool result of an upstream response: [`json_result`], with a large body escaped
/// straight into the text rather than through serde, or, when `deferred`, left out of the text
/// for Janee's encoder to splice in as it writes the message.
fn response_result(mut resp: crate::proxy::Response, deferred: bool) -> CallToolResponse {
    if resp.body.len() >= json::LARGE {
        let body = std::mem::replace(&mut resp.body, json::placeholder());
        let body = if deferred {
            match json::deferred_text(&resp, body) {
                Ok(block) => {
                    return CallToolResult::success(vec![ContentBlock::Text(block)]).into();
                }
                Err(body) => body,
            }
        } else {
            body
        };
        match json::to_string_with(&resp, &body) {
            Some(text) => return CallToolResult::success(vec![ContentBlock::text(text)]).into(),
            None => resp.body = body,
        }
    }
    json_result(&resp, false)
}

/// The denial shape of SPEC section 4.
pub fn denial_json(d: &Denial, capability: &str) -> Value {
    json!({
        "error": d.message,
        "denial": {
            "reasonCode": d.code,
            "capability": capability,
            "nextStep": d.next_step,
        }
    })
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_services",
            "List the capabilities you may use: each names a service, its mode (proxy: HTTP via `execute`; exec: commands via `janee_exec`), session TTL, whether a human must approve, whether a reason is required, and the request rules. Call this first.",
            args::schema::<args::Empty>(),
        ),
        Tool::new(
            "execute",
            "Make an HTTP request to a service through Janee. Janee adds the credential; you never see it. Give the capability name from list_services, the HTTP method and the path relative to the service's base URL (a query string may follow). Returns {status, headers, body, truncated?}. Secret values are redacted from responses. A refusal comes back as an error with a reasonCode and a nextStep to follow.",
            args::schema::<ExecuteArgs>(),
        ),
        Tool::new(
            "janee_exec",
            "Run a command-line tool (gh, git, aws, stripe, ...) with the capability's credential in its environment; you never see the credential. Give the exec capability from list_services and the command as an argv array. No shell: pipes, redirects and variables are not interpreted. Returns {exitCode, stdout, stderr, executionTimeMs, timedOut, scrubbedHits}; secret values are redacted from the output.",
            args::schema::<exec::ExecArgs>(),
        ),
        Tool::new(
            "test_service",
            "Check, with one harmless authenticated request, whether the credential of a service you may use still works. Returns {service, reachable, authOk, status, latencyMs, error?} per service.",
            args::schema::<args::TestServiceArgs>(),
        ),
        Tool::new(
            "whoami",
            "Tell who Janee thinks you are, how that identity was established, and which capabilities you may and may not use.",
            args::schema::<args::Empty>(),
        ),
        Tool::new(
            "explain_access",
            "Explain, without making any request, whether a request would be allowed and which check decides it. For proxy capabilities give method and path; for exec capabilities give command.",
            args::schema::<ExplainArgs>(),
        ),
    ]
}

impl ServerHandler for JaneeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("janee", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Janee makes authenticated API calls and runs CLI tools for you without revealing credentials. Start with list_services; use execute for proxy capabilities and janee_exec for exec capabilities. If a call is refused, read denial.nextStep.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        if request.name == "janee_exec" {
            let arguments = Value::Object(request.arguments.unwrap_or_default());
            let a: exec::ExecArgs = args::parse(arguments)?;
            return Ok(self.janee_exec(&caller, a, &context).await);
        }
        let elicitor = if request.name == "execute" {
            self.elicitor(&context)
        } else {
            None
        };
        let arguments = Arguments::Parsed(request.arguments);
        self.call_other(&caller, &request.name, arguments, elicitor)
            .await
    }
}

impl JaneeMcp {
    fn list_services(&self, caller: &Caller) -> CallToolResponse {
        let snap = self.state.snapshot();
        let list: Vec<Value> = snap
            .config
            .capabilities
            .values()
            .filter(|c| policy::agent_may_use(&snap.config, caller, c).is_ok())
            .map(|c| crate::cmd::cap::capability_json(c))
            .collect();
        text_result(&Value::Array(list), false)
    }

    async fn test_service(&self, caller: &Caller, a: args::TestServiceArgs) -> CallToolResponse {
        let _coming = self.state.audit().coming();
        let snap = self.state.snapshot();
        let mut names: Vec<&str> = snap
            .config
            .capabilities
            .values()
            .filter(|c| policy::agent_may_use(&snap.config, caller, c).is_ok())
            .map(|c| c.service.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        if let Some(want) = &a.service {
            if !names.contains(&want.as_str()) {
                return text_result(
                    &json!({"error": format!("no service {:?} among those you may use", want.chars().take(64).collect::<String>()), "denial": {"reasonCode": ReasonCode::CapabilityNotFound, "capability": null, "nextStep": "call list_services"}}),
                    true,
                );
            }
            names.retain(|n| n == want);
        }
        let mut out = Vec::new();
        for n in names {
            if let Some(service) = snap.config.service(n) {
                let secrets = snap.secrets.get(n).map(|s| s.as_ref());
                out.push(crate::probe::probe(self.state.upstream(), service, secrets).await);
            }
        }
        let mut rec = Record::new(EventKind::Call);
        rec.agent = caller.agent.clone();
        rec.method = Some("TEST".into());
        rec.detail = Some(format!(
            "test_service: {}",
            out.iter()
                .map(|p| format!("{}={}", p.service, if p.auth_ok { "ok" } else { "fail" }))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let result = text_result(&json!(out), false);
        self.audited(rec, result).await
    }

    fn whoami(&self, caller: &Caller) -> CallToolResponse {
        let snap = self.state.snapshot();
        let (mut ok, mut no) = (Vec::new(), Vec::new());
        for c in snap.config.capabilities.values() {
            if policy::agent_may_use(&snap.config, caller, c).is_ok() {
                ok.push(c.name.as_str());
            } else {
                no.push(c.name.as_str());
            }
        }
        text_result(
            &json!({
                "agentId": caller.agent,
                "identitySource": caller.via,
                "verified": caller.via == IdentitySource::Token,
                "how": caller.via.describe(),
                "clientLabel": caller.label,
                "defaultAccessPolicy": snap.config.server.default_access,
                "capabilities": {"accessible": ok, "denied": no},
            }),
            false,
        )
    }

    fn explain(&self, caller: &Caller, a: ExplainArgs) -> CallToolResponse {
        let snap = self.state.snapshot();
        let mut trace = Vec::new();
        let canonical;
        let argv: Vec<String>;
        let decision = match (&a.command, &a.path) {
            (Some(cmd), _) => {
                argv = cmd.clone();
                policy::decide(
                    &snap.config,
                    caller,
                    &a.capability,
                    &Request::Exec { argv: &argv },
                    Some("explain"),
                    Some(&mut trace),
                )
            }
            (None, path) => {
                let raw = path.as_deref().unwrap_or("/");
                match crate::canon::canonicalize(raw) {
                    Ok(p) => {
                        canonical = p;
                        let method = a.method.as_deref().unwrap_or("GET");
                        policy::decide(
                            &snap.config,
                            caller,
                            &a.capability,
                            &Request::Proxy {
                                method,
                                path: &canonical,
                            },
                            Some("explain"),
                            Some(&mut trace),
                        )
                    }
                    Err(e) => Decision::Deny(Denial {
                        code: ReasonCode::InvalidRequest,
                        message: format!("path refused: {e}"),
                        next_step: "send a plain path under the service's base URL".into(),
                        rule: None,
                    }),
                }
            }
        };
        let mut out = json!({
            "agent": caller.agent,
            "capability": a.capability,
            "allowed": matches!(decision, Decision::Allow { .. }),
            "trace": trace,
            "note": "reason checks are evaluated as if a reason were given",
        });
        if let (Decision::Deny(d), Some(o)) = (&decision, out.as_object_mut()) {
            o.insert("reasonCode".into(), json!(d.code));
            o.insert("nextStep".into(), json!(d.next_step));
        }
        text_result(&out, false)
    }

    /// Offer approvals in the client only where the client is the human's own (stdio): over HTTP
    /// the client may be the agent itself, which must not approve its own requests.
    fn elicitor(&self, ctx: &RequestContext<RoleServer>) -> Option<crate::gate::Elicitor> {
        use rmcp::service::ElicitationMode;
        if self.fixed.is_none()
            || !ctx
                .peer
                .supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
        {
            return None;
        }
        let peer = ctx.peer.clone();
        Some(Box::new(move |message: String| {
            Box::pin(async move {
                match peer.elicit::<args::ApprovalForm>(message).await {
                    Ok(Some(form)) => Some(form.approve),
                    Err(rmcp::service::ElicitationError::UserDeclined) => Some(false),
                    _ => None,
                }
            })
        }))
    }

    async fn execute(
        &self,
        caller: &Caller,
        a: ExecuteArgs,
        elicitor: Option<crate::gate::Elicitor>,
    ) -> CallToolResponse {
        let _coming = self.state.audit().coming();
        let started = Instant::now();
        let snap = self.state.snapshot();
        let method = a.method.to_ascii_uppercase();
        let mut rec = call_record(caller, &a.capability, a.reason.as_ref());
        rec.method = Some(method.clone());

        let outcome = self
            .execute_inner(caller, &a, &method, &snap, &mut rec, elicitor)
            .await;
        rec.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        let response = match outcome {
            Ok(resp) => {
                rec.decision = Some(crate::audit::Decision::Allow);
                rec.status = Some(resp.status);
                rec.bytes_out = Some(resp.bytes_in);
                rec.scrub_hits = Some(resp.scrub_hits as u64);
                response_result(resp, self.own_encoder)
            }
            Err(f) => failure_result(&mut rec, f, &a.capability),
        };
        self.audited(rec, response).await
    }

    async fn execute_inner(
        &self,
        caller: &Caller,
        a: &ExecuteArgs,
        method: &str,
        snap: &Arc<crate::state::Snapshot>,
        rec: &mut Record,
        elicitor: Option<crate::gate::Elicitor>,
    ) -> Result<crate::proxy::Response, Failure> {
        let invalid = |message: String, next: &str| {
            Failure::Denied(Denial {
                code: ReasonCode::InvalidRequest,
                message,
                next_step: next.to_string(),
                rule: None,
            })
        };
        if !crate::proxy::METHODS.contains(&method) {
            return Err(invalid(
                format!(
                    "method {:?} is not supported",
                    method.chars().take(16).collect::<String>()
                ),
                "use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
            ));
        }
        let path = crate::canon::canonicalize(&a.path).map_err(|e| {
            rec.path = Some(a.path.clone());
            invalid(format!("path refused: {e}"), "send a plain path relative to the service's base URL, without encoded slashes or dot segments")
        })?;
        rec.path = Some(path.as_str().to_string());
        let decision = policy::decide(
            &snap.config,
            caller,
            &a.capability,
            &Request::Proxy {
                method,
                path: &path,
            },
            a.reason.as_deref(),
            None,
        );
        let rule = match decision {
            Decision::Deny(d) => return Err(Failure::Denied(d)),
            Decision::Allow { rule } => rule,
        };
        rec.rule = rule;
        let cap = snap
            .config
            .capability(&a.capability)
            .ok_or_else(|| invalid("capability vanished".into(), "retry"))?;
        let service = snap
            .config
            .service(cap.service.as_str())
            .ok_or_else(|| invalid("service vanished".into(), "retry"))?;
        rec.service = Some(service.name.to_string());
        let secrets = snap.secrets.get(service.name.as_str()).ok_or_else(|| {
            Failure::Upstream(crate::proxy::UpstreamError {
                service: service.name.to_string(),
                reason: "no credential is stored for this service; the human must run `janee add` or `janee doctor`".into(),
            })
        })?;
        // The request is checked in full before the gate, so a malformed call neither opens a
        // session nor spends the rate limit.
        let mut headers = Vec::new();
        for (k, v) in a.headers.iter().flatten() {
            if let Some(why) = crate::headers::agent_header_refusal(k, v, &secrets.scheme_headers) {
                return Err(invalid(
                    format!(
                        "header {:?} may not be set by an agent: {why}",
                        k.chars().take(64).collect::<String>()
                    ),
                    "remove that header; Janee adds the credential itself",
                ));
            }
            headers.push((k.clone(), v.clone()));
        }
        if let Some(q) = path.query() {
            for (k, _) in secrets.credential(service).query {
                if q.split('&')
                    .any(|kv| kv.split('=').next() == Some(k.as_str()))
                {
                    return Err(invalid(
                        format!("query parameter {k} is set by Janee"),
                        "remove it from the path",
                    ));
                }
            }
        }
        let shown = crate::session::ShownRequest {
            method: Some(method.to_string()),
            path: Some(path.as_str().to_string()),
            argv: None,
        };
        self.admit(
            caller,
            cap,
            &shown,
            a.reason.as_deref(),
            snap,
            elicitor,
            rec,
        )
        .await?;
        rec.bytes_in = Some(a.body.as_ref().map_or(0, |b| b.len() as u64));
        let max = cap.max_response_bytes.unwrap_or(service.max_response_bytes);
        crate::proxy::send(
            self.state.upstream(),
            service,
            secrets,
            crate::proxy::Outgoing {
                method,
                path: &path,
                headers: &headers,
                body: a.body.as_deref(),
                max_response_bytes: max,
                scope: cap.token_scope.as_ref(),
            },
        )
        .await
        .map_err(Failure::Upstream)
    }
}

enum Failure {
    Denied(Denial),
    Upstream(crate::proxy::UpstreamError),
}

/// The audit record every tool call starts from.
fn call_record(caller: &Caller, capability: &str, reason: Option<&String>) -> Record {
    let mut rec = Record::new(EventKind::Call);
    rec.agent = caller.agent.clone();
    rec.agent_verified_by = serde_json::to_value(caller.via)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string));
    rec.label = caller.label.clone();
    rec.capability = Some(capability.to_string());
    rec.reason = reason.cloned();
    rec
}

/// Record a refusal or an upstream failure and build the tool result the agent sees.
fn failure_result(rec: &mut Record, failure: Failure, capability: &str) -> CallToolResponse {
    match failure {
        Failure::Denied(d) => {
            rec.decision = Some(crate::audit::Decision::Deny);
            rec.reason_code = serde_json::to_value(d.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            rec.rule = d.rule.clone();
            rec.event = if d.code == ReasonCode::RateLimited {
                EventKind::RateLimited
            } else {
                EventKind::Denied
            };
            text_result(&denial_json(&d, capability), true)
        }
        Failure::Upstream(e) => {
            rec.decision = Some(crate::audit::Decision::Allow);
            rec.error = Some(e.to_string());
            text_result(
                &json!({"error": e.to_string(), "service": e.service, "denial": null}),
                true,
            )
        }
    }
}

impl JaneeMcp {
    /// The session gate, after policy allowed the call: records the session on success.
    #[allow(clippy::too_many_arguments)]
    async fn admit(
        &self,
        caller: &Caller,
        cap: &crate::config::Capability,
        shown: &crate::session::ShownRequest,
        reason: Option<&str>,
        snap: &crate::state::Snapshot,
        elicitor: Option<crate::gate::Elicitor>,
        rec: &mut Record,
    ) -> Result<(), Failure> {
        let admitted = self
            .state
            .gate()
            .admit(
                self.state.audit(),
                caller.agent_str(),
                cap,
                shown,
                reason,
                snap.config.server.approval_timeout,
                self.state.shutdown_token(),
                elicitor,
            )
            .await
            .map_err(Failure::Denied)?;
        rec.session = Some(admitted.session);
        Ok(())
    }

    /// Write the call's record, then hand back its result: a result whose record could not be
    /// written is withheld.
    async fn audited(&self, rec: Record, response: CallToolResponse) -> CallToolResponse {
        if let Err(e) = self.state.audit().append(rec).await {
            tracing::error!("audit write failed: {e}");
            return text_result(
                &json!({"error": "Janee could not write its audit log; the result is withheld"}),
                true,
            );
        }
        response
    }
}
