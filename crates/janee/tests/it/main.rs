//! Integration tests: the real `janee` binary, real files, real processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod snapshots;
mod store;
mod util;
