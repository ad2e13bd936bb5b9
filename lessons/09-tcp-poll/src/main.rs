//! TCP echo server in one thread: non-blocking sockets and a readiness loop (epoll, through mio).
//!
//! Terminal 1:  cargo run -p tcp-poll
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: a non-blocking `read` or `write` that cannot proceed returns `WouldBlock` at once
//! instead of waiting. That is not an error: it means "nothing now, wait for the next event".

mod client;

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use client::{Client, Options, TokenHasher, Turn};
use common::fdlimit;
use common::session::{self, End};
use common::{EchoArgs, Hexdump, Proto, Slots, log};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// TCP echo server in one thread: non-blocking sockets, one readiness loop (mio).
/// Chapters: "One thread, many clients" and "TCP poll".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    echo: EchoArgs,
}

/// The listener's token; a client's token is its number, counted up from 0.
const LISTENER: Token = Token(usize::MAX);
/// The loop's state: the listener, the poll instance, and every client by its token.
struct Server {
    listener: TcpListener,
    poll: Poll,
    clients: HashMap<Token, Client, BuildHasherDefault<TokenHasher>>,
    next_token: usize,
    /// Each place knows its client's token, to close it when it must make room.
    slots: Slots<Token>,
    /// Clients whose turn ended on the budget: no event will name them, so serve them again.
    again: Vec<Token>,
    /// A descriptor kept open for the day all the others are taken (see `accept_all`).
    spare: Option<File>,
    /// accept() last stopped on an error with connections perhaps still queued.
    accept_stalled: bool,
    buf: Vec<u8>,
    args: EchoArgs,
    options: Options,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let local = args.echo.bind.local_addr()?;
    // ANCHOR: listen
    // socket(), SO_REUSEADDR, SO_SNDBUF and SO_RCVBUF, bind() and listen(): tcp-server's
    // `listen`, which common keeps for the servers after it.
    let buffers = args.echo.socket_buffer();
    let socket = common::net::listen(local, args.echo.backlog(), buffers)?;
    // O_NONBLOCK: accept() on an empty queue now returns WouldBlock instead of waiting.
    socket.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(socket.into());
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    // Every client is a descriptor: raise the soft limit to the hard one, fit the places to it.
    let max_clients = args.echo.raise_fd_limit();
    // ANCHOR_END: listen
    // ANCHOR: register
    // epoll_create1(): the kernel's list of sockets we want to hear about, and their events.
    let poll = Poll::new().context("cannot create the poll instance")?;
    // epoll_ctl(ADD): tell us when a finished connection waits in the listener's queue.
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut server = Server {
        listener,
        poll,
        clients: HashMap::default(),
        next_token: 0,
        slots: Slots::evicting(max_clients, args.echo.max_per_address),
        again: Vec::new(),
        spare: spare(),
        accept_stalled: false,
        buf: vec![0u8; 64 * 1024],
        options: Options {
            quiet: args.echo.quiet,
            hexdump: Hexdump::new(args.echo.hexdump),
        },
        args: args.echo,
    };
    // ANCHOR_END: register
    server.run()
}

impl Server {
    // ANCHOR: loop
    fn run(&mut self) -> anyhow::Result<()> {
        let mut events = Events::with_capacity(1024);
        // Idle clients are looked for once a second (more often for a shorter --idle-timeout).
        let sweep_every = self.args.idle_timeout.min(Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            // epoll_wait(): sleep until at least one registered socket is ready. Not at all
            // if a client still has its turn to finish; with no client, there is nothing to
            // time out, so no deadline either (unless accept() left connections queued).
            let timeout = if !self.again.is_empty() {
                Some(Duration::ZERO)
            } else if self.clients.is_empty() && !self.accept_stalled {
                None
            } else {
                Some(next_sweep.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("waiting for events failed");
            }
            let again = std::mem::take(&mut self.again);
            for event in events.iter() {
                let token = event.token();
                if token == LISTENER {
                    self.accept_all();
                    continue;
                }
                if let Some(client) = self.clients.get_mut(&token) {
                    // What the event says is ready; the client's turn reads only if readable.
                    client.fin_seen |= event.is_read_closed();
                    client.readable |= event.is_readable() || client.fin_seen || event.is_error();
                }
                self.serve(token);
            }
            for token in again {
                self.serve(token);
            }
            if Instant::now() >= next_sweep {
                self.close_idle();
                // Also retry accepting: see `accept_stalled`.
                self.accept_all();
                next_sweep = Instant::now() + sweep_every;
            }
        }
    }
    // ANCHOR_END: loop

    // ANCHOR: accept
    /// Accepts every connection waiting in the queue, until accept() says WouldBlock.
    fn accept_all(&mut self) {
        self.accept_stalled = false;
        loop {
            // accept4(SOCK_NONBLOCK): the new socket is non-blocking from the start. mio's
            // events are edge-triggered: the listener is reported once per change, so we must
            // empty the queue now, or the connections left in it wait for the next connect.
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A client that reset while it waited in the queue: take the next one.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EMFILE, ENFILE: no descriptor left for the connection, which stays queued.
                // Close the spare one, accept into it, and refuse that client at once.
                Err(e) if fdlimit::is_out_of_descriptors(&e) && self.spare.take().is_some() => {
                    let refused = self.listener.accept().map(|(_, peer)| peer);
                    self.spare = spare();
                    // EMFILE comes before accept() looks at the queue, which may be empty.
                    let Ok(peer) = refused else {
                        self.accept_stalled = true; // The next look retries.
                        return;
                    };
                    let why = format_args!("{e}, closed at once (ulimit -n)");
                    self.told(peer, false, format_args!("refused {peer}: {why}"));
                    continue;
                }
                Err(e) => {
                    log::error("accept failed", e);
                    // The next look for idle clients tries again.
                    self.accept_stalled = true;
                    return;
                }
            };
            self.admit(stream, peer);
        }
    }

