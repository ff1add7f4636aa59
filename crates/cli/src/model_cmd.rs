//! `spate model …`: the engine anomaly model's lifecycle. `train` builds a model from recorded
//! telemetry and its labels and registers it as a new version; `evaluate` measures a model on
//! other data; `list` and `promote` manage the registry; `drift` compares recent data with
//! what the live model was trained on; `retrain` trains a challenger on recent data and
//! promotes it only if it beats the live model there; `serve` answers predictions over HTTP
//! ([`crate::model_serve`]).
//!
//! Features come from the fleet job's own SQL ([`crate::fleet_features`]), so a model is
//! trained on exactly what the streaming job will feed it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use spate_fleet::{FaultKind, GroundTruth, WindowTruth};
use spate_ml::{
    Classifier, DataRange, Dataset, DriftReference, Evaluation, LoadedModel, ModelVersion,
    Registry, TrainOptions, TrainingInfo,
};

use crate::fleet_features::{self, LabelledWindows};

/// `spate model …`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Trains a model on telemetry and its labels, and registers it as a new version of the
    /// registry --out; the registry's first version goes live, later ones with --promote.
    Train(TrainArgs),
    /// Measures a model on telemetry and its labels; prints one JSON line (f1, precision,
    /// recall, roc_auc, the confusion matrix, and how long before the trouble code each fault
    /// was flagged) and writes the ROC curve and feature importances as SVG.
    Evaluate(EvaluateArgs),
    /// Lists the registry's versions, with their metrics; the live one is marked.
    List(RegistryArgs),
    /// Makes a version the live one (the streaming job picks it up within a second).
    Promote(PromoteArgs),
    /// Compares telemetry's feature distributions with the live model's training data
    /// (PSI and KS per feature); prints one JSON line.
    Drift(DriftArgs),
    /// Checks drift, and when it passes the threshold trains a challenger on the data given,
    /// which is promoted only if it beats the live model on held-out vehicles of that data.
    /// Every decision is logged in the registry's decisions.ndjson.
    Retrain(RetrainArgs),
    /// Serves the registry's live model over HTTP (batch predict, health, live version),
    /// swapping in promoted versions without dropping a request.
    Serve(crate::model_serve::ServeArgs),
}

/// Where the telemetry and its labels are.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Telemetry: an NDJSON file (`spate simulate fleet --sink file://…`), or a Parquet file
    /// or archive folder as the fleet job writes it, also `s3://bucket/prefix` (credentials
    /// and endpoint from the AWS_* variables).
    #[arg(long, value_name = "PATH")]
    from: PathBuf,
    /// The ground truth: the simulator's labels NDJSON.
    #[arg(long, value_name = "LABELS.ndjson")]
    labels: PathBuf,
}

/// Options of `spate model train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The model registry (created if missing).
    #[arg(long, value_name = "MODEL_DIR")]
    out: PathBuf,
    /// Folds of the vehicles for cross-validation: the threshold and the held-out metrics come
    /// from each fold scored by a model trained on the others; the model itself is trained on
    /// every vehicle.
    #[arg(long, default_value_t = THRESHOLD_FOLDS)]
    folds: usize,
    /// Make the new version live even if another one is.
    #[arg(long)]
    promote: bool,
    /// Seed of the split and of training.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Boosting rounds.
    #[arg(long, default_value_t = TrainOptions::default().trees)]
    trees: usize,
    /// Depth of each tree.
    #[arg(long, default_value_t = TrainOptions::default().max_depth)]
    max_depth: u32,
}

/// Options of `spate model evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A registry (its live version is evaluated) or one version's directory.
    #[arg(long, value_name = "MODEL_DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Where to write roc.svg and importance.svg (default: the model version's directory).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Also write every window's scores and truth to this CSV file (vin, window_end, truth,
    /// fault, severity, score, health_score), for looking into what the model misses.
    #[arg(long, value_name = "FILE.csv")]
    scores: Option<PathBuf>,
}

/// A registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The model registry.
    #[arg(long, value_name = "MODEL_DIR")]
    registry: PathBuf,
}

