//! Step 2: a message that asks to be acknowledged, and is sent again until it is.
//!
//! Terminal 1:  cargo run -p feiq --example step3-listen -- 2425
//! Terminal 2:  cargo run -p feiq --example step2-ack -- 127.0.0.1
//!
//! Step 1 with three ideas: the command is 288, SENDMSG with SENDCHECKOPT, "please
//! acknowledge"; each packet has its own number, counted from a random start; and the
//! sender waits a second for a RECVMSG naming that number, from the address and port it
//! sent to, and sends the same packet again if none came, four tries in all.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{self, BufRead};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let port: u16 = match args.next() {
        Some(port) => port.parse().map_err(io::Error::other)?,
        None => 2425,
    };
    let peer = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))?;
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    // ANCHOR: numbers
    let mut number = RandomState::new().hash_one(()) % (1 << 31);
    for line in io::stdin().lock().lines() {
        number += 1;
        let packet = format!("1:{number}:小道士:ubuntu:288:{}\0", line?);
        let (bytes, _, _) = encoding_rs::GBK.encode(&packet);
        let delivered = (1..=4).any(|_| try_once(&socket, &bytes, peer, number));
        match delivered {
            true => println!("delivered to {peer} (acknowledged)"),
            false => println!("no acknowledgement from {peer} after 4 tries"),
        }
    }
    Ok(())
    // ANCHOR_END: numbers
}

// ANCHOR: try
/// Sends `packet` and waits a second for its acknowledgement: a RECVMSG (33, or 33 with
/// option bits) from `peer` itself, naming `number`.
fn try_once(socket: &UdpSocket, packet: &[u8], peer: SocketAddr, number: u64) -> bool {
    println!("sending to {peer}");
    if socket.send_to(packet, peer).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false, // the timeout: no acknowledgement this time
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        let fields: Vec<&str> = text.trim_end_matches('\0').splitn(6, ':').collect();
        if let [_, _, _, _, command, acked] = fields[..]
            && from == peer
            && command.parse::<u32>().is_ok_and(|c| c & 0xff == 0x21)
            && acked.parse() == Ok(number)
        {
            return true;
        }
    }
}
// ANCHOR_END: try
