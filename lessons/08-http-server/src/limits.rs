//! Places for connections: at most `--max-clients` in all and `--max-per-address` from one
//! address (`common::Slots`), and, when every place is taken, room made by closing the
//! connection that has waited longest for its next request, as nginx does
//! (`ngx_drain_connections`).
//!
//! Without that, keep-alive is a lockout: 16 addresses holding 16 connections each, every
//! connection asking one small request every 12 s (under `--idle-timeout`), kept all 256
//! places, and every other client was answered 503. A connection waiting between two
//! requests has nothing in flight, so closing it loses nothing: the client sees the close
//! that any keep-alive connection may see, and asks again on a new one. A connection whose
//! answer its client is taking is never chosen.
//!
//! Nor, at first, was one whose head was arriving, and that was the next lockout: the same
//! sixteen addresses each sending a head one byte every 2 s, never ending it, and starting
//! again at once when dropped at `--timeout`, got a new client 503 for 72 of 80 tries in
//! 40 s. A head takes a round trip to arrive; one that has been arriving for [`SLOW_HEAD`]
//! is closed when no connection is idle.
//!
//! And then an answer nobody reads: the same sixteen addresses each asking for a large file,
//! reading none of it, and asking again on a new connection every 9 s, just under
//! `--timeout`, got a new client 503 for 69 of 78 tries. An answer whose client has taken no
//! byte for [`STALLED`] is closed last, when no connection is idle and no head is slow.
//!
//! Heads that are never slow came next: the sixteen addresses closing and reopening each
//! connection half a second after sending its first byte, so that no head was ever a second
//! old, got a new client 503 for 25 of 26 tries. A head younger than `SLOW_HEAD` is closed
//! too when its address holds two places more than the newcomer's, and among those that may
//! go, the address holding the most places goes first.
//!
//! Then three states that were none of these, each held by sixteen addresses that came back
//! at once when dropped (a newcomer's answers and 503s in about 30 s): a head announcing a
//! body that never comes (1 and 58), now a head still arriving; a refused request's second of
//! lingering (10 and 49), now closed at once ([`Place::closing`]); and pipelined requests
//! whose answers nobody reads, the write of a head waiting for room until `--timeout` (1 and
//! 54), now a stalled answer.
//!
//! And the attacker's own reconnects, each a newcomer, closed a person's head that took a
//! second and a half to arrive (8 of 10), and a person's keep-alive connection between every
//! two of its requests (35 of 36): a place now goes only to a newcomer from an address that
//! holds fewer places, or as many for an idle connection, as `common::Slots` gives them.
//!
//! Last, answers read just fast enough: sixteen addresses, sixteen connections each, each
//! reading a large file at 20 KiB/s (above `--min-rate`, never stalled), held every place
//! for as long as the file lasted (0 answers in 72 tries). An answer under way now goes too
//! when its address holds two places more than the newcomer's.
//!
//! And a pause is not a stall: `curl --limit-rate 2M` takes 7 to 10 MB at once, then nothing
//! for 2 to 4.7 s, and a person's download, its address made rich by a classmate, was closed
//! for a newcomer after 29.9 s, one run in two. A pause counts as a stall only once it has
//! lasted half the answer's time.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::{Full, Slot, Slots};

/// How long a new client waits for the place of a connection that was closed for it.
const FREEING: Duration = Duration::from_secs(1);

/// A head still arriving after this long may be closed to make room, when none is idle.
pub const SLOW_HEAD: Duration = Duration::from_secs(1);

/// An answer whose client has taken nothing for this long may be closed to make room, when
/// none is idle and no head is slow. Two of `pace::TICK`: the server learns that its client
/// took bytes only when a wait for room ends, a TICK at most, so a client reading steadily
/// but slower than a third of the send buffer a second looks idle for a whole TICK every
/// TICK; at one TICK, a newcomer arriving just then took its place.
pub const STALLED: Duration = common::pace::TICK.saturating_mul(2);

/// The places of one server, shared by the accept loop and every connection.
#[derive(Clone)]
pub struct Places {
    slots: Slots,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a place is given back.
    freed: Condvar,
}

#[derive(Default)]
struct State {
    /// Every connection with a place, by number: a second handle on its socket, and since
    /// when it has waited for its next request (None: a request or answer is under way).
    open: HashMap<u64, Open>,
    next_id: u64,
    /// Places given back so far: a waiting accept loop sees that the count moved.
    freed: u64,
}

