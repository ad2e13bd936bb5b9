//! TCP echo server with tokio: tcp-poll's readiness loop, written for us by `async`/`await`.
//!
//! Terminal 1:  cargo run -p tcp-async
//! Terminal 2:  cargo run -p tcp-client
//!
// ANCHOR: pitfall
//! Pitfall: an `async fn` does nothing until it is awaited or spawned, and a task that never
//! reaches an `.await` (a long computation, a blocking call such as `std::thread::sleep`)
//! holds up every other task of its thread.
// ANCHOR_END: pitfall

use std::fs::File;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::chunklog::ChunkLog;
use common::fdlimit;
use common::session::{self, End};
use common::{CannotBind, EchoArgs, Encoding, Hexdump, Proto, Slot, Slots, log};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::time::timeout;

/// TCP echo server with tokio: a task per client on one thread.
/// Chapters: "One thread, many clients" and "TCP async".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    echo: EchoArgs,
}

/// What the serving of one client needs to know.
#[derive(Clone, Copy)]
struct Options {
    quiet: bool,
    encoding: Encoding,
    hexdump: Hexdump,
    idle_timeout: Duration,
}

/// Each task's read buffer. Ten thousand clients have ten thousand of them, so it is small.
const BUF_SIZE: usize = 2 * 1024;

fn main() -> ExitCode {
    common::run(serve)
}

// ANCHOR: runtime
fn serve(args: Args) -> anyhow::Result<()> {
    // A current-thread runtime: one thread runs every task, as tcp-poll's one loop serves
    // every client. Its reactor is the same epoll loop, written once, inside tokio.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve_all(args))
}
// ANCHOR_END: runtime

