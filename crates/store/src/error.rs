//! The store's errors.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of the store does not hold what it should.
    #[error("{path}: corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process has the store open for writing.
    #[error("the store {dir} is open for writing in another process")]
    Locked {
        /// The store's directory.
        dir: PathBuf,
    },
    /// A write to a store opened read-only.
    #[error("the store is open read-only: cannot {action}")]
    ReadOnly {
        /// What was attempted.
        action: String,
    },
    /// No table has the name.
    #[error("no table {name} in the store (tables: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NoSuchTable {
        /// The name asked for.
        name: String,
        /// The tables there are.
        known: Vec<String>,
    },
    /// A table definition that cannot be used.
    #[error("table {table}: {message}")]
    InvalidTable {
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// Rows that do not fit the table.
    #[error("table {table}: {message}")]
    BadRows {
        /// The table.
        table: String,
        /// What is wrong with them.
        message: String,
    },
    /// A query that cannot be planned or run.
    #[error("query failed: {0}")]
    Query(String),
    /// A query ran longer than its time limit and was cancelled.
    #[error("query cancelled after its time limit of {limit:?}")]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// A query needed more memory than its limit.
    #[error("query exceeded its memory limit of {limit_bytes} bytes: {message}")]
    MemoryLimit {
        /// The limit.
        limit_bytes: usize,
        /// DataFusion's account of it.
        message: String,
    },
    /// Arrow could not encode or decode rows.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet could not encode or decode a file.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An I/O error at `path`.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}