struct Open {
    address: IpAddr,
    socket: Option<TcpStream>,
    idle_since: Option<Instant>,
    /// Since when its head has been arriving (None: no head under way).
    head_since: Option<Instant>,
    /// Whether it has had a request: a new connection that has sent nothing yet counts as
    /// a head arriving, not as idle.
    answered: bool,
    /// Since when its answer has sent nothing (None: no answer waiting for its client), and
    /// since when that answer has been under way.
    stalled_since: Option<(Instant, Instant)>,
    /// Answered for the last time, it waits a second for its client to close first
    /// (`Connection::linger`): it may go at once, as an idle one.
    closing: bool,
    /// Closed to make room, and why it was the one: the connection must end, whatever its
    /// read or write brought.
    closed_for_room: Option<&'static str>,
}

/// One connection's place. Given back when dropped, however the connection ends.
pub struct Place {
    id: u64,
    slot: Option<Slot>,
    shared: Arc<Shared>,
}

impl Places {
    pub fn new(max: usize, per_address: usize) -> Places {
        Places {
            slots: Slots::new(max, per_address),
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                freed: Condvar::new(),
            }),
        }
    }

    /// A place for `stream`, from `ip`. When all are taken, the connection idle longest is
    /// closed to make room; an address that has its share already is refused, as before.
    pub fn take(&self, ip: IpAddr, stream: &TcpStream) -> Result<Place, Full> {
        let slot = match self.slots.take(ip) {
            Ok(slot) => slot,
            Err(Full::Server(_)) => self.make_room(ip)?,
            Err(full) => return Err(full),
        };
        // A second descriptor of the same socket: how another thread can close it. (Without
        // one, when descriptors run out, this connection is never closed to make room.)
        let socket = stream.try_clone().ok();
        let mut state = self.shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        let open = Open {
            address: ip,
            socket,
            idle_since: None,
            head_since: None,
            answered: false,
            stalled_since: None,
            closing: false,
            closed_for_room: None,
        };
        state.open.insert(id, open);
        Ok(Place {
            id,
            slot: Some(slot),
            shared: Arc::clone(&self.shared),
        })
    }

    // ANCHOR: make_room
    /// Closes the connection that has waited longest for its next request (or, if none
    /// waits, the one whose head has been arriving longest, for SLOW_HEAD at least or from
    /// an address holding two places more than `ip`; or the one whose client has taken
    /// nothing of its answer longest, for STALLED and half the answer's time at least; or,
    /// last, any answer from an address holding two places more than `ip`), the address
    /// holding the most places first, and never one from an address poorer than `ip` (nor,
    /// but for an idle one, as poor); waits for its place to come back, and takes it; or says
    /// that every place is busy.
    fn make_room(&self, ip: IpAddr) -> Result<Slot, Full> {
        let full = Full::Server(self.slots.max());
        let now = Instant::now();
        let mut state = self.shared.lock();
        let mut places: HashMap<IpAddr, usize> = HashMap::new();
        for open in state.open.values() {
            *places.entry(open.address).or_default() += 1;
        }
        let held = |address| places.get(&address).copied().unwrap_or(0);
        let oldest = state
            .open
            .iter_mut()
            .filter(|(_, open)| open.socket.is_some() && open.closed_for_room.is_none())
            .filter_map(|(id, open)| {
                let theirs = held(open.address);
                let (rank, since, why) = Places::may_go(open, theirs, held(ip), now)?;
                // Among answers under way of one address (rank 3, all `since` now), the
                // youngest connection goes: oldest first let a classmate on a person's NAT make
                // it rich and cut the person's download, the oldest, within 5 s.
                Some(((rank, Reverse(theirs), since, Reverse(*id)), why, open))
            })
            .min_by_key(|(key, _, _)| *key);
        let Some((_, why, open)) = oldest else {
            return Err(full);
        };
        open.closed_for_room = Some(why);
        // Its thread, asleep in read, wakes up with 0 bytes and ends the connection.
        if let Some(socket) = &open.socket {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let freed = state.freed;
        let deadline = Instant::now() + FREEING;
        while state.freed == freed {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(full);
            }
            state = self
                .shared
                .freed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        self.slots.take(ip)
    }

    /// Whether `open`, from an address holding `theirs` places, may be closed for a newcomer
    /// from one holding `mine`: its rank (the lowest goes first), since when, and why.
    fn may_go(
        open: &Open,
        theirs: usize,
        mine: usize,
        now: Instant,
    ) -> Option<(u8, Instant, &'static str)> {
        let waited = |since: Instant, least| now.duration_since(since) >= least;
        // Heads reopened before they are a second old held every place.
        let richer = theirs >= mine + 2;
        // And the attacker's own reconnects closed a person's slow head, or its keep-alive
        // connection between two requests: a place goes only to a newcomer whose address
        // holds fewer places than the place's (as many, if it is idle).
        let why = match (open.idle_since, open.head_since, open.stalled_since) {
            (Some(since), _, _) if open.closing => {
                (0, since, "it was closing after a refused request")
            }
            (Some(since), _, _) if theirs >= mine => {
                (0, since, "it had waited longest for its next request")
            }
            (None, Some(since), _) if waited(since, SLOW_HEAD) && theirs > mine => {
                (1, since, "its head had been arriving for a second or more")
            }
            (None, Some(since), _) if richer => (
                1,
                since,
                "its address held two places more than the newcomer's",
            ),
            // A pause is a stall only if it is half the answer's age or more: curl
            // --limit-rate 2M takes 7 to 10 MB at once, then nothing for 3 to 5 s, and such a
            // download was cut at 29.7 s.
            (None, None, Some((since, began)))
                if waited(since, STALLED)
                    && since.duration_since(began) <= now.duration_since(since)
                    && theirs > mine =>
            {
                (
                    2,
                    since,
                    "its client had taken nothing of the answer for two seconds or more, \
                     half the answer's time or more",
                )
            }
            // Answers read just faster than --min-rate, from sixteen addresses, held every
            // place: a rich address gives up even an answer under way.
            (None, None, _) if richer => (
                3,
                now,
                "its address held two places more than the newcomer's",
            ),
            _ => return None,
        };
        Some(why)
    }
    // ANCHOR_END: make_room
}

