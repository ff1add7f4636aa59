//! OVER aggregations in event time, as Flink runs them:
//!
//! ```sql
//! SELECT k, ts, AVG(v) OVER (PARTITION BY k ORDER BY ts
//!                            ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
//! ```
//!
//! Every input row comes out once, with the aggregates over its frame: the rows of its
//! partition up to it in rowtime order, bounded by a row count (`ROWS`) or a time range
//! (`RANGE`, whose rows of equal time are peers that see each other), or unbounded. A row is
//! emitted once the watermark has passed its time, so that the rows before it are all there;
//! rows already behind the watermark when they arrive are late and handled by the job's policy
//! (dropped or sent to the side output, and counted). The result is append-only.
//!
//! State per partition: the aggregates' accumulators and, for a bounded frame, the aggregates'
//! arguments of the rows still in it (to take them back out as the frame moves), row-encoded:
//! only what the aggregates read, not the whole input row, since a frame of a day over
//! five-minute windows holds 288 rows for every key. A checkpoint holds the rows not yet
//! emitted, the bounded frames' keys, times and arguments (added to fresh accumulators on
//! restore) and the unbounded accumulators' states.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};
use crate::window::{
    Aggregation, EvaluatedRows, LatePolicy, StateBatch, handle_late_rows, rowtime_values,
};

/// The rows an OVER aggregate covers, ending at the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`; `None` for `UNBOUNDED PRECEDING`.
    Rows(Option<u64>),
    /// `RANGE BETWEEN INTERVAL … PRECEDING AND CURRENT ROW`, in milliseconds; `None` for
    /// `UNBOUNDED PRECEDING`.
    Range(Option<i64>),
}

impl OverFrame {
    fn is_bounded(self) -> bool {
        matches!(self, OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_)))
    }
}

impl std::fmt::Display for OverFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverFrame::Rows(Some(n)) => write!(f, "ROWS {n} PRECEDING"),
            OverFrame::Rows(None) => write!(f, "ROWS UNBOUNDED PRECEDING"),
            OverFrame::Range(Some(ms)) => write!(f, "RANGE {ms} ms PRECEDING"),
            OverFrame::Range(None) => write!(f, "RANGE UNBOUNDED PRECEDING"),
        }
    }
}

/// Everything an OVER aggregation needs.
#[derive(Debug, Clone)]
pub struct OverConfig {
    /// The input column holding the rowtime rows are ordered by.
    pub rowtime_column: usize,
    /// The PARTITION BY keys and the aggregates, as a grouped aggregation has them.
    pub aggregation: Aggregation,
    /// The frame every aggregate covers.
    pub frame: OverFrame,
    /// What happens to late rows (allowed lateness does not apply: a row is emitted once).
    pub late: LatePolicy,
}

impl OverConfig {
    /// What the operator emits over `input`: its columns, then one per aggregate.
    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
        fields.extend(
            self.aggregation
                .aggregate_fields()
                .into_iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true))),
        );
        Arc::new(Schema::new(fields))
    }
}

/// A row still inside a bounded frame.
struct FrameRow {
    time: EventTime,
    /// Per aggregate, its arguments and, for one with a FILTER, whether the row passed it
    /// (the columns of [`FrameArgs`]).
    args: OwnedRow,
}

/// How a frame row's aggregate arguments are laid out as columns: per aggregate its argument
/// columns, then a BOOLEAN column for its FILTER if it has one.
struct FrameArgs {
    converter: RowConverter,
    fields: Vec<Arc<Field>>,
    /// Per aggregate: the range of its argument columns and its FILTER column.
    layout: Vec<(std::ops::Range<usize>, Option<usize>)>,
}

