//! A server for a test that cannot read its ready line, because the test sends the server's
//! stdout to `/dev/full`: then `--port 0` cannot tell the test the port. The port is chosen
//! here instead, free a moment ago; another test running at the same time may take it first,
//! and the server then exits at once with a bind error, so another port is tried.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_tcp_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `start(port)` until it listens on 127.0.0.1:port (TCP), trying another port when it
/// exits with a bind error. `start` must pipe the child's stderr, which says why it exited.
pub fn tcp_server_on_a_free_port(mut start: impl FnMut(u16) -> Child) -> (Child, SocketAddr) {
    for _ in 0..10 {
        let port = free_tcp_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = start(port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(addr).is_ok() {
                return (child, addr);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut said = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut said);
                }
                assert!(
                    said.contains("cannot bind"),
                    "the server exited ({status}) before listening: {said}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the server never listened");
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("ten ports taken by other tests before the server could bind them");
}
