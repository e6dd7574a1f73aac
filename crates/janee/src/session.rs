//! Sessions, revocations and approval requests, persisted in `sessions.json` so that the CLI
//! and a running server (and a restarted one) agree on them.
//!
//! - A session is an agent's use of a capability: opened on the first allowed call, bounded by
//!   the capability's TTL.
//! - A revocation kills matching sessions at once and keeps the (agent, capability) pair shut
//!   for one TTL, so the very next call is refused even if it would open a new session.
//! - An approval request holds the first call of a session of an `autoApprove: false`
//!   capability until a human decides.
//!
//! Anything that *grants* (a session, an approval) carries a MAC under a key derived from the
//! master key: a process that can write the file but lacks the key can only restrict, never
//! grant. Revocations need no key, so the kill switch works even without the passphrase.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use janee_vault::SubKey;
use janee_vault::fsutil::{self, HomeLock};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const FILE: &str = "sessions.json";
const LOCK: &str = ".sessions.lock";
/// Decided approvals and dead sessions are kept this long for `janee sessions` and then pruned.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// A pending approval nobody decided expires after this long.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub agent: String,
    pub capability: String,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The approval that opened it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub mac: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Scope {
    Session(String),
    Agent(String),
    Capability(String),
    All,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub scope: Scope,
    pub at: DateTime<Utc>,
    /// For a session revocation: when the pair opens again (the session's own expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

/// The canonical request shown to the human: never the agent's description of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShownRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
}

