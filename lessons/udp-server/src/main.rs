//! UDP server: prints every datagram it receives and answers its sender.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: the answer goes to the address `recv_from` returned. The seed's server sends every
//! reply to one hard-coded address, so it can only ever talk to one client on one machine.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::{BindArgs, Encoding, Hexdump, Proto, text};

/// UDP server: receives datagrams, prints them and answers each sender.
/// Chapter: "UDP server".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<8080>,

    /// Answer with a line typed on stdin instead of echoing the datagram, as the seed does.
    #[arg(long)]
    interactive: bool,

    /// Receive buffer in bytes; a longer datagram is cut to it (the seed's recvfrom(1024)).
    #[arg(long, value_name = "N", default_value_t = 65535,
          value_parser = clap::value_parser!(u16).range(1..))]
    buffer: u16,

    /// Answer one datagram, then exit.
    #[arg(long)]
    once: bool,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, default_value_t)]
    encoding: Encoding,

    /// Show every datagram's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let buffer = usize::from(args.buffer);
    let mut typed = text::lines(io::stdin().lock());

    // ANCHOR: bind
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| format!("cannot bind {local}"))?;
    // With --port 0 the OS picked the port: the socket knows which one.
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    // ANCHOR_END: bind

    // ANCHOR: recv
    // One byte more than --buffer: if the kernel fills it, the datagram was longer than the
    // buffer, and UDP has silently thrown the rest away.
    let mut buf = vec![0u8; buffer + 1];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // An ICMP "port unreachable" for an earlier reply (Windows reports it here):
            // that client has gone, the others have not.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                println!("a client has gone: {e}");
                continue;
            }
            Err(e) => return Err(e).context("recv_from failed"),
        };
        let cut = len > buffer;
        let data = &buf[..len.min(buffer)];
        hexdump.received(peer, data);
        if data.is_empty() {
            println!("received 0 bytes from {peer} (an empty datagram)");
        } else {
            println!(
                "received {} bytes from {peer}: {}",
                data.len(),
                text::show(data, args.encoding)
            );
        }
        if cut {
            println!(
                "  (cut: the datagram was longer than the {buffer}-byte buffer; the rest is lost)"
            );
        }
        // ANCHOR_END: recv

        // ANCHOR: reply
        let reply = if args.interactive {
            match read_reply(&mut typed, peer, args.encoding)? {
                Some(bytes) => Cow::Owned(bytes),
                None => return Ok(()), // stdin closed: the operator has left.
            }
        } else {
            Cow::Borrowed(data)
        };
        // Send to `peer`, the address this datagram came from.
        match socket.send_to(&reply, peer) {
            Ok(sent) => {
                hexdump.sent(peer, &reply);
                println!("sent {sent} bytes to {peer}");
            }
            Err(e) => common::log_error(format_args!("cannot answer {peer}"), e),
        }
        // ANCHOR_END: reply

        if args.once {
            return Ok(());
        }
    }
}

/// Reads the operator's answer to `peer`, asking again when it cannot be encoded.
/// `None` when stdin has ended.
fn read_reply(
    typed: &mut text::Lines<io::StdinLock<'static>>,
    peer: SocketAddr,
    encoding: Encoding,
) -> anyhow::Result<Option<Vec<u8>>> {
    loop {
        if io::stdin().is_terminal() {
            eprint!("reply to {peer}> ");
            let _ = io::stderr().flush();
        }
        let Some(line) = typed.next() else {
            return Ok(None);
        };
        let line = line.context("cannot read stdin")?;
        match encoding.encode(&line) {
            Ok(bytes) => return Ok(Some(bytes.into_owned())),
            Err(e) => common::log_error("reply not sent", e),
        }
    }
}
