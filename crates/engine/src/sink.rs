//! The sink interface, with the two-phase commit that checkpoints drive, and the operator
//! that puts a sink at the end of a chain.

use std::time::Duration;

use arrow::array::RecordBatch;

use crate::error::Result;
use crate::message::EventTime;
use crate::metrics::TaskMetrics;
use crate::operator::{Operator, Output, TaskInfo};

/// A parallel instance of a sink connector.
///
/// Exactly-once works in two phases: on a checkpoint barrier the sink flushes and returns what
/// it has pending (`prepare_commit`), which is stored in the checkpoint; once the checkpoint is
/// durable the sink makes that output visible (`commit`). After a failure, `restore` receives
/// the pending state of the last complete checkpoint and must commit it (idempotently) and
/// discard anything written after it. Idempotent sinks (upserts) may do nothing in `commit`.
///
/// When bounded input is exhausted, the final state is prepared with
/// `prepare_commit(`[`FINAL_CHECKPOINT`](crate::job::FINAL_CHECKPOINT)`)` (`u64::MAX`) and,
/// once the final checkpoint is durable, made visible with `commit(FINAL_CHECKPOINT)`.
///
/// `commit(c)` may arrive after `prepare_commit` of a later checkpoint already ran, and
/// notifications may be coalesced (`commit(c)` without an earlier `commit(c - 1)`): commit
/// exactly what was prepared for checkpoints up to `c`, and nothing prepared later.
pub trait Sink: Send {
    /// The sink's name as shown in plans.
    fn name(&self) -> String;

    /// Writes rows (buffered as the sink sees fit).
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Flushes and returns the state to commit once checkpoint `checkpoint` is durable.
    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>>;

    /// Makes everything prepared up to `checkpoint` visible.
    fn commit(&mut self, checkpoint: u64) -> Result<()>;

    /// Recovers: commits the pending state of the last complete checkpoint (`None` on a fresh
    /// start) and discards output written after it.
    fn restore(&mut self, pending: Option<&[u8]>) -> Result<()>;

    /// Event-time progress: no row at or before `watermark` follows (sinks that commit by
    /// event time, such as partitioned files, use it).
    fn watermark(&mut self, _watermark: EventTime) -> Result<()> {
        Ok(())
    }

    /// Its input has gone idle: no rows and no event-time progress until it turns active
    /// again (then rows or a watermark arrive). Sinks that hand event time on to other jobs,
    /// such as repartition topics, pass the status on.
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }

    /// How often [`Sink::on_tick`] should run, if at all (e.g. a sink flushing its buffer
    /// every `sink.buffer-flush.interval` while no rows arrive).
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Runs on the processing-time timer.
    fn on_tick(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs a [`Sink`] as the last operator of a chain.
pub struct SinkOperator {
    sink: Box<dyn Sink>,
    task: TaskInfo,
}

impl SinkOperator {
    /// Wraps `sink`, counting rows into `task`'s metrics.
    pub fn new(sink: Box<dyn Sink>, task: TaskInfo) -> Self {
        SinkOperator { sink, task }
    }
}

impl Operator for SinkOperator {
    fn name(&self) -> String {
        format!("Sink[{}]", self.sink.name())
    }

    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Output) -> Result<()> {
        TaskMetrics::add(&self.task.metrics.rows_out, batch.num_rows() as u64);
        self.sink.write(&batch)
    }

    fn process_watermark(&mut self, wm: EventTime, _out: &mut Output) -> Result<()> {
        self.sink.watermark(wm)
    }

    fn input_idle(&mut self) -> Result<()> {
        self.sink.idle()
    }

    fn tick_interval(&self) -> Option<Duration> {
        self.sink.tick_interval()
    }

    fn on_tick(&mut self, _out: &mut Output) -> Result<()> {
        self.sink.on_tick()
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>> {
        self.sink.prepare_commit(checkpoint)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        self.sink.restore(state)
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        self.sink.commit(checkpoint)
    }
}

/// Builds one sink instance per task of the sink stage.
pub type SinkFactory = std::sync::Arc<dyn Fn(&TaskInfo) -> Result<Box<dyn Sink>> + Send + Sync>;
