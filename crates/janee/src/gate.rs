//! Admission after policy: sessions (TTL, revocation), human approval and rate limits. The
//! same gate serves every entry point, after the one decision function said yes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use janee_vault::SubKey;

use crate::audit::{AuditLog, EventKind, Record};
use crate::config::Capability;
use crate::policy::{Denial, ReasonCode};
use crate::session::{ApprovalStatus, Data, Gate, Session, SessionFile, ShownRequest, new_id};

const POLL: Duration = Duration::from_millis(100);

/// Asks the human through the MCP client (elicitation): `Some(true)` approve, `Some(false)`
/// deny, `None` no answer. Offered only where the client is the human's own (stdio).
pub type Elicitor = Box<dyn FnOnce(String) -> Answer + Send>;
/// A pending answer from the human in the client.
pub type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Option<bool>> + Send>>;
type Windows = HashMap<(String, Option<String>), VecDeque<Instant>>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Stamp(Option<(SystemTime, u64, u64)>);

fn stamp(path: &std::path::Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp(std::fs::metadata(path).ok().map(|m| {
        (
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            m.len(),
            m.ino(),
        )
    }))
}

/// Sliding-window counters per capability (or per capability and agent).
#[derive(Debug, Default)]
struct RateLimiter {
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// Count this call, or say how long until one is allowed.
    fn admit(&self, cap: &Capability, agent: &str) -> Result<(), Duration> {
        let Some(rl) = &cap.rate_limit else {
            return Ok(());
        };
        let key = (
            cap.name.to_string(),
            rl.per_agent.then(|| agent.to_string()),
        );
        let now = Instant::now();
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.entry(key).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= rl.per) {
            q.pop_front();
        }
        if q.len() >= rl.requests as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(rl.per.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        Ok(())
    }
}

/// The server's view of `sessions.json`, re-read whenever the file changes (a `stat` per call,
/// so a revocation written by another process is seen by the very next call).
pub struct Gatekeeper {
    file: SessionFile,
    key: SubKey,
    cache: Mutex<(Stamp, Arc<Data>)>,
    opening: tokio::sync::Mutex<()>,
    limiter: RateLimiter,
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatekeeper")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// What was admitted.
#[derive(Debug, Clone)]
pub struct Admission {
    pub session: String,
}

fn denial(code: ReasonCode, message: String, next_step: String) -> Denial {
    Denial {
        code,
        message,
        next_step,
        rule: None,
    }
}

impl Gatekeeper {
    pub fn new(home_dir: &std::path::Path, key: SubKey) -> Self {
        Self {
            file: SessionFile::new(home_dir),
            key,
            cache: Mutex::new((Stamp(None), Arc::new(Data::default()))),
            opening: tokio::sync::Mutex::new(()),
            limiter: RateLimiter::default(),
        }
    }

    fn data(&self) -> Arc<Data> {
        let now = stamp(&self.file.path());
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 != now || now.0.is_none() && !c.1.sessions.is_empty() {
            match self.file.load() {
                Ok(d) => *c = (now, Arc::new(d)),
                // A corrupt file grants nothing: keep the last good view, which can only be
                // older grants; revocations are re-read on the next change.
                Err(e) => tracing::warn!("{e}"),
            }
        }
        c.1.clone()
    }

    fn update<T>(&self, f: impl FnOnce(&mut Data) -> T) -> Result<T, Denial> {
        let (data, out) = self.file.update(f).map_err(|e| {
            denial(
                ReasonCode::InvalidRequest,
                format!("session state unavailable: {e}"),
                "ask the human to run `janee doctor`".into(),
            )
        })?;
        let st = stamp(&self.file.path());
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = (st, Arc::new(data));
        Ok(out)
    }

