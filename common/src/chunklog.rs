//! The `received N bytes from PEER: text` lines of an echo server, within a budget per
//! client, so that what a peer sends cannot make the log much larger than its traffic.
//!
//! A line shows at most [`SHOWN_PER_CHUNK`](crate::log::SHOWN_PER_CHUNK) bytes of a chunk, so
//! big chunks make small logs. Small chunks are the other way round: one byte per TCP
//! segment, each waiting for its echo, made tcp-server write about 45 bytes of log per byte
//! received (20,000 bytes in, 900,101 bytes of log). So each client's lines may take
//! [`CREDIT`] bytes of log, plus one byte of log for each byte it sent. A line that does not
//! fit is not printed but counted; the next line that fits says how many were not shown, and
//! the line that ends the connection says it for the last ones ([`ChunkLog::not_shown`]):
//!
//! ```text
//! received 1 byte from 127.0.0.1:50002: x (after 45 reads, 45 bytes, not shown: log budget)
//! 127.0.0.1:50002 closed the connection (FIN) after 5000 bytes; closing ours (after 17 reads, 17 bytes, not shown: log budget)
//! ```
//!
//! The bytes of log beyond what the clients sent come from one [`Shared`] allowance for the
//! whole server, [`BURST`] bytes refilled at [`REFILL`] bytes a second, not from a credit per
//! connection: a credit per connection is a credit per `connect`, and a client that opened
//! connection after connection, sending 50 bytes one at a time on each, got a fresh 4 KiB of
//! log every time. A class's interactive sessions, lines typed now and then, fit in the
//! allowance; a flood of small chunks, from one connection or from many, empties it, and the
//! server's log then grows by at most as many bytes as it receives, plus a kilobyte a second.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::text::{self, Encoding, StreamDecoder};

/// Bytes of log the clients' lines may take beyond the bytes they sent, at most, in all.
pub const BURST: u64 = 16 * 1024;
/// Bytes a second by which that allowance fills up again.
pub const REFILL: u64 = 1024;

/// The allowance that every client's lines draw on beyond their own bytes: a token bucket.
#[derive(Debug)]
pub struct Shared(Mutex<(u64, Instant)>);

impl Shared {
    pub fn new() -> Shared {
        Shared(Mutex::new((BURST, Instant::now())))
    }

