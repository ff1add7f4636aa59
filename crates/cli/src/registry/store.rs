//! The options of `spate-store` tables: which table of the serving store a sink writes
//! (`table-name`, the SQL table's name by default) and how long it keeps rows (`retention`,
//! counted by `retention.time-column` or, without it, by ingest time). A `PRIMARY KEY (…)
//! NOT ENFORCED` makes it an upsert table.
//!
//! The store is `<data-dir>/store`, beside the log; one store per process is opened, by the
//! first sink that needs it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use spate_engine::EngineError;
use spate_engine::sink::SinkFactory;
use spate_log::Log;
use spate_sql::{SqlError, TableDef};
use spate_store::{Retention, Store, StoreSink, TableConfig};

use super::invalid;

/// Where a registry's store is; opened on first use.
pub(crate) struct StoreHandle {
    dir: PathBuf,
}

impl StoreHandle {
    /// The store beside `log`: `<data-dir>/store` for the log `<data-dir>/log`.
    pub(crate) fn beside(log: &Log) -> Self {
        StoreHandle {
            dir: store_dir(log.root().parent().unwrap_or(Path::new("."))),
        }
    }
}

/// The store of the data directory `data_dir`.
pub(crate) fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// The store of the data directory `data_dir` for writing, the handle the job's sinks
/// write (opened once per process).
pub(crate) fn open_store(data_dir: &Path) -> Result<Store, spate_store::StoreError> {
    open(&store_dir(data_dir))
}

/// The store in `dir`, opened once per process (a store has one writing process).
fn open(dir: &Path) -> Result<Store, spate_store::StoreError> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Store>>> = OnceLock::new();
    let mut open = OPEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(store) = open.get(dir) {
        return Ok(store.clone());
    }
    let store = Store::open(dir)?;
    open.insert(dir.to_path_buf(), store.clone());
    Ok(store)
}

/// The sink of a spate-store `table`, the `index`-th sink of its job file.
pub(super) fn sink(
    handle: &StoreHandle,
    table: &TableDef,
    index: usize,
) -> spate_sql::Result<SinkFactory> {
    let name = table
        .option("table-name")
        .unwrap_or(&table.name)
        .to_string();
    if !spate_store::valid_name(&name) {
        return Err(SqlError::Invalid {
            at: table.at,
            message: format!(
                "table {}: the store cannot name a table {name:?}",
                table.name
            ),
            text: name,
            hint: "store tables are named with letters, digits and '_': set e.g. \
                   'table-name' = 'metrics'"
                .into(),
        });
    }
    let retention = match table.option("retention") {
        None => None,
        Some(text) => Some(Retention {
            max_age: spate_sql::parse_duration(text).ok_or_else(|| {
                invalid(
                    table,
                    "retention",
                    "not a duration",
                    "write e.g. '7 d', '12 h' or '30 min'",
                )
            })?,
            time_column: table.option("retention.time-column").map(String::from),
        }),
    };
    if retention.is_none() && table.option("retention.time-column").is_some() {
        return Err(invalid(
            table,
            "retention.time-column",
            "a retention column without 'retention'",
            "add e.g. 'retention' = '7 d'",
        ));
    }
    let config = TableConfig {
        name: name.clone(),
        schema: Arc::new(table.sink_schema()),
        primary_key: table
            .primary_key
            .as_ref()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        retention,
    };
    config.validate().map_err(|e| {
        invalid(
            table,
            "retention.time-column",
            e.to_string(),
            "name a TIMESTAMP column (or a BIGINT of epoch milliseconds)",
        )
    })?;
    let dir = handle.dir.clone();
    Ok(Arc::new(move |task| {
        let failed = |e: spate_store::StoreError| EngineError::Sink {
            name: format!("spate-store {}", config.name),
            message: e.to_string(),
        };
        let table = open(&dir)
            .and_then(|store| store.create_table(config.clone()))
            .map_err(failed)?;
        let txn = format!("{}.{index}.{}", config.name, task.instance);
        Ok(Box::new(StoreSink::new(table, txn)) as Box<_>)
    }))
}
