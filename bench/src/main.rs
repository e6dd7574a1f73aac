//! `janee-bench`: drives the real `janee` binary as an outside client would and prints each
//! figure beside a direct call to the same upstream, made in the same run. See bench/README.md.
//!
//! # Layout
//! - `upstream`: nginx (or a built-in fallback) answering `{"ok":true}` and a 5 MiB body.
//! - `janee`: homes set up through the CLI, `janee serve` over stdio and HTTP, `janee logs`.
//! - `wrk`: HTTP load and its summary; `throughput`: the HTTP figures.
//! - `report`: the table.

mod janee;
mod report;
mod throughput;
mod upstream;
mod util;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use janee::{Custody, Home, StdioServer};
use report::{Report, Row, Verdict, fmt_count, fmt_mb, fmt_ms, kib_to_mb};
use upstream::{BIG_LEN, BIG_PATH, SMALL_BODY, SMALL_PATH, Upstream};
use util::Stats;

const USAGE: &str =
    "usage: janee-bench [--janee PATH] [--out FILE] [--quick] [--keep] [--seconds N] [--calls N]
  --janee PATH   the janee binary (default: target/release/janee)
  --out FILE     where the Markdown table goes (default: bench/out/latest.md)
  --quick        a short smoke run (fewer samples, 3 s of load per wrk run)
  --keep         keep the temporary directory (homes, server logs, nginx files)
  --seconds N    duration of each wrk run (default 10)
  --calls N      sequential execute calls measured over stdio (default 2000)";

// Targets.
const COLD_START_MS: f64 = 15.0;
const OVERHEAD_P50_MS: f64 = 0.2;
const MIN_RPS_64: f64 = 15_000.0;
const RSS_1000_MB: f64 = 20.0;
const BIG_MS: f64 = 20.0;
const BIG_RSS_MB: f64 = 40.0;

#[derive(Debug)]
struct Opts {
    janee: PathBuf,
    out: PathBuf,
    keep: bool,
    cold_runs: usize,
    warmup: usize,
    calls: usize,
    rss_calls: usize,
    big_runs: usize,
    wrk_seconds: u32,
    wrk_threads: u32,
    connections: Vec<u32>,
    /// The whole run is stopped after this.
    budget: Duration,
}

