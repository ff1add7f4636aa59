//! `spate bench …`: benchmarks on the real data path, printing one JSON line of figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use spate_connectors::blackhole::BlackholeSink;
use spate_connectors::file_sink::{FileFormat, FileSink};
use spate_connectors::ingest::ingest_ndjson;
use spate_connectors::log_source::{Bound, EndOffsets};
use spate_connectors::side_output::LogSideOutput;
use spate_connectors::storage::Location;
use spate_engine::JobConfig;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::side_output::SideOutputs;
use spate_engine::sink::SinkFactory;
use spate_log::{Log, LogError, LogOptions, TopicConfig};
use spate_sql::{Connector, PlanOptions, SqlError, parse_script, plan_script};

use crate::job_text::JobText;
use crate::reference_job::ReferenceJob;
use crate::registry::Registry;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The reference job of ../shared/bench/flink: a 10 s TUMBLE per client_ip (count, avg
    /// latency, sum bytes, errors) over an NDJSON access log, file → log → job → sink.
    Window(WindowArgs),
    /// A Nexmark query of jobs/nexmark (Flink's, over the `nexmark` source) into its sink.
    Nexmark(NexmarkArgs),
    /// The privacy API over loopback HTTP with 1280x720 photos: images/s and latency with the
    /// detectors on, against a decode-and-encode-only baseline in the same run.
    Api(crate::bench_api::ApiArgs),
    /// The log collector on generated nginx lines (Zipf addresses): read, parsed and
    /// GeoIP-enriched, against plain line splitting of the same file.
    Collect(crate::bench_collect::CollectBenchArgs),
    /// The serving store: rows/s into a 10 s metrics table through the exactly-once sink,
    /// and dashboard query latency while it ingests, against a Vec and MemTable baseline.
    Store(crate::bench_store::StoreBenchArgs),
    /// The engine anomaly model: rows/s scored in process and predictions/s through the REST
    /// server, against a pass that only reads the same rows.
    Model(crate::bench_model::ModelBenchArgs),
    /// The clickhouse sink: rows/s appended to a real ClickHouse table over HTTP, against
    /// converting and encoding the same rows without sending them.
    Clickhouse(crate::bench_clickhouse::ClickHouseBenchArgs),
}

/// Options of `spate bench window`.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// The NDJSON events (as written by gen_events.py).
    #[arg(long)]
    input: PathBuf,
    /// Write the results as Flink-layout CSV part files into this directory (checked by
    /// check_results.py); without it, results go to a blackhole sink.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Instances per stage (and partitions of the events topic).
    #[arg(long, default_value_t = 2)]
    parallelism: usize,
    /// Take checkpoints into this directory, and resume from it (with the same --data-dir).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Checkpoint interval in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_interval_ms: u64,
}

/// Options of `spate bench nexmark`.
#[derive(Debug, Args)]
pub struct NexmarkArgs {
    /// The query: q0 to q22.
    #[arg(long)]
    query: String,
    /// Events to generate (the job file's `events.num`, 100M, by default).
    #[arg(long)]
    events: Option<u64>,
    /// Instances per stage.
    #[arg(long, default_value_t = 1)]
    parallelism: usize,
    /// A `SET` for the job, as KEY=VALUE (repeat it for several), e.g.
    /// `table.optimizer.agg-phase-strategy=ONE_PHASE` to compare plans in one run.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
}

/// A `--set KEY=VALUE`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand, data_dir: Option<&Path>, started: Instant) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Window(args) => window(args, data_dir, started),
        BenchCommand::Nexmark(args) => nexmark(args, data_dir),
        BenchCommand::Api(args) => {
            crate::bench_api::run(args, data_dir.unwrap_or(Path::new("spate-data")))
        }
        BenchCommand::Collect(args) => crate::bench_collect::run(args, data_dir),
        BenchCommand::Store(args) => crate::bench_store::run(args, data_dir),
        BenchCommand::Model(args) => crate::bench_model::run(&args),
        BenchCommand::Clickhouse(args) => crate::bench_clickhouse::run(&args),
    }
}

const TOPIC: &str = "bench-events";

