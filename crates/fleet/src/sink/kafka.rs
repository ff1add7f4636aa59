//! The Kafka sink: one record per reading through librdkafka (`rdkafka`), keyed by VIN so a
//! vehicle's readings stay in order in one partition (Kafka's murmur2 partitioner, as the
//! Java producer), with the reading's time as the record's timestamp. Labels go to a topic
//! of their own. Topics that do not exist are created.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

use super::{Encoded, Sink};
use crate::error::SinkError;

/// How long a flush may wait for the broker.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long creating the topics may wait for the broker: an address nothing answers at
/// fails this soon.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

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
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Produces telemetry to `topic` and labels to `labels_topic`, keyed by VIN. A flush waits
/// until the broker has acknowledged every record (idempotent producer, `acks=all`).
pub struct KafkaSink {
    producer: BaseProducer<Deliveries>,
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
        let err = |reason: String| SinkError::Kafka {
            servers: servers.to_string(),
            topic: topic.to_string(),
            reason,
        };
        create_topics(servers, &[topic, labels_topic], partitions).map_err(err)?;
        let producer: BaseProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .create_with_context(Deliveries::default())
            .map_err(|e| err(format!("creating the producer: {e}")))?;
        Ok(KafkaSink {
            producer,
            topic: topic.to_string(),
            labels_topic: labels_topic.to_string(),
            servers: servers.to_string(),
        })
    }

    fn error(&self, topic: &str, reason: String) -> SinkError {
        SinkError::Kafka {
            servers: self.servers.clone(),
            topic: topic.to_string(),
            reason,
        }
    }

    /// Hands the records to librdkafka, waiting while its queue is full.
    fn produce(&self, topic: &str, records: &Encoded) -> Result<(), SinkError> {
        for r in records.iter() {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic)
                .key(r.vin.as_bytes())
                .payload(r.json)
                .timestamp(r.ts);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(self.error(topic, format!("producing: {e}"))),
                }
            }
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

/// Creates the topics that do not exist yet.
fn create_topics(servers: &str, topics: &[&str], partitions: u32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .map_err(|e| format!("creating the admin client: {e}"))?;
    let partitions = i32::try_from(partitions).map_err(|_| "too many partitions".to_string())?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics(&new, &options))
        .map_err(|e| format!("creating the topics: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("creating topic {topic}: {code}")),
        }
    }
    Ok(())
}

impl Sink for KafkaSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.produce(&self.topic, telemetry)?;
        self.produce(&self.labels_topic, labels)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.producer
            .flush(TIMEOUT)
            .map_err(|e| self.error(&self.topic, format!("flushing: {e}")))?;
        let failure = self
            .producer
            .context()
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failure {
            Some(f) => Err(self.error(&self.topic, format!("a record was not delivered: {f}"))),
            None => Ok(()),
        }
    }
}
