//! tcp-async as a user runs it: the same tests as tcp-poll's, the same server written with tokio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-async");

#[path = "../../tcp-poll/tests/echo_server/mod.rs"]
mod echo_server;