    /// Admit a call that policy allowed: a live session, or a new one (after approval where the
    /// capability wants it), within the rate limit.
    #[allow(clippy::too_many_arguments)]
    pub async fn admit(
        &self,
        audit: &AuditLog,
        agent: &str,
        cap: &Capability,
        shown: &ShownRequest,
        reason: Option<&str>,
        wait: Duration,
        shutdown: &tokio_util::sync::CancellationToken,
        mut elicit: Option<Elicitor>,
    ) -> Result<Admission, Denial> {
        let deadline = tokio::time::Instant::now() + wait;
        let capn = cap.name.as_str();
        let mut asking: Option<(String, Answer)> = None;
        let session = loop {
            let data = self.data();
            let gate = data.gate(
                agent,
                capn,
                cap.ttl,
                cap.auto_approve,
                Utc::now(),
                &self.key,
            );
            match gate {
                Gate::Proceed { session } => break session,
                Gate::Revoked { until } => {
                    return Err(denial(
                        ReasonCode::SessionRevoked,
                        format!("access of {agent} to {capn} was revoked by a human"),
                        format!(
                            "do not retry; access can reopen after {}",
                            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    ));
                }
                Gate::Open { .. } | Gate::Denied { .. } | Gate::Await { created: true, .. } => {
                    // Changes go one at a time, re-checked against the file under its lock.
                    let _g = self.opening.lock().await;
                    let (outcome, events) = self.change(agent, cap, shown, reason)?;
                    for r in events {
                        if let Err(e) = audit.append(r).await {
                            tracing::error!("audit write failed: {e}");
                        }
                    }
                    if let Some(outcome) = outcome {
                        match outcome {
                            Changed::Opened(id) => break id,
                            Changed::Denied(id) => {
                                return Err(denial(
                                    ReasonCode::ApprovalDenied,
                                    format!("a human denied approval request {id}"),
                                    "do not retry this request".into(),
                                ));
                            }
                            Changed::Waiting => {}
                        }
                    }
                }
                Gate::Await { .. } => {}
            }
            // Waiting for a human: poll the file until decided, the wait ends, or shutdown.
            let pending = self
                .data()
                .approvals
                .iter()
                .filter(|a| {
                    a.agent == agent && a.capability == capn && a.status == ApprovalStatus::Pending
                })
                .max_by_key(|a| a.created_at)
                .cloned();
            if let (Some(ask), Some(a)) = (elicit.take(), &pending) {
                let message = format!(
                    "Janee: agent {} asks to use capability {} (service {}):\n    {}\nThe agent's stated reason (unverified): {}\nApprove this session ({})?",
                    a.agent,
                    a.capability,
                    cap.service,
                    a.request.describe(),
                    a.reason
                        .as_deref()
                        .map(|r| format!("{r:?}"))
                        .unwrap_or_else(|| "none".into()),
                    crate::duration::format_duration(cap.ttl),
                );
                asking = Some((a.id.clone(), ask(message)));
            }
            if tokio::time::Instant::now() >= deadline {
                let id = pending.map(|a| a.id).unwrap_or_default();
                return Err(denial(
                    ReasonCode::ApprovalPending,
                    format!("{capn} needs a human's approval; request {id} is waiting"),
                    format!(
                        "ask the human to run `janee approve {id}` (or `janee deny {id}`), then call again"
                    ),
                ));
            }
            let answer = async {
                match asking.as_mut() {
                    Some((_, f)) => f.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.cancelled() => {
                    return Err(denial(ReasonCode::ApprovalPending, "the server is shutting down".into(), "call again later".into()));
                }
                decided = answer => {
                    if let (Some(approve), Some((id, _))) = (decided, asking.take()) {
                        if let Some(rec) = self.decide_via_client(&id, approve)?
                            && let Err(e) = audit.append(rec).await {
                                tracing::error!("audit write failed: {e}");
                            }
                    } else {
                        asking = None;
                    }
                }
            }
        };
        if let Err(retry) = self.limiter.admit(cap, agent) {
            let secs = retry.as_secs_f64().ceil().max(1.0);
            return Err(denial(
                ReasonCode::RateLimited,
                format!("rate limit of {capn} reached"),
                format!("retry after {secs:.0} s"),
            ));
        }
        Ok(Admission { session })
    }

    /// Record a decision the human gave through the MCP client, sealed like `janee approve`.
    fn decide_via_client(&self, id: &str, approve: bool) -> Result<Option<Record>, Denial> {
        let key = self.key.clone();
        let now = Utc::now();
        self.update(|d| {
            let a = d
                .approvals
                .iter_mut()
                .find(|a| a.id == id && a.status == ApprovalStatus::Pending)?;
            a.status = if approve {
                ApprovalStatus::Approved
            } else {
                ApprovalStatus::Denied
            };
            a.decided_at = Some(now);
            a.seal(&key);
            let mut r = a.decision_record();
            r.detail = Some("decided in the MCP client (elicitation)".into());
            Some(r)
        })
    }

    /// Apply the transition the gate asks for, re-deciding on the freshest file. `None`: nothing
    /// to do (someone else already did it).
    fn change(
        &self,
        agent: &str,
        cap: &Capability,
        shown: &ShownRequest,
        reason: Option<&str>,
    ) -> Result<(Option<Changed>, Vec<Record>), Denial> {
        let key = self.key.clone();
        let capn = cap.name.to_string();
        let now = Utc::now();
        let mut events: Vec<Record> = Vec::new();
        let outcome = self.update(|d| {
            let max_ttl = cap.ttl.max(Duration::from_secs(24 * 3600));
            d.prune(now, max_ttl);
            match d.gate(agent, &capn, cap.ttl, cap.auto_approve, now, &key) {
                Gate::Proceed { session } => Some(Changed::Opened(session)),
                Gate::Revoked { .. } => None,
                Gate::Open { approval, ttl } => {
                    if let Some(prev) = d
                        .sessions
                        .iter()
                        .filter(|s| {
                            s.agent == agent && s.capability == capn && s.revoked_at.is_none()
                        })
                        .max_by_key(|s| s.expires_at)
                        .filter(|s| s.expires_at <= now)
                    {
                        let mut r = Record::new(EventKind::SessionExpire);
                        r.agent = Some(agent.into());
                        r.capability = Some(capn.clone());
                        r.session = Some(prev.id.clone());
                        events.push(r);
                    }
                    let mut s = Session {
                        id: new_id("ses"),
                        agent: agent.into(),
                        capability: capn.clone(),
                        opened_at: now,
                        expires_at: now
                            + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
                        approval: approval.clone(),
                        revoked_at: None,
                        mac: String::new(),
                    };
                    s.seal(&key);
                    if let Some(a) = d
                        .approvals
                        .iter_mut()
                        .find(|a| Some(&a.id) == approval.as_ref())
                    {
                        a.consumed = true;
                    }
                    let mut r = Record::new(EventKind::SessionOpen);
                    r.agent = Some(agent.into());
                    r.capability = Some(capn.clone());
                    r.session = Some(s.id.clone());
                    r.request_id = approval.clone();
                    r.detail = Some(format!(
                        "expires {}",
                        s.expires_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ));
                    events.push(r);
                    let id = s.id.clone();
                    d.sessions.push(s);
                    Some(Changed::Opened(id))
                }
                Gate::Denied { approval } => {
                    if let Some(a) = d.approvals.iter_mut().find(|a| a.id == approval) {
                        a.consumed = true;
                    }
                    Some(Changed::Denied(approval))
                }
                Gate::Await { created: false, .. } => Some(Changed::Waiting),
                Gate::Await { created: true, .. } => {
                    let a = crate::session::Approval {
                        id: new_id("apr"),
                        agent: agent.into(),
                        capability: capn.clone(),
                        request: shown.clone(),
                        reason: reason.map(|r| crate::audit::sanitize(r, 500).into_owned()),
                        created_at: now,
                        status: ApprovalStatus::Pending,
                        decided_at: None,
                        grant_ms: None,
                        consumed: false,
                        mac: String::new(),
                    };
                    let mut r = Record::new(EventKind::ApprovalRequest);
                    r.agent = Some(agent.into());
                    r.capability = Some(capn.clone());
                    r.request_id = Some(a.id.clone());
                    r.method = shown.method.clone();
                    r.path = shown.path.clone();
                    r.argv = shown.argv.clone();
                    r.reason = a.reason.clone();
                    events.push(r);
                    tracing::warn!(
                        "approval needed: {agent} wants {capn}: {} (run `janee approve {}`)",
                        shown.describe(),
                        a.id
                    );
                    d.approvals.push(a);
                    Some(Changed::Waiting)
                }
            }
        })?;
        Ok((outcome, events))
    }
}

enum Changed {
    Opened(String),
    Denied(String),
    Waiting,
}
