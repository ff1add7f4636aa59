//! Lookup joins: each row of a stream is joined with the rows of a dimension table that match
//! its key (`JOIN dim FOR SYSTEM_TIME AS OF s.proc_time ON …`).
//!
//! The dimension table comes from a bounded source that the operator reads to its end into
//! memory (Flink's `FULL` lookup cache), and reads again every reload interval if one is set.
//! Rows whose key has a NULL never match, as in SQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::changelog;
use crate::error::{EngineError, Result};
use crate::operator::{Operator, Output, TaskInfo};
use crate::source::{SourceFactory, SourcePoll};

/// How a lookup join is made.
#[derive(Clone)]
pub struct LookupJoinSpec {
    /// The dimension table's name, for messages.
    pub table: String,
    /// Its rows: a bounded source.
    pub source: SourceFactory,
    /// The schema of the dimension rows.
    pub dimension_schema: SchemaRef,
    /// Key expressions over the stream's rows.
    pub stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Key expressions over the dimension's rows, pairwise equal to `stream_keys`.
    pub dimension_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// A further condition over the joined row (stream columns, then dimension columns).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// `LEFT JOIN`: stream rows without a match are kept, with NULL dimension columns.
    pub keep_unmatched: bool,
    /// Read the dimension table again this often.
    pub reload_every: Option<Duration>,
    /// The joined rows' schema (without a row kind).
    pub output_schema: SchemaRef,
}

impl std::fmt::Debug for LookupJoinSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupJoinSpec")
            .field("table", &self.table)
            .field("keep_unmatched", &self.keep_unmatched)
            .field("reload_every", &self.reload_every)
            .finish()
    }
}

/// The dimension table in memory: its rows and, per key, the rows that have it.
struct Dimension {
    rows: RecordBatch,
    by_key: HashMap<OwnedRow, Vec<u32>>,
    loaded_at: Instant,
}

/// The lookup join operator.
pub struct LookupJoin {
    spec: LookupJoinSpec,
    task: TaskInfo,
    converter: RowConverter,
    dimension: Option<Dimension>,
    /// The output schema, with the row kind when the stream is a changelog.
    output: Option<SchemaRef>,
}

impl std::fmt::Debug for LookupJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupJoin")
            .field("spec", &self.spec)
            .finish()
    }
}

impl LookupJoin {
    /// A lookup join run by `task`.
    pub fn new(spec: LookupJoinSpec, task: &TaskInfo) -> Result<Self> {
        if spec.stream_keys.len() != spec.dimension_keys.len() || spec.stream_keys.is_empty() {
            return Err(EngineError::plan(format!(
                "a lookup join on {} needs equal numbers (at least one) of keys on each side",
                spec.table
            )));
        }
        let fields = spec
            .dimension_keys
            .iter()
            .map(|k| Ok(SortField::new(k.data_type(&spec.dimension_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(LookupJoin {
            converter: RowConverter::new(fields)?,
            task: task.clone(),
            spec,
            dimension: None,
            output: None,
        })
    }

    /// Reads the dimension table to its end.
    fn load(&self) -> Result<Dimension> {
        let mut source = (self.spec.source)(&self.task)?;
        source.restore(None)?;
        let mut batches = Vec::new();
        loop {
            match source.poll()? {
                SourcePoll::Batch { batch, .. } => batches.push(batch),
                SourcePoll::Finished => break,
                SourcePoll::Idle => std::thread::sleep(Duration::from_millis(1)),
                _ => {}
            }
        }
        let rows = concat_batches(&self.spec.dimension_schema, &batches)?;
        let keys = evaluate(&self.spec.dimension_keys, &rows)?;
        let converted = self.converter.convert_columns(&keys)?;
        let mut by_key: HashMap<OwnedRow, Vec<u32>> = HashMap::new();
        for i in 0..rows.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            by_key
                .entry(converted.row(i).owned())
                .or_default()
                .push(i as u32);
        }
        tracing::debug!(table = %self.spec.table, rows = rows.num_rows(), "lookup table loaded");
        Ok(Dimension {
            rows,
            by_key,
            loaded_at: Instant::now(),
        })
    }

    /// Loads the dimension table, or reloads it when due.
    fn refresh(&mut self) -> Result<()> {
        let stale = match (&self.dimension, self.spec.reload_every) {
            (None, _) => true,
            (Some(d), Some(every)) => d.loaded_at.elapsed() >= every,
            (Some(_), None) => false,
        };
        if stale {
            self.dimension = Some(self.load()?);
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

impl Operator for LookupJoin {
    fn name(&self) -> String {
        format!("lookup join {}", self.spec.table)
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let is_changelog = changelog::is_changelog(batch.schema_ref());
        let schema = if is_changelog {
            let spec = &self.spec;
            Arc::clone(
                self.output
                    .get_or_insert_with(|| changelog::with_row_kind(&spec.output_schema)),
            )
        } else {
            Arc::clone(&self.spec.output_schema)
        };
        self.refresh()?;
        let dimension = self.dimension.as_ref().expect("refreshed above");
        let stream = changelog::without_row_kind(&batch);
        let keys = evaluate(&self.spec.stream_keys, &stream)?;
        let probe = self.converter.convert_columns(&keys)?;
        // Candidate pairs: (stream row, dimension row).
        let mut left = Vec::new();
        let mut right = Vec::new();
        for i in 0..stream.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            if let Some(matches) = dimension.by_key.get(&probe.row(i).owned()) {
                for &j in matches {
                    left.push(i as u32);
                    right.push(Some(j));
                }
            }
        }
        let joined = |left: &[u32], right: &[Option<u32>]| -> Result<Vec<ArrayRef>> {
            let left = UInt32Array::from(left.to_vec());
            let right = UInt32Array::from(right.to_vec());
            let mut columns = stream
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &left, None))
                .collect::<Result<Vec<_>, _>>()?;
            for c in dimension.rows.columns() {
                columns.push(take(c.as_ref(), &right, None)?);
            }
            Ok(columns)
        };
        if let Some(filter) = &self.spec.filter {
            let candidates =
                RecordBatch::try_new(Arc::clone(&self.spec.output_schema), joined(&left, &right)?)?;
            let passed = filter
                .evaluate(&candidates)?
                .into_array(candidates.num_rows())?;
            let passed = passed
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| EngineError::plan("a join condition must be BOOLEAN"))?;
            let keep: Vec<usize> = (0..passed.len())
                .filter(|&k| passed.is_valid(k) && passed.value(k))
                .collect();
            left = keep.iter().map(|&k| left[k]).collect();
            right = keep.iter().map(|&k| right[k]).collect();
        }
        if self.spec.keep_unmatched {
            let mut matched = vec![false; stream.num_rows()];
            for &i in &left {
                matched[i as usize] = true;
            }
            for (i, m) in matched.iter().enumerate() {
                if !m {
                    left.push(i as u32);
                    right.push(None);
                }
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        let mut columns = joined(&left, &right)?;
        if is_changelog {
            let kinds = batch.column(batch.num_columns() - 1);
            columns.push(take(kinds.as_ref(), &UInt32Array::from(left), None)?);
        }
        out.data(RecordBatch::try_new(schema, columns)?);
        Ok(())
    }
}
