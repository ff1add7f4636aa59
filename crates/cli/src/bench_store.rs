//! `spate bench store`: the serving store under a dashboard's load. Rows of a 10 s metrics
//! table (window_start, endpoint, counts, latencies) are ingested through the exactly-once
//! sink, committing every N batches, beside an upsert table of attack scores keyed by
//! client IP; while that runs, the dashboard's queries ("the last 15 minutes", "the top 20
//! IPs by attack score") are issued back to back and timed.
//!
//! Baselines, measured in the same run: the same batches appended to a plain
//! `Vec<RecordBatch>` (ingest), and the same queries over DataFusion `MemTable`s of the same
//! rows with no ingest running (queries).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use clap::Args;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use spate_engine::sink::Sink;
use spate_store::{MaintenancePolicy, Store, StoreOptions, StoreSink, TableConfig};

/// Options of `spate bench store`.
#[derive(Debug, Args)]
pub struct StoreBenchArgs {
    /// Rows to ingest into the metrics table.
    #[arg(long, default_value_t = 5_000_000)]
    rows: usize,
    /// Rows per batch handed to the sink.
    #[arg(long, default_value_t = 8192)]
    batch_rows: usize,
    /// Batches between commits (checkpoints).
    #[arg(long, default_value_t = 16)]
    commit_every: usize,
    /// Endpoints per 10 s window of the metrics table.
    #[arg(long, default_value_t = 100)]
    endpoints: usize,
    /// Distinct client IPs of the attack-score table.
    #[arg(long, default_value_t = 100_000)]
    ips: usize,
    /// Rows of attack scores upserted per 10 metrics batches.
    #[arg(long, default_value_t = 4096)]
    upsert_rows: usize,
    /// Threads per query.
    #[arg(long, default_value_t = 1)]
    query_threads: usize,
}

const WINDOW_MS: i64 = 10_000;
const LAST_MINUTES: i64 = 15;

