//! The checkpoint coordinator: triggers checkpoints, collects task states, writes
//! checkpoints with their manifest last, and tells the tasks.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::control::JobControl;
use super::protocol::{Ack, Completed, Trigger};
use crate::checkpoint::CheckpointStore;
use crate::error::{EngineError, Result};

pub(super) struct Coordinator {
    pub(super) job: String,
    pub(super) fingerprint: String,
    pub(super) names: Vec<String>,
    pub(super) sources: usize,
    pub(super) store: Option<(CheckpointStore, Duration)>,
    pub(super) triggers: Vec<mpsc::UnboundedSender<Trigger>>,
    pub(super) completed: watch::Sender<Completed>,
    pub(super) next_id: u64,
    pub(super) completed_count: u64,
    pub(super) control: JobControl,
}

/// How the coordinator ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ended {
    /// Checkpoints completed, the last one included.
    pub(super) checkpoints: u64,
    /// Whether the job stopped at its last checkpoint ([`JobControl::stop`]) rather than
    /// finishing its input; its tasks then wait to be dropped.
    pub(super) stopped: bool,
}

/// A checkpoint in progress: its id, the states acknowledged so far, when it was triggered.
type PendingCheckpoint = (u64, Vec<Option<Vec<u8>>>, Instant);

/// Where stopping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopping {
    /// Not asked to stop.
    No,
    /// Asked to: the stopping checkpoint follows the one in progress.
    Asked,
    /// The stopping checkpoint is taken.
    Checkpointing(u64),
    /// It completed; this many tasks have committed it.
    Committing(usize),
}

impl Coordinator {
    /// Triggers periodic checkpoints, collects task states, writes checkpoints and tells the
    /// tasks; ends after the final checkpoint, or once every task committed the stopping
    /// checkpoint when the job was asked to stop.
    pub(super) async fn run(mut self, mut acks: mpsc::UnboundedReceiver<Ack>) -> Result<Ended> {
        let n = self.names.len();
        let mut pending: Option<PendingCheckpoint> = None;
        let mut finished: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut any_finished = false;
        let mut stopping = Stopping::No;
        let mut stop_signal = self.control.stop_signal();
        let interval = self.store.as_ref().map(|(_, i)| *i);
        let mut timer = interval.map(|i| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + i, i);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            // A stop asked for while no checkpoint runs is taken at once.
            if stopping == Stopping::Asked && pending.is_none() {
                pending = self.trigger(true);
                if let Some((id, _, _)) = &pending {
                    stopping = Stopping::Checkpointing(*id);
                }
            }
            tokio::select! {
                _ = async { timer.as_mut().expect("guarded").tick().await }, if timer.is_some() && pending.is_none() && !any_finished && stopping == Stopping::No => {
                    pending = self.trigger(false);
                }
                asked = async { stop_signal.wait_for(|stop| *stop).await.is_ok() }, if stopping == Stopping::No && !any_finished => {
                    if asked {
                        stopping = Stopping::Asked;
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
                                    let stop = stopping == Stopping::Checkpointing(id);
                                    self.complete(id, false, stop, states, started).await?;
                                    if stop {
                                        // Every task commits it, then acknowledges.
                                        stopping = Stopping::Committing(0);
                                    }
                                }
                            }
                        }
                        Ack::Stopped => {
                            if let Stopping::Committing(done) = &mut stopping {
                                *done += 1;
                                if *done == n {
                                    return Ok(Ended { checkpoints: self.completed_count, stopped: true });
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
                                    if stopping == Stopping::Checkpointing(*id) {
                                        return Err(EngineError::Task { task: "checkpoint coordinator".into(), message: "the input ended while the job was stopping: run it again to let it finish".into() });
                                    }
                                    tracing::debug!(checkpoint = id, "checkpoint aborted: a source finished");
                                    pending = None;
                                }
                            }
                            finished[task] = Some(state);
                            if finished.iter().all(Option::is_some) {
                                let states: Vec<_> = finished.iter_mut().map(|s| s.take().unwrap_or_default()).collect();
                                let id = self.next_id.max(pending.as_ref().map_or(0, |p| p.0 + 1));
                                self.complete(id, true, false, states, Instant::now()).await?;
                                return Ok(Ended { checkpoints: self.completed_count, stopped: false });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sends the next checkpoint's trigger to every source: the checkpoint in progress, or
    /// `None` when a source task is gone (the job is failing).
    fn trigger(&mut self, stop: bool) -> Option<PendingCheckpoint> {
        let checkpoint = self.next_id;
        self.next_id += 1;
        let all_sent = self
            .triggers
            .iter()
            .all(|t| t.send(Trigger { checkpoint, stop }).is_ok());
        all_sent.then(|| (checkpoint, vec![None; self.names.len()], Instant::now()))
    }

    async fn complete(
        &mut self,
        id: u64,
        is_final: bool,
        stop: bool,
        states: Vec<Vec<u8>>,
        started: Instant,
    ) -> Result<()> {
        if let Some((store, _)) = &self.store {
            let named = self.names.iter().cloned().zip(states).collect();
            store
                .write(&self.job, &self.fingerprint, id, is_final, named)
                .await?;
        }
        self.completed_count += 1;
        self.next_id = id + 1;
        self.control.checkpoint_completed(id, started.elapsed());
        tracing::debug!(
            job = %self.job,
            checkpoint = id,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint complete"
        );
        let _ = self.completed.send(Completed {
            checkpoint: id,
            is_final,
            stop,
        });
        Ok(())
    }
}
