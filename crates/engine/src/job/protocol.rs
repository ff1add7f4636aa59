//! What tasks and the checkpoint coordinator tell each other.

use tokio::sync::{mpsc, watch};

use crate::error::{EngineError, Result};
use crate::operator::TaskInfo;

/// Messages from tasks to the checkpoint coordinator.
pub(super) enum Ack {
    /// A task's state for a checkpoint.
    State {
        checkpoint: u64,
        task: usize,
        state: Vec<u8>,
    },
    /// A task finished its input; its final state (a sink's pending output).
    Finished { task: usize, state: Vec<u8> },
    /// A task committed the stopping checkpoint (see [`Completed::stop`]) and waits to be
    /// dropped.
    Stopped,
}

/// What the coordinator asks a source task for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Trigger {
    /// The checkpoint to take.
    pub(super) checkpoint: u64,
    /// Whether the job stops at this checkpoint: the source reads nothing after it.
    pub(super) stop: bool,
}

/// The checkpoint id under which tasks snapshot their final state once their input is
/// exhausted, and with which `checkpoint_complete` (so [`crate::sink::Sink::commit`]) is
/// called once that final checkpoint is durable. The final checkpoint's id in storage is
/// assigned later by the coordinator, so tasks cannot know it when they snapshot; using one
/// fixed id for both phases keeps prepare and commit consistent.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

pub(crate) const DOWNSTREAM_STOPPED: &str = "downstream task stopped";
pub(super) const COORDINATOR_STOPPED: &str = "the checkpoint coordinator stopped";
pub(super) const STOPPED_BEFORE_FINAL: &str = "the job stopped before its final checkpoint";

/// What the coordinator tells all tasks: the last completed checkpoint, whether it is the
/// final one, and whether the job stops at it (each task then commits it, acknowledges with
/// [`Ack::Stopped`] and does nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Completed {
    pub(super) checkpoint: u64,
    pub(super) is_final: bool,
    pub(super) stop: bool,
}

pub(super) struct TaskContext {
    pub(super) info: TaskInfo,
    pub(super) index: usize,
    pub(super) acks: mpsc::UnboundedSender<Ack>,
    pub(super) completed: watch::Receiver<Completed>,
    pub(super) restored: Option<Vec<u8>>,
}

impl TaskContext {
    pub(super) fn ack(&self, ack: Ack) -> Result<()> {
        self.acks.send(ack).map_err(|_| EngineError::Task {
            task: self.info.name.clone(),
            message: COORDINATOR_STOPPED.into(),
        })
    }

    /// After finishing: waits for the final checkpoint, then lets the chain commit what it
    /// prepared under [`FINAL_CHECKPOINT`].
    pub(super) async fn await_final(
        &mut self,
        commit: impl FnOnce(u64) -> Result<()>,
    ) -> Result<()> {
        self.completed
            .wait_for(|c| c.is_final)
            .await
            .map_err(|_| EngineError::Task {
                task: self.info.name.clone(),
                message: STOPPED_BEFORE_FINAL.into(),
            })?;
        commit(FINAL_CHECKPOINT)
    }

    /// The job stops at `checkpoint`: waits until it is durable, lets the chain (and source)
    /// commit it, tells the coordinator, and then does nothing until the job drops the task.
    pub(super) async fn stop_at(
        &mut self,
        checkpoint: u64,
        commit: impl FnOnce(u64) -> Result<()>,
    ) -> Result<()> {
        let reached = self
            .completed
            .wait_for(|c| c.stop && c.checkpoint >= checkpoint)
            .await
            .is_ok();
        if !reached {
            return Err(EngineError::Task {
                task: self.info.name.clone(),
                message: COORDINATOR_STOPPED.into(),
            });
        }
        commit(checkpoint)?;
        self.ack(Ack::Stopped)?;
        std::future::pending().await
    }
}
