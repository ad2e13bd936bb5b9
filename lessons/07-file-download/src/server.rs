//! `serve`: one thread per client, each reading one request and answering it.

use std::fs::File;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::fdlimit::{self, Spare};
use common::pace::{Cut, Pace};
use common::text::count;
use common::{CannotBind, Evicted, Full, Hexdump, Proto, Root, Slot, Slots, logln};

use crate::args::{ServeArgs, Wire};
use crate::protocol::{Connection, Header, LineError, ListLine, Request, Version, quoted};
use crate::seed;

/// The most files one listing shows: a listing costs the server time and the client screen
/// space, so it has a bound, and says when it stopped there.
pub const MAX_LISTED: u64 = 1000;

/// The most directory entries one listing looks at, files or not: a root full of links or
/// subdirectories would otherwise cost a `stat` each for a listing that shows nothing.
pub const MAX_EXAMINED: u64 = 10 * MAX_LISTED;

/// When every place is taken, a connection whose request has not come whole after this long
/// may be closed to make room for a newcomer (http-server's `SLOW_HEAD`)...
pub const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// ...and, after those, one whose client has taken nothing of its answer for this long. Two
/// of `common::pace::TICK`: the server learns that its client took bytes only when a wait for
/// room ends, a TICK at most, so a client reading steadily but slower than a third of the send
/// buffer a second looked idle for a whole TICK every TICK, and at 1 s (one TICK) a newcomer
/// arriving just then took its place: a 100 KiB/s download was cut 4 times in 4.
pub const STALLED_ANSWER: Duration = common::pace::TICK.saturating_mul(2);

/// The server: what it serves, its places, and its limits.
pub struct Server {
    pub root: Root,
    /// Places a newcomer may take from a client that makes no progress: each holds a second
    /// handle on its socket, to close it (none for the seed's protocol: see `run`).
    pub slots: Slots<Option<TcpStream>>,
    pub args: ServeArgs,
    pub hexdump: Hexdump,
}

// ANCHOR: serve
impl Server {
    pub fn run(self) -> anyhow::Result<()> {
        let local = self.args.bind.local_addr()?;
        // socket, SO_REUSEADDR, bind and listen(128) in one call (see the TCP server chapter).
        let listener =
            TcpListener::bind(local).with_context(|| CannotBind::new(local, Proto::Tcp))?;
        common::announce_listening(listener.local_addr()?, Proto::Tcp);
        logln!("serving the files under {}", self.root.path().display());
        let server = Arc::new(self);
        let mut spare = Spare::new();
        loop {
            let Some((stream, peer)) = fdlimit::next_client(&listener, &mut spare) else {
                continue;
            };
            // A place for this client, if there is one left in all and for its address, or
            // one given up by a client that makes no progress (the seed's protocol, whose
            // requests have no end but the close, keeps every place it takes).
            let taken = match server.args.protocol {
                Wire::Framed => (server.slots).take_or_evict(peer.ip(), stream.try_clone().ok()),
                Wire::Seed => server.slots.take(peer.ip()).map(|slot| (slot, None)),
            };
            let slot = match taken {
                Ok((slot, evicted)) => {
                    if let Some(evicted) = evicted {
                        make_room(evicted, peer);
                    }
                    slot
                }
                Err(full) => {
                    let flag = match full {
                        Full::Server(_) => "--max-clients",
                        Full::Address(_) => "--max-per-address",
                    };
                    // Within its address's share of such lines (common::connlog).
                    let line = format_args!("refused {peer}: {full} ({flag})");
                    common::connlog::refused(peer, line);
                    // One short line into an empty send buffer: this write does not wait.
                    let _ = Connection::new(&stream, server.hexdump)
                        .and_then(|mut conn| conn.send(Header::Refused("busy".into())));
                    continue;
                }
            };
            let server = Arc::clone(&server);
            let spawned = thread::Builder::new().spawn(move || {
                let served = match server.args.protocol {
                    Wire::Seed => seed::serve_client(&server, &stream),
                    Wire::Framed => server.serve_client(&stream, &slot),
                };
                match served {
                    Ok(()) => {}
                    // Reset before its thread asked its address (ENOTCONN): a client gone
                    // before its request, within its share as in read_request.
                    Err(e) if gone_at_once(&e) => {
                        common::connlog::refused(peer, format_args!("no request from {peer}: {e}"))
                    }
                    // Reset, or its end closed, while it was answered: the client's doing, a
                    // line within its share too (it was an error and a hint on stderr).
                    Err(e) if went_away(&e) => {
                        common::connlog::refused(peer, format_args!("{peer} went away: {e:#}"))
                    }
                    // Closed to make room (make_room said why): what that cut, within the share.
                    Err(e) if made_room(&e) => {
                        common::connlog::refused(peer, format_args!("{peer}: {e:#}"))
                    }
                    Err(e) => common::log::error(format_args!("{peer}"), e),
                }
                drop(slot);
            });
            // None left (ulimit -u): the connection and its place go with the closure. A
            // panic here (thread::spawn's) ended the server for everyone.
            if let Err(e) = spawned {
                let line = format_args!("refused {peer}: no thread could start for it: {e}");
                common::connlog::refused(peer, line);
            }
        }
    }
    // ANCHOR_END: serve

