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
