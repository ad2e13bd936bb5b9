//! A bound on how many clients a server serves at once, in all and from one address, and
//! who makes room when every place is taken.
//!
//! A total alone is not enough on a shared LAN: one classmate's script that opens as many
//! idle connections as the total allows locks every other client out. So each address gets
//! at most `per_address` places too. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`,
//! what a dual-stack socket reports) counts as that IPv4 address. An IPv6 address counts on
//! its own, not by its /64: every machine of one LAN has its address in the LAN's /64 (and
//! every link-local one in fe80::/64), so counting /64s gave a whole class's IPv6 clients
//! one share, and one classmate's 64 idle connections locked all of them out.
//!
//! A per-address limit is not enough either: 64 addresses (a classmate can give one network
//! card 64 IPv4 aliases) times 64 idle connections, each sending one byte just before the
//! idle timeout, hold all 4,096 places for about 14 bytes a second. So a server that can
//! close a client on demand takes its places with [`Slots::take_or_evict`], handing over a
//! handle to that client (a socket to shut down, a token, a `Notify`), and marks each
//! client's activity with [`Slot::touch`]. When all places are taken, the client idle
//! longest makes room: `take_or_evict` gives the newcomer its place and hands back the idle
//! one's handle, for the server to close it. nginx reuses idle keep-alive connections the
//! same way (`ngx_drain_connections`).
//!
//! Idle longest alone can be abused: an attacker whose own connections move a byte every
//! second makes anyone who pauses longer the one to go, and reconnects each connection that
//! made room, so a person typing into tcp-client was closed again and again. So the places
//! of the address that holds the most give first, and among them the one idle longest: an
//! attacker's address, at its `per_address` share, gives before a client with one place,
//! unless the attacker has as many addresses as there are places.
//!
//! A server whose clients ask and are answered (file-download) gives away only a place that
//! makes no progress: with [`Slots::patience`], a place waiting for a request (the start, or
//! [`Slot::wait`]) may go once it has waited that long, and one answering ([`Slot::keep`])
//! only once its client has taken nothing for as long, and after every waiting one. A client
//! being answered at its pace keeps its place. And with patience, a place goes only to a
//! newcomer from an address that holds fewer places than its own: an attacker that reopens
//! every connection before it has waited its patience cannot keep newcomers out (its places
//! go at once to one whose address holds two fewer), nor push out a person's one slow place.
//! Nor can one whose answers are read just fast enough: a place being answered goes too, last,
//! to a newcomer whose address holds two fewer.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Places for clients: at most `max` taken at once, and at most `per_address` by one
/// address. `H` is what the server needs to close a client that must make room (nothing,
/// for a server that never evicts).
#[derive(Debug)]
pub struct Slots<H = ()> {
    taken: Arc<Mutex<Taken<H>>>,
    max: usize,
    per_address: usize,
    patience: Option<Patience>,
}

/// How long a place must make no progress before it may be given away (see
/// [`Slots::patience`]).
#[derive(Clone, Copy, Debug)]
struct Patience {
    waiting: Duration,
    stalled: Duration,
}

impl<H> Clone for Slots<H> {
    fn clone(&self) -> Self {
        Slots {
            taken: Arc::clone(&self.taken),
            max: self.max,
            per_address: self.per_address,
            patience: self.patience,
        }
    }
}

#[derive(Debug)]
struct Taken<H> {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// The places that can be given away: those taken with `take_or_evict`, by slot number.
    evictable: HashMap<u64, Held<H>>,
    next_id: u64,
}

#[derive(Debug)]
struct Held<H> {
    address: IpAddr,
    activity: Arc<Activity>,
    handle: H,
}

/// When a slot's client last moved a byte, and whether it was made to give its place away.
#[derive(Debug)]
struct Activity {
    /// When the client last moved a byte ([`Slot::touch`]), in [`now_ms`] milliseconds.
    last: AtomicU64,
    /// How long the client had been idle when it made room, in milliseconds; `u64::MAX` while
    /// it keeps its place.
    evicted_after: AtomicU64,
    /// An answer is under way ([`Slot::keep`]): with no patience set, the place stays.
    kept: AtomicBool,
}

