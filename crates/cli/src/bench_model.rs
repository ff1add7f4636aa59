//! `spate bench model`: how fast the engine anomaly model scores, in process (as
//! `ML_PREDICT` calls it) and through the REST server (`spate model serve`), on feature rows
//! drawn from the live model's training distribution. The baseline, measured in the same run,
//! is a pass that only reads every value of the same rows (their sum).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;
use spate_ml::LiveModel;

/// Options of `spate bench model`.
#[derive(Debug, Args)]
pub struct ModelBenchArgs {
    /// The model registry whose live version is measured.
    #[arg(long, value_name = "MODEL_DIR")]
    registry: PathBuf,
    /// Rows scored in process.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows per REST request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent REST clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Seconds of REST load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Runs the benchmark and prints its figures as one JSON object.
pub fn run(args: &ModelBenchArgs) -> anyhow::Result<()> {
    let features = crate::fleet_features::model_features()?;
    let live = Arc::new(LiveModel::open(&args.registry, &features)?);
    let model = live.current();
    let columns = sample_rows(&model.reference, args.rows);
    let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();

    let started = Instant::now();
    let mut sums = vec![0.0; args.rows];
    for column in &slices {
        for (sum, value) in sums.iter_mut().zip(*column) {
            if !value.is_nan() {
                *sum += value;
            }
        }
    }
    std::hint::black_box(&sums);
    let baseline = args.rows as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    std::hint::black_box(model.model.predict_proba(&slices)?);
    let scored = args.rows as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    std::hint::black_box(model.model.predict_proba(&slices)?);
    std::hint::black_box(model.model.top_contributions_batch(&slices, 3)?);
    let explained = args.rows as f64 / started.elapsed().as_secs_f64();

    let rest = rest_load(args, Arc::clone(&live), &columns)?;
    println!(
        "{}",
        json!({
            "model": format!("v{}", model.meta.version),
            "features": features.len(),
            "in_process": {
                "rows": args.rows,
                "baseline_rows_per_s": baseline,
                "score_rows_per_s": scored,
                "score_vs_baseline": scored / baseline,
                "score_and_top_signals_rows_per_s": explained,
            },
            "rest": rest,
        })
    );
    Ok(())
}

/// `rows` rows, each feature's value drawn from the reference's sample of its training values
/// (missing as often as in training).
fn sample_rows(reference: &spate_ml::DriftReference, rows: usize) -> Vec<Vec<f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    reference
        .features
        .iter()
        .map(|feature| {
            let missing = feature.expected_shares.last().copied().unwrap_or(0.0);
            (0..rows)
                .map(|_| {
                    if feature.sample.is_empty() || rng.random::<f64>() < missing {
                        f64::NAN
                    } else {
                        feature.sample[rng.random_range(0..feature.sample.len())]
                    }
                })
                .collect()
        })
        .collect()
}

/// Serves the model on a loopback port and loads it with batches from several clients.
fn rest_load(
    args: &ModelBenchArgs,
    live: Arc<LiveModel>,
    columns: &[Vec<f64>],
) -> anyhow::Result<serde_json::Value> {
    let features = live.current().meta.features.clone();
    let batch = args.batch.min(columns.first().map_or(0, Vec::len)).max(1);
    let body: serde_json::Map<String, serde_json::Value> = features
        .iter()
        .zip(columns)
        .map(|(name, values)| {
            let values = values[..batch]
                .iter()
                .map(|v| {
                    serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
                })
                .collect();
            (name.clone(), serde_json::Value::Array(values))
        })
        .collect();
    let body = json!({ "columns": body }).to_string();
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/v1/predict", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(async move {
        axum::serve(listener, crate::model_serve::router(live))
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let latencies: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.clients.max(1))
            .map(|_| {
                let (url, body) = (&url, &body);
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let mut response = ureq::post(url)
                            .header("Content-Type", "application/json")
                            .send(body.as_str())?;
                        response.body_mut().read_to_vec()?;
                        latencies.push(sent.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a client thread panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    runtime.block_on(server)??;
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Ok(json!({
        "clients": args.clients,
        "rows_per_request": batch,
        "requests": all.len(),
        "predictions_per_s": (all.len() * batch) as f64 / seconds,
        "latency_p50_ms": at(0.5),
        "latency_p99_ms": at(0.99),
    }))
}
