//! Grouped aggregation state: DataFusion's group-value interning and `GroupsAccumulator`s,
//! plus a portable form of that state for merging slices and writing checkpoints.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::error::{EngineError, Result};

/// Name of the constant grouping column of an aggregation without keys.
const GLOBAL_KEY: &str = "__global";

/// One aggregate of a grouped aggregation: a DataFusion aggregate function and an optional
/// `FILTER (WHERE …)` predicate.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    /// The aggregate function with its argument expressions and output name.
    pub function: Arc<AggregateFunctionExpr>,
    /// Rows for which this predicate is not true are not aggregated.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

impl AggregateSpec {
    fn new_accumulator(&self) -> Result<Box<dyn GroupsAccumulator>> {
        if self.function.groups_accumulator_supported() {
            return Ok(self.function.create_groups_accumulator()?);
        }
        let function = Arc::clone(&self.function);
        Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
            function.create_accumulator()
        })))
    }
}

/// The shape of a grouped aggregation: key expressions and aggregates, with the schemas
/// derived from them.
#[derive(Debug, Clone)]
pub struct Aggregation {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The schema of the grouping columns as the state holds them.
    key_schema: SchemaRef,
    /// No grouping keys: DataFusion's group-value interning needs at least one column, so the
    /// state groups by one constant column that the output leaves out.
    global: bool,
    aggregates: Vec<AggregateSpec>,
    state_schema: SchemaRef,
    state_widths: Vec<usize>,
}

/// Key columns and aggregate inputs evaluated over one batch.
#[derive(Debug, Clone)]
pub struct EvaluatedRows {
    /// One array per key expression.
    pub keys: Vec<ArrayRef>,
    /// Per aggregate: its argument arrays and its filter (if any).
    pub args: Vec<(Vec<ArrayRef>, Option<BooleanArray>)>,
}

impl EvaluatedRows {
    /// Selects rows by index from every column.
    pub fn take(&self, indices: &arrow::array::UInt32Array) -> Result<EvaluatedRows> {
        let take = |a: &ArrayRef| arrow::compute::take(a.as_ref(), indices, None);
        let keys = self.keys.iter().map(take).collect::<Result<_, _>>()?;
        let mut args = Vec::with_capacity(self.args.len());
        for (values, filter) in &self.args {
            let values = values.iter().map(take).collect::<Result<_, _>>()?;
            let filter = match filter {
                Some(f) => Some(arrow::compute::take(f, indices, None)?),
                None => None,
            };
            let filter = filter.map(|f| {
                f.as_any()
                    .downcast_ref::<BooleanArray>()
                    .expect("take of a boolean array is boolean")
                    .clone()
            });
            args.push((values, filter));
        }
        Ok(EvaluatedRows { keys, args })
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.keys.first().map_or(0, |k| k.len())
    }
}

impl Aggregation {
    /// Describes an aggregation of `aggregates` grouped by `keys` over rows of `input`.
    /// `key_names` name the key columns in the output.
    pub fn new(
        input: &Schema,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        key_names: Vec<String>,
        aggregates: Vec<AggregateSpec>,
    ) -> Result<Self> {
        if keys.len() != key_names.len() {
            return Err(EngineError::plan("one name is needed per grouping key"));
        }
        let global = keys.is_empty();
        let (keys, key_names) = if global {
            let constant: Arc<dyn PhysicalExpr> =
                Arc::new(Literal::new(ScalarValue::Boolean(Some(true))));
            (vec![constant], vec![GLOBAL_KEY.to_string()])
        } else {
            (keys, key_names)
        };
        let mut key_fields = Vec::with_capacity(keys.len());
        for (expr, name) in keys.iter().zip(&key_names) {
            key_fields.push(Field::new(
                name,
                expr.data_type(input)?,
                expr.nullable(input)?,
            ));
        }
        let key_schema = Arc::new(Schema::new(key_fields.clone()));
        let mut state_fields = key_fields;
        let mut state_widths = Vec::with_capacity(aggregates.len());
        for (i, agg) in aggregates.iter().enumerate() {
            let fields = agg.function.state_fields()?;
            state_widths.push(fields.len());
            for (j, f) in fields.iter().enumerate() {
                state_fields.push(
                    f.as_ref()
                        .clone()
                        .with_name(format!("a{i}_s{j}"))
                        .with_nullable(true),
                );
            }
        }
        Ok(Aggregation {
            keys,
            key_schema,
            global,
            aggregates,
            state_schema: Arc::new(Schema::new(state_fields)),
            state_widths,
        })
    }

    /// The same aggregates grouped by other keys (evaluated over `input`).
    pub fn with_keys(
        &self,
        input: &Schema,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        key_names: Vec<String>,
    ) -> Result<Aggregation> {
        Aggregation::new(input, keys, key_names, self.aggregates.clone())
    }

