//! Step 1: the seed's menu chat in Rust, the standard library only.
//!
//! One socket on the seed's port 6666 (the optional argument: this end, 0.0.0.0:6666) and a menu: 1 sends a message to an address you type,
//! 2 waits for one message, prints it and sends it back, 3 quits. While the menu waits for
//! your choice, nobody reads the socket; while 2 waits for a message, nobody reads you.
//!
//! Terminal 1:  cargo run -p udp-chat --example step1-seed-udp-chat -- 127.0.0.1:6666
//! Terminal 2:  cargo run -p udp-chat --example step1-seed-udp-chat -- 127.0.0.1:6667

use std::io::{self, BufRead};
use std::net::UdpSocket;

fn main() -> io::Result<()> {
    let local = std::env::args().nth(1).unwrap_or("0.0.0.0:6666".into());
    // ANCHOR: all
    let socket = UdpSocket::bind(&local)?;
    println!("listening on {} (udp)", socket.local_addr()?);
    let mut lines = io::stdin().lock().lines();
    let mut ask = |question: &str| {
        println!("{question}");
        lines.next().unwrap_or(Ok(String::new()))
    };
    loop {
        match ask("choose: 1 send, 2 receive, 3 quit")?.trim() {
            "1" => {
                let ip = ask("IP address:")?;
                let port = ask("port:")?;
                let text = ask("message:")?;
                socket.send_to(text.as_bytes(), format!("{}:{}", ip.trim(), port.trim()))?;
            }
            "2" => {
                let mut buf = [0u8; 1024];
                let (len, from) = socket.recv_from(&mut buf)?;
                println!("from {from}: {}", String::from_utf8_lossy(&buf[..len]));
                socket.send_to(&buf[..len], from)?;
            }
            "3" | "" => return Ok(()),
            _ => println!("wrong choice"),
        }
    }
    // ANCHOR_END: all
}
