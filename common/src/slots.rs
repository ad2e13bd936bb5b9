//! A bound on how many clients a server serves at once, in all and from one address.
//!
//! A total alone is not enough on a shared LAN: one classmate's script that opens as many
//! idle connections as the total allows locks every other client out. So each address gets
//! at most `per_address` places too. IPv6 hands every machine a whole /64, so there the
//! "address" is the /64; an IPv4 address written as IPv6 (`::ffff:a.b.c.d`, what a
//! dual-stack socket reports) counts as that IPv4 address.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Places for clients: at most `max` taken at once, and at most `per_address` by one address.
#[derive(Clone, Debug)]
pub struct Slots {
    taken: Arc<Mutex<Taken>>,
    max: usize,
    per_address: usize,
}

#[derive(Debug, Default)]
struct Taken {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One taken place. It is given back when dropped, however the client's session ends.
#[derive(Debug)]
pub struct Slot {
    taken: Arc<Mutex<Taken>>,
    address: IpAddr,
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

impl Slots {
    pub fn new(max: usize, per_address: usize) -> Slots {
        Slots {
            taken: Arc::new(Mutex::new(Taken::default())),
            max,
            per_address,
        }
    }

    /// A place for a client from `ip`, or why there is none.
    pub fn take(&self, ip: IpAddr) -> Result<Slot, Full> {
        let address = key(ip);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.total >= self.max {
            return Err(Full::Server(self.max));
        }
        let mine = taken.by_address.entry(address).or_insert(0);
        if *mine >= self.per_address {
            return Err(Full::Address(self.per_address));
        }
        *mine += 1;
        taken.total += 1;
        Ok(Slot {
            taken: Arc::clone(&self.taken),
            address,
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// How many places are taken now.
    pub fn taken(&self) -> usize {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        taken.total -= 1;
        if let Some(mine) = taken.by_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                // Forget an address with no places, so the table holds only current clients.
                taken.by_address.remove(&self.address);
            }
        }
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
}