    /// The key columns' fields, in order.
    pub fn key_fields(&self) -> Vec<Arc<Field>> {
        if self.global {
            return Vec::new();
        }
        self.key_schema.fields().iter().cloned().collect()
    }

    /// The grouping columns as the state holds them (with the constant column of an
    /// aggregation without keys).
    pub(crate) fn group_fields(&self) -> Vec<Arc<Field>> {
        self.key_schema.fields().iter().cloned().collect()
    }

    /// The key columns to output, from grouping columns as the state holds them.
    pub(crate) fn output_keys(&self, keys: Vec<ArrayRef>) -> Vec<ArrayRef> {
        if self.global { Vec::new() } else { keys }
    }

    /// The aggregates, in order.
    pub fn aggregates(&self) -> &[AggregateSpec] {
        &self.aggregates
    }

    /// The aggregates' output fields, in order.
    pub fn aggregate_fields(&self) -> Vec<Arc<Field>> {
        self.aggregates.iter().map(|a| a.function.field()).collect()
    }

    /// Evaluates key and argument expressions over `batch`.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<EvaluatedRows> {
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut args = Vec::with_capacity(self.aggregates.len());
        for agg in &self.aggregates {
            let values = agg
                .function
                .expressions()
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
                .collect::<Result<Vec<_>, _>>()?;
            let filter = match &agg.filter {
                Some(f) => {
                    let a = f.evaluate(batch)?.into_array(batch.num_rows())?;
                    let b = a.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
                        EngineError::plan(format!(
                            "FILTER of {} is {}, not BOOLEAN",
                            agg.function.name(),
                            a.data_type()
                        ))
                    })?;
                    Some(b.clone())
                }
                None => None,
            };
            args.push((values, filter));
        }
        Ok(EvaluatedRows { keys, args })
    }

    /// Fresh, empty grouped state.
    pub fn new_state(&self) -> Result<GroupedState> {
        Ok(GroupedState {
            groups: new_group_values(Arc::clone(&self.key_schema), &GroupOrdering::None)?,
            key_schema: Arc::clone(&self.key_schema),
            accumulators: self
                .aggregates
                .iter()
                .map(AggregateSpec::new_accumulator)
                .collect::<Result<_>>()?,
            scratch: Vec::new(),
        })
    }

    /// Encodes portable state as Arrow IPC bytes.
    pub fn encode(&self, state: &StateBatch) -> Result<Vec<u8>> {
        let batch = match state.columns() {
            columns if columns.is_empty() => RecordBatch::new_empty(Arc::clone(&self.state_schema)),
            columns => RecordBatch::try_new(Arc::clone(&self.state_schema), columns)?,
        };
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new(&mut out, &self.state_schema)?;
        w.write(&batch)?;
        w.finish()?;
        drop(w);
        Ok(out)
    }

    /// Decodes state written by [`Aggregation::encode`].
    pub fn decode(&self, bytes: &[u8]) -> Result<StateBatch> {
        let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
        if reader.schema().fields() != self.state_schema.fields() {
            return Err(EngineError::CorruptState {
                task: "window aggregate".into(),
                reason: format!(
                    "stored state has schema {:?}, the job expects {:?}",
                    reader.schema(),
                    self.state_schema
                ),
            });
        }
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        let batch = arrow::compute::concat_batches(&self.state_schema, &batches)?;
        Ok(self.split_state(batch.columns()))
    }

    /// Portable state from its columns: the grouping columns, then each aggregate's.
    fn split_state(&self, columns: &[ArrayRef]) -> StateBatch {
        let nk = self.key_schema.fields().len();
        let keys = columns[..nk].to_vec();
        let mut states = Vec::with_capacity(self.state_widths.len());
        let mut at = nk;
        for w in &self.state_widths {
            states.push(columns[at..at + w].to_vec());
            at += w;
        }
        StateBatch { keys, states }
    }

    /// The rows a local (first-phase) aggregation sends to the global one: a
    /// `__slice` column (the slice's start, the rows' time), the grouping columns,
    /// then the aggregates' intermediate state.
    pub fn partial_schema(&self) -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let mut fields = vec![Arc::new(Field::new(PARTIAL_SLICE, ts, false))];
        fields.extend(self.state_schema.fields().iter().cloned());
        Arc::new(Schema::new(fields))
    }

    /// The grouping columns of [`Aggregation::partial_schema`] rows to hash them by: none for
    /// an aggregation without keys.
    pub fn partial_keys(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        if self.global {
            return Vec::new();
        }
        self.key_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Arc::new(Column::new(f.name(), 1 + i)) as Arc<dyn PhysicalExpr>)
            .collect()
    }

    /// Partial aggregates of the slice starting at `slice_start` as rows of
    /// [`Aggregation::partial_schema`].
    pub(crate) fn partial_batch(&self, slice_start: i64, state: StateBatch) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(TimestampMillisecondArray::from_value(
            slice_start,
            state.len(),
        ))];
        columns.extend(state.columns());
        Ok(RecordBatch::try_new(self.partial_schema(), columns)?)
    }

    /// The partial aggregates of rows of [`Aggregation::partial_schema`].
    pub(crate) fn partial_state(&self, batch: &RecordBatch) -> Result<StateBatch> {
        if batch.schema().fields().len() != 1 + self.state_schema.fields().len() {
            return Err(EngineError::plan(format!(
                "partial aggregates have {} columns, {} expected",
                batch.num_columns(),
                1 + self.state_schema.fields().len()
            )));
        }
        Ok(self.split_state(&batch.columns()[1..]))
    }
}

