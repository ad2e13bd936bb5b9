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
//! The bytes of log beyond what the clients sent come from an allowance per IP address,
//! [`BURST`] bytes refilled at [`REFILL`] bytes a second, not from a credit per connection: a
//! credit per connection is a credit per `connect`, and a client that opened connection after
//! connection, sending 50 bytes one at a time on each, got a fresh 4 KiB of log every time.
//! Nor from one allowance for the whole server: one client sending one byte at a time
//! (about 29,000 reads a second) kept that empty, and a classmate's lines typed now and then
//! were hidden, 9 of 11. A class's interactive sessions, lines typed now and then, fit in
//! their own address's allowance, whatever another address sends. All addresses together
//! draw on [`TOTAL_BURST`] refilled at [`TOTAL_REFILL`] bytes a second, so the server's log
//! grows by at most as many bytes as it receives, plus 8 KiB a second, however many
//! addresses flood it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::limit::Limiter;
use crate::text::{self, Encoding, StreamDecoder};

/// Bytes of log one address's lines may take beyond the bytes it sent, at most.
pub const BURST: u64 = 16 * 1024;
/// Bytes a second by which one address's allowance fills up again.
pub const REFILL: u64 = 1024;
/// Bytes of log all the addresses' lines together may take beyond what they sent, at most.
pub const TOTAL_BURST: u64 = 64 * 1024;
/// Bytes a second by which that fills up again.
pub const TOTAL_REFILL: u64 = 8 * 1024;
/// Addresses whose allowance is kept at once; beyond them, only addresses whose allowance
/// has filled up again are forgotten (see [`crate::limit`]).
pub const MAX_ADDRESSES: usize = 1024;

/// The allowances that clients' lines draw on beyond their own bytes: a token bucket per
/// address, and one for them all.
pub struct Shared(Mutex<Allowances>);

struct Allowances {
    each: Limiter,
    total: u64,
    since: Instant,
}

impl Shared {
    pub fn new() -> Shared {
        Shared(Mutex::new(Allowances {
            each: Limiter::new(BURST as u32, REFILL as u32, MAX_ADDRESSES),
            total: TOTAL_BURST,
            since: Instant::now(),
        }))
    }

    /// Takes `bytes` from the allowance of `ip` and from the total, if both hold that many.
    fn take(&self, ip: IpAddr, bytes: u64) -> bool {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let a = &mut *guard;
        let refill = a.since.elapsed().as_millis() as u64 * TOTAL_REFILL / 1000;
        if refill > 0 {
            a.total = (a.total + refill).min(TOTAL_BURST);
            a.since = Instant::now();
        }
        if a.total < bytes {
            return false;
        }
        // An IPv4 client on an IPv6 socket (::ffff:a.b.c.d) is the same address as on IPv4.
        let tokens = u32::try_from(bytes).unwrap_or(u32::MAX);
        if !a
            .each
            .take_many(ip.to_canonical(), tokens, Instant::now())
            .allows()
        {
            return false;
        }
        a.total -= bytes;
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
        if cost > own && !self.shared.take(self.peer.ip(), cost - own) {
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

    /// How many refills a test that began at `started` may have had: one for each second
    /// begun. Well under a second on an idle machine; a loaded CI machine took longer (the
    /// flood of 200,000 lines wrote 275,835 bytes against a bound of one refill).
    fn refills(started: Instant) -> u64 {
        started.elapsed().as_secs() + 1
    }

    #[test]
    fn one_byte_chunks_make_no_more_log_than_the_allowance_and_the_bytes() {
        let started = Instant::now();
        let shared = Arc::new(Shared::new());
        let mut log = log(&shared);
        let mut written = 0u64;
        for _ in 0..20_000 {
            if let Some(line) = log.line(b"x") {
                written += line.len() as u64 + 1;
            }
        }
        // One refill a second the test ran, started (a loaded machine runs it for more than one).
        let refill = REFILL * refills(started);
        assert!(written <= BURST + refill + 20_000 + 200, "{written}");
        // Lines still come, now and then, each saying what was not shown.
        let line = (0..200).find_map(|_| log.line(b"y")).unwrap();
        assert!(line.contains("not shown: log budget"), "{line}");
    }

    #[test]
    fn many_connections_share_one_allowance() {
        // A client that opens connection after connection, sending 50 bytes one at a time
        // on each: a credit per connection gave it 4 KiB of log every time.
        let started = Instant::now();
        let shared = Arc::new(Shared::new());
        let mut written = 0u64;
        for _ in 0..1000 {
            let mut log = log(&shared);
            for _ in 0..50 {
                written += log.line(b"x").map_or(0, |l| l.len() as u64 + 1);
            }
        }
        let refill = REFILL * refills(started);
        assert!(written <= BURST + refill + 50_000, "{written}");
    }

    #[test]
    fn a_flood_from_one_address_does_not_hide_another_addresses_lines() {
        // One client sends one byte at a time as fast as it can; a classmate on another
        // machine types a line now and then. With one allowance for the whole server, the
        // flood kept it empty and 9 of the classmate's 11 lines were hidden.
        let shared = Arc::new(Shared::new());
        let mut flood = log(&shared);
        let classmate: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let mut typed = ChunkLog::drawing_on(Arc::clone(&shared), classmate, Encoding::Utf8);
        let mut shown = 0;
        for _ in 0..11 {
            for _ in 0..20_000 {
                let _ = flood.line(b"x");
            }
            shown += usize::from(typed.line(b"hello\n").is_some());
        }
        assert_eq!(shown, 11);
    }

    #[test]
    fn many_addresses_together_take_no_more_than_the_total() {
        let started = Instant::now();
        let shared = Arc::new(Shared::new());
        let mut written = 0u64;
        for i in 0..200u8 {
            let peer = SocketAddr::from(([10, 0, 1, i], 40000));
            let mut log = ChunkLog::drawing_on(Arc::clone(&shared), peer, Encoding::Utf8);
            for _ in 0..1000 {
                written += log.line(b"x").map_or(0, |l| l.len() as u64 + 1);
            }
        }
        // A credit per address would have let 200 x 16 KiB through.
        let refill = TOTAL_REFILL * refills(started);
        assert!(written <= TOTAL_BURST + refill + 200 * 1000, "{written}");
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
