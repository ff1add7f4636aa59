//! `spate demo`: both applications end to end on embedded defaults, in this one process.
//!
//! - API analytics: the privacy API (`spate api serve`) called by the load generator
//!   (`spate loadgen api`, attackers included) writes its access log; the collector
//!   (`spate collect`) ships it, with GeoIP when a database is fetched, to the log topic
//!   `api-access`; the shipped jobs `jobs/api/*.sql` write their tables into the serving store.
//! - Fleet: the simulator (`spate simulate fleet`, faults and drift) sends telemetry to the log
//!   topic `telemetry`; the shipped jobs `jobs/fleet/*.sql` archive it to Parquet and score it
//!   with the registry's live model (trained on first start) into the store's
//!   `vehicle_health`.
//! - The store the jobs write is served over HTTP (queries, live tables, dashboards, and
//!   `/healthz`: 200 once every part runs) and PostgreSQL's wire protocol.
//!
//! One HTTP address serves the dashboards, the job console, the store's API and the privacy
//! API. The jobs are the console's ([`JobManager`]): they are listed at `/console` beside any
//! the user submits, and checkpoint into `<data-dir>/jobs`. The collector, the load generator
//! and the simulator are the `spate` commands of the same name, each on a thread of its own.
//! Ctrl-C stops each job with a final checkpoint, and the next start resumes from the data
//! directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use spate_log::{Log, LogOptions};
use spate_web::{Health, PartState};

use crate::demo_infra::{Database, Infrastructure};
use crate::job_manager::JobManager;
use crate::model_cmd::RetrainArgs;
use crate::model_manager::ModelManager;
use crate::run_command;
use crate::serve_cmd::{Extras, PgAuthArg, ServeFlags};

/// Options of `spate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the dashboards, the job console, the store's HTTP API and the privacy API are
    /// served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the store's PostgreSQL endpoint is served (user `spate`).
    #[arg(long, default_value = "127.0.0.1:5433")]
    pg_listen: SocketAddr,
    /// The password of the PostgreSQL user `spate`.
    #[arg(long, env = "SPATE_PG_PASSWORD", default_value = "spate")]
    pg_password: String,
    /// Normal API requests per second (attackers come on top).
    #[arg(long, default_value_t = 20.0)]
    api_rate: f64,
    /// Vehicles of the simulated fleet.
    #[arg(long, default_value_t = 1_000)]
    vehicles: u64,
    /// Simulated fleet seconds per wall second: the fleet job's 5-minute windows close every
    /// 300/N seconds.
    #[arg(long, default_value_t = 10.0)]
    fleet_speedup: f64,
    /// How often the archive is checked for drift from the live model's training data; the
    /// model is retrained when it drifted (the fleet dashboard also retrains on request).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    drift_check_every: Duration,
    /// Run on Kafka (bootstrap servers, e.g. 127.0.0.1:9092) instead of the embedded log: the
    /// collector and the simulator write the topics `api-access` and `telemetry`, which the
    /// jobs read.
    #[arg(long, value_name = "BROKERS")]
    kafka: Option<String>,
    /// Also write the API analytics tables to PostgreSQL/Hologres
    /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DB; the tables are created if missing).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Also write the fleet's vehicle_health to MySQL/MariaDB
    /// (mysql://USER[:PASSWORD]@HOST[:PORT]/DB; the table is created if missing).
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,
    /// Stop after this many seconds (runs until Ctrl-C by default).
    #[arg(long)]
    duration_secs: Option<u64>,
}

/// The shipped job files, written into the data directory with its paths.
const JOBS: [(&str, &str); 7] = [
    (
        "api/source.sql",
        include_str!("../../../jobs/api/source.sql"),
    ),
    (
        "api/sinks-store.sql",
        include_str!("../../../jobs/api/sinks-store.sql"),
    ),
    (
        "api/analytics.sql",
        include_str!("../../../jobs/api/analytics.sql"),
    ),
    (
        "fleet/source.sql",
        include_str!("../../../jobs/fleet/source.sql"),
    ),
    (
        "fleet/features.sql",
        include_str!("../../../jobs/fleet/features.sql"),
    ),
    (
        "fleet/sinks-store.sql",
        include_str!("../../../jobs/fleet/sinks-store.sql"),
    ),
    (
        "fleet/pipeline.sql",
        include_str!("../../../jobs/fleet/pipeline.sql"),
    ),
];

/// The API analytics job's name in the console.
const API_JOB: &str = "API analytics";
/// The fleet job's name in the console.
const FLEET_JOB: &str = "Fleet scoring";

