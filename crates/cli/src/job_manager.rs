//! The job console's back end ([`spate_web::JobService`]): the Flink SQL jobs this process
//! runs, as a managed Flink service runs them.
//!
//! - A job is submitted as SQL text with a name. It is checked (parsed and planned) first; a
//!   job that does not plan is refused with the error's line and column.
//! - Its definition is kept in `<data-dir>/jobs/<id>/job.json`, with whether it should run,
//!   and it comes back when the process starts again.
//! - Each INSERT runs as its own dataflow (a statement set), checkpointing into
//!   `<data-dir>/jobs/<id>/checkpoints/insert-<n>`; a restart resumes from there.
//! - Stop takes a final checkpoint (Flink's stop with savepoint); a failed job is restarted
//!   from its latest checkpoint after a delay that grows with each failure, and its recent
//!   exceptions are kept for the console.
//! - Rates are sampled once a second from the tasks' counters.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spate_engine::metrics::TaskMetrics;
use spate_engine::{JobControl, JobGraph, JobStatus};
use spate_log::Log;
use spate_web::{
    CheckpointView, ExceptionView, Health, JobCheck, JobService, JobServiceError, JobState,
    JobView, PartState,
};
use tokio::task::JoinSet;

use crate::job_text::JobText;

/// How often a job's checkpoints are taken.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// The first delay before a failed job runs again; it doubles with each failure in a row.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
/// The longest delay before a failed job runs again.
const LONGEST_RESTART_DELAY: Duration = Duration::from_secs(30);
/// The failures a job keeps for the console.
const KEPT_EXCEPTIONS: usize = 20;
/// The window over which rates are measured.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The jobs of this process. Clones share them.
#[derive(Debug, Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `<data-dir>/jobs`.
    dir: PathBuf,
    log: Log,
    health: Health,
    runtime: tokio::runtime::Handle,
    jobs: Mutex<Vec<Arc<ManagedJob>>>,
}

/// A job's definition, as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Definition {
    id: String,
    name: String,
    sql: String,
    submitted_at_ms: i64,
    /// Whether it should run when the process starts.
    running: bool,
}

/// A job and where its current run is.
#[derive(Debug)]
struct ManagedJob {
    definition: Mutex<Definition>,
    run: Mutex<Run>,
}

/// A job's current run.
#[derive(Debug)]
struct Run {
    state: JobState,
    plan: String,
    /// Per INSERT: its control, and the stage names whose tasks feed its sink.
    dataflows: Vec<(JobControl, Vec<String>)>,
    started_at: Option<SystemTime>,
    restarts: u32,
    exceptions: VecDeque<ExceptionView>,
    /// Recent (when, rows in, rows out), oldest first.
    samples: VecDeque<(Instant, u64, u64)>,
    /// Bumped by each start: a supervisor whose generation is not current has been replaced.
    generation: u64,
    /// Completes when the supervisor of the current run ends.
    ended: Option<tokio::sync::watch::Receiver<bool>>,
}

impl JobManager {
    /// The jobs kept in `<data_dir>/jobs`, each started again if it was running; they run
    /// on `runtime` and report into `health` (as `job <id>`).
    pub fn open(
        data_dir: &Path,
        log: Log,
        health: Health,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<JobManager> {
        let dir = data_dir.join("jobs");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let manager = JobManager {
            inner: Arc::new(Inner {
                dir: dir.clone(),
                log,
                health,
                runtime,
                jobs: Mutex::new(Vec::new()),
            }),
        };
        let mut definitions = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let file = entry?.path().join("job.json");
            if !file.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let definition: Definition = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a job definition", file.display()))?;
            definitions.push(definition);
        }
        definitions.sort_by_key(|d| d.submitted_at_ms);
        for definition in definitions {
            let running = definition.running;
            let job = manager.add(definition, String::new());
            match running {
                true => manager.start(&job),
                false => job.lock_run().state = JobState::Stopped,
            }
        }
        manager.spawn_sampler();
        Ok(manager)
    }

