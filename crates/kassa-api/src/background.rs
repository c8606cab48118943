//! Work that must not compete with requests: a publish's snapshot and the search index builds
//! run on threads of their own at the lowest scheduling priority, so that while a large catalog
//! is published and indexed, carts and checkouts get the CPU first and the work takes what is
//! left.

/// Runs `work` on a new thread named `name` at the lowest scheduling priority (niceness 19 on
/// Linux; threads it starts, such as tantivy's indexer and merger, inherit it) and waits for it
/// without holding a runtime thread.
pub async fn run_at_lowest_priority<T: Send + 'static>(
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

#[cfg(target_os = "linux")]
fn lower_own_priority() {
    use rustix::process::setpriority_process;
    // On Linux the "process" of `setpriority` is a thread id: this thread alone.
    if let Err(e) = setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %e, "a background thread keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority() {}
