//! Running a fleet against a sink: pacing in batches, parallel generation, stopping.
//!
//! Records are delivered in batches, one every `batch_interval` of wall time (3 s by
//! default). With a speedup factor `s`, batch `b` holds the readings of simulated time
//! `(b·s·interval, (b+1)·s·interval]` after the start and is produced once its last moment
//! has come, at wall time `(b+1)·interval`: with `s = 1` a record is delivered at most one
//! interval after its timestamp, as a fleet of real vehicles buffering 3 s would deliver it.
//! When producing a batch takes longer than the interval, the run falls behind, carries on
//! flat out, and says how far behind it is. With [`Speedup::Max`] there is no pacing: batches
//! close every interval of wall time with whatever was simulated meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::FleetError;
use crate::fleet::Fleet;
use crate::sink::{Encoded, Sink};

/// How fast simulated time runs against wall time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speedup {
    /// This many simulated seconds per wall second.
    Factor(f64),
    /// As fast as the machine allows.
    Max,
}

/// How long to run and how to deliver.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Simulated against wall time.
    pub speedup: Speedup,
    /// Wall time between deliveries.
    pub batch_interval: Duration,
    /// Stop after this much simulated time.
    pub duration: Option<Duration>,
    /// Stop after this many telemetry records.
    pub max_events: Option<u64>,
    /// Threads that simulate and encode.
    pub workers: usize,
    /// Set to stop at the end of the current tick (e.g. on Ctrl-C).
    pub stop: Arc<AtomicBool>,
}

/// How far a run has got.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Telemetry records delivered.
    pub events: u64,
    /// Labels delivered.
    pub labels: u64,
    /// Batches delivered.
    pub batches: u64,
    /// Simulated time covered.
    pub simulated: Duration,
    /// Wall time since the run started.
    pub wall: Duration,
    /// How late the last batch was delivered against its schedule (zero when on time or
    /// unpaced).
    pub behind: Duration,
    /// Vehicles reporting.
    pub vehicles: usize,
}

/// What each worker thread fills during a tick.
#[derive(Debug, Default)]
struct Shard {
    telemetry: Encoded,
    labels: Encoded,
}

impl RunOptions {
    /// Runs until the duration, a `max_events` or the stop flag, with `speedup` and the
    /// default 3 s batches on every available core.
    pub fn new(speedup: Speedup) -> RunOptions {
        RunOptions {
            speedup,
            batch_interval: Duration::from_secs(3),
            duration: None,
            max_events: None,
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    fn validate(&self) -> Result<(), FleetError> {
        if let Speedup::Factor(f) = self.speedup
            && !(f > 0.0 && f.is_finite())
        {
            return Err(FleetError::Config {
                field: "speedup",
                reason: format!("must be a positive number or \"max\", got {f}"),
            });
        }
        if self.batch_interval.is_zero() {
            return Err(FleetError::Config {
                field: "batch-interval",
                reason: "must be longer than zero".into(),
            });
        }
        Ok(())
    }
}

/// Simulates `fleet` into `sink` until one of the stop conditions of `options`, calling
/// `progress` after every batch; closes the sink at the end and returns the final progress.
pub fn run(
    fleet: &mut Fleet,
    sink: &mut dyn Sink,
    options: &RunOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<Progress, FleetError> {
    options.validate()?;
    let started = Instant::now();
    let start_ms = fleet.config().start_ms;
    let end_ms = options
        .duration
        .map(|d| start_ms.saturating_add(d.as_millis() as i64));
    let interval_ms = options.batch_interval.as_secs_f64() * 1000.0;
    let mut shards: Vec<Shard> = (0..options.workers.max(1))
        .map(|_| Shard::default())
        .collect();
    let mut done = Progress::default();
    for batch in 0u64.. {
        let deadline = started + options.batch_interval.mul_f64((batch + 1) as f64);
        // The last simulated moment of this batch, relative to the start (paced runs only).
        let batch_end_ms = match options.speedup {
            Speedup::Factor(s) => Some(((batch + 1) as f64 * interval_ms * s) as i64),
            Speedup::Max => None,
        };
        if batch_end_ms.is_some() && !sleep_until(deadline, &options.stop) {
            return finish(sink, done, started);
        }
        // Ticks until the batch is complete (false) or the run is over (true).
        let over = loop {
            let next = fleet.next_sample_ms();
            let remaining = options.max_events.map_or(u64::MAX, |m| m - done.events);
            if options.stop.load(Ordering::Relaxed)
                || end_ms.is_some_and(|end| next > end)
                || remaining == 0
            {
                break true;
            }
            match batch_end_ms {
                Some(until) if next - start_ms > until => break false,
                None if Instant::now() >= deadline => break false,
                _ => {}
            }
            shards.iter_mut().for_each(|s| {
                s.telemetry.clear();
                s.labels.clear();
            });
            let limit = usize::try_from(remaining).unwrap_or(usize::MAX);
            fleet.tick_parallel(limit, &mut shards, |shard, sample| {
                let t = &sample.telemetry;
                shard.telemetry.push(t.vin, t.ts, t);
                if let Some(label) = &sample.label {
                    shard.labels.push(label.vin, label.ts, label);
                }
            });
            for shard in &shards {
                sink.send(&shard.telemetry, &shard.labels)?;
                done.events += shard.telemetry.len() as u64;
                done.labels += shard.labels.len() as u64;
            }
            done.simulated = Duration::from_millis((next - start_ms).max(0) as u64);
        };
        sink.flush()?;
        done.batches += 1;
        done.vehicles = fleet.active();
        done.wall = started.elapsed();
        done.behind = match options.speedup {
            Speedup::Factor(_) => Instant::now().saturating_duration_since(deadline),
            Speedup::Max => Duration::ZERO,
        };
        progress(&done);
        if over {
            break;
        }
    }
    finish(sink, done, started)
}

fn finish(
    sink: &mut dyn Sink,
    mut done: Progress,
    started: Instant,
) -> Result<Progress, FleetError> {
    sink.close()?;
    done.wall = started.elapsed();
    Ok(done)
}

/// Sleeps until `deadline`, waking up to check `stop`; false if stopped.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    const NAP: Duration = Duration::from_millis(50);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(NAP));
    }
}
