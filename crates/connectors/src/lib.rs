//! Spate's connectors, shaped as sources → (engine) → sinks:
//!
//! - [`format`]: NDJSON decoding into Arrow and Flink's CSV layout (both ways).
//! - [`log_source`]: the embedded log as a source, with startup and bounded modes.
//! - [`log_sink`]: a log topic as a sink, appending on checkpoint commit, exactly once.
//! - [`datagen`]: generated rows (random values and sequences), bounded or rate-limited.
//! - [`nexmark`]: the Nexmark benchmark's events (people, auctions, bids), as Flink's
//!   `nexmark` connector makes them.
//! - [`blackhole`]: the sink that discards rows, for benchmarks.
//! - [`print`]: rows printed to standard output as Flink's print connector prints them.
//! - [`file_source`]: NDJSON, CSV or Parquet files read once, as a bounded source.
//! - [`file_sink`]: CSV, NDJSON or Parquet part files in a directory, committed exactly once
//!   with checkpoints.
//! - [`storage`]: where files are: local directories, or S3 and OSS buckets via `object_store`.
//! - [`kafka`]: Kafka topics as a source (checkpointed offsets, committed to the group) and an
//!   at-least-once sink, through librdkafka.
//! - [`mqtt`]: MQTT topic filters as a source (persistent session, acknowledged once the
//!   checkpoint is complete) and topic patterns as an at-least-once sink, through rumqttc.
//! - [`jdbc`]: MySQL/MariaDB and PostgreSQL tables: a batched insert/upsert sink and a
//!   bounded scan (a lookup join's `FULL` cache).
//! - [`clickhouse`]: ClickHouse tables as a batched append sink over HTTP (RowBinary).
//! - [`http`]: HTTP ingest: a listener taking POSTed NDJSON batches into a synced log topic,
//!   which the job reads as a log source; 429 while the job lags.
//! - [`side_output`]: dead letters and late events kept in log topics.
//! - [`ingest`]: loading an NDJSON file into a log topic, resumably.

#![warn(missing_docs)]

pub mod blackhole;
pub mod clickhouse;
pub mod datagen;
pub mod file_sink;
pub mod file_source;
pub mod format;
pub mod http;
pub mod ingest;
pub mod jdbc;
pub mod kafka;
pub mod log_sink;
pub mod log_source;
pub mod mqtt;
pub mod nexmark;
pub mod print;
pub mod side_output;
pub mod storage;
#[cfg(test)]
mod testing;

/// A Flink memory size (`MemorySize.parse`): a number of bytes and an optional unit.
pub fn parse_memory_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: usize = text[..split].parse().ok()?;
    let unit: usize = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        _ => return None,
    };
    amount.checked_mul(unit)
}
