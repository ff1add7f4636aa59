//! The store: a directory of tables, opened by one writing process (others may open it
//! read-only), queried with SQL.
//!
//! Layout: `<dir>/LOCK` (held by the writer), `<dir>/tables/<name>/` per table with its
//! definition (`table.json`, `schema.arrow`), `manifest.json`, write-ahead log
//! `wal-<generation>.log` and Parquet files.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SessionState;
use tokio::sync::broadcast;

use crate::config::TableConfig;
use crate::error::{Result, StoreError, io};
use crate::maintenance::{Maintainer, MaintenancePolicy};
use crate::provider::{StoreSchema, TableSource};
use crate::query::{self, QueryLimits, QueryOutput};
use crate::retention;
use crate::snapshot::Snapshot;
use crate::table::{Table, TableChange, now_ms};

/// How a store runs.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Retention, merging and flushing, and how often the background thread does them.
    pub maintenance: MaintenancePolicy,
    /// The limits of [`Store::sql`].
    pub query_limits: QueryLimits,
    /// Threads (partitions) per query.
    pub query_threads: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            maintenance: MaintenancePolicy::default(),
            query_limits: QueryLimits::default(),
            query_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The embedded serving store. Cloning gives another handle on the same store; the
/// background maintenance stops when the last handle is dropped.
#[derive(Clone)]
pub struct Store {
    // Dropped first: stops and joins the maintenance thread before the store goes.
    _maintainer: Option<Arc<Maintainer>>,
    inner: Arc<StoreInner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("read_only", &self.inner.read_only)
            .finish()
    }
}

#[derive(Debug)]
struct StoreInner {
    dir: PathBuf,
    read_only: bool,
    tables: RwLock<BTreeMap<String, Table>>,
    options: StoreOptions,
    session: SessionState,
    /// Held while the store is open for writing.
    _lock: Option<File>,
}

impl TableSource for StoreInner {
    fn names(&self) -> Vec<String> {
        self.tables().keys().cloned().collect()
    }

    fn snapshot(&self, name: &str) -> Option<Arc<Snapshot>> {
        self.tables().get(name).map(Table::snapshot)
    }
}

impl StoreInner {
    fn tables(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Table>> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// Opens (creating it if needed) the store in `dir` for writing, with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens the store in `dir` for writing: takes its lock (one writing process at a time),
    /// recovers every table from its files and log, drops rows past retention, and starts
    /// the background maintenance.
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Store::open_inner(dir.as_ref(), options, false)
    }

    /// Opens the store in `dir` to query it, beside a process that may be writing it: takes
    /// no lock and writes nothing (a torn log tail is ignored, not truncated). The tables are
    /// as they were at the opening, until [`Store::reload`].
    pub fn open_read_only(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Store::open_inner(dir.as_ref(), options, true)
    }

