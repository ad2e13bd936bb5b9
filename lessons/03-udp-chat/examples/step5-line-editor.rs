//! Step 5: a line editor. On a terminal, a message that arrived while you typed used to land
//! in the middle of your half-typed line. Now `common::console` gives the keyboard to a line
//! editor (rustyline) and the receiving thread a `Screen`: each message is printed above the
//! line you are typing, cut to the terminal's width, and your line is drawn again below,
//! after a prompt that names where it will go (`to 127.0.0.1:6666> `). On a pipe there is no
//! editor and no prompt: plain lines, as before.
//!
//! Optional argument: this end (0.0.0.0:6666).
//!
//! Terminal 1:  cargo run -p udp-chat --example step5-line-editor -- 127.0.0.1:6666
//! Terminal 2:  cargo run -p udp-chat --example step5-line-editor -- 127.0.0.1:6667
//!              then type /peer 127.0.0.1:6666, and a line

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use common::console;
use common::text::{self, Encoding};

fn main() -> io::Result<()> {
    let local = std::env::args().nth(1).unwrap_or("0.0.0.0:6666".into());
    let socket = UdpSocket::bind(&local)?;
    println!("listening on {} (udp)", socket.local_addr()?);

    // ANCHOR: screen
    let (mut keyboard, mut screen) = console::open();
    // ANCHOR_END: screen
    // Whoever wrote last: the receiving thread writes it, /reply reads it.
    let last_sender = Arc::new(Mutex::new(None::<SocketAddr>));
    let (receiver, last) = (socket.try_clone()?, Arc::clone(&last_sender));
    thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while let Ok((len, from)) = receiver.recv_from(&mut buf) {
            // Remembered before it is shown: a /reply typed after seeing it finds its sender.
            *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
            // ANCHOR: line
            screen.line(format_args!(
                "from {from}: {}",
                text::show(&buf[..len], Encoding::Utf8)
            ));
            // ANCHOR_END: line
        }
    });

    let mut peer: Option<SocketAddr> = None;
    // ANCHOR: prompt
    loop {
        let prompt = match peer {
            Some(peer) => format!("to {peer}> "),
            None => "(no peer: /peer ADDR)> ".to_string(),
        };
        let Some(line) = keyboard.read_line(&prompt) else {
            break;
        };
        let line = line?;
        // ANCHOR_END: prompt
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
