//! The query interfaces of the serving store (`spate-web`): `spate serve`, and the same
//! flags on `spate sql run`, which serves the store its job writes while it runs.
//!
//! `spate serve` opens the store read-only, beside a job that may be writing it: it sees
//! the tables as they were at the start, or, with `--refresh`, reads them again that often.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use spate_store::{QueryLimits, Store, StoreOptions};
use spate_web::{Health, JobService, ModelService, PgAuth, PgOptions, Server, ServerConfig};

use crate::job_manager::JobManager;

/// How the PostgreSQL endpoint asks for the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PgAuthArg {
    /// Hashed with MD5 and a salt per connection.
    Md5,
    /// In clear text: only over a trusted network.
    Cleartext,
}

/// Where and how the store is served.
#[derive(Debug, Clone, Args)]
pub struct ServeFlags {
    /// Serve the HTTP API here (`/api/tables`, `/api/query`, `/api/tables/NAME/live`),
    /// e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve the PostgreSQL wire protocol here (user `spate`), e.g. 127.0.0.1:5433. An
    /// address other than loopback needs --pg-password.
    #[arg(long, value_name = "ADDR")]
    pub pg_listen: Option<SocketAddr>,
    /// The password of the PostgreSQL user `spate`; without one, logins need none
    /// (loopback only).
    #[arg(
        long,
        env = "SPATE_PG_PASSWORD",
        value_name = "PW",
        hide_env_values = true
    )]
    pub pg_password: Option<String>,
    /// How the PostgreSQL endpoint asks for the password.
    #[arg(long, value_enum, default_value_t = PgAuthArg::Md5)]
    pub pg_auth: PgAuthArg,
    /// Cancel a query of the HTTP API or PostgreSQL after this long, e.g. 500ms or 30s.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub query_timeout: Duration,
    /// The memory a query's sorts, aggregations and joins may take, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub query_memory_limit_mb: usize,
}

impl ServeFlags {
    /// Whether anything is to be served.
    pub fn any(&self) -> bool {
        self.listen.is_some() || self.pg_listen.is_some()
    }

    /// The servers' configuration, `/healthz` reporting `health`, with the extras.
    fn config(&self, health: Health, extras: Extras) -> ServerConfig {
        ServerConfig {
            health,
            jobs: extras.jobs,
            models: extras.models,
            routes: extras.routes,
            http: self.listen,
            pg: self.pg_listen,
            pg_options: PgOptions {
                password: self.pg_password.clone(),
                auth: match self.pg_auth {
                    PgAuthArg::Md5 => PgAuth::Md5,
                    PgAuthArg::Cleartext => PgAuth::Cleartext,
                },
            },
            limits: QueryLimits {
                timeout: self.query_timeout,
                memory_bytes: self.query_memory_limit_mb << 20,
            },
        }
    }

    /// Starts serving `store` on the current Tokio runtime, `/healthz` reporting `health`,
    /// with the extras, and prints where.
    pub async fn start(
        &self,
        store: Store,
        health: Health,
        extras: Extras,
    ) -> anyhow::Result<Server> {
        let server = Server::start(store, self.config(health, extras)).await?;
        if let Some(addr) = server.http_addr() {
            eprintln!("HTTP API: http://{addr}/api/tables, http://{addr}/api/query?sql=…");
        }
        if let Some(addr) = server.pg_addr() {
            eprintln!(
                "PostgreSQL: postgresql://spate@{}:{}/spate (psql -h {} -p {} -U spate)",
                addr.ip(),
                addr.port(),
                addr.ip(),
                addr.port()
            );
        }
        Ok(server)
    }
}

/// What a process serves beside the store.
#[derive(Debug, Default)]
pub struct Extras {
    /// The jobs of the console (`/console`, `/api/jobs`).
    pub jobs: Option<Arc<dyn JobService>>,
    /// The fleet model's registry (`/api/model`).
    pub models: Option<Arc<dyn ModelService>>,
    /// More routes (the privacy API's, in the demo).
    pub routes: Option<axum::Router>,
}

/// Options of `spate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    flags: ServeFlags,
    /// Read the store again this often (e.g. 10s), to see what a job committed since: each
    /// time costs what opening the store does. Without it the tables stay as they were at
    /// the start.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "jobs")]
    refresh: Option<Duration>,
    /// Run the job console: the jobs submitted at /console, /api/jobs or with `spate jobs`,
    /// kept in the data directory's `jobs` folder and started again with the server. The
    /// store is opened for writing (no other process may write it meanwhile), and served
    /// live. Needs --listen.
    #[arg(long, requires = "listen")]
    jobs: bool,
}

/// `spate serve`: the store of the data directory, opened read-only, or with `--jobs` the
/// job console and the store its jobs write.
pub fn run(data_dir: &Path, args: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.flags.any(),
        "nothing to serve: give --listen ADDR and/or --pg-listen ADDR"
    );
    if args.jobs {
        return serve_jobs(data_dir, &args.flags);
    }
    let dir = crate::registry::store_dir(data_dir);
    anyhow::ensure!(
        dir.join("tables").is_dir(),
        "no store in {}: a job writes one through a 'connector' = 'spate-store' table",
        dir.display()
    );
    let store = Store::open_read_only(&dir, StoreOptions::default())
        .with_context(|| format!("cannot open the store {}", dir.display()))?;
    match args.refresh {
        None => eprintln!(
            "serving the store {} read-only, as of now ({} tables): rows committed later are \
             not seen (see --refresh; spate sql run --listen/--pg-listen serves a job's store \
             live)",
            dir.display(),
            store.table_names().len()
        ),
        Some(every) => eprintln!(
            "serving the store {} read-only ({} tables), read again every {}",
            dir.display(),
            store.table_names().len(),
            humantime::format_duration(every)
        ),
    }
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let _server = args
            .flags
            .start(store.clone(), Health::default(), Extras::default())
            .await?;
        let mut last = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if args.refresh.is_some_and(|every| last.elapsed() >= every) {
                let store = store.clone();
                match tokio::task::spawn_blocking(move || store.reload()).await? {
                    Ok(()) => tracing::debug!("the store was read again"),
                    // The tables stay as they were; the next refresh tries again.
                    Err(e) => tracing::warn!("cannot read the store again: {e}"),
                }
                last = std::time::Instant::now();
            }
        }
        anyhow::Ok(())
    })
}

/// `spate serve --jobs`: the job console, its jobs, and the store they write, until Ctrl-C or
/// SIGTERM, which stops each job with a final checkpoint (they resume on the next start).
fn serve_jobs(data_dir: &Path, flags: &ServeFlags) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let store = crate::registry::open_store(data_dir)?;
    let log = spate_log::Log::open(data_dir.join("log"), spate_log::LogOptions::default())?;
    let health = Health::default();
    let jobs = JobManager::open(data_dir, log, health.clone(), runtime.handle().clone())?;
    runtime.block_on(async {
        let extras = Extras {
            jobs: Some(Arc::new(jobs.clone())),
            ..Extras::default()
        };
        let server = flags.start(store, health, extras).await?;
        if let Some(addr) = server.http_addr() {
            eprintln!(
                "job console: http://{addr}/console (spate jobs --server http://{addr} list)"
            );
        }
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("stopping the jobs with a final checkpoint");
        jobs.shutdown().await;
        anyhow::Ok(())
    })
}
