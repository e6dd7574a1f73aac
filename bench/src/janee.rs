//! The real `janee` binary, driven as an outside client would: CLI commands to set up a home,
//! `janee serve` over stdio with raw JSON-RPC lines, `janee serve -t http`, `janee logs --json`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::util;

pub const AGENT: &str = "bench";
pub const CAPABILITY: &str = "up";
/// The credential Janee injects; never seen by the bench client.
const SERVICE_KEY: &str = "sk_test_0123456789abcdef";
/// `server.maxResponseBytes`, raised so the 5 MiB response is not cut.
pub const MAX_RESPONSE_BYTES: u64 = 8_000_000;

/// How a home's master key is supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Custody {
    /// `JANEE_MASTER_KEY`: no key derivation at start (like the OS keyring).
    MasterKey,
    /// `JANEE_PASSPHRASE`: Argon2id at every start.
    Passphrase,
}

/// The exec capability that runs `true`.
pub const EXEC_CAPABILITY: &str = "bench-exec";

/// One `JANEE_HOME` with service `up` (bearer) pointing at the upstream and agent `bench`.
#[derive(Debug)]
pub struct Home {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub custody: Custody,
    key: String,
    /// Agent `bench`'s bearer token, for HTTP.
    pub token: String,
    /// Where server stderr goes.
    log_dir: PathBuf,
}

impl Home {
    pub fn create(bin: &Path, dir: PathBuf, custody: Custody, upstream_port: u16) -> Result<Self> {
        let key = match custody {
            Custody::MasterKey => util::random_master_key()?,
            Custody::Passphrase => "janee-bench passphrase".to_string(),
        };
        let log_dir = dir.with_extension("logs");
        std::fs::create_dir_all(&log_dir)?;
        let mut home = Self {
            bin: bin.to_path_buf(),
            dir,
            custody,
            key,
            token: String::new(),
            log_dir,
        };
        home.run(&["init"], &[])?;
        home.run(
            &[
                "add",
                CAPABILITY,
                "--url",
                &format!("http://127.0.0.1:{upstream_port}"),
                "--key-from-env",
                "JANEE_BENCH_SVC_KEY",
            ],
            &[("JANEE_BENCH_SVC_KEY", SERVICE_KEY)],
        )?;
        // An exec capability for the janee_exec figure: `true`, with no credential in its
        // environment, so the figure is the runner's own cost.
        home.run(
            &[
                "cap",
                "add",
                EXEC_CAPABILITY,
                "--service",
                CAPABILITY,
                "--mode",
                "exec",
                "--allow-commands",
                "true",
            ],
            &[],
        )?;
        home.token = home.run(&["agent", "add", AGENT], &[])?.trim().to_string();
        if !home.token.starts_with("janee_at_") {
            bail!("`janee agent add` printed {:?}, not a token", home.token);
        }
        home.raise_response_cap()?;
        Ok(home)
    }

