//! The options of `'connector' = 'clickhouse'` tables, as the Flink ClickHouse connector
//! (flink-connector-clickhouse) names them: `url` (`clickhouse://host:port`, or `http://` /
//! `https://`), `database-name` (`default`), `table-name`, `username`/`password`, and the
//! sink's `sink.batch-size` (1000 rows), `sink.flush-interval` (1 s; a bare number is
//! milliseconds, as Flink reads durations; 0 flushes only on checkpoints and batch size) and
//! `sink.max-retries` (3).

use std::sync::Arc;
use std::time::Duration;

use spate_connectors::clickhouse::ClickHouseConfig;
use spate_connectors::clickhouse::sink::ClickHouseSinkConfig;
use spate_sql::{SqlError, TableDef};

use super::{flush_interval, invalid, number};

/// The Flink connector's default of `sink.batch-size`.
const DEFAULT_BATCH_SIZE: usize = 1000;
/// The Flink connector's default of `sink.flush-interval`.
const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// The Flink connector's default of `sink.max-retries`.
const DEFAULT_RETRIES: u32 = 3;

/// The sink of `table`; the URL and the numbers are checked here.
pub(super) fn sink_config(table: &TableDef) -> Result<ClickHouseSinkConfig, SqlError> {
    let name = |key: &str, example: &str| {
        let value = table.option(key).unwrap_or_default().trim().to_string();
        match value.is_empty() {
            true => Err(invalid(
                table,
                key,
                "the name is empty",
                format!("write e.g. '{key}' = '{example}'"),
            )),
            false => Ok(value),
        }
    };
    let clickhouse = ClickHouseConfig {
        url: table.option("url").unwrap_or_default().to_string(),
        database: match table.option("database-name") {
            None => "default".to_string(),
            Some(_) => name("database-name", "default")?,
        },
        table: name("table-name", "events")?,
        username: table.option("username").map(String::from),
        password: table.option("password").map(String::from),
    };
    clickhouse.endpoint().map_err(|e| {
        invalid(
            table,
            "url",
            e.to_string(),
            "write e.g. 'url' = 'clickhouse://127.0.0.1:8123' (ClickHouse's HTTP port)",
        )
    })?;
    let batch_size = number(table, "sink.batch-size", DEFAULT_BATCH_SIZE, "rows")?;
    let flush_interval = flush_interval(
        table,
        "sink.flush-interval",
        DEFAULT_FLUSH_INTERVAL,
        "flushes only on checkpoints and batch size",
    )?;
    let max_retries = number(table, "sink.max-retries", DEFAULT_RETRIES, "retries")?;
    Ok(ClickHouseSinkConfig {
        clickhouse,
        schema: Arc::new(table.sink_schema()),
        batch_size,
        flush_interval,
        max_retries,
    })
}
