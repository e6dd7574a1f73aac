//! Descendants that left their call's process group (`setsid`, `setpgid`, double forks).
//!
//! A serving Janee makes itself a child subreaper ([`become_subreaper`]): when such a
//! descendant's parent exits, the kernel re-parents it to Janee instead of to PID 1. After
//! each call, [`sweep`] kills every child of Janee that is neither the direct child of a call
//! in flight nor still in the process group of one, together with its own process group, and
//! reaps it. Direct children are registered ([`spawn_registered`]) under the same lock the
//! sweep reads the children under, so a call that is just starting is never mistaken for an
//! orphan; each is the leader of its call's group, so its pid is that group's id.
//!
//! Without the subreaper (a process that never called [`become_subreaper`], such as the
//! test binaries), sweeping does nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// Whether this process is a child subreaper.
static SUBREAPER: AtomicBool = AtomicBool::new(false);
/// The pids of the direct children of the calls in flight.
static CALLS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Rounds of kill-and-reap per sweep: each round catches the children the previous round's
/// victims left behind.
const ROUNDS: usize = 8;
/// How long one sweep waits for a killed orphan to become reapable.
const REAP_WAIT: Duration = Duration::from_millis(200);

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`).
/// Returns whether that worked (Linux only).
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        let ok = nix::sys::prctl::set_child_subreaper(true).is_ok();
        SUBREAPER.store(ok, Ordering::Release);
        ok
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Spawns `cmd` and registers the child as a call's own until the returned guard drops.
pub(super) fn spawn_registered(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<(tokio::process::Child, Registered)> {
    let mut calls = CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    let child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    calls.insert(pid);
    Ok((child, Registered(pid)))
}

/// A registered direct child; unregistered on drop (after the child was reaped or killed).
#[derive(Debug)]
pub(super) struct Registered(u32);

impl Drop for Registered {
    fn drop(&mut self) {
        CALLS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// Kills and reaps every orphan re-parented to this process (see the module docs). Finding
/// none (the usual case) costs a few reads of `/proc`, done inline.
pub(super) async fn sweep() {
    if !SUBREAPER.load(Ordering::Acquire) {
        return;
    }
    let orphans = orphans();
    if orphans.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || kill_and_reap(orphans)).await;
}

/// This process's children that belong to no call in flight.
fn orphans() -> Vec<u32> {
    let calls = CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    children_of_self()
        .into_iter()
        .filter(|pid| !calls.contains(pid) && !in_group_of(&calls, *pid))
        .collect()
}

fn kill_and_reap(mut orphans: Vec<u32>) {
    for _ in 0..ROUNDS {
        if orphans.is_empty() {
            return;
        }
        for &pid in &orphans {
            let Ok(raw) = i32::try_from(pid) else {
                continue;
            };
            if raw <= 1 {
                continue;
            }
            // Its group first (a `setsid` leader took its children along), then itself.
            let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
        }
        for &pid in &orphans {
            reap(pid);
        }
        // Their own children, re-parented to us in turn.
        orphans = self::orphans();
    }
}

/// Whether `pid` is still in the process group of a call in flight (a descendant whose
/// parent exited but which stayed in the group: its call's own kill will take it).
fn in_group_of(calls: &BTreeSet<u32>, pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    nix::unistd::getpgid(Some(Pid::from_raw(raw)))
        .ok()
        .and_then(|g| u32::try_from(g.as_raw()).ok())
        .is_some_and(|g| calls.contains(&g))
}

/// Waits (briefly) for a killed orphan to exit, and reaps it.
fn reap(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    let deadline = std::time::Instant::now() + REAP_WAIT;
    loop {
        match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Reaped, not our child (any more), or still alive past the deadline (the next
            // sweep tries again).
            _ => return,
        }
    }
}

/// The children of this process's main thread, from `/proc/self/task/<pid>/children`: the
/// kernel hands orphans to the subreaper's first live thread, which in a running server is
/// the main one. (Direct children of calls belong to whichever worker spawned them; they are
/// never orphans.)
fn children_of_self() -> Vec<u32> {
    let pid = std::process::id();
    std::fs::read_to_string(format!("/proc/self/task/{pid}/children"))
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default()
}
