//! Event time: bounded out-of-orderness watermarks per source partition, idle partitions, and
//! the minimum taken across a task's inputs.

use std::time::{Duration, Instant};

use crate::message::{EventTime, Watermark};

/// How a source derives watermarks from the event times it reads.
#[derive(Debug, Clone)]
pub struct WatermarkStrategy {
    /// Index of the rowtime column (a millisecond timestamp) in the source's output.
    pub rowtime_column: usize,
    /// The bound on disorder: the watermark trails the largest time seen by this much.
    pub max_out_of_orderness_ms: i64,
    /// A partition that delivered nothing for this long stops holding the watermark back.
    pub idle_timeout: Option<Duration>,
}

/// Per-partition watermark generation for one source task, in the manner of Flink's
/// `BoundedOutOfOrdernessWatermarks` with `withIdleness`.
#[derive(Debug)]
pub struct PartitionWatermarks {
    bound_ms: i64,
    idle_timeout: Option<Duration>,
    partitions: Vec<PartitionClock>,
    emitted: Option<EventTime>,
}

#[derive(Debug, Clone)]
struct PartitionClock {
    max_event_time: Option<EventTime>,
    last_activity: Instant,
    finished: bool,
}

impl PartitionWatermarks {
    /// Tracks `partitions` partitions with the given bound and idleness timeout.
    pub fn new(partitions: usize, bound_ms: i64, idle_timeout: Option<Duration>) -> Self {
        let now = Instant::now();
        let clock = PartitionClock {
            max_event_time: None,
            last_activity: now,
            finished: false,
        };
        PartitionWatermarks {
            bound_ms,
            idle_timeout,
            partitions: vec![clock; partitions],
            emitted: None,
        }
    }

    /// Records that `partition` delivered events up to `max_event_time`.
    pub fn observe(&mut self, partition: usize, max_event_time: Option<EventTime>, now: Instant) {
        let clock = &mut self.partitions[partition];
        clock.last_activity = now;
        if let Some(t) = max_event_time {
            clock.max_event_time = Some(clock.max_event_time.map_or(t, |m| m.max(t)));
        }
    }

    /// Marks a partition as exhausted: it no longer holds the watermark back.
    pub fn finish(&mut self, partition: usize) {
        self.partitions[partition].finished = true;
    }

    /// The watermark to emit now if it moved forward (or turned idle) since the last call.
    pub fn advance(&mut self, now: Instant) -> Option<Watermark> {
        let mut min: Option<EventTime> = None;
        let mut active = 0usize;
        for p in &self.partitions {
            if p.finished {
                continue;
            }
            let idle = self
                .idle_timeout
                .is_some_and(|t| now.duration_since(p.last_activity) >= t);
            if idle {
                continue;
            }
            active += 1;
            match p.max_event_time {
                // An active partition that has not produced an event yet holds everything back.
                None => return None,
                Some(t) => {
                    // As Flink SQL's `WATERMARK FOR ts AS ts - INTERVAL …`: exactly the
                    // largest time seen minus the bound.
                    let wm = t.saturating_sub(self.bound_ms);
                    min = Some(min.map_or(wm, |m| m.min(wm)));
                }
            }
        }
        if active == 0 {
            if self.partitions.iter().all(|p| p.finished) {
                return self.emit(EventTime::MAX);
            }
            // Every open partition is idle: the whole input is, whether or not it emitted a
            // watermark before (as Flink marks the source output idle). The caller reports
            // this once until the input turns active again.
            return Some(Watermark::Idle);
        }
        min.and_then(|wm| self.emit(wm))
    }

    fn emit(&mut self, wm: EventTime) -> Option<Watermark> {
        if self.emitted.is_some_and(|e| e >= wm) {
            return None;
        }
        self.emitted = Some(wm);
        Some(Watermark::EventTime(wm))
    }

    /// The last watermark emitted, if any.
    pub fn current(&self) -> Option<EventTime> {
        self.emitted
    }
}

/// Combines the watermarks of a task's inputs: the minimum over inputs that are not idle.
#[derive(Debug, Clone)]
pub struct InputWatermarks {
    inputs: Vec<InputState>,
    current: Option<EventTime>,
}

#[derive(Debug, Clone, Copy)]
enum InputState {
    Unknown,
    Idle,
    At(EventTime),
}

