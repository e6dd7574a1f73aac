//! `janee logs`: reading, filtering, following and printing audit lines.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::files::{self, Line, Lines, LogFile};
use super::{AuditError, MAX_FIELD_CHARS, MAX_PATH_CHARS, sanitize};

/// How often [`follow`] looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Which lines [`read`] and [`follow`] return.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this capability.
    pub capability: Option<String>,
    /// Only lines at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only the last `n` matching lines (for [`follow`]: of the backlog shown before following).
    pub last: Option<usize>,
}

impl Filter {
    /// Whether a parsed line passes the agent, capability and time conditions.
    pub fn matches(&self, v: &Value) -> bool {
        let field_is = |key: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| v.get(key).and_then(Value::as_str) == Some(w))
        };
        field_is("agent", &self.agent)
            && field_is("capability", &self.capability)
            && self.since.is_none_or(|since| {
                v.get("time")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= since)
            })
    }

    /// Whether a day's file may hold lines at or after `since` (a file holds no line from
    /// after its day, so earlier days can be skipped).
    fn wants_day(&self, date: NaiveDate) -> bool {
        self.since.is_none_or(|since| date >= since.date_naive())
    }
}

/// The lines under `logs_dir` that pass `filter`, oldest first. Lines that are not JSON are
/// skipped (`verify` reports them). A missing directory gives no lines.
pub fn read(logs_dir: &Path, filter: &Filter) -> Result<Vec<Value>, AuditError> {
    let snapshot = files::snapshot(logs_dir).map_err(AuditError::io("list", logs_dir))?;
    read_snapshot(&snapshot, filter)
}

fn each_value(file: &LogFile, mut each: impl FnMut(Value)) -> Result<(), AuditError> {
    let mut lines =
        Lines::open(&file.path, file.len).map_err(AuditError::io("read", &file.path))?;
    while let Some(line) = lines
        .next_line()
        .map_err(AuditError::io("read", &file.path))?
    {
        if let Line::Text { bytes, .. } = line
            && let Ok(v) = serde_json::from_slice::<Value>(bytes)
        {
            each(v);
        }
    }
    Ok(())
}

fn read_snapshot(snapshot: &[LogFile], filter: &Filter) -> Result<Vec<Value>, AuditError> {
    let Some(n) = filter.last else {
        let mut out = Vec::new();
        for file in snapshot.iter().filter(|f| filter.wants_day(f.date)) {
            each_value(file, |v| {
                if filter.matches(&v) {
                    out.push(v);
                }
            })?;
        }
        return Ok(out);
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    // Newest file first, keeping each file's last `n` matches, until `n` are found.
    let mut chunks: Vec<VecDeque<Value>> = Vec::new();
    let mut total = 0usize;
    for file in snapshot.iter().rev() {
        if !filter.wants_day(file.date) {
            break;
        }
        let mut ring = VecDeque::new();
        each_value(file, |v| {
            if filter.matches(&v) {
                if ring.len() == n {
                    ring.pop_front();
                }
                ring.push_back(v);
            }
        })?;
        total += ring.len();
        chunks.push(ring);
        if total >= n {
            break;
        }
    }
    let mut out: Vec<Value> = chunks.into_iter().rev().flatten().collect();
    out.drain(..out.len().saturating_sub(n));
    Ok(out)
}

/// Show the backlog (as [`read`], honouring `filter.last`; `Some(0)` for none), then poll every
/// 200 ms for new lines, moving on to the next day's file when one appears. Calls `on_line` for
/// every line that passes `filter` and returns when it returns `false`. Blocks the thread.
pub fn follow(
    logs_dir: &Path,
    filter: &Filter,
    on_line: impl FnMut(&Value) -> bool,
) -> Result<(), AuditError> {
    follow_every(logs_dir, filter, FOLLOW_POLL, on_line)
}

pub(super) fn follow_every(
    logs_dir: &Path,
    filter: &Filter,
    poll: Duration,
    mut on_line: impl FnMut(&Value) -> bool,
) -> Result<(), AuditError> {
    let snapshot = files::snapshot(logs_dir).map_err(AuditError::io("list", logs_dir))?;
    for v in read_snapshot(&snapshot, filter)? {
        if !on_line(&v) {
            return Ok(());
        }
    }
    let mut tail = Tailer {
        filter,
        current: snapshot.last().map(|f| (f.date, f.path.clone())),
        pos: snapshot.last().map_or(0, |f| f.len),
        pending: Vec::new(),
    };
    loop {
        if !tail.drain(&mut on_line)? {
            return Ok(());
        }
        let listing = files::list(logs_dir).map_err(AuditError::io("list", logs_dir))?;
        let next = listing
            .into_iter()
            .find(|f| tail.current.as_ref().is_none_or(|(d, _)| f.date > *d));
        if let Some(next) = next {
            // Writers moved on; what they wrote to the old file before that is there now.
            if !tail.drain(&mut on_line)? {
                return Ok(());
            }
            tail.current = Some((next.date, next.path));
            tail.pos = 0;
            tail.pending.clear();
            continue;
        }
        thread::sleep(poll);
    }
}

struct Tailer<'f> {
    filter: &'f Filter,
    current: Option<(NaiveDate, PathBuf)>,
    pos: u64,
    /// Bytes of a line not yet complete.
    pending: Vec<u8>,
}

