//! Turning an upsert stream into a proper changelog, as Flink's `ChangelogNormalize` does
//! behind an upsert source (`upsert-kafka`).
//!
//! An upsert stream says, per key, "the row is now this" (`+U`, or `+I`) or "the row is gone"
//! (`-D`, carrying only the key's values, as a Kafka tombstone does; `-U` counts as a delete
//! too). [`ChangelogNormalize`] keeps the last row of every key and emits what downstream
//! operators need: `+I` for a new key, `-U` (the kept row) then `+U` for a changed one, `-D`
//! with the whole kept row for a deleted one. An upsert equal to the kept row and a delete of
//! a key it does not hold emit nothing. It runs behind a hash exchange on the key, so each
//! key's changes reach one instance in order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};

use crate::changelog::{self, RowKind};
use crate::error::{EngineError, Result};
use crate::operator::{Operator, Output, TaskInfo};
use crate::state_codec::{StateReader, StateWriter};

/// Keeps the last row per key of an upsert stream and emits a changelog with `-U` rows.
pub struct ChangelogNormalize {
    name: String,
    key_columns: Vec<usize>,
    /// The rows' schema, without the row kind.
    rows: SchemaRef,
    output: SchemaRef,
    key_converter: RowConverter,
    row_converter: RowConverter,
    /// The last row of every key, by the key's row encoding.
    last: HashMap<Box<[u8]>, OwnedRow>,
}

impl std::fmt::Debug for ChangelogNormalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogNormalize")
            .field("name", &self.name)
            .field("keys", &self.last.len())
            .finish()
    }
}

impl ChangelogNormalize {
    /// Normalizes upserts of rows of `rows` (the schema without the row kind; input batches
    /// may declare non-key columns nullable, since deletes carry only the key), keyed by the
    /// columns at `key_columns`.
    pub fn new(rows: SchemaRef, key_columns: Vec<usize>, task: &TaskInfo) -> Result<Self> {
        if key_columns.is_empty() {
            return Err(EngineError::plan(
                "normalizing an upsert stream needs its key columns",
            ));
        }
        if let Some(bad) = key_columns.iter().find(|&&k| k >= rows.fields().len()) {
            return Err(EngineError::plan(format!(
                "key column {bad} is not among the {} columns of the upsert stream",
                rows.fields().len()
            )));
        }
        let converter = |columns: &mut dyn Iterator<Item = usize>| {
            RowConverter::new(
                columns
                    .map(|i| SortField::new(rows.field(i).data_type().clone()))
                    .collect(),
            )
        };
        Ok(ChangelogNormalize {
            name: task.name.clone(),
            key_converter: converter(&mut key_columns.iter().copied())?,
            row_converter: converter(&mut (0..rows.fields().len()))?,
            output: changelog::with_row_kind(&rows),
            key_columns,
            rows,
            last: HashMap::new(),
        })
    }

    /// The schema of what the operator emits: the rows' columns and the row kind.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    /// Applies the upserts and deletes of `batch` (rows with an optional row kind), collecting
    /// the changes they make.
    fn apply(&mut self, batch: &RecordBatch, changes: &mut Vec<(OwnedRow, RowKind)>) -> Result<()> {
        let kinds = changelog::row_kinds(batch)?;
        let rows = changelog::without_row_kind(batch);
        let keys = self.key_converter.convert_columns(
            &self
                .key_columns
                .iter()
                .map(|&k| Arc::clone(rows.column(k)))
                .collect::<Vec<_>>(),
        )?;
        let encoded = self.row_converter.convert_columns(rows.columns())?;
        for i in 0..rows.num_rows() {
            let kind = kinds.as_ref().map_or(RowKind::Insert, |k| k[i]);
            let key = keys.row(i);
            if kind.is_addition() {
                let row = encoded.row(i).owned();
                match self.last.get_mut(key.as_ref()) {
                    None => {
                        self.last.insert(key.as_ref().into(), row.clone());
                        changes.push((row, RowKind::Insert));
                    }
                    Some(kept) if *kept == row => {}
                    Some(kept) => {
                        let old = std::mem::replace(kept, row.clone());
                        changes.push((old, RowKind::UpdateBefore));
                        changes.push((row, RowKind::UpdateAfter));
                    }
                }
            } else if let Some(old) = self.last.remove(key.as_ref()) {
                changes.push((old, RowKind::Delete));
            }
        }
        Ok(())
    }