impl Activity {
    /// A place taken now.
    fn new() -> Activity {
        Activity {
            last: AtomicU64::new(now_ms()),
            evicted_after: AtomicU64::new(u64::MAX),
            kept: AtomicBool::new(false),
        }
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// Milliseconds on a clock that never goes back. On Linux the coarse clock: the time of the
/// last timer tick (one tick is 1 to 10 ms, 4 here: `clock_getres`), read from memory in a
/// few nanoseconds, where a precise read asks the hardware: that read, on every read and
/// write, was about a quarter of tcp-poll's user-space time per exchange (`perf record`). An
/// idle timeout counted in seconds needs no finer clock.
#[cfg(target_os = "linux")]
fn now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    let ms = now
        .tv_sec
        .saturating_mul(1000)
        .saturating_add(now.tv_nsec / 1_000_000);
    u64::try_from(ms).unwrap_or(0)
}

/// Milliseconds on a clock that never goes back: since the first call, elsewhere.
#[cfg(not(target_os = "linux"))]
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

/// One taken place. It is given back when dropped, however the client's session ends.
pub struct Slot {
    id: u64,
    address: IpAddr,
    activity: Arc<Activity>,
    owner: Arc<dyn Release>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Gives a place back: what a [`Slot`] needs of its [`Slots`], whatever their handle type.
trait Release: Send + Sync {
    fn release(&self, id: u64, address: IpAddr, activity: &Activity);
    /// Marks the place kept (an answer under way) or waiting, unless it was given away.
    fn keep(&self, activity: &Activity, kept: bool) -> bool;
}

/// The client that made room for a newcomer: the server closes it through its handle.
#[derive(Debug)]
pub struct Evicted<H> {
    /// What the server gave [`Slots::take_or_evict`] for this client.
    pub handle: H,
    /// How long it had moved no byte.
    pub idle: Duration,
    /// Whether it was being answered ([`Slot::keep`]): its client had taken nothing for
    /// the patience's `stalled`. Otherwise it was waiting for a request.
    pub answering: bool,
}

/// Why no place was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// All `max` places are taken.
    Server(usize),
    /// This address already holds `per_address` places.
    Address(usize),
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::Server(max) => write!(f, "all {max} places are taken"),
            Full::Address(max) => {
                let held = crate::text::count(*max as u64, "connection", "connections");
                write!(f, "this address already has {held}")
            }
        }
    }
}

impl Slots<()> {
    /// Places that are never given away: a client keeps its place until it leaves.
    pub fn new(max: usize, per_address: usize) -> Slots<()> {
        Slots::evicting(max, per_address)
    }
}

