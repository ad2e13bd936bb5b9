//! The lines about connections (`accepted ...`, `refused ...`, `... closed the connection`),
//! within a share per address, so that connecting and closing costs a peer more than it
//! costs the server's disk.
//!
//! A connection that sends nothing still makes two lines of log, and `connect` then `close`
//! costs a client nothing but a handshake: a script on loopback did it 37,351 times in 5 s
//! (with `SO_LINGER` 0, a reset each time), and tcp-server wrote 3.2 MB of log, 650 kB a
//! second, about 2.3 GB an hour, without a byte of payload (tcp-poll 1.9 MB, tcp-async
//! 3.0 MB, http-server 2.1 MB). So each connection is either told, both its lines, or not at
//! all: an address may have [`BURST`] connections told at once, and then [`PER_SECOND`];
//! all addresses together [`TOTAL_BURST`] and [`TOTAL_PER_SECOND`]. A connection not told
//! is counted, and the next line told says how many were not:
//!
//! ```text
//! accepted 127.0.0.1:37192 (1625 connections before this one not logged: log budget)
//! ```
//!
//! The total has a price: 16 addresses churning at their two a second spend it, and then
//! other addresses' connections go untold too (served as before, and counted).
//!
//! Refusals count as connections (a refused client comes back at once), and a line about a
//! connection in its course ([`during`]: http-server's bad request, which ends it) is told
//! if the connection was. `--quiet` prints none of the echo servers' lines anyway.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::limit::{Limit, Limiter, ScreenShare, Show};

/// Connections of one address told at once: a class of 40 behind one NAT, each connecting a
/// few times, is told in full.
pub const BURST: u32 = 256;
/// Connections of one address told a second after that.
pub const PER_SECOND: u32 = 2;
/// Connections of all addresses together told at once.
pub const TOTAL_BURST: u32 = 2048;
/// Connections of all addresses together told a second after that.
pub const TOTAL_PER_SECOND: u32 = 32;
/// Addresses whose share is kept at once (see [`crate::limit`]).
pub const MAX_ADDRESSES: usize = 1024;

/// The shares, and the connections still open that were not told (their end is not either).
pub struct ConnLog {
    each: Limiter,
    total: Limiter,
    /// Connections not told and not yet reported by a line: the total's refusals, and those
    /// of addresses the table had no room for.
    hidden: u64,
    untold: HashSet<SocketAddr>,
}

impl ConnLog {
    pub fn new() -> ConnLog {
        ConnLog {
            each: Limiter::new(BURST, PER_SECOND, MAX_ADDRESSES),
            total: Limiter::new(TOTAL_BURST, TOTAL_PER_SECOND, 1),
            hidden: 0,
            untold: HashSet::new(),
        }
    }

    /// Whether a new connection (or refusal) of `peer` is told at `now`: `Some(note)` to add
    /// to its line, or `None`, and it is counted.
    pub fn admit(&mut self, peer: SocketAddr, now: Instant) -> Option<String> {
        let ip = peer.ip().to_canonical();
        let mine = match self.each.take(ip, now) {
            Limit::Yes => 0,
            Limit::Again(n) => n,
            Limit::Limited { .. } => return None,
            Limit::TooManyPeers => {
                self.hidden += 1;
                return None;
            }
        };
        if !self
            .total
            .take(IpAddr::V4(Ipv4Addr::UNSPECIFIED), now)
            .allows()
        {
            self.hidden += 1 + mine;
            return None;
        }
        Some(match mine + std::mem::take(&mut self.hidden) {
            0 => String::new(),
            1 => " (1 connection before this one not logged: log budget)".into(),
            n => format!(" ({n} connections before this one not logged: log budget)"),
        })
    }

    /// A connection accepted: its `note` if told, and if not, remembered so that its end is
    /// not told either.
    fn accepted(&mut self, peer: SocketAddr, now: Instant) -> Option<String> {
        let told = self.admit(peer, now);
        if told.is_none() {
            self.untold.insert(peer);
        }
        told
    }

    /// Whether the end of `peer`'s connection is told (its start was).
    fn ended(&mut self, peer: SocketAddr) -> bool {
        !self.untold.remove(&peer)
    }
}

impl Default for ConnLog {
    fn default() -> ConnLog {
        ConnLog::new()
    }
}

