//! Step 5: the listening socket made system call by system call with socket2, for the two
//! options std does not offer: SO_REUSEADDR (restart at once while old connections are in
//! TIME_WAIT) and the backlog (std always asks for 128; we ask for 4096).
//!
//! Terminal 1:  cargo run -p tcp-server --example step5-socket2
//! Terminal 2:  cargo run -p tcp-client
//!
//! What src/main.rs adds: the flags (`--port`, `--backlog`, `--max-clients` ...), text in
//! an encoding, the hex dump, a log that never blocks or panics, and a descriptor in reserve
//! for when the process runs out of them.
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::{Slot, Slots};
use socket2::{Domain, Protocol, Socket, Type};

const IDLE: Duration = Duration::from_secs(10);
const BACKLOG: i32 = 4096;

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr: SocketAddr = addr
        .as_deref()
        .unwrap_or("127.0.0.1:10050")
        .parse()
        .map_err(io::Error::other)?;
    // ANCHOR: listen
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps the backlog at net.core.somaxconn (4096 since Linux 5.4).
    socket.listen(BACKLOG)?;
    let listener = TcpListener::from(socket);
    // ANCHOR_END: listen
    println!("listening on {} (tcp)", listener.local_addr()?);
    let slots = Slots::new(4096, 64);
    loop {
        let (client, peer) = listener.accept()?;
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                println!("refused {peer}: {full}");
                continue;
            }
        };
        println!("accepted {peer}");
        thread::spawn(move || echo(client, peer, slot));
    }
}

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