    fn open_inner(dir: &Path, options: StoreOptions, read_only: bool) -> Result<Store> {
        let tables_dir = dir.join("tables");
        let lock = match read_only {
            true => None,
            false => {
                std::fs::create_dir_all(&tables_dir).map_err(io(&tables_dir))?;
                let path = dir.join("LOCK");
                let file = File::create(&path).map_err(io(&path))?;
                match file.try_lock() {
                    Ok(()) => Some(file),
                    Err(TryLockError::WouldBlock) => {
                        return Err(StoreError::Locked {
                            dir: dir.to_path_buf(),
                        });
                    }
                    Err(TryLockError::Error(e)) => return Err(io(&path)(e)),
                }
            }
        };
        let tables = load_tables(&tables_dir, read_only)?;
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<StoreInner>| {
            let source: std::sync::Weak<dyn TableSource> = weak.clone();
            let schema = Arc::new(StoreSchema { tables: source });
            StoreInner {
                dir: dir.to_path_buf(),
                read_only,
                tables: RwLock::new(tables),
                session: query::template(options.query_threads.max(1), schema)
                    .expect("the default catalog exists"),
                options,
                _lock: lock,
            }
        });
        let maintainer = match (read_only, inner.options.maintenance.interval) {
            (false, Some(interval)) => Some(Arc::new(Maintainer::start(
                Arc::downgrade(&inner),
                |store: &StoreInner| store.tables().values().cloned().collect(),
                inner.options.maintenance.clone(),
                interval,
            ))),
            _ => None,
        };
        Ok(Store {
            _maintainer: maintainer,
            inner,
        })
    }

    /// Reads the tables of a store opened read-only again: afterwards queries see the rows
    /// committed and the tables created since it was opened (or last reloaded). It costs what
    /// opening does (each table's log is replayed, an upsert table's state file read). A
    /// store opened for writing sees its own commits: for it this does nothing.
    pub fn reload(&self) -> Result<()> {
        if !self.inner.read_only {
            return Ok(());
        }
        let tables = load_tables(&self.inner.dir.join("tables"), true)?;
        *self.inner.tables.write().unwrap_or_else(|e| e.into_inner()) = tables;
        Ok(())
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The store's options.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// The names of the tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// The table `name`.
    pub fn table(&self, name: &str) -> Result<Table> {
        self.inner
            .tables()
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchTable {
                name: name.to_string(),
                known: self.table_names(),
            })
    }

    /// Creates the table `config`, or returns it if it exists with the same columns and
    /// key. A different retention is taken over when no one else holds the table.
    pub fn create_table(&self, config: TableConfig) -> Result<Table> {
        if self.inner.read_only {
            return Err(StoreError::ReadOnly {
                action: format!("create table {}", config.name),
            });
        }
        config.validate()?;
        let mut tables = self.inner.tables.write().unwrap_or_else(|e| e.into_inner());
        let dir = self.inner.dir.join("tables").join(&config.name);
        if let Some(existing) = tables.get(&config.name) {
            let old = existing.config();
            let same_columns = old.schema.fields().len() == config.schema.fields().len()
                && old
                    .schema
                    .fields()
                    .iter()
                    .zip(config.schema.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same_columns || old.primary_key != config.primary_key {
                return Err(StoreError::InvalidTable {
                    table: config.name.clone(),
                    message: format!(
                        "the store has it with columns ({}){}; the new definition differs",
                        describe_columns(&old.schema),
                        match old.primary_key.is_empty() {
                            true => String::new(),
                            false => format!(" and PRIMARY KEY ({})", old.primary_key.join(", ")),
                        }
                    ),
                });
            }
            if old.retention == config.retention {
                return Ok(existing.clone());
            }
            if Arc::strong_count(&existing.inner) > 1 {
                return Err(StoreError::InvalidTable {
                    table: config.name.clone(),
                    message: "its retention cannot change while it is being written".into(),
                });
            }
            tables.remove(&config.name);
            crate::config::save(&dir, &config)?;
            let table = Table::open(&dir, &config.name, false)?;
            tables.insert(config.name.clone(), table.clone());
            return Ok(table);
        }
        let table = Table::create(&dir, config)?;
        tables.insert(table.name().to_string(), table.clone());
        Ok(table)
    }

    /// Runs the SQL query `sql` over the tables, with the store's default limits.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.sql_with(sql, self.inner.options.query_limits).await
    }

    /// Runs the SQL query `sql` over the tables, within `limits`. Each table is read as one
    /// snapshot taken when the query is planned; writes go on meanwhile.
    pub async fn sql_with(&self, sql: &str, limits: QueryLimits) -> Result<Vec<RecordBatch>> {
        Ok(self.query_with(sql, limits).await?.batches)
    }

    /// Runs the SQL query `sql` as [`Store::sql_with`] does, and also returns the columns of
    /// its answer (which a result without rows does not carry).
    pub async fn query_with(&self, sql: &str, limits: QueryLimits) -> Result<QueryOutput> {
        self.run(sql, limits, true).await
    }

    /// The columns the SQL query `sql` would answer with: checks and plans it, without
    /// running it.
    pub async fn describe(&self, sql: &str, limits: QueryLimits) -> Result<SchemaRef> {
        Ok(self.run(sql, limits, false).await?.schema)
    }

    async fn run(&self, sql: &str, limits: QueryLimits, execute: bool) -> Result<QueryOutput> {
        let inner = &self.inner;
        let exists = |name: &str| match inner.tables().contains_key(name) {
            true => None,
            false => Some(inner.names()),
        };
        query::run(&inner.session, exists, sql, limits, execute).await
    }

    /// A receiver of the rows of every commit to table `name` from now on.
    pub fn subscribe(&self, name: &str) -> Result<broadcast::Receiver<TableChange>> {
        Ok(self.table(name)?.subscribe())
    }
}

/// The tables in `tables_dir`; opened for writing, their expired rows are dropped.
fn load_tables(tables_dir: &Path, read_only: bool) -> Result<BTreeMap<String, Table>> {
    let mut tables = BTreeMap::new();
    if !tables_dir.is_dir() {
        return Ok(tables);
    }
    for entry in std::fs::read_dir(tables_dir).map_err(io(tables_dir))? {
        let path = entry.map_err(io(tables_dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        if !path.is_dir() || !crate::config::valid_name(&name) {
            continue;
        }
        let table = Table::open(&path, &name, read_only)?;
        if !read_only {
            retention::apply(&table.inner, now_ms())?;
        }
        tables.insert(name, table);
    }
    Ok(tables)
}

/// `name TYPE, …` of a schema, for messages.
fn describe_columns(schema: &arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
