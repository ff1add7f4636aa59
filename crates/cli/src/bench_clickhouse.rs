//! `spate bench clickhouse`: rows/s appended to a real ClickHouse table through the
//! `clickhouse` sink (rows converted to the table's types, sent as RowBinary over HTTP in
//! `--batch-size` inserts, flushed at every commit as checkpoints do). The rows are those of
//! an access log: a sequence number, a time, an endpoint, a status, a latency, a client that
//! may be NULL.
//!
//! Baseline, measured in the same run: converting and encoding the same batches without
//! sending them, which is what the sink costs on Spate's side.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use clap::Args;
use spate_connectors::clickhouse::ClickHouseConfig;
use spate_connectors::clickhouse::sink::{ClickHouseSink, ClickHouseSinkConfig};
use spate_connectors::clickhouse::types::{ChType, prepare};
use spate_engine::operator::TaskInfo;
use spate_engine::sink::Sink;

/// Options of `spate bench clickhouse`.
#[derive(Debug, Args)]
pub struct ClickHouseBenchArgs {
    /// ClickHouse's HTTP interface; the benchmark creates a table of its own in `default`
    /// and drops it afterwards.
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    url: String,
    /// Rows to write.
    #[arg(long, default_value_t = 2_000_000)]
    rows: usize,
    /// Rows per batch handed to the sink.
    #[arg(long, default_value_t = 8192)]
    batch_rows: usize,
    /// The sink's `sink.batch-size`: rows per insert.
    #[arg(long, default_value_t = 100_000)]
    batch_size: usize,
    /// Batches between commits (checkpoints), each of which flushes the sink.
    #[arg(long, default_value_t = 64)]
    commit_every: usize,
}

/// The ClickHouse table's columns, in the schema's order.
const COLUMNS: &[(&str, &str)] = &[
    ("id", "UInt64"),
    ("ts", "DateTime"),
    ("endpoint", "String"),
    ("status", "UInt16"),
    ("latency_ms", "Float64"),
    ("client", "Nullable(String)"),
];

/// Runs the benchmark and prints its figures as one JSON line.
pub fn run(args: &ClickHouseBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rows > 0 && args.batch_rows > 0 && args.batch_size > 0 && args.commit_every > 0,
        "--rows, --batch-rows, --batch-size and --commit-every must be positive"
    );
    let schema = schema();
    let batches: Vec<RecordBatch> = (0..args.rows.div_ceil(args.batch_rows))
        .map(|i| {
            let start = i * args.batch_rows;
            batch(&schema, start, args.batch_rows.min(args.rows - start))
        })
        .collect::<Result<_, _>>()?;

    // Baseline: the same rows converted and encoded, not sent.
    let types: Vec<ChType> = COLUMNS
        .iter()
        .map(|(_, t)| ChType::parse(t).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let mut encoded = Vec::new();
    let mut bytes = 0;
    for batch in &batches {
        let prepared = types
            .iter()
            .zip(batch.columns())
            .map(|(t, a)| prepare(t, a))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            for (t, p) in types.iter().zip(&prepared) {
                p.encode(t, row, &mut encoded)
                    .map_err(|e| anyhow::anyhow!("row {row}: {e}"))?;
            }
        }
        bytes += encoded.len();
        encoded.clear();
    }
    let encode_secs = started.elapsed().as_secs_f64();

    let table = format!("spate_bench_{}", std::process::id());
    let server = Server {
        url: args.url.trim_end_matches('/').to_string(),
    };
    let columns: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect();
    server.query(&format!(
        "CREATE TABLE default.{table} ({}) ENGINE = MergeTree ORDER BY (endpoint, ts)",
        columns.join(", ")
    ))?;
    let result = write(args, &schema, &batches, &table);
    let counted = server.query(&format!("SELECT count() FROM default.{table}"));
    server.query(&format!("DROP TABLE default.{table}"))?;
    let secs = result?;
    let counted: usize = counted?.trim().parse().context("count()")?;
    anyhow::ensure!(
        counted == args.rows,
        "the table holds {counted} rows, {} were written",
        args.rows
    );
    println!(
        "{}",
        serde_json::json!({
            "rows": args.rows,
            "batch_size": args.batch_size,
            "seconds": secs,
            "rows_per_s": (args.rows as f64 / secs).round(),
            "rowbinary_bytes_per_row": bytes as f64 / args.rows as f64,
            "baseline_encode_only_rows_per_s": (args.rows as f64 / encode_secs).round(),
        })
    );
    Ok(())
}

/// Writes `batches` through the sink into `table`, committing every `--commit-every`
/// batches; returns the seconds taken.
fn write(
    args: &ClickHouseBenchArgs,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    table: &str,
) -> anyhow::Result<f64> {
    let config = ClickHouseSinkConfig {
        clickhouse: ClickHouseConfig {
            url: args.url.clone(),
            database: "default".into(),
            table: table.to_string(),
            username: None,
            password: None,
        },
        schema: schema.clone(),
        batch_size: args.batch_size,
        flush_interval: None,
        max_retries: 3,
    };
    let task = TaskInfo {
        name: "bench-clickhouse".into(),
        instance: 0,
        parallelism: 1,
        side_outputs: Default::default(),
        metrics: Default::default(),
    };
    let started = Instant::now();
    let mut sink = ClickHouseSink::new(config, &task)?;
    for (i, batch) in batches.iter().enumerate() {
        sink.write(batch)?;
        if (i + 1) % args.commit_every == 0 {
            sink.prepare_commit(i as u64)?;
        }
    }
    sink.prepare_commit(u64::MAX)?;
    Ok(started.elapsed().as_secs_f64())
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("status", DataType::Int64, false),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("client", DataType::Utf8, true),
    ]))
}

/// Rows `start..start + n` of the access log.
fn batch(
    schema: &SchemaRef,
    start: usize,
    n: usize,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    const ENDPOINTS: &[&str] = &[
        "/",
        "/login",
        "/api/v1/orders",
        "/api/v1/items",
        "/static/app.js",
    ];
    const STATUSES: &[i64] = &[200, 200, 200, 201, 304, 404, 500];
    let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            ids.iter().map(|i| 1_767_225_600_000 + i * 7),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|i| ENDPOINTS[*i as usize % ENDPOINTS.len()]),
        )),
        Arc::new(Int64Array::from_iter_values(
            ids.iter()
                .map(|i| STATUSES[(*i as usize * 31) % STATUSES.len()]),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|i| (i % 997) as f64 * 0.37),
        )),
        Arc::new(StringArray::from_iter(ids.iter().map(|i| {
            (i % 5 != 0).then(|| format!("10.0.{}.{}", (i / 256) % 256, i % 256))
        }))),
    ];
    RecordBatch::try_new(schema.clone(), columns)
}

/// The server, for the benchmark's own table.
struct Server {
    url: String,
}

impl Server {
    /// Runs `sql`, returning the answer.
    fn query(&self, sql: &str) -> anyhow::Result<String> {
        let mut response = ureq::post(format!("{}/", self.url))
            .config()
            .http_status_as_error(false)
            .build()
            .send(sql)
            .with_context(|| format!("ClickHouse at {}", self.url))?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        anyhow::ensure!(status == 200, "{sql}: HTTP {status}: {}", text.trim());
        Ok(text)
    }
}