    /// Makes sure a job named `name` runs `sql`: submitted if new, replaced (stopped, then
    /// started from scratch) if its SQL changed, started if it was stopped by the process
    /// ending. A job the user stopped stays stopped.
    pub async fn ensure(&self, name: &str, sql: &str) -> anyhow::Result<()> {
        let id = id_of(name);
        let existing = self.find(&id);
        match existing {
            Some(job) if job.lock_definition().sql == sql => Ok(()),
            Some(job) => {
                self.stop_job(&job).await;
                {
                    let mut definition = job.lock_definition();
                    definition.sql = sql.to_string();
                    definition.running = true;
                }
                self.persist(&job).map_err(anyhow::Error::msg)?;
                let _ = std::fs::remove_dir_all(self.inner.dir.join(&id).join("checkpoints"));
                self.start(&job);
                Ok(())
            }
            None => {
                self.submit(name.to_string(), sql.to_string())
                    .await
                    .map_err(|e| anyhow::anyhow!("job {name}: {e}"))?;
                Ok(())
            }
        }
    }

    /// Tells the process's health that a job named `name` is to run (starting, until it
    /// does).
    pub fn expect(&self, name: &str) {
        self.inner
            .health
            .set(&format!("job {}", id_of(name)), PartState::Starting);
    }

    /// Stops every running job with a final checkpoint, keeping them marked to run: they
    /// resume when the process starts again.
    pub async fn shutdown(&self) {
        let jobs = self.lock_jobs().clone();
        for job in jobs {
            self.stop_job(&job).await;
        }
    }

