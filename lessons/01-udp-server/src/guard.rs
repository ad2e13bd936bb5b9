//! Whom a UDP server may answer, and how often.
//!
//! A UDP server answers the source address a datagram carries, and anyone who can send
//! packets can write any source address into them. Answering blindly lets a forged datagram
//! start a loop that never ends:
//!
//! - a source that is the server itself: it answers itself, receives its answer, answers
//!   that, and so on for ever;
//! - a source that is another server which answers everything: an echo server like this one
//!   (on the same port on another machine, or on any port), or a well-known service such as
//!   echo (port 7), daytime (13), qotd (17), chargen (19), time (37), DNS (53) or NTP (123).
//!   The two answer each other for ever: the old "echo/chargen loop".
//!
//! Two rules stop it, one per kind of source:
//!
//! - [`refusal`]: some sources are never answered. Port 0 (no program sends from it), this
//!   server's own port (it is either this server or a server like it), and the well-known
//!   ports below 1024, where services that answer whatever arrives live and clients do not.
//! - [`Guard`]: every other peer gets a token bucket. Each answer takes a token; tokens come
//!   back at a steady rate, up to a small burst. A person typing, or a script waiting for
//!   each answer, never runs out; a loop runs out within a fraction of a second, and the one
//!   datagram that is not answered ends it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// How many answers a peer may get at once, after a quiet moment.
pub const BURST: u32 = 50;

/// How many answers a peer may get per second, for as long as it likes.
pub const PER_SECOND: u32 = 25;

/// How many peers the guard remembers. A forged flood can name a new source address in
/// every datagram, so the table of buckets must not grow without bound.
const MAX_PEERS: usize = 10_000;

/// Why a datagram from `peer` must never be answered by a server bound to `local`, if it
/// must not.
pub fn refusal(peer: SocketAddr, local: SocketAddr) -> Option<&'static str> {
    if peer.port() == 0 {
        Some("port 0 is no program's address, so the source is forged")
    } else if peer == local || peer.port() == local.port() {
        Some(
            "it comes from this server's own port: answering could start a loop \
             between this server and itself, or a server like it",
        )
    } else if peer.port() < 1024 {
        Some(
            "it comes from a well-known port (below 1024), where services such as echo (7) \
             and chargen (19) answer everything: answering could start a loop",
        )
    } else {
        None
    }
}

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer it.
    Answer,
    /// Answer it; its peer was being limited until now, and this many datagrams from it
    /// went unanswered.
    AnswerAgain(u64),
    /// Never answer it, for this reason.
    Refuse(&'static str),
    /// Its peer is over its rate: do not answer. `true` for the first datagram of a spell,
    /// so the server says so once, not once per datagram.
    Limited(bool),
}

/// The token buckets of the peers, by IP address: a forger can vary the port at will, and
/// the address is where the answers go.
pub struct Guard {
    local: SocketAddr,
    buckets: HashMap<IpAddr, Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Datagrams not answered since the peer ran out of tokens.
    unanswered: u64,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(PER_SECOND)).min(f64::from(BURST));
        self.last = now;
    }
}

impl Guard {
    /// A guard for a server bound to `local`.
    pub fn new(local: SocketAddr) -> Guard {
        Guard {
            local,
            buckets: HashMap::new(),
        }
    }

    /// Decides whether the server answers a datagram from `peer` that arrived at `now`.
    pub fn admit(&mut self, peer: SocketAddr, now: Instant) -> Verdict {
        if let Some(why) = refusal(peer, self.local) {
            return Verdict::Refuse(why);
        }
        if self.buckets.len() >= MAX_PEERS && !self.buckets.contains_key(&peer.ip()) {
            // A bucket that has filled up again is the same as no bucket: forget those.
            self.buckets.retain(|_, b| {
                b.refill(now);
                b.tokens < f64::from(BURST)
            });
            if self.buckets.len() >= MAX_PEERS {
                return Verdict::Refuse("too many peers at once to keep track of");
            }
        }
        let bucket = self.buckets.entry(peer.ip()).or_insert(Bucket {
            tokens: f64::from(BURST),
            last: now,
            unanswered: 0,
        });
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            match std::mem::take(&mut bucket.unanswered) {
                0 => Verdict::Answer,
                n => Verdict::AnswerAgain(n),
            }
        } else {
            bucket.unanswered += 1;
            Verdict::Limited(bucket.unanswered == 1)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_sources_that_could_start_a_loop() {
        let local = addr("127.0.0.1:8080");
        for source in [
            "127.0.0.1:8080", // itself
            "10.0.0.7:8080",  // a server like it, on another machine
            "127.0.0.1:0",
            "127.0.0.1:7",  // echo
            "127.0.0.1:13", // daytime
            "127.0.0.1:17", // qotd
            "127.0.0.1:19", // chargen
            "127.0.0.1:37", // time
            "[::1]:53",     // DNS
            "127.0.0.1:1023",
        ] {
            assert!(refusal(addr(source), local).is_some(), "{source}");
        }
        for source in ["127.0.0.1:1024", "127.0.0.1:10086", "[::1]:45000"] {
            assert_eq!(refusal(addr(source), local), None, "{source}");
        }
        let mut guard = Guard::new(local);
        assert!(matches!(
            guard.admit(addr("127.0.0.1:8080"), Instant::now()),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn a_burst_is_answered_then_the_peer_is_limited_once_then_answered_again() {
        let mut guard = Guard::new(addr("127.0.0.1:8080"));
        let peer = addr("127.0.0.1:40000");
        let start = Instant::now();
        for _ in 0..BURST {
            assert_eq!(guard.admit(peer, start), Verdict::Answer);
        }
        assert_eq!(guard.admit(peer, start), Verdict::Limited(true));
        assert_eq!(guard.admit(peer, start), Verdict::Limited(false));
        // Another port of the same address shares the bucket; another address does not.
        assert_eq!(
            guard.admit(addr("127.0.0.1:40001"), start),
            Verdict::Limited(false)
        );
        assert_eq!(guard.admit(addr("127.0.0.2:40000"), start), Verdict::Answer);
        // One token comes back every 1/PER_SECOND seconds.
        let later = start + Duration::from_secs(1) / PER_SECOND;
        assert_eq!(guard.admit(peer, later), Verdict::AnswerAgain(3));
        assert_eq!(guard.admit(peer, later), Verdict::Limited(true));
    }

    #[test]
    fn a_peer_at_the_steady_rate_is_always_answered() {
        let mut guard = Guard::new(addr("127.0.0.1:8080"));
        let peer = addr("127.0.0.1:40000");
        let start = Instant::now();
        for i in 0..10 * PER_SECOND {
            let now = start + Duration::from_secs(1) / PER_SECOND * i;
            assert_eq!(guard.admit(peer, now), Verdict::Answer, "datagram {i}");
        }
    }

    #[test]
    fn the_table_of_peers_stays_bounded() {
        let mut guard = Guard::new(addr("127.0.0.1:8080"));
        let start = Instant::now();
        for i in 0..MAX_PEERS as u32 + 10 {
            let peer = SocketAddr::new(
                IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)),
                40000,
            );
            guard.admit(peer, start);
        }
        assert!(guard.buckets.len() <= MAX_PEERS);
        // Once the buckets have filled up again, new peers are welcome.
        let later = start + Duration::from_secs(1);
        assert_eq!(guard.admit(addr("192.0.2.1:40000"), later), Verdict::Answer);
    }
}
