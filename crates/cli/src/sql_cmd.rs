//! `spate sql run|explain|validate JOB.sql`: Flink SQL job files on the Spate runtime. Each
//! INSERT becomes a job; several INSERTs run together, as a statement set does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use spate_connectors::side_output::LogSideOutput;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::side_output::SideOutputs;
use spate_engine::{JobConfig, JobControl, JobGraph};
use spate_log::{Log, LogOptions};
use spate_sql::{PlanOptions, Script, SqlError, parse_script, plan_script};
use spate_store::Store;
use spate_web::{Health, PartState};

use crate::job_text::JobText;
use crate::registry::Registry;
use crate::serve_cmd::ServeFlags;

/// `spate sql …`.
#[derive(Debug, Subcommand)]
pub enum SqlCommand {
    /// Runs the job in the foreground; a job whose sources are all bounded ends by itself.
    /// With --listen and/or --pg-listen, the serving store the job writes is served live
    /// while the job runs (HTTP API, PostgreSQL protocol).
    Run(RunArgs),
    /// Prints the dataflow plan: operators, keys, windows, watermarks, parallelism.
    Explain(JobArgs),
    /// Checks the job (parsing, catalog, planning) without running it.
    Validate(JobArgs),
}

/// A job file and how to run it.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The Flink SQL job file.
    job: PathBuf,
    /// A file of statements (SETs, tables, views) to read before the job file, as Flink's
    /// `sql-client.sh -i`; repeat it for several, read in order.
    #[arg(long = "init", value_name = "FILE")]
    init: Vec<PathBuf>,
    /// Instances per stage (overrides `SET 'parallelism.default'`).
    #[arg(long)]
    parallelism: Option<usize>,
    /// Take checkpoints into this directory, and resume from it.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Checkpoint interval in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_interval_ms: u64,
}

/// A job to run, and how to serve the store it writes.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Share the job with the other processes running it: they split its Kafka table's
    /// partitions through its consumer group (`properties.group.id`), repartition by key
    /// through Kafka topics, and take over each other's partitions. Needs --checkpoint-dir,
    /// shared by the processes.
    #[arg(long, conflicts_with = "parallelism")]
    scale_out: bool,
    #[command(flatten)]
    serve: ServeFlags,
}

/// Runs a `spate sql` command.
pub fn run(data_dir: &Path, cmd: SqlCommand) -> anyhow::Result<()> {
    match cmd {
        SqlCommand::Run(RunArgs {
            job: args,
            scale_out: true,
            ..
        }) => {
            let (_, script, mut options, log) = parse(data_dir, &args)?;
            options.parallelism = 1;
            let checkpoints = args
                .checkpoint_dir
                .clone()
                .context("--scale-out needs --checkpoint-dir, shared by the processes")?;
            crate::scale_out::run(crate::scale_out::ScaleOutJob {
                script,
                options,
                log,
                checkpoints,
                interval: Duration::from_millis(args.checkpoint_interval_ms),
            })
        }
        SqlCommand::Run(RunArgs {
            job: args, serve, ..
        }) => {
            let (graphs, log) = plan(data_dir, &args)?;
            let interval = Duration::from_millis(args.checkpoint_interval_ms);
            // The store is opened once per process: the job's sinks write this handle.
            let serving = match serve.any() {
                true => Some((serve, crate::registry::open_store(data_dir)?)),
                false => None,
            };
            run_graphs_serving(
                graphs,
                &log,
                args.checkpoint_dir.as_deref().map(|dir| (dir, interval)),
                serving,
            )
        }
        SqlCommand::Explain(args) => {
            for graph in plan(data_dir, &args)?.0 {
                print!("{}", graph.describe()?);
            }
            Ok(())
        }
        SqlCommand::Validate(args) => {
            let n = plan(data_dir, &args)?.0.len();
            println!("{}: OK, {n} INSERT statement(s)", args.job.display());
            Ok(())
        }
    }
}

/// Plans the job file: one graph per INSERT.
fn plan(data_dir: &Path, args: &JobArgs) -> anyhow::Result<(Vec<JobGraph>, Log)> {
    let job = JobText::read(&args.init, &args.job)?;
    let log = Log::open(data_dir.join("log"), LogOptions::default())?;
    let graphs = plan_text(&job, &log, args.parallelism)?;
    Ok((graphs, log))
}

