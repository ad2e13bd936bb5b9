//! The `received N bytes from PEER: text` lines of an echo server, within a budget per
//! client, so that what a peer sends cannot make the log much larger than its traffic.
//!
//! A line shows at most [`SHOWN_PER_CHUNK`](crate::log::SHOWN_PER_CHUNK) bytes of a chunk, so
//! big chunks make small logs. Small chunks are the other way round: one byte per TCP
//! segment, each waiting for its echo, made tcp-server write about 45 bytes of log per byte
//! received (20,000 bytes in, 900,101 bytes of log). So each client's lines may take
//! [`CREDIT`] bytes of log, plus one byte of log for each byte it sent. A line that does not
//! fit is not printed but counted; the next line that fits says how many were not shown, and
//! [`ChunkLog::finish`] says it for the last ones when the connection ends:
//!
//! ```text
//! received 1 byte from 127.0.0.1:50002: x (after 45 reads, 45 bytes, not shown: log budget)
//! 127.0.0.1:50002: 17 reads (17 bytes) not shown (log budget: 4096 bytes plus the bytes sent)
//! ```
//!
//! A class's interactive session, a line typed now and then, fits: 4 KiB is some 60 lines of
//! short text, and every byte typed earns a byte more.

use std::net::SocketAddr;

use crate::text::{self, Encoding, StreamDecoder};

/// Bytes of log a client's lines may take beyond the bytes it sent.
pub const CREDIT: u64 = 4096;

/// The chunk lines of one client, and what they have cost so far.
pub struct ChunkLog {
    peer: SocketAddr,
    decoder: StreamDecoder,
    /// Bytes of log written for this client, newlines included.
    spent: u64,
    /// Bytes the client sent.
    received: u64,
    hidden_reads: u64,
    hidden_bytes: u64,
}

impl ChunkLog {
    pub fn new(peer: SocketAddr, encoding: Encoding) -> ChunkLog {
        ChunkLog {
            peer,
            decoder: encoding.stream_decoder(),
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
        if self.hidden_reads > 0 {
            line.push_str(&format!(
                " (after {}, {}, not shown: log budget)",
                text::count(self.hidden_reads, "read", "reads"),
                text::count(self.hidden_bytes, "byte", "bytes")
            ));
        }
        let cost = line.len() as u64 + 1;
        if self.spent + cost > CREDIT + self.received {
            self.hidden_reads += 1;
            self.hidden_bytes += len;
            return None;
        }
        self.spent += cost;
        self.hidden_reads = 0;
        self.hidden_bytes = 0;
        Some(line)
    }

    /// Says how many reads were not shown since the last line, if any: call it when the
    /// connection ends, before its last line.
    pub fn finish(&self) {
        if let Some(note) = self.note() {
            crate::log::line(format_args!("{note}"));
        }
    }

    fn note(&self) -> Option<String> {
        (self.hidden_reads > 0).then(|| {
            format!(
                "{}: {} ({}) not shown (log budget: {CREDIT} bytes plus the bytes sent)",
                self.peer,
                text::count(self.hidden_reads, "read", "reads"),
                text::count(self.hidden_bytes, "byte", "bytes")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:50002".parse().unwrap()
    }

    #[test]
    fn one_byte_chunks_make_no_more_log_than_the_credit_and_the_bytes() {
        let mut log = ChunkLog::new(peer(), Encoding::Utf8);
        let mut written = 0u64;
        for _ in 0..20_000 {
            if let Some(line) = log.line(b"x") {
                written += line.len() as u64 + 1;
            }
        }
        written += log.note().map_or(0, |n| n.len() as u64 + 1);
        assert!(written <= CREDIT + 20_000 + 200, "{written}");
        // Lines still come, now and then, each saying what was not shown.
        let line = (0..200).find_map(|_| log.line(b"y")).unwrap();
        assert!(line.contains("not shown: log budget"), "{line}");
    }

    #[test]
    fn big_chunks_are_all_shown_and_the_first_small_ones_too() {
        let mut log = ChunkLog::new(peer(), Encoding::Utf8);
        for _ in 0..50 {
            assert!(log.line(b"hello, world\n").is_some());
        }
        for _ in 0..1000 {
            assert!(log.line(&[b'a'; 300]).is_some());
        }
        assert!(log.note().is_none());
    }

    #[test]
    fn the_end_says_how_many_were_not_shown() {
        let mut log = ChunkLog::new(peer(), Encoding::Utf8);
        let hidden = (0..1000).filter(|_| log.line(b"x").is_none()).count();
        assert!(hidden > 0);
        let note = log.note().unwrap();
        assert!(note.starts_with("127.0.0.1:50002: "), "{note}");
        assert!(note.contains("not shown (log budget"), "{note}");
    }
}
