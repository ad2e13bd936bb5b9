//! Step 1: the seed's UDP server in Rust, with the standard library only.
//!
//! Terminal 1:  cargo run -p udp-server --example step1-seed-udp-server
//! Terminal 2:  python3 xtask/peers/udp_client.py 127.0.0.1 8080
//!
//! As the seed's `udp_server.py`: bind port 8080, receive a datagram (at most 1024 bytes),
//! print who sent it and what, read the line you type, send it. One change: the seed answers
//! one fixed address, 192.168.113.119:10086; this answers the sender. A first argument
//! chooses another port (0: the OS chooses), and the first line says which.

// ANCHOR: all
use std::io::{self, BufRead};
use std::net::UdpSocket;

fn main() -> io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(port) => port.parse().map_err(io::Error::other)?,
        None => 8080,
    };
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    println!("listening on {} (udp)", socket.local_addr()?);

    let mut typed = io::stdin().lock().lines();
    let mut buf = [0u8; 1024];
    loop {
        let (len, peer) = socket.recv_from(&mut buf)?;
        println!("{peer}");
        println!("{}", String::from_utf8_lossy(&buf[..len]));
        let Some(reply) = typed.next() else {
            return Ok(()); // stdin has ended
        };
        socket.send_to(reply?.as_bytes(), peer)?;
    }
}
// ANCHOR_END: all
