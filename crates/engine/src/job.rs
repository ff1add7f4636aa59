//! A job: the dataflow graph (a source stage, then operator stages joined by exchanges), and
//! the runtime that runs it as tokio tasks with aligned-barrier checkpoints.

use std::fmt::Write as _;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::checkpoint::{CheckpointStore, Manifest};
use crate::error::{EngineError, Result};
use crate::exchange::{ExchangeSender, Partitioning};
use crate::message::{EventTime, Message, Watermark};
use crate::metrics::TaskMetrics;
use crate::operator::{Chain, Emitted, OperatorFactory, Output, TaskInfo};
use crate::side_output::SideOutputs;
use crate::sink::{SinkFactory, SinkOperator};
use crate::source::{Source, SourceFactory, SourcePoll};
use crate::state_codec::{StateReader, StateWriter};
use crate::time::{InputWatermarks, PartitionWatermarks, WatermarkStrategy};
use crate::window::rowtime_values;

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

/// A dataflow: a source stage followed by operator stages, in a line.
#[derive(Clone)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Where rows come from.
    pub source: SourceStage,
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
    fn validate(&self) -> Result<()> {
        if self.stages.is_empty() || self.stages.last().is_some_and(|s| s.sink.is_none()) {
            return Err(EngineError::plan(
                "the last stage of a job must end in a sink",
            ));
        }
        let mut prev = self.source.parallelism;
        for s in &self.stages {
            if s.parallelism == 0 {
                return Err(EngineError::plan(format!(
                    "stage {} has parallelism 0",
                    s.name
                )));
            }
            if matches!(s.input, Partitioning::Forward) && s.parallelism != prev {
                return Err(EngineError::plan(format!(
                    "stage {} is FORWARD-connected but has parallelism {} after {}",
                    s.name, s.parallelism, prev
                )));
            }
            prev = s.parallelism;
        }
        Ok(())
    }

    fn task_names(&self) -> Vec<Vec<String>> {
        let mut all = vec![
            (0..self.source.parallelism)
                .map(|i| format!("{}[{i}]", self.source.name))
                .collect(),
        ];
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
        let src_info = info(&self.source.name);
        let source = (self.source.source)(&src_info)?;
        let _ = writeln!(out, "Job {}", self.name);
        let _ = writeln!(
            out,
            "  {} (parallelism {}), schema: {}",
            self.source.name,
            self.source.parallelism,
            source.schema()
        );
        if let Some(w) = &self.source.watermarks {
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
        for f in &self.source.chain {
            let _ = writeln!(out, "    -> {}", f(&src_info)?.name());
        }
        for s in &self.stages {
            let si = info(&s.name);
            let _ = writeln!(
                out,
                "  {} (parallelism {}), input {}",
                s.name, s.parallelism, s.input
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

/// Messages from tasks to the checkpoint coordinator.
enum Ack {
    /// A task's state for a checkpoint.
    State {
        checkpoint: u64,
        task: usize,
        state: Vec<u8>,
    },
    /// A task finished its input; its final state (a sink's pending output).
    Finished { task: usize, state: Vec<u8> },
}

/// The checkpoint id under which tasks snapshot their final state once their input is
/// exhausted, and with which `checkpoint_complete` (so [`crate::sink::Sink::commit`]) is
/// called once that final checkpoint is durable. The final checkpoint's id in storage is
/// assigned later by the coordinator, so tasks cannot know it when they snapshot; using one
/// fixed id for both phases keeps prepare and commit consistent.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

pub(crate) const DOWNSTREAM_STOPPED: &str = "downstream task stopped";
const COORDINATOR_STOPPED: &str = "the checkpoint coordinator stopped";
const STOPPED_BEFORE_FINAL: &str = "the job stopped before its final checkpoint";

/// What the coordinator tells all tasks: the last completed checkpoint, and whether it is the
/// final one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Completed {
    checkpoint: u64,
    is_final: bool,
}

struct TaskContext {
    info: TaskInfo,
    index: usize,
    acks: mpsc::UnboundedSender<Ack>,
    completed: watch::Receiver<Completed>,
    restored: Option<Vec<u8>>,
}

impl TaskContext {
    fn ack(&self, ack: Ack) -> Result<()> {
        self.acks.send(ack).map_err(|_| EngineError::Task {
            task: self.info.name.clone(),
            message: COORDINATOR_STOPPED.into(),
        })
    }

    /// After finishing: waits for the final checkpoint, then lets the chain commit what it
    /// prepared under [`FINAL_CHECKPOINT`].
    async fn await_final(&mut self, commit: impl FnOnce(u64) -> Result<()>) -> Result<()> {
        self.completed
            .wait_for(|c| c.is_final)
            .await
            .map_err(|_| EngineError::Task {
                task: self.info.name.clone(),
                message: STOPPED_BEFORE_FINAL.into(),
            })?;
        commit(FINAL_CHECKPOINT)
    }
}

/// Runs a job to completion (bounded sources) or until it fails.
pub async fn run(graph: JobGraph, config: JobConfig) -> Result<JobReport> {
    graph.validate()?;
    let fingerprint = graph.fingerprint()?;
    let names = graph.task_names();
    let flat_names: Vec<String> = names.iter().flatten().cloned().collect();
    let manifest: Option<Manifest> = match &config.checkpoints {
        Some((store, _)) => store.latest(&fingerprint).await?,
        None => None,
    };
    let mut restored_states = Vec::with_capacity(flat_names.len());
    for name in &flat_names {
        let state = match (&manifest, &config.checkpoints) {
            (Some(m), Some((store, _))) => store.task_state(m, name).await?.map(|b| b.to_vec()),
            _ => None,
        };
        restored_states.push(state);
    }
    let metrics: Vec<Arc<TaskMetrics>> = flat_names
        .iter()
        .map(|_| Arc::new(TaskMetrics::new()))
        .collect();
    let report_tasks = flat_names
        .iter()
        .cloned()
        .zip(metrics.iter().cloned())
        .collect();
    let restored_from = manifest.as_ref().map(|m| m.checkpoint_id);
    if manifest.as_ref().is_some_and(|m| m.finished) {
        // Everything ran already; only make sure the sinks committed the final output.
        commit_finished_sinks(&graph, &names, &restored_states, &config, &metrics)?;
        return Ok(JobReport {
            tasks: report_tasks,
            restored_from,
            checkpoints: 0,
            already_finished: true,
        });
    }

    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let start_id = restored_from.unwrap_or(0);
    let (completed_tx, completed_rx) = watch::channel(Completed {
        checkpoint: start_id,
        is_final: false,
    });
    let mut join = JoinSet::new();
    let mut trigger_txs = Vec::new();
    let mut index = 0usize;
    let make_ctx = |index: usize,
                    stage_name: &str,
                    instance: usize,
                    parallelism: usize,
                    restored: &mut Vec<Option<Vec<u8>>>| TaskContext {
        info: TaskInfo {
            name: format!("{stage_name}[{instance}]"),
            instance,
            parallelism,
            side_outputs: config.side_outputs.clone(),
            metrics: Arc::clone(&metrics[index]),
        },
        index,
        acks: ack_tx.clone(),
        completed: completed_rx.clone(),
        restored: restored[index].take(),
    };

    // Channels into each later stage: one receiver per (instance, upstream instance).
    let mut stage_inputs: Vec<Vec<Vec<mpsc::Receiver<Message>>>> = Vec::new();
    let mut stage_senders: Vec<Vec<Vec<mpsc::Sender<Message>>>> = Vec::new();
    let mut upstream = graph.source.parallelism;
    for stage in &graph.stages {
        // senders[u][d]: from upstream instance u to downstream instance d.
        let mut senders = vec![Vec::new(); upstream];
        let mut receivers: Vec<Vec<mpsc::Receiver<Message>>> =
            (0..stage.parallelism).map(|_| Vec::new()).collect();
        for (u, row) in senders.iter_mut().enumerate() {
            for (d, inputs) in receivers.iter_mut().enumerate() {
                let connected = !matches!(stage.input, Partitioning::Forward) || u == d;
                if connected {
                    let (tx, rx) = mpsc::channel(config.channel_capacity);
                    row.push(tx);
                    inputs.push(rx);
                }
            }
        }
        stage_inputs.push(receivers);
        stage_senders.push(senders);
        upstream = stage.parallelism;
    }

    // Source tasks.
    let first_input = graph.stages[0].input.clone();
    for (instance, targets) in std::mem::take(&mut stage_senders[0])
        .into_iter()
        .enumerate()
    {
        let ctx = make_ctx(
            index,
            &graph.source.name,
            instance,
            graph.source.parallelism,
            &mut restored_states,
        );
        index += 1;
        let (trigger_tx, trigger_rx) = mpsc::unbounded_channel();
        trigger_txs.push(trigger_tx);
        let source = (graph.source.source)(&ctx.info)?;
        let chain = build_chain(&graph.source.chain, None, &ctx.info)?;
        let exchange = ExchangeSender::new(first_input.clone(), targets, ctx.info.name.clone());
        let task = SourceTask {
            source,
            chain,
            exchange,
            watermarks: graph.source.watermarks.clone(),
            triggers: trigger_rx,
            idle_poll: config.idle_poll,
        };
        join.spawn(task.run(ctx));
    }
    // Operator tasks.
    for (s, stage) in graph.stages.iter().enumerate() {
        let inputs = std::mem::take(&mut stage_inputs[s]);
        let mut outputs = if s + 1 < graph.stages.len() {
            std::mem::take(&mut stage_senders[s + 1])
        } else {
            vec![Vec::new(); stage.parallelism]
        };
        let next_input = graph.stages.get(s + 1).map(|n| n.input.clone());
        for (instance, receivers) in inputs.into_iter().enumerate() {
            let ctx = make_ctx(
                index,
                &stage.name,
                instance,
                stage.parallelism,
                &mut restored_states,
            );
            index += 1;
            let chain = build_chain(&stage.chain, stage.sink.as_ref(), &ctx.info)?;
            let exchange = match &next_input {
                Some(p) => ExchangeSender::new(
                    p.clone(),
                    std::mem::take(&mut outputs[instance]),
                    ctx.info.name.clone(),
                ),
                None => ExchangeSender::none(ctx.info.name.clone()),
            };
            join.spawn(
                OperatorTask {
                    inputs: receivers,
                    chain,
                    exchange,
                }
                .run(ctx),
            );
        }
    }
    drop(ack_tx);

    let coordinator = Coordinator {
        job: graph.name.clone(),
        fingerprint,
        names: flat_names,
        sources: graph.source.parallelism,
        store: config.checkpoints.clone(),
        triggers: trigger_txs,
        completed: completed_tx,
        next_id: start_id + 1,
        completed_count: 0,
    };
    let coordination = coordinator.run(ack_rx);
    tokio::pin!(coordination);
    let mut coordinator_result: Option<Result<u64>> = None;
    loop {
        tokio::select! {
            res = &mut coordination, if coordinator_result.is_none() => {
                if let Err(e) = res {
                    // The coordinator fails when every task stopped without finishing, or when
                    // checkpoint storage fails; a task's own error says more in the first case.
                    let e = EngineError::Task { task: "checkpoint coordinator".into(), message: e.to_string() };
                    return Err(first_failure(&mut join, e).await);
                }
                coordinator_result = Some(res);
            }
            next = join.join_next() => match next {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(first_failure(&mut join, e).await),
                Some(Err(e)) => {
                    let e = EngineError::Task { task: "task".into(), message: join_error_message(e) };
                    return Err(first_failure(&mut join, e).await);
                }
            }
        }
    }
    let checkpoints = match coordinator_result {
        Some(r) => r?,
        None => coordination.await?,
    };
    Ok(JobReport {
        tasks: report_tasks,
        restored_from,
        checkpoints,
        already_finished: false,
    })
}

/// Whether an error only reports that another task stopped (so it is not the cause).
fn is_consequence(e: &EngineError) -> bool {
    matches!(e, EngineError::Task { task, message }
        if task == "checkpoint coordinator"
            || message == DOWNSTREAM_STOPPED
            || message == COORDINATOR_STOPPED
            || message == STOPPED_BEFORE_FINAL)
}

fn join_error_message(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        let payload = e.into_panic();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("panicked: {text}")
    } else {
        e.to_string()
    }
}

/// After a failure: stops the remaining tasks and returns the error that caused it, i.e. the
/// first one that does not merely report another task stopping.
async fn first_failure(join: &mut JoinSet<Result<()>>, first: EngineError) -> EngineError {
    // Tasks that have already failed are reaped before the rest are aborted, so that a
    // panic or a connector error is not hidden behind "downstream task stopped".
    let mut errors = vec![first];
    while let Some(next) = join.try_join_next() {
        match next {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) if e.is_cancelled() => {}
            Err(e) => errors.push(EngineError::Task {
                task: "task".into(),
                message: join_error_message(e),
            }),
        }
    }
    join.abort_all();
    while let Some(next) = join.join_next().await {
        match next {
            Ok(Err(e)) => errors.push(e),
            Err(e) if e.is_panic() => errors.push(EngineError::Task {
                task: "task".into(),
                message: join_error_message(e),
            }),
            _ => {}
        }
    }
    match errors.iter().position(|e| !is_consequence(e)) {
        Some(i) => errors.swap_remove(i),
        None => errors.swap_remove(0),
    }
}

fn build_chain(
    factories: &[OperatorFactory],
    sink: Option<&SinkFactory>,
    info: &TaskInfo,
) -> Result<Chain> {
    let mut ops = factories
        .iter()
        .map(|f| f(info))
        .collect::<Result<Vec<_>>>()?;
    if let Some(sink) = sink {
        ops.push(Box::new(SinkOperator::new(sink(info)?, info.clone())));
    }
    Ok(Chain::new(ops))
}

/// A finished checkpoint was found: rebuild the sink chains and let them commit what the
/// final checkpoint holds.
fn commit_finished_sinks(
    graph: &JobGraph,
    names: &[Vec<String>],
    states: &[Option<Vec<u8>>],
    config: &JobConfig,
    metrics: &[Arc<TaskMetrics>],
) -> Result<()> {
    let mut index = names[0].len();
    for (s, stage) in graph.stages.iter().enumerate() {
        for (instance, name) in names[s + 1].iter().enumerate() {
            if let Some(sink) = &stage.sink {
                let info = TaskInfo {
                    name: name.clone(),
                    instance,
                    parallelism: stage.parallelism,
                    side_outputs: config.side_outputs.clone(),
                    metrics: Arc::clone(&metrics[index]),
                };
                let ops = decode_chain_states(states[index].as_deref(), &info.name)?;
                let mut op = SinkOperator::new(sink(&info)?, info);
                crate::operator::Operator::restore(
                    &mut op,
                    ops.as_ref().and_then(|o| o.last()).map(|v| v.as_slice()),
                )?;
            }
            index += 1;
        }
    }
    Ok(())
}

fn encode_chain_states(states: Vec<Vec<u8>>) -> Vec<u8> {
    let mut w = StateWriter::new();
    w.u64(states.len() as u64);
    for s in &states {
        w.bytes(s);
    }
    w.finish()
}

fn decode_chain_states(state: Option<&[u8]>, task: &str) -> Result<Option<Vec<Vec<u8>>>> {
    let Some(state) = state else { return Ok(None) };
    let mut r = StateReader::new(state, task);
    let n = r.u64()?;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(r.bytes()?.to_vec());
    }
    Ok(Some(out))
}

