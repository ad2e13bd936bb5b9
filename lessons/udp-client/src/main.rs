//! UDP client: sends each line you type as one datagram and prints what comes back.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: `send` succeeds even when nobody listens. UDP has no connection to fail; only the
//! missing reply, or the kernel's "port unreachable", tells you.
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::{Encoding, Hexdump, HostPort, Proto, text};

/// The seed's client binds this port, so the seed's server knows where to answer.
const LOCAL_PORT: u16 = 10086;

/// UDP client: sends each typed line as a datagram and prints the reply.
/// Chapter: "UDP client".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server, HOST[:PORT].
    #[arg(value_name = "SERVER", default_value = "127.0.0.1:8080")]
    server: HostPort,

    /// Local address, HOST[:PORT] [default: every interface, port 10086, as in the seed].
    /// `--bind 127.0.0.1:0` lets the OS choose the port.
    #[arg(long, value_name = "ADDR")]
    bind: Option<HostPort>,

    /// Seconds to wait for each reply.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = common::seconds)]
    timeout: Duration,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, default_value_t)]
    encoding: Encoding,

    /// Show every datagram's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

fn main() -> ExitCode {
    common::run(chat_with_server)
}

fn chat_with_server(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let server = args.server.resolve_one(8080)?;
    let local = match &args.bind {
        Some(bind) => bind.resolve_one(LOCAL_PORT)?,
        None => SocketAddr::new(common::addr::unspecified_for(server), LOCAL_PORT),
    };

    // ANCHOR: bind
    let socket = UdpSocket::bind(local).with_context(|| format!("cannot bind {local}"))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    // ANCHOR_END: bind

    // ANCHOR: connect
    // A UDP "connect" sends nothing. It fixes the peer: `send` goes there, `recv` takes only
    // its datagrams, and an ICMP "port unreachable" comes back to us as an error.
    socket
        .connect(server)
        .with_context(|| format!("cannot use {server} as the server"))?;
    socket.set_read_timeout(Some(args.timeout))?;
    // ANCHOR_END: connect

    // ANCHOR: loop
    let mut buf = vec![0u8; 65535];
    for line in text::lines(io::stdin().lock()) {
        let line = line.context("cannot read stdin")?;
        let data = match args.encoding.encode(&line) {
            Ok(data) => data,
            Err(e) => {
                common::log_error("line not sent", e);
                continue;
            }
        };
        match socket.send(&data) {
            Ok(sent) => {
                hexdump.sent(server, &data);
                println!("sent {sent} bytes to {server}");
            }
            Err(e) => {
                common::log_error(format_args!("cannot send to {server}"), e);
                continue;
            }
        }
        match socket.recv(&mut buf) {
            Ok(len) => {
                let reply = &buf[..len];
                hexdump.received(server, reply);
                if reply.is_empty() {
                    println!("received 0 bytes from {server} (an empty datagram)");
                } else {
                    let shown = text::show(reply, args.encoding);
                    println!("received {len} bytes from {server}: {shown}");
                }
            }
            // The read timeout expired (Unix says WouldBlock, Windows TimedOut).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                println!(
                    "no reply from {server} within {:?} (UDP promises nothing: \
                     the datagram or its answer may be lost, or nobody answers)",
                    args.timeout
                );
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                println!("nothing listens on {server}: the kernel reported \"port unreachable\"");
            }
            Err(e) => return Err(e).context("recv failed"),
        }
    }
    // ANCHOR_END: loop
    Ok(())
}
