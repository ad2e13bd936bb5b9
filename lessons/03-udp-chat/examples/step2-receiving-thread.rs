//! Step 2: a thread receives and prints every message as it arrives, while the main thread
//! sends each line you type to one peer. Neither waits for the other.
//!
//! Optional arguments: this end (0.0.0.0:6666) and the peer (127.0.0.1:6667).
//!
//! Terminal 1:  cargo run -p udp-chat --example step2-receiving-thread -- 127.0.0.1:6666 127.0.0.1:6667
//! Terminal 2:  cargo run -p udp-chat --example step2-receiving-thread -- 127.0.0.1:6667 127.0.0.1:6666

use std::io::{self, BufRead};
use std::net::UdpSocket;
use std::thread;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let local = args.next().unwrap_or("0.0.0.0:6666".into());
    let peer = args.next().unwrap_or("127.0.0.1:6667".into());
    let socket = UdpSocket::bind(&local)?;
    println!("listening on {} (udp)", socket.local_addr()?);

    // ANCHOR: thread
    // A second handle on the same socket, for the thread that blocks in recv_from.
    let receiver = socket.try_clone()?;
    thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while let Ok((len, from)) = receiver.recv_from(&mut buf) {
            println!("from {from}: {}", String::from_utf8_lossy(&buf[..len]));
        }
    });
    for line in io::stdin().lock().lines() {
        let sent = socket.send_to(line?.as_bytes(), &peer)?;
        println!("sent {sent} bytes to {peer}");
    }
    // ANCHOR_END: thread
    Ok(())
}
