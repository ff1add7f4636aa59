//! The dataflow graph: a source stage, then operator stages joined by exchanges; how a job
//! runs; what it reports.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::checkpoint::CheckpointStore;
use crate::error::{EngineError, Result};
use crate::exchange::Partitioning;
use crate::metrics::TaskMetrics;
use crate::operator::{OperatorFactory, TaskInfo};
use crate::side_output::SideOutputs;
use crate::sink::SinkFactory;
use crate::source::SourceFactory;
use crate::time::WatermarkStrategy;

/// The first stage: parallel source instances, each followed by a chain of operators.
#[derive(Clone)]
pub struct SourceStage {
    /// The stage's name, e.g. `source: events`.
    pub name: String,
    /// Builds each source instance.
    pub source: SourceFactory,
    /// Number of instances.
    pub parallelism: usize,
    /// How watermarks are derived, if the job runs in event time.
    pub watermarks: Option<WatermarkStrategy>,
    /// Operators chained after the source in the same task.
    pub chain: Vec<OperatorFactory>,
    /// Which input of the first stage the rows feed: 0, or 1 for the second input of a
    /// two-input operator (a join) heading the first stage.
    pub input: usize,
    /// How the rows are distributed to the first stage's instances when that differs per
    /// source (each side of a join hashed by its own keys); `None` takes the first stage's
    /// `input`.
    pub partitioning: Option<Partitioning>,
}

impl SourceStage {
    /// How this source's rows reach the instances of `first`, the first operator stage.
    pub(super) fn partitioning_into(&self, first: &Stage) -> Partitioning {
        self.partitioning
            .clone()
            .unwrap_or_else(|| first.input.clone())
    }
}

/// A later stage: operator instances fed by an exchange, optionally ending in a sink.
#[derive(Clone)]
pub struct Stage {
    /// The stage's name, e.g. `window`.
    pub name: String,
    /// How the previous stage's output is distributed to this stage's instances.
    pub input: Partitioning,
    /// Number of instances.
    pub parallelism: usize,
    /// The operators, in order.
    pub chain: Vec<OperatorFactory>,
    /// A sink after the last operator, if this stage ends the job.
    pub sink: Option<SinkFactory>,
}

/// A dataflow: source stages whose rows all flow into the first operator stage (a `UNION ALL`
/// when there are several), then operator stages in a line.
#[derive(Clone)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Where rows come from: at least one source stage, each with its own name.
    pub sources: Vec<SourceStage>,
    /// What happens to them, in order; the last stage has a sink.
    pub stages: Vec<Stage>,
}

/// How a job runs.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Where checkpoints go, and how often; `None` runs without checkpoints.
    pub checkpoints: Option<(CheckpointStore, Duration)>,
    /// Capacity of each channel between tasks, in messages.
    pub channel_capacity: usize,
    /// How long a source task waits after a poll found nothing.
    pub idle_poll: Duration,
    /// Dead letters and late events.
    pub side_outputs: SideOutputs,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            checkpoints: None,
            channel_capacity: 16,
            idle_poll: Duration::from_millis(5),
            side_outputs: SideOutputs::default(),
        }
    }
}

/// What a finished job reports.
#[derive(Debug)]
pub struct JobReport {
    /// Each task's name and counters.
    pub tasks: Vec<(String, Arc<TaskMetrics>)>,
    /// The checkpoint the job resumed from, if any.
    pub restored_from: Option<u64>,
    /// Checkpoints completed during this run (the final one included).
    pub checkpoints: u64,
    /// Whether a finished checkpoint was found, so nothing had to run.
    pub already_finished: bool,
}

impl JobReport {
    /// Sum of a counter over the tasks whose name starts with `prefix`.
    pub fn sum(
        &self,
        prefix: &str,
        counter: impl Fn(&TaskMetrics) -> &std::sync::atomic::AtomicU64,
    ) -> u64 {
        self.tasks
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, m)| TaskMetrics::get(counter(m)))
            .sum()
    }
}

