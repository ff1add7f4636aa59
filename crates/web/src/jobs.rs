//! The job console's back end, as the HTTP API sees it: what a process that runs jobs offers
//! ([`JobService`], implemented by the `spate` binary, which can plan and run SQL), and the
//! JSON shapes of `/api/jobs` ([`JobView`], [`JobCheck`]).

use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Planned, its tasks starting (restoring its checkpoint).
    Starting,
    /// Running.
    Running,
    /// Taking its final checkpoint before it stops.
    Stopping,
    /// Stopped by request; a restart resumes from its last checkpoint.
    Stopped,
    /// Failed; restarted from its last checkpoint after a delay.
    Restarting,
    /// Failed and not restarted (it failed at planning, or too often).
    Failed,
    /// Its bounded input is exhausted and its output committed.
    Finished,
}

/// A job as the console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// Its id, unique in the process (made from its name).
    pub id: String,
    /// The name it was submitted with.
    pub name: String,
    /// Where it is.
    pub state: JobState,
    /// Its Flink SQL.
    pub sql: String,
    /// Its dataflow plan (`spate sql explain`).
    pub plan: String,
    /// When it was submitted (milliseconds since the epoch).
    pub submitted_at_ms: i64,
    /// When its current run started, if it runs.
    pub started_at_ms: Option<i64>,
    /// Rows its sources read, in this run.
    pub events_in: u64,
    /// Rows its sinks received, in this run.
    pub events_out: u64,
    /// Rows read per second, over the last few seconds.
    pub events_in_per_sec: f64,
    /// Rows written per second, over the last few seconds.
    pub events_out_per_sec: f64,
    /// Its sources' lowest watermark (milliseconds since the epoch), once there is one.
    pub watermark_ms: Option<i64>,
    /// How far that watermark is behind the wall clock, in milliseconds.
    pub watermark_lag_ms: Option<i64>,
    /// Records its sources have not read yet, where they can tell (the embedded log, Kafka).
    pub source_lag: Option<u64>,
    /// Rows set aside as dead letters, in this run.
    pub dead_letters: u64,
    /// Late rows dropped or set aside, in this run.
    pub late_events: u64,
    /// Checkpoints completed in this run.
    pub checkpoints: u64,
    /// The last checkpoint completed, in this run.
    pub last_checkpoint: Option<CheckpointView>,
    /// The checkpoint this run resumed from.
    pub restored_from: Option<u64>,
    /// How often it was restarted after a failure.
    pub restarts: u32,
    /// Its most recent failures, newest first.
    pub exceptions: Vec<ExceptionView>,
}

/// A completed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// Its id.
    pub id: u64,
    /// When it completed (milliseconds since the epoch).
    pub completed_at_ms: i64,
    /// From its trigger to its completion.
    pub duration_ms: u64,
}

/// A failure of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionView {
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// What went wrong.
    pub message: String,
}

/// What checking a job's SQL found: it parses, its tables resolve and it plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCheck {
    /// Its INSERT statements (each a job of its own, run together).
    pub inserts: usize,
    /// The dataflow plan, as `spate sql explain` prints it.
    pub plan: String,
}

/// Why a console request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobServiceError {
    /// No job has this id.
    #[error("no job {0:?}")]
    NotFound(String),
    /// The SQL (or the request) is wrong: the message says where.
    #[error("{0}")]
    Invalid(String),
    /// The job is not in a state that allows this (say, stopping a stopped job).
    #[error("{0}")]
    Conflict(String),
    /// Something failed on the server's side.
    #[error("{0}")]
    Internal(String),
}

/// What a process that runs jobs offers the console. Every method answers for the whole
/// process; ids are [`JobView::id`].
#[async_trait]
pub trait JobService: Debug + Send + Sync + 'static {
    /// Every job, in the order they were submitted.
    fn list(&self) -> Vec<JobView>;

    /// Checks `sql` as `spate sql validate` does, and plans it.
    async fn check(&self, sql: String) -> Result<JobCheck, JobServiceError>;

    /// Checks `sql`, keeps it (it comes back when the process restarts), and runs it.
    async fn submit(&self, name: String, sql: String) -> Result<JobView, JobServiceError>;

    /// Stops a running job with a final checkpoint; answers once it stopped.
    async fn stop(&self, id: &str) -> Result<JobView, JobServiceError>;

    /// Starts a stopped, failed or finished job again, from its latest checkpoint.
    async fn restart(&self, id: &str) -> Result<JobView, JobServiceError>;
}
