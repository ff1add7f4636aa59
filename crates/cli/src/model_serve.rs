//! `spate model serve`: the live anomaly model as a REST service, in the style of PAI-EAS.
//!
//! - `POST /v1/predict` scores a batch. The body names each feature's values, by column
//!   (`{"columns": {"coolant_mean": [88.0, 71.5], …}}`) or by row (`{"rows": [{"coolant_mean":
//!   88.0, …}, …]}`); `null` or a missing feature is a missing value. The answer carries the
//!   version that scored the batch and, per row, the score, the verdict and the top signals.
//! - `GET /healthz` answers 200 with the live version.
//! - `GET /v1/model` describes the live version: features, threshold, training data, metrics.
//!
//! A version promoted in the registry is swapped in within a second, between requests: no
//! request is dropped or answered by a half-loaded model.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};
use spate_ml::LiveModel;

/// The inputs named in each row's `top_signals`.
const TOP_SIGNALS: usize = 3;

/// Options of `spate model serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model registry whose live version is served.
    #[arg(long, value_name = "MODEL_DIR")]
    registry: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8501")]
    listen: SocketAddr,
}

/// A batch to score.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    /// Values by feature.
    #[serde(default)]
    columns: Option<BTreeMap<String, Vec<Option<f64>>>>,
    /// Values by row.
    #[serde(default)]
    rows: Option<Vec<BTreeMap<String, Option<f64>>>>,
}

/// A request the service refuses, with why.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({"error": self.0}))).into_response()
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let features = crate::fleet_features::model_features()?;
    let live = Arc::new(LiveModel::open(&args.registry, &features)?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!(
            "serving v{} of {} on http://{}/v1/predict",
            live.refresh(),
            args.registry.display(),
            listener.local_addr()?
        );
        axum::serve(listener, router(live))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}

/// The service's routes over `live`.
pub fn router(live: Arc<LiveModel>) -> Router {
    Router::new()
        .route("/v1/predict", post(predict))
        .route("/v1/model", get(describe))
        .route("/healthz", get(health))
        .with_state(live)
}

async fn health(State(live): State<Arc<LiveModel>>) -> Json<Value> {
    let version = live.current().meta.version;
    Json(json!({"status": "ok", "model_version": format!("v{version}")}))
}

async fn describe(State(live): State<Arc<LiveModel>>) -> Json<Value> {
    let model = live.current();
    Json(json!({
        "model_version": format!("v{}", model.meta.version),
        "features": model.meta.features,
        "threshold": model.model.threshold(),
        "training_data": model.meta.data,
        "holdout": model.meta.holdout,
        "created_at": model.meta.created_at,
    }))
}

async fn predict(
    State(live): State<Arc<LiveModel>>,
    Json(request): Json<PredictRequest>,
) -> Result<Json<Value>, BadRequest> {
    let model = live.current();
    let features = &model.meta.features;
    let columns = request_columns(request, features)?;
    let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let classifier = &model.model;
    let scores = classifier
        .predict_proba(&slices)
        .map_err(|e| BadRequest(e.to_string()))?;
    let top = classifier
        .top_contributions_batch(&slices, TOP_SIGNALS)
        .map_err(|e| BadRequest(e.to_string()))?;
    let predictions: Vec<Value> = scores
        .iter()
        .zip(top)
        .map(|(score, signals)| {
            json!({
                "score": score,
                "anomalous": *score >= classifier.threshold(),
                "top_signals": signals.into_iter().map(|(name, _)| name).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "model_version": format!("v{}", model.meta.version),
        "threshold": classifier.threshold(),
        "predictions": predictions,
    })))
}

/// The request's values as one column per model feature, NaN where missing.
fn request_columns(
    request: PredictRequest,
    features: &[String],
) -> Result<Vec<Vec<f64>>, BadRequest> {
    let value = |v: &Option<f64>| v.unwrap_or(f64::NAN);
    match (request.columns, request.rows) {
        (Some(columns), None) => {
            if let Some(unknown) = columns.keys().find(|k| !features.contains(k)) {
                return Err(BadRequest(format!(
                    "unknown feature {unknown:?}; the model takes {}",
                    features.join(", ")
                )));
            }
            let rows = columns.values().map(Vec::len).max().unwrap_or(0);
            features
                .iter()
                .map(|name| match columns.get(name) {
                    Some(values) if values.len() == rows => Ok(values.iter().map(value).collect()),
                    Some(values) => Err(BadRequest(format!(
                        "column {name} has {} values, others {rows}",
                        values.len()
                    ))),
                    None => Ok(vec![f64::NAN; rows]),
                })
                .collect()
        }
        (None, Some(rows)) => {
            if let Some((i, unknown)) = rows
                .iter()
                .enumerate()
                .find_map(|(i, row)| row.keys().find(|k| !features.contains(k)).map(|k| (i, k)))
            {
                return Err(BadRequest(format!(
                    "row {i}: unknown feature {unknown:?}; the model takes {}",
                    features.join(", ")
                )));
            }
            Ok(features
                .iter()
                .map(|name| {
                    rows.iter()
                        .map(|row| row.get(name).map_or(f64::NAN, value))
                        .collect()
                })
                .collect())
        }
        _ => Err(BadRequest(
            "send either \"columns\" (values by feature) or \"rows\" (values by row)".into(),
        )),
    }
}
