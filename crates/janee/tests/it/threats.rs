//! THREATS.md classes against the real server.
