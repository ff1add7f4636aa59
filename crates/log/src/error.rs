//! The error type shared by every operation of the log.

use std::io;
use std::path::{Path, PathBuf};

/// Result type of this crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A record batch failed validation (checksum, framing, offsets). Corrupt data is never served.
    #[error("corrupt batch in {} at byte {position} (offset {offset}): {reason}", file.display())]
    Corrupt {
        /// The segment file holding the batch.
        file: PathBuf,
        /// Byte position of the batch in the file.
        position: u64,
        /// The offset the batch was expected to start at.
        offset: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// A metadata file (`topic.json`, a consumer group's offsets) could not be read back.
    #[error("invalid metadata file {}: {reason}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A fetch asked for an offset outside `[start, end]` of its partition.
    #[error("offset {requested} is out of range: the partition holds offsets {start}..{end}")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The log start offset (first offset still retained).
        start: u64,
        /// The end offset (high watermark: next offset to be written).
        end: u64,
    },
    /// No topic of that name exists.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// The topic exists but has no such partition.
    #[error("topic {topic:?} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// A topic of that name already exists.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// Another writer (in this or another process) holds the topic's lock file.
    #[error("topic {topic:?} is already open for writing by another writer (lock {})", lock_file.display())]
    Locked {
        /// The topic.
        topic: String,
        /// The lock file that could not be taken.
        lock_file: PathBuf,
    },
    /// A write operation was attempted on a log opened read-only.
    #[error("cannot {0}: the log is open read-only")]
    ReadOnly(&'static str),
    /// A topic configuration or option is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An argument is invalid: a bad name, an empty or oversized batch.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Attaches the path an I/O error is about.
pub(crate) trait IoContext<T> {
    /// Maps an `io::Error` to [`LogError::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