/// The API keys of the demo's customers.
const DEMO_KEYS: &str = "key,customer,plan\n\
    demo-alpha-1,Alpha Fleet,pro\n\
    demo-beta-2,Beta Cars,standard\n\
    demo-gamma-3,Gamma Rental,standard\n\
    demo-delta-4,Delta Taxi,free\n";

/// Runs the demo until Ctrl-C (or `--duration-secs`).
pub fn run(data_dir: &Path, args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let infra = Infrastructure {
        kafka: args.kafka.clone(),
        postgres: args
            .postgres
            .as_deref()
            .map(|url| Database::parse(url, "postgres", 5432))
            .transpose()?,
        mysql: args
            .mysql
            .as_deref()
            .map(|url| Database::parse(url, "mysql", 3306))
            .transpose()?,
    };
    let paths = Paths::new(&data_dir);
    paths.prepare(&infra)?;
    let models_fetched = spate_privacy::models::ALL
        .iter()
        .all(|asset| paths.models.join(asset.file_name).is_file());
    ensure_fleet_model(&paths)?;

    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "demo");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime
        .block_on(infra.prepare())
        .context("preparing the infrastructure given")?;
    let health = Health::default();
    // The store the jobs write (this process's one handle), the jobs of the console, and the
    // privacy API, all on the one HTTP address.
    let store = crate::registry::open_store(&data_dir)?;
    let log = Log::open(data_dir.join("log"), LogOptions::default())?;
    let jobs = JobManager::open(&data_dir, log, health.clone(), runtime.handle().clone())?;
    let mut api = args_of(&[
        "--keys",
        &paths.keys.display().to_string(),
        "--access-log",
        &paths.access_log.display().to_string(),
        "--access-log-max-bytes",
        &(64u64 << 20).to_string(),
        "--trusted-proxy",
        "127.0.0.1/32",
    ]);
    if !models_fetched {
        api.push("--without-models".into());
    }
    let api =
        crate::parse_args::<crate::api_cmd::ServeArgs>("api serve", &api)?.app_state(&data_dir)?;
    let flags = ServeFlags {
        listen: Some(args.listen),
        pg_listen: Some(args.pg_listen),
        pg_password: Some(args.pg_password.clone()),
        pg_auth: PgAuthArg::Md5,
        query_timeout: Duration::from_secs(30),
        query_memory_limit_mb: 1024,
    };
    let models = ModelManager::start(
        crate::parse_args::<RetrainArgs>(
            "model retrain",
            &args_of(&[
                "--registry",
                &paths.registry.display().to_string(),
                "--from",
                &data_dir.join("archive/telemetry").display().to_string(),
                "--labels",
                &data_dir.join("fleet/labels.ndjson").display().to_string(),
                // Two simulated hours: twelve minutes at the default speed-up.
                "--drift-window",
                "2h",
            ]),
        )?,
        args.drift_check_every,
    );
    let extras = Extras {
        jobs: Some(Arc::new(jobs.clone())),
        models: Some(Arc::new(models)),
        routes: Some(spate_privacy::api::router(api)),
    };
    // Every part is known (starting) before `/healthz` answers, so that it answers 200 only
    // once all of them run.
    for part in [
        "privacy API",
        "collector",
        "load generator",
        "fleet simulator",
    ] {
        health.set(part, PartState::Starting);
    }
    for job in [API_JOB, FLEET_JOB] {
        jobs.expect(job);
    }
    let _server = runtime.block_on(flags.start(store, health.clone(), extras))?;
    health.set("privacy API", PartState::Running);

    let mut parts = Parts::default();
    parts.start(
        &data_dir,
        "collector",
        args_of(&[
            "collect",
            "--config",
            &paths.collect_config.display().to_string(),
        ]),
    );
    let api_job = infra.sources(
        &paths.job_sql(&["api/source.sql", "api/sinks-store.sql", "api/analytics.sql"])?,
        "spate-demo-api",
    );
    let api_job = format!("{api_job}{}", infra.api_extra(&api_job)?);
    runtime.block_on(jobs.ensure(API_JOB, &api_job))?;
    // Rounds of five minutes, each with its own seed: the load generator spreads its attacks
    // over a round, so a dashboard sees every kind within minutes.
    let (keys, attackers) = (
        paths.keys.display().to_string(),
        data_dir.join("api/attackers.ndjson").display().to_string(),
    );
    let (api_url, rate) = (format!("http://{}", args.listen), args.api_rate.to_string());
    parts.start_rounds(&data_dir, "load generator", move |round| {
        args_of(&[
            "loadgen",
            "api",
            "--target",
            &api_url,
            "--rate",
            &rate,
            "--duration",
            "5m",
            "--day-length",
            "1h",
            "--seed",
            &round.to_string(),
            "--keys",
            &keys,
            "--labels",
            &attackers,
        ])
    });
    parts.start(
        &data_dir,
        "fleet simulator",
        args_of(&[
            "simulate",
            "fleet",
            "--vehicles",
            &args.vehicles.to_string(),
            "--speedup",
            &args.fleet_speedup.to_string(),
            "--sink",
            &infra.telemetry_sink(),
            "--labels",
            &data_dir.join("fleet/labels.ndjson").display().to_string(),
            "--quiet",
        ]),
    );
    let fleet_job = infra.sources(
        &paths.job_sql(&[
            "fleet/source.sql",
            "fleet/features.sql",
            "fleet/sinks-store.sql",
            "fleet/pipeline.sql",
        ])?,
        "spate-demo-fleet",
    );
    let fleet_job = format!("{fleet_job}{}", infra.fleet_extra(&fleet_job)?);
    runtime.block_on(jobs.ensure(FLEET_JOB, &fleet_job))?;
    let listen = args.listen;
    println!("spate demo: data in {}", data_dir.display());
    println!("  dashboards:   http://{listen}/dashboard/ (api, fleet, pipeline)");
    println!("  job console:  http://{listen}/console (spate jobs --server http://{listen} list)");
    println!("  readiness:    http://{listen}/healthz (200 once every part runs)");
    println!(
        "  fleet model:  http://{listen}/api/model (drift checked every {}, retrained when it drifted)",
        humantime::format_duration(args.drift_check_every)
    );
    println!("  store API:    http://{listen}/api/tables");
    println!(
        "  PostgreSQL:   PGPASSWORD={} psql -h {} -p {} -U spate -c 'SELECT * FROM api_metrics_10s LIMIT 5'",
        args.pg_password,
        args.pg_listen.ip(),
        args.pg_listen.port()
    );
    println!("  privacy API:  http://{listen}/ (upload page), http://{listen}/v1/privacy/blur");
    if !models_fetched {
        println!(
            "  uploads are answered 503 until the detectors are fetched: spate --data-dir {} models fetch",
            data_dir.display()
        );
    }
    if paths.geoip_databases()?.is_empty() {
        println!(
            "  no GeoIP database, so no map: spate --data-dir {} geoip fetch (then restart the demo)",
            data_dir.display()
        );
    }
    if let Some(brokers) = &args.kafka {
        println!("  Kafka:        {brokers}, topics api-access and telemetry");
    }
    if infra.postgres.is_some() {
        println!("  PostgreSQL:   the API analytics tables are written there too");
    }
    if infra.mysql.is_some() {
        println!("  MySQL:        vehicle_health is written there too");
    }
    println!("  Ctrl-C stops it; the next start resumes from the data directory");

    let deadline = args
        .duration_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        if let Some(failed) = parts.failed() {
            return Err(failed);
        }
        parts.report(&health);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each job takes a final checkpoint; the next start resumes from it. The other parts'
    // threads end with the process.
    runtime.block_on(jobs.shutdown());
    println!("spate demo: stopped");
    Ok(())
}

