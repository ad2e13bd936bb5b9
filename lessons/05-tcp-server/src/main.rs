//! TCP echo server: accepts connections and sends every byte back, until the client closes.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a TCP connection is a byte stream, not a series of messages. One `write` of 10
//! bytes may arrive as two reads of 5, and two writes may arrive as one read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::chunklog::ChunkLog;
use common::fdlimit::{self, Spare};
use common::net::is_timeout;
use common::session::{self, End};
use common::{CannotBind, EchoArgs, Encoding, Evicted, Hexdump, Proto, Slot, Slots, log, logln};
use socket2::{Domain, Protocol, Socket, Type};

/// TCP echo server: accepts clients and sends every byte back.
/// Chapters: "TCP server" and "A connection's life".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    echo: EchoArgs,

    /// Serve one client at a time, as the seed does: the next one waits in the accept queue.
    #[arg(long)]
    sequential: bool,

    /// Serve one client, then exit.
    #[arg(long)]
    once: bool,
}

/// What the serving of one client needs to know.
#[derive(Clone, Copy)]
struct Options {
    idle_timeout: Duration,
    quiet: bool,
    encoding: Encoding,
    hexdump: Hexdump,
}

fn main() -> ExitCode {
    common::run(serve)
}

// ANCHOR: listen
/// socket, bind, listen: the listening socket, one system call at a time.
fn listen(echo: &EchoArgs) -> anyhow::Result<TcpListener> {
    let local = echo.bind.local_addr()?;
    // socket(): a TCP socket of the address's family (IPv4 or IPv6).
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // SO_REUSEADDR: bind the port again at once after a restart, even while connections of
    // the previous run still wait in TIME_WAIT.
    socket.set_reuse_address(true)?;
    // SO_SNDBUF, SO_RCVBUF: the kernel's buffers for each client, inherited by every accepted
    // socket; a client that never reads its echo keeps them full (see --socket-buffer).
    if let Some(size) = echo.socket_buffer() {
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    socket
        .bind(&local.into())
        .with_context(|| CannotBind::new(local, Proto::Tcp))?;
    // listen(): the socket becomes passive. The kernel now completes handshakes by itself
    // and queues up to `backlog` connections for accept().
    socket
        .listen(echo.backlog())
        .with_context(|| format!("cannot listen on {local}"))?;
    let listener = TcpListener::from(socket);
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    Ok(listener)
}
// ANCHOR_END: listen

fn serve(args: Args) -> anyhow::Result<()> {
    let options = Options {
        idle_timeout: args.echo.idle_timeout,
        quiet: args.echo.quiet,
        encoding: args.echo.encoding,
        hexdump: Hexdump::new(args.echo.hexdump),
    };
    let listener = listen(&args.echo)?;
    // Every client is a descriptor: raise the soft limit to the hard one, fit the places to it.
    let max_clients = args.echo.raise_fd_limit();

    // ANCHOR: accept
    // Each place keeps a weak reference to its client's socket (see make_room).
    let slots = Slots::evicting(max_clients, args.echo.max_per_address);
    let mut spare = Spare::new();
    loop {
        let Some((stream, peer)) = fdlimit::next_client(&listener, &mut spare) else {
            continue;
        };
        let stream = Arc::new(stream);
        if args.sequential || args.once {
            if !args.echo.quiet {
                logln!("accepted {peer}");
            }
            serve_client(stream, peer, options, None);
            if args.once {
                return Ok(());
            }
            continue;
        }
        let (slot, evicted) = match slots.take_or_evict(peer.ip(), Arc::downgrade(&stream)) {
            Ok(taken) => taken,
            Err(full) => {
                if !args.echo.quiet {
                    let why = "(--max-clients, --max-per-address)";
                    common::connlog::refused(peer, format_args!("refused {peer}: {full} {why}"));
                }
                continue; // Dropping `stream` closes the connection.
            }
        };
        make_room(evicted);
        if !args.echo.quiet {
            common::connlog::accepted(peer, format_args!("accepted {peer}"));
        }
        // One thread per client, with a small stack: a thousand idle clients cost little.
        let spawned = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve_client(stream, peer, options, Some(slot)));
        // None left (ulimit -u): the connection closes with the closure; its line is told
        // within the address's share, as a refusal would be.
        if let Err(e) = spawned
            && !args.echo.quiet
        {
            let line = format_args!("{peer} found no thread to serve it: {e}; closed at once");
            common::connlog::ended(peer, line);
        }
    }
    // ANCHOR_END: accept
}

