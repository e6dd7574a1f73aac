//! The process runner behind `janee_exec`: runs one allowed executable for an agent with the
//! capability's secrets in its environment, and hands back scrubbed output.
//!
//! # What the child gets
//! - The file resolved at config load by [`ResolvedCommands`] (an absolute, canonical path
//!   found in a trusted PATH); the agent's `argv[0]` is only the child's `arg0`, never used to
//!   find the binary. No shell is involved.
//! - An environment built from nothing: `PATH` ([`DEFAULT_TRUSTED_PATH`]), `HOME` (a fresh
//!   `0700` directory per call, removed afterwards, so a secret written to a file in one call
//!   is gone in the next), `TMPDIR` (inside it), `LANG=C.UTF-8`, `GIT_TERMINAL_PROMPT=0`,
//!   `GIT_CONFIG_NOSYSTEM=1`, `HISTFILE=/dev/null`; then the request's env, which may
//!   override any of these (the caller vets the names with [`is_dangerous_env_name`]).
//!   Nothing of Janee's own environment is inherited, nor any of its file descriptors (Rust
//!   opens them close-on-exec).
//! - Its own process group. The group is killed with `SIGKILL` when the timeout expires,
//!   when output floods past a hard limit, when the leader exits (so a background child that
//!   stayed in the group does not survive the call) and when the call is cancelled.
//! - Pipes for stdout and stderr, read concurrently, each through its own scrub
//!   [`Stream`](crate::scrub::Stream), keeping at most `max_output_bytes` of scrubbed output
//!   per stream. The cap applies after scrubbing and the scrubber's held-back bytes are
//!   dropped at the cut, so truncation never shows the start of a secret. Output past the
//!   cap is read and discarded (memory stays flat, the command can finish) until 64 MiB past
//!   it; then the group is killed. stdin is the request's bytes, or `/dev/null`.
//!
//! - Descendants that leave the group (`setsid`, `setpgid`) are caught by the serving
//!   process being a child subreaper (`orphans`): once their parent exits they become
//!   Janee's children, and the kill step of every call kills and reaps them.
//!
//! # Limits
//! - A descendant that leaves the process group while its parent stays alive is only
//!   killed once that parent exits; the runner stops waiting for its pipes after a short
//!   grace. Allowing a command that can launch arbitrary programs (`sh`, `env`, `xargs`,
//!   ...) hands the agent that power anyway: `allowCommands` and the argv rules are the real
//!   boundary.
//! - The standard library copies env values into its own spawn buffers, which are freed but
//!   not wiped.
//! - Each stream is scrubbed on its own: a secret written half to stdout and half to stderr,
//!   or transformed in a way the scrubber does not know (`xxd` dumps with offsets and
//!   spaces, nested encodings), is not caught. Scrubbing is the last line of
//!   defence, not the first.
//! - The child stays in Janee's session: if Janee has a controlling terminal, a child that
//!   opens `/dev/tty` to prompt is stopped (background group) until the timeout kills it.
//! - Outside `janee serve` (no subreaper), killed descendants are re-parented to PID 1,
//!   which must reap them.

mod capture;
mod env;
mod group;
mod orphans;
mod resolve;
mod temp_home;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::process::{ChildStdin, Command};
use tokio::time::{Instant, sleep_until};
use zeroize::Zeroizing;

use capture::{Capture, PumpEnd, pump};
pub use env::is_dangerous_env_name;
use group::Group;
pub use orphans::become_subreaper;
pub use resolve::{DEFAULT_TRUSTED_PATH, ResolvedCommands};
use temp_home::TempHome;
pub use temp_home::drain_pool as remove_pooled_homes;

