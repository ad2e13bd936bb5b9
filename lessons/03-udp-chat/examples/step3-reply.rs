//! Step 3: whom a line goes to. A plain line goes to the current peer; `/peer ADDR` names
//! another and `/reply` turns to whoever wrote last, and each says "now talking to ...".
//! `/reply` itself sends nothing: a line goes only to the peer named before it was typed,
//! never to a stranger whose datagram arrived a moment before Enter.
//!
//! Optional argument: this end (0.0.0.0:6666).
//!
//! Terminal 1:  cargo run -p udp-chat --example step3-reply -- 127.0.0.1:6666
//! Terminal 2:  cargo run -p udp-chat --example step3-reply -- 127.0.0.1:6667
//!              then type /peer 127.0.0.1:6666, and a line

use std::io::{self, BufRead};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

fn main() -> io::Result<()> {
    let local = std::env::args().nth(1).unwrap_or("0.0.0.0:6666".into());
    let socket = UdpSocket::bind(&local)?;
    println!("listening on {} (udp)", socket.local_addr()?);

    // ANCHOR: last
    // Whoever wrote last: the receiving thread writes it, /reply reads it.
    let last_sender = Arc::new(Mutex::new(None::<SocketAddr>));
    let (receiver, last) = (socket.try_clone()?, Arc::clone(&last_sender));
    thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while let Ok((len, from)) = receiver.recv_from(&mut buf) {
            // Remembered before it is shown: a /reply typed after seeing it finds its sender.
            *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
            println!("from {from}: {}", String::from_utf8_lossy(&buf[..len]));
        }
    });
    // ANCHOR_END: last

    // ANCHOR: peer
    let mut peer: Option<SocketAddr> = None;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let named = if let Some(addr) = line.strip_prefix("/peer ") {
            addr.to_socket_addrs().ok().and_then(|mut all| all.next())
        } else if line == "/reply" {
            *last_sender.lock().unwrap_or_else(PoisonError::into_inner)
        } else if let Some(to) = peer {
            let sent = socket.send_to(line.as_bytes(), to)?;
            println!("sent {sent} bytes to {to}");
            continue;
        } else {
            println!("no peer yet: /peer HOST:PORT, or /reply once someone writes");
            continue;
        };
        match named {
            Some(addr) => println!("now talking to {addr}"),
            None => println!("nobody to talk to: {line}"),
        }
        peer = named.or(peer);
    }
    // ANCHOR_END: peer
    Ok(())
}
