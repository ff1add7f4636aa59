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
    /// Event-time progress that the source knows itself, such as a scale-out job's
    /// repartition topic, which carries its writers' watermarks; only for stages without a
    /// [`WatermarkStrategy`](crate::time::WatermarkStrategy) of their own.
    Watermark(crate::message::EventTime),
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

    /// The columns, and `column.field`s of ROW columns, that this source makes when it leaves
    /// the others NULL because its query does not read them (projection push-down); `None`
    /// when it makes every column. Plans show it.
    fn made_columns(&self) -> Option<Vec<String>> {
        None
    }

    /// Reads what is available.
    fn poll(&mut self) -> Result<SourcePoll>;

    /// The current read position, to be stored in checkpoint `checkpoint`. Checkpoints are
    /// numbered upwards; the notification that one is durable may come after the snapshot of
    /// the next ([`PendingCheckpoints`] keeps what each one covers).
    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>>;

    /// Resumes from a stored position; `None` starts from the configured start position.
    fn restore(&mut self, state: Option<&[u8]>) -> Result<()>;

    /// Called once the checkpoint holding the given position is durable, e.g. to commit
    /// consumer-group offsets.
    fn checkpoint_complete(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }
}

/// What a source has to act on once a checkpoint is durable (offsets to commit to a consumer
/// group, messages to acknowledge), kept per checkpoint from its snapshot until
/// [`Source::checkpoint_complete`]. A notification covers its checkpoint and every earlier
/// one, but never a later one whose snapshot was already taken.
#[derive(Debug)]
pub struct PendingCheckpoints<T> {
    pending: std::collections::BTreeMap<u64, T>,
}

impl<T> Default for PendingCheckpoints<T> {
    fn default() -> Self {
        PendingCheckpoints {
            pending: std::collections::BTreeMap::new(),
        }
    }
}

impl<T> PendingCheckpoints<T> {
    /// Keeps `value` for checkpoint `checkpoint`, whose snapshot is being taken.
    pub fn insert(&mut self, checkpoint: u64, value: T) {
        self.pending.insert(checkpoint, value);
    }

    /// What checkpoint `checkpoint` and the earlier ones kept, oldest first, now that
    /// `checkpoint` is durable; later checkpoints stay pending.
    pub fn complete(&mut self, checkpoint: u64) -> Vec<T> {
        let later = match checkpoint.checked_add(1) {
            Some(next) => self.pending.split_off(&next),
            None => std::collections::BTreeMap::new(),
        };
        std::mem::replace(&mut self.pending, later)
            .into_values()
            .collect()
    }

    /// Forgets every pending checkpoint (a restore starts over).
    pub fn clear(&mut self) {
        self.pending.clear();
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

    fn made_columns(&self) -> Option<Vec<String>> {
        self.inner.made_columns()
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

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>> {
        self.inner.snapshot(checkpoint)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        self.inner.restore(state)
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        self.inner.checkpoint_complete(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::PendingCheckpoints;

    #[test]
    fn a_completed_checkpoint_takes_itself_and_older_ones_but_not_later_ones() {
        let mut pending = PendingCheckpoints::default();
        pending.insert(1, "a");
        pending.insert(2, "b");
        pending.insert(3, "c");
        assert_eq!(pending.complete(2), vec!["a", "b"]);
        assert_eq!(pending.complete(2), Vec::<&str>::new());
        pending.insert(u64::MAX, "final");
        assert_eq!(pending.complete(u64::MAX), vec!["c", "final"]);
        pending.insert(4, "d");
        pending.clear();
        assert_eq!(pending.complete(4), Vec::<&str>::new());
    }
}