/// Options of `spate model promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The version: 3 or v3.
    version: String,
    /// Why, for the decision log.
    #[arg(long, default_value = "promoted by hand")]
    reason: String,
}

/// Options of `spate model drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Recent telemetry: an NDJSON file, or a Parquet file or archive folder.
    #[arg(long, value_name = "PATH")]
    from: PathBuf,
    /// Measure only the archive's newest hours of event time (e.g. 6h): its `dt=`/`hour=`
    /// partitions from the newest one back (a local archive folder; others are read whole).
    #[arg(long = "drift-window", value_name = "DURATION", value_parser = humantime::parse_duration)]
    window: Option<Duration>,
}

/// Options of `spate model retrain`.
#[derive(Debug, Clone, Args)]
pub struct RetrainArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Retrain even without drift.
    #[arg(long)]
    pub(crate) force: bool,
    /// Measure drift on the archive's newest hours of event time only (e.g. 6h), so that a
    /// recent change is not diluted by the history; training still reads all of --from.
    #[arg(long = "drift-window", value_name = "DURATION", value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Share of the vehicles held out to compare the challenger with the live model.
    #[arg(long, default_value_t = 0.3)]
    holdout: f64,
    /// Seed of the split and of training.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep watching: check again this long after each check (e.g. 1h), until Ctrl-C or
    /// SIGTERM. Each check reads what --from holds then (an archive folder grows as the job
    /// writes it) and prints its JSON line; a check that fails prints an "error" line and the
    /// watch goes on.
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<Duration>,
}

impl RetrainArgs {
    /// The registry.
    pub(crate) fn registry(&self) -> &Path {
        &self.registry.registry
    }

    /// The telemetry checked and trained on.
    pub(crate) fn from(&self) -> &Path {
        &self.data.from
    }
}

/// Runs a `spate model` command.
pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Train(args) => train(&args),
        ModelCommand::Evaluate(args) => evaluate(&args),
        ModelCommand::List(args) => list(&args),
        ModelCommand::Promote(args) => promote(&args),
        ModelCommand::Drift(args) => drift(&args),
        ModelCommand::Retrain(args) => match args.every {
            Some(every) => watch(&args, every),
            None => {
                println!("{}", retrain(&args, &|_| {})?);
                Ok(())
            }
        },
        ModelCommand::Serve(args) => crate::model_serve::run(&args),
    }
}

/// A spinner on stderr for one step of long work.
fn step(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .expect("a valid progress template"),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The labelled feature windows of `data`.
fn labelled_windows(data: &DataArgs, features: &[String]) -> anyhow::Result<LabelledWindows> {
    let truth = GroundTruth::read_ndjson(&data.labels)?;
    let work = tempfile::tempdir()?;
    let bar = step(&format!(
        "computing feature windows of {}",
        data.from.display()
    ));
    let batches = fleet_features::compute(&data.from, work.path())?;
    let windows = LabelledWindows::new(&batches, features, &truth)?;
    bar.finish_with_message(format!(
        "{} feature windows of {}",
        windows.len(),
        data.from.display()
    ));
    anyhow::ensure!(
        windows.len() > 0,
        "{}: no window with the engine running (the fleet job scores windows where it ran \
         for a fifth of the time or more)",
        data.from.display()
    );
    Ok(windows)
}

/// The range of the windows the labels decide, as the registry records it.
fn decided_range(windows: &LabelledWindows, decided: &[usize], source: &Path) -> DataRange {
    let ends = decided.iter().map(|&row| windows.window_end[row]);
    DataRange {
        from_ms: ends.clone().min().unwrap_or(0),
        to_ms: ends.max().unwrap_or(0),
        rows: decided.len() as u64,
        source: source.display().to_string(),
    }
}

/// `values` at `rows`.
fn pick<T: Copy>(values: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&row| values[row]).collect()
}

