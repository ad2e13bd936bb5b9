//! Step 1: the seed's Feiq sender in Rust: the standard library, and encoding_rs for GBK,
//! which std cannot write.
//!
//! Terminal 1:  cargo run -p feiq -- listen
//! Terminal 2:  cargo run -p feiq --example step1-seed-feiq -- 127.0.0.1
//!
//! As the seed's `feiq.py`: each line you type becomes the packet
//! `1:324244:小道士:ubuntu:32:` + the line, in GBK, sent to UDP port 2425 of a classmate
//! (the seed's 192.168.113.116; here the first argument, and a second one for another port).

// ANCHOR: all
use std::io::{self, BufRead};
use std::net::UdpSocket;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let port = match args.next() {
        Some(port) => port.parse().map_err(io::Error::other)?,
        None => 2425,
    };
    // Python's socket binds when it first sends; std binds here, to any port.
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    for line in io::stdin().lock().lines() {
        let packet = format!("1:324244:小道士:ubuntu:32:{}", line?);
        let (bytes, _, _) = encoding_rs::GBK.encode(&packet);
        socket.send_to(&bytes, (host.as_str(), port))?;
    }
    Ok(())
}
// ANCHOR_END: all
