//! TCP echo server in one thread: non-blocking sockets and a readiness loop (epoll, through mio).
//!
//! Terminal 1:  cargo run -p tcp-poll
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a non-blocking `read` or `write` that cannot proceed returns `WouldBlock` at once
//! instead of waiting. That is not an error: it means "nothing now, wait for the next event".
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use common::session::{self, End};
use common::text::{self, StreamDecoder};
use common::{CannotBind, EchoArgs, Hexdump, Proto};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

/// TCP echo server in one thread: non-blocking sockets, one readiness loop (mio).
/// Chapters: "One thread, many clients" and "TCP poll".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    echo: EchoArgs,
}

/// The listening socket's token; a client's token is its number, counted up from 0.
const LISTENER: Token = Token(usize::MAX);

/// Echo bytes read but not yet written back, per client, before the loop stops reading from
/// it: a client that sends without reading its echo is slowed down, not given all our memory.
/// Reads never take more than the room left, so with --max-clients 4096 the pending buffers
/// hold at most 4096 × 64 KiB = 256 MiB.
const MAX_PENDING: usize = 64 * 1024;

/// One connected client: its socket and what the loop remembers between events.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read from the client that the kernel would not yet take back.
    pending: Vec<u8>,
    /// Whether the client's socket is registered for writable events too.
    wants_writable: bool,
    /// The client sent FIN: once `pending` is written, we close.
    finished: bool,
    received: u64,
    last_moved: Instant,
    shown: StreamDecoder,
}

/// How a client's turn in the loop ended.
enum Turn {
    /// Keep the client: it has more to say, or its echo waits for room.
    Open,
    /// The client closed its side and has all its echo back.
    Finished,
    Failed(io::Error),
}

/// What the serving of a client needs to know.
struct Options {
    quiet: bool,
    hexdump: Hexdump,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let options = Options {
        quiet: args.echo.quiet,
        hexdump: Hexdump::new(args.echo.hexdump),
    };
    let local = args.echo.bind.local_addr()?;

    // ANCHOR: listen
    // socket(), SO_REUSEADDR, bind() and listen(), exactly as in tcp-server.
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&local.into())
        .with_context(|| CannotBind::new(local, Proto::Tcp))?;
    socket
        .listen(args.echo.backlog())
        .with_context(|| format!("cannot listen on {local}"))?;
    // O_NONBLOCK: accept() on an empty queue now returns WouldBlock instead of waiting.
    socket.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(socket.into());
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    // ANCHOR_END: listen

    // ANCHOR: register
    // epoll_create1(): the kernel's list of sockets we want to hear about, and their events.
    let mut poll = Poll::new().context("cannot create the poll instance")?;
    // epoll_ctl(ADD): tell us when the listening socket is readable, that is, when a
    // finished connection waits in its queue.
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_token = 0;
    let mut buf = vec![0u8; 64 * 1024];
    // ANCHOR_END: register

    // ANCHOR: loop
    // Idle clients are looked for once a second (more often for a shorter --idle-timeout).
    let sweep_every = args.echo.idle_timeout.min(Duration::from_secs(1));
    let mut next_sweep = Instant::now() + sweep_every;
    // Whether accept() last stopped on an error with connections perhaps still queued.
    let mut accept_stalled = false;
    loop {
        // epoll_wait(): sleep until at least one registered socket is ready. With no client
        // there is nothing to time out, so no deadline either: an idle server uses no CPU.
        // Unless accept() failed: then the sweep must come back to the queue, because the
        // edge-triggered listener reports nothing more until someone else connects.
        let timeout = if clients.is_empty() && !accept_stalled {
            None
        } else {
            Some(next_sweep.saturating_duration_since(Instant::now()))
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("waiting for events failed");
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_stalled = accept_all(&listener, &poll, &mut clients, &mut next_token, &args);
                continue;
            }
            // An event can name a client closed earlier in this same batch: skip it.
            let Some(client) = clients.get_mut(&event.token()) else {
                continue;
            };
            let turn = take_turn(client, &mut buf, &options);
            finish_turn(&poll, &mut clients, event.token(), turn);
        }
        if Instant::now() >= next_sweep {
            close_idle(&mut clients, args.echo.idle_timeout);
            // Also retry accepting: an accept that failed (out of descriptors) left
            // connections in the queue, and no new event will tell us about them.
            accept_stalled = accept_all(&listener, &poll, &mut clients, &mut next_token, &args);
            next_sweep = Instant::now() + sweep_every;
        }
    }
    // ANCHOR_END: loop
}

