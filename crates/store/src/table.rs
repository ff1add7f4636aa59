//! A table of the store: its write-ahead log, its committed rows (in memory and in Parquet
//! files), the snapshot queries read, and the notifications of its commits.
//!
//! Writers serialize on the table's writer lock; a query only clones the current snapshot
//! (an `Arc`) under a read lock held for that clone, so reads never wait on writes beyond it
//! and writes never wait on queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::SchemaRef;
use spate_engine::changelog;
use tokio::sync::broadcast;

use crate::config::{self, TableConfig};
use crate::error::{Result, StoreError, io};
use crate::files;
use crate::keyed::KeyedState;
use crate::manifest::{FileMeta, Manifest};
use crate::snapshot::{MemBatch, Snapshot};
use crate::wal::{self, Record, WalWriter};

/// The hidden column of an upsert table's state file: each row's ingest time.
pub(crate) const INGEST_COLUMN: &str = "_spate_ingest_ms";

/// How many commit notifications a slow subscriber may fall behind before it misses some.
const CHANGE_CAPACITY: usize = 1024;

/// Rows committed to a table, as its subscribers receive them.
#[derive(Debug, Clone)]
pub struct TableChange {
    /// The table.
    pub table: String,
    /// The committed rows; of an upsert table, the changes as written (with a last
    /// `_rowkind` column when they were a changelog), whose keys were upserted or deleted.
    pub rows: Vec<RecordBatch>,
    /// When they were committed (epoch ms).
    pub ingest_ms: i64,
}

/// Figures about a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// Committed rows in memory (of an upsert table: its keys).
    pub memory_rows: usize,
    /// In-memory batches.
    pub memory_batches: usize,
    /// The memory the in-memory rows take.
    pub memory_bytes: usize,
    /// Parquet files.
    pub files: usize,
    /// Rows in Parquet files (of an upsert table: in its last state file).
    pub file_rows: u64,
    /// Size of the write-ahead log.
    pub wal_bytes: u64,
}

/// A transaction's rows not yet visible.
#[derive(Debug, Default)]
pub(crate) struct Txn {
    /// Written since the last prepare.
    pub open: Vec<RecordBatch>,
    /// Prepared, per checkpoint, in order.
    pub prepared: Vec<(u64, Vec<RecordBatch>)>,
}

/// The committed rows, as the writer keeps them.
pub(crate) enum Data {
    /// An append table's batches, oldest first, not yet flushed to files.
    Append(Vec<MemBatch>),
    /// An upsert table's state, and the changes applied since its last state file.
    Keyed {
        state: Box<KeyedState>,
        changes: Vec<(i64, RecordBatch)>,
    },
}

/// What the writer lock guards.
pub(crate) struct Writer {
    /// The log; `None` when read-only.
    pub wal: Option<WalWriter>,
    pub manifest: Manifest,
    pub txns: HashMap<String, Txn>,
    pub data: Data,
}

impl Writer {
    /// Applies a record (replayed or just logged); returns the rows it commits.
    fn apply(&mut self, record: Record) -> Result<Vec<(i64, RecordBatch)>> {
        match record {
            Record::Write { txn, batch } => self.txns.entry(txn).or_default().open.push(batch),
            Record::Prepare { txn, checkpoint } => {
                let t = self.txns.entry(txn).or_default();
                let open = std::mem::take(&mut t.open);
                if !open.is_empty() {
                    t.prepared.push((checkpoint, open));
                }
            }
            Record::Commit { txn, upto, at_ms } => {
                let Some(t) = self.txns.get_mut(&txn) else {
                    return Ok(Vec::new());
                };
                let (done, keep) = std::mem::take(&mut t.prepared)
                    .into_iter()
                    .partition(|(c, _)| *c <= upto);
                t.prepared = keep;
                if t.open.is_empty() && t.prepared.is_empty() {
                    self.txns.remove(&txn);
                }
                let committed: Vec<(i64, RecordBatch)> = done
                    .into_iter()
                    .flat_map(|(_, batches)| batches)
                    .map(|b| (at_ms, b))
                    .collect();
                for (ms, batch) in &committed {
                    self.add(batch.clone(), *ms)?;
                }
                return Ok(committed);
            }
            Record::Abort { txn, after } => {
                if let Some(t) = self.txns.get_mut(&txn) {
                    t.open.clear();
                    t.prepared.retain(|(c, _)| after.is_some_and(|a| *c <= a));
                    if t.prepared.is_empty() {
                        self.txns.remove(&txn);
                    }
                }
            }
            Record::Data { ingest_ms, batch } => {
                self.add(batch.clone(), ingest_ms)?;
                return Ok(vec![(ingest_ms, batch)]);
            }
        }
        Ok(Vec::new())
    }

