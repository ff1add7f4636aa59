//! The windowed aggregation for session windows: per key, events closer together than the
//! gap form one window; a new event can extend a session or bridge two into one.
//!
//! Every session has an id, and the aggregation state is grouped by that id. When sessions
//! merge, their partial aggregates are merged by re-keying the state; when the watermark
//! passes a session's end, its group is evaluated and removed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::expressions::Column;

use super::state::{Aggregation, EvaluatedRows, GroupedState, StateBatch};
use super::{LatePolicy, WindowConfig, WindowKind, handle_late_rows, rowtime_values};
use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};

#[derive(Debug, Clone)]
struct Session {
    id: u64,
    start: i64,
    /// Exclusive: the last event's time plus the gap.
    end: i64,
}

/// Windowed aggregation over session windows.
pub struct SessionWindowAggregate {
    config: WindowConfig,
    gap_ms: i64,
    schema: SchemaRef,
    converter: RowConverter,
    /// The same aggregates, grouped by session id.
    by_session: Aggregation,
    state: GroupedState,
    /// Open sessions per key (the key in Arrow's row format).
    sessions: HashMap<Box<[u8]>, Vec<Session>>,
    /// Key of each open session.
    session_keys: HashMap<u64, Box<[u8]>>,
    /// Open sessions ordered by end, to find those the watermark closes.
    by_end: BTreeSet<(i64, u64)>,
    next_id: u64,
    watermark: Option<EventTime>,
    task: TaskInfo,
}

impl SessionWindowAggregate {
    /// A session-window aggregation running as task `task`.
    pub fn new(config: WindowConfig, task: TaskInfo) -> Result<Self> {
        let WindowKind::Session { gap_ms } = config.kind else {
            return Err(EngineError::plan(
                "SessionWindowAggregate needs a SESSION window",
            ));
        };
        if let LatePolicy::Allow { .. } = config.late {
            return Err(EngineError::plan(
                "allowed lateness is not supported for SESSION windows; \
                 choose the late-event policy 'drop' or 'side-output'",
            ));
        }
        let fields: Vec<SortField> = config
            .aggregation
            .group_fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let id_schema = Schema::new(vec![Field::new("session_id", DataType::UInt64, false)]);
        let by_session = config.aggregation.with_keys(
            &id_schema,
            vec![Arc::new(Column::new("session_id", 0))],
            vec!["session_id".into()],
        )?;
        let state = by_session.new_state()?;
        Ok(SessionWindowAggregate {
            schema: config.output_schema(),
            gap_ms,
            config,
            converter,
            by_session,
            state,
            sessions: HashMap::new(),
            session_keys: HashMap::new(),
            by_end: BTreeSet::new(),
            next_id: 0,
            watermark: None,
            task,
        })
    }

    /// Places an event of `key` at `ts` into a session; returns its id and the ids of the
    /// sessions it bridged into that one.
    fn assign(&mut self, key: &[u8], ts: i64, merged: &mut Vec<(u64, u64)>) -> Option<u64> {
        let gap = self.gap_ms;
        let wm = self.watermark.unwrap_or(EventTime::MIN);
        let list = self.sessions.entry(key.into()).or_default();
        let (lo, hi) = (ts, ts + gap);
        let touching: Vec<usize> = list
            .iter()
            .enumerate()
            // Sessions that overlap or just touch merge, as Flink's do.
            .filter(|(_, s)| s.start <= hi && lo <= s.end)
            .map(|(i, _)| i)
            .collect();
        let start = touching
            .iter()
            .map(|i| list[*i].start)
            .min()
            .unwrap_or(lo)
            .min(lo);
        let end = touching
            .iter()
            .map(|i| list[*i].end)
            .max()
            .unwrap_or(hi)
            .max(hi);
        if end - 1 <= wm {
            if list.is_empty() {
                self.sessions.remove(key);
            }
            return None;
        }
        let id = match touching.first() {
            Some(i) => list[*i].id,
            None => {
                self.next_id += 1;
                self.session_keys.insert(self.next_id, key.into());
                list.push(Session {
                    id: self.next_id,
                    start,
                    end,
                });
                self.by_end.insert((end, self.next_id));
                return Some(self.next_id);
            }
        };
        for i in touching.iter().rev() {
            let s = list.remove(*i);
            self.by_end.remove(&(s.end, s.id));
            if s.id != id {
                merged.push((s.id, id));
                self.session_keys.remove(&s.id);
            }
        }
        list.push(Session { id, start, end });
        self.by_end.insert((end, id));
        Some(id)
    }

