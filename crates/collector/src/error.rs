//! The error type of the collector.

use std::io;
use std::path::{Path, PathBuf};

/// Result type of this crate.
pub type Result<T, E = CollectorError> = std::result::Result<T, E>;

/// Everything that can stop the collector or one of its tools. A malformed log line is not
/// an error: it becomes a dead letter (see [`crate::DeadLetter`]).
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The configuration file or an option is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A GeoIP database could not be opened or read.
    #[error("GeoIP database {}: {message}", path.display())]
    GeoIp {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The checkpoint file exists but cannot be understood.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// The embedded log refused a write.
    #[error("embedded log: {0}")]
    Log(#[from] spate_log::LogError),
    /// Kafka refused a write or could not be reached.
    #[error("kafka topic {topic}: {message}")]
    Kafka {
        /// The topic written.
        topic: String,
        /// What went wrong.
        message: String,
    },
    /// Downloading or unpacking a GeoIP database failed.
    #[error("fetching {what}: {message}")]
    Fetch {
        /// What was being fetched.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A part of the collector stopped unexpectedly.
    #[error("collector stopped: {0}")]
    Stopped(String),
}

impl CollectorError {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        CollectorError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