/// A model trained on every vehicle, with what it was trained on and how it did.
struct Fitted {
    model: Classifier,
    /// Every window, decided or not, as a dataset of the model's features.
    all: Dataset,
    /// The windows it was trained on: those the labels decide.
    decided: Vec<usize>,
    /// Its evaluation on the windows it was trained on.
    training: Evaluation,
    /// The out-of-fold evaluation: each vehicle's windows scored by a model trained on the
    /// other folds' vehicles, at the threshold those scores chose.
    holdout: Evaluation,
    /// Every window's out-of-fold health score.
    out_of_fold: Vec<f64>,
    /// The feature distributions of the windows it was trained on, for drift checks.
    reference: DriftReference,
}

impl Fitted {
    /// Registers the model as a new version of `registry`, trained on `range`.
    fn register(&self, registry: &Registry, range: DataRange) -> anyhow::Result<ModelVersion> {
        Ok(registry.register(
            &self.model,
            TrainingInfo {
                data: range,
                training: self.training.clone(),
                holdout: self.holdout.clone(),
                reference: self.reference.clone(),
            },
        )?)
    }
}

/// Trains on the windows the labels decide and picks the threshold by cross-validation over
/// the vehicles: every window of a fold's vehicles (incipient and masked ones too, which the
/// health score averages over) is scored by a model trained on the other folds, and the
/// threshold is the one that maximises F1 over the decided windows' out-of-fold health
/// scores.
fn fit(windows: &LabelledWindows, folds: usize, options: &TrainOptions) -> anyhow::Result<Fitted> {
    let all = windows.dataset()?;
    let decided = windows.decided_rows();
    let dataset = all.select_rows(&decided);
    let labels = &dataset.labels;
    let vins = windows.vehicle_ids();
    let groups: Vec<&str> = vins.iter().map(String::as_str).collect();
    let fold_of = all.folds_by_group(&groups, folds, options.seed)?;
    let bar = step(&format!(
        "training on {} windows ({} anomalous), {} trees, {folds} folds for the threshold",
        dataset.rows(),
        labels.iter().filter(|l| **l).count(),
        options.trees
    ));
    let mut model = Classifier::train(&dataset, options)?;
    let in_sample = model.predict_proba(&all.column_slices())?;
    // A fold whose rest has no anomalous window (or no rows) cannot train a model: its rows
    // keep the full model's score.
    let mut out_of_fold = in_sample.clone();
    for fold in 0..folds {
        let inside: Vec<usize> = (0..all.rows())
            .filter(|&row| fold_of[row] == fold)
            .collect();
        let rest: Vec<usize> = decided
            .iter()
            .copied()
            .filter(|&row| fold_of[row] != fold)
            .collect();
        let rest_set = all.select_rows(&rest);
        if inside.is_empty() || !rest_set.labels.iter().any(|&l| l) {
            continue;
        }
        let fold_model = Classifier::train(&rest_set, options)?;
        let scores = fold_model.predict_proba(&all.select_rows(&inside).column_slices())?;
        for (row, score) in inside.into_iter().zip(scores) {
            out_of_fold[row] = score;
        }
    }
    bar.finish_with_message(format!("trained on {} windows", dataset.rows()));
    let in_sample = pick(&windows.health_scores(&in_sample)?, &decided);
    let out_of_fold = windows.health_scores(&out_of_fold)?;
    let decided_out_of_fold = pick(&out_of_fold, &decided);
    if let Some(threshold) = spate_ml::best_f1_threshold(&decided_out_of_fold, labels)? {
        model.set_threshold(threshold)?;
    }
    let training = spate_ml::evaluate(&in_sample, labels, model.threshold())?;
    let holdout = spate_ml::evaluate(&decided_out_of_fold, labels, model.threshold())?;
    Ok(Fitted {
        model,
        training,
        holdout,
        out_of_fold,
        reference: DriftReference::from_dataset(&dataset)?,
        decided,
        all,
    })
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let features = fleet_features::model_features()?;
    let windows = labelled_windows(&args.data, &features)?;
    let options = TrainOptions {
        trees: args.trees,
        max_depth: args.max_depth,
        seed: args.seed,
        ..TrainOptions::default()
    };
    let fitted = fit(&windows, args.folds, &options)?;
    let range = decided_range(&windows, &fitted.decided, &args.data.from);
    let registry = Registry::open(&args.out)?;
    let version = fitted.register(&registry, range)?;
    let live = registry.live_version()?;
    let promoted = args.promote || live.is_none();
    if promoted {
        let reason = match live {
            None => "the registry's first model".to_string(),
            Some(v) => format!("trained with --promote, replacing v{v}"),
        };
        registry.promote(version.version, &reason)?;
    }
    println!(
        "{}",
        json!({
            "version": format!("v{}", version.version),
            "dir": version.dir,
            "live": promoted,
            "windows": fitted.decided.len(),
            "holdout": fitted.holdout,
        })
    );
    Ok(())
}

