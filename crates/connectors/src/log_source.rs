//! The embedded log as a source: each instance reads its share of a topic's partitions,
//! decodes NDJSON values into batches, and dead-letters what does not decode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use spate_engine::EngineError;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::source::{PendingCheckpoints, Source, SourcePoll};
use spate_log::{FetchedRecords, Log, Topic};

use crate::format::json::JsonDecoder;

/// Where a log source starts when no checkpoint says otherwise (`scan.startup.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupMode {
    /// The log start offset of each partition.
    Earliest,
    /// The end of each partition as the job starts.
    Latest,
    /// The consumer group's committed offsets, or the earliest where none is committed.
    GroupOffsets,
}

/// Per-partition end offsets that become known while the job runs (e.g. when an ingest
/// finishes): set once, read by every source instance.
#[derive(Debug, Clone, Default)]
pub struct EndOffsets(Arc<std::sync::Mutex<Option<Vec<u64>>>>);

impl EndOffsets {
    /// Publishes the end offset of every partition, by partition number.
    pub fn set(&self, ends: Vec<u64>) {
        *self.0.lock().expect("end offsets lock") = Some(ends);
    }

    /// The end offset of `partition`, once published.
    pub fn get(&self, partition: u32) -> Option<u64> {
        self.0
            .lock()
            .expect("end offsets lock")
            .as_ref()
            .and_then(|e| e.get(partition as usize).copied())
    }
}

/// How far the instances of a log source have read each partition of their topic, published
/// as they read: what the job has taken, against the topic's end offsets, is its lag (HTTP
/// ingest refuses new events while it is too large).
#[derive(Debug, Clone)]
pub struct ReadPositions(Arc<[AtomicU64]>);

/// A partition whose position no instance has published yet (before the job restores).
const UNKNOWN: u64 = u64::MAX;

impl ReadPositions {
    /// Positions of the `partitions` partitions of a topic, none known yet.
    pub fn new(partitions: u32) -> Self {
        ReadPositions((0..partitions).map(|_| AtomicU64::new(UNKNOWN)).collect())
    }

    /// Publishes the next offset to read of `partition`.
    pub(crate) fn set(&self, partition: u32, offset: u64) {
        if let Some(position) = self.0.get(partition as usize) {
            position.store(offset, Ordering::Release);
        }
    }

    /// The next offset to read of `partition`, once an instance has restored its position.
    pub fn get(&self, partition: u32) -> Option<u64> {
        let offset = self.0.get(partition as usize)?.load(Ordering::Acquire);
        (offset != UNKNOWN).then_some(offset)
    }
}

/// When a log source stops (`scan.bounded.mode`).
#[derive(Debug, Clone)]
pub enum Bound {
    /// Never: the source follows the topic.
    Unbounded,
    /// At the end offsets of the partitions as the job starts.
    LatestOffset,
    /// At end offsets published later.
    Until(EndOffsets),
}

/// Configuration of a log source, shared by its instances.
#[derive(Debug, Clone)]
pub struct LogSourceConfig {
    /// The log.
    pub log: Log,
    /// The topic to read.
    pub topic: String,
    /// The schema of the decoded rows.
    pub schema: SchemaRef,
    /// Start position without a checkpoint.
    pub startup: StartupMode,
    /// Stop condition.
    pub bound: Bound,
    /// Consumer group whose offsets are committed when checkpoints complete.
    pub group: Option<String>,
    /// Bytes to fetch per poll.
    pub fetch_bytes: usize,
    /// Where the instances publish how far they have read, if anyone watches.
    pub positions: Option<ReadPositions>,
}

/// One instance of a log source.
pub struct LogSource {
    config: LogSourceConfig,
    topic: Arc<Topic>,
    partitions: Vec<u32>,
    offsets: Vec<u64>,
    stop_at: Vec<Option<u64>>,
    finished: Vec<bool>,
    decoder: JsonDecoder,
    fetched: FetchedRecords,
    next: usize,
    /// The positions each checkpoint holds, until it completes and they are committed.
    to_commit: PendingCheckpoints<Vec<u64>>,
    task: TaskInfo,
    /// When the lag was last counted (it asks each partition for its end).
    lag_counted: Option<std::time::Instant>,
}

