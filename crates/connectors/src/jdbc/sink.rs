//! The JDBC sink: rows buffered and written in batches, in one transaction per flush.
//!
//! With a primary key the sink upserts (`INSERT … ON DUPLICATE KEY UPDATE` on MySQL,
//! `INSERT … ON CONFLICT (key) DO UPDATE` on PostgreSQL) and takes a changelog: `+I`/`+U` rows
//! upsert, `-D` rows delete by key, `-U` rows are skipped (the `+U` that follows overwrites
//! the row). The buffer keeps only the last change per key. Replaying rows after a recovery
//! writes the same final rows, so results are exactly once in effect.
//!
//! Without a key the sink appends with plain `INSERT`s: rows written after the last complete
//! checkpoint are written again after a recovery (at least once).
//!
//! The buffer is flushed at every checkpoint, when it holds `sink.buffer-flush.max-rows` rows,
//! and on a write or a watermark once `sink.buffer-flush.interval` has passed since the last
//! flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int8Type, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use spate_engine::changelog::{self, RowKind};
use spate_engine::error::{EngineError, Result};
use spate_engine::message::EventTime;
use spate_engine::sink::Sink;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

use super::value::{self, Value};
use super::{Dialect, Driver, JdbcConfig, JdbcError};

/// Parameters per statement, below both databases' limit of 65,535.
const MAX_PARAMETERS: usize = 30_000;

/// How a JDBC sink writes.
#[derive(Debug, Clone)]
pub struct JdbcSinkConfig {
    /// The table and how to reach it.
    pub jdbc: JdbcConfig,
    /// The columns written (without a row kind).
    pub schema: SchemaRef,
    /// The primary key's columns; empty to append.
    pub key: Vec<String>,
    /// Flush once this many rows are buffered (`sink.buffer-flush.max-rows`).
    pub max_rows: usize,
    /// Flush on a write once this long has passed since the last flush
    /// (`sink.buffer-flush.interval`); `None` flushes only on checkpoints and `max_rows`.
    pub interval: Option<Duration>,
    /// Tries after the first failed one of a flush (`sink.max-retries`).
    pub max_retries: u32,
}

/// A buffered change.
enum Change {
    /// Insert the row, or update it by key.
    Upsert(Vec<Value>),
    /// Delete by key (the key's values).
    Delete(Vec<Value>),
}

/// A parallel instance of a JDBC sink.
pub struct JdbcSink {
    config: JdbcSinkConfig,
    dialect: Dialect,
    /// Dropped before the driver that runs it.
    connection: Option<AnyConnection>,
    driver: Driver,
    /// Indices of the key columns in the schema.
    key_indices: Vec<usize>,
    /// Encodes keys for the buffer's index (with a key only).
    keys: Option<RowConverter>,
    changes: Vec<Change>,
    /// The index in `changes` of each key's change.
    by_key: HashMap<OwnedRow, usize>,
    last_flush: Instant,
}

impl JdbcSink {
    /// A sink writing `config`'s table; connects on the first flush.
    pub fn new(config: JdbcSinkConfig) -> Result<Self> {
        let dialect = config.jdbc.dialect().map_err(|e| sink_error(&config, e))?;
        let key_indices = config
            .key
            .iter()
            .map(|k| config.schema.index_of(k))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match key_indices.is_empty() {
            true => None,
            false => Some(RowConverter::new(
                key_indices
                    .iter()
                    .map(|&i| SortField::new(config.schema.field(i).data_type().clone()))
                    .collect(),
            )?),
        };
        let driver = Driver::new().map_err(|e| EngineError::Sink {
            name: config.jdbc.table.clone(),
            message: format!("cannot start the driver's runtime: {e}"),
        })?;
        Ok(JdbcSink {
            dialect,
            driver,
            connection: None,
            key_indices,
            keys,
            changes: Vec::new(),
            by_key: HashMap::new(),
            last_flush: Instant::now(),
            config,
        })
    }

