//! The tamper-evident audit log: append-only JSON lines under `logs/`, one file per UTC day
//! (`audit-YYYY-MM-DD.jsonl`, created 0600 in a 0700 directory), every line MAC-chained to the
//! line before it, across files.
//!
//! # Line format
//! ```text
//! {"seq":12,"time":"2026-11-23T18:40:01.123Z","event":"call","agent":"claude",...,"prev":"<64 hex>","mac":"<64 hex>"}
//! ```
//! Members come in a fixed order: `seq` (1 for the first line ever, +1 per line, global across
//! files), `time` (RFC 3339 UTC, milliseconds), `event`, the [`Record`] fields that are set, `prev`
//! (the previous line's `mac`, 64 zeros for the first line ever) and `mac` last.
//!
//! `mac = hex(HMAC-SHA256(audit subkey, prev || "\n" || signed))`, where `signed` is the exact
//! line text without its `,"mac":"<64 hex>"` member: the verifier strips the fixed 74-byte suffix
//! `,"mac":"<64 hex>"}` and appends `}`. The subkey is `master_key.subkey("audit")`.
//!
//! # What [`verify`] catches
//! An edited line (its MAC fails: [`ProblemKind::BadMac`]), a removed line ([`ProblemKind::SeqGap`]),
//! reordered or duplicated lines ([`ProblemKind::SeqOrder`]), a line spliced in from another chain
//! ([`ProblemKind::BrokenChain`]) and a truncated or garbled line ([`ProblemKind::Malformed`]),
//! each reported at the first affected line. Not detectable without an outside anchor: removing
//! whole lines from the very end of the newest file, or deleting every file.
//!
//! # Sanitising
//! Every string in a [`Record`] is sanitised on write (see [`sanitize`]): control characters (C0,
//! DEL, C1, which includes `\n`, `\r`, `\t` and ANSI `ESC`), the line and paragraph separators
//! U+2028/U+2029 and the bidirectional-override characters are replaced by the visible text
//! `\u{XX}` (Rust escape syntax, lowercase hex: ESC becomes `\u{1b}`, a newline `\u{a}`), and the
//! length is capped ([`MAX_FIELD_CHARS`], [`MAX_PATH_CHARS`]) with a `…(truncated)` marker. JSON
//! encoding then guarantees one record per line. [`format_human`] sanitises again on display, as
//! the file itself may have been edited.
//!
//! # Writing
//! [`AuditLog`] group-commits: a record appended while no batch is being written is written at
//! once by the appending thread; records appended meanwhile queue up, and the thread writing takes
//! all of them as its next batch. For each batch it takes an exclusive lock on `logs/.audit.lock`
//! (shared with other processes, e.g. a CLI `janee revoke` while the server runs), checks that
//! nobody else wrote since its last batch, chains and MACs the lines and writes them with one `write(2)` on an `O_APPEND`
//! file, then releases the lock and answers every caller. `append` returns only after that write,
//! so a call's record reaches the OS before the call's response. `fsync` happens on another
//! thread at most every 100 ms, never under the lock; [`AuditLog::flush`] forces one (shutdown).
//! When another process did write, the writer re-reads the chain tail from the newest file. If
//! that tail is damaged (crash mid-write, tampering), the chain continues from the last readable
//! line's stated MAC and a `chain-resume` event records the break; [`verify`] still reports the
//! damaged line.

mod chain;
mod files;
mod read;
mod verify;
mod writer;

use std::borrow::Cow;
use std::path::PathBuf;

use serde::Serialize;

pub use read::{Filter, follow, format_human, read};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};
pub use writer::{AuditLog, Coming};

/// Cap, in characters, of each string field of a [`Record`] (before the truncation marker).
pub const MAX_FIELD_CHARS: usize = 1000;
/// Cap, in characters, of [`Record::path`] (canonical path and query).
pub const MAX_PATH_CHARS: usize = 4096;
/// At most this many `argv` entries are kept; the rest are replaced by one marker entry.
pub const MAX_ARGV_ITEMS: usize = 64;
/// Total characters kept across all `argv` entries.
pub const MAX_ARGV_CHARS: usize = 8192;
/// Appended to a string cut at its cap.
pub const TRUNCATED: &str = "…(truncated)";

/// What a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An allowed call (HTTP request or command run) and its outcome.
    #[default]
    Call,
    /// A call refused by policy.
    Denied,
    /// An agent session opened.
    SessionOpen,
    /// An agent session expired.
    SessionExpire,
    /// A session, token or grant revoked.
    Revoke,
    /// A call is waiting for a human's approval.
    ApprovalRequest,
    /// A human approved a pending call.
    Approve,
    /// A human denied a pending call (or the approval timed out).
    Deny,
    /// A call refused by a rate limit.
    RateLimited,
    /// A grant (a short-lived credential handed to a runner) issued.
    GrantIssued,
    /// A grant's use completed.
    GrantCompleted,
    /// The configuration was reloaded.
    ConfigReload,
    /// The server started.
    ServerStart,
    /// The server stopped.
    ServerStop,
    /// Written by the log itself: the chain tail was damaged and the chain continues past it.
    ChainResume,
}

impl EventKind {
    /// The name written in the `event` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Denied => "denied",
            Self::SessionOpen => "session-open",
            Self::SessionExpire => "session-expire",
            Self::Revoke => "revoke",
            Self::ApprovalRequest => "approval-request",
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::RateLimited => "rate-limited",
            Self::GrantIssued => "grant-issued",
            Self::GrantCompleted => "grant-completed",
            Self::ConfigReload => "config-reload",
            Self::ServerStart => "server-start",
            Self::ServerStop => "server-stop",
            Self::ChainResume => "chain-resume",
        }
    }
}

