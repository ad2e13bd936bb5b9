//! Step 3: the socket is connected to the server. `send` needs no address, the kernel drops
//! datagrams from anyone else, and a "port unreachable" comes back as an error.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client --example step3-connected
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
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    // ANCHOR: connect
    socket.connect(&server)?;
    let server = socket.peer_addr()?;

    let mut buf = [0u8; 65535];
    for line in io::stdin().lock().lines() {
        let sent = socket.send(line?.as_bytes())?;
        println!("sent {sent} bytes to {server}");
        match socket.recv_from(&mut buf) {
            // A datagram queued before connect is still delivered: only its source tells.
            Ok((len, from)) if from != server => println!("ignored {len} bytes from {from}"),
            Ok((len, _)) => {
                let text = String::from_utf8_lossy(&buf[..len]);
                println!("received {len} bytes from {server}: {text}");
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                println!("nothing listens on {server}: the kernel reported \"port unreachable\"");
            }
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
    // ANCHOR_END: connect
    Ok(())
}