    fn lock_jobs(&self) -> MutexGuard<'_, Vec<Arc<ManagedJob>>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, id: &str) -> Option<Arc<ManagedJob>> {
        self.lock_jobs()
            .iter()
            .find(|j| j.lock_definition().id == id)
            .cloned()
    }

    fn add(&self, definition: Definition, plan: String) -> Arc<ManagedJob> {
        let job = Arc::new(ManagedJob {
            definition: Mutex::new(definition),
            run: Mutex::new(Run {
                state: JobState::Starting,
                plan,
                dataflows: Vec::new(),
                started_at: None,
                restarts: 0,
                exceptions: VecDeque::new(),
                samples: VecDeque::new(),
                generation: 0,
                ended: None,
            }),
        });
        self.lock_jobs().push(Arc::clone(&job));
        job
    }

    /// Writes the job's definition, atomically.
    fn persist(&self, job: &ManagedJob) -> Result<(), JobServiceError> {
        let definition = job.lock_definition().clone();
        let dir = self.inner.dir.join(&definition.id);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join("job.json.tmp");
            let text = serde_json::to_vec_pretty(&definition).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, text)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dir.join("job.json"))
        };
        write().map_err(|e| {
            JobServiceError::Internal(format!("cannot keep job {}: {e}", definition.id))
        })
    }

    /// Starts the job's supervisor: plans it, runs its dataflows, restarts it after failures,
    /// and marks where it ends.
    fn start(&self, job: &Arc<ManagedJob>) {
        let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
        let generation = {
            let mut run = job.lock_run();
            run.generation += 1;
            run.state = JobState::Starting;
            run.ended = Some(ended_rx);
            run.generation
        };
        let (manager, job) = (self.clone(), Arc::clone(job));
        self.inner.runtime.spawn(async move {
            manager.supervise(&job, generation).await;
            let _ = ended_tx.send(true);
        });
    }

    /// Runs the job until it finishes, is stopped or cannot be planned; restarts it after a
    /// delay when it fails.
    async fn supervise(&self, job: &Arc<ManagedJob>, generation: u64) {
        let id = job.lock_definition().id.clone();
        let part = format!("job {id}");
        self.inner.health.set(&part, PartState::Starting);
        let mut failures_in_a_row = 0u32;
        loop {
            let sql = job.lock_definition().sql.clone();
            let planned = self.plan(sql).await;
            let graphs = match planned {
                Ok(graphs) => graphs,
                Err(e) => {
                    self.failed(job, &part, format!("cannot plan the job: {e}"));
                    job.lock_run().state = JobState::Failed;
                    return;
                }
            };
            let controls: Vec<JobControl> = graphs.iter().map(|_| JobControl::default()).collect();
            {
                let mut run = job.lock_run();
                if run.generation != generation {
                    return;
                }
                if run.state == JobState::Stopping {
                    // Stopped while it was being planned.
                    run.state = JobState::Stopped;
                    return;
                }
                run.plan = describe(&graphs);
                run.dataflows = graphs
                    .iter()
                    .zip(&controls)
                    .map(|(g, c)| (c.clone(), sink_stages(g)))
                    .collect();
                run.started_at = Some(SystemTime::now());
                run.samples.clear();
                run.state = JobState::Running;
            }
            self.inner.health.set(&part, PartState::Running);
            let started = Instant::now();
            match self.run_dataflows(&id, graphs, &controls).await {
                Ok(stopped) => {
                    let state = match stopped {
                        true => JobState::Stopped,
                        false => JobState::Finished,
                    };
                    job.lock_run().state = state;
                    // A stopped or finished job does not hold the process back from ready.
                    self.inner.health.set(&part, PartState::Running);
                    return;
                }
                Err(e) => {
                    if started.elapsed() > LONGEST_RESTART_DELAY * 2 {
                        failures_in_a_row = 0;
                    }
                    failures_in_a_row += 1;
                    self.failed(job, &part, format!("{e:#}"));
                    let delay = (FIRST_RESTART_DELAY * 2u32.pow(failures_in_a_row.min(6) - 1))
                        .min(LONGEST_RESTART_DELAY);
                    {
                        let mut run = job.lock_run();
                        if run.state == JobState::Stopping || run.generation != generation {
                            run.state = JobState::Stopped;
                            return;
                        }
                        run.state = JobState::Restarting;
                        run.restarts += 1;
                    }
                    tracing::warn!("job {id} failed, restarting in {delay:?}: {e:#}");
                    tokio::time::sleep(delay).await;
                    let run = job.lock_run();
                    if run.state != JobState::Restarting || run.generation != generation {
                        return;
                    }
                }
            }
        }
    }

    /// Records a failure of the job.
    fn failed(&self, job: &ManagedJob, part: &str, message: String) {
        self.inner
            .health
            .set(part, PartState::Failed(message.clone()));
        let mut run = job.lock_run();
        run.exceptions.push_front(ExceptionView {
            at_ms: ms_since_epoch(SystemTime::now()),
            message,
        });
        run.exceptions.truncate(KEPT_EXCEPTIONS);
    }

    /// Runs the planned dataflows together: `Ok(true)` once stopped through `controls`,
    /// `Ok(false)` once all finished, or the first failure (the others are stopped).
    async fn run_dataflows(
        &self,
        id: &str,
        graphs: Vec<JobGraph>,
        controls: &[JobControl],
    ) -> anyhow::Result<bool> {
        let mut running = JoinSet::new();
        for (i, (graph, control)) in graphs.into_iter().zip(controls).enumerate() {
            let checkpoints = self
                .inner
                .dir
                .join(id)
                .join("checkpoints")
                .join(format!("insert-{i}"));
            let config = crate::sql_cmd::job_config(
                &graph,
                &self.inner.log,
                Some((&checkpoints, CHECKPOINT_INTERVAL)),
                control.clone(),
            )?;
            running.spawn(spate_engine::run(graph, config));
        }
        let mut stopped = false;
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(report)) => stopped |= report.stopped,
                Ok(Err(e)) => {
                    // Dropping the other dataflows drops their tasks.
                    running.shutdown().await;
                    return Err(e.into());
                }
                Err(e) => {
                    running.shutdown().await;
                    anyhow::bail!("a dataflow of the job panicked: {e}");
                }
            }
        }
        Ok(stopped)
    }

    /// Plans `sql` on a blocking thread (connectors may reach their servers).
    async fn plan(&self, sql: String) -> Result<Vec<JobGraph>, JobServiceError> {
        let log = self.inner.log.clone();
        tokio::task::spawn_blocking(move || {
            let job = JobText::new([("SQL".to_string(), sql)]);
            crate::sql_cmd::plan_text(&job, &log, None)
                .map_err(|e| JobServiceError::Invalid(format!("{e:#}")))
        })
        .await
        .map_err(|e| JobServiceError::Internal(format!("planning panicked: {e}")))?
    }

    /// Stops the job's current run with a final checkpoint and waits until it ended.
    async fn stop_job(&self, job: &ManagedJob) {
        let ended = {
            let mut run = job.lock_run();
            match run.state {
                JobState::Running | JobState::Starting => run.state = JobState::Stopping,
                JobState::Restarting => run.state = JobState::Stopped,
                _ => {}
            }
            run.dataflows.iter().for_each(|(c, _)| c.stop());
            run.ended.clone()
        };
        if let Some(mut ended) = ended {
            let _ = ended.wait_for(|e| *e).await;
        }
        let mut run = job.lock_run();
        if run.state == JobState::Stopping {
            run.state = JobState::Stopped;
        }
    }

    /// Samples every job's counters once a second, for rates.
    fn spawn_sampler(&self) {
        let manager = Arc::downgrade(&self.inner);
        self.inner.runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(inner) = manager.upgrade() else {
                    return;
                };
                let jobs = inner
                    .jobs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                for job in jobs {
                    let mut run = job.lock_run();
                    let counts = totals(&statuses(&run.dataflows));
                    let now = Instant::now();
                    run.samples
                        .push_back((now, counts.events_in, counts.events_out));
                    while run
                        .samples
                        .front()
                        .is_some_and(|(at, _, _)| now.duration_since(*at) > RATE_WINDOW)
                    {
                        run.samples.pop_front();
                    }
                }
            }
        });
    }

    fn view(&self, job: &ManagedJob) -> JobView {
        let definition = job.lock_definition().clone();
        let run = job.lock_run();
        let statuses = statuses(&run.dataflows);
        let counts = totals(&statuses);
        let (events_in_per_sec, events_out_per_sec) = rates(&run.samples);
        let last_checkpoint = statuses
            .iter()
            .filter_map(|(s, _)| s.last_checkpoint)
            .max_by_key(|c| c.completed_at)
            .map(|c| CheckpointView {
                id: c.id,
                completed_at_ms: ms_since_epoch(c.completed_at),
                duration_ms: c.duration.as_millis() as u64,
            });
        let now_ms = ms_since_epoch(SystemTime::now());
        JobView {
            id: definition.id,
            name: definition.name,
            state: run.state,
            sql: definition.sql,
            plan: run.plan.clone(),
            submitted_at_ms: definition.submitted_at_ms,
            started_at_ms: run.started_at.map(ms_since_epoch),
            events_in: counts.events_in,
            events_out: counts.events_out,
            events_in_per_sec,
            events_out_per_sec,
            watermark_ms: counts.watermark,
            watermark_lag_ms: counts.watermark.map(|w| now_ms - w),
            source_lag: counts.source_lag,
            dead_letters: counts.dead_letters,
            late_events: counts.late_events,
            checkpoints: statuses.iter().map(|(s, _)| s.checkpoints).sum(),
            last_checkpoint,
            restored_from: statuses.iter().filter_map(|(s, _)| s.restored_from).max(),
            restarts: run.restarts,
            exceptions: run.exceptions.iter().cloned().collect(),
        }
    }
}