    /// Takes `bytes` from the allowance if it holds that many.
    fn take(&self, bytes: u64) -> bool {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (left, since) = &mut *guard;
        let refill = since.elapsed().as_millis() as u64 * REFILL / 1000;
        if refill > 0 {
            *left = (*left + refill).min(BURST);
            *since = Instant::now();
        }
        if *left < bytes {
            return false;
        }
        *left -= bytes;
        true
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// The server's allowance, shared by every [`ChunkLog::new`].
fn shared() -> Arc<Shared> {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    Arc::clone(SHARED.get_or_init(|| Arc::new(Shared::new())))
}

/// The chunk lines of one client, and what they have cost so far.
pub struct ChunkLog {
    peer: SocketAddr,
    decoder: StreamDecoder,
    shared: Arc<Shared>,
    /// Bytes of log written for this client out of its own bytes, newlines included.
    spent: u64,
    /// Bytes the client sent.
    received: u64,
    hidden_reads: u64,
    hidden_bytes: u64,
}

impl ChunkLog {
    pub fn new(peer: SocketAddr, encoding: Encoding) -> ChunkLog {
        ChunkLog::drawing_on(shared(), peer, encoding)
    }

    /// A client's lines that draw on `shared` beyond its own bytes (tests give their own).
    pub fn drawing_on(shared: Arc<Shared>, peer: SocketAddr, encoding: Encoding) -> ChunkLog {
        ChunkLog {
            peer,
            decoder: encoding.stream_decoder(),
            shared,
            spent: 0,
            received: 0,
            hidden_reads: 0,
            hidden_bytes: 0,
        }
    }

    /// Logs one chunk read from the client (see [`crate::log`]), if the budget allows.
    pub fn received(&mut self, chunk: &[u8]) {
        if let Some(line) = self.line(chunk) {
            crate::log::line(format_args!("{line}"));
        }
    }

    /// The line for `chunk`, or `None` if it does not fit in the budget (then it is counted).
    fn line(&mut self, chunk: &[u8]) -> Option<String> {
        let len = chunk.len() as u64;
        self.received += len;
        // The decoder sees every chunk, shown or not, so a character split between two
        // chunks is still shown whole.
        let shown = (self.decoder).show_capped(chunk, false, crate::log::SHOWN_PER_CHUNK);
        let count = text::count(len, "byte", "bytes");
        let mut line = format!("received {count} from {}: {shown}", self.peer);
        line.push_str(&self.not_shown());
        // The line is paid for with the client's own bytes first, then from the allowance.
        let cost = line.len() as u64 + 1;
        let own = self.received - self.spent;
        if cost > own && !self.shared.take(cost - own) {
            self.hidden_reads += 1;
            self.hidden_bytes += len;
            return None;
        }
        self.spent += cost.min(own);
        self.hidden_reads = 0;
        self.hidden_bytes = 0;
        Some(line)
    }

    /// What the line that ends the connection adds when reads were not shown since the last
    /// line: ` (after K reads, N bytes, not shown: log budget)`, or nothing.
    pub fn not_shown(&self) -> String {
        if self.hidden_reads == 0 {
            return String::new();
        }
        format!(
            " (after {}, {}, not shown: log budget)",
            text::count(self.hidden_reads, "read", "reads"),
            text::count(self.hidden_bytes, "byte", "bytes")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:50002".parse().unwrap()
    }

    fn log(shared: &Arc<Shared>) -> ChunkLog {
        ChunkLog::drawing_on(Arc::clone(shared), peer(), Encoding::Utf8)
    }

    #[test]
    fn one_byte_chunks_make_no_more_log_than_the_allowance_and_the_bytes() {
        let shared = Arc::new(Shared::new());
        let mut log = log(&shared);
        let mut written = 0u64;
        for _ in 0..20_000 {
            if let Some(line) = log.line(b"x") {
                written += line.len() as u64 + 1;
            }
        }
        // The test runs for well under a second: at most one refill.
        assert!(written <= BURST + REFILL + 20_000 + 200, "{written}");
        // Lines still come, now and then, each saying what was not shown.
        let line = (0..200).find_map(|_| log.line(b"y")).unwrap();
        assert!(line.contains("not shown: log budget"), "{line}");
    }

    #[test]
    fn many_connections_share_one_allowance() {
        // A client that opens connection after connection, sending 50 bytes one at a time
        // on each: a credit per connection gave it 4 KiB of log every time.
        let shared = Arc::new(Shared::new());
        let mut written = 0u64;
        for _ in 0..1000 {
            let mut log = log(&shared);
            for _ in 0..50 {
                written += log.line(b"x").map_or(0, |l| l.len() as u64 + 1);
            }
        }
        assert!(written <= BURST + REFILL + 50_000, "{written}");
    }

    #[test]
    fn big_chunks_are_all_shown_and_the_first_small_ones_too() {
        let shared = Arc::new(Shared::new());
        let mut log = log(&shared);
        for _ in 0..50 {
            assert!(log.line(b"hello, world\n").is_some());
        }
        for _ in 0..1000 {
            assert!(log.line(&[b'a'; 300]).is_some());
        }
        assert!(log.not_shown().is_empty());
    }

    #[test]
    fn the_end_says_how_many_were_not_shown() {
        let shared = Arc::new(Shared::new());
        let mut log = log(&shared);
        let hidden = (0..1000).filter(|_| log.line(b"x").is_none()).count();
        assert!(hidden > 0);
        let note = log.not_shown();
        assert!(note.starts_with(" (after "), "{note}");
        assert!(note.ends_with(" not shown: log budget)"), "{note}");
    }
}
