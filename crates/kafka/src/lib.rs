//! # spate-kafka: the Kafka client pieces Spate's parts share
//!
//! The SQL connectors, the log collector and the fleet simulator all write to Kafka through
//! librdkafka (`rdkafka`). They share two things, kept here so there is one way to do each:
//!
//! - [`Producer`]: an idempotent producer that waits while librdkafka's queue is full (so a
//!   slow broker slows the writer down instead of growing memory) and whose
//!   [`flush`](Producer::flush) fails if any record handed to it was not delivered.
//! - [`create_topics`]: creates topics that do not exist yet.

pub use rdkafka::ClientConfig;

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaClientError {
    /// librdkafka refused the configuration.
    #[error("creating the {client}: {source}")]
    Create {
        /// Which client: "producer" or "admin client".
        client: &'static str,
        /// librdkafka's reason.
        source: KafkaError,
    },
    /// A record could not be handed to the producer.
    #[error("producing a record to {topic}: {source}")]
    Produce {
        /// The record's topic.
        topic: String,
        /// librdkafka's reason.
        source: KafkaError,
    },
    /// The producer did not deliver everything within the flush timeout.
    #[error("flushing the producer: {0}")]
    Flush(KafkaError),
    /// The broker refused a record (the first such failure since the last flush).
    #[error("a record was not delivered: {0}")]
    NotDelivered(String),
    /// The broker refused to create a topic.
    #[error("creating topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's reason.
        reason: String,
    },
}

/// Keeps the first failed delivery until the next flush reports it.
#[derive(Default)]
pub struct Deliveries {
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

/// An idempotent producer: the records of one partition stay in order, each once.
pub struct Producer {
    inner: BaseProducer<Deliveries>,
}

impl Producer {
    /// A producer with `config`; `enable.idempotence` is on unless `config` sets it.
    pub fn new(mut config: ClientConfig) -> Result<Self, KafkaClientError> {
        if config.get("enable.idempotence").is_none() {
            config.set("enable.idempotence", "true");
        }
        let inner = config
            .create_with_context(Deliveries::default())
            .map_err(|source| KafkaClientError::Create {
                client: "producer",
                source,
            })?;
        Ok(Producer { inner })
    }

    /// The underlying client, for metadata requests.
    pub fn client(&self) -> &rdkafka::client::Client<Deliveries> {
        self.inner.client()
    }

    /// Hands a record to the producer, waiting while its queue is full. A `partition` of
    /// `None` leaves it to the configured partitioner; a `value` of `None` is a tombstone; a
    /// `timestamp` of `None` is the time of sending.
    pub fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), KafkaClientError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        record.partition = partition;
        record.timestamp = timestamp;
        record.key = key;
        record.payload = value;
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.inner.poll(Duration::from_millis(10));
                }
                Err((source, _)) => {
                    return Err(KafkaClientError::Produce {
                        topic: topic.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Serves delivery reports that have arrived, without waiting.
    pub fn serve(&self) {
        self.inner.poll(Duration::ZERO);
    }

    /// Waits up to `timeout` for every record handed over; fails if one was not delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaClientError> {
        self.inner.flush(timeout).map_err(KafkaClientError::Flush)?;
        let failure = self
            .inner
            .context()
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failure {
            Some(f) => Err(KafkaClientError::NotDelivered(f)),
            None => Ok(()),
        }
    }
}

/// Creates those of `topics` that do not exist yet, each with `partitions` partitions, as
/// the admin client configured by `config` (its `bootstrap.servers`); waits up to `timeout`.
/// Existing topics are left as they are.
pub fn create_topics(
    config: &ClientConfig,
    topics: &[&str],
    partitions: i32,
    timeout: Duration,
) -> Result<(), KafkaClientError> {
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|source| KafkaClientError::Create {
            client: "admin client",
            source,
        })?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results =
        futures::executor::block_on(admin.create_topics(&new, &options)).map_err(|e| {
            KafkaClientError::CreateTopic {
                topic: topics.join(", "),
                reason: e.to_string(),
            }
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaClientError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}
