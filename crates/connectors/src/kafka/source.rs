//! A Kafka topic as a source: instance `i` of `n` reads the partitions `p` with
//! `p % n == i`, assigned directly (no group rebalancing), and hands over one partition's
//! records per batch so that watermarks are kept per partition.
//!
//! The read position is the offset after the last record handed over, per partition; it is
//! what checkpoints hold and what a restore seeks to. Without a checkpoint the position comes
//! from `scan.startup.mode`. Once a checkpoint completes, the positions it holds are
//! committed to the consumer group (`properties.group.id`), as Flink does: asynchronously, and a
//! failed commit is logged, never a failure of the job (the next checkpoint commits
//! again). In a scale-out process the group member commits them ([`OffsetCommits::Member`]).
//! The group's offsets are for monitoring and `group-offsets` starts, never for recovery.
//!
//! Records whose value (or key) does not decode go to the dead-letter output with the reason
//! and `topic/partition/offset`. Records without a value (tombstones) are skipped, as Flink's
//! formats skip them, except in an upsert table (`upsert-kafka`, [`KafkaSourceConfig::upsert`]):
//! there the batches are an upsert stream, a record `+U` (the key's row is now this) and a
//! tombstone `-D` (the key's row is gone; only the key's columns are set), in the order of the
//! partition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    new_null_array,
};
use arrow::compute::interleave;
use arrow::datatypes::{Field, Schema, SchemaRef};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use spate_engine::EngineError;
use spate_engine::changelog::{self, RowKind};
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::source::{PendingCheckpoints, Source, SourcePoll};

use super::{
    MetadataKey, OffsetCommits, Properties, REQUEST_TIMEOUT, client_config, describe,
    partition_count,
};
use crate::format::json::Rejected;
use crate::format::record::{RecordDecoder, RecordFormat};

/// Where a source starts when no checkpoint says otherwise (`scan.startup.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupMode {
    /// `earliest-offset`: the first offset of each partition.
    Earliest,
    /// `latest-offset`: the end of each partition as the job starts.
    Latest,
    /// `group-offsets`: the group's committed offsets; where none is committed, the earliest
    /// offset, or the latest with `properties.auto.offset.reset` = `latest`.
    GroupOffsets {
        /// Start at the end of partitions the group has no offset for.
        reset_to_latest: bool,
    },
    /// `timestamp`: the first record at or after the timestamp (milliseconds since the
    /// epoch), the end of partitions with none.
    Timestamp(i64),
    /// `specific-offsets`: the offset of each listed partition; the earliest for the others.
    SpecificOffsets(BTreeMap<i32, i64>),
}

/// When a source stops (`scan.bounded.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundedMode {
    /// `unbounded`: never.
    Unbounded,
    /// `latest-offset`: at the end of each partition as the job starts.
    LatestOffset,
}

/// Configuration of a Kafka source, shared by its instances.
#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    /// The client's librdkafka properties (`bootstrap.servers`, `group.id`, …).
    pub properties: Properties,
    /// The topic read.
    pub topic: String,
    /// The rows produced: value, key and metadata columns, in the table's order.
    pub schema: SchemaRef,
    /// The value's format.
    pub value_format: RecordFormat,
    /// The columns the value holds, in its order.
    pub value_fields: Vec<String>,
    /// The key's format and the columns it holds (`key.fields`); only columns the value lacks
    /// are read from the key.
    pub key: Option<(RecordFormat, Vec<String>)>,
    /// Metadata columns: the column and what it holds.
    pub metadata: Vec<(String, MetadataKey)>,
    /// Start position without a checkpoint.
    pub startup: StartupMode,
    /// Stop condition.
    pub bound: BoundedMode,
    /// Who commits checkpointed offsets to the consumer group.
    pub commits: OffsetCommits,
    /// Records taken from the client per poll at most.
    pub poll_records: usize,
    /// The partitions read, shared by the instances as the topic's are; `None` for all of
    /// the topic's (a scale-out job runs a copy of its source per assigned partition).
    pub only_partitions: Option<Vec<i32>>,
    /// Whether the topic holds upserts keyed by the `key` columns (`upsert-kafka`): batches
    /// carry a row kind after the columns, and tombstones are deletes.
    pub upsert: bool,
}

