//! Killing the child's whole process group.
//!
//! Sending a signal to a process group needs `kill(2)` with a negative pid. `libc::kill` is
//! an `unsafe fn`, the workspace denies `unsafe`, and the standard library and tokio can
//! only signal the one child they spawned. So the group is killed by running the system's
//! `kill` utility, by absolute path, with an empty environment: `kill -s KILL -- -PGID`
//! (POSIX syntax, accepted by procps, util-linux, busybox and the `sh` builtin; `/bin/sh`'s
//! builtin is the fallback where no `kill` binary is installed). It costs one short-lived
//! process per call.
//!
//! The pgid cannot name someone else's group while the leader is unreaped (a zombie keeps
//! its pid and group id reserved), which holds for the timeout and flood kills. The kill
//! after a normal exit comes just after the leader is reaped: if other members remain, they
//! keep the id reserved; if none remain, the id could only be reused after the kernel's pid
//! counter wraps around (`/proc/sys/kernel/pid_max`), which does not happen in the
//! milliseconds in between.

use std::process::{Command, Stdio};

/// Where to find `kill`, in order (absolute paths only; never looked up in a PATH).
const KILL_BINARIES: [&str; 2] = ["/bin/kill", "/usr/bin/kill"];
const SHELL: &str = "/bin/sh";

/// The child's process group; kills it on drop unless [`Group::kill`] already did.
#[derive(Debug)]
pub(super) struct Group {
    pgid: u32,
    armed: bool,
}

impl Group {
    pub fn new(pgid: u32) -> Group {
        Group { pgid, armed: true }
    }

    /// Kills every process in the group with `SIGKILL` (a group already gone is fine).
    pub async fn kill(&mut self) {
        let Some(cmd) = killer(self.pgid) else {
            return;
        };
        match tokio::process::Command::from(cmd).status().await {
            Ok(_) => self.armed = false,
            Err(e) => tracing::warn!(
                "could not kill process group {}: {e}; retrying when the call ends",
                self.pgid
            ),
        }
    }
}

impl Drop for Group {
    /// The call was cancelled (or the async kill failed): kill synchronously. This blocks the
    /// thread for the few milliseconds `kill` takes, which is the price of not leaving the
    /// group running.
    fn drop(&mut self) {
        if self.armed
            && let Some(mut cmd) = killer(self.pgid)
            && let Err(e) = cmd.status()
        {
            tracing::warn!("could not kill process group {}: {e}", self.pgid);
        }
    }
}

/// `kill -s KILL -- -PGID`, or `None` for a pgid that would not name one group.
fn killer(pgid: u32) -> Option<Command> {
    // Never 0 (our own group) or 1 (`kill -- -1` signals every process we may signal): a
    // spawned child's pid is always greater, but this guard costs nothing.
    if pgid <= 1 {
        return None;
    }
    let target = format!("-{pgid}");
    let mut cmd = match KILL_BINARIES
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.args(["-s", "KILL", "--", &target]);
            cmd
        }
        None => {
            // The builtin; the target is passed as a positional parameter, not spliced in.
            let mut cmd = Command::new(SHELL);
            cmd.args(["-c", "kill -s KILL -- \"$1\"", "sh", &target]);
            cmd
        }
    };
    cmd.env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Some(cmd)
}