impl FrameArgs {
    /// The layout of `aggregation`'s arguments over rows of `input`.
    fn new(aggregation: &Aggregation, input: &SchemaRef) -> Result<Self> {
        let empty = aggregation.evaluate(&RecordBatch::new_empty(Arc::clone(input)))?;
        let mut fields = Vec::new();
        let mut layout = Vec::new();
        for (a, (values, mask)) in empty.args.iter().enumerate() {
            let start = fields.len();
            for (j, v) in values.iter().enumerate() {
                fields.push(Arc::new(Field::new(
                    format!("arg{a}_{j}"),
                    v.data_type().clone(),
                    true,
                )));
            }
            let range = start..fields.len();
            let filter = mask.as_ref().map(|_| {
                fields.push(Arc::new(Field::new(
                    format!("filter{a}"),
                    DataType::Boolean,
                    true,
                )));
                fields.len() - 1
            });
            layout.push((range, filter));
        }
        Ok(FrameArgs {
            converter: converter(&fields)?,
            fields,
            layout,
        })
    }

    /// `rows`' arguments, one encoded row each.
    fn encode(&self, rows: &EvaluatedRows) -> Result<Rows> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.fields.len());
        for (values, mask) in &rows.args {
            columns.extend(values.iter().cloned());
            if let Some(mask) = mask {
                columns.push(Arc::new(mask.clone()));
            }
        }
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// Per aggregate, the arguments of the rows among `columns` (decoded frame rows) that its
    /// FILTER let in.
    fn per_aggregate(&self, columns: &[ArrayRef]) -> Result<Vec<Vec<ArrayRef>>> {
        self.layout
            .iter()
            .map(|(range, mask)| {
                let values = &columns[range.clone()];
                match mask {
                    None => Ok(values.to_vec()),
                    Some(m) => {
                        // `filter` leaves a row out on a NULL, as on `false`.
                        let passed = columns[*m].as_boolean();
                        values
                            .iter()
                            .map(|v| filter(v.as_ref(), passed).map_err(EngineError::from))
                            .collect()
                    }
                }
            })
            .collect()
    }
}

/// One partition's state.
struct Partition {
    accumulators: Vec<Box<dyn Accumulator>>,
    frame: VecDeque<FrameRow>,
}

/// The OVER aggregation operator (one instance per key partition of the stage).
pub struct OverAggregate {
    task: TaskInfo,
    config: OverConfig,
    input: SchemaRef,
    output: SchemaRef,
    watermark: Option<EventTime>,
    /// Rows the watermark has not passed yet.
    pending: Vec<RecordBatch>,
    groups: Box<dyn GroupValues>,
    group_ids: Vec<usize>,
    /// The partition keys of every group, by group id (for checkpoints).
    keys: Vec<OwnedRow>,
    key_converter: RowConverter,
    frame_args: FrameArgs,
    /// The bounded frames' rows in a checkpoint: keys, time, arguments.
    frame_schema: SchemaRef,
    partitions: Vec<Partition>,
}

impl std::fmt::Debug for OverAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverAggregate")
            .field("task", &self.task.name)
            .field("frame", &self.config.frame)
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