/// The model a `--model` path names: a registry's live version, or a version directory.
fn load_model(path: &Path) -> anyhow::Result<LoadedModel> {
    if path.join("meta.json").exists() {
        return Ok(spate_ml::registry::load_dir(path)?);
    }
    Registry::open(path)?.live()?.with_context(|| {
        format!(
            "{}: no live model (train one with spate model train --out {0})",
            path.display()
        )
    })
}

/// Folds of the vehicles that choose a model's threshold by cross-validation.
const THRESHOLD_FOLDS: usize = 5;

/// Consecutive flagged windows of one vehicle that make an alarm: a single flagged window can
/// be a chance false positive, a run of them is a signature that persists.
const ALARM_RUN: usize = 3;

/// How long before its trouble code the vehicles of one group were flagged.
#[derive(Debug, Default)]
struct Lead {
    /// Hours from the first flag after onset to the first trouble code, per vehicle with both.
    hours: Vec<f64>,
    /// Flagged, and no trouble code set within the data.
    flagged_without_dtc: usize,
    /// Never flagged after onset.
    missed: usize,
    /// Faulty vehicles with windows in the data.
    vehicles: usize,
}

impl Lead {
    /// Counts a vehicle first flagged at `flag` and first showing a code at `dtc`.
    fn add(&mut self, flag: Option<i64>, dtc: Option<i64>) {
        self.vehicles += 1;
        match (flag, dtc) {
            (None, _) => self.missed += 1,
            (Some(_), None) => self.flagged_without_dtc += 1,
            (Some(flag), Some(dtc)) => self.hours.push((dtc - flag) as f64 / 3_600_000.0),
        }
    }

    fn median(&self) -> Option<f64> {
        let mut hours = self.hours.clone();
        hours.sort_by(f64::total_cmp);
        let n = hours.len();
        (n > 0).then(|| {
            if n % 2 == 1 {
                hours[n / 2]
            } else {
                (hours[n / 2 - 1] + hours[n / 2]) / 2.0
            }
        })
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "median": self.median(),
            "vehicles": self.vehicles,
            "flagged_before_dtc": self.hours.iter().filter(|h| **h > 0.0).count(),
            "flagged_with_dtc_known": self.hours.len(),
            "flagged_without_dtc": self.flagged_without_dtc,
            "missed": self.missed,
        })
    }
}

/// How long before its trouble code each faulty vehicle was flagged, overall and by fault,
/// counting from its first flagged window after onset and from its first alarm (a run of
/// [`ALARM_RUN`] flagged windows), with how often healthy vehicles were flagged or alarmed.
#[derive(Debug, Default)]
struct LeadTimes {
    /// From the first flagged window.
    first_flag: Lead,
    /// From the first flagged window, by fault.
    first_flag_by_fault: BTreeMap<FaultKind, Lead>,
    /// From the first alarm.
    alarm: Lead,
    /// From the first alarm, by fault.
    alarm_by_fault: BTreeMap<FaultKind, Lead>,
    /// Vehicles whose every window is healthy.
    healthy_vehicles: usize,
    /// Of those, how many had a window flagged.
    healthy_flagged: usize,
    /// Of those, how many had an alarm.
    healthy_alarmed: usize,
}