    /// Re-keys the state so that each bridged session's aggregates join the surviving one.
    fn apply_merges(&mut self, merged: &[(u64, u64)]) -> Result<()> {
        let mut target: HashMap<u64, u64> = merged.iter().copied().collect();
        // Follow chains (a -> b -> c) to the final survivor.
        let ids: Vec<u64> = target.keys().copied().collect();
        for id in ids {
            let mut t = target[&id];
            while let Some(next) = target.get(&t) {
                t = *next;
            }
            target.insert(id, t);
        }
        let mut state = self.state.take_state()?;
        let old = state.keys[0].as_primitive::<UInt64Type>();
        let remapped: UInt64Array = old
            .values()
            .iter()
            .map(|id| *target.get(id).unwrap_or(id))
            .collect();
        state.keys = vec![Arc::new(remapped)];
        self.state.merge(&state)
    }

    /// Fires every session that ends at or before the watermark.
    fn fire(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        let closed: Vec<(i64, u64)> = self
            .by_end
            .iter()
            .take_while(|(end, _)| *end - 1 <= wm)
            .copied()
            .collect();
        if closed.is_empty() {
            return Ok(());
        }
        let mut bounds: HashMap<u64, (i64, i64)> = HashMap::with_capacity(closed.len());
        for (end, id) in &closed {
            self.by_end.remove(&(*end, *id));
            let key = self
                .session_keys
                .get(id)
                .expect("open session has a key")
                .clone();
            let list = self.sessions.get_mut(&key).expect("open session is listed");
            let pos = list.iter().position(|s| s.id == *id).expect("listed");
            let s = list.remove(pos);
            if list.is_empty() {
                self.sessions.remove(&key);
            }
            bounds.insert(*id, (s.start, s.end));
        }
        let state = self.state.take_state()?;
        let ids = state.keys[0].as_primitive::<UInt64Type>();
        let (mut fire_idx, mut keep_idx) = (Vec::new(), Vec::new());
        for (i, id) in ids.values().iter().enumerate() {
            if bounds.contains_key(id) {
                fire_idx.push(i as u32);
            } else {
                keep_idx.push(i as u32);
            }
        }
        self.state
            .merge(&take_state_rows(&state, &UInt32Array::from(keep_idx))?)?;
        let mut fired = self.by_session.new_state()?;
        fired.merge(&take_state_rows(&state, &UInt32Array::from(fire_idx))?)?;
        let (id_col, values) = fired.evaluate()?;
        let ids: Vec<u64> = id_col[0].as_primitive::<UInt64Type>().values().to_vec();
        let batch = self.result_batch(&ids, values, &bounds)?;
        for id in &ids {
            self.session_keys.remove(id);
        }
        out.data(batch);
        Ok(())
    }

    /// Emits the current, partial result of every open session (early firing).
    fn fire_early(&mut self, out: &mut Output) -> Result<()> {
        if self.session_keys.is_empty() {
            return Ok(());
        }
        let mut open = self.by_session.new_state()?;
        open.merge(&self.state.copy_state()?)?;
        let (id_col, values) = open.evaluate()?;
        let ids: Vec<u64> = id_col[0].as_primitive::<UInt64Type>().values().to_vec();
        let bounds: HashMap<u64, (i64, i64)> = self
            .sessions
            .values()
            .flatten()
            .map(|s| (s.id, (s.start, s.end)))
            .collect();
        out.data(self.result_batch(&ids, values, &bounds)?);
        Ok(())
    }