fn converter(fields: &[Arc<Field>]) -> Result<RowConverter> {
    Ok(RowConverter::new(
        fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?)
}

impl OverAggregate {
    /// An OVER aggregation over rows of `input`.
    pub fn new(config: OverConfig, input: SchemaRef, task: &TaskInfo) -> Result<Self> {
        if config.rowtime_column >= input.fields().len() {
            return Err(EngineError::plan(
                "the OVER aggregation's rowtime column is not in its input",
            ));
        }
        if config.frame.is_bounded()
            && let Some(spec) = config
                .aggregation
                .aggregates()
                .iter()
                .find(|a| !supports_retract(&a.function))
        {
            return Err(EngineError::plan(format!(
                "{} cannot take rows back out, so it cannot aggregate over a bounded frame",
                spec.function.name()
            )));
        }
        let key_fields = config.aggregation.group_fields();
        let key_schema = Arc::new(Schema::new(key_fields.clone()));
        let frame_args = FrameArgs::new(&config.aggregation, &input)?;
        let frame_schema = Arc::new(Schema::new(
            key_fields
                .iter()
                .cloned()
                .chain([Arc::new(Field::new("rowtime", DataType::Int64, false))])
                .chain(frame_args.fields.iter().cloned())
                .collect::<Vec<_>>(),
        ));
        Ok(OverAggregate {
            output: config.output_schema(&input),
            groups: new_group_values(key_schema, &GroupOrdering::None)?,
            group_ids: Vec::new(),
            keys: Vec::new(),
            key_converter: converter(&key_fields)?,
            frame_args,
            frame_schema,
            partitions: Vec::new(),
            task: task.clone(),
            config,
            input,
            watermark: None,
            pending: Vec::new(),
        })
    }

    fn new_accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.config
            .aggregation
            .aggregates()
            .iter()
            .map(|a| {
                Ok(if self.config.frame.is_bounded() {
                    a.function.create_sliding_accumulator()?
                } else {
                    a.function.create_accumulator()?
                })
            })
            .collect()
    }

    /// Group ids of `keys`, making partitions for new ones.
    fn intern(&mut self, keys: &[ArrayRef]) -> Result<Vec<usize>> {
        let before = self.groups.len();
        self.groups.intern(keys, &mut self.group_ids)?;
        if self.groups.len() > before {
            let rows = self.key_converter.convert_columns(keys)?;
            let mut next = before;
            for (i, &g) in self.group_ids.iter().enumerate() {
                if g == next {
                    self.keys.push(rows.row(i).owned());
                    next += 1;
                }
            }
            for _ in before..self.groups.len() {
                let accumulators = self.new_accumulators()?;
                self.partitions.push(Partition {
                    accumulators,
                    frame: VecDeque::new(),
                });
            }
        }
        Ok(self.group_ids.clone())
    }

    /// Emits, in time order per partition, the pending rows at or before `limit`.
    fn fire(&mut self, limit: Option<EventTime>, out: &mut Output) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let all = concat_batches(&self.input, &self.pending)?;
        self.pending.clear();
        let times = rowtime_values(&all, self.config.rowtime_column)?;
        let (ready, rest) = match limit {
            None => (all, None),
            Some(limit) => {
                let due = BooleanArray::from_iter(times.iter().map(|&t| Some(t <= limit)));
                let later = arrow::compute::not(&due)?;
                (
                    filter_record_batch(&all, &due)?,
                    Some(filter_record_batch(&all, &later)?),
                )
            }
        };
        if let Some(rest) = rest.filter(|r| r.num_rows() > 0) {
            self.pending.push(rest);
        }
        if let Some(batch) = self.aggregate(ready)? {
            out.data(batch);
        }
        Ok(())
    }

    /// Runs `rows` through their partitions' frames in time order and returns them with their
    /// aggregates.
    fn aggregate(&mut self, rows: RecordBatch) -> Result<Option<RecordBatch>> {
        if rows.num_rows() == 0 {
            return Ok(None);
        }
        let evaluated = self.config.aggregation.evaluate(&rows)?;
        let groups = self.intern(&evaluated.keys)?;
        let times = rowtime_values(&rows, self.config.rowtime_column)?;
        // By partition, then time; rows of equal time keep their arrival order.
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        order.sort_by_key(|&i| (groups[i as usize], times[i as usize]));
        let indices = UInt32Array::from(order.clone());
        let rows = take_record_batch(&rows, &indices)?;
        let evaluated = evaluated.take(&indices)?;
        let groups: Vec<usize> = order.iter().map(|&i| groups[i as usize]).collect();
        let times: Vec<EventTime> = order.iter().map(|&i| times[i as usize]).collect();
        let frame_rows = if self.config.frame.is_bounded() {
            Some(self.frame_args.encode(&evaluated)?)
        } else {
            None
        };

        let aggregates = self.config.aggregation.aggregates().len();
        let mut results: Vec<Vec<ScalarValue>> =
            vec![Vec::with_capacity(rows.num_rows()); aggregates];
        let mut start = 0;
        while start < rows.num_rows() {
            // A run of rows of one partition and one time: peers.
            let mut end = start + 1;
            while end < rows.num_rows()
                && groups[end] == groups[start]
                && times[end] == times[start]
            {
                end += 1;
            }
            let (partition, time) = (&mut self.partitions[groups[start]], times[start]);
            let peers_see_each_other = matches!(self.config.frame, OverFrame::Range(_));
            for i in start..end {
                let taken = add_row(partition, &evaluated, i)?;
                // A row that no aggregate's FILTER let in leaves nothing to take back out of a
                // time range, so only a frame of rows (which counts it) keeps it.
                let kept = taken || matches!(self.config.frame, OverFrame::Rows(_));
                if let Some(frame_rows) = frame_rows.as_ref().filter(|_| kept) {
                    partition.frame.push_back(FrameRow {
                        time,
                        args: frame_rows.row(i).owned(),
                    });
                }
                if !peers_see_each_other {
                    evict(partition, &self.frame_args, self.config.frame, time)?;
                    for (a, acc) in partition.accumulators.iter_mut().enumerate() {
                        results[a].push(acc.evaluate()?);
                    }
                }
            }
            if peers_see_each_other {
                evict(partition, &self.frame_args, self.config.frame, time)?;
                for (a, acc) in partition.accumulators.iter_mut().enumerate() {
                    let value = acc.evaluate()?;
                    results[a].extend(std::iter::repeat_n(value, end - start));
                }
            }
            start = end;
        }
        let mut columns = rows.columns().to_vec();
        for (values, field) in results
            .into_iter()
            .zip(self.output.fields().iter().skip(rows.num_columns()))
        {
            let array = ScalarValue::iter_to_array(values)?;
            columns.push(if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            });
        }
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.output),
            columns,
        )?))
    }

    /// The bounded frames' rows as a checkpoint holds them: key columns, time, arguments.
    fn frame_batch(&self) -> Result<RecordBatch> {
        let rows: Vec<(usize, &FrameRow)> = self
            .partitions
            .iter()
            .enumerate()
            .flat_map(|(p, partition)| partition.frame.iter().map(move |r| (p, r)))
            .collect();
        if rows.is_empty() {
            return Ok(RecordBatch::new_empty(Arc::clone(&self.frame_schema)));
        }
        let mut columns = self
            .key_converter
            .convert_rows(rows.iter().map(|(p, _)| self.keys[*p].row()))?;
        columns.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(_, r)| r.time),
        )));
        columns.extend(
            self.frame_args
                .converter
                .convert_rows(rows.iter().map(|(_, r)| r.args.row()))?,
        );
        Ok(RecordBatch::try_new(
            Arc::clone(&self.frame_schema),
            columns,
        )?)
    }

    /// Puts a checkpoint's frame rows back into their partitions and accumulators.
    fn restore_frames(&mut self, frames: &RecordBatch) -> Result<()> {
        if frames.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.config.aggregation.group_fields().len();
        let groups = self.intern(&frames.columns()[..keys])?;
        let times = frames
            .column(keys)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let arg_columns = &frames.columns()[keys + 1..];
        let encoded = self.frame_args.converter.convert_columns(arg_columns)?;
        for (i, &g) in groups.iter().enumerate() {
            let one: Vec<ArrayRef> = arg_columns.iter().map(|c| c.slice(i, 1)).collect();
            let partition = &mut self.partitions[g];
            for (acc, args) in partition
                .accumulators
                .iter_mut()
                .zip(self.frame_args.per_aggregate(&one)?)
            {
                if args.first().is_some_and(|a| !a.is_empty()) {
                    acc.update_batch(&args)?;
                }
            }
            partition.frame.push_back(FrameRow {
                time: times.value(i),
                args: encoded.row(i).owned(),
            });
        }
        Ok(())
    }
}

