//! Work that must not compete with requests: a publish's snapshot, the search index builds and
//! the integrations' deliveries run on threads of their own at the lowest scheduling priority, so
//! that while a large catalog is published and indexed, or a backlog of events is delivered,
//! carts and checkouts get the CPU first and the work takes what is left.

/// Runs `work` on a new thread named `name` at the lowest scheduling priority (Linux's
/// `SCHED_IDLE` policy; threads it starts, such as tantivy's indexer and merger, inherit it) and
/// waits for it without holding a runtime thread.
pub(crate) async fn run_at_lowest_priority<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_thread_priority();
        let _ = done.send(work());
    })?;
    result
        .await
        .map_err(|_| std::io::Error::other(format!("the {name} thread panicked")))
}

/// Gives the calling thread the lowest scheduling priority (threads it starts inherit it).
#[cfg(target_os = "linux")]
pub fn lower_thread_priority() {
    use thread_priority::unix::NormalThreadSchedulePolicy;
    // `SCHED_IDLE` rather than only niceness 19: a request thread that wakes takes the core
    // from an idle-policy thread at once, where a nice one keeps it to the end of its slice.
    set_own_priority(
        thread_priority::ThreadPriority::Min,
        NormalThreadSchedulePolicy::Idle,
    );
}

#[cfg(not(target_os = "linux"))]
pub fn lower_thread_priority() {}

/// Niceness 10 for the calling thread (threads it starts inherit it): a request thread wins a
/// core from it, yet under a load that takes every core it still gets about a tenth of a
/// request thread's share, so its work slows down but never stops (as `SCHED_IDLE` work would
/// for as long as the load lasts).
#[cfg(target_os = "linux")]
pub fn yield_to_requests() {
    use thread_priority::unix::NormalThreadSchedulePolicy;
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    // The crate maps 0..=99 onto niceness -20..=19, highest first: 24 is niceness 10.
    let Ok(nice_10) = ThreadPriorityValue::try_from(24u8) else {
        return;
    };
    set_own_priority(
        ThreadPriority::Crossplatform(nice_10),
        NormalThreadSchedulePolicy::Other,
    );
}

#[cfg(not(target_os = "linux"))]
pub fn yield_to_requests() {}

/// The calling thread's priority under a normal (not real-time) policy; where refused, it keeps
/// its own.
#[cfg(target_os = "linux")]
fn set_own_priority(
    priority: thread_priority::ThreadPriority,
    policy: thread_priority::unix::NormalThreadSchedulePolicy,
) {
    use thread_priority::unix::{ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id};
    let policy = ThreadSchedulePolicy::Normal(policy);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), priority, policy) {
        tracing::debug!(error = ?e, "a background thread keeps its priority");
    }
}
