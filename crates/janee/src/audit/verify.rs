//! `janee audit verify`: walk every file in date order and report the first break in the chain.

use std::fmt;
use std::path::{Path, PathBuf};

use janee_vault::SubKey;
use serde::Serialize;

use super::AuditError;
use super::chain::{self, ZERO_MAC};
use super::files::{self, Line, Lines};

/// Result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Lines that verified, up to the first problem.
    pub lines: u64,
    /// Files read (the whole directory when there is no problem).
    pub files: usize,
    /// Sequence number of the last line that verified.
    pub last_seq: Option<u64>,
    /// The first edited, removed, reordered or damaged line; `None` when the log is intact.
    pub first_problem: Option<Problem>,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The file holding the line.
    pub file: PathBuf,
    /// 1-based line number within `file`.
    pub line: usize,
    /// The line's stated sequence number, when it could be read.
    pub seq: Option<u64>,
    /// The kind of break.
    pub kind: ProblemKind,
    /// A sentence for humans.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Kinds of [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The MAC does not match the line: it was edited (or the key is wrong).
    BadMac,
    /// Sequence numbers jump forward: lines were removed.
    SeqGap,
    /// A sequence number repeats, goes back, or turns up early: lines were reordered or copied.
    SeqOrder,
    /// The line's `prev` is not the previous line's `mac`: a line from another chain.
    BrokenChain,
    /// Not a complete audit line: truncated, garbled, empty or too long.
    Malformed,
}

/// Check every audit file under `logs_dir` in date order and report the first problem. Files are
/// read up to their length when verification starts (taken under the writers' lock), so a
/// running server does not cause a false "truncated" report. A missing directory is an empty log.
pub fn verify(logs_dir: &Path, key: &SubKey) -> Result<VerifyReport, AuditError> {
    let snapshot = files::snapshot(logs_dir).map_err(AuditError::io("list", logs_dir))?;
    let key = chain::mac_key(key);
    let mut report = VerifyReport {
        lines: 0,
        files: 0,
        last_seq: None,
        first_problem: None,
    };
    let mut expected = 1u64;
    let mut prev = ZERO_MAC;
    for file in &snapshot {
        report.files += 1;
        let read_err = AuditError::io("read", &file.path);
        let mut lines = Lines::open(&file.path, file.len).map_err(read_err)?;
        let mut n = 0usize;
        loop {
            let line = lines
                .next_line()
                .map_err(AuditError::io("read", &file.path))?;
            let Some(line) = line else { break };
            n += 1;
            let problem = |kind, seq, message: String| Problem {
                file: file.path.clone(),
                line: n,
                seq,
                kind,
                message,
            };
            let (bytes, newline) = match line {
                Line::Text { bytes, newline } => (bytes, newline),
                Line::TooLong => {
                    let msg = format!("line longer than {} bytes", files::MAX_LINE);
                    report.first_problem = Some(problem(ProblemKind::Malformed, None, msg));
                    return Ok(report);
                }
            };
            let parsed = match chain::parse_line(bytes) {
                Ok(p) => p,
                Err(mut msg) => {
                    if !newline {
                        msg.push_str("; the file ends mid-line (interrupted write or truncation)");
                    }
                    report.first_problem = Some(problem(ProblemKind::Malformed, None, msg));
                    return Ok(report);
                }
            };
            let seq = parsed.seq;
            if !parsed.mac_ok(&key) {
                let msg = "MAC does not match: the line was edited (or this is the wrong key)";
                report.first_problem = Some(problem(ProblemKind::BadMac, Some(seq), msg.into()));
                return Ok(report);
            }
            if seq != expected {
                let (kind, msg) = if seq > expected {
                    match find_seq_later(&mut lines, expected)
                        .map_err(AuditError::io("read", &file.path))?
                    {
                        Some(ahead) => (
                            ProblemKind::SeqOrder,
                            format!(
                                "seq {seq} where {expected} was expected; seq {expected} comes later, at line {}: lines reordered",
                                n + ahead
                            ),
                        ),
                        None => (
                            ProblemKind::SeqGap,
                            format!(
                                "seq {seq} where {expected} was expected: {} line(s) removed",
                                seq - expected
                            ),
                        ),
                    }
                } else {
                    (
                        ProblemKind::SeqOrder,
                        format!(
                            "seq {seq} where {expected} was expected: line duplicated or moved"
                        ),
                    )
                };
                report.first_problem = Some(problem(kind, Some(seq), msg));
                return Ok(report);
            }
            if parsed.prev != prev {
                let msg = "\"prev\" is not the previous line's MAC: line replaced or taken from another log";
                report.first_problem =
                    Some(problem(ProblemKind::BrokenChain, Some(seq), msg.into()));
                return Ok(report);
            }
            prev = parsed.mac_hex;
            expected = seq + 1;
            report.lines += 1;
            report.last_seq = Some(seq);
        }
    }
    Ok(report)
}

/// How many lines further on a line with `seq` appears in the rest of this file, if it does.
fn find_seq_later(lines: &mut Lines, seq: u64) -> std::io::Result<Option<usize>> {
    let mut ahead = 0usize;
    while let Some(line) = lines.next_line()? {
        ahead += 1;
        if let Line::Text { bytes, .. } = line
            && chain::parse_line(bytes).is_ok_and(|p| p.seq == seq)
        {
            return Ok(Some(ahead));
        }
    }
    Ok(None)
}