impl ManagedJob {
    fn lock_definition(&self) -> MutexGuard<'_, Definition> {
        self.definition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_run(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl JobService for JobManager {
    fn list(&self) -> Vec<JobView> {
        let jobs = self.lock_jobs().clone();
        jobs.iter().map(|j| self.view(j)).collect()
    }

    async fn check(&self, sql: String) -> Result<JobCheck, JobServiceError> {
        let graphs = self.plan(sql).await?;
        Ok(JobCheck {
            inserts: graphs.len(),
            plan: describe(&graphs),
        })
    }

    async fn submit(&self, name: String, sql: String) -> Result<JobView, JobServiceError> {
        let name = name.trim().to_string();
        let id = id_of(&name);
        if id.is_empty() {
            return Err(JobServiceError::Invalid(
                "a job needs a name with a letter or a digit".into(),
            ));
        }
        let graphs = self.plan(sql.clone()).await?;
        if self.find(&id).is_some() {
            return Err(JobServiceError::Conflict(format!(
                "a job {id:?} exists already: stop it and restart it, or choose another name"
            )));
        }
        let definition = Definition {
            id,
            name,
            sql,
            submitted_at_ms: ms_since_epoch(SystemTime::now()),
            running: true,
        };
        let job = self.add(definition, describe(&graphs));
        if let Err(e) = self.persist(&job) {
            self.lock_jobs().retain(|j| !Arc::ptr_eq(j, &job));
            return Err(e);
        }
        self.start(&job);
        Ok(self.view(&job))
    }

    async fn stop(&self, id: &str) -> Result<JobView, JobServiceError> {
        let job = self.mark(id, false, |state| {
            match matches!(
                state,
                JobState::Running | JobState::Starting | JobState::Restarting
            ) {
                true => None,
                false => Some(format!("job {id} is not running (it is {state:?})")),
            }
        })?;
        self.stop_job(&job).await;
        Ok(self.view(&job))
    }

    async fn restart(&self, id: &str) -> Result<JobView, JobServiceError> {
        let job = self.mark(id, true, |state| {
            match matches!(
                state,
                JobState::Running | JobState::Starting | JobState::Stopping
            ) {
                true => Some(format!("job {id} is running: stop it first")),
                false => None,
            }
        })?;
        self.start(&job);
        Ok(self.view(&job))
    }
}

impl JobManager {
    /// The job `id`, marked (and kept) as one to run or not, unless `refusal` says why its
    /// state does not allow that.
    fn mark(
        &self,
        id: &str,
        running: bool,
        refusal: impl FnOnce(JobState) -> Option<String>,
    ) -> Result<Arc<ManagedJob>, JobServiceError> {
        let job = self
            .find(id)
            .ok_or_else(|| JobServiceError::NotFound(id.to_string()))?;
        let state = job.lock_run().state;
        if let Some(why) = refusal(state) {
            return Err(JobServiceError::Conflict(why));
        }
        job.lock_definition().running = running;
        self.persist(&job)?;
        Ok(job)
    }
}

/// A job's id: its name in lower case, runs of other characters than letters and digits as
/// one `-`.
fn id_of(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        match c.is_ascii_alphanumeric() {
            true => id.push(c.to_ascii_lowercase()),
            false if !id.is_empty() && !id.ends_with('-') => id.push('-'),
            false => {}
        }
    }
    id.trim_end_matches('-').to_string()
}

/// The plans of the job's dataflows, one after the other.
fn describe(graphs: &[JobGraph]) -> String {
    graphs
        .iter()
        .map(|g| {
            g.describe()
                .unwrap_or_else(|e| format!("Job {}: {e}\n", g.name))
        })
        .collect()
}

/// The names of the stages whose tasks feed a sink.
fn sink_stages(graph: &JobGraph) -> Vec<String> {
    graph
        .stages
        .iter()
        .filter(|s| s.sink.is_some())
        .map(|s| format!("{}[", s.name))
        .collect()
}

/// A job's counters summed over its dataflows.
#[derive(Debug, Default)]
struct Totals {
    events_in: u64,
    events_out: u64,
    dead_letters: u64,
    late_events: u64,
    /// The lowest of the sources' watermarks, once every source has one.
    watermark: Option<i64>,
    /// Records the sources have not read, if any source can tell.
    source_lag: Option<u64>,
}

/// Each dataflow's status now, with the stages that feed its sinks.
fn statuses(dataflows: &[(JobControl, Vec<String>)]) -> Vec<(JobStatus, &[String])> {
    dataflows
        .iter()
        .map(|(control, sinks)| (control.status(), sinks.as_slice()))
        .collect()
}

fn totals(statuses: &[(JobStatus, &[String])]) -> Totals {
    let mut totals = Totals::default();
    let mut watermarks = Vec::new();
    for (status, sinks) in statuses {
        for (name, m) in &status.tasks {
            if name.starts_with("source") {
                totals.events_in += TaskMetrics::get(&m.rows_in);
                watermarks.push(m.watermark.load(std::sync::atomic::Ordering::Relaxed));
                let lag = m.source_lag.load(std::sync::atomic::Ordering::Relaxed);
                if lag >= 0 {
                    totals.source_lag = Some(totals.source_lag.unwrap_or(0) + lag as u64);
                }
            }
            if sinks.iter().any(|s| name.starts_with(s.as_str())) {
                totals.events_out += TaskMetrics::get(&m.rows_out);
            }
            totals.dead_letters += TaskMetrics::get(&m.dead_letters);
            totals.late_events += TaskMetrics::get(&m.late_events);
        }
    }
    totals.watermark = match watermarks.iter().min() {
        Some(&w) if w > i64::MIN => Some(w),
        _ => None,
    };
    totals
}

/// Rows in and out per second over the samples.
fn rates(samples: &VecDeque<(Instant, u64, u64)>) -> (f64, f64) {
    match (samples.front(), samples.back()) {
        (Some((t0, in0, out0)), Some((t1, in1, out1))) if t1 > t0 => {
            let seconds = (*t1 - *t0).as_secs_f64();
            (
                in1.saturating_sub(*in0) as f64 / seconds,
                out1.saturating_sub(*out0) as f64 / seconds,
            )
        }
        _ => (0.0, 0.0),
    }
}

fn ms_since_epoch(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_names_in_lower_case_with_dashes() {
        assert_eq!(id_of("API analytics"), "api-analytics");
        assert_eq!(id_of("  Fleet / scoring (v2) "), "fleet-scoring-v2");
        assert_eq!(id_of("--"), "");
    }

    #[test]
    fn rates_are_measured_over_the_samples() {
        let t0 = Instant::now();
        let samples = VecDeque::from([(t0, 100, 10), (t0 + Duration::from_secs(2), 300, 50)]);
        assert_eq!(rates(&samples), (100.0, 20.0));
        assert_eq!(rates(&VecDeque::from([(t0, 5, 5)])), (0.0, 0.0));
    }
}
