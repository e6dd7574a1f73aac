//! The HTTP figures: `wrk` against `janee serve -t http --stateless` and straight at the
//! upstream, the audit count after each run, and the per-layer CPU cost ladder.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::janee::{self, Home, HttpServer};
use crate::report::{Report, Row, Verdict, fmt_count, fmt_mb, fmt_ms};
use crate::upstream::{SMALL_PATH, Upstream};
use crate::{MIN_RPS_64, Opts, util, workspace_root, wrk};

pub fn run(opts: &Opts, home: &Home, up: &Upstream, report: &mut Report) -> Result<()> {
    let Some(wrk_bin) = util::find_exe("wrk") else {
        let mut row = Row::new("HTTP throughput (wrk)");
        row.verdict = Verdict::Error("wrk is not installed (bash bench/run.sh installs it)".into());
        report.rows.push(row);
        return Ok(());
    };
    let script = workspace_root().join("bench/execute.lua");
    let srv = HttpServer::spawn(home, &["--stateless"])?;
    let pid = srv.pid();
    probe(&srv, home)?;
    let token = home.token.clone();
    let env = [
        ("JANEE_BENCH_TOKEN", token.as_str()),
        ("JANEE_BENCH_CAP", janee::CAPABILITY),
        ("JANEE_BENCH_PATH", SMALL_PATH),
    ];
    let auth = ["Authorization: Bearer sk_test_direct".to_string()];
    let direct_url = up.url(SMALL_PATH);
    for &conns in &opts.connections {
        let calls0 = home.count_events("call")?;
        let cpu0 = util::proc_cpu_secs(pid)?;
        let m0 = util::machine_cpu();
        let j = wrk::run(
            &wrk_bin,
            &wrk::Load {
                url: srv.origin(),
                connections: conns,
                threads: opts.wrk_threads,
                seconds: opts.wrk_seconds,
                script: Some(&script),
                headers: &[],
                env: &env,
            },
        )?;
        let cpu = util::proc_cpu_secs(pid)? - cpu0;
        let m1 = util::machine_cpu();
        // Calls in flight when wrk stopped finish (and are audited) shortly after.
        std::thread::sleep(Duration::from_millis(500));
        let audited = home.count_events("call")? - calls0;
        let ng0 = up.pid.map(util::proc_cpu_secs).transpose()?;
        let d = wrk::run(
            &wrk_bin,
            &wrk::Load {
                url: &direct_url,
                connections: conns,
                threads: opts.wrk_threads,
                seconds: opts.wrk_seconds,
                script: None,
                headers: &auth,
                env: &[],
            },
        )?;
        let ng = match (up.pid, ng0) {
            (Some(p), Some(c0)) => Some(util::proc_cpu_secs(p)? - c0),
            _ => None,
        };
        let ok = j.ok.unwrap_or(0);
        // Every answered call must be in the log; at most `conns` more (cut off by wrk's stop).
        let all_audited = audited >= ok && audited <= ok + u64::from(conns) + j.bad.unwrap_or(0);
        let clean = j.errors() == 0 && d.errors() == 0;
        let mut row = Row::new(format!(
            "HTTP `execute` throughput, {conns} connections, {} threads, {} s (req/s; p50 / p99 latency)",
            opts.wrk_threads, opts.wrk_seconds
        ));
        row.janee = format!(
            "{} req/s; {} / {}; errors {}; audited {} of {} ok",
            fmt_count(j.rps),
            fmt_ms(j.p50_ms),
            fmt_ms(j.p99_ms),
            j.errors(),
            fmt_count(audited as f64),
            fmt_count(ok as f64)
        );
        row.direct = format!(
            "{} req/s; {} / {}; errors {}",
            fmt_count(d.rps),
            fmt_ms(d.p50_ms),
            fmt_ms(d.p99_ms),
            d.errors()
        );
        row.overhead = format!("{:.1}× fewer req/s", d.rps / j.rps.max(1.0));
        if conns >= 64 {
            row.target = format!(
                "≥ {} req/s, zero errors, every call audited",
                fmt_count(MIN_RPS_64)
            );
            row.verdict = Verdict::of(j.rps >= MIN_RPS_64 && clean && all_audited);
        } else {
            row.target = "zero errors, every call audited".into();
            row.verdict = Verdict::of(clean && all_audited);
        }
        report.rows.push(row);
        let busy = (m1.0 - m0.0) / (m1.1 - m0.1).max(1e-9);
        report.details.push(format!(
            "HTTP {conns} conns: janee answered {} requests ({} correct, {} wrong{}), non-2xx {}, socket errors {}; audit has {} new `call` records; janee server CPU {:.1} µs per request ({:.2} cores); machine CPU busy {:.0}% during the janee run{}",
            fmt_count(j.requests as f64),
            fmt_count(ok as f64),
            j.bad.unwrap_or(0),
            j.bad_sample
                .as_ref()
                .map(|s| format!(", e.g. `{}`", s.replace('`', "'")))
                .unwrap_or_default(),
            j.non_2xx,
            j.socket_errors,
            fmt_count(audited as f64),
            cpu * 1e6 / (j.requests.max(1)) as f64,
            cpu / j.seconds.max(1e-9),
            busy * 100.0,
            ng.map(|c| format!(
                "; nginx CPU {:.1} µs per request in the direct run",
                c * 1e6 / d.requests.max(1) as f64
            ))
            .unwrap_or_default()
        ));
    }
    http_ladder(opts, &wrk_bin, &srv, &token, report)?;
    let hwm = util::proc_status_kib(pid, "VmHWM")?;
    srv.stop()?;
    report.details.push(format!(
        "HTTP server peak RSS (VmHWM) after the load runs: {}",
        fmt_mb(hwm)
    ));
    let verify = home.command().args(["audit", "verify"]).output()?;
    report.details.push(format!(
        "`janee audit verify` after all runs: {}",
        if verify.status.success() {
            "ok".to_string()
        } else {
            format!("FAILED: {}", String::from_utf8_lossy(&verify.stdout).trim())
        }
    ));
    Ok(())
}