impl LeadTimes {
    fn new(windows: &LabelledWindows, scores: &[f64], threshold: f64) -> LeadTimes {
        // Each vehicle's windows: (end, flagged, trouble code stored, fault once started).
        type Window = (i64, bool, bool, Option<FaultKind>);
        let mut per_vin: BTreeMap<String, Vec<Window>> = BTreeMap::new();
        for (i, score) in scores.iter().enumerate() {
            let fault = match windows.truth[i] {
                WindowTruth::Healthy => None,
                WindowTruth::Incipient { fault, .. }
                | WindowTruth::Masked { fault, .. }
                | WindowTruth::Faulty { fault, .. } => Some(fault),
            };
            per_vin
                .entry(windows.vins[i].to_string())
                .or_default()
                .push((
                    windows.window_end[i],
                    *score >= threshold,
                    windows.dtc_count[i] > 0,
                    fault,
                ));
        }
        let mut lead = LeadTimes::default();
        for mut vehicle in per_vin.into_values() {
            vehicle.sort_by_key(|w| w.0);
            // The first window ending a run of ALARM_RUN flagged ones, among `rows`.
            let first_alarm = |rows: &[Window]| {
                let mut run = 0;
                rows.iter().find_map(|&(end, flagged, _, _)| {
                    run = if flagged { run + 1 } else { 0 };
                    (run >= ALARM_RUN).then_some(end)
                })
            };
            let Some(kind) = vehicle.iter().find_map(|w| w.3) else {
                lead.healthy_vehicles += 1;
                lead.healthy_flagged += usize::from(vehicle.iter().any(|w| w.1));
                lead.healthy_alarmed += usize::from(first_alarm(&vehicle).is_some());
                continue;
            };
            let after_onset: Vec<Window> = vehicle.into_iter().filter(|w| w.3.is_some()).collect();
            let flag = after_onset.iter().find(|w| w.1).map(|w| w.0);
            let alarm = first_alarm(&after_onset);
            let dtc = after_onset.iter().find(|w| w.2).map(|w| w.0);
            lead.first_flag.add(flag, dtc);
            lead.first_flag_by_fault
                .entry(kind)
                .or_default()
                .add(flag, dtc);
            lead.alarm.add(alarm, dtc);
            lead.alarm_by_fault.entry(kind).or_default().add(alarm, dtc);
        }
        lead
    }

    /// The figures as `evaluate` prints them: the overall ones with a `by_fault` object.
    fn json_of(overall: &Lead, by_fault: &BTreeMap<FaultKind, Lead>) -> serde_json::Value {
        let mut value = overall.to_json();
        let faults: serde_json::Map<String, serde_json::Value> = by_fault
            .iter()
            .map(|(kind, lead)| (kind.to_string(), lead.to_json()))
            .collect();
        value["by_fault"] = faults.into();
        value
    }
}

fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let loaded = load_model(&args.model)?;
    let features = fleet_features::model_features()?;
    loaded.check_schema(&features)?;
    let windows = labelled_windows(&args.data, &features)?;
    let decided = windows.decided_rows();
    let labels: Vec<bool> = decided.iter().map(|&row| windows.is_faulty(row)).collect();
    let model = &loaded.model;
    let bar = step(&format!("scoring {} windows", windows.len()));
    let all_columns: Vec<&[f64]> = windows.columns.iter().map(Vec::as_slice).collect();
    let window_scores = model.predict_proba(&all_columns)?;
    let all_scores = windows.health_scores(&window_scores)?;
    let scores = pick(&all_scores, &decided);
    bar.finish_and_clear();
    let evaluation = spate_ml::evaluate(&scores, &labels, model.threshold())?;
    let single_window =
        spate_ml::evaluate(&pick(&window_scores, &decided), &labels, model.threshold())?;
    let lead = LeadTimes::new(&windows, &all_scores, model.threshold());
    let report = args.report.clone().unwrap_or_else(|| loaded.dir.clone());
    std::fs::create_dir_all(&report)?;
    let curve = spate_ml::roc_curve(&scores, &labels)?;
    std::fs::write(
        report.join("roc.svg"),
        spate_ml::plot::roc_svg(&curve, evaluation.roc_auc.unwrap_or(f64::NAN)),
    )?;
    std::fs::write(
        report.join("importance.svg"),
        spate_ml::plot::importance_svg(&model.feature_importance()),
    )?;
    let incipient = windows
        .truth
        .iter()
        .filter(|t| matches!(t, WindowTruth::Incipient { .. }))
        .count();
    let masked: Vec<bool> = windows
        .truth
        .iter()
        .zip(&all_scores)
        .filter(|(t, _)| matches!(t, WindowTruth::Masked { .. }))
        .map(|(_, score)| *score >= model.threshold())
        .collect();
    let by_fault = recall_by_fault(&windows, &all_scores, model.threshold());
    if let Some(path) = &args.scores {
        write_scores(path, &windows, &window_scores, &all_scores)?;
    }
    let mut line = serde_json::to_value(&evaluation)?;
    let extra = json!({
        "recall_by_fault": by_fault,
        "model": format!("v{}", loaded.meta.version),
        "single_window": {
            "f1": single_window.f1,
            "precision": single_window.precision,
            "recall": single_window.recall,
            "roc_auc": single_window.roc_auc,
        },
        "incipient_windows_excluded": incipient,
        "masked_windows_excluded": {
            "windows": masked.len(),
            "flagged": masked.iter().filter(|&&f| f).count(),
        },
        "lead_time_hours": LeadTimes::json_of(&lead.first_flag, &lead.first_flag_by_fault),
        "alarm_lead_time_hours": LeadTimes::json_of(&lead.alarm, &lead.alarm_by_fault),
        "alarm_run_windows": ALARM_RUN,
        "healthy_vehicles": {
            "vehicles": lead.healthy_vehicles,
            "flagged": lead.healthy_flagged,
            "alarmed": lead.healthy_alarmed,
        },
        "report": report,
    });
    if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
    }
    println!("{line}");
    Ok(())
}

/// Writes each window's score and health score with what the labels say of it, as CSV.
fn write_scores(
    path: &Path,
    windows: &LabelledWindows,
    scores: &[f64],
    health: &[f64],
) -> anyhow::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(
        out,
        "vin,window_end,truth,fault,severity,score,health_score"
    )?;
    for (row, (truth, score)) in windows.truth.iter().zip(scores).enumerate() {
        let (vin, end) = (&windows.vins[row], windows.window_end[row]);
        let (kind, fault, severity) = match *truth {
            WindowTruth::Healthy => ("healthy", String::new(), 0.0),
            WindowTruth::Incipient { fault, severity } => {
                ("incipient", fault.to_string(), severity)
            }
            WindowTruth::Masked { fault, severity } => ("masked", fault.to_string(), severity),
            WindowTruth::Faulty { fault, severity } => ("faulty", fault.to_string(), severity),
        };
        writeln!(
            out,
            "{vin},{end},{kind},{fault},{severity},{score},{}",
            health[row]
        )?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Per fault, and per tenth of its severity: faulty windows and how many were flagged.
fn recall_by_fault(windows: &LabelledWindows, scores: &[f64], threshold: f64) -> serde_json::Value {
    let mut counts: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for (truth, score) in windows.truth.iter().zip(scores) {
        if let WindowTruth::Faulty { fault, severity } = truth {
            let tenth = format!("{:.1}", (severity * 10.0).floor() / 10.0);
            let entry = counts
                .entry(fault.to_string())
                .or_default()
                .entry(tenth)
                .or_default();
            entry.0 += 1;
            entry.1 += u64::from(*score >= threshold);
        }
    }
    counts
        .into_iter()
        .map(|(fault, tenths)| {
            let (windows, flagged) = tenths
                .values()
                .fold((0, 0), |(w, f), (tw, tf)| (w + tw, f + tf));
            let by_severity: serde_json::Map<String, serde_json::Value> = tenths
                .into_iter()
                .map(|(tenth, (w, f))| (tenth, json!([f, w])))
                .collect();
            (
                fault,
                json!({
                    "windows": windows,
                    "recall": flagged as f64 / windows.max(1) as f64,
                    "flagged_of_windows_by_severity": by_severity,
                }),
            )
        })
        .collect()
}

fn list(args: &RegistryArgs) -> anyhow::Result<()> {
    let registry = Registry::open(&args.registry)?;
    let live = registry.live_version()?;
    for meta in registry.list()? {
        println!(
            "{}",
            json!({
                "version": format!("v{}", meta.version),
                "live": Some(meta.version) == live,
                "created_at": meta.created_at,
                "rows": meta.data.rows,
                "source": meta.data.source,
                "holdout_f1": meta.holdout.f1,
                "holdout_roc_auc": meta.holdout.roc_auc,
                "threshold": meta.threshold,
            })
        );
    }
    Ok(())
}

/// `3` or `v3`.
fn parse_version(text: &str) -> anyhow::Result<u32> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse()
        .with_context(|| format!("{text:?} is not a version (write 3 or v3)"))
}

