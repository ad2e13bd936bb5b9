//! What `feiq listen` remembers about the peers it hears from.
//!
//! Three things, each kept for a bounded number of peers, because anyone can send a
//! datagram with any source address, and a table that grew with every new source would be
//! a way to fill the listener's memory:
//!
//! - the messages already shown, by sender (IP address **and** port) and packet number, so
//!   that a resent copy is acknowledged again but shown once;
//! - the encoding each sender announced in its entry packet;
//! - how many answers each source address may still get: a token bucket that stops the
//!   listener from being used to reflect and amplify traffic at someone else.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use common::Encoding;

/// How many messages, senders and answer budgets are remembered.
const REMEMBERED: usize = 256;

// ANCHOR: bucket
/// Answers a source may get in a burst, and how many more it earns each second. A person
/// chatting needs a few a second at most; a flood from one (forged) address gets no more.
pub const ANSWER_BURST: f64 = 20.0;
pub const ANSWERS_PER_SEC: f64 = 10.0;

/// A token bucket: each answer takes a token, and tokens come back at a steady rate.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Whether this source has been told about, so the log says it once, not per packet.
    limited: bool,
}

impl Bucket {
    fn full(now: Instant) -> Bucket {
        Bucket {
            tokens: ANSWER_BURST,
            at: now,
            limited: false,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * ANSWERS_PER_SEC;
        self.tokens = (self.tokens + earned).min(ANSWER_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
// ANCHOR_END: bucket

/// Whether to answer a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    /// No: this source has had its share. `first` says this is the first refusal since it
    /// was last answered, the one to log.
    Limited {
        first: bool,
    },
}

/// What the listener remembers, see the module documentation.
pub struct Peers {
    shown: Recent<(SocketAddr, u64), ()>,
    encodings: Recent<SocketAddr, Encoding>,
    answers: Recent<IpAddr, Bucket>,
}

impl Peers {
    pub fn new() -> Peers {
        Peers {
            shown: Recent::new(),
            encodings: Recent::new(),
            answers: Recent::new(),
        }
    }

    /// Records that the message `packet_no` from `from` is being shown; returns false if it
    /// was shown already, that is, if this is a resent copy.
    pub fn first_time(&mut self, from: SocketAddr, packet_no: u64) -> bool {
        if self.shown.get(&(from, packet_no)).is_some() {
            return false;
        }
        self.shown.insert((from, packet_no), ());
        true
    }

    /// Remembers the encoding `from` announced.
    pub fn announced(&mut self, from: SocketAddr, encoding: Encoding) {
        self.encodings.insert(from, encoding);
    }

    /// The encoding `from` announced, if it did.
    pub fn encoding(&self, from: SocketAddr) -> Option<Encoding> {
        self.encodings.get(&from).copied()
    }

    /// Whether `source` may get one more answer now. Keyed by IP address alone: a forged
    /// source port costs an attacker nothing, the victim is the address.
    pub fn may_answer(&mut self, source: IpAddr, now: Instant) -> Answer {
        let mut bucket = self
            .answers
            .get(&source)
            .copied()
            .unwrap_or_else(|| Bucket::full(now));
        let answer = if bucket.take(now) {
            bucket.limited = false;
            Answer::Yes
        } else {
            let first = !bucket.limited;
            bucket.limited = true;
            Answer::Limited { first }
        };
        self.answers.insert(source, bucket);
        answer
    }
}

impl Default for Peers {
    fn default() -> Self {
        Self::new()
    }
}

/// The last [`REMEMBERED`] keys and their values; inserting a new key beyond that forgets
/// the oldest. A linear search over a few hundred entries costs less than the `recv_from`.
struct Recent<K, V> {
    entries: VecDeque<(K, V)>,
}

impl<K: PartialEq, V> Recent<K, V> {
    fn new() -> Recent<K, V> {
        Recent {
            entries: VecDeque::with_capacity(REMEMBERED),
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn insert(&mut self, key: K, value: V) {
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == key) {
            self.entries.remove(i);
        } else if self.entries.len() == REMEMBERED {
            self.entries.pop_front();
        }
        self.entries.push_back((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_copy_is_the_same_sender_address_port_and_number() {
        let mut peers = Peers::new();
        assert!(peers.first_time(addr("127.0.0.1:2425"), 7));
        assert!(!peers.first_time(addr("127.0.0.1:2425"), 7));
        // Another program on the same machine, with the same number: not a copy.
        assert!(peers.first_time(addr("127.0.0.1:40000"), 7));
        assert!(peers.first_time(addr("127.0.0.1:2425"), 8));
    }

    #[test]
    fn memory_is_bounded() {
        let mut peers = Peers::new();
        for port in 0..10_000u16 {
            peers.first_time(SocketAddr::from(([127, 0, 0, 1], port)), 1);
            peers.announced(SocketAddr::from(([127, 0, 0, 1], port)), Encoding::Utf8);
        }
        assert_eq!(peers.shown.entries.len(), REMEMBERED);
        assert_eq!(peers.encodings.entries.len(), REMEMBERED);
        assert_eq!(peers.encoding(addr("127.0.0.1:9999")), Some(Encoding::Utf8));
        assert_eq!(peers.encoding(addr("127.0.0.1:1")), None);
    }

    #[test]
    fn answers_are_limited_per_address_and_come_back() {
        let mut peers = Peers::new();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let t0 = Instant::now();
        let burst = ANSWER_BURST as usize;
        for _ in 0..burst {
            assert_eq!(peers.may_answer(a, t0), Answer::Yes);
        }
        assert_eq!(peers.may_answer(a, t0), Answer::Limited { first: true });
        assert_eq!(peers.may_answer(a, t0), Answer::Limited { first: false });
        // Another address has its own budget.
        assert_eq!(peers.may_answer(b, t0), Answer::Yes);
        // One second later, ANSWERS_PER_SEC more, and the next refusal is logged again.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..ANSWERS_PER_SEC as usize {
            assert_eq!(peers.may_answer(a, t1), Answer::Yes);
        }
        assert_eq!(peers.may_answer(a, t1), Answer::Limited { first: true });
    }
}