    /// Adds committed rows.
    fn add(&mut self, batch: RecordBatch, ingest_ms: i64) -> Result<()> {
        match &mut self.data {
            Data::Append(batches) => {
                if batch.num_rows() > 0 {
                    batches.push(MemBatch::new(batch, ingest_ms));
                }
            }
            Data::Keyed { state, changes } => {
                state.apply(&batch, ingest_ms)?;
                changes.push((ingest_ms, batch));
            }
        }
        Ok(())
    }

    /// The log records that recreate the pending transactions.
    pub fn pending_records(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for (txn, t) in &self.txns {
            for (checkpoint, batches) in &t.prepared {
                records.extend(batches.iter().map(|b| Record::Write {
                    txn: txn.clone(),
                    batch: b.clone(),
                }));
                records.push(Record::Prepare {
                    txn: txn.clone(),
                    checkpoint: *checkpoint,
                });
            }
            records.extend(t.open.iter().map(|b| Record::Write {
                txn: txn.clone(),
                batch: b.clone(),
            }));
        }
        records
    }

    fn wal(&mut self) -> Result<&mut WalWriter> {
        self.wal.as_mut().ok_or_else(|| StoreError::ReadOnly {
            action: "write to a table".into(),
        })
    }
}

/// A table of the store. Cloning gives another handle on the same table.
#[derive(Clone)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.inner.config.name)
            .finish()
    }
}

pub(crate) struct TableInner {
    pub config: Arc<TableConfig>,
    pub dir: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
    writer: Mutex<Writer>,
    changes: broadcast::Sender<TableChange>,
    /// Serializes maintenance (retention, merging, flushing) of the table.
    pub maintenance: Mutex<()>,
}

