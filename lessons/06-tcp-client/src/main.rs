//! TCP client: sends each line you type and prints whatever the server sends, as it arrives.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a read returns the bytes that have arrived so far, not "the answer to what you
//! sent". A byte stream has no message boundaries; a protocol must make its own.
#![forbid(unsafe_code)]

mod console;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Parser;
use common::{CannotBind, CannotConnect, ClientBindArgs, Encoding, Hexdump, HostPort, Proto, text};
use socket2::{Domain, Protocol, Socket, Type};

use crate::console::Console;

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

    /// Seconds to wait for the server to answer the connection request.
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

fn main() -> ExitCode {
    common::run(talk)
}

fn talk(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let console = Arc::new(Console::stdout());
    let addrs = args.to.resolve(ECHO_PORT)?;

    // ANCHOR: connect
    let stream = connect(&addrs, &args.local, args.timeout)?;
    let server = stream.peer_addr()?;
    console.line(format_args!(
        "connected to {server} from {}",
        stream.local_addr()?
    ));
    // ANCHOR_END: connect

    // ANCHOR: reader
    // A second handle on the same socket, for a thread that prints what arrives while this
    // one waits for what you type.
    let incoming = stream.try_clone()?;
    let typing_done = Arc::new(AtomicBool::new(false));
    let printer = {
        let typing_done = Arc::clone(&typing_done);
        let console = Arc::clone(&console);
        let buffer = usize::from(args.buffer);
        thread::spawn(move || {
            let result = print_incoming(incoming, server, buffer, args.encoding, hexdump, &console);
            stop_early(&typing_done, &console, result)
        })
    };
    // ANCHOR_END: reader

    // ANCHOR: send
    let mut outgoing = &stream;
    console.prompt();
    for line in text::lines(io::stdin().lock()) {
        let line = line.context("cannot read stdin")?;
        console.typed();
        let mut data = match args.encoding.encode(&line) {
            Ok(data) => data.into_owned(),
            Err(e) => {
                common::log_error("line not sent", e);
                console.prompt();
                continue;
            }
        };
        data.push(b'\n');
        outgoing
            .write_all(&data)
            .with_context(|| format!("cannot send to {server}"))?;
        hexdump.sent(server, &data);
        console.prompt();
    }
    // ANCHOR_END: send

    // ANCHOR: shutdown
    // End of input. shutdown(Write) sends FIN: "I will send nothing more". The socket can
    // still read, so the last echoes arrive, and then the server's own FIN.
    typing_done.store(true, Ordering::Release);
    console.end_of_input();
    console.line("end of input: sending FIN (shutdown Write), reading until the server closes");
    stream
        .shutdown(Shutdown::Write)
        .context("cannot shut down the sending side")?;
    match printer.join() {
        Ok(result) => result,
        Err(_) => Err(anyhow!("the reading thread panicked")),
    }
    // ANCHOR_END: shutdown
}

// ANCHOR: connect_fn
/// Connects to the first of `addrs` that accepts: `localhost` has an IPv6 and an IPv4 address.
fn connect(
    addrs: &[SocketAddr],
    local: &ClientBindArgs<0>,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let mut failure = anyhow!("the name resolved to no address");
    for &addr in addrs {
        match connect_one(addr, local, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

/// connect() runs the three-way handshake: SYN, SYN-ACK, ACK.
fn connect_one(
    addr: SocketAddr,
    local: &ClientBindArgs<0>,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    if local.is_default() {
        // No bind(): connect() gives this end the address of the route to the server and an
        // ephemeral port.
        return TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| CannotConnect::new(addr));
    }
    // --bind or --port: socket(), then bind() to the address asked for, then connect().
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    let me = local.local_addr(addr)?;
    socket
        .bind(&me.into())
        .with_context(|| CannotBind::new(me, Proto::Tcp))?;
    if let Some(bound) = socket.local_addr()?.as_socket() {
        common::announce_bound(bound, Proto::Tcp);
    }
    socket
        .connect_timeout(&addr.into(), timeout)
        .with_context(|| CannotConnect::new(addr))?;
    Ok(TcpStream::from(socket))
}
// ANCHOR_END: connect_fn

// ANCHOR: print
/// Prints what arrives from `peer` until it closes the connection.
fn print_incoming(
    mut stream: TcpStream,
    peer: SocketAddr,
    buffer: usize,
    encoding: Encoding,
    hexdump: Hexdump,
    console: &Console<io::Stdout>,
) -> anyhow::Result<()> {
    // The decoder keeps a character that a read cut in two until the rest arrives.
    let mut decoder = encoding.stream_decoder();
    let mut buf = vec![0u8; buffer];
    loop {
        let len = match stream.read(&mut buf) {
            // Ok(0): the server sent FIN, it will send nothing more.
            Ok(0) => break,
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(format!("connection with {peer} failed")),
        };
        hexdump.received(peer, &buf[..len]);
        let count = text::count(len as u64, "byte", "bytes");
        console.line(format_args!(
            "received {count}: {}",
            decoder.show(&buf[..len], false)
        ));
    }
    let rest = decoder.show(&[], true);
    if !rest.is_empty() {
        console.line(format_args!(
            "(the stream ended inside a character: {rest})"
        ));
    }
    console.line("the server closed the connection (FIN)");
    Ok(())
}
// ANCHOR_END: print

/// When the connection ends while the user is still typing, the main thread is blocked
/// reading stdin and has nobody left to talk to: end the program from the reading thread.
fn stop_early(
    typing_done: &AtomicBool,
    console: &Console<io::Stdout>,
    result: anyhow::Result<()>,
) -> anyhow::Result<()> {
    if typing_done.load(Ordering::Acquire) {
        return result;
    }
    console.end_of_input();
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{}", common::report::describe(&e));
            std::process::exit(1)
        }
    }
}