fn promote(args: &PromoteArgs) -> anyhow::Result<()> {
    let registry = Registry::open(&args.registry.registry)?;
    let version = parse_version(&args.version)?;
    registry.promote(version, &args.reason)?;
    println!("v{version} is live");
    Ok(())
}

/// The drift of `from`'s windows (of its newest `window` only, if given) against the live
/// model's training data, and the model.
fn drift_report(
    registry: &Registry,
    from: &Path,
    window: Option<Duration>,
) -> anyhow::Result<(spate_ml::DriftReport, LoadedModel)> {
    let live = registry.live()?.with_context(|| {
        format!(
            "{}: no live model to compare with",
            registry.dir().display()
        )
    })?;
    let features = fleet_features::model_features()?;
    live.check_schema(&features)?;
    let work = tempfile::tempdir()?;
    let from = match window {
        Some(window) => crate::archive_window::newest_hours(from, window, work.path())?,
        None => from.to_path_buf(),
    };
    let bar = step(&format!("computing feature windows of {}", from.display()));
    let batches = fleet_features::compute(&from, work.path())?;
    let windows = LabelledWindows::new(&batches, &features, &GroundTruth::default())?;
    bar.finish_and_clear();
    let columns: Vec<&[f64]> = windows.columns.iter().map(Vec::as_slice).collect();
    Ok((live.reference.compare_columns(&columns)?, live))
}

fn drift(args: &DriftArgs) -> anyhow::Result<()> {
    let registry = Registry::open(&args.registry.registry)?;
    let (report, live) = drift_report(&registry, &args.from, args.window)?;
    let mut line = serde_json::to_value(&report)?;
    if let Some(line) = line.as_object_mut() {
        line.insert("model".into(), json!(format!("v{}", live.meta.version)));
    }
    println!("{line}");
    Ok(())
}

/// Checks drift (and retrains) every `every` until a signal stops it; a check finding the
/// telemetry as the last one left it keeps the live model without reading it again (and
/// without registering another challenger trained on the same data).
fn watch(args: &RetrainArgs, every: Duration) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "drift watch");
    let mut checked = None;
    loop {
        let seen = data_fingerprint(&args.data.from);
        let outcome = match &seen {
            Ok(now) if checked.as_ref() == Some(now) => {
                let reason = "no new telemetry since the last check";
                println!("{}", json!({"action": "keep", "reason": reason}));
                Ok(())
            }
            Ok(_) => retrain(args, &|_| {}).map(|outcome| println!("{outcome}")),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", args.data.from.display())),
        };
        match outcome {
            Ok(()) => checked = seen.ok(),
            Err(e) => {
                tracing::warn!("drift check failed: {e:#}");
                println!("{}", json!({"action": "error", "reason": format!("{e:#}")}));
            }
        }
        let next = Instant::now() + every;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// What the telemetry at `path` (a file, or a folder read recursively) looks like: the
/// names, sizes and modification times of its files, sorted.
pub(crate) fn data_fingerprint(
    path: &Path,
) -> std::io::Result<Vec<(PathBuf, u64, std::time::SystemTime)>> {
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = std::fs::metadata(&p)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                pending.push(entry?.path());
            }
        } else {
            files.push((p, meta.len(), meta.modified()?));
        }
    }
    files.sort();
    Ok(files)
}

