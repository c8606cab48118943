//! Which store a piece of work belongs to, for the two things that are per store but read deep
//! inside the domain: the test clock and the id generator (`/_kassa/stores`: one process may hold
//! many stores, each with its own clock and seed).
//!
//! A request or background task of a store runs inside [`scope`]; a thread that works for one
//! store only (a SQLite store's writer and readers) is bound to it with [`bind_thread`]. Anything
//! else — the server's own store, and every process that holds just one — reads the process's
//! default context, so nothing needs to be passed down through the domain's functions.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use time::OffsetDateTime;
use uuid::Uuid;

/// Milliseconds since the Unix epoch (`crate::time::Millis`).
type Millis = i64;

/// Now in real time, whatever a test clock says.
fn real_now_millis() -> Millis {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as Millis
}

/// One store's test clock and id generator.
#[derive(Default)]
pub struct StoreContext {
    /// The test clock's distance from real time; 0 is real time.
    clock_offset_ms: AtomicI64,
    ids: Generator,
    /// A per-test store's id, which prefixes its client ids and signing key ids.
    store_id: Option<String>,
}

impl StoreContext {
    /// The context of per-test store `id`: client ids and signing key ids made in it are
    /// `{id}.…`, so a request's credentials say which store it is for.
    pub fn for_store(id: &str, seed: Option<u64>) -> Self {
        let context = Self {
            store_id: Some(id.to_owned()),
            ..Self::default()
        };
        context.ids.seed(seed);
        context
    }

    /// `name` as this store's (`{store id}.{name}` in a per-test store).
    pub fn qualified(&self, name: String) -> String {
        match &self.store_id {
            Some(store) => format!("{store}.{name}"),
            None => name,
        }
    }

    /// Now, as this store's rules read it.
    pub fn now_millis(&self) -> Millis {
        real_now_millis() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// `Some(at)` makes now `at` and lets it run on from there; `None` goes back to real time.
    pub fn set_clock(&self, at: Option<Millis>) {
        let offset = at.map_or(0, |at| at - real_now_millis());
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
    }

    /// How far the test clock is from real time, in milliseconds.
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Makes every later id and random value come from a generator seeded with `seed`, from its
    /// start; `None` goes back to real randomness.
    pub fn seed(&self, seed: Option<u64>) {
        self.ids.seed(seed);
    }

    /// The seed set last, if ids come from one.
    pub fn current_seed(&self) -> Option<u64> {
        self.ids.current_seed()
    }

    pub(crate) fn new_id(&self) -> Uuid {
        self.ids.new_id()
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> [u8; N] {
        self.ids.random_bytes()
    }
}

/// A store's id generator.
#[derive(Default)]
struct Generator {
    /// Whether a seed is set: unseeded, making an id reads this one flag.
    seeded: AtomicBool,
    rng: Mutex<Option<(u64, StdRng)>>,
}

impl Generator {
    fn seed(&self, seed: Option<u64>) {
        let mut rng = self.rng.lock().expect("id generator lock");
        *rng = seed.map(|s| (s, StdRng::seed_from_u64(s)));
        self.seeded.store(seed.is_some(), Ordering::Release);
    }

    fn current_seed(&self) -> Option<u64> {
        if !self.seeded.load(Ordering::Acquire) {
            return None;
        }
        self.rng
            .lock()
            .expect("id generator lock")
            .as_ref()
            .map(|(s, _)| *s)
    }

    fn new_id(&self) -> Uuid {
        match self.seeded_bytes::<16>() {
            Some(bytes) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
            None => Uuid::now_v7(),
        }
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
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

/// The process's context: its own store's, and that of any work outside a [`scope`].
static DEFAULT: LazyLock<Arc<StoreContext>> = LazyLock::new(Arc::default);

tokio::task_local! {
    static TASK: Arc<StoreContext>;
}

thread_local! {
    static THREAD: RefCell<Option<Arc<StoreContext>>> = const { RefCell::new(None) };
}

/// Runs `f` with the context of the work in progress: the task's, else the thread's, else the
/// process's.
pub fn with_current<R>(f: impl FnOnce(&StoreContext) -> R) -> R {
    let mut f = Some(f);
    if let Ok(r) = TASK.try_with(|c| (f.take().expect("called once"))(c)) {
        return r;
    }
    let f = f.take().expect("not called yet");
    THREAD.with_borrow(|thread| f(thread.as_deref().unwrap_or(&DEFAULT)))
}

/// The context of the work in progress, to hand to work that runs elsewhere.
pub fn current() -> Arc<StoreContext> {
    TASK.try_with(Arc::clone)
        .ok()
        .or_else(|| THREAD.with_borrow(Option::clone))
        .unwrap_or_else(|| Arc::clone(&DEFAULT))
}

/// Runs `future` as work of the store whose context this is.
pub fn scope<F: Future>(context: Arc<StoreContext>, future: F) -> impl Future<Output = F::Output> {
    TASK.scope(context, future)
}

/// `tokio::spawn`, keeping the spawning work's store context.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(scope(current(), future))
}

/// Makes the calling thread work for `context`'s store for the rest of its life (outside any
/// [`scope`], which still wins).
pub fn bind_thread(context: Arc<StoreContext>) {
    THREAD.set(Some(context));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_has_its_own_clock_and_ids_and_spawned_work_keeps_it() {
        let store = Arc::new(StoreContext::for_store("s", Some(7)));
        store.set_clock(Some(1_000_000));
        let (now, id, spawned_now) = scope(Arc::clone(&store), async {
            let now = crate::time::now_millis();
            let id = crate::ids::new_id();
            let spawned = spawn(async { crate::time::now_millis() }).await.unwrap();
            (now, id, spawned)
        })
        .await;
        assert!((1_000_000..1_060_000).contains(&now), "{now}");
        assert!((1_000_000..1_060_000).contains(&spawned_now), "{spawned_now}");
        assert_eq!(
            id,
            StoreContext::for_store("s", Some(7)).new_id(),
            "the store's seed"
        );
        // Outside: the process's own clock is untouched.
        assert!(crate::time::now_millis() > 1_700_000_000_000);

        let thread_store = Arc::clone(&store);
        let on_thread = std::thread::spawn(move || {
            bind_thread(thread_store);
            crate::time::now_millis()
        })
        .join()
        .unwrap();
        assert!((1_000_000..1_060_000).contains(&on_thread), "{on_thread}");
    }

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
