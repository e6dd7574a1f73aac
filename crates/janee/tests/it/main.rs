//! Integration tests: the real `janee` binary, real files, real processes.

mod cli;
mod snapshots;
mod store;
mod util;
