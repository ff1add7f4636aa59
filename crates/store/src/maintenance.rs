//! Background upkeep of tables: retention, merging small in-memory batches, and flushing
//! memory to Parquet.
//!
//! A flush of an append table writes its oldest in-memory batches into a Parquet file and
//! starts a new log generation that carries over the rest (as committed `Data` records) and
//! the pending transactions; the manifest, replaced atomically, switches to the file and the
//! new log at once. An upsert table's flush writes its whole state into one file and starts
//! a new log with the changes applied since. The heavy writing happens outside the writer
//! lock: only the records committed meanwhile are appended under it.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;
use crate::files;
use crate::manifest::FileMeta;
use crate::retention::{self, Expired};
use crate::snapshot::MemBatch;
use crate::table::{self, Data, INGEST_COLUMN, Table, TableInner, lock};
use crate::wal::{self, Record, WalWriter};

/// When and how tables are maintained.
#[derive(Debug, Clone)]
pub struct MaintenancePolicy {
    /// How often the background thread runs; `None` runs no thread (call
    /// [`Table::maintain`] yourself).
    pub interval: Option<Duration>,
    /// In-memory batches of fewer rows are merged…
    pub merge_below_rows: usize,
    /// …into batches of up to this many rows.
    pub merge_target_rows: usize,
    /// An append table whose in-memory rows take more flushes the oldest to Parquet, down to
    /// half of it.
    pub memory_limit_bytes: usize,
    /// An upsert table whose changes since its last state file take more writes a new one.
    pub upsert_log_limit_bytes: usize,
    /// An upsert table with more slots than this merges them.
    pub upsert_max_slots: usize,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        MaintenancePolicy {
            interval: Some(Duration::from_secs(1)),
            merge_below_rows: 64 * 1024,
            merge_target_rows: 256 * 1024,
            memory_limit_bytes: 512 << 20,
            upsert_log_limit_bytes: 256 << 20,
            upsert_max_slots: 64,
        }
    }
}

/// What one maintenance pass did to a table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Rows and files dropped by retention.
    pub expired: Expired,
    /// In-memory batches merged away.
    pub merged_batches: usize,
    /// Whether rows were flushed to a Parquet file.
    pub flushed: bool,
}

impl Table {
    /// Runs one maintenance pass on the table now: retention, merging, flushing.
    pub fn maintain(&self, policy: &MaintenancePolicy) -> Result<MaintenanceReport> {
        maintain(&self.inner, policy, table::now_ms())
    }

    /// Flushes every committed row in memory to Parquet (an upsert table: its state).
    pub fn flush(&self) -> Result<bool> {
        let _guard = lock(&self.inner.maintenance);
        match self.inner.config.is_upsert() {
            true => flush_keyed(&self.inner),
            false => flush_append(&self.inner, 0),
        }
    }
}

/// One maintenance pass over `table` at `now_ms`.
pub(crate) fn maintain(
    table: &TableInner,
    policy: &MaintenancePolicy,
    now_ms: i64,
) -> Result<MaintenanceReport> {
    let _guard = lock(&table.maintenance);
    let mut report = MaintenanceReport {
        expired: retention::apply(table, now_ms)?,
        ..MaintenanceReport::default()
    };
    if table.config.is_upsert() {
        let (compacted, log_bytes) = {
            let mut writer = table.writer();
            let Data::Keyed { state, changes } = &mut writer.data else {
                unreachable!("an upsert table has keyed data")
            };
            let compacted = state.compact(policy.upsert_max_slots)?;
            let bytes: usize = changes.iter().map(|(_, b)| b.get_array_memory_size()).sum();
            if compacted {
                table.publish(&writer);
            }
            (compacted, bytes)
        };
        report.merged_batches = usize::from(compacted);
        if log_bytes > policy.upsert_log_limit_bytes {
            report.flushed = flush_keyed(table)?;
        }
    } else {
        report.merged_batches = merge(table, policy)?;
        let bytes: usize = table
            .snapshot()
            .batches
            .iter()
            .map(MemBatch::memory_size)
            .sum();
        if bytes > policy.memory_limit_bytes {
            report.flushed = flush_append(table, policy.memory_limit_bytes / 2)?;
        }
    }
    Ok(report)
}

