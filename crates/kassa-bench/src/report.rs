//! Results: per scenario and concurrency level, as a Markdown table and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenario::{Protocol, Scenario, Stats};
use crate::server::{Backend, CpuUse};

#[derive(Debug, Serialize)]
pub struct Report {
    pub backend: Backend,
    pub products: usize,
    pub accounts: usize,
    /// Orders seeded for the `orders` scenario (0 when it did not run).
    pub orders: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Spawn to ready on the fresh database (migrations included), in ms.
    pub start_ms: f64,
    /// Spawn to ready on the database after the run, in ms.
    pub restart_ms: f64,
    pub runs: Vec<RunResult>,
}

#[derive(Debug, Serialize)]
pub struct RunResult {
    pub scenario: Scenario,
    pub protocol: Protocol,
    pub concurrency: usize,
    pub journeys: u64,
    pub journeys_per_s: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    /// `requests_per_s` over the floor's at the same concurrency (else the floor's best).
    pub floor_ratio: Option<f64>,
    pub endpoints: Vec<EndpointResult>,
    pub errors: Vec<ErrorCount>,
    pub error_samples: Vec<String>,
    pub cpu: CpuUse,
    /// Largest VmRSS sampled (every 100 ms) during the measured window.
    pub server_rss_peak_kib: u64,
    /// VmHWM at the end of the run: the peak since the server started.
    pub server_hwm_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct EndpointResult {
    pub endpoint: &'static str,
    pub requests: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ErrorCount {
    pub endpoint: &'static str,
    /// The HTTP status, or 0 when there was no answer.
    pub status: u16,
    pub count: u64,
}

/// The value at quantile `q` of sorted microseconds, in milliseconds (nearest rank).
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

impl RunResult {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: Scenario,
        protocol: Protocol,
        concurrency: usize,
        duration_s: f64,
        stats: Stats,
        cpu: CpuUse,
        server_rss_peak_kib: u64,
        server_hwm_kib: u64,
    ) -> Self {
        let mut requests = 0;
        let mut endpoints: Vec<EndpointResult> = stats
            .latencies
            .into_iter()
            .map(|(endpoint, mut micros)| {
                micros.sort_unstable();
                let n = micros.len() as u64;
                requests += n;
                EndpointResult {
                    endpoint,
                    requests: n,
                    requests_per_s: n as f64 / duration_s,
                    p50_ms: quantile_ms(&micros, 0.50),
                    p95_ms: quantile_ms(&micros, 0.95),
                    p99_ms: quantile_ms(&micros, 0.99),
                    max_ms: micros.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
                }
            })
            .collect();
        // In the journey's order, not alphabetical.
        let journey = scenario.journey();
        endpoints.sort_by_key(|e| journey.iter().position(|s| s.endpoint() == e.endpoint));
        Self {
            scenario,
            protocol,
            concurrency,
            journeys: stats.journeys,
            journeys_per_s: stats.journeys as f64 / duration_s,
            requests,
            requests_per_s: requests as f64 / duration_s,
            floor_ratio: None,
            endpoints,
            errors: stats
                .errors
                .into_iter()
                .map(|((endpoint, status), count)| ErrorCount {
                    endpoint,
                    status,
                    count,
                })
                .collect(),
            error_samples: stats.samples,
            cpu,
            server_rss_peak_kib,
            server_hwm_kib,
        }
    }

    /// The scenario's name, with the protocol unless it is plain HTTP.
    pub fn label(&self) -> String {
        match self.protocol {
            Protocol::Http => self.scenario.name().to_owned(),
            p => format!("{} ({})", self.scenario.name(), p.name()),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|e| e.count).sum()
    }

    pub fn one_line(&self) -> String {
        let mut line = format!(
            "{} c={}: {:.0} req/s, {:.0} journeys/s, kassa CPU {:.0} %, {} errors",
            self.label(),
            self.concurrency,
            self.requests_per_s,
            self.journeys_per_s,
            self.cpu.server_pct,
            self.error_count()
        );
        for s in &self.error_samples {
            let _ = write!(line, "\n    e.g. {s}");
        }
        line
    }
}

impl Report {
    pub fn new(
        backend: Backend,
        products: usize,
        accounts: usize,
        orders: usize,
        duration_s: f64,
        warmup_s: f64,
    ) -> Self {
        Self {
            backend,
            products,
            accounts,
            orders,
            duration_s,
            warmup_s,
            start_ms: 0.0,
            restart_ms: 0.0,
            runs: Vec::new(),
        }
    }

    /// Adds a run; the floor's runs must come first. Each protocol has its own floor.
    pub fn push(&mut self, mut run: RunResult) {
        let floors: Vec<&RunResult> = self
            .runs
            .iter()
            .filter(|r| r.scenario == Scenario::Floor && r.protocol == run.protocol && r.requests_per_s > 0.0)
            .collect();
        let same = floors.iter().find(|r| r.concurrency == run.concurrency);
        let best = floors
            .iter()
            .max_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s));
        if let Some(floor) = same.or(best) {
            run.floor_ratio = Some(run.requests_per_s / floor.requests_per_s);
        }
        self.runs.push(run);
    }

    pub fn total_errors(&self) -> u64 {
        self.runs.iter().map(RunResult::error_count).sum()
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### kassa-bench: {} — {} products, {} accounts, {} orders, {} s measured after {} s warm-up\n",
            self.backend.name(),
            self.products,
            self.accounts,
            self.orders,
            self.duration_s,
            self.warmup_s
        );
        let _ = writeln!(
            out,
            "Start to ready (`/readyz`): {:.0} ms on the fresh database (migrations included), \
             {:.0} ms on the database after the run.\n",
            self.start_ms, self.restart_ms
        );
        out.push_str(
            "| scenario | VUs | journeys/s | req/s | × floor | errors | kassa CPU | bench CPU | postgres CPU | machine busy | kassa RSS peak |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for r in &self.runs {
            let errors = if r.errors.is_empty() {
                "0".to_owned()
            } else {
                r.errors
                    .iter()
                    .map(|e| format!("{}×{}", e.count, e.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {} | {} | {:.0} % | {:.0} % | {} | {:.0} % | {:.0} MiB |",
                r.label(),
                r.concurrency,
                r.journeys_per_s,
                r.requests_per_s,
                r.floor_ratio.map_or("–".to_owned(), |x| format!("{x:.3}")),
                errors,
                r.cpu.server_pct,
                r.cpu.bench_pct,
                if self.backend == Backend::Postgres {
                    format!("{:.0} %", r.cpu.postgres_pct)
                } else {
                    "–".to_owned()
                },
                r.cpu.machine_busy_pct,
                r.server_rss_peak_kib as f64 / 1024.0,
            );
        }
        out.push_str(
            "\nCPU is % of one core over the measured window (200 % = both cores of a 2-core machine).\n\n\
             | scenario | VUs | endpoint | req/s | p50 ms | p95 ms | p99 ms | max ms |\n\
             |---|--:|---|--:|--:|--:|--:|--:|\n",
        );
        for r in &self.runs {
            for e in &r.endpoints {
                let _ = writeln!(
                    out,
                    "| {} | {} | `{}` | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
                    r.label(),
                    r.concurrency,
                    e.endpoint,
                    e.requests_per_s,
                    e.p50_ms,
                    e.p95_ms,
                    e.p99_ms,
                    e.max_ms
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.50), 50.0);
        assert_eq!(quantile_ms(&v, 0.99), 99.0);
        assert_eq!(quantile_ms(&[7000], 0.95), 7.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
