//! One client of the loop: its state between events, and its turn when an event names it.

use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use common::chunklog::ChunkLog;
use common::session::End;
use common::{Encoding, Hexdump, Slot};
use mio::net::TcpStream;

/// Echo bytes read but not yet written back, per client, before the loop stops reading from
/// it: a client that sends without reading its echo is slowed down, not given all our memory.
/// Reads never take more than the room left, so with --max-clients 4096 the pending buffers
/// hold at most 4096 × 64 KiB = 256 MiB.
pub const MAX_PENDING: usize = 64 * 1024;

// ANCHOR: budget
/// Reads one client may make in one turn. A client that sends as fast as it reads never lets
/// its socket run dry, so a turn that read until `WouldBlock` would never end, and every
/// other client would wait. tokio gives each task a budget per turn for the same reason.
pub const BUDGET: usize = 16;
// ANCHOR_END: budget

/// One connected client: its socket and what the loop remembers between events.
pub struct Client {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Bytes read from the client that the kernel would not yet take back.
    pub pending: Vec<u8>,
    /// The socket may hold bytes we have not read: an event said readable, and no read has
    /// found it empty since. A writable event alone then only flushes.
    pub readable: bool,
    /// An event said the client's FIN has arrived (`EPOLLRDHUP`): read on to the `Ok(0)`.
    pub fin_seen: bool,
    /// We read the FIN: once `pending` is written, we close.
    pub finished: bool,
    pub received: u64,
    /// The received lines, within a log budget per client.
    pub chunks: ChunkLog,
    /// The client's place under --max-clients and --max-per-address, given back on drop. It
    /// knows when the client last moved a byte (`touch`), for --idle-timeout and for
    /// choosing who makes room when every place is taken.
    pub slot: Slot,
}

/// How a client's turn in the loop ended.
pub enum Turn {
    /// Keep the client. `again`: it spent its whole budget, and its socket may hold more.
    Open { again: bool },
    /// Close it, for this reason.
    Close(End),
}

/// What the serving of a client needs to know.
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub quiet: bool,
    pub hexdump: Hexdump,
}

impl Client {
    /// A client just accepted, in its place, with nothing read or written yet.
    pub fn new(stream: TcpStream, peer: SocketAddr, encoding: Encoding, slot: Slot) -> Client {
        Client {
            stream,
            peer,
            pending: Vec::new(),
            readable: false,
            fin_seen: false,
            finished: false,
            received: 0,
            chunks: ChunkLog::new(peer, encoding),
            slot,
        }
    }
}

// ANCHOR: echo
impl Client {
    /// Writes what it can of the pending echo, then reads and echoes, until the socket is
    /// empty or the budget is spent.
    pub fn take_turn(&mut self, buf: &mut [u8], options: Options) -> Turn {
        for _ in 0..BUDGET {
            if let Err(e) = self.flush(options.hexdump) {
                return Turn::Close(End::Failed(e));
            }
            if self.finished && self.pending.is_empty() {
                return Turn::Close(End::Fin);
            }
            // Stop reading while too much echo waits for the client to read it: WRITABLE
            // brings us back when it does.
            if !self.readable || self.finished || self.pending.len() >= MAX_PENDING {
                return Turn::Open { again: false };
            }
            // Read no more than the room left, so that `pending` never grows past MAX_PENDING.
            let room = (MAX_PENDING - self.pending.len()).min(buf.len());
            let len = match self.stream.read(&mut buf[..room]) {
                // Ok(0): the client sent FIN. It will send nothing more.
                Ok(0) => {
                    self.finished = true;
                    continue;
                }
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Turn::Open { again: false };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Turn::Close(End::Failed(e)),
            };
            self.echo(&buf[..len], options);
            // A short read took everything there was. Bytes that arrive later raise a new
            // edge-triggered event, so there is no need to read again only to hear WouldBlock
            // (tokio does the same). Unless the FIN is already here: read on to the Ok(0).
            if len < room && !self.fin_seen {
                self.readable = false;
                return match self.flush(options.hexdump) {
                    Ok(()) => Turn::Open { again: false },
                    Err(e) => Turn::Close(End::Failed(e)),
                };
            }
        }
        // The budget is spent, and the socket may hold more: the others go first.
        Turn::Open { again: true }
    }

    /// Logs a chunk read from the client and queues it for the echo.
    fn echo(&mut self, chunk: &[u8], options: Options) {
        // Room grows as a Vec's does, by doubling, but never past MAX_PENDING: the limit is on
        // the memory held, and a doubling from 48 KiB would hold 96 KiB for 64 KiB of echo.
        let len = self.pending.len() + chunk.len();
        if len > self.pending.capacity() {
            let want = len
                .max(self.pending.capacity() * 2)
                .min(MAX_PENDING.max(len));
            self.pending.reserve_exact(want - self.pending.len());
        }
        self.received += chunk.len() as u64;
        self.slot.touch();
        options.hexdump.received(self.peer, chunk);
        if !options.quiet {
            self.chunks.received(chunk);
        }
        self.pending.extend_from_slice(chunk);
    }

    /// Writes as much of the pending echo as the kernel takes now, and keeps the rest.
    fn flush(&mut self, hexdump: Hexdump) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    hexdump.sent(self.peer, &self.pending[..n]);
                    self.pending.drain(..n);
                    self.slot.touch();
                }
                // The client's receive window and our send buffer are full: it is not reading.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
// ANCHOR_END: echo

/// Hashes the clients' tokens. std's HashMap hashes with SipHash, which stands up to keys chosen
/// to collide (hash flooding), and was a third of the instructions this server ran in user
/// space per exchange. Tokens are numbers this loop counts itself, never chosen by a peer: one
/// multiplication spreads them over the table (Fibonacci hashing).
#[derive(Default)]
pub struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// Only usize keys come here (a `Token` is one); anything else, byte by byte.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_usize((self.0 as usize) ^ usize::from(byte));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Slots;
    use std::time::{Duration, Instant};

    /// A client whose socket holds far more than one turn's budget of reads gets one turn of
    /// BUDGET reads, and is told to come back: the others go first. Without the budget, the turn
    /// read on until the socket was empty (here 64 reads; with a client that keeps sending as
    /// fast as it reads, never).
    #[test]
    fn a_turn_ends_after_its_budget_though_the_socket_holds_more() {
        const READ: usize = 1024; // A small buffer: 64 reads' worth fits in any receive buffer.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, addr) = listener.accept().unwrap();
        peer.write_all(&[b'x'; 64 * READ]).unwrap();
        // Wait (bounded) until all of it has arrived in the server's receive queue.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut peek = vec![0u8; 64 * READ];
        while server.peek(&mut peek).unwrap() < peek.len() {
            assert!(Instant::now() < deadline, "the bytes did not arrive");
            std::thread::yield_now();
        }
        server.set_nonblocking(true).unwrap();
        let slots: Slots<usize> = Slots::evicting(1, 1);
        let (slot, _) = slots.take_or_evict(addr.ip(), 0).unwrap();
        let stream = TcpStream::from_std(server);
        let mut client = Client::new(stream, addr, Encoding::Utf8, slot);
        client.readable = true;
        // Struct update: an exercise that adds an option keeps this test building.
        let options = Options {
            quiet: true,
            ..Options::default()
        };
        let mut buf = [0u8; READ];
        let turn = client.take_turn(&mut buf, options);
        assert!(matches!(turn, Turn::Open { again: true }));
        assert_eq!(client.received, (BUDGET * READ) as u64);
    }
}
