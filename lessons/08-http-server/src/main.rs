//! HTTP file server: serves the files under one directory to curl and to a real browser,
//! over HTTP/1.1 on a plain TCP socket.
//!
//! Terminal 1:  cargo run -p http-server -- --root docs/book
//! Terminal 2:  curl -v http://127.0.0.1:8000/   (or open that address in a browser)
//!
//! Pitfall: a browser is a client you did not write. It opens connections before it has
//! anything to ask, keeps them open after its answer, and sends several requests on one: a
//! server that reads one request per connection, or serves one connection at a time, hangs.
//!
//! In the order a request meets them: `main.rs` binds, listens and accepts, one thread per
//! connection; `connection.rs` reads each request off the connection and ends it;
//! `request.rs` parses a head; `answer.rs` writes the answer (the body by `sendfile`, through
//! `common::pace`); `reply.rs` makes its pieces (validators, ranges, listing); `limits.rs`
//! keeps the places.

mod answer;
mod connection;
mod limits;
mod reply;
mod request;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::fdlimit::{self, Accepted, Spare};
use common::pace::Pace;
use common::{BindArgs, Proto, Root};
use connection::Connection;
use limits::Places;

/// Port 80 is HTTP's, but binding a port below 1024 needs root: 8000 is what
/// `python3 -m http.server` uses, and needs nothing.
const HTTP_PORT: u16 = 8000;

/// HTTP file server: serves the files under a directory to curl and browsers (HTTP/1.1).
/// Chapter: "HTTP server".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The directory whose files are served; nothing outside it ever is.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,

    #[command(flatten)]
    bind: BindArgs<HTTP_PORT>,

    /// Most connections served at once; one more is answered 503.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_clients: usize,

    /// Most connections from one address at once (a browser opens up to 6 per host name,
    /// and localhost and 127.0.0.1 are two names).
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_per_address: usize,

    /// A request's head must arrive whole within SECS of its first byte, and an answer that
    /// makes no progress for SECS (nothing can be sent: the client reads too little or
    /// nothing) is dropped; also the grace period before --min-rate applies.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
    timeout: Duration,

    /// The slowest a client may read an answer, in bytes per second (K, M: KiB, MiB),
    /// averaged from its start once --timeout has passed: a slower reader is dropped.
    #[arg(long, value_name = "BYTES", default_value = "16K", value_parser = common::size::parse_size)]
    min_rate: u64,

    /// A connection that sends no new request for SECS is closed.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = common::seconds)]
    idle_timeout: Duration,

    /// Log connections and refusals only, not every request.
    #[arg(long)]
    quiet: bool,
}

/// What serving one connection needs to know.
#[derive(Clone)]
struct Options {
    root: Root,
    timeout: Duration,
    pace: Pace,
    idle_timeout: Duration,
    quiet: bool,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let root =
        Root::new(&args.root).with_context(|| format!("cannot serve {}", args.root.display()))?;
    let local = args.bind.local_addr()?;

    // ANCHOR: listen
    // socket, SO_REUSEADDR, bind and listen, as in the TCP server chapter: a browser opens
    // several connections at once, so the accept queue is long.
    let socket = common::net::listen(local, 1024, None)?;
    let listener = TcpListener::from(socket);
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    common::logln!("serving the files under {}", root.path().display());
    // ANCHOR_END: listen

    let options = Options {
        root,
        timeout: args.timeout,
        pace: Pace {
            timeout: args.timeout,
            min_rate: args.min_rate,
        },
        idle_timeout: args.idle_timeout,
        quiet: args.quiet,
    };
    // Each connection takes two descriptors (its socket, and the file it is sent): the soft
    // open-file limit is raised, and the places fitted to it, so that a newcomer is answered
    // 503 or makes room rather than wait in the accept queue because accept() failed.
    let max_clients = fdlimit::fit_places(args.max_clients, 2, "--max-clients");
    let places = Places::new(max_clients, args.max_per_address);
    accept(&listener, &places, &options)
}

// ANCHOR: accept
/// Accepts connections for ever, each served by a thread of its own while it has a place.
fn accept(listener: &TcpListener, places: &Places, options: &Options) -> anyhow::Result<()> {
    let mut spare = Spare::new();
    loop {
        let (stream, peer) = match listener.accept() {
            // The spare first: one lost to another thread is taken back now, with this
            // connection's descriptor if no other is free (`Spare::keep`).
            Ok((stream, peer)) => match spare.keep(stream) {
                Some(stream) => (stream, peer),
                None => {
                    let why = format_args!("no descriptor to spare, closed at once");
                    refused(peer, why);
                    continue;
                }
            },
            // EMFILE: no descriptor left for a new socket, and the client would wait in the
            // queue unanswered. Give up the descriptor kept in reserve, accept, and close the
            // connection at once if there is still no room: the client is told, not left
            // hanging (the tcp-server chapter tells it).
            Err(e) if fdlimit::is_out_of_descriptors(&e) && spare.is_ready() => {
                match spare.accept_or_refuse(|| listener.accept()) {
                    Ok(Accepted::Room(stream, peer)) => (stream, peer),
                    Ok(Accepted::Refused(peer)) => {
                        refused(peer, format_args!("{e}, closed at once (ulimit -n)"));
                        continue;
                    }
                    Err(e) => {
                        common::log::error("accept failed", e);
                        continue;
                    }
                }
            }
            Err(e) => {
                common::log::error("accept failed", e);
                // Out of file descriptors with no spare left: wait for clients to leave.
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // All places taken: the connection idle longest is closed to make room.
        let place = match places.take(peer.ip(), &stream) {
            Ok(place) => place,
            Err(full) => {
                let why = format_args!("{full} (--max-clients, --max-per-address)");
                refused(peer, why);
                // A short answer into an empty send buffer: this write does not wait.
                let _ = (&stream).write_all(BUSY);
                continue;
            }
        };
        common::connlog::accepted(peer, format_args!("accepted {peer}"));
        let options = options.clone();
        // A thread per connection: a browser's idle connections each hold one, asleep.
        let spawned = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Connection::new(stream, peer, place, options).run());
        // None left (ulimit -u): the connection closes with the closure; its line is told
        // within the address's share, as a refusal would be.
        if let Err(e) = spawned {
            let line = format_args!("closed {peer}: no thread could start for it: {e}");
            common::connlog::ended(peer, line);
        }
    }
}
// ANCHOR_END: accept

/// Logs a refusal within its address's share of connection lines (`common::connlog`): a
/// refused client comes back at once, and one did 58,646 times in 5 s, 5.8 MB of log when
/// each refusal was a line, --quiet or not.
fn refused(peer: SocketAddr, why: std::fmt::Arguments) {
    common::connlog::refused(peer, format_args!("refused {peer}: {why}"));
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Length: 0\r\nConnection: close\r\n\r\n";