// ANCHOR: make_room
/// If every place was taken, the client idle longest has given its place to the new one:
/// close its connection.
fn make_room(evicted: Option<Evicted<Weak<TcpStream>>>) {
    if let Some(idle) = evicted.and_then(|e| e.handle.upgrade()) {
        // shutdown(): our FIN goes out, and the idle client's thread, blocked in read(),
        // gets 0 at once. It closes the socket and logs why (End::Evicted).
        let _ = idle.shutdown(Shutdown::Both);
    }
}
// ANCHOR_END: make_room

// ANCHOR: echo
/// Echoes what `peer` sends until it closes, goes quiet, or stops reading; then logs how the
/// connection ended.
fn serve_client(socket: Arc<TcpStream>, peer: SocketAddr, options: Options, slot: Option<Slot>) {
    // A `&TcpStream` reads and writes too. The accept loop holds a weak reference to this
    // socket, to shut it down if the client must make room for a new one.
    let mut stream: &TcpStream = &socket;
    // SO_RCVTIMEO and SO_SNDTIMEO: a read that waits longer than this for bytes, or a write
    // that waits longer for room in the send buffer, fails instead of blocking for ever. A
    // client that goes silent, or sends and never reads its echo, cannot hold this thread.
    let timeouts = stream
        .set_read_timeout(Some(options.idle_timeout))
        .and_then(|()| stream.set_write_timeout(Some(options.idle_timeout)));
    if let Err(e) = timeouts {
        log::error(format_args!("cannot set timeouts for {peer}"), e);
        return;
    }
    // The received lines, within a log budget per client (see common::chunklog).
    let mut chunks = ChunkLog::new(peer, options.encoding);
    let touch = || slot.iter().for_each(Slot::touch);
    let mut buf = [0u8; 16 * 1024];
    let mut total: u64 = 0;
    let end = loop {
        let len = match stream.read(&mut buf) {
            // Ok(0): the client sent FIN. It will send nothing more.
            Ok(0) => break End::Fin,
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => break End::Silent(options.idle_timeout),
            Err(e) => break End::Failed(e),
        };
        let chunk = &buf[..len];
        total += len as u64;
        touch();
        options.hexdump.received(peer, chunk);
        if !options.quiet {
            // The log never blocks or panics, so a full disk cannot stop us.
            chunks.received(chunk);
        }
        // write_all: a blocking write waits until the kernel has taken every byte, unless
        // something cuts it short after a part: a signal, the send timeout, or a reset from
        // the client (the next write then fails). write_all writes the rest, or fails.
        match stream.write_all(chunk) {
            Ok(()) => {
                touch();
                options.hexdump.sent(peer, chunk);
            }
            Err(e) if is_timeout(&e) => break End::NotReading(options.idle_timeout),
            Err(e) => break End::Failed(e),
        }
    };
    // A client shut down to make room ends like any other, but the log says why.
    let end = match slot.as_ref().and_then(Slot::evicted) {
        Some(idle) => End::Evicted(idle),
        None => end,
    };
    // Closing the socket sends our FIN (or RST, if the client sent bytes we never read), and
    // frees this client's place under --max-clients.
    drop(socket);
    drop(slot);
    if !options.quiet {
        session::queue_end(peer, end, total, &chunks.not_shown());
    }
}
// ANCHOR_END: echo
