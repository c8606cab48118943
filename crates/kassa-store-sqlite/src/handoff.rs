//! The jobs handed to this node's delivery worker ([`JobHandoff`]): while it takes them, the
//! outbox writes a job already leased to it and stages it here with a reserved place in the
//! worker's channel; the writer loop drops what a rolled-back use-case staged ([`discard_since`])
//! and, after the commit, hands the batch's jobs over once the syncer has made them durable
//! ([`take_staged`]). So a delivered event was committed and is on the disk, and a job costs no
//! lease write and no poll.

use std::cell::RefCell;

use kassa_core::integrations::{HandedJob, JobHandoff};
use kassa_core::time::Millis;
use tokio::sync::mpsc::OwnedPermit;
use uuid::Uuid;

/// The writer thread's handoff and the jobs staged by its current batch.
#[derive(Default)]
struct Staging {
    handoff: Option<JobHandoff>,
    jobs: Vec<(OwnedPermit<HandedJob>, HandedJob)>,
}

thread_local! {
    /// Only the store's writer thread (which runs every `write`) uses it.
    static STAGING: RefCell<Staging> = RefCell::default();
}

/// Makes the writer thread hand its jobs to `handoff` from its next write on.
pub(crate) fn hand_over_to(handoff: JobHandoff) {
    STAGING.with_borrow_mut(|s| s.handoff = Some(handoff));
}

/// How many jobs are staged: where a use-case's own staging starts.
pub(crate) fn staged() -> usize {
    STAGING.with_borrow(|s| s.jobs.len())
}

/// Drops what a rolled-back use-case staged (their places in the channel are freed).
pub(crate) fn discard_since(mark: usize) {
    STAGING.with_borrow_mut(|s| s.jobs.truncate(mark));
}

/// The committed batch's staged jobs, to hand over once the batch is durable (dropping them
/// instead leaves them leased until the lease ends, then any node's poll takes them).
pub(crate) fn take_staged() -> Option<impl FnOnce() + Send + 'static> {
    let jobs = STAGING.with_borrow_mut(|s| std::mem::take(&mut s.jobs));
    (!jobs.is_empty()).then_some({
        move || {
            for (permit, job) in jobs {
                permit.send(job);
            }
        }
    })
}

/// A place in the worker's channel for one more job, the node to lease it to and until when
/// (from `now`); `None` while nothing is handed over or the channel is full.
pub(crate) fn reserve(now: Millis) -> Option<(OwnedPermit<HandedJob>, Uuid, Millis)> {
    STAGING.with_borrow(|s| {
        let h = s.handoff.as_ref()?;
        let permit = h.jobs.clone().try_reserve_owned().ok()?;
        Some((permit, h.node, now + h.lease_ms as i64))
    })
}

/// Stages a job written leased, in the place reserved for it.
pub(crate) fn stage(permit: OwnedPermit<HandedJob>, job: HandedJob) {
    STAGING.with_borrow_mut(|s| s.jobs.push((permit, job)));
}
