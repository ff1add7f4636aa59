//! Counters each task keeps, readable while the job runs (for `spate bench`, the console and
//! Prometheus).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters of one task. All are monotonic except the watermark.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Rows that entered the task.
    pub rows_in: AtomicU64,
    /// Rows that left the task (to the next task or a sink).
    pub rows_out: AtomicU64,
    /// Inputs set aside as dead letters.
    pub dead_letters: AtomicU64,
    /// Late events dropped (policy `drop`) or routed to the late side output.
    pub late_events: AtomicU64,
    /// The task's current watermark (milliseconds), `i64::MIN` before the first.
    pub watermark: AtomicI64,
    /// Of a source task: records in its partitions it has not read yet, where the source can
    /// tell (the embedded log); -1 where it cannot.
    pub source_lag: AtomicI64,
}

impl TaskMetrics {
    /// Fresh counters.
    pub fn new() -> Self {
        TaskMetrics {
            watermark: AtomicI64::new(i64::MIN),
            source_lag: AtomicI64::new(-1),
            ..Default::default()
        }
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
