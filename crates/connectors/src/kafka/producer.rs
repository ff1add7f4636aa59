//! A producer that keeps the first failed delivery, waits while its queue is full, and
//! fails a flush when a record was not delivered.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

use super::{Properties, REQUEST_TIMEOUT, client_config, describe};

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

/// An idempotent producer (records of one partition stay in order, once each).
pub(crate) struct Producer {
    inner: BaseProducer<Deliveries>,
}

impl Producer {
    /// A producer with `properties`, then `fixed` (which win).
    pub(crate) fn new(properties: &Properties, fixed: &[(&str, &str)]) -> Result<Self, String> {
        let mut settings = vec![("enable.idempotence", "true")];
        settings.extend_from_slice(fixed);
        let inner = client_config(properties, &settings)
            .create_with_context(Deliveries::default())
            .map_err(|e| describe("creating the producer", e))?;
        Ok(Producer { inner })
    }

    /// The underlying client, for metadata requests.
    pub(crate) fn client(&self) -> &rdkafka::client::Client<impl rdkafka::ClientContext> {
        self.inner.client()
    }

    /// Hands a record to the producer, waiting while its queue is full. A `value` of `None`
    /// is a tombstone; a `timestamp` of `None` is the time of sending.
    pub(crate) fn produce(
        &self,
        topic: &str,
        partition: i32,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), String> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).partition(partition);
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.inner.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(describe("producing a record", e)),
            }
        }
    }

    /// Serves delivery reports that have arrived, without waiting.
    pub(crate) fn serve(&self) {
        self.inner.poll(Duration::ZERO);
    }

    /// Waits for every record handed over; fails if one was not delivered.
    pub(crate) fn flush(&self) -> Result<(), String> {
        self.inner
            .flush(REQUEST_TIMEOUT)
            .map_err(|e| describe("flushing the producer", e))?;
        let failure = self
            .inner
            .context()
            .failure
            .lock()
            .expect("delivery lock")
            .take();
        match failure {
            Some(f) => Err(format!("a record was not delivered: {f}")),
            None => Ok(()),
        }
    }
}
