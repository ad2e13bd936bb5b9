//! TCP client: sends each line you type and prints whatever the server sends, as it arrives.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a read returns the bytes that have arrived so far, not "the answer to what you
//! sent". A byte stream has no message boundaries; a protocol must make its own.

mod channel;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender, SyncSender};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use common::console::{self, Keyboard, Screen};
use common::net::{self, is_timeout};
use common::text::StreamDecoder;
use common::{ClientBindArgs, Encoding, Hexdump, HostPort, text};

/// TCP client: sends typed lines to a server and prints what comes back.
/// Chapters: "TCP client" and "A connection's life".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server, HOST[:PORT] (port 10050 unless given).
    #[arg(long, value_name = "HOST[:PORT]", default_value = "127.0.0.1")]
    to: HostPort,

    /// This end's address. Without --bind or --port, connect() chooses both.
    #[command(flatten)]
    local: ClientBindArgs<0>,

    /// Seconds to wait for the server: to answer the connection request, to take anything
    /// of what we send, and, after our FIN, to send or close.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
    timeout: Duration,

    /// Read at most N bytes at a time (the seed's recv(10) is --buffer 10).
    #[arg(long, value_name = "N", default_value_t = 16384,
          value_parser = clap::value_parser!(u16).range(1..))]
    buffer: u16,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
    encoding: Encoding,

    /// Show every chunk's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

/// The seed's server port.
const ECHO_PORT: u16 = 10050;

/// Where the two threads send their events.
type Tx = Sender<Event>;

fn main() -> ExitCode {
    common::run(talk)
}

// ANCHOR: event
/// What the loop waits for: from the keyboard's thread, and from the socket's.
enum Event {
    /// A line you typed.
    Typed(String),
    /// End of input (Ctrl-D), or stdin failed.
    EndOfInput(Option<io::Error>),
    /// Bytes from the server, as one read returned them.
    Received(Vec<u8>),
    /// The server sent FIN: it will send nothing more.
    Closed,
    /// The connection failed (a reset, say).
    Failed(io::Error),
    /// The server's FIN while input still comes from a pipe or a file (see `channel.rs`).
    ServerFin,
}
// ANCHOR_END: event

fn talk(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let addrs = args.to.resolve(ECHO_PORT)?;

    // ANCHOR: connect
    let stream = connect(&addrs, &args.local, args.timeout)?;
    let server = stream.peer_addr()?;
    // A write that the server takes nothing of for --timeout fails instead of blocking for
    // ever (a server that never reads fills its receive buffer, then our send buffer).
    stream.set_write_timeout(Some(args.timeout))?;
    let (keyboard, mut screen) = console::open();
    screen.line(format_args!(
        "connected to {server} from {}",
        stream.local_addr()?
    ));
    // ANCHOR_END: connect

    // ANCHOR: threads
    // One channel, two threads that send to it: the keyboard's and the socket's. Each blocks
    // in its own call; this thread handles whatever comes first. A read first takes one of 16
    // tokens from `window`, given back when this thread takes the read: a screen slower than
    // the server holds the socket's thread, then (TCP's window) the server, not our memory.
    // What you type never waits behind the server's reads.
    let (events, next) = mpsc::channel();
    let (window, shown) = mpsc::sync_channel(16);
    // Lines from a pipe or a file take a token too, given back as each is sent: a server
    // that takes our bytes slowly holds the input, not our memory. (A person types slower.)
    let (typed, sent) = mpsc::sync_channel(16);
    let typed = matches!(keyboard, Keyboard::Lines(_)).then_some(typed);
    let next = channel::Next::new(next, shown, sent, args.timeout);
    let incoming = stream.try_clone()?;
    let buffer = usize::from(args.buffer);
    let socket_events = events.clone();
    thread::spawn(move || read_socket(incoming, buffer, &socket_events, &window));
    thread::spawn(move || read_keyboard(keyboard, &events, typed.as_ref()));
    // ANCHOR_END: threads

    // ANCHOR: loop
    // The decoder keeps a character that a read cut in two until the rest arrives.
    let mut decoder = args.encoding.stream_decoder();
    while let Ok(event) = next.recv() {
        match event {
            Event::Typed(line) => send(&stream, &line, &args, hexdump)?,
            Event::EndOfInput(error) => {
                if let Some(e) = error {
                    common::log_error("cannot read stdin", e);
                }
                // shutdown(Write) sends FIN: "I will send nothing more". The socket can
                // still read, so the last echoes arrive, and then the server's own FIN.
                screen.line(
                    "end of input: sending FIN (shutdown Write), reading until the server closes",
                );
                stream
                    .shutdown(Shutdown::Write)
                    .context("cannot shut down the sending side")?;
            }
            Event::Received(data) => {
                hexdump.received(server, &data);
                let count = text::count(data.len() as u64, "byte", "bytes");
                screen.line(format_args!(
                    "received {count}: {}",
                    decoder.show(&data, false)
                ));
            }
            Event::Closed => return closed(decoder, &mut screen),
            Event::Failed(e) => {
                screen.end_editing();
                return Err(e).context(format!("connection with {server} failed"));
            }
            Event::ServerFin => screen.line("the server sent FIN; sending the rest of the input"),
        }
    }
    Err(anyhow!("both reading threads ended"))
    // ANCHOR_END: loop
}

