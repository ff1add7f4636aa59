//! `spate loadgen http`: NDJSON batches POSTed to an HTTP ingest table by clients sending back
//! to back, with throughput and per-request latency as one JSON line.
//!
//! Each event is `{"id":N,"account":"acct-K","amount":X,"ts":MS}` with ids counting up from
//! `--first-id` across all clients, so a job can check that every event arrived once:
//!
//! ```sql
//! CREATE TABLE payments (id BIGINT, account STRING, amount DOUBLE, ts BIGINT)
//! WITH ('connector' = 'http', 'port' = '8088', 'path' = '/payments', 'format' = 'json');
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::bench_store::{percentile_ms, round3};

/// Options of `spate loadgen http`.
#[derive(Debug, Args)]
pub struct HttpLoadArgs {
    /// The table's URL, e.g. http://127.0.0.1:8088/payments.
    #[arg(long)]
    url: String,
    /// Events in all.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per request.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
    /// Clients sending back to back, each waiting for its answer before the next request.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The first event's id.
    #[arg(long, default_value_t = 0)]
    first_id: u64,
}

/// Sends the events and prints the report.
pub fn run(args: &HttpLoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let batches = args.events.div_ceil(args.batch);
    let next = AtomicU64::new(0);
    let (bytes, throttled) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let latencies: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.clients)
            .map(|_| {
                let (agent, next, bytes, throttled) = (&agent, &next, &bytes, &throttled);
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut latencies = Vec::new();
                    let mut body = String::new();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            return Ok(latencies);
                        }
                        let first = b * args.batch;
                        let last = (first + args.batch).min(args.events);
                        body.clear();
                        for i in first..last {
                            let id = args.first_id + i;
                            let _ = writeln!(
                                body,
                                r#"{{"id":{id},"account":"acct-{}","amount":{}.{:02},"ts":{}}}"#,
                                id % 10_007,
                                id % 1_000,
                                id % 100,
                                1_764_000_000_000 + id
                            );
                        }
                        loop {
                            let sent = Instant::now();
                            let mut answer = agent
                                .post(&args.url)
                                .header("Content-Type", "application/x-ndjson")
                                .send(body.as_str())
                                .with_context(|| format!("POST {}", args.url))?;
                            let text = answer.body_mut().read_to_string()?;
                            let status = answer.status().as_u16();
                            if status == 429 {
                                throttled.fetch_add(1, Ordering::Relaxed);
                                let wait = answer
                                    .headers()
                                    .get("retry-after")
                                    .and_then(|v| v.to_str().ok()?.parse().ok())
                                    .unwrap_or(1);
                                std::thread::sleep(Duration::from_secs(wait));
                                continue;
                            }
                            anyhow::ensure!(status == 200, "POST {}: {status} {text}", args.url);
                            latencies.push(sent.elapsed());
                            bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                            break;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a client thread panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    let bytes = bytes.load(Ordering::Relaxed) as f64;
    println!(
        "{}",
        json!({
            "events": args.events,
            "events_per_request": args.batch,
            "clients": args.clients,
            "requests": all.len(),
            "throttled": throttled.load(Ordering::Relaxed),
            "seconds": round3(seconds),
            "events_per_s": (args.events as f64 / seconds).round(),
            "mb_per_s": round3(bytes / seconds / 1e6),
            "latency_p50_ms": round3(percentile_ms(&mut all, 0.50)),
            "latency_p99_ms": round3(percentile_ms(&mut all, 0.99)),
        })
    );
    Ok(())
}
