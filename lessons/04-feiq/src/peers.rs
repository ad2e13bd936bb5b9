//! What `feiq listen` remembers about the peers it hears from.
//!
//! Three things, each kept for a bounded number of peers, because anyone can send a
//! datagram with any source address, and a table that grew with every new source would be
//! a way to fill the listener's memory:
//!
//! - the messages already shown, by sender (IP address **and** port) and packet number, so
//!   that a resent copy is acknowledged again but shown once, and what each of them said, so
//!   that a number that comes again with other text is shown: a forger who sends a
//!   friend's next numbers first (iptux counts 1, 2, 3...) cannot hide the friend's messages;
//! - the encoding each sender announced in its entry packet;
//! - how many answers each source address may still get: one token bucket per address
//!   ([`common::limit`], the limiter udp-server uses too), which stops the listener from
//!   being used to reflect and amplify traffic at someone else.

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use common::Encoding;
use common::limit::{Limit, Limiter};

use crate::ipmsg::{self, Packet};

/// How many messages and senders' encodings are remembered.
const REMEMBERED: usize = 256;

// ANCHOR: bucket
/// Answers a source address may get at once, and how many more it earns each second. A
/// person chatting needs a few a second at most; a flood from one (forged) address gets no
/// more, however many other sources it names meanwhile.
pub const ANSWER_BURST: u32 = 20;
pub const ANSWERS_PER_SEC: u32 = 10;

/// How many source addresses the limiter keeps track of. When that many are still being
/// limited, a new source gets no answer at all.
const ANSWERED_PEERS: usize = 10_000;
// ANCHOR_END: bucket

/// Answers to all addresses together: at once, and each second. With a budget per address
/// only, BR_ENTRYs forged from 10,000 addresses got 136,481 answers in 4 s (3.7 MB for 2.5 MB
/// in); a LAN's worth of newcomers at once is still answered.
pub const ALL_ANSWERS_BURST: u32 = 1000;
pub const ALL_ANSWERS_PER_SEC: u32 = 100;

/// What the listener remembers, see the module documentation.
pub struct Peers {
    shown: Recent<(SocketAddr, u64), ()>,
    /// What the messages in `shown` said: a digest of their text, keyed by secret random
    /// keys (SipHash), so that a forger cannot write other text with the same digest.
    said: Recent<(SocketAddr, u64), u64>,
    keys: RandomState,
    encodings: Recent<SocketAddr, Encoding>,
    answers: Limiter,
    /// One bucket for [`ALL_ANSWERS_BURST`], whatever the address.
    all_answers: Limiter,
    /// Whether the packet at hand is shown (its address's screen share allows it), and
    /// whether it is a message shown for the first time that was not, and so must not be
    /// acknowledged: see [`Peers::showing`].
    visible: bool,
    withheld: bool,
    /// The message at hand, if it is shown for the first time, and how many log lines had
    /// found the log's queue full before it: its line may find it full too.
    new_message: Option<(SocketAddr, u64)>,
    unqueued_before: u64,
}

impl Peers {
    pub fn new() -> Peers {
        Peers {
            shown: Recent::new(),
            said: Recent::new(),
            keys: RandomState::new(),
            encodings: Recent::new(),
            answers: Limiter::new(ANSWER_BURST, ANSWERS_PER_SEC, ANSWERED_PEERS),
            all_answers: Limiter::new(ALL_ANSWERS_BURST, ALL_ANSWERS_PER_SEC, 1),
            visible: true,
            withheld: false,
            new_message: None,
            unqueued_before: 0,
        }
    }

    /// Told before each packet whether its line is shown. A message that is not (its
    /// address is over its screen share) is neither acknowledged nor remembered as shown:
    /// an acknowledgement tells the sender "delivered". Anyone who writes the friend's
    /// address as the source of ten datagrams a second keeps that address's share empty,
    /// and the friend's messages were acknowledged and never shown. Unacknowledged, they
    /// are sent again, and shown when the share allows; or the sender is told that they
    /// were not delivered.
    ///
    /// Nor is a message whose line the log's queue had no room for (`common::log`: stdout did
    /// not keep up, as under `feiq listen | less` left at its first page): with stdout a pipe
    /// read by nobody and lines from 6,000 addresses ahead of them, a friend's 10 messages were
    /// all acknowledged and none was shown. (A line queued and then not written, on a full
    /// disk, is known too late, and the message is acknowledged: the log says on stderr that
    /// lines are being dropped. Counting those too, a message went unacknowledged whenever the
    /// writer failed on an earlier line meanwhile: with feiq-3's solution applied, the test
    /// `a_full_disk_under_the_output_does_not_stop_listen` failed in 3 runs of 12.)
    pub fn showing(&mut self, visible: bool) {
        self.visible = visible;
        self.withheld = false;
        self.new_message = None;
        self.unqueued_before = common::log::unqueued();
    }