    // ANCHOR: serve_client
    /// Reads one request and answers it: a header line, then the file's bytes or the listing.
    fn serve_client(&self, stream: &TcpStream, slot: &Slot) -> anyhow::Result<()> {
        // Each message leaves whole, in one write, at once: no waiting for Nagle's algorithm
        // to gather more (it would wait for an ACK that a client delays by up to 40 ms).
        stream.set_nodelay(true)?;
        // SO_SNDTIMEO: a write that can put nothing into the send buffer for --timeout,
        // because the client reads nothing (or too little), fails instead of holding the
        // thread for ever.
        stream.set_write_timeout(Some(self.args.timeout))?;
        let mut conn = Connection::new(stream, self.hexdump)?.holding(slot);
        match self.read_request(&mut conn)? {
            Some(Request::Get {
                offset,
                version,
                name,
            }) => self.send(&mut conn, offset, version, &name),
            Some(Request::List) => self.send_listing(&mut conn),
            None => Ok(()),
        }
    }

    /// The request, if one came whole within --request-timeout: a client that sends nothing,
    /// or sends it one byte at a time, holds its place for no longer than that.
    fn read_request(&self, conn: &mut Connection<'_>) -> anyhow::Result<Option<Request>> {
        let peer = conn.peer();
        let line = match conn.read_line_by(Instant::now() + self.args.request_timeout) {
            Ok(line) => line,
            // One line for the connection, within its address's share (common::connlog).
            Err(e) if e.is_timeout() => {
                let line =
                    format_args!("{peer} timed out: no complete request within --request-timeout");
                common::connlog::refused(peer, line);
                return Ok(None);
            }
            // A client that has gone cannot be told anything.
            Err(e @ (LineError::Closed(_) | LineError::Io(_))) => {
                common::connlog::refused(peer, format_args!("no request from {peer}: {e}"));
                return Ok(None);
            }
            // Logged within its address's share, as a refusal is (common::connlog), so that
            // bad requests cannot fill the log; a client gone before its ERR adds no line.
            Err(e) => {
                common::connlog::refused(peer, format_args!("bad request from {peer}: {e}"));
                let _ = conn.send(Header::Refused(e.to_string()));
                return Ok(None);
            }
        };
        match Request::parse(&line) {
            Ok(request) => Ok(Some(request)),
            Err(why) => {
                common::connlog::refused(peer, format_args!("bad request from {peer}: {why}"));
                let _ = conn.send(Header::Refused(why));
                Ok(None)
            }
        }
    }
    // ANCHOR_END: serve_client