    /// Gives an accepted client a place and a token, or refuses it.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let token = Token(self.next_token);
        let (slot, evicted) = match self.slots.take_or_evict(peer.ip(), token) {
            Ok(taken) => taken,
            Err(full) => {
                let why = "(--max-clients, --max-per-address)";
                self.told(peer, false, format_args!("refused {peer}: {full} {why}"));
                return; // Dropping `stream` closes the connection.
            }
        };
        // Every place was taken: the client idle longest gave its place to this one.
        if let Some(idle) = evicted {
            self.close(idle.handle, End::Evicted(idle.idle));
        }
        self.next_token += 1;
        // epoll_ctl(ADD): tell us when this client's socket has bytes to read (or a FIN), and
        // when it has room to write again after a write said WouldBlock.
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            log::error(format_args!("cannot watch {peer}"), e);
            return;
        }
        self.told(peer, true, format_args!("accepted {peer}"));
        let client = Client::new(stream, peer, self.args.encoding, slot);
        self.clients.insert(token, client);
    }
    // ANCHOR_END: accept

    // ANCHOR: serve
    /// Gives one client its turn, then keeps it, queues it for another turn, or closes it.
    fn serve(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        match client.take_turn(&mut self.buf, self.options) {
            Turn::Open { again } => {
                if again {
                    self.again.push(token);
                }
            }
            Turn::Close(end) => self.close(token, end),
        }
    }

    /// Closes a client's socket and tells how its session ended.
    fn close(&mut self, token: Token, end: End) {
        let Some(client) = self.clients.remove(&token) else {
            return;
        };
        if !self.options.quiet {
            let note = client.chunks.not_shown();
            session::queue_end(client.peer, end, client.received, &note);
        }
        // Dropping the socket closes it: our FIN goes out (an RST if bytes from the client lie
        // unread), the kernel drops it from the epoll set, and the client's place is free.
        drop(client);
    }
    // ANCHOR_END: serve

    /// Closes every client that has moved no byte, in or out, for --idle-timeout.
    fn close_idle(&mut self) {
        let limit = self.args.idle_timeout;
        let idle: Vec<(Token, End)> = (self.clients.iter())
            .filter(|(_, client)| client.slot.idle() >= limit)
            .map(|(&token, client)| match client.pending.is_empty() {
                true => (token, End::Silent(limit)),
                false => (token, End::NotReading(limit)),
            })
            .collect();
        for (token, end) in idle {
            self.close(token, end);
        }
    }

    /// One line about a connection accepted or refused, unless --quiet, within its
    /// address's share of such lines (`common::connlog`).
    fn told(&self, peer: SocketAddr, accepted: bool, line: std::fmt::Arguments) {
        match (self.options.quiet, accepted) {
            (true, _) => {}
            (false, true) => common::connlog::accepted(peer, line),
            (false, false) => common::connlog::refused(peer, line),
        }
    }

    /// One line about one connection, unless --quiet: queued, never blocking the loop. (Not
    /// for a line told when a connection starts or is refused: those go through `told`.)
    #[allow(dead_code, reason = "the exercises' lines go through it")]
    fn log(&self, line: std::fmt::Arguments) {
        if !self.options.quiet {
            log::line(line);
        }
    }
}

/// The spare descriptor: any file will do.
fn spare() -> Option<File> {
    File::open("/dev/null").ok()
}
