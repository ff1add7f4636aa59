//! The windowed aggregation for tumbling, hopping and cumulating windows.
//!
//! Rows are pre-aggregated into slices (panes) of the window kind's slice length. When the
//! watermark passes a window's end, the window's result is the merge of its slices' partial
//! aggregates, so a hopping window costs one merge per slice rather than a recomputation over
//! its rows. A slice is dropped once the last window covering it has fired (plus any allowed
//! lateness).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::state::{Aggregation, EvaluatedRows, GroupedState, StateBatch};
use super::{LatePolicy, WindowConfig, WindowKind, handle_late_rows, rowtime_values};
use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};

/// Partial aggregates of one slice.
#[derive(Debug)]
enum Slice {
    /// Still receiving rows.
    Live(GroupedState),
    /// Complete: kept in portable form for merging into windows.
    Sealed(StateBatch),
}

/// What a sliced window aggregation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Rows, aggregated here (one-phase aggregation).
    Rows,
    /// Partial aggregates per slice from [`LocalWindowAggregate`]s (the global phase of a
    /// two-phase aggregation).
    ///
    /// [`LocalWindowAggregate`]: super::LocalWindowAggregate
    Partial,
}

/// What one batch adds to a slice.
enum Added {
    Rows(EvaluatedRows),
    Partial(StateBatch),
}

impl Added {
    fn take(&self, indices: &UInt32Array) -> Result<Added> {
        Ok(match self {
            Added::Rows(rows) => Added::Rows(rows.take(indices)?),
            Added::Partial(state) => Added::Partial(state.take(indices)?),
        })
    }

    fn add_to(&self, state: &mut GroupedState) -> Result<()> {
        match self {
            Added::Rows(rows) => state.update(rows),
            Added::Partial(partial) => state.merge(partial),
        }
    }
}

/// The slices that rows at `times` fall in, with the indices of each slice's rows (`None`:
/// all rows, the common case of a batch within one slice).
pub(super) fn rows_by_slice(kind: WindowKind, times: &[i64]) -> Vec<(i64, Option<UInt32Array>)> {
    let first = kind.slice_start(times.first().copied().unwrap_or_default());
    if times.iter().all(|t| kind.slice_start(*t) == first) {
        return vec![(first, None)];
    }
    let mut by_slice: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, t) in times.iter().enumerate() {
        by_slice
            .entry(kind.slice_start(*t))
            .or_default()
            .push(i as u32);
    }
    by_slice
        .into_iter()
        .map(|(s, idx)| (s, Some(UInt32Array::from(idx))))
        .collect()
}

/// Windowed aggregation over tumbling, hopping or cumulating windows.
pub struct SlicedWindowAggregate {
    config: WindowConfig,
    input: Input,
    schema: SchemaRef,
    slices: BTreeMap<i64, Slice>,
    watermark: Option<EventTime>,
    /// Every window ending at or before this has fired.
    fired_until: EventTime,
    task: TaskInfo,
}

impl SlicedWindowAggregate {
    /// A windowed aggregation of rows, running as task `task`.
    pub fn new(config: WindowConfig, task: TaskInfo) -> Result<Self> {
        Self::with_input(config, Input::Rows, task)
    }

    /// The global phase of a two-phase windowed aggregation: it merges the partial aggregates
    /// of [`LocalWindowAggregate`](super::LocalWindowAggregate)s (rows of
    /// [`Aggregation::partial_schema`](super::Aggregation::partial_schema)).
    pub fn global(config: WindowConfig, task: TaskInfo) -> Result<Self> {
        Self::with_input(config, Input::Partial, task)
    }

    fn with_input(config: WindowConfig, input: Input, task: TaskInfo) -> Result<Self> {
        if matches!(config.kind, WindowKind::Session { .. }) {
            return Err(EngineError::plan(
                "session windows use SessionWindowAggregate",
            ));
        }
        Ok(SlicedWindowAggregate {
            schema: config.output_schema(),
            config,
            input,
            slices: BTreeMap::new(),
            watermark: None,
            fired_until: EventTime::MIN,
            task,
        })
    }

    fn lateness(&self) -> i64 {
        match self.config.late {
            LatePolicy::Allow { lateness_ms } => lateness_ms,
            _ => 0,
        }
    }

