//! Retention: dropping rows older than a table keeps them, by a time column or by ingest
//! time.
//!
//! In memory, rows past the cutoff are filtered out (by a time column, row by row; by ingest
//! time, per committed batch). Files are removed once all their rows are past it; until then
//! queries filter the rows of a time column at read time (see the provider), so results hold
//! no expired row either way.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array};
use arrow::compute::kernels::boolean::or_kleene;
use arrow::compute::kernels::cmp::{gt_eq, lt};
use arrow::compute::{cast, filter_record_batch, is_null};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};

use crate::config::TableConfig;
use crate::error::{Result, StoreError};
use crate::snapshot::MemBatch;
use crate::table::{Data, TableInner};

/// A time column's values in epoch milliseconds.
pub(crate) fn time_ms(column: &ArrayRef) -> Result<Int64Array> {
    let ms = match column.data_type() {
        DataType::Int64 => Arc::clone(column),
        DataType::Timestamp(_, _) => cast(
            &cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
            &DataType::Int64,
        )?,
        other => {
            return Err(StoreError::Query(format!(
                "a retention column is a TIMESTAMP or BIGINT, not {other}"
            )));
        }
    };
    Ok(ms.as_primitive::<Int64Type>().clone())
}

/// The cutoff of `config` at `now_ms`: rows older are expired.
pub(crate) fn cutoff(config: &TableConfig, now_ms: i64) -> Option<i64> {
    config
        .retention
        .as_ref()
        .map(|r| now_ms.saturating_sub(r.max_age.as_millis() as i64))
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Rows dropped from memory.
    pub rows: usize,
    /// Files removed.
    pub files: usize,
}

/// Drops the rows of `table` that are older than its retention at `now_ms`.
pub(crate) fn apply(table: &TableInner, now_ms: i64) -> Result<Expired> {
    let config = &table.config;
    let Some(cutoff) = cutoff(config, now_ms) else {
        return Ok(Expired::default());
    };
    let column = config
        .retention
        .as_ref()
        .and_then(|r| r.time_column.as_ref())
        .map(|c| config.schema.index_of(c))
        .transpose()?;
    let mut expired = Expired::default();
    let mut writer = table.writer();
    let removed_files = {
        let files = &writer.manifest.files;
        let expired_file = |f: &crate::manifest::FileMeta| match column {
            Some(_) => f.max_time_ms.is_some_and(|t| t < cutoff),
            None => f.max_ingest_ms < cutoff,
        };
        let gone: Vec<String> = files
            .iter()
            .filter(|f| expired_file(f))
            .map(|f| f.name.clone())
            .collect();
        if !gone.is_empty() && !config.is_upsert() {
            let mut manifest = writer.manifest.clone();
            manifest.files.retain(|f| !gone.contains(&f.name));
            manifest.save(&table.dir)?;
            writer.manifest = manifest;
        }
        if config.is_upsert() { Vec::new() } else { gone }
    };
    expired.files = removed_files.len();
    match &mut writer.data {
        Data::Append(batches) => {
            let mut kept = Vec::with_capacity(batches.len());
            for b in batches.drain(..) {
                match column {
                    None if b.ingest_ms < cutoff => expired.rows += b.num_rows(),
                    None => kept.push(b),
                    Some(index) => {
                        let ms = time_ms(b.batch.column(index))?;
                        // Rows without a time cannot be aged: they are kept.
                        let keep = or_kleene(
                            &gt_eq(&ms, &Int64Array::new_scalar(cutoff))?,
                            &is_null(&ms)?,
                        )?;
                        let n = keep.true_count();
                        if n == b.num_rows() {
                            kept.push(b);
                        } else {
                            expired.rows += b.num_rows() - n;
                            if n > 0 {
                                let batch = filter_record_batch(&b.batch, &keep)?;
                                kept.push(MemBatch::new(batch, b.ingest_ms));
                            }
                        }
                    }
                }
            }
            *batches = kept;
        }
        Data::Keyed { state, .. } => {
            expired.rows += state.delete_where(|batch, ingest| {
                let ms = match column {
                    Some(index) => time_ms(batch.column(index))?,
                    None => ingest.clone(),
                };
                // A null time compares to null: not expired.
                Ok(lt(&ms, &Int64Array::new_scalar(cutoff))?)
            })?;
        }
    }
    if expired.rows > 0 || expired.files > 0 {
        table.publish(&writer);
    }
    drop(writer);
    for name in removed_files {
        let path = table.dir.join(name);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("cannot remove expired file {}: {e}", path.display());
        }
    }
    Ok(expired)
}
