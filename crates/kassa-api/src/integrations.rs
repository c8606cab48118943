//! The request path's side of integrations: which events some enabled integration observes (one
//! word, read with one atomic load, so a request whose events nobody observes renders and
//! writes nothing), and the wake-up of this node's delivery worker after a commit that wrote
//! events. The application state holds one [`Integrations`]; it knows no request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kassa_core::integrations::{Event, EventKind, EventSet, RetryPolicy};
use kassa_core::store::Store;
use kassa_core::time::now_millis;
use tokio::sync::Notify;

/// How often every node re-reads the observed set, so an integration created, changed or
/// deleted on another node takes effect here within this time (at once on the node that
/// changed it).
pub const OBSERVED_REFRESH: Duration = Duration::from_secs(1);

pub struct Integrations {
    observed: AtomicU64,
    committed: Notify,
    /// Delivery settings of this node's worker.
    pub policy: RetryPolicy,
}

impl Default for Integrations {
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

impl Integrations {
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            // Until the first read, every event counts as observed: the outbox write reads the
            // integrations in its own transaction, so at worst it writes nothing.
            observed: AtomicU64::new(u64::MAX),
            committed: Notify::new(),
            policy,
        }
    }

    /// Whether some enabled integration observes `kind` (as of the last read).
    pub fn observes(&self, kind: EventKind) -> bool {
        EventSet(self.observed.load(Ordering::Relaxed)).contains(kind)
    }

    /// The event, rendered only if something observes it.
    pub fn event(&self, kind: EventKind, render: impl FnOnce() -> String) -> Option<Event> {
        self.observes(kind).then(|| Event {
            kind,
            payload: render(),
            at: now_millis(),
        })
    }

    /// Whether some enabled integration observes anything (as of the last read).
    pub fn observes_any(&self) -> bool {
        self.observed.load(Ordering::Relaxed) != 0
    }

    /// Re-reads the observed set from the store. A set that was empty and is not any more wakes
    /// the worker (a per-test store's worker sleeps while nothing is observed).
    pub async fn reload(&self, store: &dyn Store) -> kassa_core::Result<()> {
        let names = store.observed_events().await?;
        let set = EventSet::of(names.iter().map(String::as_str));
        if self.observed.swap(set.0, Ordering::Relaxed) == 0 && set.0 != 0 {
            self.committed.notify_one();
        }
        Ok(())
    }

    /// Tells this node's worker that events were committed (call after the write returns).
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Resolves at the next [`Integrations::committed`] (or at once if one came since the last
    /// wait).
    pub async fn next_commit(&self) {
        self.committed.notified().await;
    }
}

impl Integrations {
    /// [`Integrations::event`] as the list a store use-case takes.
    pub fn events(&self, kind: EventKind, render: impl FnOnce() -> String) -> Vec<Event> {
        self.event(kind, render).into_iter().collect()
    }

    /// The event of a change whose result the store makes (a created or edited resource),
    /// rendered from that result inside the change's transaction; `None` — nothing rendered,
    /// nothing written — if nothing observes `kind`.
    pub fn emit<T: 'static>(
        &self,
        kind: EventKind,
        render: impl FnOnce(&T) -> String + Send + 'static,
    ) -> Option<kassa_core::integrations::Emit<T>> {
        self.observes(kind).then(|| {
            Box::new(move |t: &T| {
                vec![Event {
                    kind,
                    payload: render(t),
                    at: now_millis(),
                }]
            }) as kassa_core::integrations::Emit<T>
        })
    }
}
