//! Joins of two append-only streams on equal keys, as Flink runs them: regular joins (keyed
//! state of both sides, kept until an optional idle-state TTL) and interval joins (rows kept
//! only while rows of the other side within the time bounds can still arrive).
//!
//! The operator heads the first stage of its job; each source feeds input 0 (the left side)
//! or input 1 (the right side), hashed by that side's keys so equal keys meet in one instance.
//! Each arriving row joins the stored rows of the other side with equal keys (and, for an
//! interval join, a time within the bounds), then is stored itself. Conditions of `ON` other
//! than the keys are applied to the joined rows; a row matched only when they hold. Rows whose
//! key has a NULL never match, as in SQL. Outer interval joins emit a row of the outer side
//! padded with NULLs once the watermark shows that nothing can match it any more. The output
//! is append-only; an interval join holds its output watermark back by the larger of the two
//! bounds, as Flink does, because joined rows carry the older side's time.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array, new_null_array,
};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::changelog;
use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};
use crate::window::rowtime_values;

/// Which rows of a join survive without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matched rows.
    Inner,
    /// Also left rows without a match, with NULL right columns.
    LeftOuter,
    /// Also right rows without a match, with NULL left columns.
    RightOuter,
    /// Also unmatched rows of both sides.
    FullOuter,
}

impl JoinKind {
    /// Whether unmatched rows of side `side` (0 left, 1 right) are emitted.
    fn keeps_unmatched(self, side: usize) -> bool {
        matches!(
            (self, side),
            (JoinKind::LeftOuter | JoinKind::FullOuter, 0)
                | (JoinKind::RightOuter | JoinKind::FullOuter, 1)
        )
    }
}

impl std::fmt::Display for JoinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinKind::Inner => "INNER",
            JoinKind::LeftOuter => "LEFT OUTER",
            JoinKind::RightOuter => "RIGHT OUTER",
            JoinKind::FullOuter => "FULL OUTER",
        })
    }
}

/// The time bounds of an interval join:
/// `right.time + lower_ms <= left.time <= right.time + upper_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalBounds {
    /// The rowtime column of the left rows.
    pub left_time: usize,
    /// The rowtime column of the right rows.
    pub right_time: usize,
    /// The least `left.time - right.time`, in milliseconds.
    pub lower_ms: i64,
    /// The greatest `left.time - right.time`, in milliseconds.
    pub upper_ms: i64,
}

impl IntervalBounds {
    /// How far the output watermark trails the input's: the longest a row can wait for its
    /// match (Flink's larger relative window size).
    pub fn watermark_delay_ms(&self) -> i64 {
        (-self.lower_ms).max(self.upper_ms).max(0)
    }
}

/// How a stream join is made.
#[derive(Clone)]
pub struct StreamJoinSpec {
    /// Which unmatched rows are kept (only `Inner` without interval bounds).
    pub kind: JoinKind,
    /// The left rows (input 0).
    pub left_schema: SchemaRef,
    /// The right rows (input 1).
    pub right_schema: SchemaRef,
    /// Key expressions over the left rows.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Key expressions over the right rows, pairwise equal to `left_keys`.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// A further condition over the joined row (left columns, then right columns).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The time bounds of an interval join; `None` for a regular join.
    pub interval: Option<IntervalBounds>,
    /// Regular joins: how long a stored row is kept (Flink's `table.exec.state.ttl`).
    pub state_ttl: Option<Duration>,
    /// The joined rows' schema: left columns, then right columns.
    pub output_schema: SchemaRef,
}

impl std::fmt::Debug for StreamJoinSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamJoinSpec")
            .field("kind", &self.kind)
            .field("interval", &self.interval)
            .field("state_ttl", &self.state_ttl)
            .finish()
    }
}