fn window(args: WindowArgs, data_dir: Option<&Path>, started: Instant) -> anyhow::Result<()> {
    anyhow::ensure!(args.parallelism > 0, "--parallelism must be at least 1");
    let input_len = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read --input {}", args.input.display()))?
        .len();
    let temp;
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let log = Log::open(dir.join("log"), LogOptions::default())?;
    let resuming = args.checkpoint_dir.is_some();
    let topic = match log.topic(TOPIC) {
        Ok(t) if resuming && t.partitions() as usize == args.parallelism => t,
        Ok(_) => {
            log.delete_topic(TOPIC)?;
            log.create_topic(TOPIC, TopicConfig::new(args.parallelism as u32))?
        }
        Err(LogError::UnknownTopic(_)) => {
            log.create_topic(TOPIC, TopicConfig::new(args.parallelism as u32))?
        }
        Err(e) => return Err(e.into()),
    };

    // The ingest runs beside the job; the source ends once the ingest's end offsets are known.
    let ends = EndOffsets::default();
    let ingest = {
        let (topic, ends, input) = (Arc::clone(&topic), ends.clone(), args.input.clone());
        std::thread::Builder::new().name("ingest".into()).spawn(
            move || -> anyhow::Result<(f64, u64)> {
                let t = Instant::now();
                let stats = ingest_ndjson(&input, &topic, spate_log::now_ms())?;
                let offsets = (0..topic.partitions())
                    .map(|p| topic.end_offset(p))
                    .collect::<Result<Vec<_>, _>>()?;
                ends.set(offsets);
                Ok((t.elapsed().as_secs_f64(), stats.appended + stats.skipped))
            },
        )?
    };
    let bound = Bound::Until(ends);
    let sink: SinkFactory = match &args.output {
        Some(out) => {
            let out = Location::Local(out.clone());
            Arc::new(move |task| {
                Ok(Box::new(FileSink::new(out.clone(), FileFormat::Csv, task.instance)?) as Box<_>)
            })
        }
        None => Arc::new(|_| Ok(Box::new(BlackholeSink) as Box<_>)),
    };
    let graph = ReferenceJob {
        log: log.clone(),
        topic: TOPIC.into(),
        bound,
        parallelism: args.parallelism,
        sink,
        early_fire: None,
    }
    .graph()?;
    let side = LogSideOutput::open(&log, &graph.name)?;
    let config = JobConfig {
        checkpoints: match &args.checkpoint_dir {
            Some(d) => Some((
                CheckpointStore::local(d)?,
                Duration::from_millis(args.checkpoint_interval_ms),
            )),
            None => None,
        },
        side_outputs: SideOutputs::new(Arc::new(side)),
        ..JobConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.parallelism.max(2))
        .enable_all()
        .build()?;
    let startup = started.elapsed();
    let report = runtime.block_on(spate_engine::run(graph, config))?;
    let (ingest_seconds, lines) = ingest
        .join()
        .map_err(|_| anyhow::anyhow!("ingest thread panicked"))??;
    let seconds = started.elapsed().as_secs_f64();
    let events = report.sum("source", |m| &m.rows_in) + report.sum("source", |m| &m.dead_letters);
    let figures = serde_json::json!({
        "events": events,
        "input_lines": lines,
        "input_mb": input_len as f64 / (1 << 20) as f64,
        "seconds": round3(seconds),
        "events_per_sec": (events as f64 / seconds).round(),
        "peak_rss_mb": peak_rss_mb(),
        "startup_ms": round3(startup.as_secs_f64() * 1000.0),
        "ingest_seconds": round3(ingest_seconds),
        "parallelism": args.parallelism,
        "result_rows": report.sum("window", |m| &m.rows_out),
        "dead_letters": report.sum("source", |m| &m.dead_letters),
        "late_events": report.sum("window", |m| &m.late_events),
        "checkpoints": report.checkpoints,
        "restored_from": report.restored_from,
        "already_finished": report.already_finished,
    });
    println!("{figures}");
    Ok(())
}

/// The Nexmark source table and views (jobs/nexmark/ddl.sql), read before each query.
const NEXMARK_DDL: &str = include_str!("../../../jobs/nexmark/ddl.sql");

/// The Nexmark queries (jobs/nexmark), built into the binary.
const NEXMARK_QUERIES: [(&str, &str); 23] = [
    ("q0", include_str!("../../../jobs/nexmark/q0.sql")),
    ("q1", include_str!("../../../jobs/nexmark/q1.sql")),
    ("q2", include_str!("../../../jobs/nexmark/q2.sql")),
    ("q3", include_str!("../../../jobs/nexmark/q3.sql")),
    ("q4", include_str!("../../../jobs/nexmark/q4.sql")),
    ("q5", include_str!("../../../jobs/nexmark/q5.sql")),
    ("q6", include_str!("../../../jobs/nexmark/q6.sql")),
    ("q7", include_str!("../../../jobs/nexmark/q7.sql")),
    ("q8", include_str!("../../../jobs/nexmark/q8.sql")),
    ("q9", include_str!("../../../jobs/nexmark/q9.sql")),
    ("q10", include_str!("../../../jobs/nexmark/q10.sql")),
    ("q11", include_str!("../../../jobs/nexmark/q11.sql")),
    ("q12", include_str!("../../../jobs/nexmark/q12.sql")),
    ("q13", include_str!("../../../jobs/nexmark/q13.sql")),
    ("q14", include_str!("../../../jobs/nexmark/q14.sql")),
    ("q15", include_str!("../../../jobs/nexmark/q15.sql")),
    ("q16", include_str!("../../../jobs/nexmark/q16.sql")),
    ("q17", include_str!("../../../jobs/nexmark/q17.sql")),
    ("q18", include_str!("../../../jobs/nexmark/q18.sql")),
    ("q19", include_str!("../../../jobs/nexmark/q19.sql")),
    ("q20", include_str!("../../../jobs/nexmark/q20.sql")),
    ("q21", include_str!("../../../jobs/nexmark/q21.sql")),
    ("q22", include_str!("../../../jobs/nexmark/q22.sql")),
];

