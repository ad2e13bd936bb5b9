//! Step 3: the other side: show each message, and acknowledge those that ask.
//!
//! Terminal 1:  cargo run -p feiq --example step3-listen -- 2425
//! Terminal 2:  python3 xtask/peers/feiq.py 127.0.0.1 2425
//!
//! A packet is six fields separated by the first five ':'; the fourth is the command, whose
//! low byte is the mode (0x20: a message) and whose bits above are options (0x100: please
//! acknowledge). The acknowledgement, RECVMSG (0x21), carries the message's number as text
//! and goes to the address the message came from.

use std::net::UdpSocket;

use common::{Encoding, text};

fn main() -> std::io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(port) => port.parse().map_err(std::io::Error::other)?,
        None => 2425,
    };
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    println!("listening on {} (udp)", socket.local_addr()?);
    let mut buf = vec![0u8; 65535];
    let mut our_number = 0;
    loop {
        let (len, from) = socket.recv_from(&mut buf)?;
        // ANCHOR: parse
        let fields: Vec<&[u8]> = buf[..len].splitn(6, |&b| b == b':').collect();
        let [_version, number, user, host, command, extra] = fields[..] else {
            println!("not an IPMsg packet from {from}");
            continue;
        };
        let show = |bytes: &[u8]| text::show(bytes, Encoding::Gbk);
        let command: u32 = show(command).parse().unwrap_or(0);
        if command & 0xff != 0x20 {
            println!(
                "{}@{} ({from}) sent command {command}",
                show(user),
                show(host)
            );
            continue;
        }
        let message = extra.split(|&b| b == 0).next().unwrap_or_default();
        println!("{}@{} ({from}): {}", show(user), show(host), show(message));
        // ANCHOR_END: parse
        // ANCHOR: ack
        if command & 0x100 != 0 {
            our_number += 1;
            let mut ack = format!("1:{our_number}:rust:vm:33:").into_bytes();
            ack.extend_from_slice(number);
            ack.push(0);
            socket.send_to(&ack, from)?;
            println!("acknowledged packet {}", show(number));
        }
        // ANCHOR_END: ack
    }
}