/// After the group is killed, how long to wait for the leader to be reaped and the pipes to
/// close (a process that left the group may hold them open).
const GRACE: Duration = Duration::from_secs(2);
/// Longer timeouts are clamped to this (a deadline must be representable).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// One command to run. Built by the caller after policy allowed it.
pub struct ExecRequest<'a> {
    /// Absolute path from [`ResolvedCommands`]; the agent's `argv[0]` is never used to find
    /// the binary.
    pub program: &'a Path,
    /// `argv[0]` is the bare name and becomes the child's `arg0`.
    pub argv: &'a [String],
    /// Working directory, already validated by the caller; `None` runs in the fresh `HOME`.
    pub cwd: Option<&'a Path>,
    /// The capability's env template filled with secrets. Applied after the base
    /// environment, so it may override it (e.g. `PATH` with the configured trusted PATH).
    pub env: Vec<(String, Zeroizing<String>)>,
    /// Bytes written to the child's stdin, which is then closed; `None` gives `/dev/null`.
    pub stdin: Option<&'a [u8]>,
    /// Wall-clock limit; the whole process group is killed when it expires.
    pub timeout: Duration,
    /// Per stream: scrubbed bytes kept; beyond it output is dropped and `truncated` set.
    pub max_output_bytes: usize,
    /// The secrets (and their encodings) removed from stdout and stderr.
    pub scrub: &'a crate::scrub::Patterns,
}

impl fmt::Debug for ExecRequest<'_> {
    /// Shows env names only, never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExecRequest")
            .field("program", &self.program)
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field("env_names", &env_names)
            .field("stdin_len", &self.stdin.map(<[u8]>::len))
            .field("timeout", &self.timeout)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("scrub", &self.scrub)
            .finish()
    }
}

/// What happened. `stdout` and `stderr` are scrubbed; the byte counts are what the child
/// wrote, including anything dropped.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecOutcome {
    /// Exit status, if the child exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the child (9 after a timeout or a flood).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub execution_time_ms: u64,
    pub timed_out: bool,
    /// Some output was dropped (the cap, a flood, or a pipe that did not close).
    pub truncated: bool,
    /// Secret occurrences replaced, both streams together.
    pub scrubbed_hits: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