/// The policy decision recorded with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The call was allowed.
    Allow,
    /// The call was refused.
    Deny,
}

/// One audit event. Unset fields are omitted from the line. Strings are sanitised on write, so
/// agent-supplied text may be stored here as received. Never put a secret value or a request or
/// response body here unless the capability opted in, and then only after scrubbing.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// What happened.
    pub event: EventKind,
    /// The agent's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// How the agent was identified: `token`, `stdio-flag`, `local-default`, `client-asserted`,
    /// `runner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_verified_by: Option<String>,
    /// The capability used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The service behind the capability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Canonical path and query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Command line of a command run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// HTTP status returned upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Exit code of a command run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Wall time of the call in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Request bytes sent upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Response bytes returned to the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// Secret occurrences replaced by the scrubber.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrub_hits: Option<u64>,
    /// The reason the agent gave, in its own words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Allowed or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Machine-readable cause of a refusal or error, e.g. `no-rule-matched`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Approval request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Grant id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// Free-form detail from Janee itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The name a client asserted for itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Error text of a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Record {
    /// An empty record of the given kind; set fields with struct update syntax or directly.
    pub fn new(event: EventKind) -> Self {
        Self {
            event,
            ..Self::default()
        }
    }

    /// Set [`Record::duration_ms`] from a `Duration`, to the microsecond.
    pub fn with_duration(mut self, d: std::time::Duration) -> Self {
        self.duration_ms = Some((d.as_secs_f64() * 1e6).round() / 1e3);
        self
    }

    /// Sanitise every string field.
    fn sanitized(mut self) -> Self {
        for field in [
            &mut self.agent,
            &mut self.agent_verified_by,
            &mut self.capability,
            &mut self.service,
            &mut self.method,
            &mut self.reason,
            &mut self.rule,
            &mut self.reason_code,
            &mut self.session,
            &mut self.request_id,
            &mut self.grant_id,
            &mut self.detail,
            &mut self.label,
            &mut self.error,
        ] {
            sanitize_in_place(field, MAX_FIELD_CHARS);
        }
        sanitize_in_place(&mut self.path, MAX_PATH_CHARS);
        if let Some(argv) = self.argv.take() {
            self.argv = Some(sanitize_argv(argv));
        }
        self
    }

    /// The sanitised record as the interior of a JSON object (`"event":"call",...`, no braces),
    /// ready to be placed between `time` and `prev`.
    fn encode_fields(self) -> Result<String, AuditError> {
        let mut json = serde_json::to_string(&self.sanitized())
            .map_err(|e| AuditError::Encode(e.to_string()))?;
        // A struct always serialises as `{...}` with at least the `event` member.
        if !(json.starts_with('{') && json.ends_with('}') && json.len() > 2) {
            return Err(AuditError::Encode(format!("unexpected encoding {json}")));
        }
        json.pop();
        json.remove(0);
        Ok(json)
    }
}

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `append to`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("could not encode an audit record: {0}")]
    Encode(String),
    /// The writer thread has stopped; nothing more can be appended through this handle.
    #[error("the audit log writer has stopped")]
    Closed,
}

impl AuditError {
    fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    /// A copy for every caller of a failed batch (`io::Error` is not `Clone`).
    fn duplicate(&self) -> Self {
        match self {
            Self::Io {
                action,
                path,
                source,
            } => Self::Io {
                action,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Self::Encode(m) => Self::Encode(m.clone()),
            Self::Closed => Self::Closed,
        }
    }
}

/// Whether `c` is replaced by [`sanitize`]: control characters (C0 incl. `\n` `\r` `\t` ESC, DEL,
/// C1), U+2028/U+2029, bidirectional marks, embeddings, overrides and isolates, and U+FEFF.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Make agent-supplied text safe to store and print on one line: every character matched by the
/// rules in the [module documentation](self) becomes the visible text `\u{XX}` (e.g. ESC becomes
/// `\u{1b}`), and the result is cut to `max_chars` characters followed by [`TRUNCATED`].
/// Borrows when nothing changes.
pub fn sanitize(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.len() <= max_chars
        && (s.bytes().all(|b| (b' '..=b'~').contains(&b)) || !s.chars().any(needs_escape))
    {
        // Printable ASCII, checked a byte at a time, never needs escaping.
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars * 4) + 16);
    let mut count = 0usize;
    for c in s.chars() {
        let before = out.len();
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
        let added = out[before..].chars().count();
        if count + added > max_chars {
            out.truncate(before);
            // Keep a whole escape or nothing of it, so `\u{..}` is never cut in half.
            out.push_str(TRUNCATED);
            return Cow::Owned(out);
        }
        count += added;
    }
    Cow::Owned(out)
}

fn sanitize_in_place(field: &mut Option<String>, max_chars: usize) {
    if let Some(s) = field
        && let Cow::Owned(clean) = sanitize(s, max_chars)
    {
        *s = clean;
    }
}

fn sanitize_argv(argv: Vec<String>) -> Vec<String> {
    let total = argv.len();
    let mut budget = MAX_ARGV_CHARS;
    let mut out = Vec::with_capacity(total.min(MAX_ARGV_ITEMS + 1));
    for arg in argv {
        if out.len() == MAX_ARGV_ITEMS || budget == 0 {
            break;
        }
        let clean = sanitize(&arg, MAX_FIELD_CHARS.min(budget)).into_owned();
        budget = budget.saturating_sub(clean.chars().count());
        out.push(clean);
    }
    if out.len() < total {
        out.push(format!("…({} more arguments truncated)", total - out.len()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
