//! A Kafka topic as a sink.
//!
//! The partition of a row (`sink.partitioner`): `default` hashes the key with Kafka's murmur2,
//! as Kafka's Java producer does (librdkafka's own default would use CRC32), and spreads
//! keyless rows round-robin; `fixed` sends each instance's rows to partition
//! `instance % partitions`; `round-robin` ignores keys. The record timestamp is the table's
//! `timestamp` metadata column where it has one, else the time of writing.
//!
//! An upsert table (`upsert-kafka`, [`KafkaSinkConfig::upsert`]) takes a changelog keyed by its
//! primary key: `+I` and `+U` rows are records with the row as value, `-D` rows tombstones (the
//! key without a value), and so is a `-U` row unless the next row is the `+U` of the same key
//! (an update in place, which that record states whole). Keys go to the partition of their
//! murmur2 hash, so one key's changes stay in order. With `sink.buffer-flush.*`
//! ([`BufferFlush`]) the last change of each key waits in a buffer, as Flink's reducing upsert
//! writer does, until enough keys wait, the interval passes or a checkpoint comes.
//!
//! Delivery is at least once: rows are produced as they come, and on a checkpoint barrier the
//! producer is flushed and a failed delivery fails the checkpoint, so every row before a
//! completed checkpoint is in Kafka; rows after it are produced again on recovery. Exactly once
//! would need Kafka transactions (`EndTxn`), which the broker the tests run against (tansu 0.6)
//! does not offer, so `exactly-once` is refused at planning rather than promised untested.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use spate_engine::EngineError;
use spate_engine::changelog::{self, RowKind};
use spate_engine::sink::Sink;
use spate_kafka::Producer;

use super::{Properties, REQUEST_TIMEOUT, client_config, partition_count};
use crate::format::record::{RecordFormat, encode_rows};
use crate::log_sink::Partitioner;

/// Configuration of a Kafka sink, shared by its instances.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    /// The client's librdkafka properties (`bootstrap.servers`, …).
    pub properties: Properties,
    /// The topic written; it must exist.
    pub topic: String,
    /// The rows written: physical columns, then the `timestamp` metadata column if any.
    pub schema: SchemaRef,
    /// The value's format.
    pub value_format: RecordFormat,
    /// The columns the value holds, in order.
    pub value_fields: Vec<String>,
    /// The key's format and columns (`key.fields`); keyless records without.
    pub key: Option<(RecordFormat, Vec<String>)>,
    /// The column holding each record's timestamp (`METADATA FROM 'timestamp'`).
    pub timestamp_column: Option<String>,
    /// How rows are spread over partitions.
    pub partitioner: Partitioner,
    /// Whether rows are the changes of a table keyed by the `key` columns (`upsert-kafka`).
    pub upsert: bool,
    /// How an upsert table buffers its changes; `None` produces each as it comes.
    pub buffer: Option<BufferFlush>,
}

/// The buffering of an upsert sink (`sink.buffer-flush.max-rows` and `.interval`): the last
/// change of each key is kept, and the buffer is produced once it holds `max_rows` keys or
/// `interval` has passed since it was last produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferFlush {
    /// Keys buffered at most.
    pub max_rows: usize,
    /// The longest a change waits.
    pub interval: Duration,
}