/// Runs the benchmark and prints its figures as one JSON line.
pub fn run(args: StoreBenchArgs, data_dir: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rows > 0 && args.batch_rows > 0 && args.commit_every > 0 && args.endpoints > 0,
        "--rows, --batch-rows, --commit-every and --endpoints must be positive"
    );
    let temp;
    let dir = match data_dir {
        Some(d) => d.join("bench-store"),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().join("store")
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let generator = Generator::new(&args);

    // Baseline: the same batches into a Vec.
    let started = Instant::now();
    let mut baseline_batches = Vec::with_capacity(generator.batches());
    for i in 0..generator.batches() {
        baseline_batches.push(generator.metrics(i));
    }
    let baseline_s = started.elapsed().as_secs_f64();

    let options = StoreOptions {
        query_threads: args.query_threads,
        maintenance: MaintenancePolicy {
            interval: Some(Duration::from_millis(500)),
            ..MaintenancePolicy::default()
        },
        ..StoreOptions::default()
    };
    let store = Store::open_with(&dir, options)?;
    let metrics = store.create_table(TableConfig::append("metrics", metrics_schema()))?;
    let scores = store.create_table(TableConfig::upsert(
        "ip_scores",
        scores_schema(),
        &["client_ip"],
    ))?;

    let latest = Arc::new(AtomicI64::new(i64::MIN));
    let done = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (latest, done) = (Arc::clone(&latest), Arc::clone(&done));
        let generator = generator.clone();
        let commit_every = args.commit_every;
        std::thread::spawn(move || -> anyhow::Result<Ingest> {
            // Set even if the ingest panics, so the query loop ends.
            let _done = SetOnDrop(done);
            ingest(&generator, metrics, scores, commit_every, &latest)
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut recent = Vec::new();
    let mut top = Vec::new();
    while !done.load(Ordering::Acquire) {
        let now = latest.load(Ordering::Acquire);
        if now == i64::MIN {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let started = Instant::now();
        let rows = runtime.block_on(store.sql(&recent_query(now)))?;
        recent.push((
            started.elapsed(),
            rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        ));
        let started = Instant::now();
        let rows = runtime.block_on(store.sql(TOP_QUERY))?;
        top.push((
            started.elapsed(),
            rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        ));
    }
    let ingested = ingest
        .join()
        .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))??;
    anyhow::ensure!(
        !recent.is_empty(),
        "ingest ended before a query ran: raise --rows"
    );

    // Baseline queries: the same rows in MemTables, no ingest running.
    let last = generator.window_start(generator.rows() - 1);
    let context = SessionContext::new_with_config(
        SessionConfig::new().with_target_partitions(args.query_threads.max(1)),
    );
    context.register_table(
        "metrics",
        Arc::new(MemTable::try_new(metrics_schema(), vec![baseline_batches])?),
    )?;
    let state = store.table("ip_scores")?.snapshot();
    let state: Vec<RecordBatch> = state.batches.iter().map(|b| b.batch.clone()).collect();
    context.register_table(
        "ip_scores",
        Arc::new(MemTable::try_new(scores_schema(), vec![state])?),
    )?;
    let repeats = recent.len().clamp(20, 500);
    let mut base_recent = Vec::with_capacity(repeats);
    let mut base_top = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let started = Instant::now();
        runtime.block_on(async { context.sql(&recent_query(last)).await?.collect().await })?;
        base_recent.push(started.elapsed());
        let started = Instant::now();
        runtime.block_on(async { context.sql(TOP_QUERY).await?.collect().await })?;
        base_top.push(started.elapsed());
    }
    // The store's answer after ingest equals the baseline's.
    let check = runtime.block_on(store.sql(&recent_query(last)))?;
    let expected =
        runtime.block_on(async { context.sql(&recent_query(last)).await?.collect().await })?;
    anyhow::ensure!(
        arrow::util::pretty::pretty_format_batches(&check)?.to_string()
            == arrow::util::pretty::pretty_format_batches(&expected)?.to_string(),
        "the store and the baseline disagree on the last {LAST_MINUTES} minutes"
    );

    let rows_per_sec = generator.rows() as f64 / ingested.seconds;
    let baseline_rows_per_sec = generator.rows() as f64 / baseline_s;
    let stats = store.table("metrics")?.stats();
    let query = |name: &str, timed: &[(Duration, usize)], base: &mut Vec<Duration>| {
        let mut times: Vec<Duration> = timed.iter().map(|t| t.0).collect();
        let (p50, p99) = (
            percentile_ms(&mut times, 0.50),
            percentile_ms(&mut times, 0.99),
        );
        let (b50, b99) = (percentile_ms(base, 0.50), percentile_ms(base, 0.99));
        serde_json::json!({
            "query": name,
            "runs": timed.len(),
            "rows_last": timed.last().map_or(0, |t| t.1),
            "p50_ms": round3(p50),
            "p99_ms": round3(p99),
            "baseline_p50_ms": round3(b50),
            "baseline_p99_ms": round3(b99),
            "p99_vs_baseline": round3(p99 / b99),
            "meets_20ms_p99": p99 <= 20.0,
        })
    };
    let figures = serde_json::json!({
        "rows": generator.rows(),
        "batch_rows": args.batch_rows,
        "commit_every_batches": args.commit_every,
        "commits": ingested.commits,
        "upserted_rows": ingested.upserted,
        "ingest_seconds": round3(ingested.seconds),
        "rows_per_sec": rows_per_sec.round(),
        "baseline_vec_rows_per_sec": baseline_rows_per_sec.round(),
        "ingest_vs_baseline": round3(rows_per_sec / baseline_rows_per_sec),
        "meets_1m_rows_per_sec": rows_per_sec >= 1e6,
        "last_15_min": query(&recent_query(last), &recent, &mut base_recent),
        "top_20_ips": query(TOP_QUERY, &top, &mut base_top),
        "memory_rows_at_end": stats.memory_rows,
        "parquet_files_at_end": stats.files,
        "peak_rss_mb": crate::bench::peak_rss_mb(),
    });
    println!("{figures}");
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// "The last 15 minutes" of the metrics table, up to the window starting at `now` (the ingest
/// runs ahead of the windows it has announced, as event time ahead of a dashboard's clock).
fn recent_query(now: i64) -> String {
    format!(
        "SELECT window_start, endpoint, requests, errors, p99_ms FROM metrics \
         WHERE window_start >= to_timestamp_millis({}) AND window_start <= to_timestamp_millis({now}) \
         ORDER BY window_start, endpoint",
        now - LAST_MINUTES * 60_000
    )
}

/// "The top 20 IPs by attack score".
const TOP_QUERY: &str = "SELECT client_ip, attack_score, requests FROM ip_scores ORDER BY attack_score DESC, client_ip LIMIT 20";

/// What the ingest did.
struct Ingest {
    seconds: f64,
    commits: u64,
    upserted: usize,
}

/// Writes every metrics batch (and, every tenth, a batch of scores) through the sinks,
/// committing every `commit_every` batches; publishes the latest committed window start.
fn ingest(
    generator: &Generator,
    metrics: spate_store::Table,
    scores: spate_store::Table,
    commit_every: usize,
    latest: &AtomicI64,
) -> anyhow::Result<Ingest> {
    let mut metrics = StoreSink::new(metrics, "bench.metrics.0");
    let mut scores = StoreSink::new(scores, "bench.scores.0");
    metrics.restore(None)?;
    scores.restore(None)?;
    let mut checkpoint = 0;
    let mut upserted = 0;
    let started = Instant::now();
    let batches = generator.batches();
    for i in 0..batches {
        metrics.write(&generator.metrics(i))?;
        if i % 10 == 0 {
            let batch = generator.scores(i);
            upserted += batch.num_rows();
            scores.write(&batch)?;
        }
        if (i + 1) % commit_every == 0 || i + 1 == batches {
            checkpoint += 1;
            for sink in [&mut metrics, &mut scores] {
                sink.prepare_commit(checkpoint)?;
            }
            for sink in [&mut metrics, &mut scores] {
                sink.commit(checkpoint)?;
            }
            let last_row = ((i + 1) * generator.batch_rows).min(generator.rows()) - 1;
            latest.store(generator.window_start(last_row), Ordering::Release);
        }
    }
    Ok(Ingest {
        seconds: started.elapsed().as_secs_f64(),
        commits: checkpoint,
        upserted,
    })
}

fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("requests", DataType::Int64, false),
        Field::new("errors", DataType::Int64, false),
        Field::new("p50_ms", DataType::Float64, false),
        Field::new("p99_ms", DataType::Float64, false),
    ]))
}

