//! [`MlError`], the one error type of the crate, and its [`Result`] alias.

use std::path::PathBuf;

/// Result with [`MlError`].
pub type Result<T> = std::result::Result<T, MlError>;

/// Everything that can go wrong in `spate-ml`.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// Two things that must have the same length do not.
    #[error("{what} has {actual} entries, expected {expected}")]
    LengthMismatch {
        /// What was measured, e.g. "column `speed`" or "labels".
        what: String,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        actual: usize,
    },
    /// A feature name appears twice.
    #[error("feature `{0}` appears more than once")]
    DuplicateFeature(String),
    /// Training data lacks one of the two classes.
    #[error("training data has no {0} rows; both classes are needed")]
    MissingClass(&'static str),
    /// A registry has no promoted model.
    #[error("{}: no live model (promote a version first)", registry.display())]
    NoLiveModel {
        /// The registry's directory.
        registry: PathBuf,
    },
    /// A dataset has no rows where rows are needed.
    #[error("{0} has no rows")]
    EmptyDataset(&'static str),
    /// An option or argument is out of its range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The option or argument.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A row index past the end of the data.
    #[error("row {row} is out of range for {rows} rows")]
    RowOutOfRange {
        /// The index asked for.
        row: usize,
        /// The number of rows.
        rows: usize,
    },
    /// A record batch lacks a column the model needs.
    #[error("record batch has no column `{0}`")]
    MissingColumn(String),
    /// A record batch column the model needs is not numeric.
    #[error("column `{column}` has type {data_type}, which is not numeric")]
    NonNumericColumn {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Feature names differ from the ones expected.
    #[error("feature schema of {origin} differs: expected {expected:?}, found {actual:?}")]
    SchemaMismatch {
        /// Where the differing names come from (a file and field, or a dataset).
        origin: String,
        /// The names expected, in order.
        expected: Vec<String>,
        /// The names found, in order.
        actual: Vec<String>,
    },
    /// A serialized model is malformed or inconsistent.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file could not be parsed.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file's sha256 differs from the one recorded for it: the file is corrupt.
    #[error("{path} is corrupt: sha256 is {actual}, meta.json records {expected}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The recorded sha256 (hex).
        expected: String,
        /// The sha256 of the file as it is (hex).
        actual: String,
    },
    /// The registry has no such model version.
    #[error("registry {registry} has no model version {version}")]
    UnknownVersion {
        /// The registry directory.
        registry: PathBuf,
        /// The version asked for.
        version: u32,
    },
    /// A value could not be serialized to JSON.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The underlying error.
        source: serde_json::Error,
    },
}
