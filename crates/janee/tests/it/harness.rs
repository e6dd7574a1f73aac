//! A running `janee serve` and a loopback upstream, for server tests.