impl StreamJoinSpec {
    /// A description for plans: kind, keys, bounds, condition, TTL.
    pub fn describe(&self) -> String {
        let keys: Vec<String> = self
            .left_keys
            .iter()
            .zip(&self.right_keys)
            .map(|(l, r)| format!("left.{l} = right.{r}"))
            .collect();
        let mut text = format!("{}, {}", self.kind, keys.join(" AND "));
        if let Some(b) = &self.interval {
            text.push_str(&format!(
                ", left.{} - right.{} BETWEEN {} ms AND {} ms",
                self.left_schema.field(b.left_time).name(),
                self.right_schema.field(b.right_time).name(),
                b.lower_ms,
                b.upper_ms
            ));
        }
        if let Some(f) = &self.filter {
            text.push_str(&format!(", filter {f}"));
        }
        if let Some(ttl) = self.state_ttl {
            text.push_str(&format!(", state ttl {} ms", ttl.as_millis()));
        }
        match &self.interval {
            Some(b) => format!(
                "IntervalJoin[{text}, watermark delay {} ms]",
                b.watermark_delay_ms()
            ),
            None => format!("Join[{text}]"),
        }
    }
}

/// One stored row of a side.
#[derive(Debug)]
struct Stored {
    row: OwnedRow,
    /// The row's event time (interval joins) or when it was stored (regular joins).
    time: i64,
    /// When the row leaves the state: a watermark (interval joins) or a wall-clock time in
    /// milliseconds (regular joins with a TTL).
    expires_at: i64,
    /// Whether the row joined at least once (for outer joins).
    matched: bool,
}

/// The stored rows of one side, by key.
struct Side {
    schema: SchemaRef,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    time: Option<usize>,
    rows: RowConverter,
    by_key: HashMap<OwnedRow, Vec<Stored>>,
    /// Expiry time → keys with rows that expire then (some may be gone already).
    expiry: BTreeMap<i64, Vec<OwnedRow>>,
    len: usize,
}

impl Side {
    fn new(
        schema: &SchemaRef,
        keys: &[Arc<dyn PhysicalExpr>],
        time: Option<usize>,
    ) -> Result<Side> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Side {
            schema: Arc::clone(schema),
            keys: keys.to_vec(),
            time,
            rows: RowConverter::new(fields)?,
            by_key: HashMap::new(),
            expiry: BTreeMap::new(),
            len: 0,
        })
    }

    fn insert(&mut self, key: OwnedRow, stored: Stored) {
        if stored.expires_at != i64::MAX {
            self.expiry
                .entry(stored.expires_at)
                .or_default()
                .push(key.clone());
        }
        self.by_key.entry(key).or_default().push(stored);
        self.len += 1;
    }

    /// Removes the rows that expire at or before `now`, returning those never matched.
    fn expire(&mut self, now: i64) -> Vec<OwnedRow> {
        let mut unmatched = Vec::new();
        while let Some(entry) = self.expiry.first_entry() {
            if *entry.key() > now {
                break;
            }
            for key in entry.remove() {
                let Some(rows) = self.by_key.get_mut(&key) else {
                    continue;
                };
                let before = rows.len();
                rows.retain_mut(|s| {
                    let keep = s.expires_at > now;
                    if !keep && !s.matched {
                        unmatched.push(s.row.clone());
                    }
                    keep
                });
                self.len -= before - rows.len();
                if rows.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        unmatched
    }

    /// The columns of stored rows.
    fn columns<'a>(&self, rows: impl IntoIterator<Item = &'a OwnedRow>) -> Result<Vec<ArrayRef>> {
        Ok(self.rows.convert_rows(rows.into_iter().map(|r| r.row()))?)
    }

    /// The side's state as one Arrow IPC stream: its columns, then time, expiry, matched.
    fn encode(&self) -> Result<Vec<u8>> {
        let all: Vec<&Stored> = self.by_key.values().flatten().collect();
        let mut columns = if all.is_empty() {
            self.schema
                .fields()
                .iter()
                .map(|f| arrow::array::new_empty_array(f.data_type()))
                .collect()
        } else {
            self.columns(all.iter().map(|s| &s.row))?
        };
        columns.push(Arc::new(Int64Array::from_iter_values(
            all.iter().map(|s| s.time),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            all.iter().map(|s| s.expires_at),
        )));
        columns.push(Arc::new(BooleanArray::from_iter(
            all.iter().map(|s| Some(s.matched)),
        )));
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new("__time", DataType::Int64, false));
        fields.push(Field::new("__expires_at", DataType::Int64, false));
        fields.push(Field::new("__matched", DataType::Boolean, false));
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &schema)?;
        writer.write(&batch)?;
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    /// Restores rows written by [`Side::encode`].
    fn decode(&mut self, bytes: &[u8], key_rows: &RowConverter, task: &str) -> Result<()> {
        let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        let batch = arrow::compute::concat_batches(&schema, &batches)?;
        let n = self.schema.fields().len();
        let corrupt = |reason: String| EngineError::CorruptState {
            task: task.to_string(),
            reason,
        };
        if batch.num_columns() != n + 3 {
            return Err(corrupt(format!(
                "join state has {} columns, the side has {n} (+3)",
                batch.num_columns()
            )));
        }
        let int = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .ok_or_else(|| corrupt(format!("join state column {i} is not BIGINT")))
        };
        let (time, expires_at) = (int(n)?, int(n + 1)?);
        let matched = batch
            .column(n + 2)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| corrupt("join state column matched is not BOOLEAN".into()))?;
        let rows = RecordBatch::try_new(Arc::clone(&self.schema), batch.columns()[..n].to_vec())
            .map_err(|e| corrupt(format!("join state rows: {e}")))?;
        let keys = evaluate(&self.keys, &rows)?;
        let keys = key_rows.convert_columns(&keys)?;
        let converted = self.rows.convert_columns(rows.columns())?;
        for i in 0..rows.num_rows() {
            self.insert(
                keys.row(i).owned(),
                Stored {
                    row: converted.row(i).owned(),
                    time: time.value(i),
                    expires_at: expires_at.value(i),
                    matched: matched.value(i),
                },
            );
        }
        Ok(())
    }
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?))
        .collect()
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The join operator: input 0 is the left side, input 1 the right.
pub struct StreamJoin {
    spec: StreamJoinSpec,
    name: String,
    keys: RowConverter,
    sides: [Side; 2],
    /// The combined watermark of both inputs.
    watermark: EventTime,
}

