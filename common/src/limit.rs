//! How often a UDP program answers each peer: one token bucket per IP address.
//!
//! A UDP server answers the source address a datagram carries, and anyone can write any
//! source address. Without a limit, a forger makes the server send as much as it likes to a
//! victim (reflection), or to another server that answers everything, for ever (a loop).
//! udp-server and feiq listen both ask a [`Limiter`] before every answer.
//!
//! Each peer address gets a bucket of `burst` tokens; an answer takes one, and they come
//! back at `per_second`. Buckets are kept by IP address alone: a forged port costs nothing,
//! and the address is where the answers land.
//!
//! The table of buckets is bounded, because a flood can name a new source in every datagram.
//! When it is full, the limiter forgets only buckets that have filled up again (a full
//! bucket is the same as no bucket), and if none has, it refuses the new peer. It never
//! forgets a bucket that is still spending: otherwise, cycling enough other sources would
//! hand the victim a fresh bucket every time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// What the limiter says about one more answer to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Answer.
    Yes,
    /// Answer; the peer was limited until now, and this many of its datagrams went
    /// unanswered meanwhile.
    Again(u64),
    /// Do not answer: the peer is over its rate. `first` for the first datagram of a spell,
    /// so a program says so once, not once per datagram.
    Limited { first: bool },
    /// Do not answer: the table of peers is full of peers that are still being limited.
    TooManyPeers,
}

impl Limit {
    /// Whether to answer.
    pub fn allows(self) -> bool {
        matches!(self, Limit::Yes | Limit::Again(_))
    }
}

/// The token buckets of up to `max_peers` peers.
pub struct Limiter {
    burst: f64,
    per_second: f64,
    max_peers: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Datagrams not answered since the peer ran out of tokens.
    unanswered: u64,
}

impl Limiter {
    /// A limiter that allows each peer `burst` answers at once and `per_second` after that,
    /// and keeps track of at most `max_peers` peers.
    pub fn new(burst: u32, per_second: u32, max_peers: usize) -> Limiter {
        Limiter {
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            max_peers,
            buckets: HashMap::new(),
        }
    }

    /// Decides whether `peer` may have one more answer at `now`, and counts it if so.
    pub fn take(&mut self, peer: IpAddr, now: Instant) -> Limit {
        self.take_many(peer, 1, now)
    }

    /// Decides whether `peer` may spend `tokens` at once at `now` (bytes of log, say: see
    /// [`crate::chunklog`]), and counts them if so.
    pub fn take_many(&mut self, peer: IpAddr, tokens: u32, now: Instant) -> Limit {
        let tokens = f64::from(tokens);
        if self.buckets.len() >= self.max_peers && !self.buckets.contains_key(&peer) {
            let (burst, rate) = (self.burst, self.per_second);
            self.buckets.retain(|_, b| {
                b.refill(now, burst, rate);
                b.tokens < burst
            });
            if self.buckets.len() >= self.max_peers {
                return Limit::TooManyPeers;
            }
        }
        let (burst, rate) = (self.burst, self.per_second);
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            last: now,
            unanswered: 0,
        });
        bucket.refill(now, burst, rate);
        if bucket.tokens >= tokens {
            bucket.tokens -= tokens;
            match std::mem::take(&mut bucket.unanswered) {
                0 => Limit::Yes,
                n => Limit::Again(n),
            }
        } else {
            bucket.unanswered += 1;
            Limit::Limited {
                first: bucket.unanswered == 1,
            }
        }
    }

    /// How many peers it keeps track of now.
    pub fn peers(&self) -> usize {
        self.buckets.len()
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant, burst: f64, per_second: f64) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn a_burst_then_limited_once_then_answered_again() {
        let mut limiter = Limiter::new(50, 25, 100);
        let start = Instant::now();
        for _ in 0..50 {
            assert_eq!(limiter.take(ip(1), start), Limit::Yes);
        }
        assert_eq!(limiter.take(ip(1), start), Limit::Limited { first: true });
        assert_eq!(limiter.take(ip(1), start), Limit::Limited { first: false });
        assert_eq!(limiter.take(ip(2), start), Limit::Yes);
        let later = start + Duration::from_secs(1) / 25;
        assert_eq!(limiter.take(ip(1), later), Limit::Again(2));
        assert_eq!(limiter.take(ip(1), later), Limit::Limited { first: true });
    }

    #[test]
    fn a_peer_at_the_steady_rate_is_always_answered() {
        let mut limiter = Limiter::new(20, 10, 100);
        let start = Instant::now();
        for i in 0..200 {
            let now = start + Duration::from_millis(100) * i;
            assert!(limiter.take(ip(1), now).allows(), "answer {i}");
        }
    }

    /// The attack on a table that forgets its oldest entry: spend the victim's bucket, then
    /// name enough other sources to push it out, and it comes back full.
    #[test]
    fn other_sources_never_refill_a_spent_bucket() {
        let mut limiter = Limiter::new(20, 10, 256);
        let now = Instant::now();
        let victim = IpAddr::from([127, 0, 0, 1]);
        let mut answered = 0;
        for round in 0..5u32 {
            for _ in 0..30 {
                answered += u32::from(limiter.take(victim, now).allows());
            }
            for i in 0..300 {
                limiter.take(ip(round * 1000 + i), now);
            }
        }
        assert_eq!(answered, 20);
        assert!(limiter.peers() <= 256);
    }

    #[test]
    fn a_full_table_forgets_only_full_buckets_and_refuses_new_peers_meanwhile() {
        let mut limiter = Limiter::new(2, 1, 3);
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.take(ip(i), start), Limit::Yes);
        }
        assert_eq!(limiter.take(ip(9), start), Limit::TooManyPeers);
        // One second later every bucket is full again: forgotten, and the new peer fits.
        let later = start + Duration::from_secs(1);
        assert_eq!(limiter.take(ip(9), later), Limit::Yes);
        assert_eq!(limiter.peers(), 1);
    }
}
