//! Kafka as a source and a sink (`'connector' = 'kafka'`), through librdkafka (`rdkafka`).
//!
//! - [`source`]: each instance reads its share of a topic's partitions (assigned, not
//!   subscribed), from the offsets of the last checkpoint or the startup mode, and commits
//!   the checkpointed offsets to the consumer group once a checkpoint completes.
//! - [`sink`]: keyed rows go to the partition of Kafka's murmur2 of the key; at least once
//!   (flushed on every checkpoint barrier).
//!
//! Values and keys are `json`, `csv` or `raw` ([`crate::format::record`]).

pub mod sink;
pub mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

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