/// The server's FIN: what the decoder still holds, and the news.
fn closed(mut decoder: StreamDecoder, screen: &mut Screen) -> anyhow::Result<()> {
    // You may be typing: the program ends without waiting for your line.
    screen.end_editing();
    let rest = decoder.show(&[], true);
    if !rest.is_empty() {
        screen.line(format_args!(
            "(the stream ended inside a character: {rest})"
        ));
    }
    screen.line("the server closed the connection (FIN)");
    Ok(())
}

// ANCHOR: send
/// Sends one typed line and its newline, with one write.
fn send(mut stream: &TcpStream, line: &str, args: &Args, hexdump: Hexdump) -> anyhow::Result<()> {
    // After a reset, the socket has no peer any more (ENOTCONN).
    let server = stream.peer_addr().context("cannot send")?;
    let mut data = match args.encoding.encode(line) {
        Ok(data) => data.into_owned(),
        Err(e) => {
            common::log_error("line not sent", e);
            return Ok(());
        }
    };
    data.push(b'\n');
    match stream.write_all(&data) {
        Ok(()) => {
            hexdump.sent(server, &data);
            Ok(())
        }
        Err(e) if is_timeout(&e) => {
            bail!(
                "cannot send to {server}: the server has taken nothing for {:?} (a server that \
                 does not read fills its receive buffer, and then our send buffer)",
                args.timeout
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot send to {server}")),
    }
}
// ANCHOR_END: send

// ANCHOR: read_socket
/// Sends to the loop what arrives on `stream`, until the server closes it or it fails; each
/// read first takes a token from `window`, so that at most 16 wait to be shown.
fn read_socket(mut stream: TcpStream, buffer: usize, events: &Tx, window: &SyncSender<()>) {
    let mut buf = vec![0u8; buffer];
    while window.send(()).is_ok() {
        // `retry`: a read interrupted by a signal (Ctrl-Z, fg) is simply made again.
        let event = match net::retry(|| stream.read(&mut buf)) {
            // Ok(0): the server sent FIN, it will send nothing more.
            Ok(0) => Event::Closed,
            Ok(len) => Event::Received(buf[..len].to_vec()),
            Err(e) => Event::Failed(e),
        };
        let last = matches!(event, Event::Closed | Event::Failed(_));
        if events.send(event).is_err() || last {
            return;
        }
    }
}
// ANCHOR_END: read_socket

/// Sends to the loop each line you type, and then the end of input; from a pipe, each line
/// first takes a token from `window`.
fn read_keyboard(mut keyboard: Keyboard, events: &Tx, window: Option<&SyncSender<()>>) {
    while window.is_none_or(|window| window.send(()).is_ok()) {
        let event = match keyboard.read_line("> ") {
            Some(Ok(line)) => Event::Typed(line),
            Some(Err(e)) => Event::EndOfInput(Some(e)),
            None => Event::EndOfInput(None),
        };
        let last = matches!(event, Event::EndOfInput(_));
        if events.send(event).is_err() || last {
            return;
        }
    }
}

// ANCHOR: connect_fn
/// Connects to the first of `addrs` that accepts: `localhost` has an IPv6 and an IPv4 address.
/// With --bind or --port, the socket is bound to that address first.
fn connect(
    addrs: &[SocketAddr],
    local: &ClientBindArgs<0>,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let mut failure = anyhow!("the name resolved to no address");
    for &addr in addrs {
        let me = match local.is_default() {
            true => None,
            false => Some(local.local_addr(addr)?),
        };
        match net::connect(addr, me, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => failure = e,
        }
    }
    Err(failure)
}
// ANCHOR_END: connect_fn