// ANCHOR: listen
/// socket(), SO_REUSEADDR, bind() and listen(), as in tcp-server; tokio's sockets are
/// non-blocking from the start. Called inside the runtime: the listener registers with it.
fn listen(echo: &EchoArgs) -> anyhow::Result<TcpListener> {
    let local = echo.bind.local_addr()?;
    let socket = match local {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    // SO_SNDBUF, SO_RCVBUF: the kernel's buffers for each client, as in tcp-server.
    echo.size_buffers(&socket)?;
    socket
        .bind(local)
        .with_context(|| CannotBind::new(local, Proto::Tcp))?;
    let listener = socket
        .listen(echo.backlog)
        .with_context(|| format!("cannot listen on {local}"))?;
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    Ok(listener)
}
// ANCHOR_END: listen

async fn serve_all(args: Args) -> anyhow::Result<()> {
    let options = Options {
        quiet: args.echo.quiet,
        encoding: args.echo.encoding,
        hexdump: Hexdump::new(args.echo.hexdump),
        idle_timeout: args.echo.idle_timeout,
    };
    let listener = listen(&args.echo)?;
    // Every client is a descriptor: raise the soft limit to the hard one, fit the places to it.
    let max_clients = args.echo.raise_fd_limit();
    // ANCHOR: accept
    // --max-clients and --max-per-address, as in tcp-server; each place keeps its Notify.
    let slots = Slots::evicting(max_clients, args.echo.max_per_address);
    // A descriptor kept open for the day all the others are taken (below).
    let mut spare = File::open("/dev/null").ok();
    loop {
        // .await: if no connection waits, this task sleeps here and the runtime runs others
        // (tcp-poll's WouldBlock, then epoll_wait until the listener is readable).
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE, ENFILE: no descriptor left, the connection stays queued. Close the
            // spare one, accept into it, and refuse that client at once, as tcp-poll does.
            Err(e) if fdlimit::is_out_of_descriptors(&e) && spare.take().is_some() => {
                if let Ok((refused, peer)) = listener.accept().await {
                    drop(refused);
                    let why = format!("{e}, closed at once (ulimit -n)");
                    told(&options, peer, false, format_args!("refused {peer}: {why}"));
                }
                spare = File::open("/dev/null").ok();
                continue;
            }
            Err(e) => {
                log::error("accept failed", e);
                // No spare descriptor either: wait for clients to leave.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let evict = Arc::new(Notify::new());
        let (slot, evicted) = match slots.take_or_evict(peer.ip(), Arc::clone(&evict)) {
            Ok(taken) => taken,
            Err(full) => {
                let why = "(--max-clients, --max-per-address)";
                told(
                    &options,
                    peer,
                    false,
                    format_args!("refused {peer}: {full} {why}"),
                );
                continue; // Dropping `stream` closes the connection.
            }
        };
        // All places were taken: wake the idle client's task; it closes its socket.
        if let Some(idle) = evicted {
            idle.handle.notify_one();
        }
        told(&options, peer, true, format_args!("accepted {peer}"));
        // A task per client: a few hundred bytes on the heap, where tcp-server spends a
        // thread. It runs on this same thread, whenever its socket is ready.
        tokio::spawn(serve_client(stream, Client { peer, slot, evict }, options));
    }
    // ANCHOR_END: accept
}

/// A client's task: who it serves, its place, and what wakes it to make room.
struct Client {
    peer: SocketAddr,
    slot: Slot,
    evict: Arc<Notify>,
}

// ANCHOR: echo
/// Echoes what `peer` sends until it closes, then logs how the connection ended.
async fn serve_client(mut stream: TcpStream, client: Client, options: Options) {
    let Client { peer, slot, evict } = client;
    let mut chunks = ChunkLog::new(peer, options.encoding);
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total: u64 = 0;
    let ended = loop {
        // timeout(): the read, or the idle limit, whichever comes first; unless_evicted():
        // or the call to make room.
        let read = timeout(options.idle_timeout, stream.read(&mut buf));
        let Some(read) = unless_evicted(&evict, read).await else {
            break End::Evicted(slot.evicted().unwrap_or_default());
        };
        let len = match read {
            Err(_) => break End::Silent(options.idle_timeout),
            // Ok(0): the client sent FIN. It will send nothing more.
            Ok(Ok(0)) => break End::Fin,
            Ok(Ok(len)) => len,
            Ok(Err(e)) => break End::Failed(e),
        };
        let chunk = &buf[..len];
        total += len as u64;
        slot.touch();
        options.hexdump.received(peer, chunk);
        if !options.quiet {
            chunks.received(chunk);
        }
        // write_all loops over write() until all is sent, and the task sleeps while the
        // client's window is full (tcp-poll's pending buffer and WRITABLE interest).
        let write = timeout(options.idle_timeout, stream.write_all(chunk));
        let Some(written) = unless_evicted(&evict, write).await else {
            break End::Evicted(slot.evicted().unwrap_or_default());
        };
        match written {
            Err(_) => break End::NotReading(options.idle_timeout),
            Ok(Err(e)) => break End::Failed(e),
            Ok(Ok(())) => {
                slot.touch();
                options.hexdump.sent(peer, chunk);
            }
        }
        // ANCHOR: turn
        // One chunk is this task's turn: back of the queue, behind every other task ready.
        // tokio's own budget ends a turn after 128 reads and writes, 128 KiB here, and 1000
        // busy clients made another wait about 0.3 s for each echo (see the chapter).
        tokio::task::yield_now().await;
        // ANCHOR_END: turn
    };
    // Closing the socket sends our FIN (an RST if bytes from the client lie unread), and
    // giving back the slot frees the client's place.
    drop(stream);
    drop(slot);
    if !options.quiet {
        session::queue_end(peer, ended, total, &chunks.not_shown());
    }
}
// ANCHOR_END: echo

// ANCHOR: unless_evicted
/// Runs `io` (a read or a write) to its end, unless `evict` is notified first: then `None`,
/// and `io` is dropped unfinished. This is what `tokio::select!` writes for us: poll both
/// futures each time the task wakes, and take the first one ready.
async fn unless_evicted<T>(evict: &Notify, io: impl Future<Output = T>) -> Option<T> {
    let mut io = pin!(io);
    let mut evicted = pin!(evict.notified());
    poll_fn(|cx| {
        if evicted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        io.as_mut().poll(cx).map(Some)
    })
    .await
}
// ANCHOR_END: unless_evicted

/// One line about a connection accepted or refused, unless --quiet, within its address's
/// share of such lines (`common::connlog`).
fn told(options: &Options, peer: SocketAddr, accepted: bool, line: std::fmt::Arguments) {
    match (options.quiet, accepted) {
        (true, _) => {}
        (false, true) => common::connlog::accepted(peer, line),
        (false, false) => common::connlog::refused(peer, line),
    }
}

/// One line about one connection, unless --quiet: queued, never blocking the thread. (Not
/// for a line told when a connection starts or is refused: those go through [`told`].)
#[allow(dead_code, reason = "the exercises' lines go through it")]
fn quiet_or(options: &Options, line: std::fmt::Arguments) {
    if !options.quiet {
        log::line(line);
    }
}
