use std::process::ExitCode;

use clap::Parser;
use janee::cli::Cli;
use janee::cmd::{self, UsageError};

fn main() -> ExitCode {
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

/// mimalloc: per-thread free lists with no lock, no consolidation pass and no arena contention on
/// the request path, where glibc malloc took about a tenth of the HTTP server's CPU per call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
