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
//!
//! The same buckets bound what one address puts on a chat's screen ([`ScreenShare`]): a
//! stranger who sent 20,000 datagrams in 0.4 s filled udp-chat's screen with 19,721 lines,
//! and a friend's 10 messages were somewhere among them.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

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
    /// The same peers in the order their buckets fill up again: the first ones may be
    /// forgotten, the last has spent most. A flood can name a new source in every datagram;
    /// with the table full, each one then costs a look at the ends of this set, not a scan
    /// of every bucket (1,100 rotating sources on a screen of 1,024: a fifth of the CPU per
    /// datagram that the scan took).
    by_full_at: BTreeSet<(Instant, IpAddr)>,
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
            by_full_at: BTreeSet::new(),
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
            self.forget_full(now);
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
        // Its key in the index, from the state that made it (a new bucket has none yet).
        self.by_full_at
            .remove(&(bucket.full_again(burst, rate), peer));
        bucket.refill(now, burst, rate);
        let limit = if bucket.tokens >= tokens {
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
        };
        self.by_full_at
            .insert((bucket.full_again(burst, rate), peer));
        limit
    }

    /// Forgets the buckets that have filled up again by `now`: a full bucket is the same as
    /// no bucket.
    fn forget_full(&mut self, now: Instant) {
        while let Some(&(full_at, peer)) = self.by_full_at.first()
            && full_at <= now
        {
            self.by_full_at.pop_first();
            self.buckets.remove(&peer);
        }
    }

    /// Forgets the peer that has spent most (the last to fill up again), to make room for a
    /// new one, and returns how many of its datagrams went unanswered. For a screen, not for
    /// answers: a spent bucket forgotten comes back full.
    pub fn forget_most_spent(&mut self) -> u64 {
        self.by_full_at
            .pop_last()
            .and_then(|(_, peer)| self.buckets.remove(&peer))
            .map_or(0, |b| b.unanswered)
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

    /// When `tokens` is back to `burst` at `per_second`, if the peer spends nothing more; a
    /// day at most (a rate of 0 never fills it).
    fn full_again(&self, burst: f64, per_second: f64) -> Instant {
        let wait = Duration::try_from_secs_f64(((burst - self.tokens) / per_second).max(0.0))
            .unwrap_or(Duration::MAX)
            .min(Duration::from_secs(86_400));
        self.last + wait
    }
}

/// Lines one address may put on the screen: this many at once...
pub const SHOWN_BURST: u32 = 100;
/// ...then this many a second.
pub const SHOWN_PER_SECOND: u32 = 10;
/// Addresses whose share is tracked at once.
pub const SHOWN_PEERS: usize = 1024;
/// Lines all addresses together may put in a server's log ([`ScreenShare::for_log`]): this
/// many at once...
pub const LOGGED_BURST: u32 = 1000;
/// ...then this many a second.
pub const LOGGED_PER_SECOND: u32 = 100;
/// Bytes of one datagram shown, at most ([`crate::text::show_capped`]): a share counts lines,
/// and one datagram of 65,507 control characters made a line of 327,557 bytes, 4,147 rows of
/// an 80-column terminal.
pub const SHOWN_BYTES: usize = 1024;

/// The screen of a program that prints what peers send (udp-chat, feiq listen), shared out
/// among addresses: each may show [`SHOWN_BURST`] lines at once, then [`SHOWN_PER_SECOND`]
/// a second. What is over its share is counted, not shown, and the count is told with the
/// address's next line that is shown.
///
/// A newcomer is never refused for want of room in the table: the address that has spent
/// most is forgotten instead. Refusing, as the limiter of answers does, would let a stranger
/// who names more than [`SHOWN_PEERS`] forged sources keep a friend off the screen while
/// its own lines are shown (1 of a friend's 10 lines came through, beside 121,019 of the
/// stranger's). Forgetting gives a spent address a fresh share, which is no gift to someone
/// who already has a thousand addresses' shares.
pub struct ScreenShare {
    limiter: Limiter,
    /// Datagrams not shown from addresses forgotten to make room, told with the next line.
    forgotten: u64,
    /// A log's share for all addresses together, and the datagrams not shown for it.
    total: Option<Limiter>,
    over_total: u64,
    /// What the lines are about, one and many: datagrams, unless [`ScreenShare::counting`].
    noun: (&'static str, &'static str),
}

/// Whether to show a line from a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Show {
    /// Show it.
    Yes,
    /// Show this note first (what was not shown), then the line.
    After(String),
    /// Do not show it: it is over its address's share, and counted.
    No,
}

impl Show {
    /// Whether the line itself is shown.
    pub fn line(&self) -> bool {
        !matches!(self, Show::No)
    }
}

impl ScreenShare {
    pub fn new() -> ScreenShare {
        ScreenShare {
            limiter: Limiter::new(SHOWN_BURST, SHOWN_PER_SECOND, SHOWN_PEERS),
            forgotten: 0,
            total: None,
            over_total: 0,
            noun: ("datagram", "datagrams"),
        }
    }

