//! Kafka as a source and a sink (`'connector' = 'kafka'`), through librdkafka (`rdkafka`).
//!
//! - [`source`]: each instance reads its share of a topic's partitions (assigned, not
//!   subscribed), from the offsets of the last checkpoint or the startup mode, and commits
//!   the checkpointed offsets to the consumer group once a checkpoint completes.
//! - [`sink`]: keyed rows go to the partition of Kafka's murmur2 of the key; at least once
//!   (flushed on every checkpoint barrier).
//!
//! - [`repartition`]: the topics through which the processes of a scale-out job hand rows
//!   over by key, exactly once without broker transactions.
//! - [`OffsetCommits`]: who commits a source's checkpointed offsets to its consumer group —
//!   the source's own client, or the group member of a scale-out process.
//!
//! Values and keys are `json`, `csv` or `raw` ([`crate::format::record`]).

pub mod repartition;
pub mod sink;
pub mod source;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use spate_kafka::Producer;

/// How long metadata, offset and flush requests to the broker may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The librdkafka properties of a client: `bootstrap.servers` and every `properties.*`
/// option of the table, without the prefix.
pub type Properties = BTreeMap<String, String>;

/// A client configuration holding `properties`, then `fixed` (which win).
fn client_config(properties: &Properties, fixed: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    for (key, value) in fixed {
        config.set(*key, *value);
    }
    config
}

/// Who commits the offsets of a source's completed checkpoints to its consumer group.
#[derive(Debug, Clone, Default)]
pub enum OffsetCommits {
    /// Nobody: the table has no `properties.group.id`.
    #[default]
    None,
    /// The source's own client, which reads assigned partitions without joining the group.
    /// Kafka accepts that only while the group has no members.
    Source,
    /// The group member of the process running the source (a scale-out process): the broker
    /// refuses commits from clients outside a group that has members, so the source hands its
    /// offsets to the member, which commits them with its generation.
    Member(MemberCommits),
}

/// Offsets waiting for a group member to commit them: the newest per topic partition, handed
/// over by the sources and readers of the parts a scale-out process runs.
#[derive(Debug, Clone, Default)]
pub struct MemberCommits(Arc<Mutex<BTreeMap<(String, i32), i64>>>);

impl MemberCommits {
    /// Records that `offset` (the next record to read) of `topic`/`partition` is checkpointed.
    pub fn record(&self, topic: &str, partition: i32, offset: i64) {
        let mut offsets = self.0.lock().expect("member commits lock");
        let entry = offsets
            .entry((topic.to_string(), partition))
            .or_insert(offset);
        *entry = (*entry).max(offset);
    }

    /// The offsets recorded since the last call, as a list to commit (empty if none).
    pub fn take(&self) -> TopicPartitionList {
        let offsets = std::mem::take(&mut *self.0.lock().expect("member commits lock"));
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            list.add_partition_offset(&topic, partition, Offset::Offset(offset))
                .expect("a valid offset");
        }
        list
    }
}

/// A record's metadata that a table can read as a column (`METADATA FROM 'key'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKey {
    /// `topic` (`STRING`): the record's topic.
    Topic,
    /// `partition` (`INT`): the record's partition.
    Partition,
    /// `offset` (`BIGINT`): the record's offset.
    Offset,
    /// `timestamp` (`TIMESTAMP_LTZ(3)`): the record's timestamp; a sink writes it.
    Timestamp,
}

impl MetadataKey {
    /// The key named `name`, as Flink's Kafka connector names it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "topic" => Some(MetadataKey::Topic),
            "partition" => Some(MetadataKey::Partition),
            "offset" => Some(MetadataKey::Offset),
            "timestamp" => Some(MetadataKey::Timestamp),
            _ => None,
        }
    }
}

/// The error text of a librdkafka call.
fn describe(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// How many partitions `topic` has; an error if the broker does not know it.
fn partition_count<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<usize, String> {
    let metadata = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| describe("fetching the topic's metadata", e))?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len()),
        Some(t) => Err(format!(
            "the broker has no topic {topic} ({})",
            t.error()
                .map_or("no partitions".to_string(), |e| format!("{e:?}"))
        )),
        None => Err(format!("the broker has no topic {topic}")),
    }
}

/// Creates `topic` with `partitions` partitions unless it exists; an existing topic with
/// another partition count is an error, since keys hashed to its partitions would land
/// elsewhere.
pub fn ensure_topic(properties: &Properties, topic: &str, partitions: usize) -> Result<(), String> {
    let count = i32::try_from(partitions).map_err(|_| "too many partitions".to_string())?;
    let config = client_config(properties, &[]);
    spate_kafka::create_topics(&config, &[topic], count, REQUEST_TIMEOUT)
        .map_err(|e| e.to_string())?;
    match topic_partitions(properties, topic)? {
        n if n == partitions => Ok(()),
        n => Err(format!(
            "topic {topic} has {n} partitions, not {partitions}; delete it or keep the job's \
             partition count"
        )),
    }
}

/// How many partitions `topic` has.
pub fn topic_partitions(properties: &Properties, topic: &str) -> Result<usize, String> {
    let producer = Producer::new(client_config(properties, &[])).map_err(|e| e.to_string())?;
    partition_count(producer.client(), topic)
}
