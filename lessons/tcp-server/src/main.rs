//! TCP echo server: accepts connections and sends every byte back, until the client closes.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a TCP connection is a byte stream, not a series of messages. One `write` of 10
//! bytes may arrive as two reads of 5, and two writes may arrive as one read.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::{BindArgs, Encoding, Hexdump, Proto, Slot, Slots, text};
use socket2::{Domain, Protocol, Socket, Type};

/// TCP echo server: accepts clients and sends every byte back.
/// Chapters: "TCP server" and "A connection's life".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<10050>,

    /// Length of the queue of connections that completed the handshake but were not yet
    /// accepted: listen(backlog).
    #[arg(long, value_name = "N", default_value_t = 128)]
    backlog: i32,

    /// Serve one client at a time, as the seed does: the next one waits in the accept queue.
    #[arg(long)]
    sequential: bool,

    /// Serve one client, then exit.
    #[arg(long)]
    once: bool,

    /// Most clients served at once; one more is accepted, told nothing, and closed.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_clients: usize,

    /// Log accepts and closes only, not every chunk (for benchmarks).
    #[arg(long)]
    quiet: bool,

    /// How received bytes are shown as text (the echo itself is byte for byte).
    #[arg(long, value_enum, default_value_t)]
    encoding: Encoding,

    /// Show every chunk's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

/// What the serving of one client needs to know.
#[derive(Clone, Copy)]
struct Options {
    quiet: bool,
    encoding: Encoding,
    hexdump: Hexdump,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let options = Options {
        quiet: args.quiet,
        encoding: args.encoding,
        hexdump: Hexdump::new(args.hexdump),
    };
    let local = args.bind.local_addr()?;

    // ANCHOR: listen
    // socket(): a TCP socket of the address's family (IPv4 or IPv6).
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // SO_REUSEADDR: bind the port again at once after a restart, even while connections of
    // the previous run still wait in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket
        .bind(&local.into())
        .with_context(|| format!("cannot bind {local}"))?;
    // listen(): the socket becomes passive. The kernel now completes handshakes by itself
    // and queues up to `backlog` connections for accept().
    socket
        .listen(args.backlog)
        .with_context(|| format!("cannot listen on {local}"))?;
    let listener = TcpListener::from(socket);
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    // ANCHOR_END: listen

    // ANCHOR: accept
    let slots = Slots::new(args.max_clients);
    loop {
        // accept() takes the next connection off the queue: a new socket for this client,
        // and its address. The listening socket goes on listening.
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                common::log_error("accept failed", e);
                // Out of file descriptors, most likely: wait for clients to leave.
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if args.sequential || args.once {
            println!("accepted {peer}");
            serve_client(stream, peer, options, None);
            if args.once {
                return Ok(());
            }
            continue;
        }
        let Some(slot) = slots.take() else {
            println!(
                "refused {peer}: {} clients already (--max-clients)",
                args.max_clients
            );
            continue; // Dropping `stream` closes the connection.
        };
        println!("accepted {peer}");
        // One thread per client, with a small stack: a thousand idle clients cost little.
        let spawned = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve_client(stream, peer, options, Some(slot)));
        if let Err(e) = spawned {
            common::log_error(format_args!("cannot start a thread for {peer}"), e);
        }
    }
    // ANCHOR_END: accept
}

// ANCHOR: echo
/// Echoes what `peer` sends until it closes, then logs how the connection ended.
fn serve_client(mut stream: TcpStream, peer: SocketAddr, options: Options, slot: Option<Slot>) {
    let mut shown = options.encoding.stream_decoder();
    let mut buf = [0u8; 16 * 1024];
    let mut total: u64 = 0;
    let ended = loop {
        let len = match stream.read(&mut buf) {
            // Ok(0): the client sent FIN. It will send nothing more.
            Ok(0) => break Ok(()),
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        let chunk = &buf[..len];
        total += len as u64;
        options.hexdump.received(peer, chunk);
        if !options.quiet {
            let (text, _) = shown.decode(chunk, false);
            println!(
                "received {len} bytes from {peer}: {}",
                text::printable(&text)
            );
        }
        // write_all: one write may take only part of the chunk; loop until all is sent.
        if let Err(e) = stream.write_all(chunk) {
            break Err(e);
        }
        options.hexdump.sent(peer, chunk);
    };
    // Closing the socket sends our FIN (after a reset there is nothing left to close), and
    // frees this client's place under --max-clients.
    drop(stream);
    drop(slot);
    match ended {
        Ok(()) => println!("{peer} closed the connection (FIN) after {total} bytes; closing ours"),
        Err(e) if is_reset(&e) => println!("{peer} reset the connection (RST) after {total} bytes"),
        Err(e) => common::log_error(format_args!("connection with {peer} failed"), e),
    }
}
// ANCHOR_END: echo

/// A reset shows up as ECONNRESET on a read, and as EPIPE on a write after it.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}