/// Locks `mutex`, going on after a panic of another holder (the guarded state is
/// consistent between statements that can panic).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Table {
    /// Creates the table `config` in the directory `dir` (which must not hold one).
    pub(crate) fn create(dir: &Path, config: TableConfig) -> Result<Table> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        config::save(dir, &config)?;
        crate::fsutil::sync_dir(dir.parent().unwrap_or(dir))?;
        Table::open(dir, &config.name, false)
    }

    /// Opens the table in `dir`: reads its definition and manifest, loads an upsert table's
    /// state file and replays the log. Writable, it also truncates a torn log tail and
    /// removes files a crash left behind.
    pub(crate) fn open(dir: &Path, name: &str, read_only: bool) -> Result<Table> {
        let config = Arc::new(config::load(dir, name)?);
        // A writer in another process may rotate the log while a reader loads it: the
        // manifest read after the log tells.
        let mut attempts = 0;
        let (writer, replay_len) = loop {
            let manifest = Manifest::load(dir)?;
            let (writer, replay) = Self::recover(dir, &config, manifest.clone())?;
            if read_only && Manifest::load(dir)? != manifest && attempts < 5 {
                attempts += 1;
                continue;
            }
            break (writer, replay);
        };
        let mut writer = writer;
        if !read_only {
            let path = wal::path(dir, writer.manifest.generation);
            if replay_len.1 != replay_len.0 {
                tracing::warn!(
                    "{}: truncating a torn tail of {} bytes",
                    path.display(),
                    replay_len.1 - replay_len.0
                );
            }
            writer.wal = Some(WalWriter::open(&path, replay_len.0)?);
            remove_leftovers(dir, &writer.manifest)?;
        }
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let inner = TableInner {
            snapshot: RwLock::new(Arc::new(Snapshot {
                config: Arc::clone(&config),
                batches: Vec::new(),
                files: Vec::new(),
            })),
            config,
            dir: dir.to_path_buf(),
            writer: Mutex::new(writer),
            changes,
            maintenance: Mutex::new(()),
        };
        let table = Table {
            inner: Arc::new(inner),
        };
        table.inner.publish(&lock(&table.inner.writer));
        Ok(table)
    }

    /// The writer state of the table in `dir` as of `manifest`, and the valid and whole
    /// lengths of its log.
    fn recover(
        dir: &Path,
        config: &Arc<TableConfig>,
        manifest: Manifest,
    ) -> Result<(Writer, (u64, u64))> {
        let data = if config.is_upsert() {
            let mut state = KeyedState::new(
                &config.name,
                Arc::clone(&config.schema),
                &config.primary_key,
            )?;
            for file in &manifest.files {
                for batch in files::read(&dir.join(&file.name))? {
                    let (rows, ingest) =
                        split_ingest(&config.schema, batch, &dir.join(&file.name))?;
                    state.load(rows, ingest)?;
                }
            }
            Data::Keyed {
                state: Box::new(state),
                changes: Vec::new(),
            }
        } else {
            Data::Append(Vec::new())
        };
        let replay = wal::read(&wal::path(dir, manifest.generation))?;
        let mut writer = Writer {
            wal: None,
            manifest,
            txns: HashMap::new(),
            data,
        };
        for record in replay.records {
            writer.apply(record)?;
        }
        Ok((writer, (replay.valid_len, replay.file_len)))
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The table's definition.
    pub fn config(&self) -> &TableConfig {
        &self.inner.config
    }

    /// The table's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.inner.config.schema)
    }

    /// The committed rows as of now; later writes do not change it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot()
    }

    /// A receiver of the rows of every commit from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TableChange> {
        self.inner.changes.subscribe()
    }

    /// Figures about the table.
    pub fn stats(&self) -> TableStats {
        let snapshot = self.snapshot();
        let writer = lock(&self.inner.writer);
        TableStats {
            memory_rows: snapshot.memory_rows(),
            memory_batches: snapshot.batches.len(),
            memory_bytes: snapshot.batches.iter().map(MemBatch::memory_size).sum(),
            files: writer.manifest.files.len(),
            file_rows: writer.manifest.files.iter().map(|f| f.rows).sum(),
            wal_bytes: writer.wal.as_ref().map_or(0, WalWriter::len),
        }
    }

    /// Checks rows against the table and returns them in its schema: the columns in order,
    /// cast where the types differ but convert; an upsert table keeps a changelog's last
    /// row-kind column, an append table takes inserts only.
    pub fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let config = &self.inner.config;
        let bad = |message: String| StoreError::BadRows {
            table: config.name.clone(),
            message,
        };
        let is_changelog = changelog::is_changelog(batch.schema_ref());
        if is_changelog && !config.is_upsert() {
            let kinds = batch.column(batch.num_columns() - 1);
            if !changelog::all_inserts(kinds.as_ref()) {
                return Err(bad(
                    "an append table takes inserts only; declare a PRIMARY KEY for updates and deletes"
                        .into(),
                ));
            }
        }
        let rows = changelog::without_row_kind(batch);
        let schema = &config.schema;
        if rows.num_columns() != schema.fields().len() {
            return Err(bad(format!(
                "the table has {} columns, the rows {}",
                schema.fields().len(),
                rows.num_columns()
            )));
        }
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (field, column) in schema.fields().iter().zip(rows.columns()) {
            if column.data_type() == field.data_type() {
                columns.push(Arc::clone(column));
            } else if can_cast_types(column.data_type(), field.data_type()) {
                columns.push(cast(column, field.data_type())?);
            } else {
                return Err(bad(format!(
                    "column {} is {}, the rows hold {}",
                    field.name(),
                    field.data_type(),
                    column.data_type()
                )));
            }
        }
        let out_schema = if is_changelog && config.is_upsert() {
            columns.push(Arc::clone(batch.column(batch.num_columns() - 1)));
            changelog::with_row_kind(schema)
        } else {
            Arc::clone(schema)
        };
        RecordBatch::try_new(out_schema, columns).map_err(|e| bad(e.to_string()))
    }

    /// Writes rows for transaction `txn` (not visible until prepared and committed). The
    /// rows must be conformed (see [`Table::conform`]).
    pub fn write(&self, txn: &str, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.inner.log(
            Record::Write {
                txn: txn.to_string(),
                batch,
            },
            false,
        )?;
        Ok(())
    }

    /// Assigns the rows `txn` wrote since its last prepare to `checkpoint`, durably: once this
    /// returns they survive a crash and a later [`Table::commit`] makes them visible.
    pub fn prepare(&self, txn: &str, checkpoint: u64) -> Result<()> {
        self.inner.log(
            Record::Prepare {
                txn: txn.to_string(),
                checkpoint,
            },
            true,
        )?;
        Ok(())
    }

    /// Makes the rows `txn` prepared for checkpoints up to `upto` visible, and notifies
    /// subscribers. Idempotent: rows already committed are not committed again. Returns the
    /// number of rows committed.
    pub fn commit(&self, txn: &str, upto: u64) -> Result<usize> {
        let committed = {
            let mut writer = lock(&self.inner.writer);
            let due = writer
                .txns
                .get(txn)
                .is_some_and(|t| t.prepared.iter().any(|(c, _)| *c <= upto));
            if !due {
                return Ok(0);
            }
            let record = Record::Commit {
                txn: txn.to_string(),
                upto,
                at_ms: now_ms(),
            };
            let committed = self.inner.log_locked(&mut writer, record, true)?;
            self.inner.publish(&writer);
            committed
        };
        Ok(self.inner.notify(committed))
    }

    /// Discards the rows `txn` prepared after checkpoint `after` (all of them with `None`)
    /// and the rows it wrote since its last prepare.
    pub fn abort(&self, txn: &str, after: Option<u64>) -> Result<()> {
        let mut writer = lock(&self.inner.writer);
        let due = writer.txns.get(txn).is_some_and(|t| {
            !t.open.is_empty() || t.prepared.iter().any(|(c, _)| after.is_none_or(|a| *c > a))
        });
        if due {
            let record = Record::Abort {
                txn: txn.to_string(),
                after,
            };
            self.inner.log_locked(&mut writer, record, true)?;
        }
        Ok(())
    }
}

