//! A job: the dataflow graph (source stages and operator stages joined by exchanges), and
//! the runtime that runs it as tokio tasks with aligned-barrier checkpoints.
//!
//! - `graph`: what a job is (stages, configuration, report), its plan text and fingerprint.
//! - `protocol`: what tasks and the checkpoint coordinator tell each other.
//! - `tasks`: the source task and the operator task (with barrier alignment).
//! - `coordinator`: triggering, collecting and writing checkpoints.
//! - here: [`run`], which wires the tasks together, restores them and reports.

mod control;
mod coordinator;
mod graph;
pub(crate) mod protocol;
mod tasks;

pub use control::{CheckpointInfo, JobControl, JobStatus};
pub use graph::{JobConfig, JobGraph, JobReport, Link, SourceStage, Stage};
pub use protocol::FINAL_CHECKPOINT;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::checkpoint::Manifest;
use crate::error::{EngineError, Result};
use crate::exchange::{ExchangeSender, Partitioning};
use crate::message::Message;
use crate::metrics::TaskMetrics;
use crate::operator::{Chain, OperatorFactory, TaskInfo};
use crate::sink::{SinkFactory, SinkOperator};
use coordinator::Coordinator;
use protocol::{
    COORDINATOR_STOPPED, Completed, DOWNSTREAM_STOPPED, STOPPED_BEFORE_FINAL, TaskContext,
};
use tasks::{OperatorTask, SourceTask, decode_chain_states};

/// A channel into an operator task, with the input of the task's first operator it feeds.
type InputChannel = (usize, mpsc::Receiver<Message>);

/// Runs a job to completion (bounded sources), until it fails, or until it is stopped through
/// [`JobConfig::control`].
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
    let report_tasks = metrics_named(&flat_names, &metrics);
    let restored_from = manifest.as_ref().map(|m| m.checkpoint_id);
    config
        .control
        .started(metrics_named(&flat_names, &metrics), restored_from);
    if manifest.as_ref().is_some_and(|m| m.finished) {
        // Everything ran already; only make sure the sinks committed the final output.
        commit_finished_sinks(&graph, &names, &restored_states, &config, &metrics)?;
        return Ok(JobReport {
            tasks: report_tasks,
            restored_from,
            checkpoints: 0,
            already_finished: true,
            stopped: false,
        });
    }

    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let start_id = restored_from.unwrap_or(0);
    let (completed_tx, completed_rx) = watch::channel(Completed {
        checkpoint: start_id,
        ..Completed::default()
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

    // Channels: every task that feeds a stage gets one sender per instance of it that it
    // reaches; each instance gets one receiver per task that reaches it, with the input of
    // the stage's first operator that the channel feeds. Tasks are numbered sources first,
    // then stages, in order.
    let (source_edges, stage_edges) = graph.edges();
    let mut feeding: Vec<(&graph::Edge, usize)> = Vec::new(); // per task: its edge, instance
    for (stage, edge) in graph.sources.iter().zip(&source_edges) {
        feeding.extend((0..stage.parallelism).map(|i| (edge, i)));
    }
    let mut last_tasks = 0;
    for (stage, edge) in graph.stages.iter().zip(&stage_edges) {
        match edge {
            Some(edge) => feeding.extend((0..stage.parallelism).map(|i| (edge, i))),
            None => last_tasks += stage.parallelism,
        }
    }
    let mut task_senders: Vec<Vec<mpsc::Sender<Message>>> = Vec::new();
    let mut stage_inputs: Vec<Vec<Vec<InputChannel>>> = graph
        .stages
        .iter()
        .map(|s| (0..s.parallelism).map(|_| Vec::new()).collect())
        .collect();
    for (edge, instance) in &feeding {
        let mut senders = Vec::new();
        for (d, inputs) in stage_inputs[edge.stage].iter_mut().enumerate() {
            if !matches!(edge.partitioning, Partitioning::Forward) || *instance == d {
                let (tx, rx) = mpsc::channel(config.channel_capacity);
                senders.push(tx);
                inputs.push((edge.input, rx));
            }
        }
        task_senders.push(senders);
    }
    task_senders.extend((0..last_tasks).map(|_| Vec::new()));
    let mut task_senders = task_senders.into_iter();

    // Source tasks.
    for (stage, edge) in graph.sources.iter().zip(&source_edges) {
        for instance in 0..stage.parallelism {
            let targets = task_senders.next().expect("senders per task");
            let ctx = make_ctx(
                index,
                &stage.name,
                instance,
                stage.parallelism,
                &mut restored_states,
            );
            index += 1;
            let (trigger_tx, trigger_rx) = mpsc::unbounded_channel();
            trigger_txs.push(trigger_tx);
            let source = (stage.source)(&ctx.info)?;
            let chain = build_chain(&stage.chain, None, &ctx.info)?;
            let exchange =
                ExchangeSender::new(edge.partitioning.clone(), targets, ctx.info.name.clone());
            let task = SourceTask {
                source,
                chain,
                exchange,
                watermarks: stage.watermarks.clone(),
                triggers: trigger_rx,
                idle_poll: config.idle_poll,
            };
            join.spawn(task.run(ctx));
        }
    }
    // Operator tasks.
    for ((stage, edge), inputs) in graph.stages.iter().zip(&stage_edges).zip(stage_inputs) {
        for (instance, receivers) in inputs.into_iter().enumerate() {
            let targets = task_senders.next().expect("senders per task");
            let ctx = make_ctx(
                index,
                &stage.name,
                instance,
                stage.parallelism,
                &mut restored_states,
            );
            index += 1;
            let chain = build_chain(&stage.chain, stage.sink.as_ref(), &ctx.info)?;
            let exchange = match edge {
                Some(edge) => {
                    ExchangeSender::new(edge.partitioning.clone(), targets, ctx.info.name.clone())
                }
                None => ExchangeSender::none(ctx.info.name.clone()),
            };
            let (input_of, receivers) = receivers.into_iter().unzip();
            join.spawn(
                OperatorTask {
                    inputs: receivers,
                    input_of,
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
        sources: graph.source_tasks(),
        store: config.checkpoints.clone(),
        triggers: trigger_txs,
        completed: completed_tx,
        next_id: start_id + 1,
        completed_count: 0,
        control: config.control.clone(),
    };
    let coordination = coordinator.run(ack_rx);
    tokio::pin!(coordination);
    let mut coordinator_result: Option<Result<coordinator::Ended>> = None;
    loop {
        if let Some(Ok(ended)) = &coordinator_result
            && ended.stopped
        {
            // Every task committed the stopping checkpoint and waits: drop them.
            join.shutdown().await;
            return Ok(JobReport {
                tasks: report_tasks,
                restored_from,
                checkpoints: ended.checkpoints,
                already_finished: false,
                stopped: true,
            });
        }
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
    let ended = match coordinator_result {
        Some(r) => r?,
        None => coordination.await?,
    };
    Ok(JobReport {
        tasks: report_tasks,
        restored_from,
        checkpoints: ended.checkpoints,
        already_finished: false,
        stopped: ended.stopped,
    })
}

/// Each task's name with its counters.
fn metrics_named(
    names: &[String],
    metrics: &[Arc<TaskMetrics>],
) -> Vec<(String, Arc<TaskMetrics>)> {
    names.iter().cloned().zip(metrics.iter().cloned()).collect()
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
    let sources = graph.sources.len();
    let mut index = graph.source_tasks();
    for (s, stage) in graph.stages.iter().enumerate() {
        for (instance, name) in names[sources + s].iter().enumerate() {
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