/// A change waiting in an upsert sink's buffer.
struct Buffered {
    key: Vec<u8>,
    /// `None` for a tombstone.
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// One instance of the Kafka sink.
pub struct KafkaSink {
    config: KafkaSinkConfig,
    producer: Producer,
    partitions: u32,
    instance: usize,
    key_columns: Vec<usize>,
    value_columns: Vec<usize>,
    timestamp_column: Option<usize>,
    round_robin: u32,
    /// Upsert tables with `sink.buffer-flush.*`: the last change per key, in first-seen order.
    buffer: Vec<Buffered>,
    buffered: HashMap<Vec<u8>, usize>,
    last_flush: Instant,
}

fn sink_err(topic: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::Sink {
        name: format!("kafka topic {topic}"),
        message: message.to_string(),
    }
}

impl KafkaSink {
    /// Instance `instance` writing `config.topic`.
    pub fn new(config: KafkaSinkConfig, instance: usize) -> Result<Self, EngineError> {
        let topic = config.topic.clone();
        let err = |e: String| sink_err(&topic, e);
        let producer = Producer::new(client_config(&config.properties, &[]))
            .map_err(|e| err(e.to_string()))?;
        let partitions = partition_count(producer.client(), &topic).map_err(err)? as u32;
        let column = |name: &String| {
            config
                .schema
                .index_of(name)
                .map_err(|_| err(format!("{name} is not a column of the table")))
        };
        let key_columns = match &config.key {
            Some((_, fields)) => fields.iter().map(column).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let value_columns = config
            .value_fields
            .iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()?;
        let timestamp_column = config.timestamp_column.as_ref().map(column).transpose()?;
        Ok(KafkaSink {
            producer,
            partitions,
            instance,
            key_columns,
            value_columns,
            timestamp_column,
            round_robin: instance as u32,
            buffer: Vec::new(),
            buffered: HashMap::new(),
            last_flush: Instant::now(),
            config,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        sink_err(&self.config.topic, e)
    }

    /// The partition of a row with `key`.
    fn partition_for(&mut self, key: Option<&[u8]>) -> u32 {
        match (self.config.partitioner, key) {
            (Partitioner::Default, Some(key)) => spate_log::partition_for_key(key, self.partitions),
            (Partitioner::Fixed, _) => self.instance as u32 % self.partitions,
            (Partitioner::Default | Partitioner::RoundRobin, _) => {
                self.round_robin = self.round_robin.wrapping_add(1);
                self.round_robin % self.partitions
            }
        }
    }

    /// Produces a record now, to the partition of its key.
    fn send(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), EngineError> {
        let partition = self.partition_for(key) as i32;
        let topic = &self.config.topic;
        self.producer
            .produce(topic, Some(partition), Some(timestamp), key, value)
            .map_err(|e| sink_err(topic, e))?;
        // Serve delivery reports as we go.
        self.producer.serve();
        Ok(())
    }

    /// Keeps `value` (`None`: a tombstone) as the last change of `key` in the buffer, and
    /// produces the buffer once it holds `max_rows` keys.
    fn buffer(
        &mut self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        max_rows: usize,
    ) -> Result<(), EngineError> {
        match self.buffered.get(&key) {
            Some(&at) => {
                self.buffer[at].value = value;
                self.buffer[at].timestamp = timestamp;
            }
            None => {
                self.buffered.insert(key.clone(), self.buffer.len());
                self.buffer.push(Buffered {
                    key,
                    value,
                    timestamp,
                });
            }
        }
        if self.buffer.len() >= max_rows {
            self.produce_buffer()?;
        }
        Ok(())
    }

    /// Produces the buffered changes.
    fn produce_buffer(&mut self) -> Result<(), EngineError> {
        self.buffered.clear();
        for change in std::mem::take(&mut self.buffer) {
            self.send(Some(&change.key), change.value.as_deref(), change.timestamp)?;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Waits for every record handed to the producer; fails if one was not delivered.
    fn flush(&self) -> Result<(), EngineError> {
        self.producer
            .flush(REQUEST_TIMEOUT)
            .map_err(|e| self.err(e.to_string()))
    }
}

/// The timestamps (milliseconds) of `column`, `None` where NULL.
fn timestamps(column: &dyn Array) -> Result<Vec<Option<i64>>, EngineError> {
    let millis = arrow::compute::cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let millis = millis.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    Ok(millis.iter().collect())
}

impl Sink for KafkaSink {
    fn name(&self) -> String {
        format!("kafka {}", self.config.topic)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let kinds = changelog::row_kinds(batch)?;
        if kinds.is_some() && !self.config.upsert {
            return Err(self.err("an append-only kafka table takes no updates or deletes"));
        }
        let rows = changelog::without_row_kind(batch);
        let mut values = encode_rows(
            self.config.value_format,
            &rows.project(&self.value_columns)?,
        )?;
        let keys = match &self.config.key {
            Some((format, _)) => Some(encode_rows(*format, &rows.project(&self.key_columns)?)?),
            None => None,
        };
        let stamps = match self.timestamp_column {
            Some(c) => Some(timestamps(rows.column(c))?),
            None => None,
        };
        let now = spate_log::now_ms();
        for row in 0..rows.num_rows() {
            let key = keys.as_ref().and_then(|k| k[row].as_deref());
            let timestamp = stamps.as_ref().and_then(|s| s[row]).unwrap_or(now);
            let value = match kinds.as_ref().map_or(RowKind::Insert, |k| k[row]) {
                RowKind::Insert | RowKind::UpdateAfter => values[row].take(),
                RowKind::Delete => None,
                RowKind::UpdateBefore => {
                    let kinds = kinds.as_ref().expect("a changelog");
                    let next_key = keys.as_ref().and_then(|k| k.get(row + 1)?.as_deref());
                    if kinds.get(row + 1) == Some(&RowKind::UpdateAfter) && next_key == key {
                        // An update in place: the next record states the row whole.
                        continue;
                    }
                    None
                }
            };
            match (self.config.buffer, key) {
                (Some(buffer), Some(key)) if self.config.upsert => {
                    self.buffer(key.to_vec(), value, timestamp, buffer.max_rows)?;
                }
                _ => self.send(key, value.as_deref(), timestamp)?,
            }
        }
        self.on_tick()
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        self.produce_buffer()?;
        self.flush()?;
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<(), EngineError> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<(), EngineError> {
        // Rows after the restored checkpoint are produced again: at least once.
        self.buffer.clear();
        self.buffered.clear();
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        self.config.buffer.map(|b| b.interval)
    }

    fn on_tick(&mut self) -> Result<(), EngineError> {
        if let Some(buffer) = self.config.buffer
            && !self.buffer.is_empty()
            && self.last_flush.elapsed() >= buffer.interval
        {
            self.produce_buffer()?;
        }
        Ok(())
    }
}