impl Opts {
    fn parse() -> Result<Self> {
        let root = workspace_root();
        let mut o = Self {
            janee: root.join("target/release/janee"),
            out: root.join("bench/out/latest.md"),
            keep: false,
            cold_runs: 30,
            warmup: 200,
            calls: 2000,
            rss_calls: 1000,
            big_runs: 10,
            wrk_seconds: 10,
            wrk_threads: 2,
            connections: vec![16, 64],
            budget: Duration::from_secs(290),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--janee" => o.janee = PathBuf::from(value()?),
                "--out" => o.out = PathBuf::from(value()?),
                "--keep" => o.keep = true,
                "--seconds" => o.wrk_seconds = value()?.parse()?,
                "--calls" => o.calls = value()?.parse()?,
                "--quick" => {
                    o.cold_runs = 5;
                    o.warmup = 50;
                    o.calls = 300;
                    o.big_runs = 3;
                    o.wrk_seconds = 3;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if !o.janee.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p janee`",
                o.janee.display()
            );
        }
        Ok(o)
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("janee-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let opts = Opts::parse()?;
    util::start_watchdog(opts.budget);
    let started = Instant::now();
    let mut tmp = util::TempDir::new("janee-bench")?;
    tmp.keep = opts.keep;
    let mut report = Report::default();
    header(&opts, &mut report);

    let up = upstream::start(tmp.path())?;
    report.header.push(format!(
        "Upstream: {} on 127.0.0.1:{} (`GET {SMALL_PATH}` → `{}`, `GET {BIG_PATH}` → {} bytes)",
        up.kind,
        up.port,
        String::from_utf8_lossy(SMALL_BODY),
        BIG_LEN
    ));
    eprintln!("janee-bench: upstream {} on port {}", up.kind, up.port);

    let mk = Home::create(
        &opts.janee,
        tmp.path().join("home-key"),
        Custody::MasterKey,
        up.port,
    )?;
    let pp = Home::create(
        &opts.janee,
        tmp.path().join("home-pass"),
        Custody::Passphrase,
        up.port,
    )?;
    // The direct client: reqwest with keep-alive, on a current-thread runtime in this thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .build()?;
    let direct = Direct {
        rt: &rt,
        client: &client,
        up: &up,
    };

    eprintln!("janee-bench: cold start");
    cold_start(&opts, &mk, &pp, &mut report);
    eprintln!("janee-bench: stdio execute latency");
    if let Err(e) = latency(&opts, &mk, &direct, &mut report) {
        report
            .rows
            .push(Row::error("execute over stdio, sequential", &e));
    }
    eprintln!("janee-bench: janee_exec overhead");
    if let Err(e) = exec_overhead(&opts, &mk, &mut report) {
        report
            .rows
            .push(Row::error("janee_exec of true over stdio", &e));
    }
    eprintln!("janee-bench: memory after {} calls", opts.rss_calls);
    memory(&opts, &mk, &pp, &mut report);
    eprintln!("janee-bench: 5 MiB response");
    if let Err(e) = big_response(&opts, &mk, &direct, &mut report) {
        report
            .rows
            .push(Row::error("5 MiB response via execute", &e));
    }
    eprintln!("janee-bench: HTTP throughput");
    if let Err(e) = throughput::run(&opts, &mk, &up, &mut report) {
        report.rows.push(Row::error("HTTP throughput", &e));
    }

    report.header.push(format!(
        "Load average at end: {}; run took {:.0} s",
        util::loadavg(),
        started.elapsed().as_secs_f64()
    ));
    drop(up);
    let text = report.render();
    println!("{text}");
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, &text)?;
    eprintln!("janee-bench: wrote {}", opts.out.display());
    if opts.keep {
        eprintln!("janee-bench: kept {}", tmp.path().display());
    }
    Ok(())
}

fn header(opts: &Opts, report: &mut Report) {
    let sh = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = util::loadavg();
    report.header.push(format!(
        "{} · {} · commit {}{}",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        sh(&opts.janee.display().to_string(), &["--version"]),
        sh("git", &["rev-parse", "--short", "HEAD"]),
        if sh("git", &["status", "--porcelain", "--", "crates"]).is_empty() {
            ""
        } else {
            " (crates/ modified)"
        }
    ));
    report.header.push(format!(
        "Machine: {cores} cores, Linux {}; load average at start: {load}",
        sh("uname", &["-r"])
    ));
    let busy = load
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    if busy > 0.5 * cores as f64 {
        report.header.push(format!(
            "**Warning:** the machine was busy when the run started (1-minute load {busy:.1} on {cores} cores); figures are pessimistic."
        ));
    }
}

/// The direct (no Janee) client.
struct Direct<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: &'a reqwest::Client,
    up: &'a Upstream,
}

impl Direct<'_> {
    /// GET `path` with a bearer header (as Janee sends); the body length.
    fn get(&self, path: &str) -> Result<usize> {
        let url = self.up.url(path);
        self.rt.block_on(async {
            let r = self
                .client
                .get(&url)
                .bearer_auth("sk_test_direct")
                .send()
                .await?;
            if r.status() != 200 {
                bail!("direct GET {path}: status {}", r.status());
            }
            Ok(r.bytes().await?.len())
        })
    }
}

fn cold_start(opts: &Opts, mk: &Home, pp: &Home, report: &mut Report) {
    // Process spawn + exit of the same binary, no server: the floor under any cold start.
    let floor = (|| -> Result<Stats> {
        let mut v = Vec::new();
        for i in 0..=opts.cold_runs {
            let t = Instant::now();
            let out = Command::new(&opts.janee).arg("--version").output()?;
            if !out.status.success() {
                bail!("janee --version failed");
            }
            if i > 0 {
                v.push(util::ms(t.elapsed()));
            }
        }
        Ok(util::stats(&mut v))
    })();
    for (home, label) in [(mk, "JANEE_MASTER_KEY"), (pp, "JANEE_PASSPHRASE")] {
        let figure = format!("stdio cold start, {label} (spawn → tools/list answered)");
        let runs = if home.custody == Custody::Passphrase {
            opts.cold_runs.min(10)
        } else {
            opts.cold_runs
        };
        match cold_runs(home, runs) {
            Ok((list, init)) => {
                let mut row = Row::new(figure);
                row.janee = format!("p50 {} (min {})", fmt_ms(list.p50), fmt_ms(list.min));
                if home.custody == Custody::MasterKey {
                    row.target = format!("p50 < {COLD_START_MS} ms");
                    row.verdict = Verdict::of(list.p50 < COLD_START_MS);
                } else {
                    row.target = "— (Argon2id 64 MiB by design)".into();
                }
                if let Ok(f) = &floor {
                    row.direct = format!("`janee --version`: p50 {}", fmt_ms(f.p50));
                }
                report.rows.push(row);
                report.details.push(format!(
                    "Cold start {label}: {} runs; initialize answered p50 {}, tools/list answered p50 {} / min {} / max {}",
                    list.n,
                    fmt_ms(init.p50),
                    fmt_ms(list.p50),
                    fmt_ms(list.min),
                    fmt_ms(list.max)
                ));
            }
            Err(e) => report.rows.push(Row::error(figure, &e)),
        }
    }
}

/// Spawn → initialize → initialized → tools/list, `runs` times after one unmeasured run.
fn cold_runs(home: &Home, runs: usize) -> Result<(Stats, Stats)> {
    let (mut list, mut init) = (Vec::new(), Vec::new());
    for i in 0..=runs {
        let t = Instant::now();
        let mut srv = StdioServer::spawn(home)?;
        srv.initialize()?;
        let t_init = t.elapsed();
        srv.list_tools()?;
        let t_list = t.elapsed();
        srv.close()?;
        if i > 0 {
            init.push(util::ms(t_init));
            list.push(util::ms(t_list));
        }
    }
    Ok((util::stats(&mut list), util::stats(&mut init)))
}

fn latency(opts: &Opts, home: &Home, direct: &Direct<'_>, report: &mut Report) -> Result<()> {
    let mut srv = StdioServer::spawn(home)?;
    srv.initialize()?;
    let tmpl = StdioServer::execute_template(SMALL_PATH);
    srv.call(&tmpl)?;
    let first = janee::check_execute(&srv.line)?;
    if first["body"].as_str() != Some(r#"{"ok":true}"#) {
        bail!("unexpected execute body: {first}");
    }
    for _ in 0..opts.warmup {
        srv.call(&tmpl)?;
        direct.get(SMALL_PATH)?;
    }
    let pid = srv.pid();
    let cpu0 = util::proc_cpu_secs(pid)?;
    let (mut j, mut d) = (
        Vec::with_capacity(opts.calls),
        Vec::with_capacity(opts.calls),
    );
    let mut bad = 0usize;
    let mut sample = None;
    // Interleaved, so both see the same machine state.
    for _ in 0..opts.calls {
        let t = Instant::now();
        srv.call(&tmpl)?;
        j.push(util::ms(t.elapsed()));
        if !janee::looks_ok(&srv.line) {
            bad += 1;
            sample.get_or_insert_with(|| janee::clip(&srv.line));
        }
        let t = Instant::now();
        let n = direct.get(SMALL_PATH)?;
        d.push(util::ms(t.elapsed()));
        if n != SMALL_BODY.len() {
            bail!("direct body has {n} bytes");
        }
    }
    let cpu = util::proc_cpu_secs(pid)? - cpu0;
    let ladder = stdio_ladder(&mut srv, opts.calls.min(500));
    srv.close()?;
    if bad > 0 {
        bail!(
            "{bad} of {} execute responses were wrong, e.g. {}",
            opts.calls,
            sample.unwrap_or_default()
        );
    }
    // The client-side CPU of a plain reqwest GET: a floor for Janee's upstream leg.
    let me = std::process::id();
    let own0 = util::proc_cpu_secs(me)?;
    for _ in 0..opts.calls {
        direct.get(SMALL_PATH)?;
    }
    let reqwest_cpu_us = (util::proc_cpu_secs(me)? - own0) * 1e6 / opts.calls.max(1) as f64;
    let (js, ds) = (util::stats(&mut j), util::stats(&mut d));
    let mut row = Row::new(format!(
        "`execute` over stdio, sequential, N={} (p50 / p99)",
        js.n
    ));
    row.janee = format!("{} / {}", fmt_ms(js.p50), fmt_ms(js.p99));
    row.direct = format!("{} / {}", fmt_ms(ds.p50), fmt_ms(ds.p99));
    row.overhead = format!("{} / {}", fmt_ms(js.p50 - ds.p50), fmt_ms(js.p99 - ds.p99));
    row.target = format!("overhead p50 < {OVERHEAD_P50_MS} ms");
    row.verdict = Verdict::of(js.p50 - ds.p50 < OVERHEAD_P50_MS);
    report.rows.push(row);
    report.details.push(format!(
        "stdio execute: janee min {} p90 {} max {}; direct min {} p90 {} max {}; janee server CPU {:.1} µs per call; a plain reqwest GET costs this client {:.1} µs CPU",
        fmt_ms(js.min),
        fmt_ms(js.p90),
        fmt_ms(js.max),
        fmt_ms(ds.min),
        fmt_ms(ds.p90),
        fmt_ms(ds.max),
        cpu * 1e6 / js.n as f64,
        reqwest_cpu_us
    ));
    match ladder {
        Ok((who, deny)) => report.details.push(format!(
            "stdio cost ladder (p50, same server): `whoami` {} (stdio + JSON-RPC + tool dispatch, no audit, no upstream); `execute` denied for an unknown capability {} (+{} for policy and the audit append); allowed `execute` {} (+{} for the upstream leg, whose direct cost is {})",
            fmt_ms(who.p50),
            fmt_ms(deny.p50),
            fmt_ms(deny.p50 - who.p50),
            fmt_ms(js.p50),
            fmt_ms(js.p50 - deny.p50),
            fmt_ms(ds.p50)
        )),
        Err(e) => report.details.push(format!("stdio cost ladder failed: {e:#}")),
    }
    // Where the time goes: the server's own durationMs covers policy + upstream round trip
    // (from the tool handler's start to before the audit append).
    match home.last_call_durations(opts.calls) {
        Ok(mut v) if !v.is_empty() => {
            let s = util::stats(&mut v);
            report.details.push(format!(
                "Breakdown (p50): client-observed {} = in-handler `durationMs` {} (policy, upstream request, body read) + {} outside it (stdio read/write, JSON-RPC decode/encode, tool dispatch, audit append); the upstream alone (direct) takes {}",
                fmt_ms(js.p50),
                fmt_ms(s.p50),
                fmt_ms(js.p50 - s.p50),
                fmt_ms(ds.p50)
            ));
        }
        Ok(_) => {}
        Err(e) => report
            .details
            .push(format!("could not read durationMs: {e:#}")),
    }
    Ok(())
}

/// p50 of `whoami` and of a denied `execute` (unknown capability) on a warm server.
/// `janee_exec` running `true`, against spawning `/bin/true` directly from this process,
/// interleaved so both see the same machine state.
fn exec_overhead(opts: &Opts, home: &Home, report: &mut Report) -> Result<()> {
    let mut srv = StdioServer::spawn(home)?;
    srv.initialize()?;
    let params = serde_json::json!({"name": "janee_exec", "arguments": {"capability": janee::EXEC_CAPABILITY, "command": ["true"]}});
    let n = opts.calls.min(500);
    let run_one = |srv: &mut StdioServer| -> Result<()> {
        srv.request("tools/call", params.clone())?;
        if !srv.line.contains("exitCode") || srv.line.contains("\"isError\":true") {
            bail!("janee_exec failed: {}", janee::clip(&srv.line));
        }
        Ok(())
    };
    for _ in 0..20 {
        run_one(&mut srv)?;
    }
    let (mut j, mut d) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        run_one(&mut srv)?;
        j.push(util::ms(t.elapsed()));
        let t = Instant::now();
        let st = std::process::Command::new("/bin/true").status()?;
        d.push(util::ms(t.elapsed()));
        if !st.success() {
            bail!("/bin/true failed");
        }
    }
    srv.close()?;
    let (js, ds) = (util::stats(&mut j), util::stats(&mut d));
    let mut row = Row::new(format!(
        "`janee_exec` of `true` over stdio, sequential, N={} (p50 / p99)",
        js.n
    ));
    row.janee = format!("{} / {}", fmt_ms(js.p50), fmt_ms(js.p99));
    row.direct = format!("spawn `/bin/true`: {} / {}", fmt_ms(ds.p50), fmt_ms(ds.p99));
    row.overhead = format!("{} / {}", fmt_ms(js.p50 - ds.p50), fmt_ms(js.p99 - ds.p99));
    row.target = "overhead p50 < 1 ms".into();
    row.verdict = Verdict::of(js.p50 - ds.p50 < 1.0);
    report.rows.push(row);
    Ok(())
}

fn stdio_ladder(srv: &mut StdioServer, n: usize) -> Result<(Stats, Stats)> {
    let who = StdioServer::call_template("whoami", serde_json::json!({}));
    let deny = StdioServer::call_template(
        "execute",
        serde_json::json!({"capability": "no-such-capability", "method": "GET", "path": SMALL_PATH}),
    );
    let mut out = Vec::new();
    for (tmpl, marker) in [
        (&who, r#""isError":false"#),
        (&deny, "CAPABILITY_NOT_FOUND"),
    ] {
        let mut v = Vec::with_capacity(n);
        for i in 0..n + 50 {
            let t = Instant::now();
            srv.call(tmpl)?;
            let e = t.elapsed();
            if !srv.line.contains(marker) {
                bail!("unexpected answer: {}", janee::clip(&srv.line));
            }
            if i >= 50 {
                v.push(util::ms(e));
            }
        }
        out.push(util::stats(&mut v));
    }
    Ok((out[0], out[1]))
}

fn memory(opts: &Opts, mk: &Home, pp: &Home, report: &mut Report) {
    for home in [mk, pp] {
        let label = match home.custody {
            Custody::MasterKey => "JANEE_MASTER_KEY",
            Custody::Passphrase => "JANEE_PASSPHRASE",
        };
        let figure = format!(
            "stdio server peak RSS (VmHWM) after {} calls, {label}",
            opts.rss_calls
        );
        let measured = (|| -> Result<(u64, u64, u64)> {
            let mut srv = StdioServer::spawn(home)?;
            srv.initialize()?;
            let idle = util::proc_status_kib(srv.pid(), "VmHWM")?;
            let tmpl = StdioServer::execute_template(SMALL_PATH);
            for _ in 0..opts.rss_calls {
                srv.call(&tmpl)?;
                if !janee::looks_ok(&srv.line) {
                    bail!("wrong execute response: {}", janee::clip(&srv.line));
                }
            }
            let hwm = util::proc_status_kib(srv.pid(), "VmHWM")?;
            let rss = util::proc_status_kib(srv.pid(), "VmRSS")?;
            srv.close()?;
            Ok((idle, hwm, rss))
        })();
        match measured {
            Ok((idle, hwm, rss)) => {
                let mut row = Row::new(figure);
                row.janee = fmt_mb(hwm);
                if home.custody == Custody::MasterKey {
                    row.target = format!("< {RSS_1000_MB} MB");
                    row.verdict = Verdict::of(kib_to_mb(hwm) < RSS_1000_MB);
                } else {
                    row.target = "— (Argon2id 64 MiB by design)".into();
                }
                report.rows.push(row);
                report.details.push(format!(
                    "Memory {label}: VmHWM {} after initialize, {} after {} calls; VmRSS now {}",
                    fmt_mb(idle),
                    fmt_mb(hwm),
                    opts.rss_calls,
                    fmt_mb(rss)
                ));
            }
            Err(e) => report.rows.push(Row::error(figure, &e)),
        }
    }
}

fn big_response(opts: &Opts, home: &Home, direct: &Direct<'_>, report: &mut Report) -> Result<()> {
    let mut srv = StdioServer::spawn(home)?;
    srv.initialize()?;
    let tmpl = StdioServer::execute_template(BIG_PATH);
    let check = |line: &str| -> Result<()> {
        let v = janee::check_execute(line)?;
        let len = v["body"].as_str().map_or(0, str::len);
        if len != BIG_LEN || v.get("truncated").is_some_and(|t| t != false) {
            bail!(
                "5 MiB body came back with {len} bytes, truncated={}",
                v["truncated"]
            );
        }
        Ok(())
    };
    srv.call(&tmpl)?;
    check(&srv.line)?;
    let line_len = srv.line.len();
    let pid = srv.pid();
    let cpu0 = util::proc_cpu_secs(pid)?;
    let mut j = Vec::new();
    for _ in 0..opts.big_runs {
        let t = Instant::now();
        srv.call(&tmpl)?;
        j.push(util::ms(t.elapsed()));
        check(&srv.line)?;
    }
    let cpu = util::proc_cpu_secs(pid)? - cpu0;
    let hwm = util::proc_status_kib(pid, "VmHWM")?;
    srv.close()?;
    let mut d = Vec::new();
    for i in 0..=opts.big_runs {
        let t = Instant::now();
        let n = direct.get(BIG_PATH)?;
        if n != BIG_LEN {
            bail!("direct 5 MiB GET returned {n} bytes");
        }
        if i > 0 {
            d.push(util::ms(t.elapsed()));
        }
    }
    let (js, ds) = (util::stats(&mut j), util::stats(&mut d));
    let mut row = Row::new(format!(
        "5 MiB response via `execute` (stdio), p50 of {}",
        js.n
    ));
    row.janee = fmt_ms(js.p50);
    row.direct = fmt_ms(ds.p50);
    row.overhead = fmt_ms(js.p50 - ds.p50);
    row.target = format!("< {BIG_MS} ms");
    row.verdict = Verdict::of(js.p50 < BIG_MS);
    report.rows.push(row);
    let mut row = Row::new("5 MiB response: server peak RSS (VmHWM)");
    row.janee = fmt_mb(hwm);
    row.target = format!("< {BIG_RSS_MB} MB");
    row.verdict = Verdict::of(kib_to_mb(hwm) < BIG_RSS_MB);
    report.rows.push(row);
    report.details.push(format!(
        "5 MiB: janee min {} max {}; the JSON-RPC response line is {} bytes ({:.2}× the body: JSON text inside a JSON string); janee server CPU {} per call",
        fmt_ms(js.min),
        fmt_ms(js.max),
        fmt_count(line_len as f64),
        line_len as f64 / BIG_LEN as f64,
        fmt_ms(cpu * 1000.0 / js.n as f64)
    ));
    Ok(())
}