impl std::fmt::Debug for StreamJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamJoin")
            .field("spec", &self.spec)
            .field("left_rows", &self.sides[0].len)
            .field("right_rows", &self.sides[1].len)
            .finish()
    }
}

impl StreamJoin {
    /// A join run by `task`.
    pub fn new(spec: StreamJoinSpec, task: &TaskInfo) -> Result<Self> {
        if spec.left_keys.is_empty() || spec.left_keys.len() != spec.right_keys.len() {
            return Err(EngineError::plan(
                "a stream join needs equal numbers (at least one) of keys on each side",
            ));
        }
        if spec.interval.is_none() && spec.kind != JoinKind::Inner {
            return Err(EngineError::plan(format!(
                "a {} regular join would retract its padded rows; only INNER regular joins \
                 are append-only",
                spec.kind
            )));
        }
        if changelog::is_changelog(&spec.left_schema) || changelog::is_changelog(&spec.right_schema)
        {
            return Err(EngineError::plan(
                "a stream join takes append-only inputs, not changelogs",
            ));
        }
        let expected = spec.left_schema.fields().len() + spec.right_schema.fields().len();
        if spec.output_schema.fields().len() != expected {
            return Err(EngineError::plan(format!(
                "a join of {} and {} columns cannot give {} columns",
                spec.left_schema.fields().len(),
                spec.right_schema.fields().len(),
                spec.output_schema.fields().len()
            )));
        }
        let mut key_fields = Vec::with_capacity(spec.left_keys.len());
        for (l, r) in spec.left_keys.iter().zip(&spec.right_keys) {
            let (lt, rt) = (
                l.data_type(&spec.left_schema)?,
                r.data_type(&spec.right_schema)?,
            );
            if lt != rt {
                return Err(EngineError::plan(format!(
                    "join keys {l} ({lt}) and {r} ({rt}) have different types"
                )));
            }
            key_fields.push(SortField::new(lt));
        }
        if let Some(b) = &spec.interval
            && b.lower_ms > b.upper_ms
        {
            return Err(EngineError::plan(format!(
                "interval join bounds [{} ms, {} ms] are empty",
                b.lower_ms, b.upper_ms
            )));
        }
        let sides = [
            Side::new(
                &spec.left_schema,
                &spec.left_keys,
                spec.interval.map(|b| b.left_time),
            )?,
            Side::new(
                &spec.right_schema,
                &spec.right_keys,
                spec.interval.map(|b| b.right_time),
            )?,
        ];
        Ok(StreamJoin {
            name: task.name.clone(),
            keys: RowConverter::new(key_fields)?,
            sides,
            watermark: EventTime::MIN,
            spec,
        })
    }

