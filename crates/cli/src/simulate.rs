//! `spate simulate …`: synthetic data sources. `fleet` simulates vehicles sending OBD-II
//! telemetry (see the `spate-fleet` crate).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spate_fleet::{
    FaultKind, FaultPlan, Fleet, FleetConfig, Progress, RunOptions, SinkUri, Speedup,
};

/// `spate simulate …`: synthetic data sources.
#[derive(Debug, clap::Subcommand)]
pub enum SimulateCommand {
    /// Simulates a fleet of vehicles sending OBD-II telemetry, with faults and their labels.
    ///
    /// Every vehicle reports every 1/RATE s of simulated time (also while parked, engine
    /// off): Mode 01 PIDs (rpm, speed, load, coolant, intake air, MAF, throttle, fuel trims,
    /// O2 voltage, timing advance, module voltage, oil and ambient temperature, odometer) and
    /// its stored trouble codes. Faulty vehicles' ground truth goes to a separate label stream.
    /// Records are delivered in batches every --batch-interval. Runs until --duration or
    /// --max-events, or until Ctrl-C (which delivers what was simulated; a second one exits at
    /// once). A JSON summary is printed on stdout at the end.
    Fleet(FleetArgs),
}

/// Options of `spate simulate fleet`.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// Vehicles in the fleet.
    #[arg(long, default_value_t = 100)]
    vehicles: u64,
    /// Readings per vehicle per second of simulated time.
    #[arg(long, value_name = "HZ", default_value_t = 1.0)]
    rate: f64,
    /// Where to send the records: log://TOPIC[?partitions=N] (the embedded log; labels to
    /// TOPIC-labels), file://PATH.ndjson (labels to PATH.labels.ndjson), mqtt://HOST:PORT
    /// (vehicles/{vin}/telemetry and vehicles/{vin}/labels, QoS 1) or
    /// kafka://HOST:PORT/TOPIC[?partitions=N] (key = VIN; labels to TOPIC-labels).
    #[arg(long, value_name = "URI")]
    sink: String,
    /// Write the labels (the ground truth) to this NDJSON file instead of the sink's own label
    /// stream.
    #[arg(long, value_name = "PATH")]
    labels: Option<PathBuf>,
    /// Seed of everything random: the same seed, start and options give the same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated seconds per wall second, or "max" to run as fast as possible.
    #[arg(long, value_parser = parse_speedup, default_value = "1")]
    speedup: Speedup,
    /// Stop after this much simulated time (e.g. 30s, 12h, 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many telemetry records.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Pace of drift: seasons advance and vehicles age DRIFT days per simulated day, and a new
    /// model joins the fleet after 7/DRIFT simulated days; 0 turns drift off.
    #[arg(long, default_value_t = 1.0)]
    drift: f64,
    /// Wall time between deliveries.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    batch_interval: Duration,
    /// Simulated start time: RFC 3339 (2025-01-15T08:00:00Z) or epoch milliseconds. Default:
    /// now.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Share of vehicles that develop a fault, 0 to 1.
    #[arg(long, value_name = "SHARE", default_value_t = 0.1)]
    faulty: f64,
    /// Faults to choose from, comma-separated: thermostat-stuck-open, thermostat-stuck-closed,
    /// vacuum-leak, dirty-maf, lazy-o2-sensor, misfire, failing-alternator. Default: all.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    faults: Vec<FaultKind>,
    /// Fault onsets are spread over this much simulated time from the start.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2d")]
    fault_onset_within: Duration,
    /// Time from a fault's onset to its full severity. Default: each kind's own, from half an
    /// hour (a sticking thermostat) to ten days (a dirty MAF).
    #[arg(long, value_parser = humantime::parse_duration)]
    fault_progression: Option<Duration>,
    /// No progress or summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_speedup(s: &str) -> Result<Speedup, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speedup::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(Speedup::Factor(f)),
        _ => Err(format!("expected a positive number or \"max\", got {s:?}")),
    }
}

