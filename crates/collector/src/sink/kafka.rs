//! A Kafka topic through librdkafka (`rdkafka`), and a second topic for dead letters.
//!
//! Records are keyed by idempotency key and spread with Kafka's murmur2 partitioner (as the
//! Java producer does: `partitioner=murmur2_random` unless set). librdkafka's queue is
//! bounded (`queue.buffering.max.kbytes`, 16 MiB unless set): when it is full, writing waits,
//! and so does reading. Both topics must exist (or the broker must create them).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::Sink;
use crate::batch::Batch;
use crate::error::{CollectorError, Result};

/// How long a flush may wait for acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Keeps the first failed delivery.
#[derive(Default)]
struct Deliveries {
    failure: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            let mut failure = self.failure.lock().expect("delivery lock");
            failure.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Produces events to a Kafka topic.
pub struct KafkaSink {
    producer: BaseProducer<Deliveries>,
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
            .set("queue.buffering.max.kbytes", "16384")
            .set("enable.idempotence", "true");
        for (key, value) in properties {
            config.set(key, value);
        }
        let producer: BaseProducer<Deliveries> = config
            .create_with_context(Deliveries::default())
            .map_err(|e| CollectorError::Kafka {
                topic: topic.to_string(),
                message: format!("creating the producer: {e}"),
            })?;
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

    fn err(&self, topic: &str, message: String) -> CollectorError {
        CollectorError::Kafka {
            topic: topic.to_string(),
            message,
        }
    }

    /// Hands a record to librdkafka, waiting while its queue is full.
    fn produce(&self, topic: &str, key: &[u8], value: &[u8], timestamp: i64) -> Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .key(key)
            .payload(value)
            .timestamp(timestamp);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(self.err(topic, format!("producing: {e}"))),
            }
        }
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &Batch) -> Result<()> {
        let mut key = [0; 40];
        for record in &batch.records {
            let key = record.id.write(&mut key);
            self.produce(
                &self.topic,
                key.as_bytes(),
                batch.value(record),
                record.timestamp_ms,
            )?;
        }
        let now = spate_log::now_ms();
        for dead in &batch.dead_letters {
            let key = dead.id.write(&mut key);
            self.produce(
                &self.dead_letter_topic,
                key.as_bytes(),
                &dead.to_json(),
                now,
            )?;
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| self.err(&self.topic, format!("flushing: {e}")))?;
        let failure = self
            .producer
            .context()
            .failure
            .lock()
            .expect("delivery lock")
            .take();
        match failure {
            Some(f) => Err(self.err(&self.topic, format!("a record was not delivered: {f}"))),
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "kafka topic {} (dead letters: {}) at {}",
            self.topic, self.dead_letter_topic, self.servers
        )
    }
}