    /// The share of a server's log (udp-server), where all addresses together also get
    /// [`LOGGED_BURST`] lines at once, then [`LOGGED_PER_SECOND`] a second: with a share each,
    /// 10,000 addresses wrote 42 MB of log in 5 s. A chat's screen has no such total: ten
    /// flooding addresses would hide a friend.
    pub fn for_log() -> ScreenShare {
        let everyone = Limiter::new(LOGGED_BURST, LOGGED_PER_SECOND, 1);
        ScreenShare {
            total: Some(everyone),
            ..ScreenShare::new()
        }
    }

    /// The same share, for lines about something else than datagrams (http-server's
    /// requests): the notes count `one` or `many`.
    pub fn counting(self, one: &'static str, many: &'static str) -> ScreenShare {
        ScreenShare {
            noun: (one, many),
            ..self
        }
    }

    /// Whether a line from `peer` is shown now, and the note to show before it.
    pub fn admit(&mut self, peer: IpAddr) -> Show {
        self.admit_at(peer, Instant::now())
    }

    /// [`ScreenShare::admit`] at `now`.
    pub fn admit_at(&mut self, peer: IpAddr, now: Instant) -> Show {
        let mut taken = self.limiter.take(peer, now);
        if taken == Limit::TooManyPeers {
            self.forgotten += self.limiter.forget_most_spent();
            taken = self.limiter.take(peer, now);
        }
        let hidden = match taken {
            Limit::Yes => 0,
            Limit::Again(n) => n,
            Limit::Limited { .. } | Limit::TooManyPeers => return Show::No,
        };
        if let Some(total) = &mut self.total {
            let everyone = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
            if !total.take(everyone, now).allows() {
                self.over_total += 1 + hidden;
                return Show::No;
            }
        }
        let mut notes = Vec::new();
        if self.over_total > 0 {
            notes.push(Unshown::OverTotal(std::mem::take(&mut self.over_total)));
        }
        match (hidden, self.forgotten) {
            (0, 0) => {}
            (0, forgotten) => {
                self.forgotten = 0;
                notes.push(Unshown::Forgotten(forgotten));
            }
            // The forgotten ones are told with the next line that has no note of its own.
            (n, _) => notes.push(Unshown::Over(n, peer)),
        }
        match notes.as_slice() {
            [] => Show::Yes,
            notes => Show::After(
                notes
                    .iter()
                    .map(|n| n.text(self.noun))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }
}

impl Default for ScreenShare {
    fn default() -> ScreenShare {
        ScreenShare::new()
    }
}

/// The note about datagrams that were not shown.
enum Unshown {
    /// This many from this address, over its share.
    Over(u64, IpAddr),
    /// This many from addresses forgotten to make room for others.
    Forgotten(u64),
    /// This many over the log's share for all addresses together.
    OverTotal(u64),
}

impl Unshown {
    /// The note, counting `noun` (one, many).
    fn text(&self, (one, many): (&str, &str)) -> String {
        let noun = |n: u64| if n == 1 { one } else { many };
        match *self {
            Unshown::Over(n, peer) => format!(
                "({n} {} from {peer} not shown: more than {SHOWN_BURST} at once or \
                 {SHOWN_PER_SECOND} a second)",
                noun(n)
            ),
            Unshown::Forgotten(n) => format!(
                "({n} {} not shown: more than {SHOWN_BURST} at once or {SHOWN_PER_SECOND} \
                 a second from addresses since forgotten, more than {SHOWN_PEERS} sent at once)",
                noun(n)
            ),
            Unshown::OverTotal(n) => format!(
                "({n} {} not shown: more than {LOGGED_BURST} at once or {LOGGED_PER_SECOND} \
                 a second from all addresses together)",
                noun(n)
            ),
        }
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

    #[test]
    fn a_flood_from_one_address_leaves_the_screen_to_another() {
        let mut share = ScreenShare::new();
        let start = Instant::now();
        let (stranger, friend) = (ip(1), ip(2));
        let shown = (0..20_000)
            .filter(|_| share.admit_at(stranger, start).line())
            .count();
        assert_eq!(shown, 100);
        assert_eq!(share.admit_at(friend, start), Show::Yes);
        // A tenth of a second later the stranger has one more line, after the count.
        let later = start + Duration::from_millis(100);
        assert_eq!(
            share.admit_at(stranger, later),
            Show::After(
                "(19900 datagrams from 10.0.0.1 not shown: more than 100 at once or 10 a second)"
                    .to_string()
            )
        );
        assert_eq!(share.admit_at(stranger, later), Show::No);
    }

    /// A stranger naming more sources than the table holds, each spending a little, must
    /// not keep a newcomer off the screen (it did: the newcomer was refused for room).
    #[test]
    fn a_stranger_with_many_addresses_cannot_keep_a_newcomer_off_the_screen() {
        let mut share = ScreenShare::new();
        let start = Instant::now();
        let friend = IpAddr::from([127, 0, 0, 1]);
        let mut friend_shown = 0;
        for second in 0..10u32 {
            let now = start + Duration::from_secs(second.into());
            // Every one of 1,100 addresses sends 12 lines in this second.
            for _ in 0..12 {
                for i in 0..1100 {
                    share.admit_at(ip(i), now);
                }
            }
            friend_shown += u32::from(share.admit_at(friend, now).line());
        }
        assert_eq!(friend_shown, 10);
        assert!(share.limiter.peers() <= SHOWN_PEERS);
    }

    /// A log's share: 10,000 addresses, one line each, wrote 42 MB of udp-server's log in 5 s
    /// with a share each and no total.
    #[test]
    fn many_addresses_together_get_a_logs_share_and_what_was_not_shown_is_told() {
        let mut share = ScreenShare::for_log();
        let now = Instant::now();
        let shown = (0..10_000)
            .filter(|&i| share.admit_at(ip(i), now).line())
            .count();
        assert_eq!(shown, LOGGED_BURST as usize);
        // A second later, 100 more; the first of them says how many were not shown.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            share.admit_at(ip(20_000), later),
            Show::After(
                "(9000 datagrams not shown: more than 1000 at once or 100 a second from all \
                 addresses together)"
                    .to_string()
            )
        );
        let more = (1..200)
            .filter(|&i| share.admit_at(ip(20_000 + i), later).line())
            .count();
        assert_eq!(more, LOGGED_PER_SECOND as usize - 1);
        // A chat's screen has no total.
        let mut screen = ScreenShare::new();
        assert!((0..10_000).all(|i| screen.admit_at(ip(i), now).line()));
    }

    #[test]
    fn what_a_forgotten_address_had_not_shown_is_told() {
        let mut share = ScreenShare::new();
        let now = Instant::now();
        for i in 0..SHOWN_PEERS as u32 {
            for _ in 0..=SHOWN_BURST {
                share.admit_at(ip(i), now);
            }
        }
        // One address more: one of the spent ones is forgotten, its unshown datagram told.
        assert_eq!(
            share.admit_at(ip(5000), now),
            Show::After(
                "(1 datagram not shown: more than 100 at once or 10 a second from addresses \
                 since forgotten, more than 1024 sent at once)"
                    .to_string()
            )
        );
        assert_eq!(share.admit_at(ip(5000), now), Show::Yes);
        assert_eq!(share.limiter.peers(), SHOWN_PEERS);
    }

    /// The table before it had an index: a scan of every bucket for each new peer at a full
    /// table. The ties the index breaks by address, the scan breaks the same way.
    struct Scan(HashMap<IpAddr, (f64, Instant, u64)>);

    impl Scan {
        const BURST: f64 = 3.0;
        const RATE: f64 = 4.0;
        const PEERS: usize = 4;

        fn refill(b: &mut (f64, Instant, u64), now: Instant) {
            let elapsed = now.saturating_duration_since(b.1).as_secs_f64();
            b.0 = (b.0 + elapsed * Scan::RATE).min(Scan::BURST);
            b.1 = now;
        }

        fn take(&mut self, peer: IpAddr, now: Instant) -> Limit {
            if self.0.len() >= Scan::PEERS && !self.0.contains_key(&peer) {
                self.0.retain(|_, b| {
                    Scan::refill(b, now);
                    b.0 < Scan::BURST
                });
                if self.0.len() >= Scan::PEERS {
                    return Limit::TooManyPeers;
                }
            }
            let b = self.0.entry(peer).or_insert((Scan::BURST, now, 0));
            Scan::refill(b, now);
            if b.0 >= 1.0 {
                b.0 -= 1.0;
                match std::mem::take(&mut b.2) {
                    0 => Limit::Yes,
                    n => Limit::Again(n),
                }
            } else {
                b.2 += 1;
                Limit::Limited { first: b.2 == 1 }
            }
        }

        fn forget_most_spent(&mut self, now: Instant) -> u64 {
            let most = self
                .0
                .iter_mut()
                .map(|(peer, b)| {
                    Scan::refill(b, now);
                    (b.0, *peer)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, peer)| peer);
            most.and_then(|p| self.0.remove(&p)).map_or(0, |b| b.2)
        }
    }

    proptest::proptest! {
        /// Whatever the peers do and whenever, the indexed table answers as the scan did.
        /// Time moves in quarter seconds at 4 tokens a second, so every count is exact.
        #[test]
        fn the_index_answers_as_a_scan_of_every_bucket_would(
            steps in proptest::collection::vec((0..8u32, 0..3u32), 1..200)
        ) {
            let mut limiter = Limiter::new(3, 4, Scan::PEERS);
            let mut scan = Scan(HashMap::new());
            let mut now = Instant::now();
            for (peer, quarters) in steps {
                now += Duration::from_millis(250 * u64::from(quarters));
                let (peer, mut got, mut want) = (ip(peer), limiter.take(ip(peer), now), scan.take(ip(peer), now));
                if got == Limit::TooManyPeers && want == Limit::TooManyPeers {
                    proptest::prop_assert_eq!(limiter.forget_most_spent(), scan.forget_most_spent(now));
                    (got, want) = (limiter.take(peer, now), scan.take(peer, now));
                }
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(limiter.peers(), scan.0.len());
            }
        }
    }
}