/// Merges runs of small in-memory batches of an append table; returns how many batches
/// were merged away.
fn merge(table: &TableInner, policy: &MaintenancePolicy) -> Result<usize> {
    let current = match &table.writer().data {
        Data::Append(batches) => batches.clone(),
        Data::Keyed { .. } => return Ok(0),
    };
    let schema = &table.config.schema;
    let mut merged: Vec<MemBatch> = Vec::with_capacity(current.len());
    let mut run: Vec<&MemBatch> = Vec::new();
    let mut run_rows = 0;
    let mut removed = 0;
    let mut close = |run: &mut Vec<&MemBatch>, merged: &mut Vec<MemBatch>| -> Result<()> {
        match run.len() {
            0 => {}
            1 => merged.push(run[0].clone()),
            n => {
                let batch = concat_batches(schema, run.iter().map(|b| &b.batch))?;
                let ingest = run.iter().map(|b| b.ingest_ms).max().unwrap_or(0);
                merged.push(MemBatch::new(batch, ingest));
                removed += n - 1;
            }
        }
        run.clear();
        Ok(())
    };
    for b in &current {
        if b.num_rows() >= policy.merge_below_rows {
            close(&mut run, &mut merged)?;
            run_rows = 0;
            merged.push(b.clone());
            continue;
        }
        if run_rows + b.num_rows() > policy.merge_target_rows {
            close(&mut run, &mut merged)?;
            run_rows = 0;
        }
        run.push(b);
        run_rows += b.num_rows();
    }
    close(&mut run, &mut merged)?;
    if removed == 0 {
        return Ok(0);
    }
    let mut writer = table.writer();
    let Data::Append(batches) = &mut writer.data else {
        unreachable!("checked above")
    };
    // Commits only append meanwhile (maintenance is serialized), so the first
    // `current.len()` batches are the ones merged.
    let newer = batches.split_off(current.len());
    *batches = merged;
    batches.extend(newer);
    table.publish(&writer);
    Ok(removed)
}

/// Flushes the oldest in-memory batches of an append table to a Parquet file, keeping the
/// newest that take up to `keep_bytes` in memory.
fn flush_append(table: &TableInner, keep_bytes: usize) -> Result<bool> {
    let (flushed, kept, generation, number) = {
        let writer = table.writer();
        if writer.wal.is_none() {
            return Ok(false);
        }
        let Data::Append(batches) = &writer.data else {
            return Ok(false);
        };
        let mut kept_bytes = 0;
        let mut split = batches.len();
        while split > 0 && kept_bytes + batches[split - 1].memory_size() <= keep_bytes {
            kept_bytes += batches[split - 1].memory_size();
            split -= 1;
        }
        (
            batches[..split].to_vec(),
            batches[split..].to_vec(),
            writer.manifest.generation,
            writer.manifest.next_file,
        )
    };
    if flushed.is_empty() {
        return Ok(false);
    }
    let name = format!("data-{number:06}.parquet");
    let rows: Vec<RecordBatch> = flushed.iter().map(|b| b.batch.clone()).collect();
    files::write(&table.dir.join(&name), &table.config.schema, &rows)?;
    let meta = table::file_meta(name.clone(), &table.config, &flushed)?;
    let mut wal = WalWriter::open(&wal::path(&table.dir, generation + 1), 0)?;
    for b in &kept {
        wal.append(&Record::Data {
            ingest_ms: b.ingest_ms,
            batch: b.batch.clone(),
        })?;
    }
    let mut writer = table.writer();
    let Data::Append(batches) = &writer.data else {
        unreachable!("checked above")
    };
    let newer: Vec<Record> = batches[flushed.len() + kept.len()..]
        .iter()
        .map(|b| Record::Data {
            ingest_ms: b.ingest_ms,
            batch: b.batch.clone(),
        })
        .collect();
    let n_flushed = flushed.len();
    switch_generation(table, &mut writer, wal, newer, Some(meta), false)?;
    let Data::Append(batches) = &mut writer.data else {
        unreachable!("checked above")
    };
    batches.drain(..n_flushed);
    table.publish(&writer);
    Ok(true)
}

