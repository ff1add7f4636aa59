//! Repartition topics: how the processes of a scale-out job hand rows to each other by key,
//! the way Kafka Streams does, with exactly-once hand-over on brokers without transactions.
//!
//! The upstream part of a job runs once per partition of its input topic (the *writer*); it
//! hashes each row's keys to a partition of the repartition topic, as the job's in-process
//! exchange would, and produces the rows there as Arrow IPC batches. The downstream part runs
//! once per partition of the repartition topic and reads it back.
//!
//! Kafka transactions would make a writer's rows visible only once its checkpoint completes;
//! the broker the tests run against (tansu 0.6) has none, so the same protocol travels in the
//! topic itself. Every record carries its writer and *epoch* (the checkpoint that will cover
//! it). Once checkpoint *c* completes, the writer appends a **commit** marker for *c* to every
//! partition, with its watermark; a reader releases that writer's rows of epochs up to *c* only
//! then. A writer that restarts from checkpoint *c* appends a **restart** marker for *c* first:
//! rows of later epochs, written by the instance that died, are dropped, and the restarted
//! writer produces them again. Readers thus see each row once, whichever process wrote it and
//! however often writers fail over, and their watermark is the least of the writers' committed
//! ones, so a writer that is being handed over holds event time back rather than making its
//! rows late. A writer whose input is idle (`table.exec.source.idle-timeout`) says so in its
//! commit markers, and readers leave it out of that least watermark until it writes again, as
//! Flink's idle watermark status does within one job.
//!
//! Writers are ordered within a partition (the producer is idempotent), and a reader's
//! checkpoint holds its read offset with the rows it holds back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::physical_expr::PhysicalExpr;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use spate_engine::EngineError;
use spate_engine::exchange::split_by_hash;
use spate_engine::message::EventTime;
use spate_engine::sink::Sink;
use spate_engine::source::{PendingCheckpoints, Source, SourcePoll};

use spate_kafka::Producer;

use super::{MemberCommits, Properties, REQUEST_TIMEOUT, client_config, describe};

/// The rows of one partition a writer buffers before producing them as one record.
const RECORD_ROWS: usize = 4096;
/// The bytes of one partition's buffered rows that make a record at most (under Kafka's
/// default 1 MiB message limit).
const RECORD_BYTES: usize = 512 * 1024;

/// What a record of a repartition topic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data = 0,
    Commit = 1,
    Restart = 2,
}

/// A record's header: kind, flags, writer, epoch, watermark (`i64::MIN` for none), then the
/// body.
const HEADER: usize = 1 + 1 + 4 + 8 + 8;
/// The flag of a marker whose writer's input is idle.
const IDLE: u8 = 1;

/// The header of a record of `writer` for `epoch`: its watermark is `EventTime` progress, or
/// idleness with the last watermark.
fn header(kind: Kind, writer: u32, epoch: u64, status: WriterStatus) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER);
    bytes.push(kind as u8);
    bytes.push(if status.idle { IDLE } else { 0 });
    bytes.extend_from_slice(&writer.to_be_bytes());
    bytes.extend_from_slice(&epoch.to_be_bytes());
    bytes.extend_from_slice(&status.watermark.unwrap_or(i64::MIN).to_be_bytes());
    bytes
}

/// A writer's event-time status, as its markers carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct WriterStatus {
    /// The writer's watermark, if it has one.
    watermark: Option<EventTime>,
    /// Whether its input is idle: readers do not wait for its watermark.
    idle: bool,
}

/// A decoded record.
struct Record<'a> {
    kind: Kind,
    writer: u32,
    epoch: u64,
    status: WriterStatus,
    body: &'a [u8],
}

fn parse(bytes: &[u8]) -> Option<Record<'_>> {
    if bytes.len() < HEADER {
        return None;
    }
    let kind = match bytes[0] {
        0 => Kind::Data,
        1 => Kind::Commit,
        2 => Kind::Restart,
        _ => return None,
    };
    let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let watermark = word(14) as i64;
    Some(Record {
        kind,
        writer: u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes")),
        epoch: word(6),
        status: WriterStatus {
            watermark: (watermark != i64::MIN).then_some(watermark),
            idle: bytes[1] & IDLE != 0,
        },
        body: &bytes[HEADER..],
    })
}

