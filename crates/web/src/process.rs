//! The process's own CPU and memory, for the pipeline dashboard: read from `/proc/self` (Linux);
//! elsewhere the figures are absent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The process's resources at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessView {
    /// CPU time used per wall time since the previous sample, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory, in bytes.
    pub rss_bytes: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Since the process started serving, in milliseconds.
    pub uptime_ms: u64,
    /// Cores this machine has.
    pub cores: usize,
}

/// Samples the process; clones share the recent samples. CPU use is measured against the
/// newest sample at least [`CPU_INTERVAL`] old (else the oldest), so that pages polling at
/// once do not shorten each other's intervals.
#[derive(Debug, Clone)]
pub(crate) struct ProcessStats {
    started: Instant,
    /// (when, CPU seconds used), oldest first, over the last few intervals.
    samples: Arc<Mutex<VecDeque<(Instant, f64)>>>,
}

/// The shortest interval CPU use is measured over, when samples that old exist.
const CPU_INTERVAL: Duration = Duration::from_secs(1);
/// Samples older than this are dropped.
const KEPT_SAMPLES: Duration = Duration::from_secs(10);

impl Default for ProcessStats {
    fn default() -> Self {
        ProcessStats {
            started: Instant::now(),
            samples: Arc::default(),
        }
    }
}

/// Clock ticks per second of `/proc/self/stat`'s times (`USER_HZ`, 100 on Linux's ABIs).
const TICKS_PER_SECOND: f64 = 100.0;
/// The page size of `/proc/self/statm`'s counts.
const PAGE_BYTES: u64 = 4096;

impl ProcessStats {
    /// The figures now, CPU use since the previous call.
    pub(crate) fn sample(&self) -> ProcessView {
        let now = Instant::now();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        // Fields after the command name (which may hold spaces) start at the state, field 3.
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let cpu_seconds = field(14)
            .zip(field(15))
            .map(|(user, system)| (user + system) as f64 / TICKS_PER_SECOND);
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let base = samples
            .iter()
            .rev()
            .find(|(at, _)| now.duration_since(*at) >= CPU_INTERVAL)
            .or(samples.front())
            .copied();
        let cpu_percent = match (cpu_seconds, base) {
            (Some(cpu), Some((at, before))) if now > at => {
                Some(100.0 * (cpu - before) / (now - at).as_secs_f64())
            }
            _ => None,
        };
        if let Some(cpu) = cpu_seconds {
            samples.push_back((now, cpu));
            while samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > KEPT_SAMPLES)
            {
                samples.pop_front();
            }
        }
        let rss_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|pages| pages * PAGE_BYTES);
        ProcessView {
            cpu_percent,
            rss_bytes,
            threads: field(20),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_measures_cpu_between_samples() {
        let stats = ProcessStats::default();
        let first = stats.sample();
        assert_eq!(first.cpu_percent, None, "one sample has no interval");
        assert!(first.rss_bytes.unwrap() > 1 << 20, "{first:?}");
        assert!(first.threads.unwrap() >= 1);
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed().as_millis() < 300 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let second = stats.sample();
        let cpu = second.cpu_percent.unwrap();
        assert!(
            (30.0..=250.0).contains(&cpu),
            "a busy thread for 300 ms: {cpu}%"
        );
    }
}