/// Whether the aggregate can take rows back out of its accumulator.
fn supports_retract(
    function: &datafusion::physical_expr::aggregate::AggregateFunctionExpr,
) -> bool {
    function
        .create_sliding_accumulator()
        .is_ok_and(|a| a.supports_retract_batch())
}

/// Adds row `i` to the partition's accumulators; whether any aggregate's FILTER let it in.
fn add_row(partition: &mut Partition, rows: &EvaluatedRows, i: usize) -> Result<bool> {
    let mut taken = false;
    for (acc, (values, mask)) in partition.accumulators.iter_mut().zip(&rows.args) {
        if mask.as_ref().is_some_and(|m| !m.is_valid(i) || !m.value(i)) {
            continue;
        }
        let slice: Vec<ArrayRef> = values.iter().map(|v| v.slice(i, 1)).collect();
        acc.update_batch(&slice)?;
        taken = true;
    }
    Ok(taken)
}

/// Takes the rows that left a bounded frame ending at a row of time `now` back out.
fn evict(
    partition: &mut Partition,
    frame_args: &FrameArgs,
    frame: OverFrame,
    now: EventTime,
) -> Result<()> {
    let mut leaving = 0;
    for (i, row) in partition.frame.iter().enumerate() {
        let leaves = match frame {
            OverFrame::Rows(Some(n)) => (partition.frame.len() - i) as u64 > n + 1,
            OverFrame::Range(Some(ms)) => row.time < now.saturating_sub(ms),
            _ => false,
        };
        if !leaves {
            break;
        }
        leaving += 1;
    }
    if leaving == 0 {
        return Ok(());
    }
    let left: Vec<FrameRow> = partition.frame.drain(..leaving).collect();
    let columns = frame_args
        .converter
        .convert_rows(left.iter().map(|r| r.args.row()))?;
    for (acc, args) in partition
        .accumulators
        .iter_mut()
        .zip(frame_args.per_aggregate(&columns)?)
    {
        if args.first().is_some_and(|a| !a.is_empty()) {
            acc.retract_batch(&args)?;
        }
    }
    Ok(())
}

