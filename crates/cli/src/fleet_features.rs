//! The fleet job's feature windows computed in batch, for training and evaluating the engine
//! anomaly model: the same SQL the streaming job runs (`jobs/fleet/features.sql`), over a
//! telemetry file or a Parquet archive instead of the log, and each window labelled with the
//! ground truth.

use std::path::Path;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, TimestampMillisecondType};
use spate_connectors::storage::{Location, S3Options};
use spate_fleet::{GroundTruth, Vin, WindowTruth};
use spate_log::{Log, LogOptions};
use spate_ml::Dataset;
use spate_sql::{Connector, ModelDef, PlanOptions, parse_script, plan_script};

use crate::job_text::JobText;
use crate::registry::Registry;

/// The shipped fleet job, file by file, in the order `spate sql run` reads them.
pub const FLEET_JOB: [(&str, &str); 4] = [
    (
        "jobs/fleet/source.sql",
        include_str!("../../../jobs/fleet/source.sql"),
    ),
    (
        "jobs/fleet/features.sql",
        include_str!("../../../jobs/fleet/features.sql"),
    ),
    (
        "jobs/fleet/sinks-log.sql",
        include_str!("../../../jobs/fleet/sinks-log.sql"),
    ),
    (
        "jobs/fleet/pipeline.sql",
        include_str!("../../../jobs/fleet/pipeline.sql"),
    ),
];

/// The model the fleet job scores with.
pub const MODEL: &str = "engine_anomaly";

/// The view of the windows the model scores.
const SCORED_VIEW: &str = "running_windows";

/// The fleet job's `CREATE MODEL`: its input columns are the model's features, in order.
pub fn model_def() -> anyhow::Result<ModelDef> {
    let job = JobText::new(FLEET_JOB.map(|(name, text)| (name.to_string(), text.to_string())));
    let script = parse_script(&job.text).map_err(|e| job.error(e))?;
    script
        .catalog
        .model(MODEL)
        .cloned()
        .with_context(|| format!("jobs/fleet/pipeline.sql declares no model {MODEL}"))
}

/// The fleet model's features: the input columns of the fleet job's `CREATE MODEL`, in order.
pub fn model_features() -> anyhow::Result<Vec<String>> {
    Ok(model_def()?.inputs.into_iter().map(|c| c.name).collect())
}