/// Runs `jobs/nexmark/<query>.sql` with `--events` events and prints its figures. Events per
/// second per core are events per CPU second of the whole process, as Nexmark's
/// "throughput/cores" (the throughput over the cores in use on average).
fn nexmark(args: NexmarkArgs, data_dir: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(args.parallelism > 0, "--parallelism must be at least 1");
    let Some((query, text)) = NEXMARK_QUERIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&args.query))
    else {
        anyhow::bail!("--query {}: the Nexmark queries are q0 to q22", args.query);
    };
    let temp;
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    // Nexmark's runner fills these in (q10 writes under them), and writes q13's side input
    // under ${FLINK_HOME}: each key of 0..10,000 with its decimal text.
    let text = text
        .replace("${NEXMARK_DIR}", &dir.display().to_string())
        .replace("${FLINK_HOME}", &dir.display().to_string())
        .replace("${SUBMIT_TIME}", &spate_log::now_ms().to_string());
    if text.contains("side_input.txt") {
        std::fs::create_dir_all(dir.join("data"))?;
        let rows: String = (0..10_000).map(|key| format!("{key},{key}\n")).collect();
        std::fs::write(dir.join("data/side_input.txt"), rows)?;
    }
    let job = JobText::new([
        ("jobs/nexmark/ddl.sql".to_string(), NEXMARK_DDL.to_string()),
        (format!("jobs/nexmark/{query}.sql"), text),
    ]);
    let refused = |e: SqlError| {
        let e = job.error(e);
        anyhow::anyhow!("Spate cannot run Nexmark {query}: {e}")
    };
    let mut script = parse_script(&job.text).map_err(refused)?;
    if let Some(events) = args.events {
        anyhow::ensure!(events > 0, "--events must be at least 1");
        for table in script
            .catalog
            .tables
            .iter_mut()
            .filter(|t| t.connector == Connector::Nexmark)
        {
            table
                .options
                .insert("events.num".into(), events.to_string());
        }
    }
    script.settings.extend(args.settings.iter().cloned());
    let mut options = PlanOptions::from_settings(&script.settings).map_err(refused)?;
    options.parallelism = args.parallelism;
    let log = Log::open(dir.join("log"), LogOptions::default())?;
    let graphs = plan_script(&script, &Registry::new(log.clone()), &options).map_err(refused)?;
    let [graph] = <[_; 1]>::try_from(graphs)
        .map_err(|g| anyhow::anyhow!("{query} has {} INSERT statements, not one", g.len()))?;
    let sink_stage = format!("{}[", graph.stages.last().map_or("", |s| s.name.as_str()));
    let sources = graph.sources.len();
    let config = JobConfig {
        side_outputs: SideOutputs::new(Arc::new(LogSideOutput::open(&log, &graph.name)?)),
        ..JobConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.parallelism.max(2))
        .enable_all()
        .build()?;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let report = runtime.block_on(spate_engine::run(graph, config))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    // A query reading the table twice (a join of two of its views) scans it twice, as Flink
    // does without source reuse; the events are those of one scan.
    let scans = sources.max(1) as u64;
    let events = report.sum("source", |m| &m.rows_in) / scans;
    let figures = serde_json::json!({
        "query": query,
        "events": events,
        "seconds": round3(seconds),
        "events_per_sec": (events as f64 / seconds).round(),
        "cpu_seconds": round3(cpu),
        "cores": round3(cpu / seconds),
        "events_per_sec_per_core": (events as f64 / cpu.max(f64::EPSILON)).round(),
        "peak_rss_mb": peak_rss_mb(),
        "parallelism": args.parallelism,
        "settings": args.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "source_scans": scans,
        "result_rows": report.sum(&sink_stage, |m| &m.rows_out),
        "late_events": report.sum("", |m| &m.late_events),
    });
    println!("{figures}");
    Ok(())
}

/// CPU time (user and system) the process has used, in seconds, from /proc/self/stat (in
/// USER_HZ ticks, 100 a second on Linux).
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The process's peak resident set size (VmHWM) in MiB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}
