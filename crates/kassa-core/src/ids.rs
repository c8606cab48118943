//! New ids and random bytes: time-ordered random UUIDs (v7: B-tree inserts stay local), or, with
//! a seed (`kassa serve --seed N`), the same ids in the same order on every run on a fresh store:
//! a test that makes its requests one after another sees the same ids, and the same generated
//! client ids and secrets, each time. Never for a production store (seeded secrets are
//! predictable), nor for a store a seeded run already filled (the sequence starts again).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

use crate::context::{self, StoreContext};

/// Makes every later id and random value of the current store (see [`crate::context`]) come from
/// a generator seeded with `seed`, from its start; `None` goes back to real randomness.
pub fn seed(seed: Option<u64>) {
    context::with_current(|c| c.seed(seed));
}

/// The current store's seed, if its ids come from one.
pub fn current_seed() -> Option<u64> {
    context::with_current(StoreContext::current_seed)
}

/// A new id: v7 (time-ordered), or with a seed v4 from the current store's seeded generator.
pub fn new_id() -> Uuid {
    context::with_current(StoreContext::new_id)
}

/// `N` random bytes, from the current store's seed when it has one.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    context::with_current(StoreContext::random_bytes)
}

/// A store's id generator.
#[derive(Default)]
pub(crate) struct Generator {
    /// Whether a seed is set: unseeded, making an id reads this one flag.
    seeded: AtomicBool,
    rng: Mutex<Option<(u64, StdRng)>>,
}

impl Generator {
    pub(crate) fn seed(&self, seed: Option<u64>) {
        let mut rng = self.rng.lock().expect("id generator lock");
        *rng = seed.map(|s| (s, StdRng::seed_from_u64(s)));
        self.seeded.store(seed.is_some(), Ordering::Release);
    }

    pub(crate) fn current_seed(&self) -> Option<u64> {
        if !self.seeded.load(Ordering::Acquire) {
            return None;
        }
        self.rng
            .lock()
            .expect("id generator lock")
            .as_ref()
            .map(|(s, _)| *s)
    }

    pub(crate) fn new_id(&self) -> Uuid {
        match self.seeded_bytes::<16>() {
            Some(bytes) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
            None => Uuid::now_v7(),
        }
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> [u8; N] {
        self.seeded_bytes().unwrap_or_else(rand::random)
    }

    fn seeded_bytes<const N: usize>(&self) -> Option<[u8; N]> {
        if !self.seeded.load(Ordering::Acquire) {
            return None;
        }
        let mut rng = self.rng.lock().expect("id generator lock");
        let (_, rng) = rng.as_mut()?;
        let mut bytes = [0; N];
        rng.fill_bytes(&mut bytes);
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_its_ids_and_unseeded_ids_are_time_ordered() {
        let g = Generator::default();
        g.seed(Some(42));
        assert_eq!(g.current_seed(), Some(42));
        let first: Vec<Uuid> = (0..3).map(|_| g.new_id()).collect();
        let bytes = g.random_bytes::<8>();
        g.seed(Some(42));
        let again: Vec<Uuid> = (0..3).map(|_| g.new_id()).collect();
        assert_eq!(first, again);
        assert_eq!(bytes, g.random_bytes::<8>());
        assert!(first.iter().all(|id| id.get_version_num() == 4));
        assert!(first[0] != first[1] && first[1] != first[2]);
        g.seed(Some(7));
        assert_ne!(g.new_id(), first[0]);
        g.seed(None);
        assert_eq!(g.current_seed(), None);
        let (a, b) = (g.new_id(), g.new_id());
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b, "time-ordered");
        assert_ne!(g.random_bytes::<16>(), g.random_bytes::<16>());
    }
}
