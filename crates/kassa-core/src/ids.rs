//! New ids and random bytes: time-ordered random UUIDs (v7: B-tree inserts stay local), or, with
//! a seed (`kassa serve --seed N`), the same ids in the same order on every run on a fresh store:
//! a test that makes its requests one after another sees the same ids, and the same generated
//! client ids and secrets, each time. Never for a production store (seeded secrets are
//! predictable), nor for a store a seeded run already filled (the sequence starts again).

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
