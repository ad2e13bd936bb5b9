//! UDP client: sends each line you type as one datagram and prints what comes back.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: `send` succeeds even when nobody listens. UDP has no connection to fail; only the
//! missing reply, or the kernel's "port unreachable", tells you.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use common::{CannotBind, ClientBindArgs, Encoding, Hexdump, HostPort, Proto, text};

/// The port of the seed's server, and of udp-server.
const SERVER_PORT: u16 = 8080;

/// The seed's client binds this port, so the seed's server knows where to answer.
const LOCAL_PORT: u16 = 10086;

/// The most bytes one UDP datagram carries over IPv4: 65,535 for the IP packet, less
/// 20 for the IP header and 8 for the UDP header.
const MAX_DATAGRAM: usize = 65_507;

/// UDP client: sends each typed line as a datagram and prints the reply.
/// Chapter: "UDP client".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server, HOST[:PORT] (port 8080 if none).
    #[arg(long, value_name = "HOST[:PORT]", default_value = "127.0.0.1")]
    to: HostPort,

    #[command(flatten)]
    local: ClientBindArgs<LOCAL_PORT>,

    /// Seconds to wait for each reply.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = common::seconds)]
    timeout: Duration,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
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
    let server = args.to.resolve_one(SERVER_PORT)?;
    let local = args.local.local_addr(server)?;

    // ANCHOR: bind
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_bound(socket.local_addr()?, Proto::Udp);
    // ANCHOR_END: bind

    // ANCHOR: connect
    // A UDP "connect" sends nothing. It fixes the peer: `send` goes there, the kernel drops
    // datagrams from anyone else that arrive from now on, and an ICMP "port unreachable"
    // comes back to us as an error.
    socket
        .connect(server)
        .with_context(|| format!("cannot use {server} as the server"))?;
    println!("sending to {server}");
    // ANCHOR_END: connect

    // ANCHOR: loop
    let mut buf = vec![0u8; 65535];
    let prompt = prompt(io::stdin().is_terminal(), &server.to_string());
    let mut typed = text::lines(io::stdin().lock());
    loop {
        eprint!("{prompt}");
        let _ = io::stderr().flush();
        let Some(line) = typed.next() else {
            break; // End of input (Ctrl-D).
        };
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
                println!(
                    "sent {} to {server}",
                    text::count(sent as u64, "byte", "bytes")
                );
            }
            Err(e) if data.len() > MAX_DATAGRAM => {
                eprintln!(
                    "error: line not sent: {} do not fit in one UDP datagram: {e}\n\
                     hint: a UDP datagram carries at most {MAX_DATAGRAM} bytes over IPv4; \
                     send less per line, or use TCP for a stream of any length",
                    text::count(data.len() as u64, "byte", "bytes")
                );
                continue;
            }
            Err(e) => {
                common::log_error(format_args!("cannot send to {server}"), e);
                continue;
            }
        }
        // Wait for one datagram from the server, for --timeout at most.
        let deadline = Instant::now() + args.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match socket.recv_from(&mut buf) {
                // `connect` filters only what arrives after it: a datagram that was queued
                // before it is still delivered. Only the source address tells.
                Ok((len, from)) if from != server => {
                    println!(
                        "ignored {} from {from}: not the server",
                        text::count(len as u64, "byte", "bytes")
                    );
                }
                Ok((len, _)) => {
                    let reply = &buf[..len];
                    hexdump.received(server, reply);
                    println!(
                        "received {} from {server}: {}",
                        text::count(len as u64, "byte", "bytes"),
                        text::show(reply, args.encoding)
                    );
                    break;
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
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    println!(
                        "nothing listens on {server}: the kernel reported \"port unreachable\""
                    );
                    break;
                }
                Err(e) => return Err(e).context("recv_from failed"),
            }
        }
    }
    // ANCHOR_END: loop
    Ok(())
}

/// The prompt before each line: where the line goes, on a terminal; nothing when the input
/// is a pipe or a file, where nobody would read it.
fn prompt(on_terminal: bool, server: &str) -> String {
    if on_terminal {
        format!("to {server}> ")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::prompt;

    #[test]
    fn prompts_only_on_a_terminal() {
        assert_eq!(prompt(true, "127.0.0.1:8080"), "to 127.0.0.1:8080> ");
        assert_eq!(prompt(false, "127.0.0.1:8080"), "");
    }
}