fn scores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("client_ip", DataType::Utf8, false),
        Field::new("attack_score", DataType::Float64, false),
        Field::new("requests", DataType::Int64, false),
    ]))
}

/// Generates the benchmark's rows: the value columns are drawn once per variant and reused,
/// the window starts are computed per batch (as a job's output would be new arrays).
#[derive(Clone)]
struct Generator {
    rows: usize,
    batch_rows: usize,
    endpoints: usize,
    start_ms: i64,
    /// Per offset of a batch's first row in the endpoint cycle, its endpoint column.
    endpoint_columns: Arc<Vec<Option<ArrayRef>>>,
    /// Per variant: requests, errors, p50, p99 columns of `batch_rows` rows.
    variants: Arc<Vec<Vec<ArrayRef>>>,
    ips: Arc<Vec<String>>,
    upsert_rows: usize,
}

impl Generator {
    fn new(args: &StoreBenchArgs) -> Self {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let n = args.batch_rows;
        let mut endpoint_columns: Vec<Option<ArrayRef>> = vec![None; args.endpoints];
        for i in 0..args.rows.div_ceil(n) {
            let offset = (i * n) % args.endpoints;
            if endpoint_columns[offset].is_none() {
                endpoint_columns[offset] =
                    Some(Arc::new(StringArray::from_iter_values((0..n).map(|r| {
                        format!("/api/v1/endpoint-{:03}", (offset + r) % args.endpoints)
                    }))));
            }
        }
        let variants = (0..8)
            .map(|_| {
                let requests =
                    Int64Array::from_iter_values((0..n).map(|_| rng.below(5_000) as i64));
                let errors = Int64Array::from_iter_values((0..n).map(|_| rng.below(50) as i64));
                let p50 =
                    Float64Array::from_iter_values((0..n).map(|_| rng.below(200) as f64 / 2.0));
                let p99 =
                    Float64Array::from_iter_values((0..n).map(|_| rng.below(2_000) as f64 / 2.0));
                vec![
                    Arc::new(requests) as ArrayRef,
                    Arc::new(errors),
                    Arc::new(p50),
                    Arc::new(p99),
                ]
            })
            .collect();
        let windows = args.rows.div_ceil(args.endpoints) as i64;
        let now = chrono::Utc::now().timestamp_millis() / WINDOW_MS * WINDOW_MS;
        Generator {
            rows: args.rows,
            batch_rows: n,
            endpoints: args.endpoints,
            start_ms: now - windows * WINDOW_MS,
            endpoint_columns: Arc::new(endpoint_columns),
            variants: Arc::new(variants),
            ips: Arc::new(
                (0..args.ips.max(1))
                    .map(|i| format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255))
                    .collect(),
            ),
            upsert_rows: args.upsert_rows,
        }
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn batches(&self) -> usize {
        self.rows.div_ceil(self.batch_rows)
    }