impl Tailer<'_> {
    /// Pass on the complete lines appended since the last call; `false` when told to stop.
    fn drain(&mut self, on_line: &mut impl FnMut(&Value) -> bool) -> Result<bool, AuditError> {
        let Some((_, path)) = &self.current else {
            return Ok(true);
        };
        let grown = (|| -> io::Result<Vec<u8>> {
            let mut f = File::open(path)?;
            let len = f.metadata()?.len();
            if len < self.pos {
                // Truncated behind our back: carry on from its new end.
                self.pos = len;
                self.pending.clear();
            }
            let mut chunk = Vec::new();
            f.seek(SeekFrom::Start(self.pos))?;
            f.take(len - self.pos).read_to_end(&mut chunk)?;
            Ok(chunk)
        })()
        .map_err(AuditError::io("read", path))?;
        self.pos += grown.len() as u64;
        self.pending.extend_from_slice(&grown);
        let mut start = 0;
        while let Some(i) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line = &self.pending[start..start + i];
            start += i + 1;
            if let Ok(v) = serde_json::from_slice::<Value>(line)
                && self.filter.matches(&v)
                && !on_line(&v)
            {
                return Ok(false);
            }
        }
        self.pending.drain(..start);
        if self.pending.len() > files::MAX_LINE {
            self.pending.clear();
        }
        Ok(true)
    }
}

/// One line for humans, e.g.
/// `2026-11-23T18:40:01.123Z #12 call  agent=claude cap=stripe GET /v1/charges → 200 (3.1 ms, scrubbed 0)`.
/// Every value is sanitised again, since the file may have been edited.
pub fn format_human(v: &Value) -> String {
    let text = |key: &str, max: usize| {
        v.get(key)
            .and_then(Value::as_str)
            .map(|s| sanitize(s, max).into_owned())
    };
    let str_of = |key: &str| text(key, MAX_FIELD_CHARS);
    let num = |key: &str| v.get(key).and_then(Value::as_u64);
    let time = text("time", 40).unwrap_or_else(|| "-".into());
    let seq = num("seq").map_or_else(|| "?".into(), |n| n.to_string());
    let event = text("event", 40).unwrap_or_else(|| "?".into());
    let mut out = format!("{time} #{seq} {event:<5}");
    let mut push = |part: String| {
        out.push(' ');
        out.push_str(&part);
    };
    if let Some(agent) = str_of("agent") {
        match str_of("agentVerifiedBy") {
            Some(by) if by != "token" => push(format!("agent={}[{by}]", quote(&agent))),
            _ => push(format!("agent={}", quote(&agent))),
        }
    }
    if let Some(label) = str_of("label") {
        push(format!("label={}", quote(&label)));
    }
    let cap = str_of("capability");
    if let Some(cap) = &cap {
        push(format!("cap={}", quote(cap)));
    }
    if let Some(svc) = str_of("service")
        && cap.as_ref() != Some(&svc)
    {
        push(format!("svc={}", quote(&svc)));
    }
    match (str_of("method"), text("path", MAX_PATH_CHARS)) {
        (Some(m), Some(p)) => push(format!("{m} {p}")),
        (Some(x), None) | (None, Some(x)) => push(x),
        (None, None) => {}
    }
    if let Some(argv) = v.get("argv").and_then(Value::as_array) {
        let words: Vec<String> = argv
            .iter()
            .map(|a| quote(&sanitize(a.as_str().unwrap_or("?"), MAX_FIELD_CHARS)))
            .collect();
        push(format!("$ {}", words.join(" ")));
    }
    if let Some(status) = num("status") {
        push(format!("→ {status}"));
    }
    if let Some(code) = v.get("exitCode").and_then(Value::as_i64) {
        push(format!("→ exit {code}"));
    }
    let mut stats = Vec::new();
    if let Some(ms) = v.get("durationMs").and_then(Value::as_f64) {
        stats.push(if ms < 1000.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{:.2} s", ms / 1000.0)
        });
    }
    if let Some(b) = num("bytesIn") {
        stats.push(format!("in {b} B"));
    }
    if let Some(b) = num("bytesOut") {
        stats.push(format!("out {b} B"));
    }
    if let Some(n) = num("scrubHits") {
        stats.push(format!("scrubbed {n}"));
    }
    if !stats.is_empty() {
        push(format!("({})", stats.join(", ")));
    }
    for (key, name) in [
        ("decision", "decision"),
        ("rule", "rule"),
        ("reasonCode", "code"),
        ("reason", "reason"),
        ("session", "session"),
        ("requestId", "request"),
        ("grantId", "grant"),
        ("detail", "detail"),
        ("error", "error"),
    ] {
        if let Some(value) = str_of(key) {
            push(format!("{name}={}", quote(&value)));
        }
    }
    out
}

/// Quote a value that is empty or holds whitespace or quotes (already sanitised: no controls).
fn quote(s: &str) -> String {
    if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '"') {
        return s.to_owned();
    }
    format!("\"{}\"", s.replace('"', "\\\""))
}
