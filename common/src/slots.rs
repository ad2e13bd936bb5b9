//! A bound on how many clients a server serves at once, in all and from one address, and
//! who makes room when every place is taken.
//!
//! A total alone is not enough on a shared LAN: one classmate's script that opens as many
//! idle connections as the total allows locks every other client out. So each address gets
//! at most `per_address` places too. IPv6 hands every machine a whole /64, so there the
//! "address" is the /64; an IPv4 address written as IPv6 (`::ffff:a.b.c.d`, what a
//! dual-stack socket reports) counts as that IPv4 address.
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

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Places for clients: at most `max` taken at once, and at most `per_address` by one
/// address. `H` is what the server needs to close a client that must make room (nothing,
/// for a server that never evicts).
#[derive(Debug)]
pub struct Slots<H = ()> {
    taken: Arc<Mutex<Taken<H>>>,
    max: usize,
    per_address: usize,
}

impl<H> Clone for Slots<H> {
    fn clone(&self) -> Self {
        Slots {
            taken: Arc::clone(&self.taken),
            max: self.max,
            per_address: self.per_address,
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
    /// The moment every slot's activity is counted from.
    start: Instant,
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
    start: Instant,
    /// Milliseconds from `start` to the last [`Slot::touch`].
    last: AtomicU64,
    /// How long the client had been idle when it made room, in milliseconds; `u64::MAX` while
    /// it keeps its place.
    evicted_after: AtomicU64,
}

impl Activity {
    /// A place taken now; `start` is the same for every place of one `Slots`.
    fn new(start: Instant) -> Activity {
        let activity = Activity {
            start,
            last: AtomicU64::new(0),
            evicted_after: AtomicU64::new(u64::MAX),
        };
        activity.last.store(activity.now(), Ordering::Relaxed);
        activity
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(self.now().saturating_sub(self.last.load(Ordering::Relaxed)))
    }
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
}

/// The client that made room for a newcomer: the server closes it through its handle.
#[derive(Debug)]
pub struct Evicted<H> {
    /// What the server gave [`Slots::take_or_evict`] for this client.
    pub handle: H,
    /// How long it had moved no byte.
    pub idle: Duration,
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
            Full::Address(max) => write!(f, "this address already has {max} connections"),
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
                start: Instant::now(),
            })),
            max,
            per_address,
        }
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
    /// the client idle longest gives its place away: the new one gets it, and the idle one's
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
            let held = taken.evict_idlest().ok_or(Full::Server(self.max))?;
            evicted = Some(Evicted {
                idle: held.activity.idle(),
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
        let activity = Arc::new(Activity::new(taken.start));
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
    /// Takes the client idle longest out of the table, its place counted as given back to
    /// its address but not to the total: the caller gives it to a newcomer at once.
    fn evict_idlest(&mut self) -> Option<Held<H>> {
        let (&id, _) = (self.evictable.iter())
            .min_by_key(|(_, held)| held.activity.last.load(Ordering::Relaxed))?;
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
}

impl Slot {
    /// The client moved a byte: it is not idle. Cheap (one atomic store): call it on every
    /// read and write.
    pub fn touch(&self) {
        let now = self.activity.now();
        self.activity.last.store(now, Ordering::Relaxed);
    }

    /// How long the client has moved no byte (since [`touch`](Slot::touch) or the start).
    pub fn idle(&self) -> Duration {
        self.activity.idle()
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

/// The address a place is counted against: IPv4 as it is (mapped ones too), IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
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
        // The same machine through a dual-stack socket, and another host of one /64.
        assert!(slots.take(ip("::ffff:10.0.0.1")).is_err());
        let v6 = slots.take(ip("2001:db8::1")).unwrap();
        let _v6b = slots.take(ip("2001:db8::2")).unwrap();
        assert!(slots.take(ip("2001:db8::3")).is_err());
        assert!(slots.take(ip("2001:db8:0:1::1")).is_ok());
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
        std::thread::sleep(Duration::from_millis(20));
        // a and c moved a byte; b did not: b is idle longest and gives its place away.
        a.touch();
        c.touch();
        // Activity is counted in milliseconds: d comes a few later, so it is the newest.
        std::thread::sleep(Duration::from_millis(5));
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
}