fn encode_batches(batches: &[RecordBatch]) -> Result<Vec<u8>, EngineError> {
    let mut bytes = Vec::new();
    if let Some(first) = batches.first() {
        let mut writer = StreamWriter::try_new(&mut bytes, &first.schema())?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    Ok(bytes)
}

fn decode_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, EngineError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    StreamReader::try_new(bytes, None)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(EngineError::from)
}

fn err(topic: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::Sink {
        name: format!("repartition topic {topic}"),
        message: message.to_string(),
    }
}

/// A repartition topic, as both sides see it.
#[derive(Debug, Clone)]
pub struct RepartitionTopic {
    /// The client's librdkafka properties (`bootstrap.servers`, …).
    pub properties: Properties,
    /// The topic; it exists, with `partitions` partitions.
    pub topic: String,
    /// Its partition count: keys are hashed modulo this.
    pub partitions: usize,
    /// How many writers there are (the input topic's partitions): a reader's watermark waits
    /// for all of them.
    pub writers: u32,
}

/// The writing side: rows hashed by their keys to the topic's partitions, released to readers
/// by commit markers once their checkpoint completes.
pub struct RepartitionSink {
    topic: RepartitionTopic,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    writer: u32,
    producer: Producer,
    /// The checkpoint that will cover rows written now.
    epoch: u64,
    /// The event-time status of the rows written so far.
    status: WriterStatus,
    /// The status as of each checkpoint's snapshot, which its commit marker carries: a
    /// watermark taken later would run ahead of rows still held back in the next epoch.
    prepared: PendingCheckpoints<WriterStatus>,
    buffers: Vec<Buffered>,
    hashes: Vec<u64>,
}

/// One partition's rows waiting to become a record, with their count and size.
#[derive(Default, Clone)]
struct Buffered {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

impl RepartitionSink {
    /// Writer `writer` (its input partition) of `topic`, hashing rows by `keys`.
    pub fn new(
        topic: RepartitionTopic,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        writer: u32,
    ) -> Result<Self, EngineError> {
        let producer = Producer::new(client_config(&topic.properties, &[("acks", "all")]))
            .map_err(|e| err(&topic.topic, e))?;
        Ok(RepartitionSink {
            buffers: vec![Buffered::default(); topic.partitions],
            topic,
            keys,
            writer,
            producer,
            epoch: 1,
            status: WriterStatus::default(),
            prepared: PendingCheckpoints::default(),
            hashes: Vec::new(),
        })
    }

    fn produce(&self, partition: usize, value: &[u8]) -> Result<(), EngineError> {
        self.producer
            .produce(
                &self.topic.topic,
                Some(partition as i32),
                None,
                None,
                Some(value),
            )
            .map_err(|e| err(&self.topic.topic, e))
    }

    fn flush_partition(&mut self, partition: usize) -> Result<(), EngineError> {
        let batches = std::mem::take(&mut self.buffers[partition]).batches;
        if batches.is_empty() {
            return Ok(());
        }
        let mut value = header(Kind::Data, self.writer, self.epoch, WriterStatus::default());
        value.extend(encode_batches(&batches)?);
        self.produce(partition, &value)
    }

    /// A marker with `status` to every partition, delivered before this returns.
    fn mark(&mut self, kind: Kind, epoch: u64, status: WriterStatus) -> Result<(), EngineError> {
        let value = header(kind, self.writer, epoch, status);
        for partition in 0..self.topic.partitions {
            self.produce(partition, &value)?;
        }
        self.producer
            .flush(REQUEST_TIMEOUT)
            .map_err(|e| err(&self.topic.topic, e))
    }
}

impl Sink for RepartitionSink {
    fn name(&self) -> String {
        format!("repartition {}", self.topic.topic)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        self.status.idle = false;
        let parts = split_by_hash(&self.keys, batch, self.topic.partitions, &mut self.hashes)?;
        for (partition, rows) in parts {
            let buffered = &mut self.buffers[partition];
            buffered.rows += rows.num_rows();
            buffered.bytes += rows.get_array_memory_size();
            buffered.batches.push(rows);
            if buffered.rows >= RECORD_ROWS || buffered.bytes >= RECORD_BYTES {
                self.flush_partition(partition)?;
            }
        }
        self.producer.serve();
        Ok(())
    }