/// The scored windows of the telemetry at `from` (an NDJSON file, or a Parquet file or
/// archive folder as the fleet job writes it, local or `s3://`/`oss://` with the `AWS_*`
/// variables' credentials), computed by the fleet job's feature SQL. `work` holds the
/// intermediate files.
pub fn compute(from: &Path, work: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let json = from
        .extension()
        .is_some_and(|e| e == "json" || e == "ndjson" || e == "jsonl");
    let format = match Location::parse(&from.display().to_string(), &S3Options::default())? {
        Location::Local(_) => {
            anyhow::ensure!(
                from.exists(),
                "--from {}: no such file or folder",
                from.display()
            );
            if from.is_dir() || from.extension().is_some_and(|e| e == "parquet") {
                "parquet"
            } else {
                "json"
            }
        }
        // An archive prefix, or one object of it.
        Location::Bucket(_) if !json => "parquet",
        Location::Bucket(_) => "json",
    };
    let out = work.join("windows");
    let ctas = format!(
        "CREATE TABLE training_windows WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'parquet') AS SELECT * FROM {SCORED_VIEW};\n",
        out.display().to_string().replace('\'', "''")
    );
    let job = JobText::new([
        (FLEET_JOB[0].0.to_string(), FLEET_JOB[0].1.to_string()),
        (FLEET_JOB[1].0.to_string(), FLEET_JOB[1].1.to_string()),
        ("training".to_string(), ctas),
    ]);
    let mut script = parse_script(&job.text).map_err(|e| job.error(e))?;
    let telemetry = script
        .catalog
        .tables
        .iter_mut()
        .find(|t| t.name == "telemetry")
        .context("jobs/fleet/source.sql declares no table telemetry")?;
    telemetry.connector = Connector::Filesystem;
    telemetry.options = [
        ("connector", "filesystem".to_string()),
        ("path", from.display().to_string()),
        ("format", format.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let log = Log::open(work.join("log"), LogOptions::default())?;
    let options = PlanOptions::from_settings(&script.settings).map_err(|e| job.error(e))?;
    let graphs =
        plan_script(&script, &Registry::new(log.clone()), &options).map_err(|e| job.error(e))?;
    crate::sql_cmd::run_graphs(graphs, &log, None)?;
    read_parquet_dir(&out)
}

/// Every row of the Parquet files under `dir`.
fn read_parquet_dir(dir: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    let location = Location::Local(dir.to_path_buf());
    for entry in location.data_files()? {
        let file = std::fs::File::open(dir.join(&entry.rel))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .build()?;
        for batch in reader {
            batches.push(batch?);
        }
    }
    Ok(batches)
}

/// Feature windows with their ground truth, column by column.
#[derive(Debug, Default)]
pub struct LabelledWindows {
    /// The feature names, in the model's order.
    pub features: Vec<String>,
    /// Each feature's values, NaN where missing.
    pub columns: Vec<Vec<f64>>,
    /// Each window's vehicle.
    pub vins: Vec<Vin>,
    /// Each window's end, epoch ms.
    pub window_end: Vec<i64>,
    /// Each window's stored trouble codes.
    pub dtc_count: Vec<i32>,
    /// What the labels say about each window.
    pub truth: Vec<WindowTruth>,
}

impl LabelledWindows {
    /// The windows of `batches`, the model's `features` taken by name, labelled by `truth`.
    pub fn new(
        batches: &[RecordBatch],
        features: &[String],
        truth: &GroundTruth,
    ) -> anyhow::Result<LabelledWindows> {
        let mut out = LabelledWindows {
            features: features.to_vec(),
            columns: vec![Vec::new(); features.len()],
            ..LabelledWindows::default()
        };
        for batch in batches {
            let column = |name: &str, to: &DataType| -> anyhow::Result<_> {
                let array = batch
                    .column_by_name(name)
                    .with_context(|| format!("the feature windows have no column {name}"))?;
                Ok(cast(array, to)?)
            };
            let vins = column("vin", &DataType::Utf8)?;
            let ends = column(
                "window_end",
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            )?;
            let dtcs = column("dtc_count", &DataType::Int32)?;
            let (vins, ends) = (
                vins.as_string::<i32>(),
                ends.as_primitive::<TimestampMillisecondType>(),
            );
            let dtcs = dtcs.as_primitive::<Int32Type>();
            for row in 0..batch.num_rows() {
                let vin: Vin = vins
                    .value(row)
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("window row {row}: {e}"))?;
                let end = ends.value(row);
                // The window holds readings up to, not including, its end.
                out.truth.push(truth.at(&vin, end - 1));
                out.vins.push(vin);
                out.window_end.push(end);
                out.dtc_count.push(if dtcs.is_null(row) {
                    0
                } else {
                    dtcs.value(row)
                });
            }
            for (values, name) in out.columns.iter_mut().zip(features) {
                let array = column(name, &DataType::Float64)?;
                let array = array.as_primitive::<Float64Type>();
                values.extend((0..array.len()).map(|i| {
                    if array.is_null(i) {
                        f64::NAN
                    } else {
                        array.value(i)
                    }
                }));
            }
        }
        Ok(out)
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.vins.len()
    }

    /// Each window's vehicle as text, the groups that cross-validation and hold-outs split
    /// the windows by.
    pub fn vehicle_ids(&self) -> Vec<String> {
        self.vins.iter().map(ToString::to_string).collect()
    }

    /// Whether the labels say window `row` is faulty.
    pub fn is_faulty(&self, row: usize) -> bool {
        matches!(self.truth[row], WindowTruth::Faulty { .. })
    }

    /// The windows the labels decide: healthy or faulty, not incipient or masked.
    pub fn decided_rows(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&row| {
                matches!(
                    self.truth[row],
                    WindowTruth::Healthy | WindowTruth::Faulty { .. }
                )
            })
            .collect()
    }

    /// Every window as a dataset of the model's features, anomalous where it is faulty.
    pub fn dataset(&self) -> anyhow::Result<Dataset> {
        let labels = (0..self.len()).map(|row| self.is_faulty(row)).collect();
        Ok(Dataset::new(
            self.features.clone(),
            self.columns.clone(),
            labels,
        )?)
    }

    /// Each window's health score (`spate_ml::health`) from its anomaly score.
    pub fn health_scores(&self, scores: &[f64]) -> anyhow::Result<Vec<f64>> {
        Ok(spate_ml::health_scores(
            &self.vins,
            &self.window_end,
            scores,
        )?)
    }
}
