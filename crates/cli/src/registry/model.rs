//! The models `ML_PREDICT` calls.
//!
//! - `'provider' = 'spate'` scores in process with the live version of a model registry
//!   (`'registry'` = its directory, as `spate model train --out` made it); a version promoted
//!   while the job runs is swapped in between two batches, and one that fails to load is
//!   refused while the running version stays.
//! - `'provider' = 'rest'` posts each batch, by column, to a model server (`'endpoint'`, as
//!   `spate model serve` answers at `/v1/predict`), waiting at most `'timeout'` (default
//!   `5 s`); a batch that fails or times out fails the job, which restarts from its last
//!   checkpoint. The call leaves the job's async workers free while it waits.
//!
//! The model's `OUTPUT` columns are chosen by name: `score` (DOUBLE, the probability that the
//! row is anomalous), `anomalous` (BOOLEAN, the score at or above the model's threshold),
//! `threshold` (DOUBLE, the model's decision threshold, which training chose for the health
//! score of `spate_ml::health`: a query that averages the scores the same way compares the
//! average with it), `top_signals` (STRING, the three inputs that pushed the score most,
//! strongest first) and `model_version` (STRING, `v3`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use spate_ml::LiveModel;
use spate_sql::{ModelDef, Predictor, SqlError};

/// The inputs named in `top_signals`.
const TOP_SIGNALS: usize = 3;

/// One output column of a model.
#[derive(Debug, Clone, Copy)]
enum Output {
    Score,
    Anomalous,
    Threshold,
    TopSignals,
    ModelVersion,
}

impl Output {
    const NAMES: &str = "score DOUBLE, anomalous BOOLEAN, threshold DOUBLE, top_signals STRING, \
                         model_version STRING";

    fn named(name: &str) -> Option<(Output, DataType)> {
        Some(match name {
            "score" => (Output::Score, DataType::Float64),
            "anomalous" => (Output::Anomalous, DataType::Boolean),
            "threshold" => (Output::Threshold, DataType::Float64),
            "top_signals" => (Output::TopSignals, DataType::Utf8),
            "model_version" => (Output::ModelVersion, DataType::Utf8),
            _ => return None,
        })
    }
}

/// The predictor of a `CREATE MODEL`.
pub fn predictor(model: &ModelDef) -> Result<Arc<dyn Predictor>, SqlError> {
    let invalid = |message: String, hint: &str| SqlError::Invalid {
        at: model.at,
        message: format!("model {}: {message}", model.name),
        text: model.name.clone(),
        hint: hint.into(),
    };
    let outputs = model
        .outputs
        .iter()
        .map(|column| match Output::named(&column.name) {
            Some((output, data_type)) if data_type == column.data_type => Ok(output),
            _ => Err(SqlError::Invalid {
                at: column.at,
                message: format!(
                    "model {}: the spate provider has no output {} {}",
                    model.name, column.name, column.data_type
                ),
                text: column.name.clone(),
                hint: format!("its outputs are {}", Output::NAMES),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let features: Vec<String> = model.inputs.iter().map(|c| c.name.clone()).collect();
    match model.option("provider") {
        Some("spate") => {
            let registry = model.option("registry").ok_or_else(|| {
                invalid(
                    "no 'registry' option".into(),
                    "name the registry directory: 'registry' = 'spate-data/models/…'",
                )
            })?;
            let live = LiveModel::open(registry, &features).map_err(|e| {
                invalid(
                    e.to_string(),
                    "train a model first: spate model train --from … --labels … --out <registry>",
                )
            })?;
            Ok(Arc::new(LivePredictor { live, outputs }))
        }
        Some("rest") => {
            let endpoint = model.option("endpoint").ok_or_else(|| {
                invalid(
                    "no 'endpoint' option".into(),
                    "name the server: 'endpoint' = 'http://127.0.0.1:8501/v1/predict'",
                )
            })?;
            let timeout = model.option("timeout").unwrap_or("5 s");
            let timeout = spate_sql::parse_duration(timeout).ok_or_else(|| {
                invalid(
                    format!("'timeout' = '{timeout}' is not a duration"),
                    "write e.g. '5 s' or '500 ms'",
                )
            })?;
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build()
                .into();
            Ok(Arc::new(RestPredictor {
                agent,
                endpoint: endpoint.to_string(),
                features,
                outputs,
            }))
        }
        other => Err(SqlError::Unsupported {
            at: model.at,
            construct: format!("the model provider {other:?}"),
            text: model.name.clone(),
            hint: "'provider' = 'spate' scores in process with a model registry; 'rest' calls \
                   a model server"
                .into(),
        }),
    }
}

/// The inputs as float columns, NaN where null.
fn float_columns(inputs: &[ArrayRef]) -> Result<Vec<Vec<f64>>, String> {
    inputs
        .iter()
        .map(|array| {
            let array = cast(array, &DataType::Float64).map_err(|e| e.to_string())?;
            let array = array.as_primitive::<Float64Type>();
            Ok((0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        f64::NAN
                    } else {
                        array.value(i)
                    }
                })
                .collect())
        })
        .collect()
}

/// One output column from each row's score, verdict, top signals, the threshold and the
/// version.
fn output_column(
    output: Output,
    scores: &[f64],
    threshold: f64,
    anomalous: &dyn Fn(usize) -> bool,
    top_signals: &dyn Fn(usize) -> String,
    version: &str,
) -> ArrayRef {
    let rows = scores.len();
    match output {
        Output::Score => Arc::new(Float64Array::from(scores.to_vec())),
        Output::Anomalous => Arc::new(BooleanArray::from_iter(
            (0..rows).map(|i| Some(anomalous(i))),
        )),
        Output::Threshold => Arc::new(Float64Array::from(vec![threshold; rows])),
        Output::TopSignals => Arc::new(StringArray::from_iter_values((0..rows).map(top_signals))),
        Output::ModelVersion => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            version, rows,
        ))),
    }
}