fn with<T>(f: impl FnOnce(&mut ConnLog) -> T) -> T {
    static SHARED: OnceLock<Mutex<ConnLog>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| Mutex::new(ConnLog::new()));
    f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Logs `line` about a connection just accepted from `peer`, if its address's share allows
/// it; then the line that ends it ([`ended`]) is told too, and otherwise neither is.
pub fn accepted(peer: SocketAddr, line: fmt::Arguments) {
    if let Some(note) = with(|c| c.accepted(peer, Instant::now())) {
        crate::log::line(format_args!("{line}{note}"));
    }
}

/// Logs `line` about a connection from `peer` refused at once, or one whose only line it is
/// (file-download's `no request from` and `bad request from`), within the same share.
pub fn refused(peer: SocketAddr, line: fmt::Arguments) {
    if let Some(note) = with(|c| c.admit(peer, Instant::now())) {
        crate::log::line(format_args!("{line}{note}"));
    }
}

/// Logs `line` about one request of `peer`'s (http-server's `"GET / HTTP/1.1" 200 546`,
/// file-download's `sent ...`), within its address's share of such lines
/// ([`ScreenShare::for_log`]: 100 at once, then 10 a second; all addresses 1,000, then 100 a
/// second); what is over it is counted and told before the address's next line. A
/// connection can carry many requests: 20,000 pipelined on one made 940 kB of http-server's
/// log. And connections are cheap: 4,279 requests for a 6-byte file, one connection each,
/// made 304 kB of file-download's log in 5 s.
pub fn request(peer: SocketAddr, line: fmt::Arguments) {
    static SHARE: OnceLock<Mutex<ScreenShare>> = OnceLock::new();
    let share =
        SHARE.get_or_init(|| Mutex::new(ScreenShare::for_log().counting("request", "requests")));
    let show = share
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .admit(peer.ip().to_canonical());
    match show {
        Show::Yes => crate::log::line(line),
        Show::After(note) => crate::log::line(format_args!("{note}\n{line}")),
        Show::No => {}
    }
}

/// Logs `line` about `peer`'s connection (a bad request that ends it, say), if its start
/// was told.
pub fn during(peer: SocketAddr, line: fmt::Arguments) {
    if with(|c| !c.untold.contains(&peer)) {
        crate::log::line(line);
    }
}

/// Logs `line`, the end of `peer`'s connection, if its start was told.
pub fn ended(peer: SocketAddr, line: fmt::Arguments) {
    if with(|c| c.ended(peer)) {
        crate::log::line(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn connections_past_the_share_are_counted_and_told_later() {
        let mut log = ConnLog::new();
        let t0 = Instant::now();
        let a = |port| peer([127, 0, 0, 1], port);
        for port in 0..BURST as u16 {
            assert_eq!(log.accepted(a(port), t0).as_deref(), Some(""));
        }
        // Past the burst, a connection is not told, nor its end.
        for port in 1000..1100 {
            assert_eq!(log.accepted(a(port), t0), None);
        }
        assert!(!log.ended(a(1000)));
        assert!(log.ended(a(0)));
        // Another address has its own share.
        assert_eq!(
            log.accepted(peer([127, 0, 0, 2], 1), t0).as_deref(),
            Some("")
        );
        // A second later, the next one says how many were not told.
        let note = log.accepted(a(2000), t0 + Duration::from_secs(1));
        assert_eq!(
            note.as_deref(),
            Some(" (100 connections before this one not logged: log budget)")
        );
    }

    #[test]
    fn many_addresses_share_a_total() {
        let mut log = ConnLog::new();
        let t0 = Instant::now();
        let mut told = 0;
        // 1,024 addresses (the table's size), four connections each.
        for i in 0..4 * MAX_ADDRESSES {
            let [x, y] = ((i % MAX_ADDRESSES) as u16).to_be_bytes();
            told += log.admit(peer([127, 1, x, y], 1), t0).is_some() as u32;
        }
        assert_eq!(told, TOTAL_BURST);
        // Three seconds later the table has room again (see crate::limit), and the total too.
        let note = log.admit(peer([127, 0, 0, 1], 1), t0 + Duration::from_secs(3));
        assert!(note.is_some_and(|n| n.contains(" connections before this one not logged")));
    }
}
