//! The attack of a full disk under a server's log: its stdout on `/dev/full`, where every
//! write fails with ENOSPC. The servers drop what they cannot write, and say so once on stderr;
//! the clients stop with an error ([`run_client`], [`stopped_with_an_error`]).

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// `/dev/full`, for a child's stdout.
pub fn full() -> File {
    File::options()
        .write(true)
        .open("/dev/full")
        .unwrap_or_else(|e| panic!("cannot open /dev/full: {e}"))
}

/// Stops `server`: whether it was still running, and everything it wrote on stderr (piped).
pub fn stop(server: &mut Child) -> (bool, String) {
    let alive = matches!(server.try_wait(), Ok(None));
    let _ = server.kill();
    let _ = server.wait();
    let mut said = String::new();
    if let Some(mut err) = server.stderr.take() {
        let _ = err.read_to_string(&mut said);
    }
    (alive, said)
}

/// [`stop`], once the server has said that it drops lines (or `within` has passed): its log
/// is written by a thread of its own, which may not have met the full disk yet when the last
/// answer came (udp-server and feiq listen, whose log is so written since attack12).
pub fn stop_once_said(server: &mut Child, within: Duration) -> (bool, String) {
    let Some(mut err) = server.stderr.take() else {
        return stop(server);
    };
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let (mut said, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = err.read(&mut buf) {
            said.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&said).contains(DROPPING));
        }
        String::from_utf8_lossy(&said).into_owned()
    });
    let deadline = Instant::now() + within;
    while let Ok(false) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {}
    let alive = matches!(server.try_wait(), Ok(None));
    let _ = server.kill();
    let _ = server.wait();
    (alive, reader.join().unwrap_or_default())
}

/// What a server says on stderr when its log drops lines.
const DROPPING: &str = "log: lines for stdout are being dropped";

/// The server said once, not once per line, that it drops the lines it cannot write.
pub fn said_once_it_drops_lines(said: &str) {
    assert_eq!(said.matches(DROPPING).count(), 1, "{said}");
}

/// Runs a client with its stdout on `/dev/full` and `input` on its stdin, and returns its exit
/// code (`None`: killed by a signal, or still running after `within` and killed) and what it
/// wrote on stderr.
pub fn run_client(mut cmd: Command, input: &[u8], within: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(full())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // A client that has already stopped reads no more: a failed write is its answer.
        let _ = stdin.write_all(input);
    }
    let (tx, rx) = mpsc::channel();
    if let Some(mut err) = child.stderr.take() {
        thread::spawn(move || {
            let mut said = String::new();
            let _ = err.read_to_string(&mut said);
            let _ = tx.send(said);
        });
    }
    // Its stderr ends when it exits: the wait for it is the wait for the client, bounded.
    let said = rx.recv_timeout(within).unwrap_or_default();
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let code = child.wait().ok().and_then(|status| status.code());
    (code, said)
}

/// A client whose stdout could not take its output said so and ended with status 1: not
/// with a panic (101), and not with 0 as if the user had seen it all.
pub fn stopped_with_an_error(code: Option<i32>, said: &str) {
    assert_eq!(code, Some(1), "exit code; stderr:\n{said}");
    assert!(
        said.contains("error: cannot write to stdout: No space left on device"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
}