    /// The output rows of sessions `ids` (with their aggregate `values`, in that order).
    fn result_batch(
        &self,
        ids: &[u64],
        values: Vec<ArrayRef>,
        bounds: &HashMap<u64, (i64, i64)>,
    ) -> Result<RecordBatch> {
        let mut starts = Vec::with_capacity(ids.len());
        let mut ends = Vec::with_capacity(ids.len());
        let parser = self.converter.parser();
        let mut key_rows = Vec::with_capacity(ids.len());
        for id in ids {
            let (s, e) = bounds[id];
            starts.push(s);
            ends.push(e);
            let key = self.session_keys.get(id).expect("session has a key");
            key_rows.push(parser.parse(key));
        }
        let keys = self.converter.convert_rows(key_rows)?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(starts)),
            Arc::new(TimestampMillisecondArray::from(ends)),
        ];
        columns.extend(self.config.aggregation.output_keys(keys));
        columns.extend(values);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    fn late_rows(&self, batch: &RecordBatch, late: Vec<u32>) -> Result<()> {
        let rows = arrow::compute::take_record_batch(batch, &UInt32Array::from(late))?;
        let wm = self.watermark.unwrap_or(EventTime::MIN);
        let reason = format!("late event: its session closed at watermark {wm}");
        handle_late_rows(&self.task, self.config.late, &rows, &reason)
    }
}

fn take_state_rows(state: &StateBatch, idx: &UInt32Array) -> Result<StateBatch> {
    let take = |a: &ArrayRef| arrow::compute::take(a.as_ref(), idx, None);
    Ok(StateBatch {
        keys: state.keys.iter().map(take).collect::<Result<_, _>>()?,
        states: state
            .states
            .iter()
            .map(|s| s.iter().map(take).collect::<Result<_, _>>())
            .collect::<Result<_, _>>()?,
    })
}

impl Operator for SessionWindowAggregate {
    fn name(&self) -> String {
        self.config.describe()
    }

    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Output) -> Result<()> {
        let times = rowtime_values(&batch, self.config.rowtime_column)?;
        let rows = self.config.aggregation.evaluate(&batch)?;
        let key_rows = self.converter.convert_columns(&rows.keys)?;
        let mut ids = Vec::with_capacity(batch.num_rows());
        let mut accepted = Vec::with_capacity(batch.num_rows());
        let mut late = Vec::new();
        let mut merged = Vec::new();
        for (i, ts) in times.iter().enumerate() {
            match self.assign(key_rows.row(i).as_ref(), *ts, &mut merged) {
                Some(id) => {
                    ids.push(id);
                    accepted.push(i as u32);
                }
                None => late.push(i as u32),
            }
        }
        if !late.is_empty() {
            self.late_rows(&batch, late)?;
        }
        let rows = if accepted.len() == batch.num_rows() {
            rows
        } else {
            rows.take(&UInt32Array::from(accepted))?
        };
        let by_id = EvaluatedRows {
            keys: vec![Arc::new(UInt64Array::from(ids))],
            args: rows.args,
        };
        if by_id.num_rows() > 0 {
            self.state.update(&by_id)?;
        }
        if !merged.is_empty() {
            self.apply_merges(&merged)?;
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
        self.fire(wm, out)?;
        out.watermark(wm);
        Ok(())
    }

    fn tick_interval(&self) -> Option<std::time::Duration> {
        self.config.early_fire
    }

    fn on_tick(&mut self, out: &mut Output) -> Result<()> {
        self.fire_early(out)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let mut w = StateWriter::new();
        w.i64(self.watermark.unwrap_or(EventTime::MIN));
        w.u64(self.next_id);
        let count: usize = self.sessions.values().map(Vec::len).sum();
        w.u64(count as u64);
        for (key, list) in &self.sessions {
            for s in list {
                w.bytes(key);
                w.u64(s.id);
                w.i64(s.start);
                w.i64(s.end);
            }
        }
        let state = self.state.copy_state()?;
        w.bytes(&self.by_session.encode(&state)?);
        Ok(w.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(state) = state else { return Ok(()) };
        let mut r = StateReader::new(state, &self.task.name);
        let wm = r.i64()?;
        self.watermark = (wm != EventTime::MIN).then_some(wm);
        self.next_id = r.u64()?;
        let n = r.u64()?;
        for _ in 0..n {
            let key: Box<[u8]> = r.bytes()?.into();
            let (id, start, end) = (r.u64()?, r.i64()?, r.i64()?);
            self.session_keys.insert(id, key.clone());
            self.by_end.insert((end, id));
            self.sessions
                .entry(key)
                .or_default()
                .push(Session { id, start, end });
        }
        let stored = self.by_session.decode(r.bytes()?)?;
        self.state = self.by_session.new_state()?;
        self.state.merge(&stored)
    }
}
