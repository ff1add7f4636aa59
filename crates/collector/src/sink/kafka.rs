//! A Kafka topic through librdkafka (`rdkafka`), and a second topic for dead letters.
//!
//! Records are keyed by idempotency key and spread with Kafka's murmur2 partitioner (as the
//! Java producer does: `partitioner=murmur2_random` unless set). librdkafka's queue is
//! bounded (`queue.buffering.max.kbytes`, 16 MiB unless set): when it is full, writing waits,
//! and so does reading. Both topics must exist (or the broker must create them).

use std::collections::BTreeMap;
use std::time::Duration;

use spate_kafka::{ClientConfig, KafkaClientError, Producer};

use super::Sink;
use crate::batch::Batch;
use crate::error::{CollectorError, Result};

/// How long a flush may wait for acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Produces events to a Kafka topic.
pub struct KafkaSink {
    producer: Producer,
    topic: String,
    dead_letter_topic: String,
    servers: String,
}

impl KafkaSink {
    /// A producer with `properties` writing `topic` and `dead_letter_topic`.
    pub fn new(
        properties: &BTreeMap<String, String>,
        topic: &str,
        dead_letter_topic: &str,
    ) -> Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("partitioner", "murmur2_random")
            .set("queue.buffering.max.kbytes", "16384");
        for (key, value) in properties {
            config.set(key, value);
        }
        let producer = Producer::new(config).map_err(|e| err(topic, e))?;
        Ok(KafkaSink {
            producer,
            topic: topic.to_string(),
            dead_letter_topic: dead_letter_topic.to_string(),
            servers: properties
                .get("bootstrap.servers")
                .cloned()
                .unwrap_or_default(),
        })
    }
}

fn err(topic: &str, e: KafkaClientError) -> CollectorError {
    CollectorError::Kafka {
        topic: topic.to_string(),
        message: e.to_string(),
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &Batch) -> Result<()> {
        let mut key = [0; 40];
        for record in &batch.records {
            let key = record.id.write(&mut key);
            let value = batch.value(record);
            self.producer
                .produce(
                    &self.topic,
                    None,
                    Some(record.timestamp_ms),
                    Some(key.as_bytes()),
                    Some(value),
                )
                .map_err(|e| err(&self.topic, e))?;
        }
        let now = spate_log::now_ms();
        for dead in &batch.dead_letters {
            let key = dead.id.write(&mut key);
            self.producer
                .produce(
                    &self.dead_letter_topic,
                    None,
                    Some(now),
                    Some(key.as_bytes()),
                    Some(&dead.to_json()),
                )
                .map_err(|e| err(&self.dead_letter_topic, e))?;
        }
        self.producer.serve();
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| err(&self.topic, e))
    }

    fn describe(&self) -> String {
        format!(
            "kafka topic {} (dead letters: {}) at {}",
            self.topic, self.dead_letter_topic, self.servers
        )
    }
}
