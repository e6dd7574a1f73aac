//! Integration tests: the real `janee` binary, real files, real processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod e2e;
mod exec;
mod fastpath;
mod harness;
mod minted;
mod probe;
mod reload;
mod sessions;
mod signing;
mod snapshots;
mod store;
mod threats;
mod util;
