//! Step 3: a client that says nothing, or never reads its echo, cannot hold its thread for
//! ever: SO_RCVTIMEO and SO_SNDTIMEO make a read or write that waits too long fail.
//!
//! Terminal 1:  cargo run -p tcp-server --example step3-timeouts
//! Terminal 2:  nc 127.0.0.1 10050      (and type nothing for 10 s)
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// How long a client may send nothing, or read none of its echo.
const IDLE: Duration = Duration::from_secs(10);

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:10050");
    let listener = TcpListener::bind(addr)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    loop {
        let (client, peer) = listener.accept()?;
        println!("accepted {peer}");
        thread::spawn(move || echo(client, peer));
    }
}

fn echo(mut client: TcpStream, peer: SocketAddr) {
    // ANCHOR: timeouts
    // A read that waits longer than IDLE for a byte, or a write that waits longer for room
    // in the send buffer, fails with WouldBlock (EAGAIN) instead of blocking for ever.
    let set = client.set_read_timeout(Some(IDLE));
    if let Err(e) = set.and_then(|()| client.set_write_timeout(Some(IDLE))) {
        return println!("{peer}: {e}");
    }
    // ANCHOR_END: timeouts
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) => break println!("{peer} closed the connection (FIN)"),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => break println!("{peer} sent nothing for {IDLE:?}"),
            Err(e) => break println!("{peer}: {e}"),
        };
        println!(
            "received {n} bytes from {peer}: b'{}'",
            buf[..n].escape_ascii()
        );
        match client.write_all(&buf[..n]) {
            Ok(()) => {}
            Err(e) if is_timeout(&e) => {
                break println!("{peer} read none of its echo for {IDLE:?}");
            }
            Err(e) => break println!("{peer}: {e}"),
        }
    }
}

/// A socket timeout: EAGAIN on Linux (`WouldBlock`), `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