/// `args` as owned strings.
fn args_of(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The demo's files in the data directory.
struct Paths {
    data_dir: PathBuf,
    jobs: PathBuf,
    keys: PathBuf,
    access_log: PathBuf,
    collect_config: PathBuf,
    models: PathBuf,
    registry: PathBuf,
}

impl Paths {
    fn new(data_dir: &Path) -> Paths {
        Paths {
            data_dir: data_dir.to_path_buf(),
            jobs: data_dir.join("demo/jobs"),
            keys: data_dir.join("api/keys.csv"),
            access_log: data_dir.join("api/access.log"),
            collect_config: data_dir.join("demo/collect.toml"),
            models: data_dir.join("models"),
            registry: data_dir.join("models/engine-anomaly"),
        }
    }

    /// The prepared job files `names`, one after the other: one job's SQL.
    fn job_sql(&self, names: &[&str]) -> anyhow::Result<String> {
        let mut sql = String::new();
        for name in names {
            let path = self.jobs.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            sql.push_str(&format!("-- {name}\n{text}"));
            if !text.ends_with('\n') {
                sql.push('\n');
            }
        }
        Ok(sql)
    }

    /// The GeoIP databases fetched into the data directory (`spate geoip fetch`).
    fn geoip_databases(&self) -> anyhow::Result<Vec<PathBuf>> {
        let dir = self.data_dir.join("geoip");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "mmdb") {
                found.push(path);
            }
        }
        found.sort();
        Ok(found)
    }

    /// Writes the keys (unless there are some), the jobs with this data directory's paths
    /// and the collector's configuration (shipping to `infra`'s log).
    fn prepare(&self, infra: &Infrastructure) -> anyhow::Result<()> {
        for dir in [self.jobs.join("api"), self.jobs.join("fleet")] {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::create_dir_all(self.keys.parent().expect("a keys file has a folder"))?;
        std::fs::create_dir_all(self.data_dir.join("fleet"))?;
        if !self.keys.exists() {
            std::fs::write(&self.keys, DEMO_KEYS)?;
        }
        let root = self.data_dir.display().to_string();
        for (name, text) in JOBS {
            let text = text.replace("spate-data/", &format!("{root}/"));
            std::fs::write(self.jobs.join(name), text)?;
        }
        let databases: Vec<String> = self
            .geoip_databases()?
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let geoip = match databases.is_empty() {
            true => String::new(),
            false => format!("[geoip]\ndatabases = [{}]\n", databases.join(", ")),
        };
        std::fs::write(
            &self.collect_config,
            format!(
                "name = \"demo-api\"\ncommit_interval = \"500ms\"\nscan_interval = \"250ms\"\n\
                 [[source]]\ninclude = [{:?}]\nformat = \"json\"\n{geoip}{}",
                format!("{}*", self.access_log.display()),
                infra.collector_sink(),
            ),
        )?;
        Ok(())
    }
}

