//! The JDBC table read whole, once, as a bounded source: what a lookup join loads into its
//! `FULL` cache, or a scan of the table. The first instance reads the table; the others have
//! nothing to read.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use spate_engine::error::{EngineError, Result};
use spate_engine::operator::TaskInfo;
use spate_engine::source::{Source, SourcePoll};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::value;
use super::{Dialect, Driver, JdbcConfig, JdbcError};

/// A parallel instance of a JDBC scan.
pub struct JdbcSource {
    config: JdbcConfig,
    schema: SchemaRef,
    /// Whether this instance still has the table to read.
    pending: bool,
}

impl JdbcSource {
    /// A scan of `config`'s table into batches of `schema` (columns read by name).
    pub fn new(config: JdbcConfig, schema: SchemaRef, task: &TaskInfo) -> Result<Self> {
        config.dialect().map_err(|e| source_error(&config, e))?;
        Ok(JdbcSource {
            config,
            schema,
            pending: task.instance == 0,
        })
    }

    /// Reads the whole table.
    fn read(&self) -> Result<RecordBatch, JdbcError> {
        let dialect = self.config.dialect()?;
        let driver = Driver::new().map_err(|e| JdbcError::Value {
            table: self.config.table.clone(),
            column: "(all)".into(),
            message: format!("cannot start the driver's runtime: {e}"),
        })?;
        let mut connection = self.config.connect(&driver)?;
        let sql = select(dialect, &self.config.table, &self.schema);
        let rows = driver
            .block_on(fetch(&mut connection, &sql))
            .map_err(|source| JdbcError::Statement {
                table: self.config.table.clone(),
                source,
            })?;
        batch(dialect, &self.config.table, &self.schema, &rows)
    }
}

/// `SELECT` of `schema`'s columns, read as they travel, from `table`.
pub(crate) fn select(dialect: Dialect, table: &str, schema: &SchemaRef) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| value::select_expr(dialect, f.name(), f.data_type()))
        .collect();
    format!(
        "SELECT {} FROM {}",
        columns.join(", "),
        dialect.quote(table)
    )
}

/// Runs a query without parameters.
async fn fetch(connection: &mut AnyConnection, sql: &str) -> Result<Vec<AnyRow>, sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql)).fetch_all(connection).await
}

/// `rows` (selected by [`select`]) as a batch of `schema`.
pub(crate) fn batch(
    dialect: Dialect,
    table: &str,
    schema: &SchemaRef,
    rows: &[AnyRow],
) -> Result<RecordBatch, JdbcError> {
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| value::column(dialect, table, f, i, rows))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| JdbcError::Value {
        table: table.into(),
        column: "(all)".into(),
        message: e.to_string(),
    })
}

fn source_error(config: &JdbcConfig, e: JdbcError) -> EngineError {
    EngineError::Source {
        name: format!("jdbc {}", config.table),
        message: e.to_string(),
    }
}

impl Source for JdbcSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn partitions(&self) -> Vec<String> {
        vec![self.config.table.clone()]
    }

    fn poll(&mut self) -> Result<SourcePoll> {
        if !self.pending {
            return Ok(SourcePoll::Finished);
        }
        let batch = self.read().map_err(|e| source_error(&self.config, e))?;
        self.pending = false;
        Ok(SourcePoll::Batch {
            partition: 0,
            batch,
        })
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        Ok(vec![u8::from(self.pending)])
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        if let Some(state) = state {
            self.pending = state.first() == Some(&1);
        }
        Ok(())
    }
}
