//! `spate sql run JOB.sql --scale-out`: one job run by several processes that share its Kafka
//! input through the consumer group (`properties.group.id` of its Kafka table), as the
//! instances of a Kafka Streams application do. Start the same command on as many machines as
//! needed; stop or lose one, and the others take over its partitions.
//!
//! The job is cut at its first exchange by key. The part before it runs once per partition
//! of the input topic (reading just that partition) and writes its rows, hashed by key, to a
//! repartition topic `<group>-<stage>-repartition` with as many partitions as the input
//! ([`spate_connectors::kafka::repartition`]); the part after it runs once per partition of
//! the repartition topic. A job without an exchange by key runs whole per input partition.
//!
//! Each process is a member of the group, subscribed to both topics without reading them: the
//! group's assignment says which parts run where. Each part checkpoints into
//! `--checkpoint-dir` under its own name (`input-<p>`, `repartition-<p>`), so the directory
//! must be shared by the processes (on one machine, or a shared mount); a part taken over
//! restores from the checkpoint of the process that ran it. Revoked parts stop before the
//! group hands them to another process; the repartition topic's commit protocol drops what a
//! stopped writer left uncommitted, so nothing is lost or counted twice in idempotent sinks.
//!
//! The member commits the offsets of the parts' completed checkpoints to the group, for both
//! topics, so that Kafka's tools show the group's lag as for any consumer (the broker takes
//! commits of a group with members only from its members). Recovery reads the checkpoints,
//! never these offsets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use spate_connectors::kafka::repartition::{RepartitionSink, RepartitionSource, RepartitionTopic};
use spate_connectors::kafka::source::KafkaSourceConfig;
use spate_connectors::kafka::{MemberCommits, ensure_topic, topic_partitions};
use spate_connectors::side_output::LogSideOutput;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::exchange::Partitioning;
use spate_engine::side_output::SideOutputs;
use spate_engine::{JobConfig, JobGraph, JobReport, Link, SourceStage, Stage};
use spate_log::Log;
use spate_sql::{Connector, PlanOptions, Script, plan_script};
use tokio::task::JoinHandle;

use crate::registry::Registry;

/// A job to run scaled out, parsed and checked.
pub(crate) struct ScaleOutJob {
    /// The job file's statements.
    pub script: Script,
    /// How it is planned (one instance per stage: the processes are the parallelism).
    pub options: PlanOptions,
    /// The embedded log, for dead letters.
    pub log: Log,
    /// The checkpoint directory the processes share.
    pub checkpoints: PathBuf,
    /// The checkpoint interval.
    pub interval: Duration,
}

/// What the runner needs to know of the job's shape.
struct Shape {
    /// The job's name.
    name: String,
    /// The Kafka table read.
    input: KafkaSourceConfig,
    /// The consumer group the processes share.
    group: String,
    /// Where the part after the first exchange by key reads its rows, if there is one.
    repartition: Option<(RepartitionTopic, arrow::datatypes::SchemaRef)>,
}

/// One part of the job: the part reading an input partition, or the part reading a
/// repartition partition.
type Part = (String, i32);

impl ScaleOutJob {
    /// Plans the job with its Kafka source reading only `partition` and handing its offsets
    /// to the member's `commits` (all partitions with `None`).
    fn plan(
        &self,
        partition: Option<(i32, &MemberCommits)>,
    ) -> anyhow::Result<(JobGraph, Registry)> {
        let registry = match partition {
            Some((p, commits)) => Registry::reading_partition(self.log.clone(), p, commits.clone()),
            None => Registry::new(self.log.clone()),
        };
        let mut graphs = plan_script(&self.script, &registry, &self.options)?;
        if graphs.len() != 1 {
            bail!(
                "a scale-out job has one INSERT statement; this one has {}",
                graphs.len()
            );
        }
        Ok((graphs.remove(0), registry))
    }

