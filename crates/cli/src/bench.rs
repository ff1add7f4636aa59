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
use spate_engine::JobConfig;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::side_output::SideOutputs;
use spate_engine::sink::SinkFactory;
use spate_log::{Log, LogError, LogOptions, TopicConfig};

use crate::reference_job::ReferenceJob;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The reference job of ../shared/bench/flink: a 10 s TUMBLE per client_ip (count, avg
    /// latency, sum bytes, errors) over an NDJSON access log, file → log → job → sink.
    Window(WindowArgs),
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

/// Runs a benchmark.
pub fn run(cmd: BenchCommand, data_dir: Option<&Path>, started: Instant) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Window(args) => window(args, data_dir, started),
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
            let out = out.clone();
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

fn round3(x: f64) -> f64 {
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