impl KafkaSourceConfig {
    /// The schema of the batches handed over: `schema`, or for an upsert table `schema` with
    /// every column outside the key nullable (a delete has only the key) and the row kind.
    pub fn output_schema(&self) -> SchemaRef {
        if !self.upsert {
            return Arc::clone(&self.schema);
        }
        let key_fields = self.key.as_ref().map_or(&[][..], |(_, f)| f.as_slice());
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                let in_key = key_fields.iter().any(|k| k == f.name());
                f.as_ref().clone().with_nullable(f.is_nullable() || !in_key)
            })
            .collect();
        changelog::with_row_kind(&Schema::new(fields))
    }
}

/// A record waiting to be handed over.
struct Fetched {
    offset: i64,
    timestamp: Option<i64>,
    key: Option<Vec<u8>>,
    /// `None` for a tombstone (kept in upsert tables only).
    value: Option<Vec<u8>>,
}

/// One instance of a Kafka source.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    output: SchemaRef,
    consumer: BaseConsumer<CommitReporter>,
    partitions: Vec<i32>,
    /// The offset after the last record handed over, per partition.
    offsets: Vec<i64>,
    stop_at: Vec<Option<i64>>,
    finished: Vec<bool>,
    /// Records fetched but not handed over, per partition.
    pending: Vec<Vec<Fetched>>,
    value_decoder: RecordDecoder,
    /// The decoder of the key columns the value lacks, and their schema.
    key_decoder: Option<(RecordDecoder, SchemaRef)>,
    next: usize,
    /// The positions each checkpoint holds, until it completes and they are committed.
    to_commit: PendingCheckpoints<Vec<i64>>,
    task: TaskInfo,
}

/// How often librdkafka reports its statistics, from which the source's lag is counted.
const STATISTICS_INTERVAL_MS: &str = "1000";

/// Reports the outcome of the asynchronous offset commits (served by the consumer's polls):
/// a failure is logged; and counts the source's lag from librdkafka's statistics: per
/// partition read, the last stable offset (the high watermark of committed transactions)
/// less the next offset handed to the source, into the task's `source_lag`.
struct CommitReporter {
    topic: String,
    metrics: Arc<TaskMetrics>,
}

impl ClientContext for CommitReporter {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let lags: Vec<i64> = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.ls_offset >= 0 && p.app_offset >= 0)
            .map(|p| (p.ls_offset - p.app_offset).max(0))
            .collect();
        if !lags.is_empty() {
            self.metrics
                .source_lag
                .store(lags.iter().sum(), std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for CommitReporter {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(
                topic = %self.topic,
                "committing offsets to the consumer group failed: {e}; the next checkpoint \
                 commits again"
            );
        }
    }
}

fn source_err(topic: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::Source {
        name: format!("kafka topic {topic}"),
        message: message.to_string(),
    }
}

