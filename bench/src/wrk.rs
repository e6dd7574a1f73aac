//! Run `wrk` and read its summary.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub non_2xx: u64,
    /// connect + read + write + timeout
    pub socket_errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// From the lua `response` hook, when the script has one.
    pub ok: Option<u64>,
    pub bad: Option<u64>,
    pub bad_sample: Option<String>,
}

impl WrkResult {
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors + self.bad.unwrap_or(0)
    }
}

#[derive(Debug)]
pub struct Load<'a> {
    pub url: &'a str,
    pub connections: u32,
    pub threads: u32,
    pub seconds: u32,
    pub script: Option<&'a Path>,
    pub headers: &'a [String],
    pub env: &'a [(&'a str, &'a str)],
}

pub fn run(wrk: &Path, load: &Load<'_>) -> Result<WrkResult> {
    let mut c = Command::new(wrk);
    c.arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .args(["--latency", "--timeout", "5s"]);
    if let Some(s) = load.script {
        c.arg("-s").arg(s);
    }
    for h in load.headers {
        c.arg("-H").arg(h);
    }
    for (k, v) in load.env {
        c.env(k, v);
    }
    c.arg(load.url);
    let out = c.output().context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

fn parse(text: &str) -> Result<WrkResult> {
    let mut r = WrkResult::default();
    for line in text.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() >= 4 && words[1] == "requests" && words[2] == "in" {
            r.requests = words[0].parse()?;
            r.seconds = parse_secs(words[3].trim_end_matches(','))?;
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse()?;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse()?;
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            r.socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if words.len() == 2 && words[0] == "50%" {
            r.p50_ms = parse_ms(words[1])?;
        } else if words.len() == 2 && words[0] == "99%" {
            r.p99_ms = parse_ms(words[1])?;
        } else if let Some(v) = t.strip_prefix("JANEE_BENCH ok=") {
            let (ok, bad) = v.split_once(" bad=").context("JANEE_BENCH line")?;
            r.ok = Some(ok.parse()?);
            r.bad = Some(bad.trim().parse()?);
        } else if let Some(v) = t.strip_prefix("JANEE_BENCH sample=") {
            r.bad_sample = Some(v.to_string());
        }
    }
    if r.requests == 0 && r.rps == 0.0 {
        bail!("no request count");
    }
    Ok(r)
}

/// wrk durations: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn parse_ms(s: &str) -> Result<f64> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .context("no unit")?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse()?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => bail!("unknown unit {unit:?}"),
    })
}

fn parse_secs(s: &str) -> Result<f64> {
    Ok(parse_ms(s)? / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_summary() {
        let text = "Running 5s test @ http://127.0.0.1:1
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.65ms   13.84ms 147.64ms   86.03%
  Latency Distribution
     50%  812.00us
     75%   27.49ms
     90%   37.76ms
     99%    1.20s
  13611 requests in 5.03s, 5.75MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   2707.42
Transfer/sec:      1.14MB
JANEE_BENCH ok=13607 bad=4
";
        let r = parse(text).unwrap();
        assert_eq!(r.requests, 13611);
        assert!((r.seconds - 5.03).abs() < 1e-9);
        assert!((r.rps - 2707.42).abs() < 1e-9);
        assert_eq!((r.non_2xx, r.socket_errors), (4, 5));
        assert!((r.p50_ms - 0.812).abs() < 1e-9);
        assert!((r.p99_ms - 1200.0).abs() < 1e-9);
        assert_eq!((r.ok, r.bad), (Some(13607), Some(4)));
    }
}
