//! What flows between tasks: data, watermarks, checkpoint barriers and end-of-stream.

use arrow::record_batch::RecordBatch;

/// Event time in milliseconds since the Unix epoch.
pub type EventTime = i64;

/// A watermark as a task sees it on one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// No event with a time at or below this value will follow.
    EventTime(EventTime),
    /// The input has nothing to say for now (all its partitions are idle);
    /// it must not hold back the minimum taken across inputs.
    Idle,
}

/// One message on a channel between two tasks.
#[derive(Debug, Clone)]
pub enum Message {
    /// A batch of rows.
    Data(RecordBatch),
    /// Event-time progress.
    Watermark(Watermark),
    /// An aligned checkpoint barrier carrying the checkpoint id.
    Barrier(u64),
    /// The input is exhausted; nothing follows.
    End,
}