    /// The statements that apply the buffered changes: deletes, then upserts.
    fn statements(&self) -> Vec<(String, Vec<Value>)> {
        let table = self.dialect.quote(&self.config.jdbc.table);
        let mut statements = Vec::new();
        let deletes: Vec<&Vec<Value>> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete(key) => Some(key),
                Change::Upsert(_) => None,
            })
            .collect();
        let key_types: Vec<_> = self
            .key_indices
            .iter()
            .map(|&i| self.config.schema.field(i).data_type())
            .collect();
        for chunk in deletes.chunks((MAX_PARAMETERS / key_types.len().max(1)).max(1)) {
            let mut n = 0;
            let conditions: Vec<String> = chunk
                .iter()
                .map(|_| {
                    let parts: Vec<String> = self
                        .config
                        .key
                        .iter()
                        .zip(&key_types)
                        .map(|(k, t)| {
                            n += 1;
                            format!(
                                "{} = {}",
                                self.dialect.quote(k),
                                value::parameter(self.dialect, t, n)
                            )
                        })
                        .collect();
                    format!("({})", parts.join(" AND "))
                })
                .collect();
            statements.push((
                format!("DELETE FROM {table} WHERE {}", conditions.join(" OR ")),
                chunk.iter().flat_map(|k| k.iter().cloned()).collect(),
            ));
        }
        let upserts: Vec<&Vec<Value>> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Upsert(row) => Some(row),
                Change::Delete(_) => None,
            })
            .collect();
        let fields = self.config.schema.fields();
        let columns: Vec<String> = fields
            .iter()
            .map(|f| self.dialect.quote(f.name()))
            .collect();
        let conflict = self.conflict_clause();
        for chunk in upserts.chunks((MAX_PARAMETERS / fields.len().max(1)).max(1)) {
            let mut n = 0;
            let rows: Vec<String> = chunk
                .iter()
                .map(|_| {
                    let params: Vec<String> = fields
                        .iter()
                        .map(|f| {
                            n += 1;
                            value::parameter(self.dialect, f.data_type(), n)
                        })
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            statements.push((
                format!(
                    "INSERT INTO {table} ({}) VALUES {}{conflict}",
                    columns.join(", "),
                    rows.join(", ")
                ),
                chunk.iter().flat_map(|r| r.iter().cloned()).collect(),
            ));
        }
        statements
    }

    /// What an insert does with an existing key: update the other columns.
    fn conflict_clause(&self) -> String {
        if self.config.key.is_empty() {
            return String::new();
        }
        let others: Vec<String> = self
            .config
            .schema
            .fields()
            .iter()
            .filter(|f| !self.config.key.contains(f.name()))
            .map(|f| self.dialect.quote(f.name()))
            .collect();
        match self.dialect {
            Dialect::MySql => {
                let sets: Vec<String> = match others.is_empty() {
                    // Nothing to update: a no-op assignment keeps the insert from failing.
                    true => vec![format!(
                        "{0} = {0}",
                        self.dialect.quote(&self.config.key[0])
                    )],
                    false => others
                        .iter()
                        .map(|c| format!("{c} = VALUES({c})"))
                        .collect(),
                };
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            }
            Dialect::Postgres => {
                let key: Vec<String> = self
                    .config
                    .key
                    .iter()
                    .map(|k| self.dialect.quote(k))
                    .collect();
                match others.is_empty() {
                    true => format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")),
                    false => format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        key.join(", "),
                        others
                            .iter()
                            .map(|c| format!("{c} = EXCLUDED.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        }
    }

    /// Whether `sink.buffer-flush.interval` has passed since the last flush.
    fn flush_due(&self) -> bool {
        self.config
            .interval
            .is_some_and(|every| self.last_flush.elapsed() >= every)
    }

    /// Writes the buffer in one transaction, reconnecting and retrying on failure.
    fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.changes.is_empty() {
            return Ok(());
        }
        let statements = self.statements();
        let mut attempt = 0;
        loop {
            let result = match self.connection.as_mut() {
                Some(connection) => self
                    .driver
                    .block_on(execute(connection, &statements))
                    .map_err(|source| JdbcError::Statement {
                        table: self.config.jdbc.table.clone(),
                        source,
                    }),
                None => match self.config.jdbc.connect(&self.driver) {
                    Ok(connection) => {
                        self.connection = Some(connection);
                        continue;
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(()) => break,
                Err(e) if attempt < self.config.max_retries && retryable(&e) => {
                    attempt += 1;
                    tracing::warn!(table = %self.config.jdbc.table, attempt, error = %e, "JDBC flush failed, retrying");
                    self.connection = None;
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                Err(e) => return Err(sink_error(&self.config, e)),
            }
        }
        self.changes.clear();
        self.by_key.clear();
        Ok(())
    }
}

/// Whether trying again may help: not when the login or the URL is wrong.
pub(crate) fn retryable(e: &JdbcError) -> bool {
    match e {
        JdbcError::Url(_) | JdbcError::Value { .. } => false,
        JdbcError::Connect { source, .. } | JdbcError::Statement { source, .. } => !matches!(
            source,
            sqlx::Error::Database(_) | sqlx::Error::Configuration(_)
        ),
    }
}

/// Runs `statements` in one transaction.
async fn execute(
    connection: &mut AnyConnection,
    statements: &[(String, Vec<Value>)],
) -> Result<(), sqlx::Error> {
    let mut transaction = connection.begin().await?;
    for (sql, params) in statements {
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for param in params {
            query = param.bind(query);
        }
        query.execute(&mut *transaction).await?;
    }
    transaction.commit().await
}

fn sink_error(config: &JdbcSinkConfig, e: JdbcError) -> EngineError {
    EngineError::Sink {
        name: format!("jdbc {}", config.jdbc.table),
        message: e.to_string(),
    }
}

impl Sink for JdbcSink {
    fn name(&self) -> String {
        format!("jdbc {}", self.config.jdbc.table)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let is_changelog = changelog::is_changelog(batch.schema_ref());
        let rows = changelog::without_row_kind(batch);
        if rows.num_columns() != self.config.schema.fields().len() {
            return Err(EngineError::plan(format!(
                "the jdbc sink {} takes {} columns, got {}",
                self.config.jdbc.table,
                self.config.schema.fields().len(),
                rows.num_columns()
            )));
        }
        let table = &self.config.jdbc.table;
        let columns = self
            .config
            .schema
            .fields()
            .iter()
            .zip(rows.columns())
            .map(|(f, a)| value::values(table, f, a.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sink_error(&self.config, e))?;
        let kinds = is_changelog.then(|| {
            batch
                .column(batch.num_columns() - 1)
                .as_primitive::<Int8Type>()
        });
        let encoded = match &self.keys {
            Some(converter) => Some(
                converter.convert_columns(
                    &self
                        .key_indices
                        .iter()
                        .map(|&i| Arc::clone(rows.column(i)))
                        .collect::<Vec<_>>(),
                )?,
            ),
            None => None,
        };
        if kinds.is_some() && encoded.is_none() {
            return Err(EngineError::plan(format!(
                "the jdbc sink {table} has no primary key and cannot take updates or deletes"
            )));
        }
        for i in 0..rows.num_rows() {
            let kind = match kinds {
                Some(k) => RowKind::from_code(k.value(i)).ok_or_else(|| {
                    EngineError::plan(format!("row kind {} is not one of 0..=3", k.value(i)))
                })?,
                None => RowKind::Insert,
            };
            let change = match kind {
                RowKind::UpdateBefore => continue,
                RowKind::Insert | RowKind::UpdateAfter => {
                    Change::Upsert(columns.iter().map(|c| c[i].clone()).collect())
                }
                RowKind::Delete => Change::Delete(
                    self.key_indices
                        .iter()
                        .map(|&k| columns[k][i].clone())
                        .collect(),
                ),
            };
            match &encoded {
                Some(keys) => match self.by_key.get(&keys.row(i).owned()) {
                    Some(&at) => self.changes[at] = change,
                    None => {
                        self.by_key.insert(keys.row(i).owned(), self.changes.len());
                        self.changes.push(change);
                    }
                },
                None => self.changes.push(change),
            }
        }
        if self.changes.len() >= self.config.max_rows.max(1) || self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes rows that have waited `sink.buffer-flush.interval`: watermarks keep arriving
    /// while no rows do, so the last rows of a window's firing do not wait for the next one.
    fn watermark(&mut self, _watermark: EventTime) -> Result<()> {
        if !self.changes.is_empty() && self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        self.flush()?;
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<()> {
        // Everything prepared was written before its checkpoint completed.
        self.changes.clear();
        self.by_key.clear();
        Ok(())
    }
}