/// The slice column of partial aggregates ([`Aggregation::partial_schema`]).
const PARTIAL_SLICE: &str = "__slice";

/// Live grouped state: interned keys and one accumulator per aggregate.
pub struct GroupedState {
    groups: Box<dyn GroupValues>,
    key_schema: SchemaRef,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    scratch: Vec<usize>,
}

impl std::fmt::Debug for GroupedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupedState")
            .field("groups", &self.groups.len())
            .finish()
    }
}

/// Grouped state in portable form: the key columns and, per aggregate, its state columns.
#[derive(Debug, Clone)]
pub struct StateBatch {
    /// One array per grouping key.
    pub keys: Vec<ArrayRef>,
    /// Per aggregate, its intermediate state arrays (as DataFusion's `state()` gives them).
    pub states: Vec<Vec<ArrayRef>>,
}

impl StateBatch {
    /// Number of groups.
    pub fn len(&self) -> usize {
        self.keys.first().map_or(0, |k| k.len())
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The groups at `indices`.
    pub fn take(&self, indices: &UInt32Array) -> Result<StateBatch> {
        let take = |a: &ArrayRef| arrow::compute::take(a.as_ref(), indices, None);
        Ok(StateBatch {
            keys: self.keys.iter().map(take).collect::<Result<_, _>>()?,
            states: self
                .states
                .iter()
                .map(|s| s.iter().map(take).collect::<Result<_, _>>())
                .collect::<Result<_, _>>()?,
        })
    }

    /// The grouping columns, then each aggregate's state columns.
    fn columns(&self) -> Vec<ArrayRef> {
        let mut columns = self.keys.clone();
        for s in &self.states {
            columns.extend(s.iter().cloned());
        }
        columns
    }
}

impl GroupedState {
    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds rows.
    pub fn update(&mut self, rows: &EvaluatedRows) -> Result<()> {
        self.groups.intern(&rows.keys, &mut self.scratch)?;
        let n = self.groups.len();
        for (acc, (values, filter)) in self.accumulators.iter_mut().zip(&rows.args) {
            acc.update_batch(values, &self.scratch, filter.as_ref(), n)?;
        }
        Ok(())
    }

    /// Merges portable state (of the same aggregation) into this one.
    pub fn merge(&mut self, part: &StateBatch) -> Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        self.groups.intern(&part.keys, &mut self.scratch)?;
        let n = self.groups.len();
        for (acc, state) in self.accumulators.iter_mut().zip(&part.states) {
            acc.merge_batch(state, &self.scratch, n)?;
        }
        Ok(())
    }

    /// Emits every key, leaving a fresh key table: DataFusion's multi-column group values
    /// are not safe to intern into again after `EmitTo::All` (a later string key indexes past
    /// its emptied buffers), so they are replaced rather than reused.
    fn emit_keys(&mut self) -> Result<Vec<ArrayRef>> {
        let keys = self.groups.emit(EmitTo::All)?;
        self.groups = new_group_values(Arc::clone(&self.key_schema), &GroupOrdering::None)?;
        Ok(keys)
    }

    /// Takes all state out in portable form, leaving this empty.
    pub fn take_state(&mut self) -> Result<StateBatch> {
        let keys = self.emit_keys()?;
        let states = self
            .accumulators
            .iter_mut()
            .map(|a| a.state(EmitTo::All))
            .collect::<Result<_, _>>()?;
        Ok(StateBatch { keys, states })
    }

    /// Copies all state out in portable form, keeping it here too.
    pub fn copy_state(&mut self) -> Result<StateBatch> {
        let state = self.take_state()?;
        self.merge(&state)?;
        Ok(state)
    }

    /// Computes final results, leaving this empty: the key columns and one array per aggregate.
    pub fn evaluate(&mut self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        let keys = self.emit_keys()?;
        let values = self
            .accumulators
            .iter_mut()
            .map(|a| a.evaluate(EmitTo::All))
            .collect::<Result<_, _>>()?;
        Ok((keys, values))
    }
}
