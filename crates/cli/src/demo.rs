//! `spate demo`: the end-to-end path on embedded defaults. Synthetic API access events go into
//! the embedded log at a steady rate; the 10 s windowed job reads them with checkpoints and
//! writes per-client metrics as JSON part files. Stop it with Ctrl-C; it resumes from its
//! data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use spate_connectors::file_sink::{FileFormat, FileSink};
use spate_connectors::log_source::{Bound, EndOffsets};
use spate_connectors::side_output::LogSideOutput;
use spate_engine::JobConfig;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::side_output::SideOutputs;
use spate_log::{Log, LogError, LogOptions, Record, TopicConfig};

use crate::reference_job::ReferenceJob;

/// Options of `spate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Events per second to generate.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Stop after this many seconds (runs until Ctrl-C by default).
    #[arg(long)]
    duration_secs: Option<u64>,
}

const TOPIC: &str = "api-events";

/// Runs the demo.
pub fn run(data_dir: &Path, args: DemoArgs) -> anyhow::Result<()> {
    let log = Log::open(data_dir.join("log"), LogOptions::default())?;
    let topic = match log.topic(TOPIC) {
        Ok(t) => t,
        Err(LogError::UnknownTopic(_)) => log.create_topic(TOPIC, TopicConfig::new(2))?,
        Err(e) => return Err(e.into()),
    };
    let results = data_dir.join("results/api_metrics_10s");
    println!("spate demo: data in {}", data_dir.display());
    println!(
        "  events:      spate --data-dir {} log consume {TOPIC} --max-messages 5",
        data_dir.display()
    );
    println!(
        "  results:     {} (JSON part files, committed at each checkpoint)",
        results.display()
    );
    println!(
        "  dead letters: spate --data-dir {} log consume api-metrics-10s.dead-letter",
        data_dir.display()
    );
    let deadline = args
        .duration_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    // With --duration-secs the generator publishes the end offsets when it stops, and the job
    // then runs to the end of what was generated.
    let ends = EndOffsets::default();
    let generator = {
        let (topic, ends) = (Arc::clone(&topic), ends.clone());
        std::thread::spawn(move || generate(&topic, args.rate, deadline, &ends))
    };
    let sink_dir = results.clone();
    let graph = ReferenceJob {
        log: log.clone(),
        topic: TOPIC.into(),
        bound: match deadline {
            Some(_) => Bound::Until(ends.clone()),
            None => Bound::Unbounded,
        },
        parallelism: 2,
        sink: Arc::new(move |task| {
            Ok(Box::new(FileSink::new(
                sink_dir.clone(),
                FileFormat::Json,
                task.instance,
            )?) as Box<_>)
        }),
        early_fire: None,
    }
    .graph()?;
    let config = JobConfig {
        checkpoints: Some((
            CheckpointStore::local(&data_dir.join("checkpoints/api-metrics-10s"))?,
            Duration::from_secs(2),
        )),
        side_outputs: SideOutputs::new(Arc::new(LogSideOutput::open(&log, &graph.name)?)),
        ..JobConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(spate_engine::run(graph, config))?;
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator panicked"))??;
    println!(
        "done: {} events in, {} result rows, {} checkpoints; results in {}",
        report.sum("source", |m| &m.rows_in),
        report.sum("window", |m| &m.rows_out),
        report.checkpoints,
        results.display()
    );
    Ok(())
}

/// Appends synthetic access events at `rate` per second, in event time = now, with some
/// disorder and a few malformed lines (which the job dead-letters).
fn generate(
    topic: &spate_log::Topic,
    rate: u64,
    deadline: Option<Instant>,
    ends: &EndOffsets,
) -> anyhow::Result<()> {
    let mut seq: u64 = 0;
    let tick = Duration::from_millis(100);
    let per_tick = (rate / 10).max(1);
    let paths = [
        "/v1/privacy/blur",
        "/v1/privacy/blur?background=blur",
        "/",
        "/metrics",
        "/wp-admin",
    ];
    let mut lines: Vec<String> = Vec::with_capacity(per_tick as usize);
    loop {
        let t0 = Instant::now();
        if deadline.is_some_and(|d| t0 >= d) {
            let offsets = (0..topic.partitions())
                .map(|p| topic.end_offset(p))
                .collect::<Result<Vec<_>, _>>()?;
            ends.set(offsets);
            return Ok(());
        }
        let now = spate_log::now_ms();
        lines.clear();
        for _ in 0..per_tick {
            seq += 1;
            let h = seq.wrapping_mul(0x9E3779B97F4A7C15);
            let ip = format!("10.{}.{}.{}", (h >> 8) % 4, (h >> 16) % 16, (h >> 24) % 64);
            let delay = if h.is_multiple_of(5) {
                (h >> 32) % 1500
            } else {
                0
            };
            let status = if h.is_multiple_of(23) {
                404
            } else if h.is_multiple_of(37) {
                500
            } else {
                200
            };
            let line = if seq.is_multiple_of(10_000) {
                "{\"ts\": not json".to_string()
            } else {
                format!(
                    "{{\"ts\":{},\"client_ip\":\"{ip}\",\"method\":\"POST\",\"path\":\"{}\",\"status\":{status},\"latency_ms\":{:.1},\"bytes_out\":{}}}",
                    now - delay as i64,
                    paths[(h % paths.len() as u64) as usize],
                    5.0 + (h >> 40) as f64 % 300.0,
                    1000 + (h >> 20) % 50_000
                )
            };
            lines.push(line);
        }
        for p in 0..topic.partitions() {
            let records: Vec<Record<'_>> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i as u32 % topic.partitions() == p)
                .map(|(_, l)| Record::new(now, l.as_bytes()))
                .collect();
            topic.append(p, &records)?;
        }
        if let Some(rest) = tick.checked_sub(t0.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}