    /// Rows held in state: (left, right).
    pub fn state_rows(&self) -> (usize, usize) {
        (self.sides[0].len, self.sides[1].len)
    }

    /// For a row of side `side` at `time`: the range of times of the other side's rows it
    /// joins, and when it expires (the watermark after which no row of the other side can
    /// join it).
    fn window(&self, side: usize, time: i64) -> ((i64, i64), i64) {
        let b = self.spec.interval.expect("interval join");
        if side == 0 {
            // right.time in [left.time - upper, left.time - lower]
            let range = (
                time.saturating_sub(b.upper_ms),
                time.saturating_sub(b.lower_ms),
            );
            (range, range.1)
        } else {
            // left.time in [right.time + lower, right.time + upper]
            let range = (
                time.saturating_add(b.lower_ms),
                time.saturating_add(b.upper_ms),
            );
            (range, range.1)
        }
    }

    /// Joined rows from the columns of rows of side `side` and, row for row, the columns of
    /// their partners on the other side.
    fn assemble(
        &self,
        side: usize,
        probe: &[ArrayRef],
        other: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let (left, right) = if side == 0 {
            (probe.to_vec(), other)
        } else {
            (other, probe.to_vec())
        };
        let columns = left.into_iter().chain(right).collect();
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output_schema),
            columns,
        )?)
    }

    /// Rows of side `side` padded with NULLs for the other side's columns.
    fn padded(&self, side: usize, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
        let n = columns.first().map_or(0, |c| c.len());
        let other = &self.sides[1 - side].schema;
        let nulls = other
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), n))
            .collect();
        self.assemble(side, &columns, nulls)
    }

    fn process(&mut self, side: usize, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys = evaluate(&self.sides[side].keys, &batch)?;
        let key_rows = self.keys.convert_columns(&keys)?;
        let null_key: Vec<bool> = (0..n).map(|i| keys.iter().any(|k| k.is_null(i))).collect();
        let times: Option<Arc<[i64]>> = match self.sides[side].time {
            Some(c) => Some(rowtime_values(&batch, c)?),
            None => None,
        };
        let owned: Vec<Option<OwnedRow>> = (0..n)
            .map(|i| (!null_key[i]).then(|| key_rows.row(i).owned()))
            .collect();
        // Candidate pairs: (probe row, position among the other side's rows of its key).
        let other = &self.sides[1 - side];
        let mut probe_idx: Vec<u32> = Vec::new();
        let mut positions: Vec<usize> = Vec::new();
        for (i, key) in owned.iter().enumerate() {
            let Some(stored) = key.as_ref().and_then(|k| other.by_key.get(k)) else {
                continue;
            };
            let range = times.as_ref().map(|t| self.window(side, t[i]).0);
            for (p, s) in stored.iter().enumerate() {
                if range.is_none_or(|(lo, hi)| s.time >= lo && s.time <= hi) {
                    probe_idx.push(i as u32);
                    positions.push(p);
                }
            }
        }
        let mut probe_matched = vec![false; n];
        if !probe_idx.is_empty() {
            let stored_rows = probe_idx.iter().zip(&positions).map(|(&i, &p)| {
                let key = owned[i as usize].as_ref().expect("matched keys are set");
                &other.by_key[key][p].row
            });
            let other_columns = other.columns(stored_rows)?;
            let take_idx = UInt32Array::from(probe_idx.clone());
            let probe_columns = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &take_idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let joined = self.assemble(side, &probe_columns, other_columns)?;
            let passed: Vec<bool> = match &self.spec.filter {
                None => vec![true; joined.num_rows()],
                Some(filter) => {
                    let mask = filter.evaluate(&joined)?.into_array(joined.num_rows())?;
                    let mask = mask
                        .as_any()
                        .downcast_ref::<BooleanArray>()
                        .ok_or_else(|| EngineError::plan("a join condition must be BOOLEAN"))?;
                    (0..mask.len())
                        .map(|k| mask.is_valid(k) && mask.value(k))
                        .collect()
                }
            };
            let other_outer = self.spec.kind.keeps_unmatched(1 - side);
            for (k, ok) in passed.iter().enumerate() {
                if !*ok {
                    continue;
                }
                let i = probe_idx[k] as usize;
                probe_matched[i] = true;
                if other_outer {
                    let key = owned[i].as_ref().expect("matched keys are set");
                    let rows = self.sides[1 - side]
                        .by_key
                        .get_mut(key)
                        .expect("the key was found above");
                    rows[positions[k]].matched = true;
                }
            }
            out.data(arrow::compute::filter_record_batch(
                &joined,
                &BooleanArray::from(passed),
            )?);
        }
        // Store the probe rows that rows of the other side may still join; pad the others.
        let now = wall_clock_ms();
        let outer = self.spec.kind.keeps_unmatched(side);
        let converted = self.sides[side].rows.convert_columns(batch.columns())?;
        let mut unmatched: Vec<u32> = Vec::new();
        for (i, key) in owned.into_iter().enumerate() {
            let (time, expires_at) = match (&times, self.spec.state_ttl) {
                (Some(t), _) => (t[i], self.window(side, t[i]).1),
                (None, Some(ttl)) => (
                    now,
                    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
                ),
                (None, None) => (now, i64::MAX),
            };
            let keep = key.is_some() && (times.is_none() || self.watermark < expires_at);
            match key {
                Some(key) if keep => self.sides[side].insert(
                    key,
                    Stored {
                        row: converted.row(i).owned(),
                        time,
                        expires_at,
                        matched: probe_matched[i],
                    },
                ),
                _ if outer && !probe_matched[i] => unmatched.push(i as u32),
                _ => {}
            }
        }
        if !unmatched.is_empty() {
            let idx = UInt32Array::from(unmatched);
            let columns = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            out.data(self.padded(side, columns)?);
        }
        Ok(())
    }

    /// Drops the rows expiring at or before `now` from both sides, padding the unmatched
    /// rows of outer sides.
    fn expire(&mut self, now: i64, out: &mut Output) -> Result<()> {
        for side in 0..2 {
            let unmatched = self.sides[side].expire(now);
            if self.spec.kind.keeps_unmatched(side) && !unmatched.is_empty() {
                let columns = self.sides[side].columns(&unmatched)?;
                out.data(self.padded(side, columns)?);
            }
        }
        Ok(())
    }
}