impl InputWatermarks {
    /// Tracks `inputs` inputs, none of which has reported yet.
    pub fn new(inputs: usize) -> Self {
        InputWatermarks {
            inputs: vec![InputState::Unknown; inputs],
            current: None,
        }
    }

    /// Records a watermark from `input`; returns the combined watermark if it moved forward.
    pub fn update(&mut self, input: usize, wm: Watermark) -> Option<EventTime> {
        self.inputs[input] = match (wm, self.inputs[input]) {
            (Watermark::Idle, _) => InputState::Idle,
            (Watermark::EventTime(t), InputState::At(prev)) => InputState::At(prev.max(t)),
            (Watermark::EventTime(t), _) => InputState::At(t),
        };
        let mut min: Option<EventTime> = None;
        for s in &self.inputs {
            match s {
                InputState::Unknown => return None,
                InputState::Idle => {}
                InputState::At(t) => min = Some(min.map_or(*t, |m| m.min(*t))),
            }
        }
        let min = min?;
        if self.current.is_some_and(|c| c >= min) {
            return None;
        }
        self.current = Some(min);
        Some(min)
    }

    /// Whether every input is idle, so the task itself should report idleness downstream.
    pub fn all_idle(&self) -> bool {
        self.inputs.iter().all(|s| matches!(s, InputState::Idle))
    }

    /// The combined watermark so far.
    pub fn current(&self) -> Option<EventTime> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_out_of_orderness_takes_min_across_partitions() {
        let now = Instant::now();
        let mut w = PartitionWatermarks::new(2, 2000, None);
        w.observe(0, Some(10_000), now);
        assert_eq!(w.advance(now), None, "partition 1 has produced nothing yet");
        w.observe(1, Some(5_000), now);
        assert_eq!(w.advance(now), Some(Watermark::EventTime(3_000)));
        w.observe(1, Some(4_000), now);
        assert_eq!(w.advance(now), None, "never goes backwards");
        w.observe(1, Some(20_000), now);
        assert_eq!(w.advance(now), Some(Watermark::EventTime(8_000)));
    }

    #[test]
    fn idle_partition_does_not_hold_back() {
        let start = Instant::now();
        let mut w = PartitionWatermarks::new(2, 0, Some(Duration::from_millis(100)));
        w.observe(0, Some(1_000), start);
        w.observe(1, Some(500), start);
        assert_eq!(w.advance(start), Some(Watermark::EventTime(500)));
        let later = start + Duration::from_millis(150);
        w.observe(0, Some(9_000), later);
        assert_eq!(w.advance(later), Some(Watermark::EventTime(9_000)));
    }

    #[test]
    fn all_partitions_idle_reports_idle_even_after_a_watermark() {
        let start = Instant::now();
        let mut w = PartitionWatermarks::new(2, 0, Some(Duration::from_millis(100)));
        w.observe(0, Some(1_000), start);
        w.observe(1, Some(500), start);
        assert_eq!(w.advance(start), Some(Watermark::EventTime(500)));
        let later = start + Duration::from_millis(150);
        assert_eq!(w.advance(later), Some(Watermark::Idle));
        // Active again: the watermark moves on from where it was.
        w.observe(1, Some(2_000), later);
        assert_eq!(w.advance(later), Some(Watermark::EventTime(2_000)));
    }

    #[test]
    fn finished_partitions_release_the_final_watermark() {
        let now = Instant::now();
        let mut w = PartitionWatermarks::new(2, 0, None);
        w.observe(0, Some(1_000), now);
        w.finish(1);
        assert_eq!(w.advance(now), Some(Watermark::EventTime(1_000)));
        w.finish(0);
        assert_eq!(w.advance(now), Some(Watermark::EventTime(EventTime::MAX)));
    }

    #[test]
    fn input_minimum_skips_idle_inputs() {
        let mut m = InputWatermarks::new(3);
        assert_eq!(m.update(0, Watermark::EventTime(10)), None);
        assert_eq!(m.update(1, Watermark::EventTime(20)), None);
        assert_eq!(m.update(2, Watermark::Idle), Some(10));
        assert_eq!(m.update(0, Watermark::EventTime(30)), Some(20));
        assert!(!m.all_idle());
    }
}