    /// A `janee` command with this home's environment (and nothing of the caller's key env).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("JANEE_HOME", &self.dir)
            .env("JANEE_NO_KEYRING", "1")
            .env_remove("JANEE_MASTER_KEY")
            .env_remove("JANEE_PASSPHRASE")
            .env_remove("JANEE_LOG");
        match self.custody {
            Custody::MasterKey => c.env("JANEE_MASTER_KEY", &self.key),
            Custody::Passphrase => c.env("JANEE_PASSPHRASE", &self.key),
        };
        c
    }

    /// Run a CLI command; its stdout.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut c = self.command();
        c.args(args).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c
            .output()
            .with_context(|| format!("run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "janee {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Add `maxResponseBytes` under `server:` in config.yaml (before any server starts).
    fn raise_response_cap(&self) -> Result<()> {
        let path = self.dir.join("config.yaml");
        let text = std::fs::read_to_string(&path)?;
        let mut out = String::new();
        let mut done = false;
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
            if line == "server:" && !done {
                out.push_str(&format!("  maxResponseBytes: {MAX_RESPONSE_BYTES}\n"));
                done = true;
            }
        }
        if !done {
            bail!("no `server:` line in {}", path.display());
        }
        std::fs::write(&path, out)?;
        Ok(())
    }

    fn stderr_file(&self, name: &str) -> Result<std::fs::File> {
        Ok(std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(name))?)
    }

    /// Count audit records whose `event` is `event`, streaming `janee logs --json`.
    pub fn count_events(&self, event: &str) -> Result<u64> {
        let needle = format!("\"event\":\"{event}\"");
        let mut child = self
            .command()
            .args(["logs", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().context("no stdout")?;
        let mut n = 0;
        for line in BufReader::with_capacity(1 << 20, out).lines() {
            if line?.contains(&needle) {
                n += 1;
            }
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("janee logs --json failed ({status})");
        }
        Ok(n)
    }

    /// `durationMs` of the last `n` `call` records.
    pub fn last_call_durations(&self, n: usize) -> Result<Vec<f64>> {
        let text = self.run(&["logs", "--json", "-n", &(n + 50).to_string()], &[])?;
        let mut v: Vec<f64> = text
            .lines()
            .filter(|l| l.contains("\"event\":\"call\""))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["durationMs"].as_f64())
            .collect();
        let skip = v.len().saturating_sub(n);
        Ok(v.split_off(skip))
    }
}

/// A JSON-RPC request split around its id.
#[derive(Debug, Clone)]
pub struct Template(String, String);

/// A `janee serve --agent bench` over stdio, spoken to in newline-delimited JSON-RPC.
#[derive(Debug)]
pub struct StdioServer {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
    next_id: u64,
    pub line: String,
}

impl StdioServer {
    pub fn spawn(home: &Home) -> Result<Self> {
        let mut child = home
            .command()
            .args(["serve", "--agent", AGENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(home.stderr_file("stdio-server.log")?)
            .spawn()
            .context("spawn janee serve")?;
        util::register_child(child.id());
        let stdin = child.stdin.take().context("no stdin")?;
        let out = child.stdout.take().context("no stdout")?;
        Ok(Self {
            child,
            stdin: Some(stdin),
            out: BufReader::with_capacity(1 << 16, out),
            next_id: 1,
            line: String::with_capacity(1 << 12),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, msg: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        let mut buf = Vec::with_capacity(msg.len() + 1);
        buf.extend_from_slice(msg.as_bytes());
        buf.push(b'\n');
        stdin.write_all(&buf).context("write to janee serve")?;
        Ok(())
    }

    /// Read lines until the response to `id`; it is left in `self.line`.
    fn recv(&mut self, id: u64) -> Result<()> {
        let a = format!("\"id\":{id},");
        let b = format!("\"id\":{id}}}");
        loop {
            self.line.clear();
            if self.out.read_line(&mut self.line)? == 0 {
                bail!("janee serve closed stdout");
            }
            if self.line.contains(&a) || self.line.contains(&b) {
                return Ok(());
            }
        }
    }

    /// A request and its response line (in `self.line`).
    pub fn request(&mut self, method: &str, params: Value) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&msg.to_string())?;
        self.recv(id)
    }

    /// `initialize` (2025-11-25), then `notifications/initialized`. Returns when the
    /// initialize response arrived.
    pub fn initialize(&mut self) -> Result<()> {
        self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "janee-bench", "version": "1"},
            }),
        )?;
        if !self.line.contains("\"result\"") {
            bail!("initialize failed: {}", self.line.trim());
        }
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
    }

    pub fn list_tools(&mut self) -> Result<()> {
        self.request("tools/list", json!({}))?;
        if !self.line.contains("\"execute\"") {
            bail!("tools/list lacks execute: {}", self.line.trim());
        }
        Ok(())
    }

    /// A pre-encoded `tools/call` with a placeholder for the id, for tight loops.
    pub fn call_template(tool: &str, arguments: Value) -> Template {
        let params = json!({"name": tool, "arguments": arguments}).to_string();
        Template(
            r#"{"jsonrpc":"2.0","id":"#.to_string(),
            format!(r#","method":"tools/call","params":{params}}}"#),
        )
    }

    /// `tools/call execute {capability: up, method: GET, path}`.
    pub fn execute_template(path: &str) -> Template {
        Self::call_template(
            "execute",
            json!({"capability": CAPABILITY, "method": "GET", "path": path}),
        )
    }

    /// One call from a template; the response line is in `self.line`.
    pub fn call(&mut self, template: &Template) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = format!("{}{id}{}", template.0, template.1);
        self.send(&msg)?;
        self.recv(id)
    }

    /// Close stdin and wait for the server to exit.
    pub fn close(mut self) -> Result<()> {
        self.stdin = None;
        util::wait_or_kill(&mut self.child, Duration::from_secs(5))
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        util::unregister_child(self.child.id());
    }
}

/// Check an execute response line: no error, the upstream's status 200. Returns the tool
/// result's parsed text (`{status, headers, body, truncated?}`).
pub fn check_execute(line: &str) -> Result<Value> {
    let v: Value = serde_json::from_str(line).context("response is not JSON")?;
    let result = &v["result"];
    let text = result["content"][0]["text"]
        .as_str()
        .with_context(|| format!("no tool result text in {}", clip(line)))?;
    if result["isError"].as_bool() != Some(false) {
        bail!("tool error: {}", clip(text));
    }
    let inner: Value = serde_json::from_str(text).context("tool result is not JSON")?;
    if inner["status"].as_u64() != Some(200) {
        bail!("upstream status is not 200: {}", clip(text));
    }
    Ok(inner)
}

/// Cheap check for tight loops: `"isError":false` and the upstream's status 200 in the escaped
/// tool result text (`\"status\":200`, compact or pretty-printed).
pub fn looks_ok(line: &str) -> bool {
    const KEY: &str = r#"\"status\":"#;
    line.contains(r#""isError":false"#)
        && line.match_indices(KEY).any(|(i, _)| {
            line[i + KEY.len()..]
                .trim_start_matches(' ')
                .starts_with("200")
        })
}

pub fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// `janee serve -t http --stateless --port 0`.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
}

impl HttpServer {
    pub fn spawn(home: &Home, extra: &[&str]) -> Result<Self> {
        let mut child = home
            .command()
            .args(["serve", "-t", "http", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawn janee serve -t http")?;
        util::register_child(child.id());
        let err = child.stderr.take().context("no stderr")?;
        let mut log = home.stderr_file("http-server.log")?;
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if let Some(url) = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
                {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "janee serve -t http printed no URL (see {})",
                    home.log_dir.display()
                );
            }
        };
        Ok(Self { child, url })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    /// SIGTERM (graceful: drains, flushes the audit log), then wait.
    pub fn stop(mut self) -> Result<()> {
        util::signal(self.child.id(), "TERM");
        util::wait_or_kill(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        util::unregister_child(self.child.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_ok_accepts_compact_and_pretty_results() {
        let compact = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\"status\":200,\"body\":\"x\"}"}],"isError":false}}"#;
        let pretty = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\n  \"status\": 200\n}"}],"isError":false}}"#;
        let failed = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\"status\":500}"}],"isError":false}}"#;
        let error = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\"status\":200}"}],"isError":true}}"#;
        assert!(looks_ok(compact));
        assert!(looks_ok(pretty));
        assert!(!looks_ok(failed));
        assert!(!looks_ok(error));
        assert!(check_execute(compact).is_ok());
        assert!(check_execute(pretty).is_ok());
    }
}
