//! The dataflow graph: source stages and operator stages joined by exchanges; how a job runs;
//! what it reports.
//!
//! The graph is a tree that flows into its last stage: every source and every stage but the
//! last feeds exactly one later stage. Usually that is a line (sources → stage 0 → stage 1 →
//! …); a two-input operator such as a join takes two branches, each with its own stages.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::control::JobControl;
use crate::checkpoint::CheckpointStore;
use crate::error::{EngineError, Result};
use crate::exchange::Partitioning;
use crate::metrics::TaskMetrics;
use crate::operator::{OperatorFactory, TaskInfo};
use crate::side_output::SideOutputs;
use crate::sink::SinkFactory;
use crate::source::SourceFactory;
use crate::time::WatermarkStrategy;

/// A source stage: parallel source instances, each followed by a chain of operators.
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
    /// Where the rows go: by default input 0 of the first operator stage.
    pub output: Link,
}

/// An edge of the dataflow: the operator stage a source or stage feeds, which input of it,
/// and how the rows are distributed to its instances.
#[derive(Clone, Debug, Default)]
pub struct Link {
    /// The index of the stage fed, in [`JobGraph::stages`].
    pub stage: usize,
    /// Which input of that stage's first operator: 0, or 1 for the right side of a join.
    pub input: usize,
    /// How rows are distributed to the stage's instances when that differs per input (each
    /// side of a join hashed by its own keys); `None` takes the stage's `input`.
    pub partitioning: Option<Partitioning>,
}

/// A resolved [`Link`]: the stage fed, its input, and the partitioning in force.
#[derive(Clone, Debug)]
pub(super) struct Edge {
    pub stage: usize,
    pub input: usize,
    pub partitioning: Partitioning,
    /// Whether the partitioning is the edge's own rather than the stage's `input`.
    pub own: bool,
}

/// A later stage: operator instances fed by an exchange, optionally ending in a sink.
#[derive(Clone)]
pub struct Stage {
    /// The stage's name, e.g. `window`.
    pub name: String,
    /// How the previous stage's output is distributed to this stage's instances.
    pub input: Partitioning,
    /// The schema of the rows entering the stage, where the planner states it: a scale-out
    /// job that repartitions them through a Kafka topic reads them back with it.
    pub input_schema: Option<arrow::datatypes::SchemaRef>,
    /// Number of instances.
    pub parallelism: usize,
    /// The operators, in order.
    pub chain: Vec<OperatorFactory>,
    /// A sink after the last operator, if this stage ends the job.
    pub sink: Option<SinkFactory>,
    /// Where the rows go when not to input 0 of the next stage in line (a branch of a
    /// two-input stage); `None` for the next stage, and for the last stage.
    pub output: Option<Link>,
}

