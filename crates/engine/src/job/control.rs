//! Controlling a job from outside while it runs: stopping it with a final checkpoint (Flink's
//! "stop with savepoint"), and reading its counters and checkpoints for a console.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::metrics::TaskMetrics;

/// A handle on a job, given to [`crate::run`] in [`crate::JobConfig::control`] and kept by
/// whoever started it. Clones share the job.
#[derive(Debug, Clone)]
pub struct JobControl {
    stop: Arc<watch::Sender<bool>>,
    status: Arc<Mutex<JobStatus>>,
}

/// What a running job has done so far.
#[derive(Debug, Clone, Default)]
pub struct JobStatus {
    /// Each task's name and counters (empty until the job's tasks start).
    pub tasks: Vec<(String, Arc<TaskMetrics>)>,
    /// The checkpoint the job resumed from, if any.
    pub restored_from: Option<u64>,
    /// Checkpoints completed since the job started.
    pub checkpoints: u64,
    /// The last checkpoint completed, if any.
    pub last_checkpoint: Option<CheckpointInfo>,
}

/// One completed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Its id.
    pub id: u64,
    /// When it became durable.
    pub completed_at: SystemTime,
    /// From its trigger to its completion.
    pub duration: Duration,
}

impl Default for JobControl {
    fn default() -> Self {
        JobControl {
            stop: Arc::new(watch::channel(false).0),
            status: Arc::default(),
        }
    }
}

impl JobControl {
    /// Asks the job to stop: its sources stop reading, a checkpoint is taken and committed by
    /// every sink, and [`crate::run`] returns with [`crate::JobReport::stopped`] set. A job
    /// restarted from that checkpoint continues exactly where this one stopped. Windows still
    /// open stay open (nothing is drained).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether [`JobControl::stop`] was called.
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// What the job has done so far.
    pub fn status(&self) -> JobStatus {
        self.lock().clone()
    }

    /// Waits until a stop is asked for.
    pub(super) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The job's tasks started.
    pub(super) fn started(
        &self,
        tasks: Vec<(String, Arc<TaskMetrics>)>,
        restored_from: Option<u64>,
    ) {
        *self.lock() = JobStatus {
            tasks,
            restored_from,
            checkpoints: 0,
            last_checkpoint: None,
        };
    }

    /// Checkpoint `id` became durable `duration` after its trigger.
    pub(super) fn checkpoint_completed(&self, id: u64, duration: Duration) {
        let mut status = self.lock();
        status.checkpoints += 1;
        status.last_checkpoint = Some(CheckpointInfo {
            id,
            completed_at: SystemTime::now(),
            duration,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JobStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
