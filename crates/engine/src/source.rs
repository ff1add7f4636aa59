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

/// A source whose batches go through a [`Projection`](crate::operator::Projection) before
/// anything else sees them, e.g. computed columns of a SQL table (`ts AS TO_TIMESTAMP_LTZ(…)`)
/// that the watermark strategy reads.
pub struct ProjectedSource {
    inner: Box<dyn Source>,
    projection: std::sync::Arc<crate::operator::Projection>,
    schema: SchemaRef,
}

impl ProjectedSource {
    /// Wraps `inner`; `schema` is the projection's output schema.
    pub fn new(
        inner: Box<dyn Source>,
        projection: std::sync::Arc<crate::operator::Projection>,
        schema: SchemaRef,
    ) -> Self {
        ProjectedSource {
            inner,
            projection,
            schema,
        }
    }
}

impl Source for ProjectedSource {
    fn schema(&self) -> SchemaRef {
        std::sync::Arc::clone(&self.schema)
    }

    fn partitions(&self) -> Vec<String> {
        self.inner.partitions()
    }

    fn poll(&mut self) -> Result<SourcePoll> {
        Ok(match self.inner.poll()? {
            SourcePoll::Batch { partition, batch } => SourcePoll::Batch {
                partition,
                batch: self.projection.apply(&batch)?,
            },
            other => other,
        })
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        self.inner.snapshot()
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        self.inner.restore(state)
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        self.inner.checkpoint_complete(checkpoint)
    }
}