// ANCHOR: accept
/// Accepts every connection waiting in the queue, until accept() says WouldBlock. Returns
/// true if it stopped on an error instead, with connections perhaps left in the queue.
fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    clients: &mut HashMap<Token, Client>,
    next_token: &mut usize,
    args: &Args,
) -> bool {
    loop {
        // accept4(SOCK_NONBLOCK): the new socket is non-blocking from the start. mio's events
        // are edge-triggered: the listener is reported once per change, so we must empty the
        // queue now, or the connections left in it wait until someone else connects.
        let (mut stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            // A client that reset while it waited in the queue: take the next one.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                common::log_error("accept failed", e);
                return true; // Out of file descriptors, most likely: the next sweep retries.
            }
        };
        if clients.len() >= args.echo.max_clients {
            println!(
                "refused {peer}: {} clients already (--max-clients)",
                args.echo.max_clients
            );
            continue; // Dropping `stream` closes the connection.
        }
        let token = Token(*next_token);
        *next_token += 1;
        // epoll_ctl(ADD): tell us when this client's socket has bytes to read (or a FIN).
        if let Err(e) = poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
        {
            common::log_error(format_args!("cannot watch {peer}"), e);
            continue;
        }
        println!("accepted {peer}");
        let client = Client {
            stream,
            peer,
            pending: Vec::new(),
            wants_writable: false,
            finished: false,
            received: 0,
            last_moved: Instant::now(),
            shown: args.echo.encoding.stream_decoder(),
        };
        clients.insert(token, client);
    }
}
// ANCHOR_END: accept

// ANCHOR: echo
/// Serves one ready client: writes what it can of the pending echo, then reads until the
/// socket is empty, echoing each chunk as far as the kernel takes it.
fn take_turn(client: &mut Client, buf: &mut [u8], options: &Options) -> Turn {
    if let Err(e) = flush(client, options.hexdump) {
        return Turn::Failed(e);
    }
    // Read until WouldBlock: with edge-triggered events, bytes left unread now would not be
    // reported again. Stop early only while too much echo waits for the client to read.
    while !client.finished && client.pending.len() < MAX_PENDING {
        // Read no more than the room left, so that `pending` never grows past MAX_PENDING.
        let room = (MAX_PENDING - client.pending.len()).min(buf.len());
        let len = match client.stream.read(&mut buf[..room]) {
            // Ok(0): the client sent FIN. It will send nothing more.
            Ok(0) => {
                client.finished = true;
                break;
            }
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Turn::Failed(e),
        };
        let chunk = buf.get(..len).unwrap_or_default();
        client.received += len as u64;
        client.last_moved = Instant::now();
        options.hexdump.received(client.peer, chunk);
        if !options.quiet {
            let count = text::count(len as u64, "byte", "bytes");
            let shown = client.shown.show(chunk, false);
            println!("received {count} from {}: {shown}", client.peer);
        }
        client.pending.extend_from_slice(chunk);
        if let Err(e) = flush(client, options.hexdump) {
            return Turn::Failed(e);
        }
    }
    if client.finished && client.pending.is_empty() {
        Turn::Finished
    } else {
        Turn::Open
    }
}

/// Writes as much of the pending echo as the kernel takes now, and keeps the rest.
fn flush(client: &mut Client, hexdump: Hexdump) -> io::Result<()> {
    while !client.pending.is_empty() {
        match client.stream.write(&client.pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                hexdump.sent(client.peer, client.pending.get(..n).unwrap_or_default());
                client.pending.drain(..n);
                client.last_moved = Instant::now();
            }
            // The client's receive window and our send buffer are full: it is not reading.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
// ANCHOR_END: echo

// ANCHOR: finish
/// After a client's turn: close it, or watch for "writable" exactly while echo is pending.
fn finish_turn(poll: &Poll, clients: &mut HashMap<Token, Client>, token: Token, turn: Turn) {
    let ended = match turn {
        Turn::Finished => Ok(()),
        Turn::Failed(e) => Err(e),
        Turn::Open => {
            let Some(client) = clients.get_mut(&token) else {
                return;
            };
            let wants_writable = !client.pending.is_empty();
            if wants_writable == client.wants_writable {
                return;
            }
            // epoll_ctl(MOD): a socket with room in its send buffer is writable nearly all
            // the time, so asking for WRITABLE with nothing to write would wake us for nothing.
            let interest = if wants_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            match poll
                .registry()
                .reregister(&mut client.stream, token, interest)
            {
                Ok(()) => {
                    client.wants_writable = wants_writable;
                    return;
                }
                Err(e) => Err(e),
            }
        }
    };
    // Dropping the socket closes it: our FIN goes out (after a reset there is nothing left
    // to close), and the kernel drops it from the epoll set by itself.
    let Some(client) = clients.remove(&token) else {
        return;
    };
    let (peer, received) = (client.peer, client.received);
    drop(client);
    let end = match ended {
        Ok(()) => End::Fin,
        Err(e) => End::Failed(e),
    };
    session::log_end(peer, end, received);
}
// ANCHOR_END: finish

/// Closes every client that has moved no byte, in or out, for `limit`: one that sends
/// nothing, or one that reads none of its echo.
fn close_idle(clients: &mut HashMap<Token, Client>, limit: Duration) {
    clients.retain(|_, client| {
        if client.last_moved.elapsed() < limit {
            return true;
        }
        let end = if client.pending.is_empty() {
            End::Silent(limit)
        } else {
            End::NotReading(limit)
        };
        session::log_end(client.peer, end, client.received);
        false // Dropping the client closes its socket.
    });
}
