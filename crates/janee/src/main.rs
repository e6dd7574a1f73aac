use std::process::ExitCode;

use clap::Parser;
use janee::cli::Cli;
use janee::cmd::{self, UsageError};

fn main() -> ExitCode {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the outermost message and its causes, joined.
            eprintln!("janee: {}", format!("{e:#}").replace('\n', " "));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Large buffers (an upstream body of several megabytes, its tool result text) are mapped and
/// unmapped on their own. Left to itself, glibc raises its mmap threshold after the first such
/// buffer is freed and keeps later ones in per-thread heaps, where the freed pages stay resident:
/// peak memory then grows with each large response handled on another worker thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it is called once, before any other
    // thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}