    fn add(&mut self, slice_start: i64, added: &Added) -> Result<()> {
        let agg = &self.config.aggregation;
        let slice = match self.slices.remove(&slice_start) {
            Some(Slice::Live(s)) => s,
            Some(Slice::Sealed(state)) => {
                let mut live = agg.new_state()?;
                live.merge(&state)?;
                live
            }
            None => agg.new_state()?,
        };
        let mut slice = slice;
        added.add_to(&mut slice)?;
        self.slices.insert(slice_start, Slice::Live(slice));
        Ok(())
    }

    /// Handles rows of one slice that arrive after every window covering it has fired.
    fn late_rows(&mut self, batch: &RecordBatch, indices: Option<&UInt32Array>) -> Result<()> {
        let rows = match indices {
            Some(i) => arrow::compute::take_record_batch(batch, i)?,
            None => batch.clone(),
        };
        let wm = self.watermark.unwrap_or(EventTime::MIN);
        let reason = format!("late event: its windows fired at watermark {wm}");
        handle_late_rows(&self.task, self.config.late, &rows, &reason)
    }

    /// Fires the window ending at `end`, emitting one row per key.
    fn fire(&mut self, end: i64, out: &mut Output, retire_tumble: bool) -> Result<()> {
        let start = self.config.kind.window_start(end);
        let covered: Vec<i64> = self.slices.range(start..end).map(|(s, _)| *s).collect();
        if covered.is_empty() {
            return Ok(());
        }
        let (keys, values) = if retire_tumble && covered.len() == 1 {
            // A tumbling window with no lateness: its one slice is final, evaluate in place.
            match self.slices.remove(&covered[0]) {
                Some(Slice::Live(mut s)) => s.evaluate()?,
                Some(Slice::Sealed(state)) => {
                    let mut s = self.config.aggregation.new_state()?;
                    s.merge(&state)?;
                    s.evaluate()?
                }
                None => unreachable!("slice listed above"),
            }
        } else {
            let mut window = self.config.aggregation.new_state()?;
            for s in covered {
                let slice = self.slices.get_mut(&s).expect("slice listed above");
                if let Slice::Live(live) = slice {
                    *slice = Slice::Sealed(live.take_state()?);
                }
                if let Slice::Sealed(state) = slice {
                    window.merge(state)?;
                }
            }
            window.evaluate()?
        };
        out.data(self.result_batch(start, end, keys, values)?);
        Ok(())
    }

    /// Emits the current, partial result of every window that has not fired yet.
    fn fire_early(&mut self, out: &mut Output) -> Result<()> {
        let ends: BTreeSet<i64> = self
            .slices
            .keys()
            .flat_map(|s| self.config.kind.window_ends(*s))
            .filter(|e| *e > self.fired_until)
            .collect();
        for end in ends {
            let start = self.config.kind.window_start(end);
            let mut window = self.config.aggregation.new_state()?;
            for (_, slice) in self.slices.range_mut(start..end) {
                match slice {
                    Slice::Live(live) => window.merge(&live.copy_state()?)?,
                    Slice::Sealed(state) => window.merge(state)?,
                }
            }
            let (keys, values) = window.evaluate()?;
            out.data(self.result_batch(start, end, keys, values)?);
        }
        Ok(())
    }