/// Checks drift and, when the telemetry drifted (or `args.force`), trains a challenger and
/// promotes it if it beats the live model on held-out vehicles; `progress` is told each step.
/// Returns the decision as the JSON line `spate model retrain` prints: `action` (`keep`,
/// `promote` or `reject`), `reason` and, once drift was measured, `drift`.
pub(crate) fn retrain(
    args: &RetrainArgs,
    progress: &dyn Fn(&str),
) -> anyhow::Result<serde_json::Value> {
    let registry = Registry::open(&args.registry.registry)?;
    progress("measuring drift against the live model's training data");
    let (report, live) = drift_report(&registry, &args.data.from, args.window)?;
    let drifted: Vec<&str> = report
        .features
        .iter()
        .filter(|f| f.psi >= spate_ml::drift::PSI_DRIFT)
        .map(|f| f.name.as_str())
        .collect();
    if !report.drifted && !args.force {
        let reason = format!(
            "no drift: largest PSI {:.3} below {}",
            report.max_psi,
            spate_ml::drift::PSI_DRIFT
        );
        registry.log_decision("keep", live.meta.version, &reason)?;
        return Ok(json!({"action": "keep", "reason": reason, "drift": report}));
    }
    let features = fleet_features::model_features()?;
    progress("computing the labelled feature windows of the archive");
    let windows = labelled_windows(&args.data, &features)?;
    let options = TrainOptions {
        seed: args.seed,
        ..TrainOptions::default()
    };
    progress(&format!(
        "training a challenger on {} windows",
        windows.len()
    ));
    let challenger = fit(&windows, THRESHOLD_FOLDS, &options)?;
    let range = decided_range(&windows, &challenger.decided, &args.data.from);
    progress("comparing the challenger with the live model");
    // Both on the same held-out vehicles' decided windows: the live model's health scores at
    // its own threshold, the challenger's out-of-fold ones (from models that never saw those
    // vehicles) at its threshold.
    let vins = windows.vehicle_ids();
    let groups: Vec<&str> = vins.iter().map(String::as_str).collect();
    let all = &challenger.all;
    let held_out: std::collections::HashSet<usize> = all
        .holdout_rows(&groups, args.holdout, args.seed)?
        .into_iter()
        .collect();
    let holdout_rows: Vec<usize> = challenger
        .decided
        .iter()
        .copied()
        .filter(|row| held_out.contains(row))
        .collect();
    let holdout_labels = pick(&all.labels, &holdout_rows);
    let live_health = windows.health_scores(&live.model.predict_proba(&all.column_slices())?)?;
    let incumbent = spate_ml::evaluate(
        &pick(&live_health, &holdout_rows),
        &holdout_labels,
        live.model.threshold(),
    )?;
    let holdout = spate_ml::evaluate(
        &pick(&challenger.out_of_fold, &holdout_rows),
        &holdout_labels,
        challenger.model.threshold(),
    )?;
    let version = challenger.register(&registry, range)?;
    let why = if report.drifted {
        format!(
            "drift in {} (largest PSI {:.3})",
            drifted.join(", "),
            report.max_psi
        )
    } else {
        "retrain forced".to_string()
    };
    let better = holdout.f1 > incumbent.f1;
    let reason = format!(
        "{why}; on {} held-out windows the challenger scores F1 {:.4} against v{}'s {:.4}",
        holdout.n, holdout.f1, live.meta.version, incumbent.f1
    );
    let action = if better {
        registry.promote(version.version, &reason)?;
        "promote"
    } else {
        registry.log_decision("reject", version.version, &reason)?;
        "reject"
    };
    Ok(json!({
        "action": action,
        "challenger": format!("v{}", version.version),
        "live_before": format!("v{}", live.meta.version),
        "reason": reason,
        "drift": report,
    }))
}
