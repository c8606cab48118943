//! What a storage backend reports about its own machinery, for `GET /metrics`.
//!
//! The stores record into these plain atomic counters on their hot threads; the HTTP layer
//! reads a [`StoreStats`] snapshot when it is scraped (`Store::stats`) and renders it. So the
//! store crates depend on no metrics library and hold no global registry.

use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram over fixed bucket bounds: recording is two or three relaxed atomic additions.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then the `+Inf` bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    /// The sum of every observed value, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// `bounds` are the buckets' upper bounds, ascending.
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "ascending bounds");
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // A compare-and-swap loop: uncontended in practice (each histogram has one recording
        // thread), so it runs once.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds, ascending; the last bucket (`counts[bounds.len()]`) is `+Inf`.
    pub bounds: &'static [f64],
    /// Observations per bucket, not cumulative: `counts[i]` fell in `(bounds[i-1], bounds[i]]`.
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The SQLite writer thread (see the store crate's `db.rs`): one batch is every use-case it
/// found queued, run in one transaction and committed together.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteWriterStats {
    /// Use-cases per committed batch.
    pub batch_size: HistogramSnapshot,
    /// Seconds from a batch's `BEGIN` to its `COMMIT` returning (the writer's time on it).
    pub batch_seconds: HistogramSnapshot,
    /// Seconds of each `fdatasync` of the WAL, which makes one or more batches durable before
    /// their callers are answered.
    pub wal_sync_seconds: HistogramSnapshot,
}

/// A connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// The most connections the pool opens.
    pub max: u32,
    /// Connections open now (idle or in use).
    pub open: u32,
    /// Open connections not in use now.
    pub idle: u32,
}

/// What `Store::stats` returns: the parts that apply to the backend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub sqlite_writer: Option<SqliteWriterStats>,
    pub postgres_pool: Option<PoolStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_first_bucket_whose_bound_is_not_below_them() {
        let h = Histogram::new(&[1.0, 2.0, 4.0]);
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 9.0, 100.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        // (-inf, 1] (1, 2] (2, 4] (4, +inf): bounds are inclusive upper bounds, as Prometheus's `le`.
        assert_eq!(s.counts, vec![2, 2, 2, 2]);
        assert_eq!(s.count(), 8);
        assert_eq!(s.sum, 121.0);
    }

    #[test]
    fn an_empty_histogram_has_every_bucket_at_zero() {
        let s = Histogram::new(&[0.1]).snapshot();
        assert_eq!((s.counts, s.sum, s.bounds.len()), (vec![0, 0], 0.0, 1));
    }
}