    /// Checks that the job can be scaled out and finds its input, group and repartition topic.
    fn shape(&self) -> anyhow::Result<Shape> {
        let (graph, registry) = self.plan(None)?;
        let mut inputs = registry.kafka_sources();
        if graph.sources.len() != 1 || inputs.len() != 1 {
            bail!(
                "a scale-out job reads one Kafka table (its partitions are what the processes \
                 share); this one reads {}",
                graph
                    .sources
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (table, connector) in registry.sinks_built() {
            if matches!(
                connector,
                Connector::Filesystem | Connector::SpateLog | Connector::SpateStore
            ) {
                bail!(
                    "table {table}: a scale-out job writes to shared systems (kafka, jdbc, clickhouse, \
                     mqtt); the {} sinks of several processes would overwrite each other",
                    connector.name()
                );
            }
        }
        let input = inputs.remove(0);
        let group = input.properties.get("group.id").cloned().with_context(|| {
            format!(
                "the Kafka table of topic {} needs 'properties.group.id': the processes of a \
                     scale-out job share its partitions through that consumer group",
                input.topic
            )
        })?;
        let keyed = graph
            .stages
            .iter()
            .position(|s| matches!(s.input, Partitioning::Hash(_)));
        let repartition = match keyed {
            None => None,
            Some(0) if graph.sources[0].output.partitioning.is_none() => {
                let stage = &graph.stages[0];
                let schema = stage.input_schema.clone().with_context(|| {
                    format!("stage {} does not state its input's schema", stage.name)
                })?;
                let partitions = topic_partitions(&input.properties, &input.topic)
                    .map_err(|e| anyhow::anyhow!("topic {}: {e}", input.topic))?;
                let topic = RepartitionTopic {
                    properties: input.properties.clone(),
                    topic: format!("{group}-{}-repartition", topic_word(&stage.name)),
                    partitions,
                    writers: partitions as u32,
                };
                Some((topic, schema))
            }
            Some(_) => bail!(
                "the job's first exchange is not by key ({}); a scale-out job repartitions at \
                 its first GROUP BY, window, OVER or Top-N",
                graph.stages[0].input
            ),
        };
        Ok(Shape {
            name: graph.name,
            input,
            group,
            repartition,
        })
    }
}

/// `name` as a word of a topic name: letters, digits, `.`, `_` and `-`.
fn topic_word(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect()
}

/// The runner: the job, its shape, and the parts running in this process.
struct Runner {
    job: ScaleOutJob,
    shape: Shape,
    runtime: tokio::runtime::Handle,
    running: Mutex<HashMap<Part, JoinHandle<spate_engine::Result<JobReport>>>>,
    /// The first part that failed, with its error.
    failed: Mutex<Option<String>>,
    /// The offsets of the parts' completed checkpoints, for the group member to commit.
    commits: MemberCommits,
}

impl Runner {
    /// The graph of `part`.
    fn graph(&self, (topic, partition): &Part) -> anyhow::Result<JobGraph> {
        let reads_input = *topic == self.shape.input.topic;
        let (mut graph, _) = self
            .job
            .plan(reads_input.then_some((*partition, &self.commits)))?;
        graph.name = format!("{} [{topic}/{partition}]", self.shape.name);
        let Some((repartition, schema)) = &self.shape.repartition else {
            return Ok(graph);
        };
        if reads_input {
            let Partitioning::Hash(keys) = graph.stages[0].input.clone() else {
                bail!("the job's first stage is no longer keyed");
            };
            let (topic, writer) = (repartition.clone(), *partition as u32);
            graph.stages = vec![Stage {
                name: "repartition".into(),
                input: Partitioning::Forward,
                input_schema: None,
                parallelism: 1,
                chain: Vec::new(),
                sink: Some(Arc::new(move |_| {
                    Ok(Box::new(RepartitionSink::new(topic.clone(), keys.clone(), writer)?) as _)
                })),
                output: None,
            }];
        } else {
            let (topic, schema, partition) = (repartition.clone(), schema.clone(), *partition);
            let commits = self.commits.clone();
            graph.sources = vec![SourceStage {
                name: format!("source: {}", repartition.topic),
                source: Arc::new(move |_| {
                    Ok(Box::new(RepartitionSource::new(
                        topic.clone(),
                        partition,
                        schema.clone(),
                        commits.clone(),
                    )?) as _)
                }),
                parallelism: 1,
                watermarks: None,
                chain: Vec::new(),
                output: Link::default(),
            }];
            graph.stages[0].input = Partitioning::Forward;
        }
        Ok(graph)
    }

    /// Starts `part` from its last checkpoint.
    fn start(self: &Arc<Self>, part: Part) -> anyhow::Result<()> {
        let graph = self.graph(&part)?;
        let kind = match part.0 == self.shape.input.topic {
            true => "input",
            false => "repartition",
        };
        let dir = self.job.checkpoints.join(format!("{kind}-{}", part.1));
        let config = JobConfig {
            checkpoints: Some((CheckpointStore::local(&dir)?, self.job.interval)),
            side_outputs: SideOutputs::new(Arc::new(LogSideOutput::open(
                &self.job.log,
                &self.shape.name,
            )?)),
            ..JobConfig::default()
        };
        eprintln!("scale-out: running {}/{}", part.0, part.1);
        let runner = Arc::clone(self);
        let name = graph.name.clone();
        let handle = self.runtime.spawn(async move {
            let result = spate_engine::run(graph, config).await;
            if let Err(e) = &result {
                runner
                    .failed
                    .lock()
                    .expect("failure lock")
                    .get_or_insert_with(|| format!("{name}: {e}"));
            }
            result
        });
        self.running
            .lock()
            .expect("parts lock")
            .insert(part, handle);
        Ok(())
    }

    /// Stops `part` and waits until it has.
    fn stop(&self, part: &Part) {
        let handle = self.running.lock().expect("parts lock").remove(part);
        if let Some(handle) = handle {
            handle.abort();
            let _ = self.runtime.block_on(handle);
            eprintln!("scale-out: stopped {}/{}", part.0, part.1);
        }
    }
}

/// The group membership's callbacks: revoked parts stop before the group moves them,
/// assigned ones are started by the runner's loop.
struct Membership {
    runner: Arc<Runner>,
    assigned: Mutex<Vec<Part>>,
}

impl ClientContext for Membership {}

impl ConsumerContext for Membership {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            eprintln!("scale-out: revoked {}", parts_text(list));
            for tp in list.elements() {
                self.runner.stop(&(tp.topic().to_string(), tp.partition()));
            }
            // The stopped parts' last offsets, while this process is still the member owning
            // them.
            commit_offsets(consumer, &self.runner.commits, CommitMode::Sync);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            eprintln!("scale-out: assigned {}", parts_text(list));
            // The member never reads: the parts do, each from its checkpoint.
            if let Err(e) = consumer.pause(list) {
                tracing::warn!("pausing the assigned partitions: {e}");
            }
            let mut assigned = self.assigned.lock().expect("assignment lock");
            assigned.extend(
                list.elements()
                    .iter()
                    .map(|tp| (tp.topic().to_string(), tp.partition())),
            );
        }
    }
}

