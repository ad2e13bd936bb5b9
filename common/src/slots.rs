//! A bound on how many clients a server serves at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Places for clients: at most `max` taken at once.
#[derive(Clone, Debug)]
pub struct Slots {
    taken: Arc<AtomicUsize>,
    max: usize,
}

/// One taken place. It is given back when dropped, however the client's session ends.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            taken: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A place, or `None` when all `max` are taken.
    pub fn take(&self) -> Option<Slot> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(&self.taken)))
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_at_most_max_and_takes_them_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        let c = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop((b, c));
        assert!(slots.take().is_some());
        assert!(Slots::new(0).take().is_none());
    }
}