    // ANCHOR: send
    /// Answers GET: the header with the size, then the bytes from `offset` on.
    fn send(
        &self,
        conn: &mut Connection<'_>,
        offset: u64,
        version: Option<Version>,
        name: &str,
    ) -> anyhow::Result<()> {
        let peer = conn.peer();
        let shown = quoted(name);
        let file = match self.root.open(name) {
            Ok(file) => file,
            Err(refusal) => {
                common::connlog::request(peer, format_args!("refused {peer}: {shown}: {refusal}"));
                return Ok(conn.send(Header::Refused(refusal.to_string()))?);
            }
        };
        // fstat on the open file: the size and version of what will be sent.
        let meta = file.metadata()?;
        let size = meta.len();
        let current = Version::new(size, meta.mtime(), meta.mtime_nsec());
        // As HTTP's If-Range: the rest of the version the client has, or else all of it.
        let offset = match version {
            Some(theirs) if theirs != current => {
                let line = format_args!(
                    "{peer} has {shown} at version {theirs}, now {current}: sending all"
                );
                common::connlog::request(peer, line);
                0
            }
            _ => offset,
        };
        if offset > size {
            let line = format_args!(
                "refused {peer}: {shown}: offset {offset} is past the end ({size} bytes)"
            );
            common::connlog::request(peer, line);
            let why = format!("offset {offset} is past the end of the file ({size} bytes)");
            return Ok(conn.send(Header::Refused(why))?);
        }

        // The header says how many bytes follow, before the first one is sent.
        conn.send(Header::File {
            size,
            offset,
            version: current,
        })?;
        let started = Instant::now();
        let sent = match self.send_file(&file, conn.stream(), offset, size - offset, conn.slot()) {
            Ok(sent) => sent,
            Err(cut) => {
                return self
                    .cut(conn, cut)
                    .context(format!("sending {shown} failed"));
            }
        };
        if sent < size - offset {
            bail!(
                "{shown} shrank while it was sent: {sent} of {} bytes",
                size - offset
            );
        }
        // Within the address's share of request lines (common::connlog::request).
        let sent = count(sent, "byte", "bytes");
        let took = started.elapsed();
        let line =
            format_args!("sent {shown} to {peer}: {sent} from offset {offset} in {took:.2?}");
        common::connlog::request(peer, line);
        Ok(())
    }
    // ANCHOR_END: send

    /// Tells why a transfer was dropped; only an unexpected error goes on as an error. A
    /// client dropped for being slow gets a reset when the connection closes, not the rest of
    /// the send buffer at its pace.
    pub fn cut(&self, conn: &Connection<'_>, cut: Cut) -> io::Result<()> {
        let peer = conn.peer();
        // The line that ends a request, within its address's share as the others.
        let line = match cut {
            Cut::Stalled => format!("{peer} stalled: {STALLED}; dropping it"),
            Cut::TooSlow(sent, took) => format!(
                "{peer} reads too slowly: {} in {took:.0?}, under --min-rate {}/s; dropping it",
                common::size::amount(sent),
                common::size::amount(self.args.min_rate)
            ),
            Cut::Failed(e) => return Err(e),
        };
        common::connlog::request(peer, format_args!("{line}"));
        common::pace::reset_on_close(conn.stream());
        Ok(())
    }

