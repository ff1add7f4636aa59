//! Top-N and deduplication: `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)` filtered to
//! `rn <= N` (or `rn = 1`).
//!
//! [`TopN`] keeps, per partition key, the best N rows seen so far and emits a changelog as
//! that set changes, as Flink's append-only Top-N and deduplication do. [`WindowTopN`] ranks
//! the rows of each window once the watermark closes it (Flink's window Top-N), so its output
//! is append-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMillisecondType};
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::changelog::{self, RowKind};
use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};

/// What a Top-N ranks and keeps.
#[derive(Debug, Clone)]
pub struct RankSpec {
    /// `PARTITION BY` expressions (none: one global ranking).
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// `ORDER BY` expressions with their directions.
    pub order_by: Vec<PhysicalSortExpr>,
    /// How many rows per partition are kept (`rn <= N`).
    pub limit: usize,
    /// Whether the row number is output, as a column after the input's columns (UInt64, as
    /// DataFusion types `ROW_NUMBER()`).
    pub row_number: Option<String>,
    /// Whether a row equal in order to a kept one replaces it (deduplication keeping the last
    /// row); otherwise the earlier row stays ahead, as in Flink's Top-N.
    pub newer_wins_ties: bool,
}

impl RankSpec {
    /// The schema of the ranked output for input of `input` schema (without a row kind).
    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
        if let Some(name) = &self.row_number {
            fields.push(Arc::new(Field::new(name, DataType::UInt64, false)));
        }
        Arc::new(Schema::new(fields))
    }

    fn validate(&self) -> Result<()> {
        if self.limit == 0 {
            return Err(EngineError::plan("a Top-N needs N of at least 1"));
        }
        if self.order_by.is_empty() {
            return Err(EngineError::plan("a Top-N needs an ORDER BY"));
        }
        Ok(())
    }

    fn evaluate(
        exprs: impl Iterator<Item = Arc<dyn PhysicalExpr>>,
        batch: &RecordBatch,
    ) -> Result<Vec<ArrayRef>> {
        exprs
            .map(|e| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?))
            .collect()
    }

    fn sort_converter(&self, input: &Schema) -> Result<RowConverter> {
        let fields = self
            .order_by
            .iter()
            .map(|s| {
                Ok(SortField::new_with_options(
                    s.expr.data_type(input)?,
                    s.options,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RowConverter::new(fields)?)
    }

    fn partition_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let mut fields = self
            .partition_by
            .iter()
            .enumerate()
            .map(|(i, e)| Ok(Field::new(format!("p{i}"), e.data_type(input)?, true)))
            .collect::<Result<Vec<_>>>()?;
        if fields.is_empty() {
            fields.push(Field::new("p", DataType::Boolean, true));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    fn partition_keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        if self.partition_by.is_empty() {
            return Ok(vec![Arc::new(arrow::array::BooleanArray::from(vec![
                true;
                batch
                    .num_rows(
                    )
            ]))]);
        }
        RankSpec::evaluate(self.partition_by.iter().cloned(), batch)
    }
}

/// One kept row: its order key and the whole row.
struct Kept {
    order: OwnedRow,
    row: OwnedRow,
}

/// Continuous Top-N per partition key over an append-only input, emitting a changelog.
pub struct TopN {
    name: String,
    spec: RankSpec,
    input: SchemaRef,
    output: SchemaRef,
    partitions: Box<dyn GroupValues>,
    partition_ids: Vec<usize>,
    order_converter: RowConverter,
    row_converter: RowConverter,
    kept: Vec<Vec<Kept>>,
}

impl std::fmt::Debug for TopN {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopN")
            .field("name", &self.name)
            .field("partitions", &self.kept.len())
            .finish()
    }
}

impl TopN {
    /// A Top-N over rows of `input`.
    pub fn new(spec: RankSpec, input: SchemaRef, task: &TaskInfo) -> Result<Self> {
        spec.validate()?;
        if changelog::is_changelog(&input) {
            return Err(EngineError::plan(
                "Top-N over an updating input is not supported; rank an append-only table",
            ));
        }
        let row_converter = RowConverter::new(
            input
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(TopN {
            name: task.name.clone(),
            output: changelog::with_row_kind(&spec.output_schema(&input)),
            partitions: new_group_values(spec.partition_schema(&input)?, &GroupOrdering::None)?,
            partition_ids: Vec::new(),
            order_converter: spec.sort_converter(&input)?,
            row_converter,
            kept: Vec::new(),
            spec,
            input,
        })
    }

    /// The schema of what the operator emits: the input's columns, the row number if asked
    /// for, and the row kind.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    /// Ranks the rows of `batch`, collecting the changes as (row, row number, kind).
    fn rank(
        &mut self,
        batch: &RecordBatch,
        changes: &mut Vec<(OwnedRow, usize, RowKind)>,
    ) -> Result<()> {
        let keys = self.spec.partition_keys(batch)?;
        self.partitions.intern(&keys, &mut self.partition_ids)?;
        self.kept.resize_with(self.partitions.len(), Vec::new);
        let order_columns = RankSpec::evaluate(
            self.spec.order_by.iter().map(|s| Arc::clone(&s.expr)),
            batch,
        )?;
        let orders: Rows = self.order_converter.convert_columns(&order_columns)?;
        let rows: Rows = self.row_converter.convert_columns(batch.columns())?;
        let limit = self.spec.limit;
        let numbered = self.spec.row_number.is_some();
        for i in 0..batch.num_rows() {
            let kept = &mut self.kept[self.partition_ids[i]];
            let order = orders.row(i);
            let at = if self.spec.newer_wins_ties {
                kept.partition_point(|k| k.order.row() < order)
            } else {
                kept.partition_point(|k| k.order.row() <= order)
            };
            if at >= limit {
                continue;
            }
            let before: Vec<OwnedRow> = if numbered {
                kept[at..].iter().map(|k| k.row.clone()).collect()
            } else {
                Vec::new()
            };
            kept.insert(
                at,
                Kept {
                    order: order.owned(),
                    row: rows.row(i).owned(),
                },
            );
            let evicted = (kept.len() > limit).then(|| kept.pop().expect("over the limit"));
            if numbered {
                // Every row from `at` on moved down a place.
                for (offset, old) in before.into_iter().enumerate() {
                    let position = at + offset;
                    if position >= limit {
                        break;
                    }
                    changes.push((old, position, RowKind::UpdateBefore));
                    changes.push((kept[position].row.clone(), position, RowKind::UpdateAfter));
                }
                let last = kept.len() - 1;
                if evicted.is_none() {
                    changes.push((kept[last].row.clone(), last, RowKind::Insert));
                }
            } else if limit == 1 {
                match evicted {
                    Some(old) => {
                        changes.push((old.row, 0, RowKind::UpdateBefore));
                        changes.push((kept[0].row.clone(), 0, RowKind::UpdateAfter));
                    }
                    None => changes.push((kept[0].row.clone(), 0, RowKind::Insert)),
                }
            } else {
                if let Some(old) = evicted {
                    changes.push((old.row, limit - 1, RowKind::Delete));
                }
                changes.push((kept[at].row.clone(), at, RowKind::Insert));
            }
        }
        Ok(())
    }

    fn to_batch(&self, changes: Vec<(OwnedRow, usize, RowKind)>) -> Result<RecordBatch> {
        let mut columns = self
            .row_converter
            .convert_rows(changes.iter().map(|(row, _, _)| row.row()))?;
        if self.spec.row_number.is_some() {
            columns.push(Arc::new(UInt64Array::from_iter_values(
                changes.iter().map(|(_, position, _)| *position as u64 + 1),
            )));
        }
        columns.push(changelog::row_kind_array(
            changes.iter().map(|(_, _, kind)| *kind),
        ));
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

impl Operator for TopN {
    fn name(&self) -> String {
        format!("top-{}", self.spec.limit)
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let mut changes = Vec::new();
        self.rank(&batch, &mut changes)?;
        if !changes.is_empty() {
            out.data(self.to_batch(changes)?);
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        // The kept rows, best first per partition; ranking them again rebuilds the state.
        let rows = self
            .row_converter
            .convert_rows(self.kept.iter().flatten().map(|k| k.row.row()))?;
        let batch = if rows.is_empty() {
            RecordBatch::new_empty(Arc::clone(&self.input))
        } else {
            RecordBatch::try_new(Arc::clone(&self.input), rows)?
        };
        encode_batch(&batch)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = state else { return Ok(()) };
        let batch = decode_batch(bytes, &self.input, &self.name)?;
        let mut ignored = Vec::new();
        self.rank(&batch, &mut ignored)
    }
}

/// Top-N per window: rows carry their window's end, and each window's rows are ranked once
/// the watermark has passed its end. The output is append-only.
pub struct WindowTopN {
    name: String,
    spec: RankSpec,
    window_end_column: usize,
    input: SchemaRef,
    output: SchemaRef,
    /// Buffered rows by window end (epoch milliseconds).
    pending: BTreeMap<i64, Vec<RecordBatch>>,
}

impl std::fmt::Debug for WindowTopN {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowTopN")
            .field("name", &self.name)
            .field("windows", &self.pending.len())
            .finish()
    }
}

impl WindowTopN {
    /// A window Top-N over rows of `input`, whose `window_end_column` is a TIMESTAMP(3).
    pub fn new(
        spec: RankSpec,
        window_end_column: usize,
        input: SchemaRef,
        task: &TaskInfo,
    ) -> Result<Self> {
        spec.validate()?;
        if !matches!(
            input.fields().get(window_end_column).map(|f| f.data_type()),
            Some(DataType::Timestamp(
                arrow::datatypes::TimeUnit::Millisecond,
                _
            ))
        ) {
            return Err(EngineError::plan(
                "a window Top-N needs the window_end column as TIMESTAMP(3)",
            ));
        }
        Ok(WindowTopN {
            name: task.name.clone(),
            output: spec.output_schema(&input),
            spec,
            window_end_column,
            input,
            pending: BTreeMap::new(),
        })
    }

    /// The schema of what the operator emits.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    /// Ranks one window's rows and keeps the best N per partition.
    fn fire(&self, batches: &[RecordBatch]) -> Result<RecordBatch> {
        let batch = concat_batches(&self.input, batches)?;
        let partitions = self.spec.partition_keys(&batch)?;
        let mut sort: Vec<SortColumn> = partitions
            .into_iter()
            .map(|values| SortColumn {
                values,
                options: None,
            })
            .collect();
        let order_columns = RankSpec::evaluate(
            self.spec.order_by.iter().map(|s| Arc::clone(&s.expr)),
            &batch,
        )?;
        let partition_count = sort.len();
        for (values, s) in order_columns.into_iter().zip(&self.spec.order_by) {
            sort.push(SortColumn {
                values,
                options: Some(s.options),
            });
        }
        let order = lexsort_to_indices(&sort, None)?;
        let partition_keys: Vec<ArrayRef> = sort[..partition_count]
            .iter()
            .map(|c| take(c.values.as_ref(), &order, None))
            .collect::<Result<_, _>>()?;
        let converter = RowConverter::new(
            partition_keys
                .iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect(),
        )?;
        let keys = converter.convert_columns(&partition_keys)?;
        let mut chosen = Vec::new();
        let mut numbers = Vec::new();
        let mut rank = 0;
        for i in 0..order.len() {
            if i > 0 && keys.row(i) == keys.row(i - 1) {
                rank += 1;
            } else {
                rank = 0;
            }
            if rank < self.spec.limit {
                chosen.push(order.value(i));
                numbers.push(rank as u64 + 1);
            }
        }
        let chosen = UInt32Array::from(chosen);
        let mut columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &chosen, None))
            .collect::<Result<Vec<_>, _>>()?;
        if self.spec.row_number.is_some() {
            columns.push(Arc::new(UInt64Array::from(numbers)));
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

impl Operator for WindowTopN {
    fn name(&self) -> String {
        format!("window top-{}", self.spec.limit)
    }

    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Output) -> Result<()> {
        let ends = batch
            .column(self.window_end_column)
            .as_primitive::<TimestampMillisecondType>();
        // Window aggregates emit one window per batch as a rule; split when they do not.
        let mut start = 0;
        while start < batch.num_rows() {
            let end = ends.value(start);
            let mut stop = start + 1;
            while stop < batch.num_rows() && ends.value(stop) == end {
                stop += 1;
            }
            self.pending
                .entry(end)
                .or_default()
                .push(batch.slice(start, stop - start));
            start = stop;
        }
        Ok(())
    }

    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        // A window [start, end) is complete once the watermark reaches end - 1.
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() - 1 > wm {
                break;
            }
            let batches = entry.remove();
            out.data(self.fire(&batches)?);
        }
        out.watermark(wm);
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> Result<()> {
        while let Some((_, batches)) = self.pending.pop_first() {
            out.data(self.fire(&batches)?);
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        let batches: Vec<RecordBatch> = self.pending.values().flatten().cloned().collect();
        encode_batch(&concat_batches(&self.input, &batches)?)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = state else { return Ok(()) };
        let batch = decode_batch(bytes, &self.input, &self.name)?;
        let mut ignored = Output::default();
        self.process_batch(batch, &mut ignored)
    }
}

/// A batch as checkpointed state.
fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut state = StateWriter::new();
    state.batch(batch)?;
    Ok(state.finish())
}

/// Rows written by [`encode_batch`], checked against the schema the job expects.
fn decode_batch(bytes: &[u8], schema: &SchemaRef, task: &str) -> Result<RecordBatch> {
    StateReader::new(bytes, task).batch(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::operator::Emitted;
    use crate::side_output::SideOutputs;
    use arrow::array::Int64Array;
    use arrow::array::{StringArray, TimestampMillisecondArray};
    use arrow::compute::SortOptions;
    use arrow::datatypes::{Int64Type, TimeUnit, UInt64Type};
    use datafusion::physical_expr::expressions::col;

    fn task() -> TaskInfo {
        TaskInfo {
            name: "rank[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: SideOutputs::default(),
            metrics: Arc::new(TaskMetrics::new()),
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
            Field::new(
                "window_end",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]))
    }

    fn spec(limit: usize, descending: bool, row_number: bool) -> RankSpec {
        let schema = schema();
        RankSpec {
            partition_by: vec![col("k", &schema).unwrap()],
            order_by: vec![PhysicalSortExpr {
                expr: col("v", &schema).unwrap(),
                options: SortOptions {
                    descending,
                    nulls_first: false,
                },
            }],
            limit,
            row_number: row_number.then(|| "rn".to_string()),
            newer_wins_ties: false,
        }
    }

    fn batch(rows: &[(&str, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.2),
                )),
            ],
        )
        .unwrap()
    }

    /// Emitted rows as `kind key value [rn]` (kind omitted for append-only output).
    fn lines(out: &mut Output) -> Vec<String> {
        let mut lines = Vec::new();
        for item in out.take() {
            let Emitted::Data(b) = item else { continue };
            let schema = b.schema();
            let kinds = changelog::is_changelog(&schema).then(|| {
                b.column(b.num_columns() - 1)
                    .as_primitive::<arrow::datatypes::Int8Type>()
                    .clone()
            });
            let rn = schema
                .index_of("rn")
                .ok()
                .map(|i| b.column(i).as_primitive::<UInt64Type>().clone());
            for i in 0..b.num_rows() {
                let mut line = String::new();
                if let Some(k) = &kinds {
                    line.push_str(RowKind::from_code(k.value(i)).unwrap().short_string());
                    line.push(' ');
                }
                line.push_str(&format!(
                    "{} {}",
                    b.column(0).as_string::<i32>().value(i),
                    b.column(1).as_primitive::<Int64Type>().value(i)
                ));
                if let Some(rn) = &rn {
                    line.push_str(&format!(" #{}", rn.value(i)));
                }
                lines.push(line);
            }
        }
        lines
    }

    #[test]
    fn top_two_without_row_numbers_deletes_what_falls_out() {
        let mut op = TopN::new(spec(2, true, false), schema(), &task()).unwrap();
        let mut out = Output::default();
        op.process_batch(batch(&[("a", 5, 0), ("a", 3, 0), ("b", 1, 0)]), &mut out)
            .unwrap();
        assert_eq!(lines(&mut out), ["+I a 5", "+I a 3", "+I b 1"]);
        op.process_batch(batch(&[("a", 4, 0), ("a", 1, 0)]), &mut out)
            .unwrap();
        assert_eq!(lines(&mut out), ["-D a 3", "+I a 4"]);
    }

    #[test]
    fn row_numbers_shift_with_updates() {
        let mut op = TopN::new(spec(2, true, true), schema(), &task()).unwrap();
        let mut out = Output::default();
        op.process_batch(batch(&[("a", 5, 0), ("a", 7, 0)]), &mut out)
            .unwrap();
        assert_eq!(
            lines(&mut out),
            ["+I a 5 #1", "-U a 5 #1", "+U a 7 #1", "+I a 5 #2"]
        );
    }

    #[test]
    fn deduplication_keeps_first_or_last() {
        // Keep first: ascending order, ties keep the earlier row.
        let mut first = TopN::new(spec(1, false, false), schema(), &task()).unwrap();
        let mut out = Output::default();
        first
            .process_batch(batch(&[("a", 1, 0), ("a", 1, 0), ("a", 2, 0)]), &mut out)
            .unwrap();
        assert_eq!(lines(&mut out), ["+I a 1"]);
        // Keep last: descending order, ties go to the newer row.
        let mut last_spec = spec(1, true, false);
        last_spec.newer_wins_ties = true;
        let mut last = TopN::new(last_spec, schema(), &task()).unwrap();
        last.process_batch(batch(&[("a", 1, 0), ("a", 1, 0)]), &mut out)
            .unwrap();
        assert_eq!(lines(&mut out), ["+I a 1", "-U a 1", "+U a 1"]);
    }

    #[test]
    fn top_n_state_survives_restore() {
        let mut op = TopN::new(spec(2, true, false), schema(), &task()).unwrap();
        let mut out = Output::default();
        op.process_batch(batch(&[("a", 5, 0), ("a", 3, 0)]), &mut out)
            .unwrap();
        let state = op.snapshot(1).unwrap();
        let mut restored = TopN::new(spec(2, true, false), schema(), &task()).unwrap();
        restored.restore(Some(&state)).unwrap();
        lines(&mut out);
        restored
            .process_batch(batch(&[("a", 4, 0)]), &mut out)
            .unwrap();
        assert_eq!(lines(&mut out), ["-D a 3", "+I a 4"]);
    }

    #[test]
    fn window_top_n_fires_on_the_watermark() {
        let mut op = WindowTopN::new(spec(2, true, true), 2, schema(), &task()).unwrap();
        let mut out = Output::default();
        op.process_batch(
            batch(&[
                ("a", 1, 10),
                ("a", 3, 10),
                ("a", 2, 10),
                ("b", 9, 10),
                ("a", 7, 20),
            ]),
            &mut out,
        )
        .unwrap();
        op.process_watermark(8, &mut out).unwrap();
        assert!(lines(&mut out).is_empty());
        op.process_watermark(9, &mut out).unwrap();
        assert_eq!(lines(&mut out), ["a 3 #1", "a 2 #2", "b 9 #1"]);
        let state = op.snapshot(1).unwrap();
        let mut restored = WindowTopN::new(spec(2, true, true), 2, schema(), &task()).unwrap();
        restored.restore(Some(&state)).unwrap();
        restored.finish(&mut out).unwrap();
        assert_eq!(lines(&mut out), ["a 7 #1"]);
    }
}
