//! Unbounded grouped aggregation (`GROUP BY` without a window): an updating result, emitted as
//! a changelog.
//!
//! Each input batch updates the accumulators of the groups it touches; then, for each touched
//! group whose result changed, the operator emits `+I` (a new group), `-U` and `+U` (the old
//! and new result), or `-D` (every row of the group was retracted), as Flink's group
//! aggregation does without mini-batching. The input may itself be a changelog: `-U` and `-D`
//! rows are retracted from the accumulators.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{filter, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::changelog::{self, RowKind};
use crate::error::{EngineError, Result};
use crate::operator::{Operator, Output, TaskInfo};
use crate::window::{AggregateSpec, Aggregation};

/// Name of the per-group row count in checkpointed state.
const COUNT_COLUMN: &str = "__rows";

/// An unbounded `GROUP BY` producing a changelog: key columns, then one column per aggregate,
/// then the row kind.
pub struct GroupAggregate {
    name: String,
    aggregation: Aggregation,
    /// Whether the input is a changelog whose `-U`/`-D` rows are retracted.
    retracting: bool,
    groups: Box<dyn GroupValues>,
    group_ids: Vec<usize>,
    /// The key values of every group, by group id (for output and checkpoints).
    key_converter: RowConverter,
    key_rows: Rows,
    /// Per group: one accumulator per aggregate, and how many rows it holds.
    accumulators: Vec<Vec<Box<dyn Accumulator>>>,
    row_counts: Vec<i64>,
    output_schema: SchemaRef,
}

impl std::fmt::Debug for GroupAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupAggregate")
            .field("name", &self.name)
            .field("groups", &self.row_counts.len())
            .finish()
    }
}

impl GroupAggregate {
    /// An aggregation over input of `input` schema (a changelog when its last column is the
    /// row kind).
    pub fn new(aggregation: Aggregation, input: &Schema, task: &TaskInfo) -> Result<Self> {
        let retracting = changelog::is_changelog(input);
        if retracting
            && let Some(spec) = aggregation
                .aggregates()
                .iter()
                .find(|a| !supports_retract(a))
        {
            return Err(EngineError::plan(format!(
                "{} cannot take back rows, so it cannot aggregate an updating input",
                spec.function.name()
            )));
        }
        let key_schema = Schema::new(aggregation.group_fields());
        let key_converter = RowConverter::new(
            key_schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let key_rows = key_converter.empty_rows(0, 0);
        let mut fields = aggregation.key_fields();
        fields.extend(
            aggregation
                .aggregate_fields()
                .into_iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true))),
        );
        let output_schema = changelog::with_row_kind(&Schema::new(fields));
        Ok(GroupAggregate {
            name: task.name.clone(),
            groups: new_group_values(Arc::new(key_schema), &GroupOrdering::None)?,
            aggregation,
            retracting,
            group_ids: Vec::new(),
            key_converter,
            key_rows,
            accumulators: Vec::new(),
            row_counts: Vec::new(),
            output_schema,
        })
    }

    /// The schema of what the operator emits.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    fn new_accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.aggregation
            .aggregates()
            .iter()
            .map(|a| {
                Ok(if self.retracting {
                    a.function.create_sliding_accumulator()?
                } else {
                    a.function.create_accumulator()?
                })
            })
            .collect()
    }

    /// The types of each aggregate's accumulator state as this operator's accumulators hold
    /// it: a retracting (sliding) accumulator may keep more than `state_fields` (a sliding
    /// SUM keeps its count too).
    fn state_types(&self) -> Result<Vec<Vec<DataType>>> {
        self.new_accumulators()?
            .iter_mut()
            .map(|a| Ok(a.state()?.iter().map(ScalarValue::data_type).collect()))
            .collect()
    }

    /// Interns the keys of `keys`; new groups get accumulators and their key values stored.
    fn intern(&mut self, keys: &[ArrayRef]) -> Result<()> {
        let before = self.groups.len();
        self.groups.intern(keys, &mut self.group_ids)?;
        // Group ids are handed out in order of first appearance.
        let mut first_rows = Vec::new();
        let mut next = before;
        for (row, &g) in self.group_ids.iter().enumerate() {
            if g == next {
                first_rows.push(row as u32);
                next += 1;
            }
        }
        if first_rows.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from(first_rows);
        let new_keys = keys
            .iter()
            .map(|k| take(k.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        self.key_converter.append(&mut self.key_rows, &new_keys)?;
        for _ in before..self.groups.len() {
            let accumulators = self.new_accumulators()?;
            self.accumulators.push(accumulators);
            self.row_counts.push(0);
        }
        Ok(())
    }

    /// Each group's current result (`None` for a group without rows).
    fn results(&mut self, groups: &[usize]) -> Result<Vec<Option<Vec<ScalarValue>>>> {
        groups
            .iter()
            .map(|&g| {
                if self.row_counts[g] <= 0 {
                    return Ok(None);
                }
                self.accumulators[g]
                    .iter_mut()
                    .map(|a| a.evaluate().map_err(EngineError::from))
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            })
            .collect()
    }

    /// The changelog rows for groups whose results went from `before` to `after`.
    fn changes(
        &self,
        groups: &[usize],
        before: Vec<Option<Vec<ScalarValue>>>,
        after: Vec<Option<Vec<ScalarValue>>>,
    ) -> Result<Option<RecordBatch>> {
        let mut rows: Vec<usize> = Vec::new();
        let mut kinds = Vec::new();
        let mut values: Vec<Vec<ScalarValue>> = Vec::new();
        for ((&g, old), new) in groups.iter().zip(before).zip(after) {
            match (old, new) {
                (None, Some(new)) => {
                    rows.push(g);
                    kinds.push(RowKind::Insert);
                    values.push(new);
                }
                (Some(old), Some(new)) if old != new => {
                    rows.extend([g, g]);
                    kinds.extend([RowKind::UpdateBefore, RowKind::UpdateAfter]);
                    values.extend([old, new]);
                }
                (Some(old), None) => {
                    rows.push(g);
                    kinds.push(RowKind::Delete);
                    values.push(old);
                }
                _ => {}
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let keys = self
            .key_converter
            .convert_rows(rows.iter().map(|&g| self.key_rows.row(g)))?;
        let mut columns = self.aggregation.output_keys(keys);
        let aggregates = self.aggregation.aggregates().len();
        for a in 0..aggregates {
            let field = self.output_schema.field(columns.len());
            let column = values.iter().map(|v| v[a].clone());
            let array = ScalarValue::iter_to_array(column)?;
            columns.push(if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            });
        }
        columns.push(changelog::row_kind_array(kinds));
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.output_schema),
            columns,
        )?))
    }
}

