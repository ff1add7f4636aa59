//! `spate loadgen api`: normal and attacking traffic against the privacy API, with labels;
//! `spate loadgen http`: NDJSON batches against an HTTP ingest table.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use spate_loadgen::{AttackKind, Settings};
use spate_privacy::api::keys::KeyTable;

/// Load generators.
#[derive(Debug, Subcommand)]
pub enum LoadgenCommand {
    /// Calls the privacy API as users from many countries (with daily cycles) and as
    /// attackers; prints a JSON report, and writes the attackers to `--labels`.
    Api(ApiArgs),
    /// POSTs NDJSON batches of numbered events to an HTTP ingest table from clients sending
    /// back to back; prints events/s, MB/s and per-request latency as JSON.
    Http(crate::loadgen_http::HttpLoadArgs),
}

/// Options of `spate loadgen api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The API's base URL, e.g. http://127.0.0.1:8080. Start the API with `--trusted-proxy`
    /// covering this machine, since clients are named in X-Forwarded-For.
    #[arg(long)]
    target: String,
    /// Normal requests per second, averaged over a simulated day.
    #[arg(long)]
    rate: f64,
    /// How long to run (e.g. 90s, 10m).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    duration: Duration,
    /// The server's keys file (normal users and the scraper use its keys).
    #[arg(long)]
    keys: PathBuf,
    /// Write one NDJSON line per attacking client: attack, client_ip, api_key, start, end,
    /// first_request, last_request, requests.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Seed of every random choice (users, addresses, attack windows, photos).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length of a simulated day: each country's users follow their local hour on this clock.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
    day_length: Duration,
    /// Attacks to run, comma-separated (credential_stuffing, scanning, scraping, dos), or
    /// `none`.
    #[arg(long, default_value = "credential_stuffing,scanning,scraping,dos")]
    attacks: String,
    /// Most requests waiting for an answer at once; past that, requests are skipped and
    /// counted.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
}

/// Runs a `spate loadgen` command.
pub fn run(cmd: LoadgenCommand) -> anyhow::Result<()> {
    let args = match cmd {
        LoadgenCommand::Api(args) => args,
        LoadgenCommand::Http(args) => return crate::loadgen_http::run(&args),
    };
    anyhow::ensure!(
        args.rate > 0.0 && args.rate.is_finite(),
        "--rate {} must be above 0",
        args.rate
    );
    anyhow::ensure!(!args.day_length.is_zero(), "--day-length must be above 0");
    let attacks = if args.attacks == "none" {
        Vec::new()
    } else {
        args.attacks
            .split(',')
            .map(|a| a.trim().parse::<AttackKind>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?
    };
    let keys = KeyTable::load(&args.keys)?;
    let plan = spate_loadgen::plan(Settings {
        rate: args.rate,
        duration: args.duration,
        day_length: args.day_length,
        seed: args.seed,
        attacks,
        keys: keys.entries().cloned().collect(),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(spate_loadgen::run(plan, &args.target, args.max_in_flight))?;
    if let Some(path) = &args.labels {
        spate_loadgen::write_labels(path, &report.labels)?;
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