/// A dataflow: source stages and operator stages, a tree flowing into the last stage. Sources
/// that feed one stage together are a `UNION ALL`; stages are listed so that each feeds a
/// later one.
#[derive(Clone)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Where rows come from: at least one source stage, each with its own name.
    pub sources: Vec<SourceStage>,
    /// What happens to them, each stage before the ones it feeds; the last stage has a sink.
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
    /// The handle that stops the job and reads its progress while it runs.
    pub control: JobControl,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            checkpoints: None,
            channel_capacity: 16,
            idle_poll: Duration::from_millis(5),
            side_outputs: SideOutputs::default(),
            control: JobControl::default(),
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
    /// Whether the job stopped at its last checkpoint when asked to
    /// ([`JobControl::stop`]), rather than finishing its input.
    pub stopped: bool,
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
    /// Each source's edge, then each stage's (`None` for the last stage).
    pub(super) fn edges(&self) -> (Vec<Edge>, Vec<Option<Edge>>) {
        let resolve = |link: &Link| Edge {
            stage: link.stage,
            input: link.input,
            partitioning: link.partitioning.clone().unwrap_or_else(|| {
                self.stages
                    .get(link.stage)
                    .map_or(Partitioning::Rebalance, |s| s.input.clone())
            }),
            own: link.partitioning.is_some(),
        };
        let sources = self.sources.iter().map(|s| resolve(&s.output)).collect();
        let last = self.stages.len().saturating_sub(1);
        let stages = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| match (&s.output, i < last) {
                (Some(link), _) => Some(resolve(link)),
                (None, true) => Some(resolve(&Link {
                    stage: i + 1,
                    ..Link::default()
                })),
                (None, false) => None,
            })
            .collect();
        (sources, stages)
    }

    pub(super) fn validate(&self) -> Result<()> {
        if self.stages.is_empty() || self.stages.last().is_some_and(|s| s.sink.is_none()) {
            return Err(EngineError::plan(
                "the last stage of a job must end in a sink",
            ));
        }
        if self.sources.is_empty() {
            return Err(EngineError::plan("a job needs a source"));
        }
        let (source_edges, stage_edges) = self.edges();
        let last = self.stages.len() - 1;
        if self.stages[last].output.is_some() {
            return Err(EngineError::plan(format!(
                "stage {} is the last, so it cannot feed another",
                self.stages[last].name
            )));
        }
        // (name, parallelism, edge) of everything that feeds a stage.
        let mut upstream: Vec<(&str, usize, &Edge)> = Vec::new();
        for (source, edge) in self.sources.iter().zip(&source_edges) {
            if edge.stage >= self.stages.len() {
                return Err(EngineError::plan(format!(
                    "{} feeds stage {}, which does not exist",
                    source.name, edge.stage
                )));
            }
            upstream.push((&source.name, source.parallelism, edge));
        }
        for (i, (stage, edge)) in self.stages.iter().zip(&stage_edges).enumerate() {
            if stage.parallelism == 0 {
                return Err(EngineError::plan(format!(
                    "stage {} has parallelism 0",
                    stage.name
                )));
            }
            if let Some(edge) = edge {
                if edge.stage <= i || edge.stage > last {
                    return Err(EngineError::plan(format!(
                        "stage {} must feed a later stage, not stage {}",
                        stage.name, edge.stage
                    )));
                }
                upstream.push((&stage.name, stage.parallelism, edge));
            }
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let feeds: Vec<&(&str, usize, &Edge)> =
                upstream.iter().filter(|(_, _, e)| e.stage == i).collect();
            let inputs = feeds
                .iter()
                .map(|(_, _, e)| e.input)
                .max()
                .map_or(0, |m| m + 1);
            if let Some(missing) =
                (0..inputs.max(1)).find(|n| feeds.iter().all(|f| f.2.input != *n))
            {
                return Err(EngineError::plan(format!(
                    "nothing feeds input {missing} of stage {}",
                    stage.name
                )));
            }
            for (name, parallelism, edge) in &feeds {
                if !matches!(edge.partitioning, Partitioning::Forward) {
                    continue;
                }
                if feeds.len() > 1 {
                    return Err(EngineError::plan(format!(
                        "stage {} reads {} inputs, so it cannot be FORWARD-connected",
                        stage.name,
                        feeds.len()
                    )));
                }
                if *parallelism != stage.parallelism {
                    return Err(EngineError::plan(format!(
                        "stage {} is FORWARD-connected but has parallelism {} after {} of {name}",
                        stage.name, stage.parallelism, parallelism
                    )));
                }
            }
            let names = self
                .sources
                .iter()
                .map(|s| &s.name)
                .chain(self.stages.iter().map(|s| &s.name));
            if names.filter(|n| **n == stage.name).count() > 1 {
                return Err(EngineError::plan(format!(
                    "two stages are named {}; task names must be unique",
                    stage.name
                )));
            }
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
        let (source_edges, stage_edges) = self.edges();
        for (n, stage) in self.sources.iter().enumerate() {
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
            if let Some(made) = source.made_columns() {
                let _ = writeln!(
                    out,
                    "    project=[{}] (only what the query reads; the rest is NULL)",
                    made.join(", ")
                );
            }
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
            if stage.output.partitioning.is_some() || stage.output.stage > 0 {
                let _ = writeln!(out, "    {}", self.describe_edge(&source_edges[n]));
            }
        }
        for (i, s) in self.stages.iter().enumerate() {
            let si = info(&s.name);
            let input = if self.inputs_own_partitioning(i, &source_edges, &stage_edges) {
                "per input (above)".to_string()
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
            if let (Some(_), Some(edge)) = (&s.output, &stage_edges[i]) {
                let _ = writeln!(out, "    {}", self.describe_edge(edge));
            }
        }
        Ok(out)
    }

    /// `=> input N of STAGE, PARTITIONING`, for plans.
    fn describe_edge(&self, edge: &Edge) -> String {
        format!(
            "=> input {} of {}, {}",
            edge.input, self.stages[edge.stage].name, edge.partitioning
        )
    }

    /// Whether every input of stage `i` comes with its own partitioning (a join's sides).
    fn inputs_own_partitioning(&self, i: usize, sources: &[Edge], stages: &[Option<Edge>]) -> bool {
        let mut feeds = sources
            .iter()
            .chain(stages.iter().flatten())
            .filter(|e| e.stage == i);
        let first = feeds.next();
        first.is_some_and(|e| e.own) && feeds.all(|e| e.own)
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