/// How often a source counts its lag.
const LAG_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

impl LogSource {
    /// The instance `task.instance` of `task.parallelism`: it reads the partitions p with
    /// p % parallelism == instance.
    pub fn new(config: LogSourceConfig, task: &TaskInfo) -> Result<Self, EngineError> {
        let topic = config
            .log
            .topic_reader(&config.topic)
            .map_err(|e| source_err(&config.topic, e))?;
        let partitions: Vec<u32> = (0..topic.partitions())
            .filter(|p| *p as usize % task.parallelism == task.instance)
            .collect();
        let decoder = JsonDecoder::new(config.schema.clone())?;
        let n = partitions.len();
        Ok(LogSource {
            topic,
            partitions,
            offsets: vec![0; n],
            stop_at: vec![None; n],
            finished: vec![false; n],
            decoder,
            fetched: FetchedRecords::new(),
            next: 0,
            to_commit: PendingCheckpoints::default(),
            task: task.clone(),
            lag_counted: None,
            config,
        })
    }

    /// Publishes the position in the instance's partition `i`, if anyone watches.
    fn publish(&self, i: usize) {
        if let Some(positions) = &self.config.positions {
            positions.set(self.partitions[i], self.offsets[i]);
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        source_err(&self.config.topic, e)
    }

    /// Counts the records between the instance's positions and the partitions' ends into
    /// the task's `source_lag`, at most every [`LAG_INTERVAL`].
    fn publish_lag(&mut self) {
        if self
            .lag_counted
            .is_some_and(|at| at.elapsed() < LAG_INTERVAL)
        {
            return;
        }
        self.lag_counted = Some(std::time::Instant::now());
        let lag: u64 = self
            .partitions
            .iter()
            .zip(&self.offsets)
            .filter_map(|(p, offset)| Some(self.topic.end_offset(*p).ok()?.saturating_sub(*offset)))
            .sum();
        self.task
            .metrics
            .source_lag
            .store(lag as i64, std::sync::atomic::Ordering::Relaxed);
    }

    fn stop_offset(&mut self, i: usize) -> Option<u64> {
        if self.stop_at[i].is_none()
            && let Bound::Until(ends) = &self.config.bound
        {
            self.stop_at[i] = ends.get(self.partitions[i]);
        }
        self.stop_at[i]
    }

    fn poll_partition(&mut self, i: usize) -> Result<Option<SourcePoll>, EngineError> {
        let p = self.partitions[i];
        let stop = self.stop_offset(i);
        if stop.is_some_and(|s| self.offsets[i] >= s) {
            self.finished[i] = true;
            return Ok(Some(SourcePoll::PartitionFinished(i)));
        }
        let start = self.topic.start_offset(p).map_err(|e| self.err(e))?;
        if self.offsets[i] < start {
            tracing::warn!(
                topic = %self.config.topic, partition = p, from = self.offsets[i], to = start,
                "offsets fell below the log start (retention); skipping ahead"
            );
            self.offsets[i] = start;
            self.publish(i);
        }
        self.topic
            .fetch_into(
                p,
                self.offsets[i],
                self.config.fetch_bytes,
                &mut self.fetched,
            )
            .map_err(|e| self.err(e))?;
        if self.fetched.is_empty() {
            return Ok(None);
        }
        let limit = stop.unwrap_or(u64::MAX);
        let records = self.fetched.iter().take_while(|r| r.offset < limit);
        let values = records.clone().map(|r| r.value);
        let (batch, rejected) = self.decoder.decode(values)?;
        if !rejected.is_empty() {
            let views: Vec<_> = records.clone().collect();
            TaskMetrics::add(&self.task.metrics.dead_letters, rejected.len() as u64);
            for r in rejected {
                let view = &views[r.index];
                self.task.side_outputs.send(SideRecord {
                    kind: SideOutputKind::DeadLetter,
                    reason: r.reason,
                    origin: format!(
                        "topic {} partition {p} offset {}",
                        self.config.topic, view.offset
                    ),
                    payload: view.value.to_vec(),
                });
            }
        }
        // One past the last record taken, without walking the records again.
        self.offsets[i] = self.fetched.next_offset().min(limit);
        self.publish(i);
        Ok(Some(SourcePoll::Batch {
            partition: i,
            batch,
        }))
    }
}

fn source_err(topic: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Source {
        name: format!("spate-log topic {topic}"),
        message: e.to_string(),
    }
}

impl Source for LogSource {
    fn schema(&self) -> SchemaRef {
        self.config.schema.clone()
    }

