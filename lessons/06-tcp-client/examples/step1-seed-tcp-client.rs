//! Step 1: the seed's TCP client in Rust, the standard library only.
//!
//! Connects to the server, then for each line you type: sends it, reads once (at most 10
//! bytes, the seed's recv(10)) and prints what came, until the server closes.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client --example step1-seed-tcp-client
//!
//! Optional argument: the server (127.0.0.1:10050).

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;

fn main() -> io::Result<()> {
    let server = std::env::args().nth(1).unwrap_or("127.0.0.1:10050".into());
    // ANCHOR: all
    let mut stream = TcpStream::connect(&server)?;
    println!(
        "connected to {} from {}",
        stream.peer_addr()?,
        stream.local_addr()?
    );
    for line in io::stdin().lock().lines() {
        stream.write_all(line?.as_bytes())?;
        let mut buf = [0u8; 10];
        let len = stream.read(&mut buf)?;
        if len == 0 {
            println!("the server closed the connection");
            break;
        }
        println!("received: {}", String::from_utf8_lossy(&buf[..len]));
    }
    // ANCHOR_END: all
    Ok(())
}