/// Sends what a chain emitted into the exchange.
async fn flush(
    out: &mut Output,
    exchange: &mut ExchangeSender,
    metrics: &TaskMetrics,
) -> Result<()> {
    for item in out.take() {
        match item {
            Emitted::Data(b) => {
                TaskMetrics::add(&metrics.rows_out, b.num_rows() as u64);
                exchange.send_batch(b).await?
            }
            Emitted::Watermark(w) => {
                exchange
                    .broadcast(Message::Watermark(Watermark::EventTime(w)))
                    .await?
            }
        }
    }
    Ok(())
}

struct SourceTask {
    source: Box<dyn Source>,
    chain: Chain,
    exchange: ExchangeSender,
    watermarks: Option<WatermarkStrategy>,
    triggers: mpsc::UnboundedReceiver<u64>,
    idle_poll: Duration,
}

impl SourceTask {
    async fn run(mut self, mut ctx: TaskContext) -> Result<()> {
        let metrics = Arc::clone(&ctx.info.metrics);
        match ctx.restored.take() {
            Some(state) => {
                let mut r = StateReader::new(&state, &ctx.info.name);
                self.source.restore(Some(r.bytes()?))?;
                let chain = decode_chain_states(Some(r.bytes()?), &ctx.info.name)?;
                self.chain.restore(chain.as_deref())?;
            }
            None => {
                self.source.restore(None)?;
                self.chain.restore(None)?;
            }
        }
        let partitions = self.source.partitions().len();
        let mut wm = self.watermarks.as_ref().map(|w| {
            PartitionWatermarks::new(partitions, w.max_out_of_orderness_ms, w.idle_timeout)
        });
        let mut out = Output::default();
        let mut last_completed = ctx.completed.borrow().checkpoint;
        let tick = self.chain.tick_interval();
        let mut next_tick = tick.map(|t| Instant::now() + t);
        let mut idle_sent = false;
        loop {
            while let Ok(id) = self.triggers.try_recv() {
                let mut w = StateWriter::new();
                w.bytes(&self.source.snapshot()?);
                w.bytes(&encode_chain_states(self.chain.snapshot(id)?));
                self.exchange.broadcast(Message::Barrier(id)).await?;
                ctx.ack(Ack::State {
                    checkpoint: id,
                    task: ctx.index,
                    state: w.finish(),
                })?;
            }
            let completed = *ctx.completed.borrow();
            if completed.checkpoint > last_completed {
                last_completed = completed.checkpoint;
                self.source.checkpoint_complete(last_completed)?;
                self.chain.checkpoint_complete(last_completed)?;
            }
            if let (Some(t), Some(at)) = (tick, next_tick)
                && Instant::now() >= at
            {
                self.chain.tick(&mut out)?;
                flush(&mut out, &mut self.exchange, &metrics).await?;
                next_tick = Some(Instant::now() + t);
            }
            let now = Instant::now();
            match self.source.poll()? {
                SourcePoll::Batch { partition, batch } => {
                    TaskMetrics::add(&metrics.rows_in, batch.num_rows() as u64);
                    if let (Some(generator), Some(strategy)) = (wm.as_mut(), &self.watermarks) {
                        let times = rowtime_values(&batch, strategy.rowtime_column)?;
                        generator.observe(partition, times.iter().max().copied(), now);
                        // Active again after reporting idleness: hold the downstream minimum
                        // at this input's watermark again from now on.
                        if idle_sent && let Some(current) = generator.current() {
                            self.exchange
                                .broadcast(Message::Watermark(Watermark::EventTime(current)))
                                .await?;
                        }
                    }
                    self.chain.push_batch(batch, &mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                    idle_sent = false;
                }
                SourcePoll::Idle => {
                    self.emit_watermark(wm.as_mut(), &mut out, &metrics, &mut idle_sent)
                        .await?;
                    tokio::time::sleep(self.idle_poll).await;
                    continue;
                }
                SourcePoll::PartitionFinished(p) => {
                    if let Some(generator) = wm.as_mut() {
                        generator.finish(p);
                    }
                }
                SourcePoll::Finished => break,
            }
            self.emit_watermark(wm.as_mut(), &mut out, &metrics, &mut idle_sent)
                .await?;
        }
        // Bounded input exhausted: the final watermark fires every open window.
        self.chain.push_watermark(EventTime::MAX, &mut out)?;
        self.chain.finish(&mut out)?;
        flush(&mut out, &mut self.exchange, &metrics).await?;
        self.exchange.broadcast(Message::End).await?;
        let mut w = StateWriter::new();
        w.bytes(&self.source.snapshot()?);
        w.bytes(&encode_chain_states(self.chain.snapshot(FINAL_CHECKPOINT)?));
        ctx.ack(Ack::Finished {
            task: ctx.index,
            state: w.finish(),
        })?;
        let (source, chain) = (&mut self.source, &mut self.chain);
        ctx.await_final(|id| {
            source.checkpoint_complete(id)?;
            chain.checkpoint_complete(id)
        })
        .await
    }

    async fn emit_watermark(
        &mut self,
        generator: Option<&mut PartitionWatermarks>,
        out: &mut Output,
        metrics: &TaskMetrics,
        idle_sent: &mut bool,
    ) -> Result<()> {
        let Some(generator) = generator else {
            return Ok(());
        };
        match generator.advance(Instant::now()) {
            Some(Watermark::EventTime(t)) => {
                metrics
                    .watermark
                    .store(t, std::sync::atomic::Ordering::Relaxed);
                self.chain.push_watermark(t, out)?;
                flush(out, &mut self.exchange, metrics).await?;
                *idle_sent = false;
            }
            Some(Watermark::Idle) if !*idle_sent => {
                self.exchange
                    .broadcast(Message::Watermark(Watermark::Idle))
                    .await?;
                *idle_sent = true;
            }
            _ => {}
        }
        Ok(())
    }
}

struct OperatorTask {
    inputs: Vec<mpsc::Receiver<Message>>,
    chain: Chain,
    exchange: ExchangeSender,
}

impl OperatorTask {
    async fn run(mut self, mut ctx: TaskContext) -> Result<()> {
        let metrics = Arc::clone(&ctx.info.metrics);
        let restored = decode_chain_states(ctx.restored.take().as_deref(), &ctx.info.name)?;
        self.chain.restore(restored.as_deref())?;
        let n = self.inputs.len();
        let mut blocked = vec![false; n];
        let mut ended = vec![false; n];
        let mut aligning: Option<u64> = None;
        let mut wms = InputWatermarks::new(n);
        let mut out = Output::default();
        let mut completed_rx = ctx.completed.clone();
        let mut last_completed = completed_rx.borrow().checkpoint;
        let tick = self.chain.tick_interval();
        let mut ticker = tick.map(|t| {
            let mut i = tokio::time::interval(t);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let mut rr = 0usize;
        let mut idle_sent = false;
        loop {
            if ended.iter().all(|e| *e) {
                break;
            }
            let next = tokio::select! {
                m = next_message(&mut self.inputs, &blocked, &ended, &mut rr) => Some(m),
                _ = async { ticker.as_mut().expect("guarded").tick().await }, if ticker.is_some() => {
                    self.chain.tick(&mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                    None
                }
                changed = completed_rx.changed() => {
                    if changed.is_ok() {
                        let c = *completed_rx.borrow();
                        if c.checkpoint > last_completed && !c.is_final {
                            last_completed = c.checkpoint;
                            self.chain.checkpoint_complete(c.checkpoint)?;
                        }
                    }
                    None
                }
            };
            let Some((i, msg)) = next else { continue };
            match msg {
                Message::Data(batch) => {
                    TaskMetrics::add(&metrics.rows_in, batch.num_rows() as u64);
                    self.chain.push_batch(batch, &mut out)?;
                    flush(&mut out, &mut self.exchange, &metrics).await?;
                }
                Message::Watermark(w) => {
                    self.on_watermark(i, w, &mut wms, &mut idle_sent, &mut out, &metrics)
                        .await?;
                }
                Message::Barrier(id) => {
                    blocked[i] = true;
                    aligning = Some(id);
                }
                Message::End => {
                    ended[i] = true;
                    // An ended input no longer holds the minimum back, which may advance it.
                    if !ended.iter().all(|e| *e) {
                        self.on_watermark(
                            i,
                            Watermark::Idle,
                            &mut wms,
                            &mut idle_sent,
                            &mut out,
                            &metrics,
                        )
                        .await?;
                    }
                }
            }
            if let Some(id) = aligning
                && (0..n).all(|j| blocked[j] || ended[j])
            {
                let state = encode_chain_states(self.chain.snapshot(id)?);
                self.exchange.broadcast(Message::Barrier(id)).await?;
                ctx.ack(Ack::State {
                    checkpoint: id,
                    task: ctx.index,
                    state,
                })?;
                blocked.iter_mut().for_each(|b| *b = false);
                aligning = None;
            }
        }
        self.chain.finish(&mut out)?;
        flush(&mut out, &mut self.exchange, &metrics).await?;
        self.exchange.broadcast(Message::End).await?;
        let state = encode_chain_states(self.chain.snapshot(FINAL_CHECKPOINT)?);
        ctx.ack(Ack::Finished {
            task: ctx.index,
            state,
        })?;
        let chain = &mut self.chain;
        ctx.await_final(|id| chain.checkpoint_complete(id)).await
    }
}

impl OperatorTask {
    /// Takes a watermark (or idleness) from input `i`: pushes the combined watermark through
    /// the chain when it advances, reports idleness once all inputs are idle, and re-announces
    /// the current watermark when an input turns active after idleness was reported.
    async fn on_watermark(
        &mut self,
        i: usize,
        w: Watermark,
        wms: &mut InputWatermarks,
        idle_sent: &mut bool,
        out: &mut Output,
        metrics: &TaskMetrics,
    ) -> Result<()> {
        if let Some(t) = wms.update(i, w) {
            metrics
                .watermark
                .store(t, std::sync::atomic::Ordering::Relaxed);
            self.chain.push_watermark(t, out)?;
            flush(out, &mut self.exchange, metrics).await?;
            *idle_sent = false;
        } else if wms.all_idle() {
            if !*idle_sent {
                self.exchange
                    .broadcast(Message::Watermark(Watermark::Idle))
                    .await?;
                *idle_sent = true;
            }
        } else if *idle_sent {
            if let Some(t) = wms.current() {
                self.exchange
                    .broadcast(Message::Watermark(Watermark::EventTime(t)))
                    .await?;
            }
            *idle_sent = false;
        }
        Ok(())
    }
}

/// Receives the next message from any input that is neither blocked (aligning) nor ended,
/// taking inputs in turn so none starves.
async fn next_message(
    inputs: &mut [mpsc::Receiver<Message>],
    blocked: &[bool],
    ended: &[bool],
    rr: &mut usize,
) -> (usize, Message) {
    let n = inputs.len();
    poll_fn(|cx| {
        for k in 0..n {
            let i = (*rr + k) % n;
            if blocked[i] || ended[i] {
                continue;
            }
            match inputs[i].poll_recv(cx) {
                Poll::Ready(Some(m)) => {
                    *rr = i + 1;
                    return Poll::Ready((i, m));
                }
                // A closed channel without End means the upstream task failed; the job
                // runner sees that failure, so treat it as an end here.
                Poll::Ready(None) => return Poll::Ready((i, Message::End)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

struct Coordinator {
    job: String,
    fingerprint: String,
    names: Vec<String>,
    sources: usize,
    store: Option<(CheckpointStore, Duration)>,
    triggers: Vec<mpsc::UnboundedSender<u64>>,
    completed: watch::Sender<Completed>,
    next_id: u64,
    completed_count: u64,
}

/// A checkpoint in progress: its id, the states acknowledged so far, when it was triggered.
type PendingCheckpoint = (u64, Vec<Option<Vec<u8>>>, Instant);

impl Coordinator {
    /// Triggers periodic checkpoints, collects task states, writes checkpoints and tells the
    /// tasks; ends after the final checkpoint. Returns the number of checkpoints completed.
    async fn run(mut self, mut acks: mpsc::UnboundedReceiver<Ack>) -> Result<u64> {
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