    fn to_batch(&self, changes: &[(OwnedRow, RowKind)]) -> Result<RecordBatch> {
        let mut columns = self
            .row_converter
            .convert_rows(changes.iter().map(|(row, _)| row.row()))?;
        columns.push(changelog::row_kind_array(
            changes.iter().map(|(_, kind)| *kind),
        ));
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

impl Operator for ChangelogNormalize {
    fn name(&self) -> String {
        "changelog normalize".into()
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let mut changes = Vec::new();
        self.apply(&batch, &mut changes)?;
        if !changes.is_empty() {
            out.data(self.to_batch(&changes)?);
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        // The kept rows; applying them again as upserts rebuilds the state.
        let columns = self
            .row_converter
            .convert_rows(self.last.values().map(OwnedRow::row))?;
        let batch = match self.last.is_empty() {
            true => RecordBatch::new_empty(Arc::clone(&self.rows)),
            false => RecordBatch::try_new(Arc::clone(&self.rows), columns)?,
        };
        let mut state = StateWriter::new();
        state.batch(&batch)?;
        Ok(state.finish())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        self.last.clear();
        let Some(bytes) = state else { return Ok(()) };
        let batch = StateReader::new(bytes, &self.name).batch(&self.rows)?;
        self.apply(&batch, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::operator::Emitted;
    use crate::side_output::SideOutputs;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn task() -> TaskInfo {
        TaskInfo {
            name: "normalize[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: SideOutputs::default(),
            metrics: Arc::new(TaskMetrics::new()),
        }
    }

    /// Rows `(k STRING NOT NULL, v BIGINT NOT NULL)`.
    fn rows() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    /// An upsert batch as an upsert source makes it: deletes have a NULL value.
    fn upserts(changes: &[(&str, Option<i64>)]) -> RecordBatch {
        let schema = changelog::with_row_kind(&Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(changes.iter().map(|c| c.0))),
                Arc::new(Int64Array::from_iter(changes.iter().map(|c| c.1))),
                changelog::row_kind_array(changes.iter().map(|c| match c.1 {
                    Some(_) => RowKind::UpdateAfter,
                    None => RowKind::Delete,
                })),
            ],
        )
        .unwrap()
    }

    fn run(op: &mut ChangelogNormalize, batch: RecordBatch) -> Vec<String> {
        let mut out = Output::default();
        op.process_batch(batch, &mut out).unwrap();
        let mut seen = Vec::new();
        for item in out.take() {
            let Emitted::Data(b) = item else { continue };
            assert_eq!(b.schema(), op.output_schema());
            let kinds = changelog::row_kinds(&b).unwrap().unwrap();
            for (i, kind) in kinds.iter().enumerate() {
                seen.push(format!(
                    "{}{}={}",
                    kind.short_string(),
                    b.column(0).as_string::<i32>().value(i),
                    b.column(1).as_primitive::<Int64Type>().value(i)
                ));
            }
        }
        seen
    }

    #[test]
    fn upserts_become_inserts_updates_and_deletes_of_whole_rows() {
        let mut op = ChangelogNormalize::new(rows(), vec![0], &task()).unwrap();
        assert_eq!(
            run(
                &mut op,
                upserts(&[
                    ("a", Some(1)),
                    ("b", Some(5)),
                    ("a", Some(2)),
                    ("a", Some(2))
                ])
            ),
            ["+Ia=1", "+Ib=5", "-Ua=1", "+Ua=2"]
        );
        // A delete carries the whole kept row; a delete of an absent key emits nothing.
        assert_eq!(
            run(
                &mut op,
                upserts(&[("a", None), ("zz", None), ("b", Some(6))])
            ),
            ["-Da=2", "-Ub=5", "+Ub=6"]
        );
        assert_eq!(run(&mut op, upserts(&[("a", Some(7))])), ["+Ia=7"]);
    }

    #[test]
    fn the_kept_rows_survive_a_restore() {
        let mut op = ChangelogNormalize::new(rows(), vec![0], &task()).unwrap();
        run(
            &mut op,
            upserts(&[("a", Some(1)), ("b", Some(2)), ("b", None)]),
        );
        let state = op.snapshot(1).unwrap();
        let mut restored = ChangelogNormalize::new(rows(), vec![0], &task()).unwrap();
        restored.restore(Some(&state)).unwrap();
        assert_eq!(
            run(
                &mut restored,
                upserts(&[("a", Some(1)), ("b", Some(3)), ("a", None)])
            ),
            ["+Ib=3", "-Da=1"]
        );
        assert!(restored.restore(Some(&state[..3])).is_err());
    }

    #[test]
    fn append_only_input_counts_as_upserts() {
        let mut op = ChangelogNormalize::new(rows(), vec![0], &task()).unwrap();
        let plain = RecordBatch::try_new(
            rows(),
            vec![
                Arc::new(StringArray::from(vec!["a", "a"])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        assert_eq!(run(&mut op, plain), ["+Ia=1", "-Ua=1", "+Ua=2"]);
        assert!(ChangelogNormalize::new(rows(), vec![], &task()).is_err());
        assert!(ChangelogNormalize::new(rows(), vec![2], &task()).is_err());
    }
}
