//! The local (first) phase of a two-phase windowed aggregation, as Flink's
//! `LocalWindowAggregate`: each instance pre-aggregates the rows of its own input per slice
//! and key, and sends partial aggregates, not rows, through the exchange to the global phase
//! ([`SlicedWindowAggregate::global`](super::SlicedWindowAggregate::global)). A window of a
//! million rows over a thousand keys crosses the exchange as a thousand rows per instance.
//!
//! A slice's partial aggregates are sent once a window covering it is due (the watermark has
//! reached the window's end), always before the watermark that fires the window, so the
//! global phase has every instance's part when it fires. Rows arriving for a slice already
//! sent (allowed lateness, or later windows of a hopping window) are sent at the end of their
//! batch. Late rows are judged here, against this instance's watermark, which the global
//! phase's never exceeds: what passes here is never late there.

use std::collections::BTreeMap;

use arrow::array::{RecordBatch, UInt32Array};

use super::sliced::rows_by_slice;
use super::state::GroupedState;
use super::{LatePolicy, WindowConfig, WindowKind, handle_late_rows, rowtime_values};
use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};

/// Groups held at most, over all slices, before everything is sent early: bounds the memory
/// of keys that change faster than windows end.
const MAX_GROUPS: usize = 100_000;

/// Pre-aggregates rows per slice and key and emits partial aggregates.
pub struct LocalWindowAggregate {
    config: WindowConfig,
    slices: BTreeMap<i64, GroupedState>,
    watermark: EventTime,
    task: TaskInfo,
}

impl LocalWindowAggregate {
    /// The local phase of the windowed aggregation `config`, running as task `task`.
    pub fn new(config: WindowConfig, task: TaskInfo) -> Result<Self> {
        if matches!(config.kind, WindowKind::Session { .. }) {
            return Err(EngineError::plan(
                "session windows are aggregated in one phase",
            ));
        }
        Ok(LocalWindowAggregate {
            config,
            slices: BTreeMap::new(),
            watermark: EventTime::MIN,
            task,
        })
    }

    fn lateness(&self) -> i64 {
        match self.config.late {
            LatePolicy::Allow { lateness_ms } => lateness_ms,
            _ => 0,
        }
    }

    /// Whether a window covering the slice starting at `slice_start` is due.
    fn due(&self, slice_start: i64) -> bool {
        self.config
            .kind
            .first_window_end(slice_start)
            .is_some_and(|end| end - 1 <= self.watermark)
    }

    /// Sends the partial aggregates of the slices `which` selects.
    fn send(&mut self, which: impl Fn(&Self, i64) -> bool, out: &mut Output) -> Result<()> {
        let starts: Vec<i64> = self
            .slices
            .keys()
            .copied()
            .filter(|s| which(self, *s))
            .collect();
        for start in starts {
            let mut state = self.slices.remove(&start).expect("slice listed above");
            let partial = state.take_state()?;
            out.data(self.config.aggregation.partial_batch(start, partial)?);
        }
        Ok(())
    }

    fn groups(&self) -> usize {
        self.slices.values().map(GroupedState::len).sum()
    }
}

impl Operator for LocalWindowAggregate {
    fn name(&self) -> String {
        format!("Local{}", self.config.describe())
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let times = rowtime_values(&batch, self.config.rowtime_column)?;
        let rows = self.config.aggregation.evaluate(&batch)?;
        let kind = self.config.kind;
        let lateness = self.lateness();
        let mut late: Vec<u32> = Vec::new();
        for (slice_start, indices) in rows_by_slice(kind, &times) {
            if kind.first_window_end(slice_start).is_none() {
                // Between two windows of a hopping window smaller than its slide.
                continue;
            }
            if kind.last_window_end(slice_start) - 1 + lateness <= self.watermark {
                match &indices {
                    Some(i) => late.extend(i.values()),
                    None => late.extend(0..batch.num_rows() as u32),
                }
                continue;
            }
            let slice = match self.slices.entry(slice_start) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(self.config.aggregation.new_state()?)
                }
            };
            match &indices {
                None => slice.update(&rows)?,
                Some(i) => slice.update(&rows.take(i)?)?,
            }
        }
        if !late.is_empty() {
            let rows = arrow::compute::take_record_batch(&batch, &UInt32Array::from(late))?;
            let reason = format!(
                "late event: its windows fired at watermark {}",
                self.watermark
            );
            handle_late_rows(&self.task, self.config.late, &rows, &reason)?;
        }
        if self.groups() > MAX_GROUPS {
            self.send(|_, _| true, out)
        } else {
            self.send(Self::due, out)
        }
    }

    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        self.watermark = self.watermark.max(wm);
        self.send(Self::due, out)?;
        out.watermark(wm);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let mut w = StateWriter::new();
        w.i64(self.watermark);
        w.u64(self.slices.len() as u64);
        for (start, slice) in &mut self.slices {
            w.i64(*start);
            w.bytes(&self.config.aggregation.encode(&slice.copy_state()?)?);
        }
        Ok(w.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        self.slices.clear();
        let Some(state) = state else { return Ok(()) };
        let mut r = StateReader::new(state, &self.task.name);
        self.watermark = r.i64()?;
        for _ in 0..r.u64()? {
            let start = r.i64()?;
            let partial = self.config.aggregation.decode(r.bytes()?)?;
            let mut slice = self.config.aggregation.new_state()?;
            slice.merge(&partial)?;
            self.slices.insert(start, slice);
        }
        Ok(())
    }
}
