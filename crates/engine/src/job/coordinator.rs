//! The checkpoint coordinator: triggers checkpoints, collects task states, writes
//! checkpoints with their manifest last, and tells the tasks.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::protocol::{Ack, Completed};
use crate::checkpoint::CheckpointStore;
use crate::error::{EngineError, Result};

pub(super) struct Coordinator {
    pub(super) job: String,
    pub(super) fingerprint: String,
    pub(super) names: Vec<String>,
    pub(super) sources: usize,
    pub(super) store: Option<(CheckpointStore, Duration)>,
    pub(super) triggers: Vec<mpsc::UnboundedSender<u64>>,
    pub(super) completed: watch::Sender<Completed>,
    pub(super) next_id: u64,
    pub(super) completed_count: u64,
}

/// A checkpoint in progress: its id, the states acknowledged so far, when it was triggered.
type PendingCheckpoint = (u64, Vec<Option<Vec<u8>>>, Instant);

impl Coordinator {
    /// Triggers periodic checkpoints, collects task states, writes checkpoints and tells the
    /// tasks; ends after the final checkpoint. Returns the number of checkpoints completed.
    pub(super) async fn run(mut self, mut acks: mpsc::UnboundedReceiver<Ack>) -> Result<u64> {
        let n = self.names.len();
        let mut pending: Option<PendingCheckpoint> = None;
        let mut finished: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut any_finished = false;
        let interval = self.store.as_ref().map(|(_, i)| *i);
        let mut timer = interval.map(|i| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + i, i);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            tokio::select! {
                _ = async { timer.as_mut().expect("guarded").tick().await }, if timer.is_some() && pending.is_none() && !any_finished => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let all_sent = self.triggers.iter().all(|t| t.send(id).is_ok());
                    if all_sent {
                        pending = Some((id, vec![None; n], Instant::now()));
                    }
                }
                ack = acks.recv() => {
                    let Some(ack) = ack else {
                        return Err(EngineError::Task { task: "checkpoint coordinator".into(), message: "all tasks stopped before the final checkpoint".into() });
                    };
                    match ack {
                        Ack::State { checkpoint, task, state } => {
                            if let Some((id, states, started)) = pending.as_mut()
                                && *id == checkpoint
                            {
                                states[task] = Some(state);
                                if states.iter().all(Option::is_some) {
                                    let states: Vec<_> = states.iter_mut().map(|s| s.take().unwrap_or_default()).collect();
                                    let (id, started) = (*id, *started);
                                    pending = None;
                                    self.complete(id, false, states).await?;
                                    tracing::debug!(checkpoint = id, ms = started.elapsed().as_millis() as u64, "checkpoint complete");
                                }
                            }
                        }
                        Ack::Finished { task, state } => {
                            any_finished = true;
                            if task < self.sources {
                                // A finished source cannot take part in a periodic checkpoint.
                                if let Some((id, states, _)) = &pending
                                    && states[task].is_none()
                                {
                                    tracing::debug!(checkpoint = id, "checkpoint aborted: a source finished");
                                    pending = None;
                                }
                            }
                            finished[task] = Some(state);
                            if finished.iter().all(Option::is_some) {
                                let states: Vec<_> = finished.iter_mut().map(|s| s.take().unwrap_or_default()).collect();
                                let id = self.next_id.max(pending.as_ref().map_or(0, |p| p.0 + 1));
                                self.complete(id, true, states).await?;
                                return Ok(self.completed_count);
                            }
                        }
                    }
                }
            }
        }
    }

    async fn complete(&mut self, id: u64, is_final: bool, states: Vec<Vec<u8>>) -> Result<()> {
        if let Some((store, _)) = &self.store {
            let named = self.names.iter().cloned().zip(states).collect();
            store
                .write(&self.job, &self.fingerprint, id, is_final, named)
                .await?;
        }
        self.completed_count += 1;
        self.next_id = id + 1;
        let _ = self.completed.send(Completed {
            checkpoint: id,
            is_final,
        });
        Ok(())
    }
}