    fn watermark(&mut self, watermark: EventTime) -> Result<(), EngineError> {
        self.status = WriterStatus {
            watermark: Some(watermark),
            idle: false,
        };
        Ok(())
    }

    fn idle(&mut self) -> Result<(), EngineError> {
        self.status.idle = true;
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        for partition in 0..self.topic.partitions {
            self.flush_partition(partition)?;
        }
        self.producer
            .flush(REQUEST_TIMEOUT)
            .map_err(|e| err(&self.topic.topic, e))?;
        self.epoch = checkpoint.saturating_add(1);
        self.prepared.insert(checkpoint, self.status);
        Ok(checkpoint.to_be_bytes().to_vec())
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        // Nothing prepared (no snapshot since the restore): nothing to release.
        let Some(status) = self.prepared.complete(checkpoint).pop() else {
            return Ok(());
        };
        self.mark(Kind::Commit, checkpoint, status)
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<(), EngineError> {
        let restored = match pending {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .try_into()
                    .map_err(|_| err(&self.topic.topic, "a corrupt checkpoint state"))?,
            ),
            None => 0,
        };
        // Releases what the restored checkpoint covers, drops what a failed instance wrote
        // after it.
        self.prepared.clear();
        self.mark(Kind::Restart, restored, WriterStatus::default())?;
        self.epoch = restored.saturating_add(1);
        Ok(())
    }
}

/// One writer's rows that a reader holds back until they are committed.
#[derive(Debug, Default)]
struct WriterState {
    committed: u64,
    status: WriterStatus,
    held: Vec<(u64, Vec<RecordBatch>)>,
}

/// The reading side: one partition of a repartition topic, each writer's rows released once
/// committed, with the least of the writers' watermarks.
pub struct RepartitionSource {
    topic: RepartitionTopic,
    partition: i32,
    schema: SchemaRef,
    consumer: BaseConsumer,
    /// The offset after the last record taken.
    offset: i64,
    writers: Vec<WriterState>,
    ready: VecDeque<RecordBatch>,
    emitted: Option<EventTime>,
    /// Where the read offsets of completed checkpoints go, for the group member to commit.
    commits: MemberCommits,
    to_commit: PendingCheckpoints<i64>,
}

impl RepartitionSource {
    /// The reader of `partition` of `topic`, whose rows have `schema`; the offsets its
    /// checkpoints hold go to `commits` once they complete.
    pub fn new(
        topic: RepartitionTopic,
        partition: i32,
        schema: SchemaRef,
        commits: MemberCommits,
    ) -> Result<Self, EngineError> {
        let consumer: BaseConsumer = client_config(
            &topic.properties,
            &[
                ("group.id", "spate-repartition"),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
            ],
        )
        .create()
        .map_err(|e| err(&topic.topic, describe("creating the consumer", e)))?;
        Ok(RepartitionSource {
            writers: (0..topic.writers).map(|_| WriterState::default()).collect(),
            topic,
            partition,
            schema,
            consumer,
            offset: 0,
            ready: VecDeque::new(),
            emitted: None,
            commits,
            to_commit: PendingCheckpoints::default(),
        })
    }

    fn seek(&mut self) -> Result<(), EngineError> {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(
                &self.topic.topic,
                self.partition,
                Offset::Offset(self.offset),
            )
            .map_err(|e| err(&self.topic.topic, e))?;
        self.consumer
            .assign(&assignment)
            .map_err(|e| err(&self.topic.topic, describe("assigning the partition", e)))
    }