/// Trains the fleet's first model when the registry has no live one: a simulated fleet
/// with faults, one day of readings, labelled by the simulator.
fn ensure_fleet_model(paths: &Paths) -> anyhow::Result<()> {
    let registry = spate_ml::Registry::open(&paths.registry)?;
    if registry.live_version()?.is_some() {
        return Ok(());
    }
    println!("spate demo: training the fleet's first anomaly model (once)");
    let work = paths.data_dir.join("demo/training");
    std::fs::create_dir_all(&work)?;
    let telemetry = work.join("telemetry.ndjson");
    let labels = work.join("labels.ndjson");
    run_command(
        &paths.data_dir,
        &args_of(&[
            "simulate",
            "fleet",
            "--vehicles",
            "60",
            "--rate",
            "0.1",
            "--duration",
            "24h",
            "--speedup",
            "max",
            "--faulty",
            "0.5",
            "--fault-onset-within",
            "8h",
            "--fault-progression",
            "2h",
            "--seed",
            "7",
            "--sink",
            &format!("file://{}", telemetry.display()),
            "--labels",
            &labels.display().to_string(),
            "--quiet",
        ]),
    )
    .context("simulating the training fleet")?;
    run_command(
        &paths.data_dir,
        &args_of(&[
            "model",
            "train",
            "--from",
            &telemetry.display().to_string(),
            "--labels",
            &labels.display().to_string(),
            "--out",
            &paths.registry.display().to_string(),
        ]),
    )
    .context("training the fleet's model")
}

/// The demo's parts other than its jobs and servers, each a `spate` command on a thread.
#[derive(Default)]
struct Parts {
    running: Vec<(String, JoinHandle<anyhow::Result<()>>)>,
}

impl Parts {
    fn start(&mut self, data_dir: &Path, name: &str, args: Vec<String>) {
        let data_dir = data_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run_command(&data_dir, &args))
            .expect("a thread starts");
        self.running.push((name.to_string(), thread));
    }

    /// Tells `health` that each part runs (a part that ended is reported by [`Parts::failed`]).
    fn report(&self, health: &Health) {
        for (name, _) in &self.running {
            health.set(name, PartState::Running);
        }
    }

    /// Runs the command `round(n)` makes for n = 1, 2, … one after another.
    fn start_rounds(
        &mut self,
        data_dir: &Path,
        name: &str,
        round: impl Fn(u64) -> Vec<String> + Send + 'static,
    ) {
        let data_dir = data_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for n in 1.. {
                    run_command(&data_dir, &round(n))?;
                }
                Ok(())
            })
            .expect("a thread starts");
        self.running.push((name.to_string(), thread));
    }

    /// The first part that ended (none should before the demo stops), as an error.
    fn failed(&mut self) -> Option<anyhow::Error> {
        let i = self.running.iter().position(|(_, t)| t.is_finished())?;
        let (name, thread) = self.running.swap_remove(i);
        Some(match thread.join() {
            Ok(Ok(())) => anyhow::anyhow!("the {name} stopped"),
            Ok(Err(e)) => e.context(format!("the {name} failed")),
            Err(_) => anyhow::anyhow!("the {name} panicked"),
        })
    }
}
