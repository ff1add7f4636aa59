//! The options of `jdbc` tables: where the table is, how its sink buffers, as Flink's JDBC
//! connector takes them (`driver` is accepted and ignored: the URL names the database).

use std::sync::Arc;
use std::time::Duration;

use spate_connectors::jdbc::JdbcConfig;
use spate_connectors::jdbc::sink::JdbcSinkConfig;
use spate_sql::{SqlError, TableDef};

use super::{flush_interval, invalid, number};

/// Flink's default of `sink.buffer-flush.max-rows`.
const DEFAULT_MAX_ROWS: usize = 100;
/// Flink's default of `sink.buffer-flush.interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Flink's default of `sink.max-retries` and `lookup.max-retries`.
const DEFAULT_RETRIES: u32 = 3;

/// Where `table` is and how to log in; the URL is checked here.
pub(super) fn config(table: &TableDef) -> Result<JdbcConfig, SqlError> {
    let config = JdbcConfig {
        url: table.option("url").unwrap_or_default().to_string(),
        table: table.option("table-name").unwrap_or_default().to_string(),
        username: table.option("username").map(String::from),
        password: table.option("password").map(String::from),
    };
    config.dialect().map_err(|e| {
        invalid(
            table,
            "url",
            e.to_string(),
            "write e.g. 'url' = 'jdbc:mysql://127.0.0.1:3306/db' or 'jdbc:postgresql://127.0.0.1:5432/db'",
        )
    })?;
    if config.table.is_empty() {
        return Err(invalid(
            table,
            "table-name",
            "the table name is empty",
            "name the database table, e.g. 'table-name' = 'orders'",
        ));
    }
    Ok(config)
}

/// The sink of `table`: upserts by its primary key, or appends without one.
pub(super) fn sink_config(table: &TableDef) -> Result<JdbcSinkConfig, SqlError> {
    let max_rows = number(
        table,
        "sink.buffer-flush.max-rows",
        DEFAULT_MAX_ROWS,
        "rows",
    )?;
    let interval = flush_interval(
        table,
        "sink.buffer-flush.interval",
        DEFAULT_INTERVAL,
        "flushes only on checkpoints and max-rows",
    )?;
    let max_retries = number(table, "sink.max-retries", DEFAULT_RETRIES, "retries")?;
    Ok(JdbcSinkConfig {
        jdbc: config(table)?,
        schema: Arc::new(table.sink_schema()),
        key: table
            .primary_key
            .as_ref()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        max_rows,
        interval,
        max_retries,
    })
}

/// `lookup.max-retries` of `table` (Flink's default 3).
pub(super) fn lookup_retries(table: &TableDef) -> Result<u32, SqlError> {
    number(table, "lookup.max-retries", DEFAULT_RETRIES, "retries")
}
