//! tcp-async as a user runs it: tcp-server's tests of the echo wire (`echo_server`), the same
//! server written with tokio, and its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-async");

testkit::echo_server_suite!(env!("CARGO_BIN_EXE_tcp-async"));
#[path = "../../09-tcp-poll/tests/one_thread/mod.rs"]
mod one_thread;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use testkit::{Failure, Scene, Stream};

#[test]
fn a_max_clients_larger_than_any_machine_serves_instead_of_panicking() -> Result<(), Failure> {
    // tokio's semaphore counts at most 2^61 - 1 permits and panics past that: the user's
    // number must not reach it as it is.
    let mut s = Scene::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--max-clients", &usize::MAX.to_string()]);
    let (p, addr) = s.start("server", cmd)?;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"big").unwrap();
    let mut back = [0u8; 3];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"big");
    s.expect(p, "received 3 bytes")?;
    let stderr = s.output(p, Stream::Stderr);
    assert!(stderr.is_empty(), "{stderr:?}");
    Ok(())
}
