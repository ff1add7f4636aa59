//! A convenience producer: buffers records per partition and appends them in batches.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::error;

use crate::error::{LogError, Result};
use crate::log::Log;
use crate::record::Record;
use crate::topic::Topic;

/// Default size of a partition's buffer before it is appended as one batch: 1 MiB.
pub const DEFAULT_BATCH_BYTES: usize = 1024 * 1024;

/// Buffers records per topic and partition and appends each buffer as one batch when it
/// reaches the batch size, on [`Producer::flush`], or when dropped.
///
/// Keyed records go to the partition Kafka would pick; keyless ones stick to one partition
/// until its batch is sent, then move on round-robin (Kafka's sticky partitioner).
pub struct Producer {
    log: Log,
    batch_bytes: usize,
    topics: HashMap<String, TopicBuffers>,
}

struct TopicBuffers {
    topic: Arc<Topic>,
    batches: Vec<PendingBatch>,
    sticky: u32,
}

#[derive(Default)]
struct PendingBatch {
    data: Vec<u8>,
    records: Vec<PendingRecord>,
}

struct PendingRecord {
    timestamp: i64,
    key_len: Option<usize>,
    value_len: usize,
}

impl Producer {
    /// A producer appending to topics of `log` (which must be writable).
    pub fn new(log: Log) -> Producer {
        Producer {
            log,
            batch_bytes: DEFAULT_BATCH_BYTES,
            topics: HashMap::new(),
        }
    }

    /// Sets the buffer size at which a partition's records are appended as one batch.
    pub fn with_batch_bytes(mut self, batch_bytes: usize) -> Producer {
        self.batch_bytes = batch_bytes;
        self
    }

    /// Buffers a record for `topic`, choosing its partition from the key; returns the partition.
    pub fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp: i64,
    ) -> Result<u32> {
        let batch_bytes = self.batch_bytes;
        let buffers = self.buffers(topic)?;
        let partition = match key {
            Some(key) => buffers.topic.partition_for(Some(key)),
            None => buffers.sticky,
        };
        buffers.push(partition, key, value, timestamp, batch_bytes)?;
        Ok(partition)
    }

    /// Buffers a record for a given partition of `topic`.
    pub fn send_to(
        &mut self,
        topic: &str,
        partition: u32,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp: i64,
    ) -> Result<()> {
        let batch_bytes = self.batch_bytes;
        let buffers = self.buffers(topic)?;
        if partition >= buffers.topic.partitions() {
            return Err(LogError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            });
        }
        buffers.push(partition, key, value, timestamp, batch_bytes)
    }

    /// Appends everything buffered.
    pub fn flush(&mut self) -> Result<()> {
        for buffers in self.topics.values_mut() {
            for partition in 0..buffers.topic.partitions() {
                buffers.send_batch(partition)?;
            }
        }
        Ok(())
    }

    fn buffers(&mut self, topic: &str) -> Result<&mut TopicBuffers> {
        if !self.topics.contains_key(topic) {
            let handle = self.log.topic(topic)?;
            let buffers = TopicBuffers {
                batches: (0..handle.partitions())
                    .map(|_| PendingBatch::default())
                    .collect(),
                sticky: handle.partition_for(None),
                topic: handle,
            };
            self.topics.insert(topic.to_string(), buffers);
        }
        Ok(self.topics.get_mut(topic).expect("inserted above"))
    }
}

impl TopicBuffers {
    fn push(
        &mut self,
        partition: u32,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp: i64,
        batch_bytes: usize,
    ) -> Result<()> {
        let batch = &mut self.batches[partition as usize];
        if let Some(key) = key {
            batch.data.extend_from_slice(key);
        }
        batch.data.extend_from_slice(value);
        batch.records.push(PendingRecord {
            timestamp,
            key_len: key.map(<[u8]>::len),
            value_len: value.len(),
        });
        if batch.data.len() >= batch_bytes {
            self.send_batch(partition)?;
        }
        Ok(())
    }

    /// Appends the partition's buffered records, if any; they stay buffered if that fails.
    fn send_batch(&mut self, partition: u32) -> Result<()> {
        let batch = &mut self.batches[partition as usize];
        if batch.records.is_empty() {
            return Ok(());
        }
        let mut at = 0;
        let mut take = |len: usize| {
            at += len;
            &batch.data[at - len..at]
        };
        let records: Vec<Record<'_>> = batch
            .records
            .iter()
            .map(|r| Record {
                timestamp: r.timestamp,
                key: r.key_len.map(&mut take),
                value: take(r.value_len),
            })
            .collect();
        self.topic.append(partition, &records)?;
        batch.data.clear();
        batch.records.clear();
        if partition == self.sticky {
            self.sticky = self.topic.partition_for(None);
        }
        Ok(())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            error!("producer dropped with unsent records: {e}");
        }
    }
}