/// Epoch milliseconds from RFC 3339 text or a number.
fn parse_start(s: &str) -> Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let time = humantime::parse_rfc3339_weak(s).with_context(|| {
        format!("--start {s:?}: expected RFC 3339 (2025-01-15T08:00:00Z) or epoch milliseconds")
    })?;
    Ok(epoch_ms(time))
}

fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs a `spate simulate` command; the log sink writes under `data_dir/log`.
pub fn run(data_dir: &Path, cmd: SimulateCommand) -> Result<()> {
    match cmd {
        SimulateCommand::Fleet(args) => fleet(data_dir, args),
    }
}

fn fleet(data_dir: &Path, args: FleetArgs) -> Result<()> {
    let uri: SinkUri = args.sink.parse()?;
    let start_ms = match &args.start {
        Some(s) => parse_start(s)?,
        None => epoch_ms(SystemTime::now()),
    };
    let config = FleetConfig {
        vehicles: args.vehicles,
        seed: args.seed,
        rate_hz: args.rate,
        start_ms,
        drift: args.drift,
        faults: FaultPlan {
            share: args.faulty,
            kinds: args.faults,
            onset_within: args.fault_onset_within,
            progression: args.fault_progression,
        },
    };
    let mut fleet = Fleet::new(config)?;
    let mut sink = uri.open(&data_dir.join("log"), args.labels.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "simulation");
    let options = RunOptions {
        batch_interval: args.batch_interval,
        duration: args.duration,
        max_events: args.max_events,
        stop,
        ..RunOptions::new(args.speedup)
    };
    let bar = progress_bar(
        args.quiet,
        args.duration.filter(|_| args.max_events.is_none()),
    );
    let done = spate_fleet::run(&mut fleet, sink.as_mut(), &options, |p| {
        show(&bar, p, args.batch_interval)
    })?;
    bar.finish_and_clear();
    let seconds = done.wall.as_secs_f64();
    let peak_rss_mb = peak_rss_mb();
    if !args.quiet {
        eprintln!(
            "simulated {} vehicle(s) for {}: {} reading(s) to {}, {} label(s) to {}, in {seconds:.1} s",
            done.vehicles,
            humantime::format_duration(done.simulated),
            done.events,
            args.sink,
            done.labels,
            uri.labels_destination(args.labels.as_deref()),
        );
    }
    let summary = serde_json::json!({
        "vehicles": done.vehicles,
        "events": done.events,
        "labels": done.labels,
        "batches": done.batches,
        "simulated_s": done.simulated.as_secs_f64(),
        "seconds": seconds,
        "events_per_sec": if seconds > 0.0 { done.events as f64 / seconds } else { 0.0 },
        "behind_s": done.behind.as_secs_f64(),
        "peak_rss_mb": peak_rss_mb,
    });
    println!("{summary}");
    Ok(())
}

/// A progress bar on stderr (hidden under `--quiet` or when stderr is not a terminal), over
/// the simulated duration when there is one.
fn progress_bar(quiet: bool, duration: Option<Duration>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let (bar, template) = match duration {
        Some(d) => (
            ProgressBar::new(d.as_secs().max(1)),
            "{spinner} {elapsed_precise} [{bar:30}] {msg}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {elapsed_precise} {msg}",
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn show(bar: &ProgressBar, p: &Progress, interval: Duration) {
    bar.set_position(p.simulated.as_secs());
    let rate = p.events as f64 / p.wall.as_secs_f64().max(1e-9);
    let behind = match p.behind > interval {
        true => format!(", {:.0} s behind schedule", p.behind.as_secs_f64()),
        false => String::new(),
    };
    bar.set_message(format!(
        "{} vehicles, simulated {}, {} readings, {} labels, {rate:.0}/s{behind}",
        p.vehicles,
        humantime::format_duration(Duration::from_secs(p.simulated.as_secs())),
        p.events,
        p.labels,
    ));
}

/// Peak resident set size of this process, MB (0 where /proc is not available).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