impl Place {
    /// The connection now waits for the first byte of its next request: it may be closed
    /// to make room. Before its first request it is a head arriving: a newcomer arriving a
    /// moment after it took its place as "idle" (an attacker's reconnect closed a person's
    /// connection before its request was read).
    pub fn idle(&self) {
        if let Some(open) = self.shared.lock().open.get_mut(&self.id) {
            match open.answered {
                true => open.idle_since.get_or_insert_with(Instant::now),
                false => open.head_since.get_or_insert_with(Instant::now),
            };
            open.stalled_since = None;
        }
    }

    /// The connection waits for the rest of a head, or of the body that follows it: if that
    /// takes SLOW_HEAD, it may be closed to make room.
    pub fn heading(&self) {
        if let Some(open) = self.shared.lock().open.get_mut(&self.id) {
            open.head_since.get_or_insert_with(Instant::now);
        }
    }

    /// A whole head has arrived: an answer is under way, and the connection is not closed
    /// to make room until it waits again, or its client stops taking the answer.
    pub fn answering(&self) {
        if let Some(open) = self.shared.lock().open.get_mut(&self.id) {
            open.answered = true;
            open.head_since = None;
            open.stalled_since = None;
        }
    }

    /// The answer begun at `began` waits for room in the send buffer; its client took its
    /// last byte at `last`. Past STALLED, and half the answer's time, the connection may be
    /// closed to make room.
    pub fn stalled(&self, last: Instant, began: Instant) {
        if let Some(open) = self.shared.lock().open.get_mut(&self.id) {
            open.stalled_since = Some((last, began));
        }
    }

    /// The connection was answered for the last time and lingers before it closes: it may
    /// be closed to make room at once, as an idle one. (A second of lingering after each of
    /// sixteen addresses' bad requests, sent again at once, held every place.)
    pub fn closing(&self) {
        if let Some(open) = self.shared.lock().open.get_mut(&self.id) {
            open.idle_since.get_or_insert_with(Instant::now);
            open.closing = true;
        }
    }

    /// Why the connection was closed to make room, if it was: what failed after that,
    /// failed for that.
    pub fn closed_for_room(&self) -> Option<&'static str> {
        let state = self.shared.lock();
        state
            .open
            .get(&self.id)
            .and_then(|open| open.closed_for_room)
    }

    /// A read returned: a request has begun (or the connection ended). False if the
    /// connection was closed to make room meanwhile; it must then end.
    pub fn busy(&self) -> bool {
        match self.shared.lock().open.get_mut(&self.id) {
            Some(open) => {
                open.idle_since = None;
                open.closed_for_room.is_none()
            }
            None => false,
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        // Closes the second descriptor, and gives the place back.
        state.open.remove(&self.id);
        self.slot.take();
        state.freed += 1;
        drop(state);
        self.shared.freed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