/// Commits the offsets recorded in `commits` as `member` of the group. A failed commit is
/// logged: the next checkpoint's offsets are committed again.
fn commit_offsets<C: ConsumerContext>(
    member: &BaseConsumer<C>,
    commits: &MemberCommits,
    mode: CommitMode,
) {
    let list = commits.take();
    if list.count() == 0 {
        return;
    }
    if let Err(e) = member.commit(&list, mode) {
        tracing::warn!(
            "committing {} to the group failed: {e}; the next checkpoint commits again",
            parts_text(&list)
        );
    }
}

/// The partitions of `list`, as `topic/partition` words.
fn parts_text(list: &rdkafka::TopicPartitionList) -> String {
    let parts: Vec<String> = list
        .elements()
        .iter()
        .map(|tp| format!("{}/{}", tp.topic(), tp.partition()))
        .collect();
    match parts.is_empty() {
        true => "nothing".into(),
        false => parts.join(" "),
    }
}

/// Runs `job` as one of the processes sharing it, until Ctrl-C/SIGTERM or a part fails.
pub(crate) fn run(job: ScaleOutJob) -> anyhow::Result<()> {
    let shape = job.shape()?;
    let mut topics = vec![shape.input.topic.clone()];
    if let Some((repartition, _)) = &shape.repartition {
        ensure_topic(
            &repartition.properties,
            &repartition.topic,
            repartition.partitions,
        )
        .map_err(|e| anyhow::anyhow!("repartition topic {}: {e}", repartition.topic))?;
        topics.push(repartition.topic.clone());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mut client = ClientConfig::new();
    for (key, value) in &shape.input.properties {
        client.set(key, value);
    }
    // A lost process's partitions move after the session timeout: 6 s unless the table says.
    for (key, value) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
    ] {
        if client.get(key).is_none() {
            client.set(key, value);
        }
    }
    client
        .set("group.id", &shape.group)
        .set("enable.auto.commit", "false");
    let runner = Arc::new(Runner {
        job,
        shape,
        runtime: runtime.handle().clone(),
        running: Mutex::new(HashMap::new()),
        failed: Mutex::new(None),
        commits: MemberCommits::default(),
    });
    let membership = Membership {
        runner: Arc::clone(&runner),
        assigned: Mutex::new(Vec::new()),
    };
    let consumer: BaseConsumer<Membership> = client
        .create_with_context(membership)
        .context("creating the group member")?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .with_context(|| format!("subscribing to {}", names.join(", ")))?;
    eprintln!(
        "scale-out: member of group {} over {}",
        runner.shape.group,
        names.join(", ")
    );
    let stop = Arc::new(AtomicBool::new(false));
    crate::signals::stop_on_signal(&stop, "scale-out job");
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            tracing::warn!("group member: {e}");
        }
        let assigned = std::mem::take(&mut *consumer.context().assigned.lock().expect("lock"));
        if let Err(e) = assigned.into_iter().try_for_each(|part| runner.start(part)) {
            break Err(e);
        }
        if let Some(failure) = runner.failed.lock().expect("failure lock").take() {
            break Err(anyhow::anyhow!(failure));
        }
        commit_offsets(&consumer, &runner.commits, CommitMode::Async);
    };
    let parts: Vec<Part> = runner
        .running
        .lock()
        .expect("parts lock")
        .keys()
        .cloned()
        .collect();
    for part in &parts {
        runner.stop(part);
    }
    commit_offsets(&consumer, &runner.commits, CommitMode::Sync);
    // Leaving the group hands the partitions over at once rather than after the session
    // timeout.
    consumer.unsubscribe();
    drop(consumer);
    result
}
