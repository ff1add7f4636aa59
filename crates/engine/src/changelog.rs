//! Changelog streams: rows that insert, update or delete earlier results, as Flink's
//! `RowKind` does.
//!
//! An append-only stream carries plain rows. A changelog stream carries one more column, last,
//! named [`ROW_KIND_COLUMN`]: an `Int8` holding a [`RowKind`] per row. An update of a result is
//! the pair `-U` (the old row) then `+U` (the new row); a sink with a primary key applies `+I`
//! and `+U` as upserts and `-D` as deletes, and may ignore `-U`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};

use crate::error::{EngineError, Result};

/// The name of the row-kind column of a changelog stream; always its last column.
pub const ROW_KIND_COLUMN: &str = "_rowkind";

/// What a row of a changelog stream does to the result it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// A new row (`+I`).
    Insert = 0,
    /// The old value of an updated row (`-U`).
    UpdateBefore = 1,
    /// The new value of an updated row (`+U`).
    UpdateAfter = 2,
    /// A deleted row (`-D`).
    Delete = 3,
}

impl RowKind {
    /// Flink's short string: `+I`, `-U`, `+U` or `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the result (`+I`, `+U`) rather than taking away from it.
    pub fn is_addition(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }

    /// The kind stored as `code` in a row-kind column.
    pub fn from_code(code: i8) -> Option<RowKind> {
        Some(match code {
            0 => RowKind::Insert,
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => return None,
        })
    }
}

/// The field of the row-kind column.
pub fn row_kind_field() -> Field {
    Field::new(ROW_KIND_COLUMN, DataType::Int8, false)
}

/// Whether batches of `schema` form a changelog stream (their last column is the row kind).
pub fn is_changelog(schema: &Schema) -> bool {
    schema
        .fields()
        .last()
        .is_some_and(|f| f.name() == ROW_KIND_COLUMN && f.data_type() == &DataType::Int8)
}

/// `schema` with the row-kind column appended.
pub fn with_row_kind(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(row_kind_field()));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A row-kind column holding `kinds`.
pub fn row_kind_array(kinds: impl IntoIterator<Item = RowKind>) -> ArrayRef {
    Arc::new(Int8Array::from_iter_values(
        kinds.into_iter().map(|k| k as i8),
    ))
}

/// The row kinds of a changelog batch (`None` for an append-only batch, whose rows are all
/// inserts). A code outside the four kinds is an error.
pub fn row_kinds(batch: &RecordBatch) -> Result<Option<Vec<RowKind>>> {
    if !is_changelog(batch.schema_ref()) {
        return Ok(None);
    }
    let column = batch
        .column(batch.num_columns() - 1)
        .as_primitive::<Int8Type>();
    column
        .values()
        .iter()
        .map(|&code| {
            RowKind::from_code(code).ok_or_else(|| {
                EngineError::plan(format!("row-kind column holds {code}, not a row kind"))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The batch without its row-kind column (the batch itself when it has none).
pub fn without_row_kind(batch: &RecordBatch) -> RecordBatch {
    if !is_changelog(batch.schema_ref()) {
        return batch.clone();
    }
    let keep: Vec<usize> = (0..batch.num_columns() - 1).collect();
    batch
        .project(&keep)
        .expect("projecting existing columns cannot fail")
}

/// Whether every row of a row-kind column is an insert.
pub fn all_inserts(column: &dyn Array) -> bool {
    column
        .as_primitive_opt::<Int8Type>()
        .is_some_and(|c| c.values().iter().all(|&k| k == RowKind::Insert as i8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[test]
    fn row_kinds_round_trip_through_a_batch() {
        let schema = with_row_kind(&Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        assert!(is_changelog(&schema));
        let kinds = [
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
        ];
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                row_kind_array(kinds),
            ],
        )
        .unwrap();
        assert_eq!(row_kinds(&batch).unwrap().unwrap(), kinds);
        let plain = without_row_kind(&batch);
        assert_eq!(plain.num_columns(), 1);
        assert_eq!(row_kinds(&plain).unwrap(), None);
        assert_eq!(kinds.map(RowKind::short_string), ["+I", "-U", "+U", "-D"]);
    }

    #[test]
    fn unknown_codes_are_refused() {
        let schema = with_row_kind(&Schema::empty());
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int8Array::from(vec![7]))]).unwrap();
        assert!(row_kinds(&batch).is_err());
    }
}