/// Writes an upsert table's whole state into a Parquet file and starts a new log with the
/// changes applied since.
fn flush_keyed(table: &TableInner) -> Result<bool> {
    let (rows, ingest, applied, generation, number) = {
        let writer = table.writer();
        if writer.wal.is_none() {
            return Ok(false);
        }
        let Data::Keyed { state, changes } = &writer.data else {
            return Ok(false);
        };
        let (rows, ingest) = state.live_rows()?;
        (
            rows,
            ingest,
            changes.len(),
            writer.manifest.generation,
            writer.manifest.next_file,
        )
    };
    let name = format!("state-{number:06}.parquet");
    let mut fields: Vec<Arc<Field>> = table.config.schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(INGEST_COLUMN, DataType::Int64, false)));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    columns.push(Arc::new(ingest.clone()) as ArrayRef);
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    files::write(&table.dir.join(&name), &schema, &[batch])?;
    let meta = FileMeta {
        name,
        rows: rows.num_rows() as u64,
        min_ingest_ms: arrow::compute::min(&ingest).unwrap_or(0),
        max_ingest_ms: arrow::compute::max(&ingest).unwrap_or(0),
        max_time_ms: None,
    };
    let wal = WalWriter::open(&wal::path(&table.dir, generation + 1), 0)?;
    let mut writer = table.writer();
    let Data::Keyed { changes, .. } = &writer.data else {
        unreachable!("checked above")
    };
    let newer: Vec<Record> = changes[applied..]
        .iter()
        .map(|(ms, b)| Record::Data {
            ingest_ms: *ms,
            batch: b.clone(),
        })
        .collect();
    switch_generation(table, &mut writer, wal, newer, Some(meta), true)?;
    let Data::Keyed { changes, .. } = &mut writer.data else {
        unreachable!("checked above")
    };
    changes.drain(..applied);
    Ok(true)
}

/// Completes a flush under the writer lock: appends the records committed since the flush
/// began and the pending transactions to the new log, fsyncs it, and replaces the manifest
/// (the commit point); then removes the old log and, if `replace_files`, the old files.
fn switch_generation(
    table: &TableInner,
    writer: &mut table::Writer,
    mut wal: WalWriter,
    newer: Vec<Record>,
    file: Option<FileMeta>,
    replace_files: bool,
) -> Result<()> {
    for record in newer.iter().chain(&writer.pending_records()) {
        wal.append(record)?;
    }
    wal.sync()?;
    let mut manifest = writer.manifest.clone();
    let old_wal = wal::path(&table.dir, manifest.generation);
    let old_files: Vec<PathBuf> = match replace_files {
        true => manifest
            .files
            .drain(..)
            .map(|f| table.dir.join(f.name))
            .collect(),
        false => Vec::new(),
    };
    manifest.generation += 1;
    manifest.next_file += 1;
    manifest.files.extend(file);
    manifest.save(&table.dir)?;
    writer.manifest = manifest;
    writer.wal = Some(wal);
    for path in std::iter::once(old_wal).chain(old_files) {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
    Ok(())
}

/// The background thread that maintains the tables of a store, and its stop signal.
pub(crate) struct Maintainer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Maintainer {
    /// Starts a thread that, every `interval`, maintains each table `tables` lists (while the
    /// store it belongs to lives).
    pub fn start<S: Send + Sync + 'static>(
        store: Weak<S>,
        tables: fn(&S) -> Vec<Table>,
        policy: MaintenancePolicy,
        interval: Duration,
    ) -> Maintainer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("spate-store-maintenance".into())
            .spawn(move || {
                loop {
                    {
                        let (stopped, wake) = &*signal;
                        let guard = lock(stopped);
                        let (guard, _) = wake
                            .wait_timeout_while(guard, interval, |s| !*s)
                            .unwrap_or_else(|e| e.into_inner());
                        if *guard {
                            return;
                        }
                    }
                    let Some(store) = store.upgrade() else {
                        return;
                    };
                    for table in tables(&store) {
                        if let Err(e) = table.maintain(&policy) {
                            tracing::warn!("maintenance of table {}: {e}", table.name());
                        }
                    }
                }
            })
            .expect("spawning the maintenance thread");
        Maintainer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Maintainer {
    fn drop(&mut self) {
        *lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