/// Scores with a registry's live model.
#[derive(Debug)]
struct LivePredictor {
    live: LiveModel,
    outputs: Vec<Output>,
}

impl Predictor for LivePredictor {
    fn predict(&self, inputs: &[ArrayRef]) -> Result<Vec<ArrayRef>, String> {
        let model = self.live.current();
        let columns = float_columns(inputs)?;
        let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let classifier = &model.model;
        let scores = classifier
            .predict_proba(&columns)
            .map_err(|e| e.to_string())?;
        let top = if self.outputs.iter().any(|o| matches!(o, Output::TopSignals)) {
            classifier
                .top_contributions_batch(&columns, TOP_SIGNALS)
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let version = format!("v{}", model.meta.version);
        let threshold = classifier.threshold();
        Ok(self
            .outputs
            .iter()
            .map(|output| {
                output_column(
                    *output,
                    &scores,
                    threshold,
                    &|i| scores[i] >= threshold,
                    &|i| {
                        top[i]
                            .iter()
                            .map(|(name, _)| name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    &version,
                )
            })
            .collect())
    }
}

/// Scores through a model server.
#[derive(Debug)]
struct RestPredictor {
    agent: ureq::Agent,
    endpoint: String,
    features: Vec<String>,
    outputs: Vec<Output>,
}

/// A model server's answer.
#[derive(Debug, serde::Deserialize)]
struct RestAnswer {
    model_version: String,
    threshold: f64,
    predictions: Vec<RestPrediction>,
}

/// One row of a model server's answer.
#[derive(Debug, serde::Deserialize)]
struct RestPrediction {
    score: f64,
    anomalous: bool,
    #[serde(default)]
    top_signals: Vec<String>,
}

impl RestPredictor {
    fn call(&self, columns: &[Vec<f64>]) -> Result<RestAnswer, String> {
        let body: serde_json::Map<String, serde_json::Value> = self
            .features
            .iter()
            .zip(columns)
            .map(|(name, values)| {
                let values = values
                    .iter()
                    .map(|v| {
                        serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
                    })
                    .collect();
                (name.clone(), serde_json::Value::Array(values))
            })
            .collect();
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .send(serde_json::json!({ "columns": body }).to_string())
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        if !status.is_success() {
            return Err(format!("{} answered {status}: {text}", self.endpoint));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: unexpected answer: {e}", self.endpoint))
    }
}

impl Predictor for RestPredictor {
    fn predict(&self, inputs: &[ArrayRef]) -> Result<Vec<ArrayRef>, String> {
        let columns = float_columns(inputs)?;
        let rows = inputs.first().map_or(0, |a| a.len());
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.call(&columns))
            }
            _ => self.call(&columns),
        }?;
        if answer.predictions.len() != rows {
            return Err(format!(
                "{} answered {} predictions for {rows} rows",
                self.endpoint,
                answer.predictions.len()
            ));
        }
        let scores: Vec<f64> = answer.predictions.iter().map(|p| p.score).collect();
        Ok(self
            .outputs
            .iter()
            .map(|output| {
                output_column(
                    *output,
                    &scores,
                    answer.threshold,
                    &|i| answer.predictions[i].anomalous,
                    &|i| answer.predictions[i].top_signals.join(", "),
                    &answer.model_version,
                )
            })
            .collect())
    }
}