impl JobGraph {
    pub(super) fn validate(&self) -> Result<()> {
        if self.stages.is_empty() || self.stages.last().is_some_and(|s| s.sink.is_none()) {
            return Err(EngineError::plan(
                "the last stage of a job must end in a sink",
            ));
        }
        if self.sources.is_empty() {
            return Err(EngineError::plan("a job needs a source"));
        }
        let mut prev = self.source_tasks();
        let first = &self.stages[0];
        if self.sources.len() > 1
            && self
                .sources
                .iter()
                .any(|s| matches!(s.partitioning_into(first), Partitioning::Forward))
        {
            return Err(EngineError::plan(format!(
                "stage {} reads {} sources, so it cannot be FORWARD-connected",
                first.name,
                self.sources.len()
            )));
        }
        let inputs = self.sources.iter().map(|s| s.input).max().unwrap_or(0) + 1;
        if let Some(missing) = (0..inputs).find(|i| self.sources.iter().all(|s| s.input != *i)) {
            return Err(EngineError::plan(format!(
                "no source feeds input {missing} of stage {}",
                first.name
            )));
        }
        for (i, s) in self.stages.iter().enumerate() {
            if s.parallelism == 0 {
                return Err(EngineError::plan(format!(
                    "stage {} has parallelism 0",
                    s.name
                )));
            }
            let forward = if i == 0 {
                self.sources
                    .iter()
                    .any(|src| matches!(src.partitioning_into(s), Partitioning::Forward))
            } else {
                matches!(s.input, Partitioning::Forward)
            };
            if forward && s.parallelism != prev {
                return Err(EngineError::plan(format!(
                    "stage {} is FORWARD-connected but has parallelism {} after {}",
                    s.name, s.parallelism, prev
                )));
            }
            prev = s.parallelism;
        }
        Ok(())
    }

    /// Source instances in all.
    pub(super) fn source_tasks(&self) -> usize {
        self.sources.iter().map(|s| s.parallelism).sum()
    }

    pub(super) fn task_names(&self) -> Vec<Vec<String>> {
        let mut all: Vec<Vec<String>> = self
            .sources
            .iter()
            .map(|source| {
                (0..source.parallelism)
                    .map(|i| format!("{}[{i}]", source.name))
                    .collect()
            })
            .collect();
        for s in &self.stages {
            all.push(
                (0..s.parallelism)
                    .map(|i| format!("{}[{i}]", s.name))
                    .collect(),
            );
        }
        all
    }

    /// Builds every operator once to describe the plan (operators, keys, windows,
    /// watermarks, parallelism), as `spate sql explain` and checkpoints need.
    pub fn describe(&self) -> Result<String> {
        let info = |name: &str| TaskInfo {
            name: format!("{name}[0]"),
            instance: 0,
            parallelism: 1,
            side_outputs: SideOutputs::default(),
            metrics: Arc::new(TaskMetrics::new()),
        };
        let mut out = String::new();
        let _ = writeln!(out, "Job {}", self.name);
        for stage in &self.sources {
            let src_info = info(&stage.name);
            let source = (stage.source)(&src_info)?;
            let _ = writeln!(
                out,
                "  {} (parallelism {}), columns: {}",
                stage.name,
                stage.parallelism,
                source
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{} {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(w) = &stage.watermarks {
                let _ = writeln!(
                    out,
                    "    watermark: {} - {} ms (per partition, min across inputs{})",
                    source.schema().field(w.rowtime_column).name(),
                    w.max_out_of_orderness_ms,
                    w.idle_timeout
                        .map(|t| format!(", idle after {t:?}"))
                        .unwrap_or_default()
                );
            }
            for f in &stage.chain {
                let _ = writeln!(out, "    -> {}", f(&src_info)?.name());
            }
            if let Some(p) = &stage.partitioning {
                let _ = writeln!(
                    out,
                    "    => input {} of {}, {p}",
                    stage.input, self.stages[0].name
                );
            }
        }
        for (i, s) in self.stages.iter().enumerate() {
            let si = info(&s.name);
            let input = if i == 0 && self.sources.iter().all(|src| src.partitioning.is_some()) {
                "per source (above)".to_string()
            } else {
                s.input.to_string()
            };
            let _ = writeln!(
                out,
                "  {} (parallelism {}), input {input}",
                s.name, s.parallelism
            );
            for f in &s.chain {
                let _ = writeln!(out, "    -> {}", f(&si)?.name());
            }
            if let Some(sink) = &s.sink {
                let _ = writeln!(out, "    -> Sink[{}]", sink(&si)?.name());
            }
        }
        Ok(out)
    }

    /// A fingerprint of the dataflow's shape; checkpoints of a different shape are refused.
    pub fn fingerprint(&self) -> Result<String> {
        let text = self.describe()?;
        // FNV-1a: stable across runs and builds.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        Ok(format!("{h:016x}"))
    }
}
