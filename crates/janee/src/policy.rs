//! The one decision function. Every entry point (MCP proxy, MCP exec, `explain_access`, the
//! Authority) asks [`decide`]; decisions are data.

use serde::Serialize;

use crate::canon::{CanonicalPath, RuleOutcome};
use crate::config::raw::{Access, Mode};
use crate::config::{Capability, Config};

/// How the caller's identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentitySource {
    /// The owner of a bearer token Janee issued (HTTP).
    Token,
    /// `janee serve --agent NAME` (stdio): decided by whoever wrote the MCP client config.
    StdioFlag,
    /// stdio without `--agent`: the local user's default agent.
    LocalDefault,
    /// The client's self-chosen `clientInfo.name` (`server.identity: client-asserted`).
    ClientAsserted,
    /// No identity: an HTTP server started with `--allow-anonymous`.
    Anonymous,
}

impl IdentitySource {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Token => "verified: bearer token issued by Janee",
            Self::StdioFlag => "stdio --agent flag set in the MCP client config",
            Self::LocalDefault => "stdio without --agent: the local user's default agent",
            Self::ClientAsserted => "client-asserted clientInfo.name (unverified)",
            Self::Anonymous => "anonymous local caller (server started with --allow-anonymous)",
        }
    }
}

/// The default agent name for stdio without `--agent`.
pub const LOCAL_DEFAULT_AGENT: &str = "local";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` only for anonymous callers.
    pub agent: Option<String>,
    pub via: IdentitySource,
    /// The client's `clientInfo.name`, recorded as a label only.
    pub label: Option<String>,
}

impl Caller {
    pub fn agent_str(&self) -> &str {
        self.agent.as_deref().unwrap_or("(anonymous)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    CapabilityNotFound,
    AgentNotAllowed,
    RuleDeny,
    ModeMismatch,
    ReasonRequired,
    CommandNotAllowed,
    SessionRevoked,
    ApprovalPending,
    ApprovalDenied,
    RateLimited,
    InvalidRequest,
    UpstreamError,
}

/// Why a request was refused, and what the agent (or its human) can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub code: ReasonCode,
    pub message: String,
    pub next_step: String,
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { rule: Option<String> },
    Deny(Denial),
}

/// What is being asked for.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    Proxy {
        method: &'a str,
        path: &'a CanonicalPath,
    },
    Exec {
        argv: &'a [String],
    },
}

impl Request<'_> {
    fn mode(&self) -> Mode {
        match self {
            Self::Proxy { .. } => Mode::Proxy,
            Self::Exec { .. } => Mode::Exec,
        }
    }
}

/// One step of a decision, for `explain_access`.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    pub check: &'static str,
    pub result: &'static str,
    pub detail: String,
}

fn deny(code: ReasonCode, message: String, next_step: String, rule: Option<String>) -> Decision {
    Decision::Deny(Denial {
        code,
        message,
        next_step,
        rule,
    })
}

/// Whether `caller` may use `cap` at all (allowedAgents, then access/defaultAccess). Used by
/// `decide` and by `list_services`, so the list shows exactly what the agent may use.
pub fn agent_may_use(config: &Config, caller: &Caller, cap: &Capability) -> Result<String, String> {
    if let Some(list) = &cap.allowed_agents {
        return match &caller.agent {
            Some(a) if list.iter().any(|x| x == a) => Ok(format!("{a} is in allowedAgents")),
            Some(a) => Err(format!("agent {a} is not in allowedAgents")),
            None => Err("anonymous callers never match allowedAgents".into()),
        };
    }
    match cap.access.unwrap_or(config.server.default_access) {
        Access::Open => Ok("access is open".into()),
        Access::Restricted => {
            Err("access is restricted and the capability names no allowedAgents".into())
        }
    }
}

/// Decide a request. `trace`, when given, receives each check in order.
pub fn decide(
    config: &Config,
    caller: &Caller,
    capability: &str,
    request: &Request<'_>,
    reason: Option<&str>,
    mut trace: Option<&mut Vec<TraceStep>>,
) -> Decision {
    let mut step = |check: &'static str, ok: bool, detail: String| {
        if let Some(t) = trace.as_deref_mut() {
            t.push(TraceStep {
                check,
                result: if ok { "pass" } else { "fail" },
                detail,
            });
        }
    };

    let Some(cap) = config.capability(capability) else {
        step(
            "capability_exists",
            false,
            format!("no capability named {capability:?}"),
        );
        return deny(
            ReasonCode::CapabilityNotFound,
            format!("no capability named {capability:?}"),
            "call list_services to see the capabilities you may use".into(),
            None,
        );
    };
    step(
        "capability_exists",
        true,
        format!("service {}", cap.service),
    );

    let want = request.mode();
    if cap.mode != want {
        step(
            "mode",
            false,
            format!(
                "capability is {}, request is {}",
                cap.mode.as_str(),
                want.as_str()
            ),
        );
        let tool = if cap.mode == Mode::Exec {
            "janee_exec"
        } else {
            "execute"
        };
        return deny(
            ReasonCode::ModeMismatch,
            format!(
                "capability {capability} is a {} capability",
                cap.mode.as_str()
            ),
            format!("use the {tool} tool for this capability"),
            None,
        );
    }
    step("mode", true, cap.mode.as_str().into());

    match agent_may_use(config, caller, cap) {
        Ok(why) => step("agent_access", true, why),
        Err(why) => {
            step("agent_access", false, why.clone());
            return deny(
                ReasonCode::AgentNotAllowed,
                format!(
                    "{} may not use capability {capability}: {why}",
                    caller.agent_str()
                ),
                "ask the human who runs Janee to add this agent to the capability's allowedAgents"
                    .into(),
                None,
            );
        }
    }

    let has_reason = reason.is_some_and(|r| !r.trim().is_empty());
    if cap.requires_reason && !has_reason {
        step("reason", false, "this capability requires a reason".into());
        return deny(
            ReasonCode::ReasonRequired,
            format!("capability {capability} requires a reason"),
            "call again with `reason`: one sentence on why this call is needed".into(),
            None,
        );
    }
    step(
        "reason",
        true,
        if cap.requires_reason {
            "reason given".into()
        } else {
            "not required".into()
        },
    );

    match request {
        Request::Proxy { method, path } => {
            match crate::canon::evaluate(&cap.allow, &cap.deny, method, path) {
                RuleOutcome::AllowedNoRules => {
                    step("rules", true, "no rules: every request allowed".into());
                    Decision::Allow { rule: None }
                }
                RuleOutcome::Allowed { rule } => {
                    step("rules", true, format!("allowed by {rule:?}"));
                    Decision::Allow { rule: Some(rule) }
                }
                RuleOutcome::DeniedByRule { rule } => {
                    step("rules", false, format!("denied by {rule:?}"));
                    deny(
                    ReasonCode::RuleDeny,
                    format!("{} {} is denied by rule {rule:?}", method.to_ascii_uppercase(), path.as_str()),
                    "this request is not permitted; choose another request or ask the human to change the rules".into(),
                    Some(rule),
                )
                }
                RuleOutcome::DeniedNoMatch => {
                    step("rules", false, "no allow rule matches".into());
                    let allowed: Vec<String> = cap.allow.iter().map(|r| r.as_text()).collect();
                    deny(
                        ReasonCode::RuleDeny,
                        format!(
                            "{} {} matches no allow rule",
                            method.to_ascii_uppercase(),
                            path.as_str()
                        ),
                        format!("allowed requests: {}", allowed.join(", ")),
                        None,
                    )
                }
            }
        }
        Request::Exec { argv } => crate::exec_policy::decide_argv(cap, argv, &mut step),
    }
}