impl Operator for OverAggregate {
    fn name(&self) -> String {
        format!("over aggregate ({})", self.config.frame)
    }

    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Output) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(watermark) = self.watermark else {
            self.pending.push(batch);
            return Ok(());
        };
        let times = rowtime_values(&batch, self.config.rowtime_column)?;
        if times.iter().all(|&t| t > watermark) {
            self.pending.push(batch);
            return Ok(());
        }
        let on_time = BooleanArray::from_iter(times.iter().map(|&t| Some(t > watermark)));
        let late = filter_record_batch(&batch, &arrow::compute::not(&on_time)?)?;
        handle_late_rows(
            &self.task,
            self.config.late,
            &late,
            "row behind the watermark at an OVER aggregation",
        )?;
        let on_time = filter_record_batch(&batch, &on_time)?;
        if on_time.num_rows() > 0 {
            self.pending.push(on_time);
        }
        Ok(())
    }

    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        if self.watermark.is_some_and(|w| w >= wm) {
            return Ok(());
        }
        self.watermark = Some(wm);
        self.fire(Some(wm), out)?;
        out.watermark(wm);
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> Result<()> {
        self.fire(None, out)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let mut state = StateWriter::new();
        state.i64(self.watermark.unwrap_or(i64::MIN));
        state.batch(&concat_batches(&self.input, &self.pending)?)?;
        // Bounded frames: their rows' keys, times and arguments, oldest first per partition.
        state.batch(&self.frame_batch()?)?;
        // Unbounded frames: the accumulators.
        if !self.config.frame.is_bounded() {
            let keys = self
                .key_converter
                .convert_rows(self.keys.iter().map(|k| k.row()))?;
            let mut states = Vec::new();
            for a in 0..self.config.aggregation.aggregates().len() {
                let mut per_field: Vec<Vec<ScalarValue>> = Vec::new();
                for partition in &mut self.partitions {
                    let values = partition.accumulators[a].state()?;
                    per_field.resize_with(values.len(), Vec::new);
                    for (j, v) in values.into_iter().enumerate() {
                        per_field[j].push(v);
                    }
                }
                states.push(
                    per_field
                        .into_iter()
                        .map(|v| ScalarValue::iter_to_array(v).map_err(EngineError::from))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            let encoded = if self.partitions.is_empty() {
                Vec::new()
            } else {
                self.config
                    .aggregation
                    .encode(&StateBatch { keys, states })?
            };
            state.bytes(&encoded);
        }
        Ok(state.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = state else { return Ok(()) };
        let task = self.task.name.clone();
        let mut reader = StateReader::new(bytes, &task);
        let watermark = reader.i64()?;
        self.watermark = (watermark != i64::MIN).then_some(watermark);
        let pending = reader.batch(&self.input)?;
        let frames = reader.batch(&self.frame_schema)?;
        self.restore_frames(&frames)?;
        if !self.config.frame.is_bounded() {
            let encoded = reader.bytes()?;
            if !encoded.is_empty() {
                let stored = self.config.aggregation.decode(encoded)?;
                let groups = self.intern(&stored.keys)?;
                for (a, states) in stored.states.iter().enumerate() {
                    for (row, &g) in groups.iter().enumerate() {
                        let one: Vec<ArrayRef> = states.iter().map(|s| s.slice(row, 1)).collect();
                        self.partitions[g].accumulators[a].merge_batch(&one)?;
                    }
                }
            }
        }
        if pending.num_rows() > 0 {
            self.pending.push(pending);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::operator::Emitted;
    use crate::side_output::SideOutputs;
    use crate::window::AggregateSpec;
    use arrow::array::{AsArray, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
    use datafusion::functions_aggregate::average::avg_udaf;
    use datafusion::functions_aggregate::count::count_udaf;
    use datafusion::functions_aggregate::min_max::max_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::{cast, col};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    fn task() -> TaskInfo {
        TaskInfo {
            name: "over[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: SideOutputs::default(),
            metrics: Arc::new(TaskMetrics::new()),
        }
    }

    fn operator(frame: OverFrame) -> OverAggregate {
        let schema = schema();
        let v = col("v", &schema).unwrap();
        let v_double = cast(Arc::clone(&v), &schema, DataType::Float64).unwrap();
        let spec = |udaf, arg: &Arc<dyn datafusion::physical_expr::PhysicalExpr>, alias: &str| {
            AggregateSpec {
                function: Arc::new(
                    AggregateExprBuilder::new(udaf, vec![Arc::clone(arg)])
                        .schema(Arc::clone(&schema))
                        .alias(alias)
                        .build()
                        .unwrap(),
                ),
                filter: None,
            }
        };
        let aggregation = Aggregation::new(
            &schema,
            vec![col("k", &schema).unwrap()],
            vec!["k".into()],
            vec![
                spec(count_udaf(), &v, "n"),
                spec(max_udaf(), &v, "most"),
                spec(avg_udaf(), &v_double, "mean"),
            ],
        )
        .unwrap();
        let config = OverConfig {
            rowtime_column: 1,
            aggregation,
            frame,
            late: LatePolicy::Drop,
        };
        OverAggregate::new(config, schema, &task()).unwrap()
    }

    fn batch(rows: &[(&str, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// The data batches emitted so far.
    fn emitted(out: &mut Output) -> Vec<RecordBatch> {
        out.take()
            .into_iter()
            .filter_map(|item| match item {
                Emitted::Data(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// Emitted rows as `k ts v | count max avg`.
    fn rows(out: &mut Output) -> Vec<String> {
        let mut lines = Vec::new();
        for b in emitted(out) {
            let k = b.column(0).as_string::<i32>();
            let ts = b
                .column(1)
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            let v = b.column(2).as_primitive::<Int64Type>();
            let n = b.column(3).as_primitive::<Int64Type>();
            let most = b.column(4).as_primitive::<Int64Type>();
            let mean = b.column(5).as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                lines.push(format!(
                    "{} {} {} | {} {} {}",
                    k.value(i),
                    ts.value(i),
                    v.value(i),
                    n.value(i),
                    most.value(i),
                    mean.value(i)
                ));
            }
        }
        lines
    }

    #[test]
    fn rows_frame_moves_row_by_row_in_time_order() {
        let mut op = operator(OverFrame::Rows(Some(1)));
        let mut out = Output::default();
        // Out of order within the watermark's bound, two partitions.
        op.process_batch(batch(&[("a", 30, 3), ("a", 10, 1), ("b", 10, 7)]), &mut out)
            .unwrap();
        op.process_batch(batch(&[("a", 20, 2), ("a", 40, 4)]), &mut out)
            .unwrap();
        assert!(rows(&mut out).is_empty(), "nothing before a watermark");
        op.process_watermark(30, &mut out).unwrap();
        assert_eq!(
            rows(&mut out),
            [
                "a 10 1 | 1 1 1",
                "a 20 2 | 2 2 1.5",
                "a 30 3 | 2 3 2.5",
                "b 10 7 | 1 7 7"
            ]
        );
        op.finish(&mut out).unwrap();
        assert_eq!(rows(&mut out), ["a 40 4 | 2 4 3.5"]);
    }

    #[test]
    fn range_frame_has_peers_and_drops_late_rows() {
        let mut op = operator(OverFrame::Range(Some(10)));
        let mut out = Output::default();
        op.process_batch(
            batch(&[("a", 0, 5), ("a", 10, 1), ("a", 10, 2), ("a", 25, 9)]),
            &mut out,
        )
        .unwrap();
        op.process_watermark(25, &mut out).unwrap();
        // At 10 both peers see each other and the row at 0 (10 - 10 = 0 is in the range); at
        // 25 the range starts at 15, so only the row itself is left.
        assert_eq!(
            rows(&mut out),
            [
                "a 0 5 | 1 5 5",
                "a 10 1 | 3 5 2.6666666666666665",
                "a 10 2 | 3 5 2.6666666666666665",
                "a 25 9 | 1 9 9"
            ]
        );
        op.process_batch(batch(&[("a", 20, 100)]), &mut out)
            .unwrap();
        op.finish(&mut out).unwrap();
        assert!(rows(&mut out).is_empty());
        assert_eq!(TaskMetrics::get(&op.task.metrics.late_events), 1);
    }

    #[test]
    fn unbounded_frame_survives_a_checkpoint() {
        let mut op = operator(OverFrame::Rows(None));
        let mut out = Output::default();
        op.process_batch(batch(&[("a", 1, 4), ("a", 2, 6), ("a", 9, 1)]), &mut out)
            .unwrap();
        op.process_watermark(5, &mut out).unwrap();
        assert_eq!(rows(&mut out), ["a 1 4 | 1 4 4", "a 2 6 | 2 6 5"]);
        let state = op.snapshot(1).unwrap();
        let mut restored = operator(OverFrame::Rows(None));
        restored.restore(Some(&state)).unwrap();
        restored.finish(&mut out).unwrap();
        assert_eq!(rows(&mut out), ["a 9 1 | 3 6 3.6666666666666665"]);
        assert!(restored.restore(Some(b"garbage")).is_err());
    }

    #[test]
    fn bounded_frame_survives_a_checkpoint() {
        let mut op = operator(OverFrame::Rows(Some(2)));
        let mut out = Output::default();
        op.process_batch(
            batch(&[("a", 1, 10), ("a", 2, 20), ("a", 3, 30), ("a", 8, 1)]),
            &mut out,
        )
        .unwrap();
        op.process_watermark(5, &mut out).unwrap();
        rows(&mut out);
        let state = op.snapshot(1).unwrap();
        let mut restored = operator(OverFrame::Rows(Some(2)));
        restored.restore(Some(&state)).unwrap();
        restored.finish(&mut out).unwrap();
        // The frame of the row at 8 is it and the two before: 20 and 30.
        assert_eq!(rows(&mut out), ["a 8 1 | 3 30 17"]);
    }

    /// `COUNT(v)` (with `count`) and `SUM(v) FILTER (WHERE v > 5)` over a 10 ms range.
    fn filtered_operator(count: bool) -> OverAggregate {
        let schema = schema();
        let v = col("v", &schema).unwrap();
        let function = |udaf, alias: &str| {
            Arc::new(
                AggregateExprBuilder::new(udaf, vec![Arc::clone(&v)])
                    .schema(Arc::clone(&schema))
                    .alias(alias)
                    .build()
                    .unwrap(),
            )
        };
        let over_five = Arc::new(datafusion::physical_expr::expressions::BinaryExpr::new(
            Arc::clone(&v),
            datafusion::logical_expr::Operator::Gt,
            datafusion::physical_expr::expressions::lit(5i64),
        ));
        let aggregation = Aggregation::new(
            &schema,
            vec![col("k", &schema).unwrap()],
            vec!["k".into()],
            [
                AggregateSpec {
                    function: function(count_udaf(), "n"),
                    filter: None,
                },
                AggregateSpec {
                    function: function(datafusion::functions_aggregate::sum::sum_udaf(), "big"),
                    filter: Some(over_five),
                },
            ]
            .into_iter()
            .skip(usize::from(!count))
            .collect(),
        )
        .unwrap();
        let config = OverConfig {
            rowtime_column: 1,
            aggregation,
            frame: OverFrame::Range(Some(10)),
            late: LatePolicy::Drop,
        };
        OverAggregate::new(config, schema, &task()).unwrap()
    }

    /// Emitted rows as `k ts | aggregates…`, for integer aggregates (NULL as `null`).
    fn filtered_rows(out: &mut Output) -> Vec<String> {
        let mut lines = Vec::new();
        for b in emitted(out) {
            let k = b.column(0).as_string::<i32>();
            let ts = b
                .column(1)
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            let aggregates: Vec<_> = (3..b.num_columns())
                .map(|c| b.column(c).as_primitive::<Int64Type>())
                .collect();
            for i in 0..b.num_rows() {
                let values: Vec<String> = aggregates
                    .iter()
                    .map(|a| a.is_valid(i).then(|| a.value(i).to_string()))
                    .map(|v| v.unwrap_or_else(|| "null".into()))
                    .collect();
                lines.push(format!(
                    "{} {} | {}",
                    k.value(i),
                    ts.value(i),
                    values.join(" ")
                ));
            }
        }
        lines
    }

    #[test]
    fn filtered_range_frames_of_two_keys_survive_a_checkpoint() {
        let mut op = filtered_operator(true);
        let mut out = Output::default();
        op.process_batch(
            batch(&[("a", 0, 3), ("a", 5, 8), ("a", 9, 20), ("b", 2, 7)]),
            &mut out,
        )
        .unwrap();
        op.process_watermark(9, &mut out).unwrap();
        assert_eq!(
            filtered_rows(&mut out),
            ["a 0 | 1 null", "a 5 | 2 8", "a 9 | 3 28", "b 2 | 1 7"]
        );
        let state = op.snapshot(1).unwrap();
        let mut restored = filtered_operator(true);
        restored.restore(Some(&state)).unwrap();
        restored
            .process_batch(batch(&[("a", 14, 1), ("b", 30, 6)]), &mut out)
            .unwrap();
        restored.finish(&mut out).unwrap();
        // At 14 the row at 0 (filtered out of the sum) has left a's frame; at 30 the row at 2
        // (in the sum) has left b's. Each comes back out of the restored accumulators.
        assert_eq!(filtered_rows(&mut out), ["a 14 | 3 28", "b 30 | 1 6"]);
        // The restored operator checkpoints the same frames it was given.
        let mut again = filtered_operator(true);
        again.restore(Some(&state)).unwrap();
        assert_eq!(again.snapshot(2).unwrap(), state);
    }

    #[test]
    fn a_range_frame_keeps_only_rows_a_filter_lets_in() {
        let mut op = filtered_operator(false);
        let mut out = Output::default();
        op.process_batch(
            batch(&[
                ("a", 0, 3),
                ("a", 5, 8),
                ("a", 9, 20),
                ("a", 12, 1),
                ("a", 16, 6),
            ]),
            &mut out,
        )
        .unwrap();
        op.finish(&mut out).unwrap();
        // At 16 the range starts at 6: 8 has left, 20 and 6 are in.
        assert_eq!(
            filtered_rows(&mut out),
            [
                "a 0 | null",
                "a 5 | 8",
                "a 9 | 28",
                "a 12 | 28",
                "a 16 | 26"
            ]
        );
        // Of the rows in a's frame at 16 (9, 12 and 16), only 20 and 6 passed the filter.
        assert_eq!(op.partitions[0].frame.len(), 2);
    }
}
