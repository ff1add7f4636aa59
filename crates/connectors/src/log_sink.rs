//! The embedded log as a sink (`spate-log`): rows become JSON records of a topic, exactly once.
//!
//! Rows are encoded as they arrive (one JSON object per row, and a JSON key of the `key.fields`
//! columns when there are any) and held back: on a checkpoint barrier the rows since the last
//! one are set aside and stored in the checkpoint, and only once that checkpoint is complete are
//! they appended to the topic. A job that fails never leaves rows of an incomplete checkpoint in
//! the topic, as Flink's Kafka sink with transactions does.
//!
//! Committing again after a failure must not append twice. Each instance numbers its records
//! per partition (0, 1, 2, … as they are written, kept in checkpoints) and keeps a ledger of
//! how many it has appended to each partition: the committed offsets of the consumer group
//! `<sink.transactional-id-prefix>-<instance>` on the key `<topic>.sink-seq`. A commit appends
//! only the records numbered at or after the ledger's count, in batches of at most
//! [`APPEND_BYTES`], and moves the ledger after each batch. The log has no transactions to
//! make a batch and its ledger entry one write, so a crash between the two repeats that one
//! batch on recovery; nothing else is repeated or lost. A fresh start (no checkpoint) resets
//! the ledger, so, as with Flink's transactional ids, two jobs that write one topic need
//! different prefixes.
//!
//! The partition of a row (`sink.partitioner`): `default` hashes the key with Kafka's murmur2
//! (as Kafka's default partitioner) and spreads keyless rows round-robin; `fixed` sends each
//! instance's rows to partition `instance % partitions` (Flink's `fixed`); `round-robin`
//! ignores keys. A topic that does not exist is created with one partition, as Kafka's broker
//! does by default.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use spate_engine::EngineError;
use spate_engine::sink::Sink;
use spate_log::{Log, LogError, Record, Topic, TopicConfig};

/// The largest batch a commit appends at once (bytes of keys and values).
pub const APPEND_BYTES: usize = 1 << 20;

/// How rows are spread over the topic's partitions (`sink.partitioner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// Kafka's: murmur2 of the key, round-robin without a key.
    Default,
    /// Instance `i` writes to partition `i % partitions`.
    Fixed,
    /// Round-robin, keys or not.
    RoundRobin,
}

/// Configuration of a log sink, shared by its instances.
#[derive(Debug, Clone)]
pub struct LogSinkConfig {
    /// The log.
    pub log: Log,
    /// The topic written.
    pub topic: String,
    /// The schema of the rows written.
    pub schema: SchemaRef,
    /// Columns whose JSON object is the record key (`key.fields`); none for keyless records.
    pub key_fields: Vec<String>,
    /// Whether the key columns are left out of the value (`value.fields-include` =
    /// `EXCEPT_KEY`).
    pub value_except_key: bool,
    /// How rows are spread over partitions.
    pub partitioner: Partitioner,
    /// The prefix of the ledger's consumer group (`sink.transactional-id-prefix`); unique per
    /// sink of a job.
    pub transactional_id_prefix: String,
}

/// A record waiting for its checkpoint.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    partition: u32,
    /// The record's number among this instance's records of its partition.
    seq: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

/// The records of one checkpoint.
#[derive(Debug, Clone, PartialEq)]
struct Prepared {
    checkpoint: u64,
    records: Vec<Pending>,
}

/// One instance of the log sink.
pub struct LogSink {
    config: LogSinkConfig,
    topic: Arc<Topic>,
    instance: usize,
    key_columns: Vec<usize>,
    value_columns: Vec<usize>,
    /// Records since the last barrier.
    buffer: Vec<Pending>,
    /// Records of checkpoints not yet committed, oldest first.
    prepared: Vec<Prepared>,
    /// The number the next record of each partition gets.
    next_seq: Vec<u64>,
    /// The ledger's consumer group.
    ledger: String,
    /// The ledger's key in the group.
    ledger_key: String,
}

fn sink_err(topic: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Sink {
        name: format!("spate-log topic {topic}"),
        message: e.to_string(),
    }
}