/// Plans a job's text: one graph per INSERT, `spate-log` tables in `log`, each stage
/// `parallelism` times (else as its `SET 'parallelism.default'` says).
pub(crate) fn plan_text(
    job: &JobText,
    log: &Log,
    parallelism: Option<usize>,
) -> anyhow::Result<Vec<JobGraph>> {
    let (script, options) = parse_text(job, parallelism)?;
    let registry = Registry::new(log.clone());
    let graphs = plan_script(&script, &registry, &options).map_err(|e| job.error(e))?;
    anyhow::ensure!(
        !graphs.is_empty(),
        "{}: the job has no INSERT statement",
        job.name()
    );
    Ok(graphs)
}

/// Reads and parses the job file and its options, and opens the embedded log.
fn parse(data_dir: &Path, args: &JobArgs) -> anyhow::Result<(JobText, Script, PlanOptions, Log)> {
    let job = JobText::read(&args.init, &args.job)?;
    let (script, options) = parse_text(&job, args.parallelism)?;
    let log = Log::open(data_dir.join("log"), LogOptions::default())?;
    Ok((job, script, options, log))
}

/// Parses a job's text and its options.
fn parse_text(job: &JobText, parallelism: Option<usize>) -> anyhow::Result<(Script, PlanOptions)> {
    let located = |e: SqlError| job.error(e);
    let script = parse_script(&job.text).map_err(located)?;
    let mut options = PlanOptions::from_settings(&script.settings).map_err(located)?;
    if let Some(p) = parallelism {
        anyhow::ensure!(p > 0, "--parallelism must be at least 1");
        options.parallelism = p;
    }
    Ok((script, options))
}

/// How a planned job runs: checkpoints into `checkpoints`' directory at its interval (none
/// without), dead letters and late events into the log, stopped through `control`.
pub(crate) fn job_config(
    graph: &JobGraph,
    log: &Log,
    checkpoints: Option<(&Path, Duration)>,
    control: JobControl,
) -> anyhow::Result<JobConfig> {
    let checkpoints = match checkpoints {
        Some((dir, interval)) => Some((CheckpointStore::local(dir)?, interval)),
        None => None,
    };
    Ok(JobConfig {
        checkpoints,
        side_outputs: SideOutputs::new(Arc::new(LogSideOutput::open(log, &graph.name)?)),
        control,
        ..JobConfig::default()
    })
}

/// Runs planned jobs together until they all end (a job whose sources are all bounded ends by
/// itself), taking checkpoints into `checkpoints`' directory at its interval, if given.
pub(crate) fn run_graphs(
    graphs: Vec<JobGraph>,
    log: &Log,
    checkpoints: Option<(&Path, Duration)>,
) -> anyhow::Result<()> {
    run_graphs_serving(graphs, log, checkpoints, None)
}

/// Runs planned jobs as [`run_graphs`] does, serving `serving`'s store meanwhile.
fn run_graphs_serving(
    graphs: Vec<JobGraph>,
    log: &Log,
    checkpoints: Option<(&Path, Duration)>,
    serving: Option<(ServeFlags, Store)>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // `/healthz` reports the jobs: running once started, failed with their error.
        let health = Health::default();
        let _server = match serving {
            Some((flags, store)) => Some(
                flags
                    .start(store, health.clone(), Default::default())
                    .await?,
            ),
            None => None,
        };
        let mut jobs = tokio::task::JoinSet::new();
        for (i, graph) in graphs.into_iter().enumerate() {
            let dir =
                checkpoints.map(|(dir, interval)| (dir.join(format!("insert-{i}")), interval));
            let config = job_config(
                &graph,
                log,
                dir.as_ref()
                    .map(|(dir, interval)| (dir.as_path(), *interval)),
                JobControl::default(),
            )?;
            let (name, health) = (format!("job {}", graph.name), health.clone());
            health.set(&name, PartState::Running);
            jobs.spawn(async move {
                let result = spate_engine::run(graph, config).await;
                if let Err(e) = &result {
                    health.set(&name, PartState::Failed(e.to_string()));
                }
                result
            });
        }
        while let Some(done) = jobs.join_next().await {
            let report = done??;
            eprintln!(
                "job finished: {} rows in, {} rows out, {} dead letters, {} late events",
                report.sum("source", |m| &m.rows_in),
                report
                    .tasks
                    .iter()
                    .filter(|(name, _)| !name.starts_with("source"))
                    .map(|(_, m)| m.rows_out.load(std::sync::atomic::Ordering::Relaxed))
                    .sum::<u64>(),
                report.sum("", |m| &m.dead_letters),
                report
                    .tasks
                    .iter()
                    .map(|(_, m)| m.late_events.load(std::sync::atomic::Ordering::Relaxed))
                    .sum::<u64>(),
            );
        }
        anyhow::Ok(())
    })
}
