//! Admission after policy: sessions (TTL, revocation), human approval and rate limits. The
//! same gate serves every entry point, after the one decision function said yes.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use janee_vault::SubKey;

use crate::audit::{AuditLog, EventKind, Record};
use crate::config::Capability;
use crate::policy::{Denial, ReasonCode};
use crate::session::{
    ApprovalStatus, Data, FILE, Gate, Session, SessionFile, ShownRequest, new_id,
};

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

/// Whether `sessions.json` may have changed since it was last looked at. With inotify on the
/// home directory, a call asks the kernel for pending events (one read that finds none), which
/// costs less than a `stat` of the file; the event of a change is queued before the writer's
/// rename returns, so the very next call sees it. Without inotify (or once the watch is gone:
/// the directory moved or deleted, the event queue overflowed, the file became a symlink), the
/// answer is always "maybe", and every call looks at the file itself.
struct Watch {
    inotify: Option<nix::sys::inotify::Inotify>,
}

impl Watch {
    fn new(dir: &Path) -> Self {
        use nix::sys::inotify::{AddWatchFlags as F, InitFlags, Inotify};
        let watch = || -> nix::Result<Inotify> {
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
            inotify.add_watch(
                dir,
                F::IN_CREATE
                    | F::IN_DELETE
                    | F::IN_MOVED_FROM
                    | F::IN_MOVED_TO
                    | F::IN_MODIFY
                    | F::IN_CLOSE_WRITE
                    | F::IN_ATTRIB
                    | F::IN_DELETE_SELF
                    | F::IN_MOVE_SELF,
            )?;
            Ok(inotify)
        };
        let inotify = watch()
            .inspect_err(|e| tracing::debug!("no inotify watch on {}: {e}", dir.display()))
            .ok();
        Self { inotify }
    }

