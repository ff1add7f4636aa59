//! An immutable view of a table, as a query reads it: its in-memory batches (with the
//! min/max of their columns, to skip batches a filter rules out) and its Parquet files.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};

use crate::config::TableConfig;
use crate::manifest::FileMeta;

/// A committed batch held in memory.
#[derive(Debug, Clone)]
pub struct MemBatch {
    /// The rows.
    pub batch: RecordBatch,
    /// When they were committed (epoch ms); of merged batches, the latest.
    pub ingest_ms: i64,
    /// Per column, its minimum and maximum, for columns of numbers and times.
    stats: Arc<[Option<(ScalarValue, ScalarValue)>]>,
}

impl MemBatch {
    /// `batch`, committed at `ingest_ms`, with its column statistics.
    pub fn new(batch: RecordBatch, ingest_ms: i64) -> Self {
        let stats = batch.columns().iter().map(min_max).collect();
        MemBatch {
            batch,
            ingest_ms,
            stats,
        }
    }

    /// The rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The memory the rows take.
    pub fn memory_size(&self) -> usize {
        self.batch.get_array_memory_size()
    }
}

/// The minimum and maximum of a column of numbers or times (`None` for other types, or
/// when every value is null).
fn min_max(array: &ArrayRef) -> Option<(ScalarValue, ScalarValue)> {
    let data_type = array.data_type();
    let (min, max) = match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Timestamp(..) => {
            let ints = cast(array, &DataType::Int64).ok()?;
            let ints = ints.as_primitive::<Int64Type>();
            (
                ScalarValue::Int64(Some(arrow::compute::min(ints)?)),
                ScalarValue::Int64(Some(arrow::compute::max(ints)?)),
            )
        }
        DataType::Float32 | DataType::Float64 => {
            let floats = cast(array, &DataType::Float64).ok()?;
            let floats = floats.as_primitive::<Float64Type>();
            if floats.values().iter().any(|v| v.is_nan()) {
                return None;
            }
            (
                ScalarValue::Float64(Some(arrow::compute::min(floats)?)),
                ScalarValue::Float64(Some(arrow::compute::max(floats)?)),
            )
        }
        _ => return None,
    };
    Some((min.cast_to(data_type).ok()?, max.cast_to(data_type).ok()?))
}

/// A table as of one moment: what a query reads. Writes after it do not change it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The table.
    pub config: Arc<TableConfig>,
    /// The committed rows in memory, oldest first.
    pub batches: Vec<MemBatch>,
    /// The committed rows in Parquet files (for an upsert table, none: its state is all in
    /// `batches`).
    pub files: Vec<(PathBuf, FileMeta)>,
}

impl Snapshot {
    /// The table's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.config.schema)
    }

    /// The rows in memory.
    pub fn memory_rows(&self) -> usize {
        self.batches.iter().map(MemBatch::num_rows).sum()
    }

    /// The rows in files.
    pub fn file_rows(&self) -> u64 {
        self.files.iter().map(|(_, f)| f.rows).sum()
    }
}

/// The statistics of some in-memory batches, one container each, for DataFusion's pruning.
pub(crate) struct BatchStatistics<'a> {
    pub schema: &'a SchemaRef,
    pub batches: &'a [&'a MemBatch],
}

impl BatchStatistics<'_> {
    fn values(
        &self,
        column: &Column,
        pick: impl Fn(&(ScalarValue, ScalarValue)) -> &ScalarValue,
    ) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        let data_type = self.schema.field(index).data_type();
        let null = ScalarValue::try_from(data_type).ok()?;
        let values = self.batches.iter().map(|b| match &b.stats[index] {
            Some(pair) => pick(pair).clone(),
            None => null.clone(),
        });
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for BatchStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.values(column, |(min, _)| min)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.values(column, |(_, max)| max)
    }

    fn num_containers(&self) -> usize {
        self.batches.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        Some(Arc::new(arrow::array::UInt64Array::from_iter_values(
            self.batches
                .iter()
                .map(|b| b.batch.column(index).null_count() as u64),
        )))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(arrow::array::UInt64Array::from_iter_values(
            self.batches.iter().map(|b| b.num_rows() as u64),
        )))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}
