//! The fleet model's lifecycle, as the HTTP API sees it: what a process that keeps a model
//! registry offers ([`ModelService`], implemented by the `spate` binary), and the JSON shape of
//! `/api/model` ([`ModelView`]).

use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The registry, its live model, the drift watch and the retraining history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelView {
    /// The version the streaming job scores with.
    pub live: Option<u32>,
    /// Every registered version, newest first.
    pub versions: Vec<VersionView>,
    /// The registry's decisions (promote, reject, keep), newest first.
    pub decisions: Vec<DecisionView>,
    /// The last drift check, if one ran.
    pub last_check: Option<CheckView>,
    /// The retraining in progress, if any.
    pub retraining: Option<RetrainingView>,
    /// How often drift is checked, in seconds.
    pub check_every_secs: u64,
}

/// A registered model version and how it scored on held-out vehicles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    /// Its number.
    pub version: u32,
    /// When it was trained (milliseconds since the epoch).
    pub created_at_ms: i64,
    /// F1 on its held-out windows.
    pub f1: f64,
    /// Precision on its held-out windows.
    pub precision: f64,
    /// Recall on its held-out windows.
    pub recall: f64,
    /// Its decision threshold.
    pub threshold: f64,
    /// Windows it was trained on.
    pub windows: u64,
}

/// One decision of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// `promote`, `reject` or `keep`.
    pub action: String,
    /// The version it is about.
    pub version: u32,
    /// Why.
    pub reason: String,
}

/// A drift check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    /// When it ended (milliseconds since the epoch).
    pub at_ms: i64,
    /// What it decided: `keep`, `promote`, `reject` or `error`.
    pub action: String,
    /// Why, in words.
    pub reason: String,
    /// Whether the telemetry had drifted from the live model's training data.
    pub drifted: Option<bool>,
    /// The largest population stability index over the features.
    pub max_psi: Option<f64>,
}

/// A retraining in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrainingView {
    /// When it started (milliseconds since the epoch).
    pub started_at_ms: i64,
    /// What it is doing now.
    pub step: String,
    /// Whether it was asked for (Retrain now) rather than started by drift.
    pub forced: bool,
}

/// Why a model request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelServiceError {
    /// No such version.
    #[error("no model version {0}")]
    NotFound(u32),
    /// Not now (say, a retraining runs already).
    #[error("{0}")]
    Conflict(String),
    /// Something failed on the server's side.
    #[error("{0}")]
    Internal(String),
}

/// What a process that keeps the fleet's model registry offers the dashboard.
#[async_trait]
pub trait ModelService: Debug + Send + Sync + 'static {
    /// The registry and the watch, now.
    fn status(&self) -> Result<ModelView, ModelServiceError>;

    /// Starts retraining on the archive now, drift or not; the challenger goes live only if
    /// it beats the live model on held-out vehicles. Answers at once; [`ModelView`] shows
    /// the progress.
    async fn retrain(&self) -> Result<ModelView, ModelServiceError>;

    /// Makes `version` the live one (the streaming job picks it up within a second).
    async fn promote(&self, version: u32) -> Result<ModelView, ModelServiceError>;
}