impl<H: Send + 'static> Slots<H> {
    /// Places that [`take_or_evict`](Slots::take_or_evict) can give away, with a handle of
    /// type `H` to close their client.
    pub fn evicting(max: usize, per_address: usize) -> Slots<H> {
        Slots {
            taken: Arc::new(Mutex::new(Taken {
                total: 0,
                by_address: HashMap::new(),
                evictable: HashMap::new(),
                next_id: 0,
            })),
            max,
            per_address,
            patience: None,
        }
    }

    /// Gives away only places that make no progress: one waiting for a request (since it was
    /// taken, or since [`Slot::wait`]) for `waiting` at least, and, after every such one, one
    /// being answered ([`Slot::keep`]) whose client has taken nothing for `stalled` (see
    /// [`Slot::moved`]). Without this, every place not kept may go, at once.
    pub fn patience(mut self, waiting: Duration, stalled: Duration) -> Slots<H> {
        self.patience = Some(Patience { waiting, stalled });
        self
    }

    /// A place for a client from `ip`, or why there is none. This place is never given away.
    pub fn take(&self, ip: IpAddr) -> Result<Slot, Full> {
        let mut taken = self.lock();
        if taken.total >= self.max {
            return Err(Full::Server(self.max));
        }
        self.give(&mut taken, key(ip), None)
    }

    /// A place for a client from `ip`, which `handle` can close. When all places are taken,
    /// the client idle longest of the address with the most places gives its place away
    /// (see the module's documentation): the new one gets it, and the idle one's
    /// handle comes back in `Some(Evicted)`, for the caller to close that client. Its
    /// [`Slot::evicted`] then says so. An address that holds `per_address` places gets none.
    pub fn take_or_evict(&self, ip: IpAddr, handle: H) -> Result<(Slot, Option<Evicted<H>>), Full> {
        let address = key(ip);
        let mut taken = self.lock();
        let mut evicted = None;
        if taken.total >= self.max {
            if taken.by_address.get(&address).copied().unwrap_or(0) >= self.per_address {
                return Err(Full::Address(self.per_address));
            }
            let held =
                (taken.evict_idlest(self.patience, address)).ok_or(Full::Server(self.max))?;
            evicted = Some(Evicted {
                idle: held.activity.idle(),
                answering: held.activity.kept.load(Ordering::Relaxed),
                handle: held.handle,
            });
        }
        let slot = self.give(&mut taken, address, Some(handle))?;
        Ok((slot, evicted))
    }

    fn give(&self, taken: &mut Taken<H>, address: IpAddr, handle: Option<H>) -> Result<Slot, Full> {
        let mine = taken.by_address.entry(address).or_insert(0);
        if *mine >= self.per_address {
            return Err(Full::Address(self.per_address));
        }
        *mine += 1;
        taken.total += 1;
        let id = taken.next_id;
        taken.next_id += 1;
        let activity = Arc::new(Activity::new());
        if let Some(handle) = handle {
            let held = Held {
                address,
                activity: Arc::clone(&activity),
                handle,
            };
            taken.evictable.insert(id, held);
        }
        Ok(Slot {
            id,
            address,
            activity,
            owner: Arc::clone(&self.taken) as Arc<dyn Release>,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Taken<H>> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// How many places are taken now.
    pub fn taken(&self) -> usize {
        self.lock().total
    }
}

impl<H> Taken<H> {
    /// Takes the client idle longest of the address with the most places out of the table,
    /// its place counted as given back to
    /// its address but not to the total: the caller gives it to a newcomer at once. With a
    /// `patience`, only places idle that long may go, those being answered last, and only
    /// from an address that holds more places than the `newcomer`'s.
    fn evict_idlest(&mut self, patience: Option<Patience>, newcomer: IpAddr) -> Option<Held<H>> {
        // The address that holds the most places gives first, then the client idle longest.
        // Idle longest alone let 64 addresses (their connections busy, one byte a second each)
        // reconnect, and each reconnect pushed out whoever was idle longer: a person typing
        // into tcp-client was closed 20 times in 30 s.
        let by_address = &self.by_address;
        let mine = by_address.get(&newcomer).copied().unwrap_or(0);
        let (&id, _) = (self.evictable.iter())
            .filter(|(_, held)| {
                let kept = held.activity.kept.load(Ordering::Relaxed);
                let idle = held.activity.idle();
                let places = by_address.get(&held.address).copied().unwrap_or(0);
                match patience {
                    // Patience alone was beaten by an attacker that closes and reopens each of
                    // its connections before it is a second old: none of its places could go,
                    // newcomers were told busy (23 of 36), and a person whose request took
                    // 1.5 s was the only one old enough, closed for the attacker's newcomers.
                    // So a place goes only to a newcomer from an address that holds fewer
                    // places, and a place still in its patience goes too when its address
                    // holds two more: places move from the richest address to the poorest.
                    Some(_) if places <= mine => false,
                    // Answers read just faster than the minimum rate, never stalled, from
                    // sixteen addresses held every place: an address two richer gives them too.
                    Some(p) if kept => idle >= p.stalled || places > mine + 1,
                    Some(p) => idle >= p.waiting || places > mine + 1,
                    None => !kept,
                }
            })
            .min_by_key(|(_, held)| {
                let kept = held.activity.kept.load(Ordering::Relaxed);
                let places = by_address.get(&held.address).copied().unwrap_or(0);
                let last = held.activity.last.load(Ordering::Relaxed);
                (kept, Reverse(places), last)
            })?;
        let held = self.evictable.remove(&id)?;
        let idle = u64::try_from(held.activity.idle().as_millis()).unwrap_or(u64::MAX - 1);
        held.activity.evicted_after.store(idle, Ordering::Relaxed);
        self.total -= 1;
        self.forget_one(held.address);
        Some(held)
    }

    fn forget_one(&mut self, address: IpAddr) {
        if let Some(mine) = self.by_address.get_mut(&address) {
            *mine -= 1;
            if *mine == 0 {
                // Forget an address with no places, so the table holds only current clients.
                self.by_address.remove(&address);
            }
        }
    }
}

impl<H: Send> Release for Mutex<Taken<H>> {
    fn release(&self, id: u64, address: IpAddr, activity: &Activity) {
        let mut taken = self.lock().unwrap_or_else(PoisonError::into_inner);
        // A client that made room has given its place away already.
        if activity.evicted_after.load(Ordering::Relaxed) != u64::MAX {
            return;
        }
        taken.evictable.remove(&id);
        taken.total -= 1;
        taken.forget_one(address);
    }

    fn keep(&self, activity: &Activity, kept: bool) -> bool {
        // Under the lock: a place is either given away or kept, never both.
        let _taken = self.lock().unwrap_or_else(PoisonError::into_inner);
        if activity.evicted_after.load(Ordering::Relaxed) != u64::MAX {
            return false;
        }
        activity.kept.store(kept, Ordering::Relaxed);
        activity.last.store(now_ms(), Ordering::Relaxed);
        true
    }
}

impl Slot {
    /// The client moved a byte: it is not idle. Cheap (a coarse clock and one atomic store):
    /// call it on every read and write.
    pub fn touch(&self) {
        self.activity.last.store(now_ms(), Ordering::Relaxed);
    }

    /// How long the client has moved no byte (since [`touch`](Slot::touch) or the start).
    pub fn idle(&self) -> Duration {
        self.activity.idle()
    }

    /// A request has come whole and is being answered: from now on the place is given away
    /// only if its client stops taking the answer (see [`Slots::patience`]). False if the
    /// place was given away already: the connection must end.
    pub fn keep(&self) -> bool {
        self.owner.keep(&self.activity, true)
    }

    /// The client is to send its next request: from now on the place may be given away
    /// once it has waited the patience's `waiting`. False if it was given away already.
    pub fn wait(&self) -> bool {
        self.owner.keep(&self.activity, false)
    }

    /// The client took its last byte at `at` (an answer now waits for room in the send
    /// buffer): what the patience's `stalled` is counted from.
    pub fn moved(&self, at: std::time::Instant) {
        let ago = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
        (self.activity.last).store(now_ms().saturating_sub(ago), Ordering::Relaxed);
    }

    /// `Some(idle)` if this client gave its place to a newcomer, after `idle` without a byte.
    pub fn evicted(&self) -> Option<Duration> {
        match self.activity.evicted_after.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.owner.release(self.id, self.address, &self.activity);
    }
}

/// The address a place is counted against: IPv4 as it is (mapped ones too), IPv6 as it is.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_refusal_says_how_many_in_good_english() {
        let one = Full::Address(1).to_string();
        assert_eq!(one, "this address already has 1 connection");
        assert!(Full::Address(3).to_string().ends_with("3 connections"));
    }

    #[test]
    fn gives_at_most_max_and_takes_them_back() {
        let slots = Slots::new(2, 10);
        let a = slots.take(ip("10.0.0.1")).unwrap();
        let b = slots.take(ip("10.0.0.2")).unwrap();
        assert_eq!(slots.take(ip("10.0.0.3")).unwrap_err(), Full::Server(2));
        drop(a);
        let c = slots.take(ip("10.0.0.3")).unwrap();
        assert!(slots.take(ip("10.0.0.4")).is_err());
        drop((b, c));
        assert_eq!(slots.taken(), 0);
        assert!(slots.take(ip("10.0.0.4")).is_ok());
        assert!(Slots::new(0, 1).take(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let slots = Slots::new(10, 2);
        let held: Vec<Slot> = (0..2)
            .map(|_| slots.take(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(slots.take(ip("10.0.0.1")).unwrap_err(), Full::Address(2));
        // The same machine through a dual-stack socket.
        assert!(slots.take(ip("::ffff:10.0.0.1")).is_err());
        let v6 = slots.take(ip("2001:db8::1")).unwrap();
        let _v6b = slots.take(ip("2001:db8::1")).unwrap();
        assert!(slots.take(ip("2001:db8::1")).is_err());
        // Another machine of the same LAN, so of the same /64, and a link-local neighbour:
        // a /64 counted as one address locked out every IPv6 classmate.
        let _v6c = slots.take(ip("2001:db8::2")).unwrap();
        assert!(slots.take(ip("2001:db8::3")).is_ok());
        let _ll = slots.take(ip("fe80::1")).unwrap();
        let _ll2 = slots.take(ip("fe80::1")).unwrap();
        assert!(slots.take(ip("fe80::2")).is_ok());
        assert!(slots.take(ip("10.0.0.2")).is_ok());
        drop(held);
        drop(v6);
        assert!(slots.take(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn an_address_without_places_is_forgotten() {
        let slots = Slots::new(10, 1);
        for n in 0..=255u8 {
            drop(slots.take(IpAddr::from([10, 0, 0, n])).unwrap());
        }
        assert!(slots.taken.lock().unwrap().by_address.is_empty());
    }

    #[test]
    fn when_all_places_are_taken_the_client_idle_longest_makes_room() {
        let slots: Slots<&str> = Slots::evicting(3, 2);
        let (a, none) = slots.take_or_evict(ip("10.0.0.1"), "a").unwrap();
        assert!(none.is_none());
        let (b, _) = slots.take_or_evict(ip("10.0.0.2"), "b").unwrap();
        let (c, _) = slots.take_or_evict(ip("10.0.0.3"), "c").unwrap();
        // The clock moves in ticks of up to 10 ms: sleep longer than the idle asserted.
        std::thread::sleep(Duration::from_millis(35));
        // a and c moved a byte; b did not: b is idle longest and gives its place away.
        a.touch();
        c.touch();
        // d comes more than two ticks later, so it is the newest.
        std::thread::sleep(Duration::from_millis(25));
        let (d, evicted) = slots.take_or_evict(ip("10.0.0.4"), "d").unwrap();
        let evicted = evicted.unwrap();
        assert_eq!(evicted.handle, "b");
        assert!(
            evicted.idle >= Duration::from_millis(20),
            "{:?}",
            evicted.idle
        );
        assert!(b.evicted().is_some() && a.evicted().is_none());
        assert_eq!(slots.taken(), 3);
        // b leaving later gives nothing back twice.
        drop(b);
        assert_eq!(slots.taken(), 3);
        // The next to go is the one idle longest now: a or c, touched before d came.
        let (_e, evicted) = slots.take_or_evict(ip("10.0.0.5"), "e").unwrap();
        assert!(["a", "c"].contains(&evicted.unwrap().handle));
        drop((a, c, d));
        assert!(slots.taken() <= 1);
    }

    #[test]
    fn the_address_with_the_most_places_makes_room_before_a_client_idle_longer() {
        // A person's one connection, quiet for a while, and an attacker's two addresses whose
        // connections move a byte now and then: the attacker's give first.
        let slots: Slots<&str> = Slots::evicting(5, 2);
        let (person, _) = slots.take_or_evict(ip("10.0.0.1"), "person").unwrap();
        std::thread::sleep(Duration::from_millis(35));
        let busy: Vec<Slot> = ["10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.3"]
            .iter()
            .map(|a| slots.take_or_evict(ip(a), "attacker").unwrap().0)
            .collect();
        busy.iter().for_each(Slot::touch);
        // The attacker reconnects from its addresses and new ones; while some address holds
        // more places than the person's one, the person keeps its place.
        let mut again = Vec::new();
        for a in ["10.0.0.4", "10.0.0.4", "10.0.0.5"] {
            let (slot, evicted) = slots.take_or_evict(ip(a), "attacker").unwrap();
            assert_eq!(evicted.unwrap().handle, "attacker");
            again.push(slot);
        }
        assert!(person.evicted().is_none());
        assert!(person.idle() >= Duration::from_millis(20));
    }

    #[test]
    fn an_address_at_its_limit_evicts_nobody_and_places_taken_with_take_stay() {
        let slots: Slots<u8> = Slots::evicting(2, 1);
        let (_a, _) = slots.take_or_evict(ip("10.0.0.1"), 1).unwrap();
        assert_eq!(
            slots.take_or_evict(ip("10.0.0.1"), 2).unwrap_err(),
            Full::Address(1)
        );
        let kept = slots.take(ip("10.0.0.2")).unwrap();
        // Only _a can be given away; then nobody.
        let (_c, evicted) = slots.take_or_evict(ip("10.0.0.3"), 3).unwrap();
        assert_eq!(evicted.unwrap().handle, 1);
        assert!(slots.take_or_evict(ip("10.0.0.4"), 4).unwrap().1.is_some());
        assert!(kept.evicted().is_none());
        let full: Slots<u8> = Slots::evicting(1, 1);
        let _only = full.take(ip("10.0.0.1")).unwrap();
        assert_eq!(
            full.take_or_evict(ip("10.0.0.2"), 0).unwrap_err(),
            Full::Server(1)
        );
    }

    #[test]
    fn with_patience_only_a_place_that_makes_no_progress_goes_and_an_answer_last() {
        let slots: Slots<&str> =
            Slots::evicting(2, 2).patience(Duration::from_millis(30), Duration::from_millis(30));
        let (waiting, _) = slots.take_or_evict(ip("10.0.0.1"), "waiting").unwrap();
        let (answered, _) = slots.take_or_evict(ip("10.0.0.2"), "answered").unwrap();
        assert!(answered.keep());
        // Nobody has waited the patience yet: a newcomer is refused.
        assert_eq!(
            slots.take_or_evict(ip("10.0.0.3"), "c").unwrap_err(),
            Full::Server(2)
        );
        std::thread::sleep(Duration::from_millis(45));
        // The answer moves; the request has not come for 45 ms: that one goes.
        answered.moved(std::time::Instant::now());
        let (c, evicted) = slots.take_or_evict(ip("10.0.0.3"), "c").unwrap();
        let evicted = evicted.unwrap();
        assert_eq!((evicted.handle, evicted.answering), ("waiting", false));
        assert!(!waiting.keep() && !waiting.wait());
        std::thread::sleep(Duration::from_millis(45));
        // Both have made no progress for 45 ms: the one waiting goes before the answer.
        let (d, evicted) = slots.take_or_evict(ip("10.0.0.4"), "d").unwrap();
        assert_eq!(evicted.unwrap().handle, "c");
        assert!(c.evicted().is_some() && d.keep());
        // An answer waiting for its client for 45 ms goes, and says so.
        std::thread::sleep(Duration::from_millis(45));
        let (_e, evicted) = slots.take_or_evict(ip("10.0.0.5"), "e").unwrap();
        let evicted = evicted.unwrap();
        assert!(evicted.answering && ["answered", "d"].contains(&evicted.handle));
    }

    #[test]
    fn with_patience_places_go_from_the_richest_address_to_a_poorer_one_only() {
        let slots: Slots<&str> =
            Slots::evicting(4, 4).patience(Duration::from_millis(30), Duration::from_millis(30));
        // A person's one place, whose request is slow: older than the patience.
        let (person, _) = slots.take_or_evict(ip("10.0.0.1"), "person").unwrap();
        std::thread::sleep(Duration::from_millis(45));
        // An attacker takes the other three, and keeps each younger than the patience by
        // closing and reopening it: none of them has waited long enough to go.
        let attacker: Vec<Slot> = (0..3)
            .map(|_| slots.take_or_evict(ip("10.0.0.2"), "attacker").unwrap().0)
            .collect();
        // Its next connection may not push out the person (one place against its three).
        assert_eq!(
            slots.take_or_evict(ip("10.0.0.2"), "again").unwrap_err(),
            Full::Server(4)
        );
        assert!(person.evicted().is_none());
        // A newcomer from an address with no place gets one of the attacker's young places,
        // before the person's old one.
        let (_newcomer, evicted) = slots.take_or_evict(ip("10.0.0.3"), "newcomer").unwrap();
        assert_eq!(evicted.unwrap().handle, "attacker");
        // Addresses of one place each: another address's newcomer takes the person's old
        // place, as before, but no young one.
        drop(attacker);
        let (_b, _) = slots.take_or_evict(ip("10.0.0.4"), "b").unwrap();
        let (_c, _) = slots.take_or_evict(ip("10.0.0.5"), "c").unwrap();
        let (_d, evicted) = slots.take_or_evict(ip("10.0.0.6"), "d").unwrap();
        assert_eq!(evicted.unwrap().handle, "person");
        assert_eq!(
            slots.take_or_evict(ip("10.0.0.7"), "e").unwrap_err(),
            Full::Server(4)
        );
    }
}
