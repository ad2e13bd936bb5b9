//! The attack of a log nobody reads: a server's stdout is a pipe that the reader never empties
//! (a terminal paused with Ctrl-S, `server | slow-program`). A server that writes its lines at
//! once stops in `write(1)` when the pipe's 64 KiB are full; the lessons' servers queue them
//! (`common::log`) and drop what cannot be written.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A server whose stdout nobody reads past its ready line. Kill it at the end; the pipe is
/// held, unread, until then.
pub struct Unread {
    pub server: Child,
    /// The address its ready line named.
    pub addr: SocketAddr,
    _stdout: ChildStdout,
}

/// Starts `cmd` (with `--port 0`) with its stdout a pipe, reads its ready line a byte at a
/// time, so that nothing after it is read, and never reads the pipe again.
pub fn start(cmd: &mut Command) -> Unread {
    let mut server = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let Some(mut stdout) = server.stdout.take() else {
        panic!("{cmd:?}: its stdout is not piped");
    };
    let mut ready = Vec::new();
    let mut byte = [0u8];
    while ready.last() != Some(&b'\n') && matches!(stdout.read(&mut byte), Ok(1)) {
        ready.push(byte[0]);
    }
    let ready = String::from_utf8_lossy(&ready);
    let addr = ready
        .split(' ')
        .nth(2)
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in the ready line {ready:?}"));
    Unread {
        server,
        addr,
        _stdout: stdout,
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
