//! TCP client: sends each line you type and prints whatever the server sends, as it arrives.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a read returns the bytes that have arrived so far, not "the answer to what you
//! sent". A byte stream has no message boundaries; a protocol must make its own.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Parser;
use common::{Encoding, Hexdump, HostPort, text};

/// TCP client: sends typed lines to a server and prints what comes back.
/// Chapters: "TCP client" and "A connection's life".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server, HOST[:PORT].
    #[arg(value_name = "SERVER", default_value = "127.0.0.1:10050")]
    server: HostPort,

    /// Seconds to wait for the connection to be set up.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
    timeout: Duration,

    /// Read at most N bytes at a time (the seed's recv(10) is --buffer 10).
    #[arg(long, value_name = "N", default_value_t = 16384,
          value_parser = clap::value_parser!(u16).range(1..))]
    buffer: u16,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, default_value_t)]
    encoding: Encoding,

    /// Show every chunk's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

fn main() -> ExitCode {
    common::run(talk)
}

fn talk(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let addrs = args.server.resolve(10050)?;

    // ANCHOR: connect
    let stream = connect(&addrs, args.timeout)?;
    let server = stream.peer_addr()?;
    println!("connected to {server} from {}", stream.local_addr()?);
    // ANCHOR_END: connect

    // ANCHOR: reader
    // A second handle on the same socket, for a thread that prints what arrives while this
    // one waits for what you type.
    let incoming = stream.try_clone()?;
    let typing_done = Arc::new(AtomicBool::new(false));
    let printer = {
        let typing_done = Arc::clone(&typing_done);
        let buffer = usize::from(args.buffer);
        thread::spawn(move || {
            let result = print_incoming(incoming, server, buffer, args.encoding, hexdump);
            stop_early(&typing_done, result)
        })
    };
    // ANCHOR_END: reader

    // ANCHOR: send
    let mut outgoing = &stream;
    for line in text::lines(io::stdin().lock()) {
        let line = line.context("cannot read stdin")?;
        let mut data = match args.encoding.encode(&line) {
            Ok(data) => data.into_owned(),
            Err(e) => {
                common::log_error("line not sent", e);
                continue;
            }
        };
        data.push(b'\n');
        outgoing
            .write_all(&data)
            .with_context(|| format!("cannot send to {server}"))?;
        hexdump.sent(server, &data);
    }
    // ANCHOR_END: send

    // ANCHOR: shutdown
    // End of input. shutdown(Write) sends FIN: "I will send nothing more". The socket can
    // still read, so the last echoes arrive, and then the server's own FIN.
    typing_done.store(true, Ordering::Release);
    println!("end of input: sending FIN (shutdown Write), reading until the server closes");
    stream
        .shutdown(Shutdown::Write)
        .context("cannot shut down the sending side")?;
    match printer.join() {
        Ok(result) => result,
        Err(_) => Err(anyhow!("the reading thread panicked")),
    }
    // ANCHOR_END: shutdown
}

/// Connects to the first of `addrs` that accepts: `localhost` has an IPv6 and an IPv4 address.
fn connect(addrs: &[SocketAddr], timeout: Duration) -> anyhow::Result<TcpStream> {
    let mut failure = anyhow!("the name resolved to no address");
    for addr in addrs {
        // connect() runs the three-way handshake: SYN, SYN-ACK, ACK.
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => failure = anyhow::Error::new(e).context(format!("cannot connect to {addr}")),
        }
    }
    Err(failure)
}

// ANCHOR: print
/// Prints what arrives from `peer` until it closes the connection.
fn print_incoming(
    mut stream: TcpStream,
    peer: SocketAddr,
    buffer: usize,
    encoding: Encoding,
    hexdump: Hexdump,
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
        let (text, _) = decoder.decode(&buf[..len], false);
        println!("received {len} bytes: {}", text::printable(&text));
    }
    let (rest, _) = decoder.decode(&[], true);
    if !rest.is_empty() {
        println!(
            "(the stream ended inside a character: {})",
            text::printable(&rest)
        );
    }
    println!("the server closed the connection (FIN)");
    Ok(())
}
// ANCHOR_END: print

/// When the connection ends while the user is still typing, the main thread is blocked
/// reading stdin and has nobody left to talk to: end the program from the reading thread.
fn stop_early(typing_done: &AtomicBool, result: anyhow::Result<()>) -> anyhow::Result<()> {
    if typing_done.load(Ordering::Acquire) {
        return result;
    }
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{}", common::report::describe(&e));
            std::process::exit(1)
        }
    }
}