    fn result_batch(
        &self,
        start: i64,
        end: i64,
        keys: Vec<ArrayRef>,
        values: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let n = keys.first().or(values.first()).map_or(0, |a| a.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(2 + keys.len() + values.len());
        columns.push(Arc::new(TimestampMillisecondArray::from_value(start, n)));
        columns.push(Arc::new(TimestampMillisecondArray::from_value(end, n)));
        columns.extend(self.config.aggregation.output_keys(keys));
        columns.extend(values);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

impl Operator for SlicedWindowAggregate {
    fn name(&self) -> String {
        match self.input {
            Input::Rows => self.config.describe(),
            Input::Partial => format!("Global{}", self.config.describe()),
        }
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        if batch.num_rows() == 0 {
            // Nothing to add (and no slice to create for a time that no row has).
            return Ok(());
        }
        let (times, added) = match self.input {
            Input::Rows => (
                rowtime_values(&batch, self.config.rowtime_column)?,
                Added::Rows(self.config.aggregation.evaluate(&batch)?),
            ),
            Input::Partial => (
                rowtime_values(&batch, 0)?,
                Added::Partial(self.config.aggregation.partial_state(&batch)?),
            ),
        };
        let kind = self.config.kind;
        let wm = self.watermark.unwrap_or(EventTime::MIN);
        let lateness = self.lateness();
        let mut dirty: BTreeSet<i64> = BTreeSet::new();
        for (slice_start, indices) in rows_by_slice(kind, &times) {
            let ends = kind.window_ends(slice_start);
            if ends.is_empty() {
                // HOP with a size below its slide: the slice lies between two windows, so
                // its rows belong to no window (neither a result nor late).
                continue;
            }
            let last_end = kind.last_window_end(slice_start);
            if last_end - 1 <= wm && last_end - 1 + lateness <= wm {
                self.late_rows(&batch, indices.as_ref())?;
                continue;
            }
            if lateness > 0 {
                // Windows that fired already and are still within their allowed lateness.
                // Those past it are final: some of their slices may be gone, so firing them
                // again would emit a wrong "update".
                dirty.extend(
                    ends.into_iter()
                        .filter(|e| *e - 1 <= wm && *e - 1 + lateness > wm),
                );
            }
            match &indices {
                None => self.add(slice_start, &added)?,
                Some(i) => self.add(slice_start, &added.take(i)?)?,
            }
        }
        // Allowed lateness: windows that already fired are fired again with the late rows.
        for end in dirty {
            self.fire(end, out, false)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        if self.watermark.is_some_and(|w| w >= wm) {
            return Ok(());
        }
        self.watermark = Some(wm);
        self.task
            .metrics
            .watermark
            .store(wm, std::sync::atomic::Ordering::Relaxed);
        let kind = self.config.kind;
        let ends: BTreeSet<i64> = self
            .slices
            .keys()
            .flat_map(|s| kind.window_ends(*s))
            .filter(|e| *e > self.fired_until && *e - 1 <= wm)
            .collect();
        let lateness = self.lateness();
        let retire_tumble = matches!(kind, WindowKind::Tumble { .. }) && lateness == 0;
        for end in ends {
            self.fire(end, out, retire_tumble)?;
        }
        self.fired_until = self.fired_until.max(wm.saturating_add(1));
        self.slices
            .retain(|s, _| kind.last_window_end(*s) - 1 + lateness > wm);
        out.watermark(wm);
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        self.config.early_fire
    }

    fn on_tick(&mut self, out: &mut Output) -> Result<()> {
        self.fire_early(out)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let mut w = StateWriter::new();
        w.i64(self.watermark.unwrap_or(EventTime::MIN));
        w.i64(self.fired_until);
        w.u64(self.slices.len() as u64);
        let agg = &self.config.aggregation;
        for (start, slice) in &mut self.slices {
            w.i64(*start);
            let bytes = match slice {
                Slice::Live(live) => agg.encode(&live.copy_state()?)?,
                Slice::Sealed(state) => agg.encode(state)?,
            };
            w.bytes(&bytes);
        }
        Ok(w.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(state) = state else { return Ok(()) };
        let mut r = StateReader::new(state, &self.task.name);
        let wm = r.i64()?;
        self.watermark = (wm != EventTime::MIN).then_some(wm);
        self.fired_until = r.i64()?;
        let n = r.u64()?;
        self.slices.clear();
        for _ in 0..n {
            let start = r.i64()?;
            let state = self.config.aggregation.decode(r.bytes()?)?;
            self.slices.insert(start, Slice::Sealed(state));
        }
        Ok(())
    }
}

/// The output schema shared by the windowed aggregations: window bounds, keys, aggregates.
pub(super) fn window_output_schema(aggregation: &Aggregation) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let mut fields = vec![
        Arc::new(Field::new("window_start", ts.clone(), false)),
        Arc::new(Field::new("window_end", ts, false)),
    ];
    fields.extend(aggregation.key_fields());
    fields.extend(aggregation.aggregate_fields());
    Arc::new(Schema::new(fields))
}

/// How long to wait between early firings, as configured.
pub(super) fn describe_early_fire(d: Option<Duration>) -> String {
    d.map(|d| format!(", early-fire every {:?}", d))
        .unwrap_or_default()
}