/// Why a command could not be resolved or run. Messages name the command, never an env
/// value.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(
        "command {command:?} must be a bare executable name (no '/', not '.' or '..'); list it by name in allowCommands"
    )]
    InvalidName { command: String },
    #[error(
        "command {command:?} was not found in the trusted PATH {path:?}; install it or add its directory to the trusted PATH"
    )]
    NotFound { command: String, path: String },
    #[error("command {command:?} resolves to {path:?}, which is not an executable regular file")]
    NotExecutable {
        command: String,
        path: std::path::PathBuf,
    },
    #[error(
        "command {command:?} resolves to {path:?}, which (or whose directory) any user may write; fix the permissions or install it elsewhere"
    )]
    Insecure {
        command: String,
        path: std::path::PathBuf,
    },
    #[error("cannot run {command:?}: {reason}")]
    InvalidRequest {
        command: String,
        reason: &'static str,
    },
    #[error("could not start {command:?}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("running {command:?}: {what}: {source}")]
    Io {
        command: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Runs one command to completion, timeout or flood; see the module docs.
pub async fn run(req: ExecRequest<'_>) -> Result<ExecOutcome, ExecError> {
    let Some(arg0) = req.argv.first() else {
        return Err(ExecError::InvalidRequest {
            command: String::new(),
            reason: "argv is empty",
        });
    };
    let invalid = |reason| ExecError::InvalidRequest {
        command: arg0.clone(),
        reason,
    };
    if !req.program.is_absolute() {
        return Err(invalid("the program path is not absolute"));
    }
    let io_err = |what| {
        move |source| ExecError::Io {
            command: arg0.clone(),
            what,
            source,
        }
    };
    // Declared first so it is dropped (removed) last, after the group is dead.
    let mut home = TempHome::new().map_err(io_err("creating the temporary HOME"))?;

    let mut cmd = command(&req, &home);
    let started = Instant::now();
    let spawned = orphans::spawn_registered(&mut cmd);
    drop(cmd); // its copies of the env values
    let (mut child, registered) = spawned.map_err(|source| ExecError::Spawn {
        command: arg0.clone(),
        source,
    })?;
    // `process_group(0)` makes the child the leader of a new group whose id is its pid.
    // `id()` is `Some` until the child has been reaped, and it has not been waited on yet.
    let pgid = child
        .id()
        .ok_or_else(|| invalid("the child vanished at spawn"))?;
    // Dropped before `child` and `home`: a cancelled call kills the group first.
    let mut group = Group::new(pgid);

    let mut out = Capture::new(req.scrub.stream(), req.max_output_bytes);
    let mut err = Capture::new(req.scrub.stream(), req.max_output_bytes);
    let (stdout, stderr, stdin) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let deadline = started + req.timeout.min(MAX_TIMEOUT);
    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut timed_out = false;
    let mut grace: Option<Instant> = None;
    {
        let mut out_pump = pin!(pump(stdout, &mut out));
        let mut err_pump = pin!(pump(stderr, &mut err));
        let mut feed = pin!(feed_stdin(stdin, req.stdin));
        let mut wait = pin!(child.wait());
        let (mut out_done, mut err_done, mut fed) = (false, false, false);
        while !(status.is_some() && out_done && err_done) {
            // Every branch that kills the group sets `grace`; the group is killed once.
            let mut kill = false;
            tokio::select! {
                end = &mut out_pump, if !out_done => {
                    out_done = true;
                    kill = end == PumpEnd::Flood;
                }
                end = &mut err_pump, if !err_done => {
                    err_done = true;
                    kill = end == PumpEnd::Flood;
                }
                () = &mut feed, if !fed => fed = true,
                st = &mut wait, if status.is_none() => {
                    status = Some(st);
                    kill = true;
                }
                () = sleep_until(deadline), if status.is_none() && grace.is_none() => {
                    timed_out = true;
                    kill = true;
                }
                () = sleep_until(grace.unwrap_or(deadline)), if grace.is_some() => break,
            }
            if kill && grace.is_none() {
                group.kill().await;
                // Descendants that left the group and were re-parented to Janee.
                orphans::sweep().await;
                grace = Some(Instant::now() + GRACE);
            }
        }
    }
    // The loop ends only after `group.kill()`; had it failed, dropping `group` retries.
    let status = match status {
        Some(st) => Some(st.map_err(io_err("waiting for the child"))?),
        None => None, // not reaped within the grace; `kill_on_drop` and tokio finish it
    };
    drop(child);
    drop(registered);
    // Those whose parent exited during the grace.
    orphans::sweep().await;
    home.remove();

    let (out, err) = (out.finish(), err.finish());
    Ok(ExecOutcome {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: out.text,
        stderr: err.text,
        execution_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        timed_out,
        truncated: out.truncated || err.truncated,
        scrubbed_hits: out.hits.saturating_add(err.hits),
        stdout_bytes: out.raw_bytes,
        stderr_bytes: err.raw_bytes,
    })
}

/// The child's command line, environment, directory and pipes (see the module docs).
fn command(req: &ExecRequest<'_>, home: &TempHome) -> Command {
    let mut cmd = Command::new(req.program);
    if let Some((arg0, args)) = req.argv.split_first() {
        cmd.arg0(arg0).args(args);
    }
    cmd.env_clear()
        .env("PATH", DEFAULT_TRUSTED_PATH)
        .env("HOME", home.path())
        .env("TMPDIR", home.tmp())
        .env("LANG", "C.UTF-8")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HISTFILE", "/dev/null")
        .envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(req.cwd.unwrap_or(home.path()))
        .stdin(if req.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// Writes `bytes` to the child's stdin, then closes it. A child that exits without reading
/// everything makes the write fail with a broken pipe, which is not an error of the call.
async fn feed_stdin(stdin: Option<ChildStdin>, bytes: Option<&[u8]>) {
    if let (Some(mut pipe), Some(bytes)) = (stdin, bytes) {
        let _ = pipe.write_all(bytes).await;
        let _ = pipe.shutdown().await;
    }
}
