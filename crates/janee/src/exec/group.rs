//! Killing the child's whole process group with `killpg(2)` (through `nix`'s safe wrapper).
//!
//! The pgid cannot name someone else's group while the leader is unreaped (a zombie keeps
//! its pid and group id reserved), which holds for the timeout and flood kills. The kill
//! after a normal exit comes just after the leader is reaped: if other members remain, they
//! keep the id reserved; if none remain, the id could only be reused after the kernel's pid
//! counter wraps around (`/proc/sys/kernel/pid_max`), which does not happen in the
//! milliseconds in between.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

#[derive(Debug)]
pub(super) struct Group {
    pgid: u32,
    armed: bool,
}

impl Group {
    pub fn new(pgid: u32) -> Group {
        Group { pgid, armed: true }
    }

    /// SIGKILL every process still in the group. A group that is already empty is not an error.
    pub async fn kill(&mut self) {
        if signal_group(self.pgid) {
            self.armed = false;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid);
        }
    }
}

/// `killpg(pgid, SIGKILL)`; true when the group is gone (signalled, or already empty).
fn signal_group(pgid: u32) -> bool {
    // Never signal "every process" (0) or init's group (1).
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    if raw <= 1 {
        return false;
    }
    match killpg(Pid::from_raw(raw), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => true,
        Err(e) => {
            tracing::warn!("could not kill process group {pgid}: {e}");
            false
        }
    }
}
