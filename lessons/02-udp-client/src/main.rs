//! UDP client: sends each line you type as one datagram and prints what comes back.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: `send` succeeds even when nobody listens. UDP has no connection to fail; only the
//! missing reply, or the kernel's "port unreachable", tells you.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use common::console::{self, Screen};
use common::net::{DATAGRAM_TOO_BIG_HINT, MAX_DATAGRAM, is_timeout};
use common::{CannotBind, ClientBindArgs, Encoding, Hexdump, HostPort, Proto, text};

/// The port of the seed's server, and of udp-server.
const SERVER_PORT: u16 = 8080;

/// The seed's client binds this port, so the seed's server knows where to answer.
const LOCAL_PORT: u16 = 10086;

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

/// The client: its socket, connected to the server, and where it prints.
struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    encoding: Encoding,
    timeout: Duration,
    hexdump: Hexdump,
    screen: Screen,
}

fn chat_with_server(args: Args) -> anyhow::Result<()> {
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
    common::sayln!("sending to {server}");
    // ANCHOR_END: connect

    // ANCHOR: loop
    // On a terminal, a line editor shows the prompt (and ends the line when you press
    // Ctrl-D); from a pipe or a file, lines come without one.
    let (mut keyboard, screen) = console::open();
    let mut client = Client {
        socket,
        server,
        encoding: args.encoding,
        timeout: args.timeout,
        hexdump: Hexdump::new(args.hexdump),
        screen,
    };
    let mut buf = vec![0u8; 65535];
    while let Some(line) = keyboard.read_line(&format!("to {server}> ")) {
        let line = line.context("cannot read stdin")?;
        if client.send(&line) {
            client.wait_for_reply(&mut buf)?;
        }
    }
    // ANCHOR_END: loop
    Ok(())
}

impl Client {
    // ANCHOR: send
    /// Sends one line as one datagram; says whether it went.
    fn send(&mut self, line: &str) -> bool {
        // The kernel keeps an ICMP "port unreachable" that came after the last wait (a late
        // one, or one forged by anyone who knows both ports) for the socket's next call, and
        // `send` would fail with it, its datagram not sent. It concerns an earlier datagram.
        if let Ok(Some(_)) = self.socket.take_error() {
            self.screen.line(format_args!(
                "(a \"port unreachable\" about an earlier datagram was pending: ignored)"
            ));
        }
        let server = self.server;
        let data = match self.encoding.encode(line) {
            Ok(data) => data,
            Err(e) => {
                common::log_error("line not sent", e);
                return false;
            }
        };
        match self.socket.send(&data) {
            Ok(sent) => {
                self.hexdump.sent(server, &data);
                let sent = text::count(sent as u64, "byte", "bytes");
                self.screen.line(format_args!("sent {sent} to {server}"));
                true
            }
            Err(e) if data.len() > MAX_DATAGRAM => {
                eprintln!(
                    "error: line not sent: {} do not fit in one UDP datagram: {e}\n\
                     hint: {DATAGRAM_TOO_BIG_HINT}",
                    text::count(data.len() as u64, "byte", "bytes")
                );
                false
            }
            Err(e) => {
                common::log_error(format_args!("cannot send to {server}"), e);
                false
            }
        }
    }
    // ANCHOR_END: send

    // ANCHOR: reply
    /// Waits for one datagram from the server, for --timeout at most.
    fn wait_for_reply(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let (server, timeout) = (self.server, self.timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.socket.recv_from(buf) {
                // `connect` filters only what arrives after it: a datagram that was queued
                // before it is still delivered. Only the source address tells.
                Ok((len, from)) if from != server => {
                    let len = text::count(len as u64, "byte", "bytes");
                    self.screen
                        .line(format_args!("ignored {len} from {from}: not the server"));
                }
                Ok((len, _)) => {
                    let reply = &buf[..len];
                    self.hexdump.received(server, reply);
                    self.screen.line(format_args!(
                        "received {} from {server}: {}",
                        text::count(len as u64, "byte", "bytes"),
                        // At most 1,024 bytes: one reply of 65,507 control characters,
                        // each an escape, filled 4,368 rows of an 80-column terminal.
                        text::show_capped(reply, self.encoding, common::limit::SHOWN_BYTES)
                    ));
                    return Ok(());
                }
                // Ctrl-Z then fg: Linux ends a receive that has a timeout with EINTR, even
                // without a signal handler. Wait again, until the same deadline.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    self.screen.line(format_args!(
                        "no reply from {server} within {timeout:?} (UDP promises nothing: \
                         the datagram or its answer may be lost, or nobody answers)"
                    ));
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.screen.line(format_args!(
                        "nothing listens on {server}: the kernel reported \"port unreachable\""
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e).context("recv_from failed"),
            }
        }
    }
    // ANCHOR_END: reply
}