impl TableInner {
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, Writer> {
        lock(&self.writer)
    }

    /// Logs `record` (fsynced if `sync`) and applies it; publishes a new snapshot and
    /// notifies subscribers if it commits rows.
    fn log(&self, record: Record, sync: bool) -> Result<()> {
        let committed = {
            let mut writer = lock(&self.writer);
            let committed = self.log_locked(&mut writer, record, sync)?;
            if !committed.is_empty() {
                self.publish(&writer);
            }
            committed
        };
        self.notify(committed);
        Ok(())
    }

    fn log_locked(
        &self,
        writer: &mut Writer,
        record: Record,
        sync: bool,
    ) -> Result<Vec<(i64, RecordBatch)>> {
        let wal = writer.wal()?;
        wal.append(&record)?;
        if sync {
            wal.sync()?;
        }
        writer.apply(record)
    }

    /// Sends committed rows to subscribers; returns their number.
    fn notify(&self, committed: Vec<(i64, RecordBatch)>) -> usize {
        let rows = committed.iter().map(|(_, b)| b.num_rows()).sum();
        if let Some(&(ingest_ms, _)) = committed.first() {
            // No subscriber is not an error.
            let _ = self.changes.send(TableChange {
                table: self.config.name.clone(),
                rows: committed.into_iter().map(|(_, b)| b).collect(),
                ingest_ms,
            });
        }
        rows
    }

    /// Makes the writer's committed rows the snapshot queries read.
    pub(crate) fn publish(&self, writer: &Writer) {
        let (batches, files) = match &writer.data {
            Data::Append(batches) => (
                batches.clone(),
                writer
                    .manifest
                    .files
                    .iter()
                    .map(|f| (self.dir.join(&f.name), f.clone()))
                    .collect(),
            ),
            Data::Keyed { state, .. } => (state.views(), Vec::new()),
        };
        let snapshot = Arc::new(Snapshot {
            config: Arc::clone(&self.config),
            batches,
            files,
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}

/// Splits a state file's batch into the table's rows and their ingest times.
pub(crate) fn split_ingest(
    schema: &SchemaRef,
    batch: RecordBatch,
    path: &Path,
) -> Result<(RecordBatch, Int64Array)> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let n = schema.fields().len();
    if batch.num_columns() != n + 1 {
        return Err(corrupt(format!(
            "a state file of {} columns for a table of {n}",
            batch.num_columns()
        )));
    }
    let ingest = batch
        .column(n)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| corrupt(format!("its last column is not {INGEST_COLUMN}")))?
        .clone();
    let rows = RecordBatch::try_new(Arc::clone(schema), batch.columns()[..n].to_vec())
        .map_err(|e| corrupt(e.to_string()))?;
    Ok((rows, ingest))
}

/// Removes what a crash can leave in a table directory: temporary files, logs of other
/// generations and Parquet files the manifest does not name.
fn remove_leftovers(dir: &Path, manifest: &Manifest) -> Result<()> {
    let current = wal::path(dir, manifest.generation);
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let leftover = name.ends_with(".tmp")
            || (name.starts_with("wal-") && path != current)
            || (name.ends_with(".parquet") && !manifest.files.iter().any(|f| f.name == name));
        if leftover {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// The metadata of a new file holding `batches`.
pub(crate) fn file_meta(
    name: String,
    config: &TableConfig,
    batches: &[MemBatch],
) -> Result<FileMeta> {
    let mut max_time_ms = None;
    if let Some(column) = config
        .retention
        .as_ref()
        .and_then(|r| r.time_column.as_ref())
    {
        let index = config.schema.index_of(column)?;
        for b in batches {
            let ms = crate::retention::time_ms(b.batch.column(index))?;
            if let Some(max) = arrow::compute::max(&ms) {
                max_time_ms = Some(max_time_ms.map_or(max, |m: i64| m.max(max)));
            }
        }
    }
    Ok(FileMeta {
        name,
        rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
        min_ingest_ms: batches.iter().map(|b| b.ingest_ms).min().unwrap_or(0),
        max_ingest_ms: batches.iter().map(|b| b.ingest_ms).max().unwrap_or(0),
        max_time_ms,
    })
}