/// Server CPU per request for successively deeper requests (1 wrk thread, 16 connections):
/// what each layer costs.
fn http_ladder(
    opts: &Opts,
    wrk_bin: &Path,
    srv: &HttpServer,
    token: &str,
    report: &mut Report,
) -> Result<()> {
    let script = workspace_root().join("bench/post.lua");
    let call = |tool: &str, args: serde_json::Value| {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": args}})
        .to_string()
    };
    let steps = [
        ("`GET /healthz` (the HTTP server alone)", None),
        (
            "`tools/list` (+ bearer check, rmcp stateless request)",
            Some(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#.to_string()),
        ),
        (
            "`whoami` (bearer check + tool dispatch; stateless `tools/call` skips rmcp)",
            Some(call("whoami", serde_json::json!({}))),
        ),
        (
            "`execute` denied, unknown capability (+ policy, audit append)",
            Some(call(
                "execute",
                serde_json::json!({"capability": "no-such-capability", "method": "GET", "path": SMALL_PATH}),
            )),
        ),
        (
            "`execute` allowed (+ upstream request, response encoding)",
            Some(call(
                "execute",
                serde_json::json!({"capability": janee::CAPABILITY, "method": "GET", "path": SMALL_PATH}),
            )),
        ),
    ];
    let seconds = (opts.wrk_seconds / 3).max(2);
    let mut parts = Vec::new();
    for (label, body) in steps {
        let healthz = format!("{}/healthz", srv.origin());
        let env = body
            .as_deref()
            .map(|b| vec![("JANEE_BENCH_TOKEN", token), ("JANEE_BENCH_BODY", b)])
            .unwrap_or_default();
        let cpu0 = util::proc_cpu_secs(srv.pid())?;
        let r = wrk::run(
            wrk_bin,
            &wrk::Load {
                url: if body.is_some() {
                    srv.origin()
                } else {
                    &healthz
                },
                connections: 16,
                threads: 1,
                seconds,
                script: body.is_some().then_some(script.as_path()),
                headers: &[],
                env: &env,
            },
        )?;
        let cpu = util::proc_cpu_secs(srv.pid())? - cpu0;
        parts.push(format!(
            "{label}: {:.0} µs CPU per request, {} req/s{}",
            cpu * 1e6 / r.requests.max(1) as f64,
            fmt_count(r.rps),
            if r.errors() > 0 {
                format!(", {} errors", r.errors())
            } else {
                String::new()
            }
        ));
    }
    report.details.push(format!(
        "HTTP cost ladder (janee server CPU per request; wrk 1 thread, 16 connections, {seconds} s each): {}",
        parts.join("; ")
    ));
    Ok(())
}

/// One request by hand before the load, to check the shape the lua script counts on.
fn probe(srv: &HttpServer, home: &Home) -> Result<()> {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "execute", "arguments": {
            "capability": janee::CAPABILITY, "method": "GET", "path": SMALL_PATH}},
    })
    .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, text) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(&srv.url)
            .bearer_auth(&home.token)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        Ok::<_, anyhow::Error>((r.status(), r.text().await?))
    })?;
    if status != 200 {
        bail!("probe: HTTP {status}: {}", janee::clip(&text));
    }
    janee::check_execute(&text).context("probe")?;
    if !janee::looks_ok(&text) {
        bail!(
            "probe answer lacks the markers bench/execute.lua counts: {}",
            janee::clip(&text)
        );
    }
    Ok(())
}
