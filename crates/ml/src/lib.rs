//! Anomaly models for fleet predictive maintenance: is a vehicle's 5-minute feature window
//! anomalous?
//!
//! Modules, in reading order:
//!
//! - [`error`] — [`MlError`], the one error type.
//! - [`dataset`] — [`Dataset`]: named feature columns (NaN = missing) and labels, with
//!   validation and a by-vehicle holdout split.
//! - [`model`] — [`Classifier`]: gradient-boosted trees with native missing values, scoring of
//!   plain columns and Arrow record batches, per-row explanations, feature importance and the
//!   decision threshold.
//! - [`arrow_input`] — turning numeric Arrow columns into `f64` feature columns.
//! - [`metrics`] — [`Evaluation`] (precision, recall, F1, accuracy, exact ROC AUC), the ROC
//!   curve and the F1-maximising threshold.
//! - [`health`] — a vehicle's health score: each window's score averaged over its recent
//!   windows, the score the decision threshold is chosen for.
//! - [`plot`] — the ROC curve and feature importance as SVG.
//! - [`drift`] — [`DriftReference`] from training data and PSI / KS drift reports.
//! - [`registry`] — versioned models on disk, checksummed, with a promoted live version and
//!   an append-only decision log.
//! - [`live`] — [`LiveModel`]: a registry's live model, swapped for a newly promoted version
//!   while jobs and servers use it.
//! - `random` (private) — the seeded hashing and pseudo-random numbers behind splits and
//!   subsampling.

#![warn(missing_docs)]

pub mod arrow_input;
pub mod dataset;
pub mod drift;
pub mod error;
pub mod health;
pub mod live;
pub mod metrics;
pub mod model;
pub mod plot;
mod random;
pub mod registry;

pub use dataset::Dataset;
pub use drift::{DriftReference, DriftReport, DriftStatus, FeatureDrift};
pub use error::{MlError, Result};
pub use health::health_scores;
pub use live::LiveModel;
pub use metrics::{Confusion, Evaluation, best_f1_threshold, evaluate, roc_auc, roc_curve};
pub use model::{Classifier, TrainOptions};
pub use registry::{
    DataRange, Decision, LoadedModel, ModelMeta, ModelVersion, Registry, TrainingInfo, load_dir,
};
