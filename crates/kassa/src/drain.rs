//! Graceful shutdown with a bounded drain: once the shutdown signal comes, kassa stops accepting
//! connections and lets the requests in flight finish (each is answered, then its connection
//! closed; idle keep-alive connections are closed at once), but for at most the drain time
//! (`--shutdown-drain`). A request still running then is cut off with its connection.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

/// How long in-flight requests may run after SIGTERM by default: longer than any request takes
/// when the database answers (a request waits at most 5 s for a database connection, a retried
/// checkout or payment up to 5 s for its in-flight twin), shorter than the usual grace periods
/// before a SIGKILL (Kubernetes 30 s, systemd 90 s).
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
/// The longest drain the configuration accepts.
pub const MAX_DRAIN: Duration = Duration::from_secs(600);

/// `shutdown`, and a receiver that learns when it has resolved (when draining starts).
pub fn observe(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (impl Future<Output = ()> + Send + 'static, oneshot::Receiver<()>) {
    let (started, draining) = oneshot::channel();
    let signal = async move {
        shutdown.await;
        let _ = started.send(());
    };
    (signal, draining)
}

/// Runs `server` to its end, or until `drain` has passed since `draining` fired; `None` then.
pub async fn bounded<T>(
    server: impl Future<Output = T>,
    draining: oneshot::Receiver<()>,
    drain: Duration,
) -> Option<T> {
    let deadline = async move {
        match draining.await {
            Ok(()) => tokio::time::sleep(drain).await,
            // The signal future was dropped without firing: no drain ever starts.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        done = server => Some(done),
        () = deadline => {
            tracing::warn!(drain_secs = drain.as_secs_f64(), "shutting down: the drain time passed; requests still in flight are cut off");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_drain_ends_with_the_server_or_at_its_bound() {
        // The server finishes within the drain: its result.
        let (signal, draining) = observe(async {});
        let server = async {
            signal.await;
            tokio::time::sleep(30 * MS).await;
            7
        };
        assert_eq!(bounded(server, draining, 2000 * MS).await, Some(7));

        // A request that never ends is cut off at the bound, counted from the signal.
        let (signal, draining) = observe(tokio::time::sleep(100 * MS));
        let started = std::time::Instant::now();
        let server = async {
            signal.await;
            std::future::pending::<u8>().await
        };
        assert_eq!(bounded(server, draining, 200 * MS).await, None);
        let took = started.elapsed();
        assert!(took >= 300 * MS && took < 2000 * MS, "{took:?}");

        // No signal, no bound: the server runs as long as it runs.
        let (signal, draining) = observe(std::future::pending());
        drop(signal);
        let server = async {
            tokio::time::sleep(300 * MS).await;
            1
        };
        assert_eq!(bounded(server, draining, 10 * MS).await, Some(1));
    }
}
