//! tcp-poll as a user runs it. The tests are tcp-async's too: see `echo_server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-poll");

mod echo_server;