    /// Records that the message `packet_no` from `from` is being shown; returns false if it
    /// was shown already, that is, if this is a resent copy.
    pub fn first_time(&mut self, from: SocketAddr, packet_no: u64) -> bool {
        if self.shown.get(&(from, packet_no)).is_some() {
            return false;
        }
        if self.visible {
            self.shown.insert((from, packet_no), ());
            self.new_message = Some((from, packet_no));
        } else {
            self.withheld = true;
        }
        true
    }

    /// Told about every packet before [`first_time`](Peers::first_time) is asked. For a
    /// message that asks for an acknowledgement, remembers what it says; if its number from
    /// `from` was shown with other text, it is no copy (a copy is resent as it was),
    /// and the number is forgotten so that the message is shown. Without this, a forger who
    /// sent messages numbered 1, 2, 3 from an iptux user's address and port had that user's
    /// next messages taken for copies: acknowledged ("delivered", for the sender), never shown.
    pub fn heard(&mut self, from: SocketAddr, packet: &Packet) {
        if packet.mode() != ipmsg::IPMSG_SENDMSG || !packet.has(ipmsg::IPMSG_SENDCHECKOPT) {
            return;
        }
        let key = (from, packet.packet_no);
        // The text alone: a client may mark a resent copy with an option bit (RETRYOPT).
        let digest = self.keys.hash_one(&packet.text);
        if self.said.get(&key).is_some_and(|&before| before != digest) {
            self.shown.remove(&key);
        }
        self.said.insert(key, digest);
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
    /// source port costs an attacker nothing, the victim is the address. A message not shown
    /// (over its share, or its line dropped) gets no answer at all, and nothing is said (see
    /// [`Peers::showing`]).
    pub fn may_answer(&mut self, source: IpAddr, now: Instant) -> Limit {
        // Its line found the queue full since (`showing`): not shown after all.
        if let Some(key) = self.new_message.take()
            && common::log::unqueued() > self.unqueued_before
        {
            self.shown.remove(&key);
            self.withheld = true;
        }
        if self.withheld {
            return Limit::Limited { first: false };
        }
        self.answers.take(source, now)
    }

    /// Whether all addresses together may get one more answer now (asked once `source`'s
    /// own budget allowed it).
    pub fn may_answer_anyone(&mut self, now: Instant) -> Limit {
        self.all_answers.take(IpAddr::from([0, 0, 0, 0]), now)
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

    fn remove(&mut self, key: &K) {
        self.entries.retain(|(k, _)| k != key);
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
    fn a_number_again_with_other_content_is_no_copy() {
        let mut peers = Peers::new();
        let from = addr("127.0.0.1:2425");
        let mut shown = |datagram: &[u8]| {
            let packet = Packet::parse(datagram).unwrap();
            peers.heard(from, &packet);
            peers.first_time(from, packet.packet_no)
        };
        // A forger sends the friend's next number first; the friend's message is shown.
        assert!(shown(b"1:1:f:pc:288:forged\0"));
        assert!(shown(b"1:1:f:pc:288:real\0"));
        // The friend's resent copy is a copy.
        assert!(!shown(b"1:1:f:pc:288:real\0"));
    }

    #[test]
    fn memory_is_bounded() {
        let mut peers = Peers::new();
        for port in 0..10_000u16 {
            peers.first_time(SocketAddr::from(([127, 0, 0, 1], port)), 1);
            peers.announced(SocketAddr::from(([127, 0, 0, 1], port)), Encoding::Utf8);
        }
        assert_eq!(peers.shown.entries.len(), REMEMBERED);
        for n in 0..10_000u64 {
            let packet = Packet::parse(format!("1:{n}:a:b:288:x").as_bytes()).unwrap();
            peers.heard(addr("127.0.0.1:1"), &packet);
        }
        assert_eq!(peers.said.entries.len(), REMEMBERED);
        assert_eq!(peers.encodings.entries.len(), REMEMBERED);
        assert_eq!(peers.encoding(addr("127.0.0.1:9999")), Some(Encoding::Utf8));
        assert_eq!(peers.encoding(addr("127.0.0.1:1")), None);
    }

    #[test]
    fn answers_are_limited_per_address_and_come_back() {
        let mut peers = Peers::new();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..ANSWER_BURST {
            assert_eq!(peers.may_answer(a, t0), Limit::Yes);
        }
        assert_eq!(peers.may_answer(a, t0), Limit::Limited { first: true });
        assert_eq!(peers.may_answer(a, t0), Limit::Limited { first: false });
        // Another address has its own budget.
        assert_eq!(peers.may_answer(b, t0), Limit::Yes);
        // One second later, ANSWERS_PER_SEC more, and the next refusal is logged again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(peers.may_answer(a, t1), Limit::Again(2));
        for _ in 1..ANSWERS_PER_SEC {
            assert_eq!(peers.may_answer(a, t1), Limit::Yes);
        }
        assert_eq!(peers.may_answer(a, t1), Limit::Limited { first: true });
    }
}