impl LogSink {
    /// Instance `instance` writing `config.topic` (created with one partition if missing).
    pub fn new(config: LogSinkConfig, instance: usize) -> Result<Self, EngineError> {
        let err = |e: LogError| sink_err(&config.topic, e);
        let topic = match config.log.topic(&config.topic) {
            Ok(t) => t,
            Err(LogError::UnknownTopic(_)) => {
                tracing::info!(topic = %config.topic, "creating the sink's topic with one partition");
                match config.log.create_topic(&config.topic, TopicConfig::new(1)) {
                    Ok(t) => t,
                    // Another instance created it first.
                    Err(LogError::TopicExists(_)) => {
                        config.log.topic(&config.topic).map_err(err)?
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        };
        let column = |name: &String| {
            config.schema.index_of(name).map_err(|_| {
                sink_err(
                    &config.topic,
                    format!("key field {name} is not a column of the table"),
                )
            })
        };
        let key_columns = config
            .key_fields
            .iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()?;
        let value_columns = (0..config.schema.fields().len())
            .filter(|c| !(config.value_except_key && key_columns.contains(c)))
            .collect();
        let ledger = format!("{}-{instance}", config.transactional_id_prefix);
        Ok(LogSink {
            ledger_key: format!("{}.sink-seq", config.topic),
            next_seq: vec![0; topic.partitions() as usize],
            topic,
            instance,
            key_columns,
            value_columns,
            buffer: Vec::new(),
            prepared: Vec::new(),
            ledger,
            config,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        sink_err(&self.config.topic, e)
    }

    /// How many records of each partition the ledger says are appended.
    fn appended(&self) -> Result<BTreeMap<u32, u64>, EngineError> {
        Ok(self
            .config
            .log
            .group_offsets(&self.ledger)
            .map_err(|e| self.err(e))?
            .remove(&self.ledger_key)
            .unwrap_or_default())
    }

    /// Appends the records of checkpoints up to `upto` that the ledger does not have yet.
    fn commit_prepared(&mut self, upto: u64) -> Result<(), EngineError> {
        let (done, keep): (Vec<Prepared>, Vec<Prepared>) = std::mem::take(&mut self.prepared)
            .into_iter()
            .partition(|p| p.checkpoint <= upto);
        self.prepared = keep;
        if done.is_empty() {
            return Ok(());
        }
        let appended = self.appended()?;
        let mut by_partition: BTreeMap<u32, Vec<&Pending>> = BTreeMap::new();
        for record in done.iter().flat_map(|p| &p.records) {
            if record.seq >= appended.get(&record.partition).copied().unwrap_or(0) {
                by_partition
                    .entry(record.partition)
                    .or_default()
                    .push(record);
            }
        }
        for (partition, records) in by_partition {
            let mut start = 0;
            while start < records.len() {
                let mut bytes = 0;
                let mut end = start;
                while end < records.len() && (end == start || bytes < APPEND_BYTES) {
                    bytes +=
                        records[end].value.len() + records[end].key.as_ref().map_or(0, Vec::len);
                    end += 1;
                }
                let chunk: Vec<Record<'_>> = records[start..end]
                    .iter()
                    .map(|r| Record {
                        timestamp: r.timestamp,
                        key: r.key.as_deref(),
                        value: &r.value,
                    })
                    .collect();
                self.topic
                    .append(partition, &chunk)
                    .map_err(|e| self.err(e))?;
                let next = records[end - 1].seq + 1;
                self.config
                    .log
                    .commit_offsets(&self.ledger, &self.ledger_key, &[(partition, next)])
                    .map_err(|e| self.err(e))?;
                start = end;
            }
        }
        Ok(())
    }

    /// The JSON lines of `columns` of `batch`, one per row.
    fn json_rows(batch: &RecordBatch, columns: &[usize]) -> Result<Vec<Vec<u8>>, EngineError> {
        let projected = batch.project(columns)?;
        let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
        w.write(&projected)?;
        w.finish()?;
        let text = w.into_inner();
        Ok(text
            .split(|b| *b == b'\n')
            .take(batch.num_rows())
            .map(<[u8]>::to_vec)
            .collect())
    }
}

impl Sink for LogSink {
    fn name(&self) -> String {
        format!("spate-log {}", self.config.topic)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let values = Self::json_rows(batch, &self.value_columns)?;
        let keys = match self.key_columns.is_empty() {
            true => None,
            false => Some(Self::json_rows(batch, &self.key_columns)?),
        };
        let timestamp = spate_log::now_ms();
        let partitions = self.topic.partitions();
        for (row, value) in values.into_iter().enumerate() {
            let key = keys.as_ref().map(|k| k[row].clone());
            let partition = match self.config.partitioner {
                Partitioner::Default => self.topic.partition_for(key.as_deref()),
                Partitioner::Fixed => self.instance as u32 % partitions,
                Partitioner::RoundRobin => self.topic.partition_for(None),
            };
            let seq = &mut self.next_seq[partition as usize];
            self.buffer.push(Pending {
                partition,
                seq: *seq,
                timestamp,
                key,
                value,
            });
            *seq += 1;
        }
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        if !self.buffer.is_empty() {
            self.prepared.push(Prepared {
                checkpoint,
                records: std::mem::take(&mut self.buffer),
            });
        }
        Ok(encode_state(&self.next_seq, &self.prepared))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        self.commit_prepared(checkpoint)
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<(), EngineError> {
        self.buffer.clear();
        match pending {
            Some(state) if !state.is_empty() => {
                let (next_seq, prepared) =
                    decode_state(state).ok_or_else(|| EngineError::CorruptState {
                        task: self.name(),
                        reason: "the pending records do not decode".into(),
                    })?;
                if next_seq.len() != self.next_seq.len() {
                    return Err(EngineError::CorruptState {
                        task: self.name(),
                        reason: format!(
                            "the checkpoint has {} partitions of {}, the topic has {}",
                            next_seq.len(),
                            self.config.topic,
                            self.next_seq.len()
                        ),
                    });
                }
                self.next_seq = next_seq;
                self.prepared = prepared;
                self.commit_prepared(u64::MAX)
            }
            _ => {
                // A fresh start: nothing of this instance is appended yet.
                self.next_seq.iter_mut().for_each(|s| *s = 0);
                self.prepared.clear();
                let zero: Vec<(u32, u64)> = (0..self.topic.partitions()).map(|p| (p, 0)).collect();
                self.config
                    .log
                    .commit_offsets(&self.ledger, &self.ledger_key, &zero)
                    .map_err(|e| self.err(e))
            }
        }
    }
}

/// The checkpoint state: the next record number of each partition, then each prepared
/// checkpoint with its records, little-endian, lengths as `u32`, a key's as `u32::MAX` when
/// there is none.
fn encode_state(next_seq: &[u64], prepared: &[Prepared]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(next_seq.len() as u32).to_le_bytes());
    for seq in next_seq {
        out.extend_from_slice(&seq.to_le_bytes());
    }
    out.extend_from_slice(&(prepared.len() as u32).to_le_bytes());
    for p in prepared {
        out.extend_from_slice(&p.checkpoint.to_le_bytes());
        out.extend_from_slice(&(p.records.len() as u32).to_le_bytes());
        for r in &p.records {
            out.extend_from_slice(&r.partition.to_le_bytes());
            out.extend_from_slice(&r.seq.to_le_bytes());
            out.extend_from_slice(&r.timestamp.to_le_bytes());
            match &r.key {
                Some(key) => {
                    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                    out.extend_from_slice(key);
                }
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
            out.extend_from_slice(&(r.value.len() as u32).to_le_bytes());
            out.extend_from_slice(&r.value);
        }
    }
    out
}

/// Reads what [`encode_state`] wrote; `None` if it is malformed.
fn decode_state(bytes: &[u8]) -> Option<(Vec<u64>, Vec<Prepared>)> {
    let mut r = Reader(bytes);
    let partitions = r.u32()?;
    let next_seq = (0..partitions)
        .map(|_| r.u64())
        .collect::<Option<Vec<_>>>()?;
    let count = r.u32()?;
    let mut prepared = Vec::new();
    for _ in 0..count {
        let checkpoint = r.u64()?;
        let n = r.u32()?;
        let mut records = Vec::new();
        for _ in 0..n {
            let partition = r.u32()?;
            let seq = r.u64()?;
            let timestamp = r.u64()? as i64;
            let key = match r.u32()? {
                u32::MAX => None,
                len => Some(r.bytes(len as usize)?.to_vec()),
            };
            let len = r.u32()? as usize;
            let value = r.bytes(len)?.to_vec();
            if partition as usize >= next_seq.len() {
                return None;
            }
            records.push(Pending {
                partition,
                seq,
                timestamp,
                key,
                value,
            });
        }
        prepared.push(Prepared {
            checkpoint,
            records,
        });
    }
    r.0.is_empty().then_some((next_seq, prepared))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use spate_log::LogOptions;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn batch(ids: &[i64]) -> RecordBatch {
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    fn config(log: &Log, key_fields: &[&str]) -> LogSinkConfig {
        LogSinkConfig {
            log: log.clone(),
            topic: "out".into(),
            schema: schema(),
            key_fields: key_fields.iter().map(|s| s.to_string()).collect(),
            value_except_key: false,
            partitioner: Partitioner::Default,
            transactional_id_prefix: "test-sink".into(),
        }
    }

    /// Every record of the topic: (partition, key, value).
    fn records(log: &Log) -> Vec<(u32, Option<String>, String)> {
        let topic = log.topic("out").unwrap();
        let mut out = Vec::new();
        for p in 0..topic.partitions() {
            for r in topic.fetch(p, 0, usize::MAX).unwrap().iter() {
                out.push((
                    p,
                    r.key.map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    String::from_utf8(r.value.to_vec()).unwrap(),
                ));
            }
        }
        out
    }

    fn ids(log: &Log) -> Vec<i64> {
        let mut ids: Vec<i64> = records(log)
            .iter()
            .map(|(_, _, v)| {
                serde_json::from_str::<serde_json::Value>(v).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn rows_are_appended_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let mut sink = LogSink::new(config(&log, &[]), 0).unwrap();
        sink.restore(None).unwrap();
        sink.write(&batch(&[1, 2])).unwrap();
        let topic = log.topic("out").unwrap();
        assert_eq!(topic.partitions(), 1, "created with one partition");
        sink.prepare_commit(1).unwrap();
        sink.write(&batch(&[3])).unwrap();
        assert_eq!(topic.end_offset(0).unwrap(), 0);
        sink.commit(1).unwrap();
        assert_eq!(
            records(&log),
            vec![
                (0, None, r#"{"id":1,"name":"n1"}"#.to_string()),
                (0, None, r#"{"id":2,"name":"n2"}"#.to_string()),
            ]
        );
        sink.prepare_commit(2).unwrap();
        sink.commit(2).unwrap();
        assert_eq!(ids(&log), vec![1, 2, 3]);
    }

    #[test]
    fn keys_pick_partitions_with_murmur2() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        log.create_topic("out", TopicConfig::new(4)).unwrap();
        let mut cfg = config(&log, &["id"]);
        cfg.value_except_key = true;
        let mut sink = LogSink::new(cfg, 0).unwrap();
        sink.restore(None).unwrap();
        sink.write(&batch(&[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        let got = records(&log);
        assert_eq!(got.len(), 8);
        for (partition, key, value) in got {
            let key = key.expect("keyed");
            assert_eq!(partition, spate_log::partition_for_key(key.as_bytes(), 4));
            let id = serde_json::from_str::<serde_json::Value>(&key).unwrap()["id"]
                .as_i64()
                .unwrap();
            assert_eq!(value, format!(r#"{{"name":"n{id}"}}"#));
        }
        let mut fixed = config(&log, &[]);
        fixed.partitioner = Partitioner::Fixed;
        fixed.transactional_id_prefix = "fixed".into();
        let mut sink = LogSink::new(fixed, 6).unwrap();
        sink.restore(None).unwrap();
        sink.write(&batch(&[9, 10])).unwrap();
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        // Instance 6 of a `fixed` sink writes to partition 6 % 4.
        let keyless: Vec<u32> = records(&log)
            .into_iter()
            .filter(|(_, k, _)| k.is_none())
            .map(|(p, _, _)| p)
            .collect();
        assert_eq!(keyless, vec![2, 2]);
    }

    #[test]
    fn recovery_commits_what_is_missing_and_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let mut sink = LogSink::new(config(&log, &[]), 0).unwrap();
        sink.restore(None).unwrap();
        sink.write(&batch(&[1, 2])).unwrap();
        sink.prepare_commit(1).unwrap();
        sink.write(&batch(&[3])).unwrap();
        // Checkpoint 2 is taken before checkpoint 1's commit arrives: its state holds both.
        let second = sink.prepare_commit(2).unwrap();
        sink.commit(1).unwrap();
        assert_eq!(ids(&log), vec![1, 2]);
        // The job fails here, after checkpoint 2 completed: recovery commits row 3 only.
        let mut recovered = LogSink::new(config(&log, &[]), 0).unwrap();
        recovered.restore(Some(&second)).unwrap();
        assert_eq!(ids(&log), vec![1, 2, 3]);
        // Recovering again appends nothing.
        let mut again = LogSink::new(config(&log, &[]), 0).unwrap();
        again.restore(Some(&second)).unwrap();
        assert_eq!(ids(&log), vec![1, 2, 3]);
        // Rows after the restored checkpoint are numbered on from it.
        again.write(&batch(&[4])).unwrap();
        again.prepare_commit(3).unwrap();
        again.commit(3).unwrap();
        assert_eq!(ids(&log), vec![1, 2, 3, 4]);
        // A fresh start begins a new ledger.
        let mut fresh = LogSink::new(config(&log, &[]), 0).unwrap();
        fresh.restore(None).unwrap();
        fresh.write(&batch(&[5])).unwrap();
        fresh.prepare_commit(1).unwrap();
        fresh.commit(1).unwrap();
        assert_eq!(ids(&log), vec![1, 2, 3, 4, 5]);
        assert!(matches!(
            fresh.restore(Some(b"junk")),
            Err(EngineError::CorruptState { .. })
        ));
    }

    #[test]
    fn state_round_trips() {
        let prepared = vec![Prepared {
            checkpoint: 3,
            records: vec![
                Pending {
                    partition: 1,
                    seq: 7,
                    timestamp: -5,
                    key: None,
                    value: b"{}".to_vec(),
                },
                Pending {
                    partition: 0,
                    seq: 0,
                    timestamp: 9,
                    key: Some(b"k".to_vec()),
                    value: Vec::new(),
                },
            ],
        }];
        let bytes = encode_state(&[1, 8], &prepared);
        assert_eq!(decode_state(&bytes), Some((vec![1, 8], prepared)));
        assert_eq!(decode_state(&bytes[..bytes.len() - 1]), None);
    }
}