    /// The window start of row `row`.
    fn window_start(&self, row: usize) -> i64 {
        self.start_ms + (row / self.endpoints) as i64 * WINDOW_MS
    }

    /// Metrics batch `i`.
    fn metrics(&self, i: usize) -> RecordBatch {
        let first = i * self.batch_rows;
        let n = self.batch_rows.min(self.rows - first);
        let variant = &self.variants[i % self.variants.len()];
        let windows = TimestampMillisecondArray::from_iter_values(
            (first..first + n).map(|r| self.window_start(r)),
        );
        // Endpoints cycle row by row across batches.
        let endpoints = self.endpoint_columns[first % self.endpoints]
            .as_ref()
            .expect("made for every batch's offset");
        let mut columns: Vec<ArrayRef> = vec![Arc::new(windows), endpoints.slice(0, n)];
        columns.extend(variant.iter().map(|c| c.slice(0, n)));
        RecordBatch::try_new(metrics_schema(), columns).expect("the columns fit the schema")
    }

    /// Scores batch for metrics batch `i`: `upsert_rows` IPs with new scores.
    fn scores(&self, i: usize) -> RecordBatch {
        let mut rng = XorShift((i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let n = self.upsert_rows;
        let ips: Vec<&str> = (0..n)
            .map(|_| self.ips[rng.below(self.ips.len() as u64) as usize].as_str())
            .collect();
        RecordBatch::try_new(
            scores_schema(),
            vec![
                Arc::new(StringArray::from(ips)),
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|_| rng.below(1_000_000) as f64 / 1e4),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|_| rng.below(10_000) as i64),
                )),
            ],
        )
        .expect("the columns fit the schema")
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A small deterministic generator of pseudo-random numbers.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The `q` quantile of `times` in milliseconds (sorts them), 0 when there are none.
pub(crate) fn percentile_ms(times: &mut [Duration], q: f64) -> f64 {
    if times.is_empty() {
        return 0.0;
    }
    times.sort_unstable();
    let at = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    times[at].as_secs_f64() * 1e3
}

/// `x` rounded to three decimals.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
