//! The source interface: connectors read partitions (splits) of an external input and hand
//! over Arrow batches, with offsets the checkpoint can restore.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::Result;
use crate::operator::TaskInfo;

/// What a poll of a source returned.
#[derive(Debug)]
pub enum SourcePoll {
    /// Rows read from one of the source's partitions (indexed among this instance's partitions).
    Batch {
        /// Index of the partition within this instance's [`Source::partitions`].
        partition: usize,
        /// The rows.
        batch: RecordBatch,
    },
    /// Nothing available right now.
    Idle,
    /// A partition is exhausted (bounded sources only).
    PartitionFinished(usize),
    /// Every partition is exhausted (bounded sources only).
    Finished,
}

/// A parallel instance of a source connector. Polls never block for long: the task waits
/// between polls that return [`SourcePoll::Idle`].
pub trait Source: Send {
    /// The schema of the batches produced.
    fn schema(&self) -> SchemaRef;

    /// Names of the partitions this instance reads, e.g. `events/0`.
    fn partitions(&self) -> Vec<String>;

    /// Reads what is available.
    fn poll(&mut self) -> Result<SourcePoll>;

    /// The current read position, to be stored in a checkpoint.
    fn snapshot(&mut self) -> Result<Vec<u8>>;

    /// Resumes from a stored position; `None` starts from the configured start position.
    fn restore(&mut self, state: Option<&[u8]>) -> Result<()>;

    /// Called once the checkpoint holding the given position is durable, e.g. to commit
    /// consumer-group offsets.
    fn checkpoint_complete(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }
}

/// Builds one source instance per task of the source stage.
pub type SourceFactory = std::sync::Arc<dyn Fn(&TaskInfo) -> Result<Box<dyn Source>> + Send + Sync>;
