//! The engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong while planning, running or recovering a job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An Arrow kernel failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A DataFusion expression or aggregate failed.
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Reading or writing checkpoint storage failed.
    #[error("checkpoint storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The job was described inconsistently (bad schema, bad window, …).
    #[error("invalid job: {0}")]
    Plan(String),
    /// A checkpoint directory holds state of a different job.
    #[error(
        "checkpoint directory {dir} belongs to a different job (its fingerprint is {found}, this job's is {expected}); \
         use a fresh --checkpoint-dir or delete the old one"
    )]
    IncompatibleCheckpoint {
        /// The checkpoint directory.
        dir: String,
        /// This job's fingerprint.
        expected: String,
        /// The fingerprint found in the directory.
        found: String,
    },
    /// Stored operator state could not be decoded.
    #[error("corrupt checkpoint state for {task}: {reason}")]
    CorruptState {
        /// The task whose state failed to decode.
        task: String,
        /// Why it failed.
        reason: String,
    },
    /// A source connector failed.
    #[error("source {name}: {message}")]
    Source {
        /// The source's name.
        name: String,
        /// What happened.
        message: String,
    },
    /// A sink connector failed.
    #[error("sink {name}: {message}")]
    Sink {
        /// The sink's name.
        name: String,
        /// What happened.
        message: String,
    },
    /// A task of the job stopped unexpectedly.
    #[error("task {task} failed: {message}")]
    Task {
        /// The task that failed.
        task: String,
        /// What happened.
        message: String,
    },
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// A [`EngineError::Plan`] from anything printable.
    pub fn plan(message: impl Into<String>) -> Self {
        EngineError::Plan(message.into())
    }
}
