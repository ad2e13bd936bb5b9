//! Step 2: every line you type is one datagram, and each waits for its reply for two
//! seconds at most: a lost datagram no longer blocks the client for ever.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client --example step2-each-line-waits
//!
//! Optional arguments: the server (127.0.0.1:8080) and this end (0.0.0.0:10086).

use std::io::{self, BufRead};
use std::net::UdpSocket;
use std::time::Duration;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or("127.0.0.1:8080".into());
    let local = args.next().unwrap_or("0.0.0.0:10086".into());

    let socket = UdpSocket::bind(&local)?;
    println!("bound to {} (udp)", socket.local_addr()?);
    // ANCHOR: timeout
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;

    let mut buf = [0u8; 65535];
    for line in io::stdin().lock().lines() {
        let sent = socket.send_to(line?.as_bytes(), &server)?;
        println!("sent {sent} bytes to {server}");
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let text = String::from_utf8_lossy(&buf[..len]);
                println!("received {len} bytes from {from}: {text}");
            }
            // The read timeout expired (Unix says WouldBlock, Windows TimedOut).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                println!("no reply within 2s");
            }
            Err(e) => return Err(e),
        }
    }
    // ANCHOR_END: timeout
    Ok(())
}