impl ShownRequest {
    pub fn describe(&self) -> String {
        match (&self.method, &self.path, &self.argv) {
            (Some(m), Some(p), _) => format!("{m} {p}"),
            (_, _, Some(a)) => a.join(" "),
            _ => "(request)".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: String,
    pub agent: String,
    pub capability: String,
    pub request: ShownRequest,
    /// The agent's words, shown as a quoted label, never trusted as a fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Session lifetime granted by `approve --for`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_ms: Option<u64>,
    /// Set once the decision was acted on (a session opened, or a denial reported).
    #[serde(default)]
    pub consumed: bool,
    #[serde(default)]
    pub mac: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub sessions: Vec<Session>,
    #[serde(default)]
    pub revocations: Vec<Revocation>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid sessions file ({reason}); move it aside to start afresh")]
    Corrupt { path: PathBuf, reason: String },
}

fn mac_of(key: &SubKey, parts: &[String]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for p in parts {
        m.update(p.as_bytes());
        m.update(&[0]);
    }
    hex::encode(m.finalize().into_bytes())
}

fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

impl Session {
    fn mac_parts(&self) -> [String; 5] {
        [
            self.id.clone(),
            self.agent.clone(),
            self.capability.clone(),
            self.opened_at.to_rfc3339(),
            self.expires_at.to_rfc3339(),
        ]
    }

    pub fn seal(&mut self, key: &SubKey) {
        self.mac = mac_of(key, &self.mac_parts());
    }

    pub fn is_authentic(&self, key: &SubKey) -> bool {
        ct_eq(&self.mac, &mac_of(key, &self.mac_parts()))
    }
}

impl Approval {
    fn mac_parts(&self) -> [String; 5] {
        [
            self.id.clone(),
            self.agent.clone(),
            self.capability.clone(),
            format!("{:?}", self.status),
            self.grant_ms.map(|g| g.to_string()).unwrap_or_default(),
        ]
    }

    /// The audit record of this request's decision.
    pub fn decision_record(&self) -> crate::audit::Record {
        use crate::audit::{EventKind, Record};
        let approved = self.status == ApprovalStatus::Approved;
        let mut r = Record::new(if approved {
            EventKind::Approve
        } else {
            EventKind::Deny
        });
        r.request_id = Some(self.id.clone());
        r.agent = Some(self.agent.clone());
        r.capability = Some(self.capability.clone());
        r.method = self.request.method.clone();
        r.path = self.request.path.clone();
        r.argv = self.request.argv.clone();
        r
    }

    /// Sign a decision (only `janee approve`/`deny`, which hold the key, can).
    pub fn seal(&mut self, key: &SubKey) {
        self.mac = mac_of(key, &self.mac_parts());
    }

    pub fn is_authentic(&self, key: &SubKey) -> bool {
        ct_eq(&self.mac, &mac_of(key, &self.mac_parts()))
    }
}

pub fn new_id(prefix: &str) -> String {
    let b: [u8; 8] = janee_vault::crypto::random_bytes().unwrap_or([0; 8]);
    format!("{prefix}_{}", hex::encode(b))
}

/// What the gate decided for one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// An authentic live session exists.
    Proceed { session: String },
    /// The pair is shut by a revocation until `until`.
    Revoked { until: DateTime<Utc> },
    /// A new session may open now (auto-approved, or an approval was granted: `approval`).
    Open {
        approval: Option<String>,
        ttl: Duration,
    },
    /// A human must decide: wait on this approval request (`created` if it is new).
    Await { approval: String, created: bool },
    /// A human denied the request.
    Denied { approval: String },
}

fn dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Data {
    fn revocation_until(
        &self,
        agent: &str,
        cap: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.revocations
            .iter()
            .filter_map(|r| {
                let hits = match &r.scope {
                    Scope::All => true,
                    Scope::Agent(a) => a == agent,
                    Scope::Capability(c) => c == cap,
                    Scope::Session(id) => self
                        .sessions
                        .iter()
                        .any(|s| &s.id == id && s.agent == agent && s.capability == cap),
                };
                let until = r.until.unwrap_or(r.at + dur(ttl));
                (hits && now < until).then_some(until)
            })
            .max()
    }

    /// The live, authentic session of (agent, capability), if any. `checked` remembers, per
    /// index of `sessions`, whether a session's MAC was found right.
    fn live_session(
        &self,
        agent: &str,
        cap: &str,
        now: DateTime<Utc>,
        key: &SubKey,
        checked: Option<&[OnceLock<bool>]>,
    ) -> Option<&Session> {
        self.sessions.iter().enumerate().find_map(|(i, s)| {
            let authentic = || match checked.and_then(|c| c.get(i)) {
                Some(memo) => *memo.get_or_init(|| s.is_authentic(key)),
                None => s.is_authentic(key),
            };
            (s.agent == agent
                && s.capability == cap
                && s.revoked_at.is_none()
                && s.expires_at > now
                && authentic())
            .then_some(s)
        })
    }

    /// Decide what a call of `agent` on `cap` needs now. Pure: no I/O, time given. `checked`,
    /// one cell per session, keeps the sessions' MAC checks for the next decision on the same
    /// (unchanged) data; `None` checks them afresh.
    #[allow(clippy::too_many_arguments)]
    pub fn gate(
        &self,
        agent: &str,
        cap: &str,
        ttl: Duration,
        auto_approve: bool,
        now: DateTime<Utc>,
        key: &SubKey,
        checked: Option<&[OnceLock<bool>]>,
    ) -> Gate {
        if let Some(until) = self.revocation_until(agent, cap, ttl, now) {
            return Gate::Revoked { until };
        }
        if let Some(s) = self.live_session(agent, cap, now, key, checked) {
            return Gate::Proceed {
                session: s.id.clone(),
            };
        }
        if auto_approve {
            return Gate::Open {
                approval: None,
                ttl,
            };
        }
        // The most recent unconsumed request for this pair decides.
        let latest = self
            .approvals
            .iter()
            .filter(|a| a.agent == agent && a.capability == cap && !a.consumed)
            .max_by_key(|a| a.created_at);
        match latest {
            Some(a) if a.status == ApprovalStatus::Approved && a.is_authentic(key) => Gate::Open {
                approval: Some(a.id.clone()),
                ttl: a.grant_ms.map(Duration::from_millis).unwrap_or(ttl),
            },
            Some(a) if a.status == ApprovalStatus::Denied && a.is_authentic(key) => Gate::Denied {
                approval: a.id.clone(),
            },
            Some(a)
                if a.status == ApprovalStatus::Pending
                    && now < a.created_at + dur(PENDING_LIFETIME) =>
            {
                Gate::Await {
                    approval: a.id.clone(),
                    created: false,
                }
            }
            _ => Gate::Await {
                approval: String::new(),
                created: true,
            },
        }
    }

    /// Drop what no longer matters: dead sessions and decided approvals older than a day,
    /// revocations whose window closed, pending approvals nobody decided.
    pub fn prune(&mut self, now: DateTime<Utc>, max_ttl: Duration) {
        let keep = dur(KEEP);
        self.sessions.retain(|s| s.expires_at + keep > now);
        let max = dur(max_ttl);
        self.revocations
            .retain(|r| r.until.unwrap_or(r.at + max) > now);
        for a in &mut self.approvals {
            if a.status == ApprovalStatus::Pending && now >= a.created_at + dur(PENDING_LIFETIME) {
                a.status = ApprovalStatus::Expired;
            }
        }
        self.approvals
            .retain(|a| a.status == ApprovalStatus::Pending || a.created_at + keep > now);
    }

    /// Revoke: mark matching live sessions and record the scope. Returns the sessions hit.
    pub fn revoke(&mut self, scope: Scope, now: DateTime<Utc>) -> Vec<Session> {
        let mut hit = Vec::new();
        let mut until = None;
        for s in &mut self.sessions {
            let matches = match &scope {
                Scope::All => true,
                Scope::Agent(a) => &s.agent == a,
                Scope::Capability(c) => &s.capability == c,
                Scope::Session(id) => &s.id == id,
            };
            if matches && s.revoked_at.is_none() && s.expires_at > now {
                s.revoked_at = Some(now);
                if matches!(scope, Scope::Session(_)) {
                    until = Some(s.expires_at);
                }
                hit.push(s.clone());
            }
        }
        self.revocations.push(Revocation {
            scope,
            at: now,
            until,
        });
        hit
    }
}

/// The sessions file of a home.
#[derive(Debug, Clone)]
pub struct SessionFile {
    dir: PathBuf,
}

impl SessionFile {
    pub fn new(home_dir: &Path) -> Self {
        Self {
            dir: home_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    pub fn load(&self) -> Result<Data, SessionError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SessionError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Data::default()),
            Err(source) => Err(SessionError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Read-modify-write under the sessions lock; the change is on disk when this returns.
    pub fn update<T>(&self, f: impl FnOnce(&mut Data) -> T) -> Result<(Data, T), SessionError> {
        let io = |action: &'static str, path: PathBuf| {
            move |source| SessionError::Io {
                action,
                path,
                source,
            }
        };
        fsutil::ensure_private_dir(&self.dir).map_err(io("create", self.dir.clone()))?;
        let _lock =
            HomeLock::acquire_named(&self.dir, LOCK).map_err(io("lock", self.dir.join(LOCK)))?;
        let mut data = self.load()?;
        data.version = 1;
        let out = f(&mut data);
        let bytes = serde_json::to_vec_pretty(&data).map_err(|e| SessionError::Corrupt {
            path: self.path(),
            reason: e.to_string(),
        })?;
        fsutil::atomic_write(&self.path(), &bytes).map_err(io("write", self.path()))?;
        Ok((data, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SubKey {
        janee_vault::MasterKey::from_bytes([1; 32]).subkey("sessions")
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn open(data: &mut Data, agent: &str, cap: &str, at: DateTime<Utc>, ttl: Duration) -> String {
        let mut s = Session {
            id: new_id("ses"),
            agent: agent.into(),
            capability: cap.into(),
            opened_at: at,
            expires_at: at + dur(ttl),
            approval: None,
            revoked_at: None,
            mac: String::new(),
        };
        s.seal(&key());
        let id = s.id.clone();
        data.sessions.push(s);
        id
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn ttl_expiry_with_controlled_time() {
        let mut d = Data::default();
        let id = open(&mut d, "a", "c", t(0), HOUR);
        assert_eq!(
            d.gate("a", "c", HOUR, true, t(10), &key(), None),
            Gate::Proceed { session: id }
        );
        // One second past the TTL the session is gone and a new one must open.
        assert_eq!(
            d.gate("a", "c", HOUR, true, t(3601), &key(), None),
            Gate::Open {
                approval: None,
                ttl: HOUR
            }
        );
        // Without auto-approval, expiry means a human must approve again.
        assert!(matches!(
            d.gate("a", "c", HOUR, false, t(3601), &key(), None),
            Gate::Await { created: true, .. }
        ));
    }

    #[test]
    fn revocation_shuts_the_pair_for_one_ttl() {
        let mut d = Data::default();
        open(&mut d, "a", "c", t(0), HOUR);
        open(&mut d, "b", "c", t(0), HOUR);
        let hit = d.revoke(Scope::Agent("a".into()), t(100));
        assert_eq!(hit.len(), 1);
        assert!(matches!(
            d.gate("a", "c", HOUR, true, t(101), &key(), None),
            Gate::Revoked { .. }
        ));
        assert!(matches!(
            d.gate("a", "other", HOUR, true, t(101), &key(), None),
            Gate::Revoked { .. }
        ));
        assert!(matches!(
            d.gate("b", "c", HOUR, true, t(101), &key(), None),
            Gate::Proceed { .. }
        ));
        // After one TTL the agent may open sessions again.
        assert!(matches!(
            d.gate("a", "c", HOUR, true, t(3701), &key(), None),
            Gate::Open { .. }
        ));
        d.revoke(Scope::All, t(200));
        assert!(matches!(
            d.gate("b", "c", HOUR, true, t(201), &key(), None),
            Gate::Revoked { .. }
        ));
    }

    #[test]
    fn revoking_one_session_shuts_its_pair_until_it_would_have_expired() {
        let mut d = Data::default();
        let id = open(&mut d, "a", "c", t(0), HOUR);
        d.revoke(Scope::Session(id), t(10));
        assert!(
            matches!(d.gate("a", "c", HOUR, true, t(11), &key(), None), Gate::Revoked { until } if until == t(3600))
        );
        assert!(matches!(
            d.gate("a", "c", HOUR, true, t(3600), &key(), None),
            Gate::Open { .. }
        ));
    }

    #[test]
    fn a_remembered_mac_check_is_kept_per_session_and_a_forged_one_still_fails() {
        let mut d = Data::default();
        open(&mut d, "a", "c", t(0), HOUR);
        open(&mut d, "b", "c", t(0), HOUR);
        d.sessions[1].expires_at = t(99_999); // tampered
        let checked: Vec<OnceLock<bool>> = (0..2).map(|_| OnceLock::new()).collect();
        for _ in 0..2 {
            assert!(matches!(
                d.gate("a", "c", HOUR, false, t(10), &key(), Some(&checked)),
                Gate::Proceed { .. }
            ));
            assert!(matches!(
                d.gate("b", "c", HOUR, false, t(10), &key(), Some(&checked)),
                Gate::Await { .. }
            ));
        }
        assert_eq!(checked[0].get(), Some(&true));
        assert_eq!(checked[1].get(), Some(&false));
    }

    #[test]
    fn forged_grants_are_ignored() {
        let mut d = Data::default();
        let id = open(&mut d, "a", "c", t(0), HOUR);
        d.sessions[0].expires_at = t(99_999); // tampered: MAC no longer matches
        assert!(matches!(
            d.gate("a", "c", HOUR, false, t(10), &key(), None),
            Gate::Await { .. }
        ));
        let _ = id;
        d.approvals.push(Approval {
            id: "apr_x".into(),
            agent: "a".into(),
            capability: "c".into(),
            request: ShownRequest {
                method: Some("GET".into()),
                path: Some("/".into()),
                argv: None,
            },
            reason: None,
            created_at: t(0),
            status: ApprovalStatus::Approved,
            decided_at: Some(t(1)),
            grant_ms: None,
            consumed: false,
            mac: "00".repeat(32),
        });
        assert!(matches!(
            d.gate("a", "c", HOUR, false, t(10), &key(), None),
            Gate::Await { created: true, .. }
        ));
        d.approvals[0].seal(&key());
        assert!(matches!(
            d.gate("a", "c", HOUR, false, t(10), &key(), None),
            Gate::Open {
                approval: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn file_round_trip_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let f = SessionFile::new(dir.path());
        let (data, ()) = f
            .update(|d| {
                open(d, "a", "c", t(0), HOUR);
            })
            .unwrap();
        assert_eq!(f.load().unwrap(), data);
        let (data, ()) = f.update(|d| d.prune(t(3600 + 86_401), HOUR)).unwrap();
        assert!(data.sessions.is_empty());
    }
}