    /// Takes the pending events: whether any may mean a change of `sessions.json`.
    fn maybe_changed(&mut self) -> bool {
        use nix::errno::Errno;
        use nix::sys::inotify::AddWatchFlags as F;
        let Some(inotify) = &self.inotify else {
            return true;
        };
        let (mut changed, mut lost) = (false, false);
        loop {
            match inotify.read_events() {
                Ok(events) => {
                    for e in events {
                        if e.mask.intersects(
                            F::IN_Q_OVERFLOW | F::IN_IGNORED | F::IN_DELETE_SELF | F::IN_MOVE_SELF,
                        ) {
                            lost = true;
                        }
                        changed |= e.name.as_deref() == Some(std::ffi::OsStr::new(FILE));
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::debug!("inotify read failed: {e}");
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            self.stop();
        }
        changed || lost
    }

    fn stop(&mut self) {
        self.inotify = None;
    }
}

/// The last view of `sessions.json`.
#[derive(Clone)]
struct View {
    data: Arc<Data>,
    /// Whether the MAC of each session of `data` is right, found out at most once per view
    /// (`data` never changes).
    authentic: Arc<[OnceLock<bool>]>,
}

impl View {
    fn new(data: Data) -> Self {
        let authentic = (0..data.sessions.len()).map(|_| OnceLock::new()).collect();
        Self {
            data: Arc::new(data),
            authentic,
        }
    }
}

struct Cache {
    stamp: Stamp,
    view: View,
    watch: Watch,
    /// The file has been looked at once.
    primed: bool,
}

/// The server's view of `sessions.json`, re-read whenever the file changes (checked on every
/// call, through an inotify watch of the home directory, so a revocation written by another
/// process is seen by the very next call).
pub struct Gatekeeper {
    file: SessionFile,
    key: SubKey,
    cache: Mutex<Cache>,
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
            cache: Mutex::new(Cache {
                stamp: Stamp(None),
                view: View::new(Data::default()),
                watch: Watch::new(home_dir),
                primed: false,
            }),
            opening: tokio::sync::Mutex::new(()),
            limiter: RateLimiter::default(),
        }
    }

    fn view(&self) -> View {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Under the lock: a call that finds no event pending after another call took them
        // waits for that call's re-read.
        if !c.watch.maybe_changed() && c.primed {
            return c.view.clone();
        }
        c.primed = true;
        let path = self.file.path();
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            // Changes to the link's target are not events of the home directory.
            c.watch.stop();
        }
        let now = stamp(&path);
        if c.stamp != now || now.0.is_none() && !c.view.data.sessions.is_empty() {
            match self.file.load() {
                Ok(d) => {
                    c.stamp = now;
                    c.view = View::new(d);
                }
                // A corrupt file grants nothing: keep the last good view, which can only be
                // older grants; revocations are re-read on the next change.
                Err(e) => tracing::warn!("{e}"),
            }
        }
        c.view.clone()
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
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.stamp = st;
        c.view = View::new(data);
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
            let view = self.view();
            let gate = view.data.gate(
                agent,
                capn,
                cap.ttl,
                cap.auto_approve,
                Utc::now(),
                &self.key,
                Some(&view.authentic),
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
                .view()
                .data
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
            match d.gate(agent, &capn, cap.ttl, cap.auto_approve, now, &key, None) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Revocation, Scope};

    fn gatekeeper(dir: &Path) -> Gatekeeper {
        Gatekeeper::new(
            dir,
            janee_vault::MasterKey::from_bytes([3; 32]).subkey("sessions"),
        )
    }

    /// Another writer (a CLI process, say) adds a revocation of `agent`.
    fn revoke(dir: &Path, agent: &str) {
        SessionFile::new(dir)
            .update(|d| {
                d.revocations.push(Revocation {
                    scope: Scope::Agent(agent.into()),
                    at: Utc::now(),
                    until: None,
                });
            })
            .expect("update");
    }

    fn revoked(g: &Gatekeeper) -> Vec<String> {
        g.view()
            .data
            .revocations
            .iter()
            .map(|r| match &r.scope {
                Scope::Agent(a) => a.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn watching(g: &Gatekeeper) -> bool {
        g.cache.lock().expect("lock").watch.inotify.is_some()
    }

    #[test]
    fn every_change_by_another_writer_is_seen_by_the_next_look() {
        let dir = tempfile::tempdir().expect("dir");
        let g = gatekeeper(dir.path());
        assert!(revoked(&g).is_empty());
        assert!(watching(&g), "inotify watches the home directory");
        let mut expected = Vec::new();
        for i in 0..20 {
            let agent = format!("agent{i}");
            revoke(dir.path(), &agent);
            expected.push(agent);
            assert_eq!(revoked(&g), expected, "after change {i}");
        }
        // Nothing changed: the same view, not a re-read.
        let (a, b) = (g.view(), g.view());
        assert!(Arc::ptr_eq(&a.data, &b.data));
        // Other files of the home directory do not count as changes.
        std::fs::write(dir.path().join("config.yaml"), "x").expect("write");
        assert!(Arc::ptr_eq(&a.data, &g.view().data));
        // The file deleted by hand: its grants are gone at once.
        std::fs::remove_file(dir.path().join(FILE)).expect("remove");
        assert!(revoked(&g).is_empty());
        assert!(watching(&g));
    }

    #[test]
    fn without_a_watch_every_look_reads_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let g = gatekeeper(dir.path());
        g.cache.lock().expect("lock").watch.stop();
        revoke(dir.path(), "a");
        assert_eq!(revoked(&g), ["a"]);
        revoke(dir.path(), "b");
        assert_eq!(revoked(&g), ["a", "b"]);
    }

    #[test]
    fn a_sessions_file_that_is_a_symlink_is_looked_at_on_every_call() {
        let home = tempfile::tempdir().expect("home");
        let elsewhere = tempfile::tempdir().expect("elsewhere");
        revoke(elsewhere.path(), "a");
        std::os::unix::fs::symlink(elsewhere.path().join(FILE), home.path().join(FILE))
            .expect("symlink");
        let g = gatekeeper(home.path());
        assert_eq!(revoked(&g), ["a"]);
        assert!(
            !watching(&g),
            "the target's changes are not events of the home"
        );
        revoke(elsewhere.path(), "b");
        assert_eq!(revoked(&g), ["a", "b"]);
    }

    #[test]
    fn a_home_directory_moved_away_ends_the_watch() {
        let parent = tempfile::tempdir().expect("parent");
        let home = parent.path().join("home");
        std::fs::create_dir(&home).expect("home");
        let g = gatekeeper(&home);
        assert!(revoked(&g).is_empty());
        std::fs::rename(&home, parent.path().join("moved")).expect("move");
        std::fs::create_dir(&home).expect("new home");
        revoke(&home, "a");
        assert_eq!(revoked(&g), ["a"]);
        assert!(!watching(&g));
    }
}