    /// Takes one record of the topic.
    fn take(&mut self, offset: i64, value: &[u8]) -> Result<(), EngineError> {
        let record = parse(value).ok_or_else(|| {
            err(
                &self.topic.topic,
                format!(
                    "partition {} offset {offset} is not a repartition record",
                    self.partition
                ),
            )
        })?;
        let partition = self.partition;
        let Some(state) = self.writers.get_mut(record.writer as usize) else {
            return Err(err(
                &self.topic.topic,
                format!(
                    "a record of writer {}, but the input has fewer partitions",
                    record.writer
                ),
            ));
        };
        let released = match record.kind {
            Kind::Data => {
                if record.epoch <= state.committed {
                    return Err(err(
                        &self.topic.topic,
                        format!(
                            "partition {partition} offset {offset}: writer {} wrote epoch {} \
                             after committing {}",
                            record.writer, record.epoch, state.committed
                        ),
                    ));
                }
                state
                    .held
                    .push((record.epoch, decode_batches(record.body)?));
                Vec::new()
            }
            Kind::Commit | Kind::Restart => {
                let (done, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.held)
                    .into_iter()
                    .partition(|(epoch, _)| *epoch <= record.epoch);
                if record.kind == Kind::Commit {
                    state.held = later;
                }
                tracing::debug!(
                    partition,
                    writer = record.writer,
                    epoch = record.epoch,
                    kind = ?record.kind,
                    watermark = ?record.status.watermark,
                    idle = record.status.idle,
                    "repartition marker"
                );
                state.committed = state.committed.max(record.epoch);
                state.status = WriterStatus {
                    watermark: record.status.watermark.max(state.status.watermark),
                    idle: record.status.idle,
                };
                done.into_iter().flat_map(|(_, batches)| batches).collect()
            }
        };
        self.ready.extend(released);
        Ok(())
    }

    /// The least of the watermarks of the writers that are not idle, once each has one; when
    /// every writer is idle, the greatest of their watermarks (which each writer reached
    /// before going idle, as Flink's watermark valve does).
    fn watermark(&self) -> Option<EventTime> {
        let statuses = self.writers.iter().map(|w| w.status);
        match self.writers.iter().all(|w| w.status.idle) {
            true => statuses.filter_map(|s| s.watermark).max(),
            false => statuses
                .filter(|s| !s.idle)
                .map(|s| s.watermark)
                .min()
                .flatten(),
        }
    }
}

impl Source for RepartitionSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> Vec<String> {
        vec![format!("{}/{}", self.topic.topic, self.partition)]
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        for _ in 0..64 {
            if let Some(batch) = self.ready.pop_front() {
                return Ok(SourcePoll::Batch {
                    partition: 0,
                    batch,
                });
            }
            if let Some(wm) = self.watermark()
                && Some(wm) > self.emitted
            {
                self.emitted = Some(wm);
                return Ok(SourcePoll::Watermark(wm));
            }
            let Some(message) = self.consumer.poll(Duration::ZERO) else {
                return Ok(SourcePoll::Idle);
            };
            let message = message
                .map_err(|e| err(&self.topic.topic, describe("reading the partition", e)))?;
            let offset = message.offset();
            let value = message.payload().unwrap_or_default().to_vec();
            drop(message);
            self.take(offset, &value)?;
            self.offset = offset + 1;
        }
        Ok(SourcePoll::Idle)
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        self.to_commit.insert(checkpoint, self.offset);
        let mut state = StateBytes::default();
        state.u64(self.offset as u64);
        state.u64(self.emitted.unwrap_or(i64::MIN) as u64);
        state.bytes(&encode_batches(self.ready.make_contiguous())?);
        for writer in &self.writers {
            state.u64(writer.committed);
            state.u64(writer.status.watermark.unwrap_or(i64::MIN) as u64);
            state.u64(u64::from(writer.status.idle));
            state.u64(writer.held.len() as u64);
            for (epoch, batches) in &writer.held {
                state.u64(*epoch);
                state.bytes(&encode_batches(batches)?);
            }
        }
        Ok(state.0)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        if let Some(bytes) = state {
            let corrupt = || err(&self.topic.topic, "a corrupt checkpoint state");
            let mut state = StateReader(bytes);
            let time = |t: u64| (t as i64 != i64::MIN).then_some(t as i64);
            self.offset = state.u64().ok_or_else(corrupt)? as i64;
            self.emitted = time(state.u64().ok_or_else(corrupt)?);
            self.ready = decode_batches(state.bytes().ok_or_else(corrupt)?)?.into();
            for writer in &mut self.writers {
                writer.committed = state.u64().ok_or_else(corrupt)?;
                writer.status = WriterStatus {
                    watermark: time(state.u64().ok_or_else(corrupt)?),
                    idle: state.u64().ok_or_else(corrupt)? != 0,
                };
                let held = state.u64().ok_or_else(corrupt)?;
                writer.held = (0..held)
                    .map(|_| {
                        let epoch = state.u64().ok_or_else(corrupt)?;
                        Ok((epoch, decode_batches(state.bytes().ok_or_else(corrupt)?)?))
                    })
                    .collect::<Result<_, EngineError>>()?;
            }
        }
        self.to_commit.clear();
        self.seek()
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        if let Some(offset) = self.to_commit.complete(checkpoint).pop() {
            self.commits
                .record(&self.topic.topic, self.partition, offset);
        }
        Ok(())
    }
}

