//! The attack of a full disk under a server's log: its stdout on `/dev/full`, where every
//! write fails with ENOSPC. The servers drop what they cannot write, and say so once on stderr.

use std::fs::File;
use std::io::Read;
use std::process::Child;

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

/// The server said once, not once per line, that it drops the lines it cannot write.
pub fn said_once_it_drops_lines(said: &str) {
    assert_eq!(
        said.matches("log: lines for stdout are being dropped")
            .count(),
        1,
        "{said}"
    );
}
