//! The options of `'connector' = 'http'` tables, turned into the configuration of
//! [`spate_connectors::http`]'s ingest.
//!
//! Neither Flink nor Vector sets a standard here; the names are Spate's: `port` (required)
//! and `hostname` (`127.0.0.1` by default) to listen on, `path` (`/`) to POST to, `topic`
//! (`http.<table>`) of the embedded log that keeps the events, `topic.partitions` (the
//! source's parallelism) when Spate creates it, `request.max-body-size` (`16mb`, Flink's
//! memory-size syntax), `backpressure.max-lag` (events appended but not yet read past which
//! requests get 429; 1,000,000) and `backpressure.retry-after` (the 429's `Retry-After`,
//! `1 s`), and `format` = `json`.

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use spate_connectors::http::HttpIngestConfig;
use spate_connectors::parse_memory_size;
use spate_log::Log;
use spate_sql::{SqlError, TableDef};

use super::invalid;

/// `request.max-body-size` without the option.
const DEFAULT_MAX_BODY: usize = 16 << 20;
/// The largest `request.max-body-size`: a request's events are appended as one batch.
const MAX_BODY_LIMIT: usize = 256 << 20;
/// `backpressure.max-lag` without the option.
const DEFAULT_MAX_LAG: u64 = 1_000_000;
/// `backpressure.retry-after` without the option.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The most partitions `topic.partitions` may ask for.
const MAX_PARTITIONS: u32 = 1024;

/// The ingest configuration of `table`, whose rows are `schema`, with its topic in `log`.
pub(super) fn config(
    table: &TableDef,
    schema: SchemaRef,
    log: &Log,
) -> Result<HttpIngestConfig, SqlError> {
    if table.option("format") != Some("json") {
        return Err(invalid(
            table,
            "format",
            "HTTP ingest takes NDJSON: one JSON object per line",
            "write 'format' = 'json'",
        ));
    }
    let hostname = table.option("hostname").unwrap_or("127.0.0.1").trim();
    if hostname.is_empty() || hostname.contains("://") || hostname.contains('/') {
        return Err(invalid(
            table,
            "hostname",
            "expected a host name or address to listen on",
            "write 'hostname' = '0.0.0.0' to listen on every interface",
        ));
    }
    let port = table
        .option("port")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid(table, "port", "not a port", "write e.g. 'port' = '8088'"))?;
    let path = table.option("path").unwrap_or("/").trim();
    let path_chars = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~'));
    if !path.starts_with('/') || !path_chars || path.contains("//") {
        return Err(invalid(
            table,
            "path",
            "expected a path starting with '/' of letters, digits and . _ - ~",
            "write e.g. 'path' = '/events'",
        ));
    }
    let topic = match table.option("topic") {
        Some(topic) => topic.trim().to_string(),
        None => default_topic(&table.name),
    };
    let topic_chars = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if topic.is_empty() || topic.len() > 249 || topic.starts_with('.') || !topic_chars {
        return Err(invalid(
            table,
            "topic",
            "a log topic is 1 to 249 characters of [A-Za-z0-9._-], not starting with '.'",
            "write e.g. 'topic' = 'events-in'",
        ));
    }
    let partitions = match table.option("topic.partitions") {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PARTITIONS).contains(n))
                .ok_or_else(|| {
                    invalid(
                        table,
                        "topic.partitions",
                        format!("expected 1 to {MAX_PARTITIONS} partitions"),
                        "write e.g. 'topic.partitions' = '4'",
                    )
                })?,
        ),
    };
    let max_body_bytes = match table.option("request.max-body-size") {
        None => DEFAULT_MAX_BODY,
        Some(text) => parse_memory_size(text)
            .filter(|n| (1..=MAX_BODY_LIMIT).contains(n))
            .ok_or_else(|| {
                invalid(
                    table,
                    "request.max-body-size",
                    "expected a size of 1 byte to 256mb",
                    "write e.g. 'request.max-body-size' = '16mb'",
                )
            })?,
    };
    let max_lag = match table.option("backpressure.max-lag") {
        None => DEFAULT_MAX_LAG,
        Some(text) => text.trim().parse::<u64>().ok().ok_or_else(|| {
            invalid(
                table,
                "backpressure.max-lag",
                "expected a number of events",
                "write e.g. 'backpressure.max-lag' = '1000000'",
            )
        })?,
    };
    let retry_after = match table.option("backpressure.retry-after") {
        None => DEFAULT_RETRY_AFTER,
        Some(text) => spate_sql::parse_duration(text)
            .filter(|d| d.as_millis() % 1000 == 0 && d.as_secs() > 0)
            .ok_or_else(|| {
                invalid(
                    table,
                    "backpressure.retry-after",
                    "expected whole seconds, at least one (HTTP's Retry-After)",
                    "write e.g. 'backpressure.retry-after' = '1 s'",
                )
            })?,
    };
    Ok(HttpIngestConfig {
        table: table.name.clone(),
        hostname: hostname.to_string(),
        port,
        path: path.to_string(),
        log: log.clone(),
        topic,
        partitions,
        schema,
        max_body_bytes,
        max_lag,
        retry_after,
    })
}

/// `http.<table>`, with characters a topic name cannot take as `_`.
fn default_topic(table: &str) -> String {
    let name: String = table
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    format!("http.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topic_is_named_after_the_table() {
        assert_eq!(default_topic("clicks"), "http.clicks");
        assert_eq!(default_topic("my table$"), "http.my_table_");
    }
}