/// A checkpoint state being written: big-endian words and length-prefixed bytes.
#[derive(Default)]
struct StateBytes(Vec<u8>);

impl StateBytes {
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }
}

/// A checkpoint state being read back.
struct StateReader<'a>(&'a [u8]);

impl<'a> StateReader<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (word, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*word))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        let (bytes, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn reader(writers: u32) -> RepartitionSource {
        let topic = RepartitionTopic {
            properties: [("bootstrap.servers".to_string(), "127.0.0.1:9".to_string())].into(),
            topic: "t-repartition".into(),
            partitions: 1,
            writers,
        };
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RepartitionSource::new(topic, 0, schema, MemberCommits::default()).unwrap()
    }

    fn marker(kind: Kind, writer: u32, epoch: u64, watermark: Option<i64>, idle: bool) -> Vec<u8> {
        header(kind, writer, epoch, WriterStatus { watermark, idle })
    }

    #[test]
    fn headers_round_trip_with_idleness() {
        let bytes = marker(Kind::Commit, 3, 7, Some(-5), true);
        let record = parse(&bytes).unwrap();
        assert_eq!(
            (record.kind, record.writer, record.epoch),
            (Kind::Commit, 3, 7)
        );
        assert_eq!(
            record.status,
            WriterStatus {
                watermark: Some(-5),
                idle: true
            }
        );
        let bytes = marker(Kind::Data, 1, 2, None, false);
        assert_eq!(parse(&bytes).unwrap().status, WriterStatus::default());
    }

    #[test]
    fn idle_writers_do_not_hold_the_readers_watermark_back() {
        let mut reader = reader(2);
        reader
            .take(0, &marker(Kind::Commit, 0, 1, Some(100), false))
            .unwrap();
        // Writer 1 has said nothing: the watermark waits for it.
        assert_eq!(reader.watermark(), None);
        reader
            .take(1, &marker(Kind::Commit, 1, 1, None, true))
            .unwrap();
        assert_eq!(reader.watermark(), Some(100));
        // Writer 1 writes again: its rows are held until committed, and its watermark counts.
        let schema = Arc::clone(&reader.schema);
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        let mut data = marker(Kind::Data, 1, 2, None, false);
        data.extend(encode_batches(&[batch]).unwrap());
        reader.take(2, &data).unwrap();
        assert!(reader.ready.is_empty());
        reader
            .take(3, &marker(Kind::Commit, 1, 2, Some(60), false))
            .unwrap();
        assert_eq!(reader.ready.len(), 1);
        assert_eq!(reader.watermark(), Some(60));
        // Both idle: each reached its watermark before going idle.
        reader
            .take(4, &marker(Kind::Commit, 0, 2, Some(100), true))
            .unwrap();
        reader
            .take(5, &marker(Kind::Commit, 1, 3, Some(60), true))
            .unwrap();
        assert_eq!(reader.watermark(), Some(100));
    }

    #[test]
    fn idleness_survives_a_checkpoint() {
        let mut reader = reader(2);
        reader
            .take(0, &marker(Kind::Commit, 0, 1, Some(100), false))
            .unwrap();
        reader
            .take(1, &marker(Kind::Commit, 1, 1, None, true))
            .unwrap();
        let state = reader.snapshot(1).unwrap();
        let mut restored = self::reader(2);
        restored.restore(Some(&state)).unwrap();
        assert_eq!(restored.offset, 0);
        assert_eq!(restored.watermark(), Some(100));
        assert!(restored.writers[1].status.idle);
    }
}