impl Operator for StreamJoin {
    fn name(&self) -> String {
        self.spec.describe()
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        self.process(0, batch, out)
    }

    fn process_batch_from(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        if input > 1 {
            return Err(EngineError::plan(format!(
                "a join has two inputs but got rows on input {input}"
            )));
        }
        self.process(input, batch, out)
    }

    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        if wm <= self.watermark {
            return Ok(());
        }
        self.watermark = wm;
        match &self.spec.interval {
            Some(b) => {
                let delay = b.watermark_delay_ms();
                self.expire(wm, out)?;
                out.watermark(if wm == EventTime::MAX {
                    wm
                } else {
                    wm.saturating_sub(delay)
                });
            }
            None => out.watermark(wm),
        }
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        match (&self.spec.interval, self.spec.state_ttl) {
            (None, Some(ttl)) => Some(ttl.clamp(Duration::from_millis(10), Duration::from_secs(1))),
            _ => None,
        }
    }

    fn on_tick(&mut self, out: &mut Output) -> Result<()> {
        if self.spec.interval.is_none() && self.spec.state_ttl.is_some() {
            self.expire(wall_clock_ms(), out)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let mut w = StateWriter::new();
        w.i64(self.watermark);
        for side in &self.sides {
            w.bytes(&side.encode()?);
        }
        Ok(w.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(state) = state else { return Ok(()) };
        let mut r = StateReader::new(state, &self.name);
        self.watermark = r.i64()?;
        for side in &mut self.sides {
            side.decode(r.bytes()?, &self.keys, &self.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::TimeUnit;
    use arrow::util::display::array_value_to_string;
    use datafusion::logical_expr::Operator as BinaryOp;
    use datafusion::physical_expr::expressions::{Column, binary};

    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::operator::Emitted;

    fn task() -> TaskInfo {
        TaskInfo {
            name: "join[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: Default::default(),
            metrics: Arc::new(TaskMetrics::new()),
        }
    }

    /// (k BIGINT, name STRING, ts TIMESTAMP(3)) with column names prefixed by `side`.
    fn schema(side: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(format!("{side}_k"), DataType::Int64, true),
            Field::new(format!("{side}_v"), DataType::Utf8, false),
            Field::new(
                format!("{side}_ts"),
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]))
    }

    fn rows(schema: &SchemaRef, rows: &[(Option<i64>, &str, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.2),
                )),
            ],
        )
        .unwrap()
    }

    fn spec(kind: JoinKind, interval: Option<(i64, i64)>) -> StreamJoinSpec {
        let (left, right) = (schema("l"), schema("r"));
        let fields: Vec<Field> = left
            .fields()
            .iter()
            .chain(right.fields())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        StreamJoinSpec {
            kind,
            left_keys: vec![Arc::new(Column::new("l_k", 0))],
            right_keys: vec![Arc::new(Column::new("r_k", 0))],
            filter: None,
            interval: interval.map(|(lower_ms, upper_ms)| IntervalBounds {
                left_time: 2,
                right_time: 2,
                lower_ms,
                upper_ms,
            }),
            state_ttl: None,
            output_schema: Arc::new(Schema::new(fields)),
            left_schema: left,
            right_schema: right,
        }
    }

    /// The rows emitted as `l_k,l_v,l_ts|r_k,r_v,r_ts` lines (sorted), and the watermarks.
    fn drain(out: &mut Output) -> (Vec<String>, Vec<EventTime>) {
        let mut lines = Vec::new();
        let mut wms = Vec::new();
        for item in out.take() {
            match item {
                Emitted::Data(b) => {
                    for r in 0..b.num_rows() {
                        let cells: Vec<String> = (0..b.num_columns())
                            .map(|c| {
                                if b.column(c).is_null(r) {
                                    "null".to_string()
                                } else {
                                    array_value_to_string(b.column(c), r).unwrap()
                                }
                            })
                            .collect();
                        lines.push(format!("{}|{}", cells[..3].join(","), cells[3..].join(",")));
                    }
                }
                Emitted::Watermark(w) => wms.push(w),
            }
        }
        lines.sort();
        (lines, wms)
    }

    const T: &str = "1970-01-01T00:00:00";

    #[test]
    fn regular_join_matches_both_ways_skips_null_keys_and_restores() {
        let spec = spec(JoinKind::Inner, None);
        let (l, r) = (
            Arc::clone(&spec.left_schema),
            Arc::clone(&spec.right_schema),
        );
        let mut join = StreamJoin::new(spec.clone(), &task()).unwrap();
        let mut out = Output::default();
        join.process_batch_from(
            0,
            rows(&l, &[(Some(1), "a", 0), (Some(2), "b", 0), (None, "c", 0)]),
            &mut out,
        )
        .unwrap();
        assert!(drain(&mut out).0.is_empty());
        join.process_batch_from(
            1,
            rows(
                &r,
                &[
                    (Some(1), "x", 0),
                    (Some(1), "y", 0),
                    (Some(3), "z", 0),
                    (None, "n", 0),
                ],
            ),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![format!("1,a,{T}|1,x,{T}"), format!("1,a,{T}|1,y,{T}")]
        );
        // Null keys are never stored.
        assert_eq!(join.state_rows(), (2, 3));
        let state = join.snapshot(1).unwrap();

        let mut restored = StreamJoin::new(spec, &task()).unwrap();
        restored.restore(Some(&state)).unwrap();
        assert_eq!(restored.state_rows(), (2, 3));
        restored
            .process_batch_from(
                0,
                rows(&l, &[(Some(3), "d", 0), (Some(1), "e", 0)]),
                &mut out,
            )
            .unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![
                format!("1,e,{T}|1,x,{T}"),
                format!("1,e,{T}|1,y,{T}"),
                format!("3,d,{T}|3,z,{T}")
            ]
        );
        // Watermarks pass unchanged through a regular join.
        restored.process_watermark(500, &mut out).unwrap();
        assert_eq!(drain(&mut out).1, vec![500]);
        assert!(
            restored
                .process_batch_from(2, rows(&l, &[]), &mut out)
                .is_err()
        );
    }

    #[test]
    fn a_join_condition_filters_joined_rows() {
        let mut spec = spec(JoinKind::Inner, None);
        let out_schema = Arc::clone(&spec.output_schema);
        // l_v < r_v
        spec.filter = Some(
            binary(
                Arc::new(Column::new("l_v", 1)),
                BinaryOp::Lt,
                Arc::new(Column::new("r_v", 4)),
                &out_schema,
            )
            .unwrap(),
        );
        let (l, r) = (
            Arc::clone(&spec.left_schema),
            Arc::clone(&spec.right_schema),
        );
        let mut join = StreamJoin::new(spec, &task()).unwrap();
        let mut out = Output::default();
        join.process_batch_from(1, rows(&r, &[(Some(1), "m", 0)]), &mut out)
            .unwrap();
        join.process_batch_from(
            0,
            rows(&l, &[(Some(1), "a", 0), (Some(1), "z", 0)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(drain(&mut out).0, vec![format!("1,a,{T}|1,m,{T}")]);
    }

    #[test]
    fn state_ttl_drops_idle_rows() {
        let mut spec = spec(JoinKind::Inner, None);
        spec.state_ttl = Some(Duration::from_millis(30));
        let (l, r) = (
            Arc::clone(&spec.left_schema),
            Arc::clone(&spec.right_schema),
        );
        let mut join = StreamJoin::new(spec, &task()).unwrap();
        assert_eq!(join.tick_interval(), Some(Duration::from_millis(30)));
        let mut out = Output::default();
        join.process_batch_from(0, rows(&l, &[(Some(1), "a", 0)]), &mut out)
            .unwrap();
        join.on_tick(&mut out).unwrap();
        assert_eq!(join.state_rows(), (1, 0));
        std::thread::sleep(Duration::from_millis(60));
        join.on_tick(&mut out).unwrap();
        assert_eq!(join.state_rows(), (0, 0));
        join.process_batch_from(1, rows(&r, &[(Some(1), "x", 0)]), &mut out)
            .unwrap();
        assert!(drain(&mut out).0.is_empty());
    }

    #[test]
    fn interval_join_keeps_rows_within_bounds_until_the_watermark_passes() {
        // l.ts BETWEEN r.ts - 10 AND r.ts + 10
        let spec = spec(JoinKind::Inner, Some((-10, 10)));
        let (l, r) = (
            Arc::clone(&spec.left_schema),
            Arc::clone(&spec.right_schema),
        );
        let mut join = StreamJoin::new(spec.clone(), &task()).unwrap();
        assert!(
            join.name()
                .starts_with("IntervalJoin[INNER, left.l_k@0 = right.r_k@0")
        );
        let mut out = Output::default();
        join.process_batch_from(0, rows(&l, &[(Some(1), "a", 100)]), &mut out)
            .unwrap();
        join.process_batch_from(
            1,
            rows(
                &r,
                &[
                    (Some(1), "x", 105),
                    (Some(1), "y", 111),
                    (Some(1), "z", 90),
                    (Some(2), "w", 100),
                ],
            ),
            &mut out,
        )
        .unwrap();
        let at = |ms: i64| format!("1970-01-01T00:00:00.{ms:03}");
        assert_eq!(
            drain(&mut out).0,
            vec![
                format!("1,a,{}|1,x,{}", at(100), at(105)),
                format!("1,a,{}|1,z,{}", at(100), at(90))
            ]
        );
        assert_eq!(join.state_rows(), (1, 4));
        // The left row at 100 joins right rows up to 110: gone once the watermark is 110.
        // Right rows leave at their time + 10.
        join.process_watermark(109, &mut out).unwrap();
        assert_eq!(join.state_rows(), (1, 3));
        assert_eq!(drain(&mut out).1, vec![99], "held back by 10 ms");
        let state = join.snapshot(1).unwrap();
        join.process_watermark(110, &mut out).unwrap();
        assert_eq!(join.state_rows(), (0, 2));

        // Restored at watermark 109: the left row is still there for a right row at 110.
        let mut restored = StreamJoin::new(spec, &task()).unwrap();
        restored.restore(Some(&state)).unwrap();
        restored
            .process_batch_from(1, rows(&r, &[(Some(1), "v", 110)]), &mut out)
            .unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![format!("1,a,{}|1,v,{}", at(100), at(110))]
        );
        // A late left row (no right row that could join it can still come) joins what is
        // left but is not kept.
        restored.process_watermark(118, &mut out).unwrap();
        assert_eq!(restored.state_rows(), (0, 2));
        restored
            .process_batch_from(0, rows(&l, &[(Some(1), "b", 105)]), &mut out)
            .unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![
                format!("1,b,{}|1,v,{}", at(105), at(110)),
                format!("1,b,{}|1,y,{}", at(105), at(111))
            ]
        );
        assert_eq!(restored.state_rows(), (0, 2));
        restored
            .process_watermark(EventTime::MAX, &mut out)
            .unwrap();
        assert_eq!(restored.state_rows(), (0, 0));
        assert_eq!(drain(&mut out).1, vec![EventTime::MAX]);
    }

    #[test]
    fn outer_interval_joins_pad_unmatched_rows_when_the_watermark_passes() {
        // l.ts BETWEEN r.ts AND r.ts + 20 (a left row waits for right rows up to 20 ms older)
        let spec = spec(JoinKind::FullOuter, Some((0, 20)));
        let (l, r) = (
            Arc::clone(&spec.left_schema),
            Arc::clone(&spec.right_schema),
        );
        let mut join = StreamJoin::new(spec, &task()).unwrap();
        let at = |ms: i64| format!("1970-01-01T00:00:00.{ms:03}");
        let mut out = Output::default();
        join.process_batch_from(
            0,
            rows(
                &l,
                &[(Some(1), "a", 100), (Some(2), "b", 100), (None, "c", 100)],
            ),
            &mut out,
        )
        .unwrap();
        // A NULL key never matches: padded at once.
        assert_eq!(
            drain(&mut out).0,
            vec![format!("null,c,{}|null,null,null", at(100))]
        );
        join.process_batch_from(
            1,
            rows(&r, &[(Some(1), "x", 90), (Some(3), "y", 95)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![format!("1,a,{}|1,x,{}", at(100), at(90))]
        );
        // Left rows leave at their time (no right row newer than them can join);
        // right rows at their time + 20.
        join.process_watermark(99, &mut out).unwrap();
        assert!(drain(&mut out).0.is_empty());
        join.process_watermark(100, &mut out).unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![format!("2,b,{}|null,null,null", at(100))]
        );
        join.process_watermark(115, &mut out).unwrap();
        assert_eq!(
            drain(&mut out).0,
            vec![format!("null,null,null|3,y,{}", at(95))]
        );
        assert_eq!(
            join.state_rows(),
            (0, 0),
            "the matched right row left silently"
        );
    }

    #[test]
    fn outer_regular_joins_and_mismatched_keys_are_refused() {
        assert!(StreamJoin::new(spec(JoinKind::LeftOuter, None), &task()).is_err());
        let mut bad = spec(JoinKind::Inner, None);
        bad.right_keys = vec![Arc::new(Column::new("r_v", 1))];
        assert!(StreamJoin::new(bad, &task()).is_err());
    }
}
