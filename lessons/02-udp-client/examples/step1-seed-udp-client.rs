//! Step 1: the seed's UDP client in Rust, the standard library only.
//!
//! Binds the seed's port 10086, sends the line you type to the server as one datagram, then
//! prints every datagram that comes back, with its sender, until you press Ctrl-C.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client --example step1-seed-udp-client
//!
//! Optional arguments: the server (127.0.0.1:8080) and this end (0.0.0.0:10086).

use std::io;
use std::net::UdpSocket;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or("127.0.0.1:8080".into());
    let local = args.next().unwrap_or("0.0.0.0:10086".into());

    // ANCHOR: all
    let socket = UdpSocket::bind(&local)?;
    println!("bound to {} (udp)", socket.local_addr()?);

    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    socket.send_to(line.trim_end().as_bytes(), &server)?;

    let mut buf = [0u8; 1024];
    loop {
        let (len, from) = socket.recv_from(&mut buf)?;
        println!("{from}");
        println!("{}", String::from_utf8_lossy(&buf[..len]));
    }
    // ANCHOR_END: all
}