fn supports_retract(spec: &AggregateSpec) -> bool {
    spec.function
        .create_sliding_accumulator()
        .is_ok_and(|a| a.supports_retract_batch())
}

impl Operator for GroupAggregate {
    fn name(&self) -> String {
        "group aggregate".into()
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let kinds = changelog::row_kinds(&batch)?;
        let rows = self.aggregation.evaluate(&batch)?;
        self.intern(&rows.keys)?;
        let retract = |i: usize| kinds.as_ref().is_some_and(|k| !k[i].is_addition());
        // Rows ordered by group, additions before retractions, so each run feeds one
        // accumulator call.
        let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
        order.sort_by_key(|&i| (self.group_ids[i as usize], retract(i as usize)));
        let mut touched: Vec<usize> = order.iter().map(|&i| self.group_ids[i as usize]).collect();
        touched.dedup();
        let before = self.results(&touched)?;

        let indices = UInt32Array::from(order.clone());
        let args: Vec<(Vec<ArrayRef>, Option<ArrayRef>)> = rows
            .args
            .iter()
            .map(|(values, mask)| -> Result<_> {
                let values = values
                    .iter()
                    .map(|v| take(v.as_ref(), &indices, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let mask = mask.as_ref().map(|m| take(m, &indices, None)).transpose()?;
                Ok((values, mask))
            })
            .collect::<Result<_>>()?;
        let mut start = 0;
        while start < order.len() {
            let first = order[start] as usize;
            let (group, retracting) = (self.group_ids[first], retract(first));
            let mut end = start + 1;
            while end < order.len() {
                let i = order[end] as usize;
                if self.group_ids[i] != group || retract(i) != retracting {
                    break;
                }
                end += 1;
            }
            let len = end - start;
            for (accumulator, (values, mask)) in self.accumulators[group].iter_mut().zip(&args) {
                let mut slice: Vec<ArrayRef> = values.iter().map(|v| v.slice(start, len)).collect();
                if let Some(mask) = mask {
                    let mask = mask.slice(start, len);
                    let mask = mask
                        .as_any()
                        .downcast_ref::<arrow::array::BooleanArray>()
                        .expect("filters are boolean");
                    slice = slice
                        .iter()
                        .map(|v| filter(v.as_ref(), mask))
                        .collect::<Result<_, _>>()?;
                }
                if retracting {
                    accumulator.retract_batch(&slice)?;
                } else {
                    accumulator.update_batch(&slice)?;
                }
            }
            let delta = len as i64;
            self.row_counts[group] += if retracting { -delta } else { delta };
            start = end;
        }
        let after = self.results(&touched)?;
        // A group left without rows starts afresh if rows come again.
        for (&g, result) in touched.iter().zip(&after) {
            if result.is_none() {
                self.accumulators[g] = self.new_accumulators()?;
                self.row_counts[g] = 0;
            }
        }
        if let Some(changes) = self.changes(&touched, before, after)? {
            out.data(changes);
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let live: Vec<usize> = (0..self.row_counts.len())
            .filter(|&g| self.row_counts[g] > 0)
            .collect();
        let keys = self
            .key_converter
            .convert_rows(live.iter().map(|&g| self.key_rows.row(g)))?;
        let mut fields: Vec<Field> = self
            .aggregation
            .group_fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns = keys;
        fields.push(Field::new(COUNT_COLUMN, DataType::Int64, false));
        columns.push(Arc::new(Int64Array::from_iter_values(
            live.iter().map(|&g| self.row_counts[g]),
        )));
        for (a, types) in self.state_types()?.iter().enumerate() {
            let mut per_field: Vec<Vec<ScalarValue>> = vec![Vec::new(); types.len()];
            for &g in &live {
                for (j, v) in self.accumulators[g][a].state()?.into_iter().enumerate() {
                    per_field[j].push(v);
                }
            }
            for (j, (data_type, values)) in types.iter().zip(per_field).enumerate() {
                let array = if values.is_empty() {
                    arrow::array::new_empty_array(data_type)
                } else {
                    ScalarValue::iter_to_array(values)?
                };
                fields.push(Field::new(
                    format!("a{a}_s{j}"),
                    array.data_type().clone(),
                    true,
                ));
                columns.push(array);
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &schema)?;
        writer.write(&batch)?;
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = state else { return Ok(()) };
        let task = self.name.clone();
        let corrupt = |reason: String| EngineError::CorruptState {
            task: task.clone(),
            reason,
        };
        let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        let batch = arrow::compute::concat_batches(&schema, &batches)?;
        let nk = self.aggregation.group_fields().len();
        if batch.num_columns() <= nk || schema.field(nk).name() != COUNT_COLUMN {
            return Err(corrupt(format!(
                "group aggregate state has columns {:?}",
                schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
            )));
        }
        let keys = batch.columns()[..nk].to_vec();
        self.intern(&keys)?;
        let counts = batch
            .column(nk)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| corrupt("row counts are not BIGINT".into()))?;
        let mut at = nk + 1;
        let group_ids = self.group_ids.clone();
        for (a, types) in self.state_types()?.iter().enumerate() {
            let width = types.len();
            let states = &batch.columns()[at..at + width];
            for (row, &g) in group_ids.iter().enumerate() {
                let one: Vec<ArrayRef> = states.iter().map(|s| s.slice(row, 1)).collect();
                self.accumulators[g][a].merge_batch(&one)?;
            }
            at += width;
        }
        if at != batch.num_columns() {
            return Err(corrupt(format!(
                "group aggregate state has {} columns, the job expects {at}",
                batch.num_columns()
            )));
        }
        for (row, &g) in group_ids.iter().enumerate() {
            self.row_counts[g] = counts.value(row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::side_output::SideOutputs;
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::{Int8Type, Int64Type};
    use datafusion::functions_aggregate::count::count_udaf;
    use datafusion::functions_aggregate::sum::sum_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::col;

    fn task() -> TaskInfo {
        TaskInfo {
            name: "agg[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: SideOutputs::default(),
            metrics: Arc::new(TaskMetrics::new()),
        }
    }

    fn input_schema(changelog: bool) -> SchemaRef {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]);
        if changelog {
            changelog::with_row_kind(&schema)
        } else {
            Arc::new(schema)
        }
    }

    fn operator(changelog: bool) -> GroupAggregate {
        let schema = input_schema(changelog);
        let sum = AggregateExprBuilder::new(sum_udaf(), vec![col("v", &schema).unwrap()])
            .schema(Arc::clone(&schema))
            .alias("s")
            .build()
            .unwrap();
        let count = AggregateExprBuilder::new(count_udaf(), vec![col("v", &schema).unwrap()])
            .schema(Arc::clone(&schema))
            .alias("c")
            .build()
            .unwrap();
        let aggregation = Aggregation::new(
            &schema,
            vec![col("k", &schema).unwrap()],
            vec!["k".into()],
            vec![
                AggregateSpec {
                    function: Arc::new(sum),
                    filter: None,
                },
                AggregateSpec {
                    function: Arc::new(count),
                    filter: None,
                },
            ],
        )
        .unwrap();
        GroupAggregate::new(aggregation, &schema, &task()).unwrap()
    }

    fn batch(keys: &[&str], values: &[i64], kinds: Option<&[RowKind]>) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(Int64Array::from(values.to_vec())),
        ];
        if let Some(kinds) = kinds {
            columns.push(changelog::row_kind_array(kinds.iter().copied()));
        }
        RecordBatch::try_new(input_schema(kinds.is_some()), columns).unwrap()
    }

    /// The emitted rows as `kind key sum count`.
    fn rows(out: &mut Output) -> Vec<String> {
        let mut lines = Vec::new();
        for item in out.take() {
            let crate::operator::Emitted::Data(b) = item else {
                continue;
            };
            let keys = b.column(0).as_string::<i32>();
            let sums = b.column(1).as_primitive::<Int64Type>();
            let counts = b.column(2).as_primitive::<Int64Type>();
            let kinds = b.column(3).as_primitive::<Int8Type>();
            for i in 0..b.num_rows() {
                let kind = RowKind::from_code(kinds.value(i)).unwrap();
                lines.push(format!(
                    "{} {} {} {}",
                    kind.short_string(),
                    keys.value(i),
                    sums.value(i),
                    counts.value(i)
                ));
            }
        }
        lines
    }

    #[test]
    fn emits_inserts_then_updates_per_changed_group() {
        let mut op = operator(false);
        let mut out = Output::default();
        op.process_batch(batch(&["a", "b", "a"], &[1, 2, 3], None), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["+I a 4 2", "+I b 2 1"]);
        op.process_batch(batch(&["b", "c"], &[5, 7], None), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["-U b 2 1", "+U b 7 2", "+I c 7 1"]);
    }

    #[test]
    fn retractions_update_and_finally_delete_a_group() {
        let mut op = operator(true);
        let mut out = Output::default();
        let ins = RowKind::Insert;
        op.process_batch(batch(&["a", "a"], &[1, 3], Some(&[ins, ins])), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["+I a 4 2"]);
        op.process_batch(
            batch(&["a"], &[3], Some(&[RowKind::UpdateBefore])),
            &mut out,
        )
        .unwrap();
        assert_eq!(rows(&mut out), ["-U a 4 2", "+U a 1 1"]);
        op.process_batch(batch(&["a"], &[1], Some(&[RowKind::Delete])), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["-D a 1 1"]);
        op.process_batch(batch(&["a"], &[9], Some(&[ins])), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["+I a 9 1"]);
    }

    #[test]
    fn unchanged_results_emit_nothing() {
        let mut op = operator(true);
        let mut out = Output::default();
        let ins = RowKind::Insert;
        op.process_batch(batch(&["a"], &[1], Some(&[ins])), &mut out)
            .unwrap();
        rows(&mut out);
        // Take a row back and add the same again in one batch: the result stays.
        op.process_batch(
            batch(
                &["a", "a"],
                &[1, 1],
                Some(&[RowKind::UpdateBefore, RowKind::UpdateAfter]),
            ),
            &mut out,
        )
        .unwrap();
        assert!(rows(&mut out).is_empty());
    }

    #[test]
    fn state_survives_a_snapshot_and_restore() {
        let mut op = operator(false);
        let mut out = Output::default();
        op.process_batch(batch(&["a", "b", "a"], &[1, 2, 3], None), &mut out)
            .unwrap();
        rows(&mut out);
        let state = op.snapshot(1).unwrap();
        let mut restored = operator(false);
        restored.restore(Some(&state)).unwrap();
        restored
            .process_batch(batch(&["a"], &[10], None), &mut out)
            .unwrap();
        assert_eq!(rows(&mut out), ["-U a 4 2", "+U a 14 3"]);
        assert!(restored.restore(Some(b"garbage")).is_err());
    }

    #[test]
    fn retracting_state_survives_a_snapshot_and_restore() {
        let ins = RowKind::Insert;
        let mut op = operator(true);
        let mut out = Output::default();
        op.process_batch(
            batch(&["a", "a", "b"], &[1, 3, 2], Some(&[ins; 3])),
            &mut out,
        )
        .unwrap();
        rows(&mut out);
        let state = op.snapshot(1).unwrap();
        let mut restored = operator(true);
        restored.restore(Some(&state)).unwrap();
        restored
            .process_batch(
                batch(&["a", "b"], &[3, 2], Some(&[RowKind::Delete; 2])),
                &mut out,
            )
            .unwrap();
        assert_eq!(rows(&mut out), ["-U a 4 2", "+U a 1 1", "-D b 2 1"]);
        // A snapshot without groups restores too.
        let mut empty = operator(true);
        let state = empty.snapshot(2).unwrap();
        operator(true).restore(Some(&state)).unwrap();
    }
}
