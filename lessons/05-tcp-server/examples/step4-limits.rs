//! Step 4: a bound on the clients served at once, in all and from one address, so that one
//! classmate's script of a thousand idle connections cannot lock everyone else out. A
//! client over the limit is accepted, told nothing, and closed at once.
//!
//! Terminal 1:  cargo run -p tcp-server --example step4-limits
//! Terminal 2:  cargo run -p tcp-client
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::{Slot, Slots};

const IDLE: Duration = Duration::from_secs(10);
/// Most clients at once, and most from one address (a class behind one NAT still fits).
const MAX_CLIENTS: usize = 4096;
const MAX_PER_ADDRESS: usize = 64;

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:10050");
    let listener = TcpListener::bind(addr)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    // ANCHOR: slots
    let slots = Slots::new(MAX_CLIENTS, MAX_PER_ADDRESS);
    loop {
        let (client, peer) = listener.accept()?;
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                println!("refused {peer}: {full}");
                continue; // Dropping `client` closes the connection.
            }
        };
        println!("accepted {peer}");
        thread::spawn(move || echo(client, peer, slot));
    }
    // ANCHOR_END: slots
}

/// Echoes until the client closes or idles; then `slot` is dropped and the place is free.
fn echo(mut client: TcpStream, peer: SocketAddr, _slot: Slot) {
    let set = client.set_read_timeout(Some(IDLE));
    if let Err(e) = set.and_then(|()| client.set_write_timeout(Some(IDLE))) {
        return println!("{peer}: {e}");
    }
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

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