    /// Sends `len` bytes of `file`, from byte `offset` on, down the connection, as long as
    /// the client reads at --min-rate at least (after --timeout) and never stops for --timeout:
    /// `common::pace`, which http-server shares. Each wait for room tells `slot` when the
    /// client last took a byte: one that takes nothing for STALLED_ANSWER may lose its place.
    pub fn send_file(
        &self,
        file: &File,
        stream: &TcpStream,
        offset: u64,
        len: u64,
        slot: Option<&Slot>,
    ) -> Result<u64, Cut> {
        let pace = Pace {
            timeout: self.args.timeout,
            min_rate: self.args.min_rate,
        };
        let sent = common::pace::send_file_watched(file, stream, offset, len, pace, |last| {
            if let Some(slot) = slot {
                slot.moved(last);
            }
        });
        match sent {
            // Closed to make room: the write failed for that, whatever its error says.
            Err(Cut::Failed(_)) if slot.is_some_and(|slot| slot.evicted().is_some()) => {
                Err(Cut::Failed(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed to make room for a newcomer",
                )))
            }
            sent => sent,
        }
    }

    // ANCHOR: send_listing
    /// Answers LIST: a header, one line per regular file as the directory yields it, and an
    /// `END` line with the count, which says so if the listing stopped at [`MAX_LISTED`]
    /// files or [`MAX_EXAMINED`] entries.
    fn send_listing(&self, conn: &mut Connection<'_>) -> anyhow::Result<()> {
        let peer = conn.peer();
        conn.queue(Header::Listing)?;
        let (mut listed, mut examined) = (0, 0);
        let mut note = None;
        let sent = (|| -> io::Result<()> {
            for entry in self.root.entries()? {
                if listed == MAX_LISTED || examined == MAX_EXAMINED {
                    note = Some(format!(
                        "stopped at {MAX_LISTED} files or {MAX_EXAMINED} entries, the most one \
                         listing shows or looks at"
                    ));
                    break;
                }
                examined += 1;
                if let Some((name, size)) = entry? {
                    // Lines leave as the buffer fills: memory stays flat, however many files.
                    conn.queue(ListLine::File { size, name })?;
                    listed += 1;
                }
            }
            conn.send(ListLine::End {
                count: listed,
                note: note.clone(),
            })
        })();
        match sent {
            Ok(()) => {}
            Err(e) if is_stall(&e) => {
                let line = format_args!("{peer} stalled: {STALLED}; dropping it");
                common::connlog::request(peer, line);
                common::pace::reset_on_close(conn.stream());
                return Ok(());
            }
            Err(e) => return Err(e).context("listing failed"),
        }
        let stopped = match note {
            Some(_) => format!(" (stopped there, after {examined} entries)"),
            None => String::new(),
        };
        let listed = count(listed, "file", "files");
        common::connlog::request(peer, format_args!("listed {listed} for {peer}{stopped}"));
        Ok(())
    }
    // ANCHOR_END: send_listing
}

/// Closes the client that gave its place to `newcomer`, and says why it was that one.
fn make_room(evicted: Evicted<Option<TcpStream>>, newcomer: SocketAddr) {
    let Some(socket) = evicted.handle else {
        return;
    };
    // Its thread, asleep in a read or waiting for room to write, wakes up and ends.
    let _ = socket.shutdown(Shutdown::Both);
    let who = socket
        .peer_addr()
        .map_or("a client".to_string(), |a| a.to_string());
    let idle = evicted.idle;
    let why = match evicted.answering {
        // Taking its answer, but from an address that held two places more (common::slots).
        true if idle < STALLED_ANSWER => {
            "its address held two places more than the newcomer's".to_string()
        }
        true => format!("its client had taken nothing of the answer for {idle:.1?}"),
        false => format!("no whole request from it in {idle:.1?}"),
    };
    // A line about the newcomer's connection, within its address's share (common::connlog):
    // an address that comes back again and again to take places makes no more lines.
    let line = format_args!("closed {who} to make room for {newcomer}: {why}");
    common::connlog::refused(newcomer, line);
}

/// What a stalled client's line says: the send buffer stayed full. The client may have read
/// nothing, or a little (a client reading 342 bytes a second, with a small receive buffer,
/// frees room too rarely for the kernel to send again within --timeout).
const STALLED: &str = "nothing could be sent to it for --timeout";

/// Whether a write failed because it could put nothing into the send buffer for the whole
/// write timeout.
pub fn is_stall(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether a client's thread failed because the client was gone before it was served: its
/// connection reset before `peer_addr` (getpeername fails with ENOTCONN, a read or write on
/// a reset socket never does).
fn gone_at_once(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::NotConnected)
}

/// Whether a client's thread failed because its connection was closed to make room for a
/// newcomer while it was answered (`send_file`'s `ConnectionAborted`). It was an `error:` line
/// on stderr, outside the address's share, one each time a newcomer took a place.
fn made_room(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::ConnectionAborted)
}

/// Whether a client's thread failed because the client reset the connection or closed it
/// while it was being answered (`ECONNRESET`, `EPIPE`).
fn went_away(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        )
    })
}
