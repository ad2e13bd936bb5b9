//! Step 4: what a peer sends is shown, never obeyed. Step 3 printed the datagram's text as it
//! came, so a peer could send terminal escape sequences (clear your screen, colour it, move
//! the cursor) or a newline that starts a line of its own. Here every datagram goes through
//! `common::text::show`, the one printer for peer text: control and invisible formatting
//! characters are escaped (`\u{1b}`), bytes that are not UTF-8 show as U+FFFD with a note,
//! and an empty datagram shows as `[0 bytes]`.
//!
//! Optional argument: this end (0.0.0.0:6666).
//!
//! Terminal 1:  cargo run -p udp-chat --example step4-escaping -- 127.0.0.1:6666
//! Terminal 2:  printf 'red\033[31m alert\n' | nc -u -q1 127.0.0.1 6666

use std::io::{self, BufRead};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use common::text::{self, Encoding};

fn main() -> io::Result<()> {
    let local = std::env::args().nth(1).unwrap_or("0.0.0.0:6666".into());
    let socket = UdpSocket::bind(&local)?;
    println!("listening on {} (udp)", socket.local_addr()?);

    // Whoever wrote last: the receiving thread writes it, /reply reads it.
    let last_sender = Arc::new(Mutex::new(None::<SocketAddr>));
    let (receiver, last) = (socket.try_clone()?, Arc::clone(&last_sender));
    thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while let Ok((len, from)) = receiver.recv_from(&mut buf) {
            // Remembered before it is shown: a /reply typed after seeing it finds its sender.
            *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
            // ANCHOR: show
            println!("from {from}: {}", text::show(&buf[..len], Encoding::Utf8));
            // ANCHOR_END: show
        }
    });

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
    Ok(())
}