    fn partitions(&self) -> Vec<String> {
        self.partitions
            .iter()
            .map(|p| format!("{}/{p}", self.config.topic))
            .collect()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        let n = self.partitions.len();
        if self.finished.iter().all(|f| *f) {
            return Ok(SourcePoll::Finished);
        }
        for k in 0..n {
            let i = (self.next + k) % n;
            if self.finished[i] {
                continue;
            }
            if let Some(poll) = self.poll_partition(i)? {
                self.next = i + 1;
                self.publish_lag();
                return Ok(poll);
            }
        }
        self.task
            .metrics
            .source_lag
            .store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(SourcePoll::Idle)
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        if self.config.group.is_some() {
            self.to_commit.insert(checkpoint, self.offsets.clone());
        }
        let pairs: Vec<(u32, u64)> = self
            .partitions
            .iter()
            .copied()
            .zip(self.offsets.iter().copied())
            .collect();
        Ok(serde_json::to_vec(&pairs).expect("offsets serialize"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        self.to_commit.clear();
        match state {
            Some(bytes) => {
                let pairs: Vec<(u32, u64)> =
                    serde_json::from_slice(bytes).map_err(|e| EngineError::CorruptState {
                        task: self.task.name.clone(),
                        reason: format!("source offsets: {e}"),
                    })?;
                for (p, off) in pairs {
                    let i = self
                        .partitions
                        .iter()
                        .position(|q| *q == p)
                        .ok_or_else(|| EngineError::CorruptState {
                            task: self.task.name.clone(),
                            reason: format!(
                                "checkpoint has partition {p}, which this instance does not read"
                            ),
                        })?;
                    self.offsets[i] = off;
                }
            }
            None => {
                for (i, p) in self.partitions.iter().enumerate() {
                    self.offsets[i] = match self.config.startup {
                        StartupMode::Earliest => self.topic.start_offset(*p),
                        StartupMode::Latest => self.topic.end_offset(*p),
                        StartupMode::GroupOffsets => match &self.config.group {
                            Some(g) => match self.config.log.committed(g, &self.config.topic, *p) {
                                Ok(Some(o)) => Ok(o),
                                Ok(None) => self.topic.start_offset(*p),
                                Err(e) => Err(e),
                            },
                            None => self.topic.start_offset(*p),
                        },
                    }
                    .map_err(|e| source_err(&self.config.topic, e))?;
                }
            }
        }
        (0..self.partitions.len()).for_each(|i| self.publish(i));
        if let Bound::LatestOffset = self.config.bound {
            for (i, p) in self.partitions.iter().enumerate() {
                self.stop_at[i] = Some(
                    self.topic
                        .end_offset(*p)
                        .map_err(|e| source_err(&self.config.topic, e))?,
                );
            }
        }
        Ok(())
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        let (Some(group), Some(positions)) = (
            &self.config.group,
            self.to_commit.complete(checkpoint).pop(),
        ) else {
            return Ok(());
        };
        let offsets: Vec<(u32, u64)> = self.partitions.iter().copied().zip(positions).collect();
        self.config
            .log
            .commit_offsets(group, &self.config.topic, &offsets)
            .map_err(|e| self.err(e))
    }
}
