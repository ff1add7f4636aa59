//! The Kafka sink: one record per reading through librdkafka (`rdkafka`), keyed by VIN so a
//! vehicle's readings stay in order in one partition (Kafka's murmur2 partitioner, as the
//! Java producer), with the reading's time as the record's timestamp. Labels go to a topic
//! of their own. Topics that do not exist are created.

use std::time::Duration;

use spate_kafka::{ClientConfig, KafkaClientError, Producer, create_topics};

use super::{Encoded, Sink};
use crate::error::SinkError;

/// How long a flush may wait for the broker.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long creating the topics may wait for the broker: an address nothing answers at
/// fails this soon.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Produces telemetry to `topic` and labels to `labels_topic`, keyed by VIN. A flush waits
/// until the broker has acknowledged every record (idempotent producer, `acks=all`).
pub struct KafkaSink {
    producer: Producer,
    topic: String,
    labels_topic: String,
    servers: String,
}

impl KafkaSink {
    /// Connects to the brokers `servers` (`host:port[,host:port…]`), creating `topic` and
    /// `labels_topic` with `partitions` partitions where they do not exist.
    pub fn connect(
        servers: &str,
        topic: &str,
        labels_topic: &str,
        partitions: u32,
    ) -> Result<KafkaSink, SinkError> {
        let err = |e: KafkaClientError| SinkError::Kafka {
            servers: servers.to_string(),
            topic: topic.to_string(),
            reason: e.to_string(),
        };
        let partitions = i32::try_from(partitions).map_err(|_| SinkError::Kafka {
            servers: servers.to_string(),
            topic: topic.to_string(),
            reason: format!("{partitions} partitions are too many"),
        })?;
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", servers);
        create_topics(&config, &[topic, labels_topic], partitions, ADMIN_TIMEOUT).map_err(err)?;
        config
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "20");
        let producer = Producer::new(config).map_err(err)?;
        Ok(KafkaSink {
            producer,
            topic: topic.to_string(),
            labels_topic: labels_topic.to_string(),
            servers: servers.to_string(),
        })
    }

    fn error(&self, topic: &str, e: KafkaClientError) -> SinkError {
        SinkError::Kafka {
            servers: self.servers.clone(),
            topic: topic.to_string(),
            reason: e.to_string(),
        }
    }

    /// Hands the records to librdkafka, waiting while its queue is full.
    fn produce(&self, topic: &str, records: &Encoded) -> Result<(), SinkError> {
        for r in records.iter() {
            self.producer
                .produce(
                    topic,
                    None,
                    Some(r.ts),
                    Some(r.vin.as_bytes()),
                    Some(r.json),
                )
                .map_err(|e| self.error(topic, e))?;
        }
        self.producer.serve();
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.produce(&self.topic, telemetry)?;
        self.produce(&self.labels_topic, labels)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.producer
            .flush(TIMEOUT)
            .map_err(|e| self.error(&self.topic, e))
    }
}