/// The fields of `schema` named in `names`, in that order.
fn sub_schema(schema: &SchemaRef, names: &[String], topic: &str) -> Result<SchemaRef, EngineError> {
    let fields = names
        .iter()
        .map(|n| {
            schema
                .field_with_name(n)
                .cloned()
                .map_err(|_| source_err(topic, format!("{n} is not a column of the table")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

impl KafkaSource {
    /// The instance `task.instance` of `task.parallelism`.
    pub fn new(config: KafkaSourceConfig, task: &TaskInfo) -> Result<Self, EngineError> {
        let topic = config.topic.clone();
        let err = |e: String| source_err(&topic, e);
        // librdkafka consumers need a group even when they only read assigned partitions; a
        // source without `properties.group.id` never commits to this one.
        let mut properties = config.properties.clone();
        properties
            .entry("group.id".into())
            .or_insert_with(|| format!("spate-source.{topic}"));
        let reporter = CommitReporter {
            topic: topic.clone(),
            metrics: Arc::clone(&task.metrics),
        };
        let consumer: BaseConsumer<CommitReporter> = client_config(
            &properties,
            &[
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("isolation.level", "read_committed"),
                ("statistics.interval.ms", STATISTICS_INTERVAL_MS),
            ],
        )
        .create_with_context(reporter)
        .map_err(|e| err(describe("creating the consumer", e)))?;
        let all: Vec<i32> = match &config.only_partitions {
            Some(only) => only.clone(),
            None => {
                let count = partition_count(consumer.client(), &topic).map_err(err)?;
                (0..count as i32).collect()
            }
        };
        let partitions: Vec<i32> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % task.parallelism == task.instance)
            .map(|(_, p)| p)
            .collect();
        let value_schema = sub_schema(&config.schema, &config.value_fields, &topic)?;
        let value_decoder = RecordDecoder::new(config.value_format, value_schema)?;
        let key_decoder = match &config.key {
            Some((format, fields)) => {
                // Tombstones of upsert tables have only the key to read.
                let missing: Vec<String> = fields
                    .iter()
                    .filter(|f| config.upsert || !config.value_fields.contains(f))
                    .cloned()
                    .collect();
                match missing.is_empty() {
                    true => None,
                    false => {
                        let schema = sub_schema(&config.schema, &missing, &topic)?;
                        Some((RecordDecoder::new(*format, schema.clone())?, schema))
                    }
                }
            }
            None => None,
        };
        let n = partitions.len();
        Ok(KafkaSource {
            output: config.output_schema(),
            consumer,
            partitions,
            offsets: vec![0; n],
            stop_at: vec![None; n],
            finished: vec![false; n],
            pending: (0..n).map(|_| Vec::new()).collect(),
            value_decoder,
            key_decoder,
            next: 0,
            to_commit: PendingCheckpoints::default(),
            task: task.clone(),
            config,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        source_err(&self.config.topic, e)
    }

    /// A list of this instance's partitions, each at `offset(i)`.
    fn partition_list(&self, offset: impl Fn(usize) -> Offset) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (i, p) in self.partitions.iter().enumerate() {
            list.add_partition_offset(&self.config.topic, *p, offset(i))
                .expect("a valid offset");
        }
        list
    }

    /// The offsets `list` holds for this instance's partitions (`None` where it holds none).
    fn offsets_of(&self, list: &TopicPartitionList) -> Vec<Option<i64>> {
        self.partitions
            .iter()
            .map(|p| {
                list.find_partition(&self.config.topic, *p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
            })
            .collect()
    }

    /// The low and high watermarks of partition `p`.
    fn watermarks(&self, p: i32) -> Result<(i64, i64), EngineError> {
        self.consumer
            .fetch_watermarks(&self.config.topic, p, REQUEST_TIMEOUT)
            .map_err(|e| self.err(describe(&format!("reading partition {p}'s offsets"), e)))
    }

    /// The start offsets of `scan.startup.mode`.
    fn startup_offsets(&self) -> Result<Vec<i64>, EngineError> {
        let mut offsets = Vec::with_capacity(self.partitions.len());
        let found = match &self.config.startup {
            StartupMode::GroupOffsets { .. } => self.offsets_of(
                &self
                    .consumer
                    .committed_offsets(self.partition_list(|_| Offset::Invalid), REQUEST_TIMEOUT)
                    .map_err(|e| self.err(describe("reading the group's offsets", e)))?,
            ),
            StartupMode::Timestamp(ts) => self.offsets_of(
                &self
                    .consumer
                    .offsets_for_times(
                        self.partition_list(|_| Offset::Offset(*ts)),
                        REQUEST_TIMEOUT,
                    )
                    .map_err(|e| self.err(describe("looking up offsets by time", e)))?,
            ),
            StartupMode::SpecificOffsets(map) => self
                .partitions
                .iter()
                .map(|p| map.get(p).copied())
                .collect(),
            StartupMode::Earliest | StartupMode::Latest => vec![None; self.partitions.len()],
        };
        for (p, found) in self.partitions.iter().zip(found) {
            let (low, high) = self.watermarks(*p)?;
            let at_end = match &self.config.startup {
                StartupMode::Latest | StartupMode::Timestamp(_) => true,
                StartupMode::GroupOffsets { reset_to_latest } => *reset_to_latest,
                StartupMode::Earliest | StartupMode::SpecificOffsets(_) => false,
            };
            offsets.push(match found {
                Some(o) => o.clamp(low, high),
                None if at_end => high,
                None => low,
            });
        }
        Ok(offsets)
    }

    /// Takes what the client has ready into the per-partition queues.
    fn fetch(&mut self) -> Result<(), EngineError> {
        for _ in 0..self.config.poll_records {
            let message = match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(self.err(describe("reading records", e))),
            };
            let Some(i) = self
                .partitions
                .iter()
                .position(|p| *p == message.partition())
            else {
                continue;
            };
            let value = message.payload();
            if value.is_none() && !self.config.upsert {
                // A tombstone: nothing to decode, but the position moves past it.
                if self.pending[i].is_empty() {
                    self.offsets[i] = message.offset() + 1;
                }
                continue;
            }
            self.pending[i].push(Fetched {
                offset: message.offset(),
                timestamp: message.timestamp().to_millis(),
                key: message.key().map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
            });
        }
        Ok(())
    }

    fn dead_letter(&self, p: i32, offset: i64, reason: String, payload: &[u8]) {
        TaskMetrics::add(&self.task.metrics.dead_letters, 1);
        self.task.side_outputs.send(SideRecord {
            kind: SideOutputKind::DeadLetter,
            reason,
            origin: format!("topic {} partition {p} offset {offset}", self.config.topic),
            payload: payload.to_vec(),
        });
    }

    /// Decodes and hands over the pending records of partition `i`, up to its stop offset.
    fn emit(&mut self, i: usize) -> Result<SourcePoll, EngineError> {
        let p = self.partitions[i];
        let mut records = std::mem::take(&mut self.pending[i]);
        let last = records.last().map_or(self.offsets[i], |r| r.offset + 1);
        if let Some(stop) = self.stop_at[i] {
            records.retain(|r| r.offset < stop);
        }
        let with_value: Vec<&Fetched> = records.iter().filter(|r| r.value.is_some()).collect();
        let (values, rejected) = self
            .value_decoder
            .decode(with_value.iter().filter_map(|r| r.value.as_deref()))?;
        let mut decoded = vec![true; with_value.len()];
        for Rejected { index, reason } in rejected {
            let r = with_value[index];
            decoded[index] = false;
            self.dead_letter(p, r.offset, reason, r.value.as_deref().unwrap_or_default());
        }
        // The kept records, each with its row among the decoded values (none for a tombstone).
        let mut kept: Vec<(&Fetched, Option<usize>)> = Vec::with_capacity(records.len());
        let (mut nth_value, mut next_row) = (0, 0);
        for r in &records {
            if r.value.is_none() {
                kept.push((r, None));
                continue;
            }
            if decoded[nth_value] {
                kept.push((r, Some(next_row)));
                next_row += 1;
            }
            nth_value += 1;
        }
        let keys = match &mut self.key_decoder {
            None => None,
            Some((decoder, _)) => {
                let (keys, rejected) = decoder.decode(
                    kept.iter()
                        .map(|(r, _)| r.key.as_deref().unwrap_or_default()),
                )?;
                let mut drop = vec![false; kept.len()];
                for Rejected { index, reason } in rejected {
                    drop[index] = true;
                    let r = kept[index].0;
                    let key = r.key.as_deref().unwrap_or_default();
                    self.dead_letter(p, r.offset, format!("key: {reason}"), key);
                }
                let mut d = drop.iter();
                kept.retain(|_| !*d.next().expect("a flag per record"));
                Some(keys)
            }
        };
        let batch = self.assemble(&values, keys.as_ref(), &kept, p)?;
        self.offsets[i] = last;
        if self.stop_at[i].is_some_and(|s| last >= s) {
            self.finished[i] = true;
        }
        Ok(SourcePoll::Batch {
            partition: i,
            batch,
        })
    }

    /// The output rows of `records` (each with its row of `values`, none for a tombstone):
    /// each column from the value, else the key (one row per record), else the records'
    /// metadata; then the row kind of an upsert table.
    fn assemble(
        &self,
        values: &RecordBatch,
        keys: Option<&RecordBatch>,
        records: &[(&Fetched, Option<usize>)],
        p: i32,
    ) -> Result<RecordBatch, EngineError> {
        let n = records.len();
        // Whether the value rows are the records' rows, in order (no tombstone, no key
        // rejected).
        let aligned =
            values.num_rows() == n && records.iter().enumerate().all(|(j, r)| r.1 == Some(j));
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output.fields().len());
        for field in self.config.schema.fields() {
            let name = field.name();
            let from_key = keys.and_then(|k| k.column_by_name(name));
            let column: ArrayRef = if let Some(c) = values.column_by_name(name) {
                if aligned {
                    Arc::clone(c)
                } else {
                    // Tombstones take the key's value, or NULL.
                    let other = match from_key {
                        Some(k) => Arc::clone(k),
                        None => new_null_array(c.data_type(), 1),
                    };
                    let indices: Vec<(usize, usize)> = records
                        .iter()
                        .enumerate()
                        .map(|(j, (_, row))| match row {
                            Some(v) => (0, *v),
                            None if from_key.is_some() => (1, j),
                            None => (1, 0),
                        })
                        .collect();
                    interleave(&[c.as_ref(), other.as_ref()], &indices)?
                }
            } else if let Some(c) = from_key {
                Arc::clone(c)
            } else {
                let key = self
                    .config
                    .metadata
                    .iter()
                    .find(|(column, _)| column == name)
                    .map(|(_, key)| *key)
                    .ok_or_else(|| self.err(format!("no value for column {name}")))?;
                let raw: ArrayRef = match key {
                    MetadataKey::Topic => {
                        Arc::new(StringArray::from(vec![self.config.topic.as_str(); n]))
                    }
                    MetadataKey::Partition => Arc::new(Int32Array::from(vec![p; n])),
                    MetadataKey::Offset => Arc::new(Int64Array::from_iter_values(
                        records.iter().map(|(r, _)| r.offset),
                    )),
                    MetadataKey::Timestamp => Arc::new(TimestampMillisecondArray::from(
                        records.iter().map(|(r, _)| r.timestamp).collect::<Vec<_>>(),
                    )),
                };
                arrow::compute::cast(&raw, field.data_type())?
            };
            columns.push(column);
        }
        if self.config.upsert {
            columns.push(changelog::row_kind_array(records.iter().map(
                |(_, row)| match row {
                    Some(_) => RowKind::UpdateAfter,
                    None => RowKind::Delete,
                },
            )));
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }

    /// Marks partitions finished whose read position reached the stop offset; the client's
    /// position counts transaction markers that are never handed over.
    fn check_finished(&mut self) -> Result<Option<usize>, EngineError> {
        if self.stop_at.iter().all(Option::is_none) {
            return Ok(None);
        }
        let positions = self.offsets_of(
            &self
                .consumer
                .position()
                .map_err(|e| self.err(describe("reading positions", e)))?,
        );
        for (i, position) in positions.into_iter().enumerate() {
            let Some(stop) = self.stop_at[i] else {
                continue;
            };
            let at = self.offsets[i].max(position.unwrap_or(0));
            if !self.finished[i] && self.pending[i].is_empty() && at >= stop {
                self.finished[i] = true;
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

impl Source for KafkaSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    fn partitions(&self) -> Vec<String> {
        self.partitions
            .iter()
            .map(|p| format!("{}/{p}", self.config.topic))
            .collect()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        if self.finished.iter().all(|f| *f) && self.pending.iter().all(Vec::is_empty) {
            return Ok(SourcePoll::Finished);
        }
        if self.pending.iter().all(Vec::is_empty) {
            self.fetch()?;
        }
        let n = self.partitions.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if !self.pending[i].is_empty() {
                self.next = i + 1;
                return self.emit(i);
            }
        }
        match self.check_finished()? {
            Some(i) => Ok(SourcePoll::PartitionFinished(i)),
            None => Ok(SourcePoll::Idle),
        }
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        if !matches!(self.config.commits, OffsetCommits::None) {
            self.to_commit.insert(checkpoint, self.offsets.clone());
        }
        let pairs: Vec<(i32, i64)> = self
            .partitions
            .iter()
            .copied()
            .zip(self.offsets.iter().copied())
            .collect();
        Ok(serde_json::to_vec(&pairs).expect("offsets serialize"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        match state {
            Some(bytes) => {
                let pairs: Vec<(i32, i64)> =
                    serde_json::from_slice(bytes).map_err(|e| EngineError::CorruptState {
                        task: self.task.name.clone(),
                        reason: format!("kafka source offsets: {e}"),
                    })?;
                for (p, offset) in pairs {
                    let i = self
                        .partitions
                        .iter()
                        .position(|q| *q == p)
                        .ok_or_else(|| EngineError::CorruptState {
                            task: self.task.name.clone(),
                            reason: format!(
                                "the checkpoint has partition {p} of {}, which this instance \
                                 does not read",
                                self.config.topic
                            ),
                        })?;
                    self.offsets[i] = offset;
                }
            }
            None => self.offsets = self.startup_offsets()?,
        }
        if self.config.bound == BoundedMode::LatestOffset {
            for i in 0..self.partitions.len() {
                let (_, high) = self.watermarks(self.partitions[i])?;
                self.stop_at[i] = Some(high);
                self.finished[i] = self.offsets[i] >= high;
            }
        }
        self.pending.iter_mut().for_each(Vec::clear);
        self.to_commit.clear();
        let list = self.partition_list(|i| Offset::Offset(self.offsets[i]));
        self.consumer
            .assign(&list)
            .map_err(|e| self.err(describe("assigning partitions", e)))
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        let Some(offsets) = self.to_commit.complete(checkpoint).pop() else {
            return Ok(());
        };
        if let OffsetCommits::Member(member) = &self.config.commits {
            for (p, offset) in self.partitions.iter().zip(offsets) {
                member.record(&self.config.topic, *p, offset);
            }
            return Ok(());
        }
        let list = self.partition_list(|i| Offset::Offset(offsets[i]));
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            self.consumer
                .context()
                .commit_callback(Err(e), &TopicPartitionList::new());
        }
        Ok(())
    }
}

/// Parses `scan.startup.specific-offsets`: `partition:0,offset:42;partition:1,offset:300`.
pub fn parse_specific_offsets(text: &str) -> Result<BTreeMap<i32, i64>, String> {
    let mut offsets = BTreeMap::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let mut partition = None;
        let mut offset = None;
        for part in entry.split(',') {
            match part.trim().split_once(':') {
                Some(("partition", v)) => partition = v.trim().parse::<i32>().ok(),
                Some(("offset", v)) => offset = v.trim().parse::<i64>().ok(),
                _ => return Err(format!("'{entry}' is not 'partition:N,offset:M'")),
            }
        }
        match (partition, offset) {
            (Some(p), Some(o)) if p >= 0 && o >= 0 => {
                offsets.insert(p, o);
            }
            _ => return Err(format!("'{entry}' is not 'partition:N,offset:M'")),
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_offsets_parse_as_flink_writes_them() {
        assert_eq!(
            parse_specific_offsets("partition:0,offset:42;partition:1,offset:300").unwrap(),
            BTreeMap::from([(0, 42), (1, 300)])
        );
        assert!(parse_specific_offsets("partition:0").is_err());
        assert!(parse_specific_offsets("p:0,offset:1").is_err());
        assert!(parse_specific_offsets("partition:0,offset:-1").is_err());
    }
}
