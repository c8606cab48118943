//! Work that must not compete with requests: a publish's snapshot and the search index builds
//! run on threads of their own at the lowest scheduling priority, so that while a large catalog
//! is published and indexed, carts and checkouts get the CPU first and the work takes what is
//! left.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `work` on a new thread named `name` at the lowest scheduling priority (Linux's
/// `SCHED_IDLE` policy; threads it starts, such as tantivy's indexer and merger, inherit it) and
/// waits for it without holding a runtime thread.
pub(crate) async fn run_at_lowest_priority<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_own_priority();
        let _ = done.send(work());
    })?;
    result
        .await
        .map_err(|_| std::io::Error::other(format!("the {name} thread panicked")))
}

/// How long [`free_at_lowest_priority`] waits for the other holders of a value to let go.
const FREE_PATIENCE: Duration = Duration::from_secs(600);

/// Frees `value` on a thread at the lowest priority once nothing else holds it. A superseded
/// release of a large catalog is hundreds of megabytes of small allocations; freed where it is
/// let go of last, that is a request thread's few hundred milliseconds. The holders left are
/// requests (milliseconds) and a search index until the next one is installed; past
/// [`FREE_PATIENCE`] the last of them frees it after all.
pub(crate) fn free_at_lowest_priority<T: Send + Sync + 'static>(value: Arc<T>) {
    // If no thread can be started, the closure, and `value` with it, is dropped here.
    let _ = std::thread::Builder::new().name("free".into()).spawn(move || {
        lower_own_priority();
        let started = Instant::now();
        while Arc::strong_count(&value) > 1 && started.elapsed() < FREE_PATIENCE {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(value);
    });
}

#[cfg(target_os = "linux")]
fn lower_own_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    // `SCHED_IDLE` rather than only niceness 19: a request thread that wakes takes the core
    // from an idle-policy thread at once, where a nice one keeps it to the end of its slice.
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) =
        set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle)
    {
        tracing::debug!(error = ?e, "a background thread keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority() {}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Says, when dropped, on which thread.
    struct Tell(mpsc::Sender<Option<String>>);

    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().name().map(str::to_owned));
        }
    }

    #[test]
    fn a_value_is_freed_on_the_background_thread_once_its_other_holders_let_go() {
        let (tx, dropped) = mpsc::channel();
        let value = Arc::new(Tell(tx));
        let held = Arc::clone(&value);
        free_at_lowest_priority(value);
        assert!(dropped.recv_timeout(Duration::from_millis(200)).is_err(), "still held");
        drop(held);
        let on = dropped.recv_timeout(Duration::from_secs(5)).expect("freed");
        assert_eq!(on.as_deref(), Some("free"));
    }
}
