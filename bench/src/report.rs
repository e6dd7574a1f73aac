//! The results table (Markdown), printed and written to `bench/out/latest.md`.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Measured for context; no target.
    Info,
    /// The figure could not be measured.
    Error(String),
}

impl Verdict {
    pub fn of(ok: bool) -> Self {
        if ok { Self::Pass } else { Self::Miss }
    }

    fn cell(&self) -> String {
        match self {
            Self::Pass => "PASS".into(),
            Self::Miss => "**MISS**".into(),
            Self::Info => "info".into(),
            Self::Error(e) => format!("**ERROR**: {}", e.replace('|', "/").replace('\n', " ")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub janee: String,
    pub direct: String,
    pub overhead: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn new(figure: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            janee: "—".into(),
            direct: "—".into(),
            overhead: "—".into(),
            target: "—".into(),
            verdict: Verdict::Info,
        }
    }

    pub fn error(figure: impl Into<String>, e: &anyhow::Error) -> Self {
        let mut r = Self::new(figure);
        r.verdict = Verdict::Error(format!("{e:#}"));
        r
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Breakdown and per-run details, one Markdown bullet each.
    pub details: Vec<String>,
}

impl Report {
    pub fn render(&self) -> String {
        let mut s = String::from("# janee benchmark\n\n");
        for h in &self.header {
            let _ = writeln!(s, "- {h}");
        }
        s.push_str(
            "\n| Figure | Janee | Direct to upstream | Janee overhead | Target | Result |\n",
        );
        s.push_str("|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.figure,
                r.janee,
                r.direct,
                r.overhead,
                r.target,
                r.verdict.cell()
            );
        }
        let pass = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Pass)
            .count();
        let judged = self
            .rows
            .iter()
            .filter(|r| r.verdict != Verdict::Info)
            .count();
        let _ = writeln!(s, "\n{pass} of {judged} targets met.\n");
        if !self.details.is_empty() {
            s.push_str("## Details\n\n");
            for d in &self.details {
                let _ = writeln!(s, "- {d}");
            }
        }
        s
    }
}

/// Milliseconds with a precision that suits the size.
pub fn fmt_ms(v: f64) -> String {
    if v.abs() < 1.0 {
        format!("{v:.3} ms")
    } else if v.abs() < 100.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// `/proc` sizes are KiB; targets are in MB (10^6 bytes).
pub fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

pub fn fmt_mb(kib: u64) -> String {
    format!("{:.1} MB", kib_to_mb(kib))
}

pub fn fmt_count(n: f64) -> String {
    let whole = n.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_count(15234.6), "15,235");
        assert_eq!(fmt_count(999.0), "999");
        assert_eq!(fmt_ms(0.1234), "0.123 ms");
        assert_eq!(fmt_mb(19532), "20.0 MB");
    }
}
