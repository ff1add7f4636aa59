//! Where batches go: the embedded log ([`log`]) or Kafka ([`kafka`]).
//!
//! Delivery is at least once: [`Sink::write`] hands a batch over (blocking while the sink
//! is full, which stops the reading: backpressure), and [`Sink::flush`] returns only when
//! everything handed over is stored (fsynced in the log, acknowledged by Kafka). The
//! collector checkpoints offsets only after a flush. Every record's key is the line's
//! idempotency key (also its `event_id` field), so a consumer can drop the duplicates a
//! restart delivers.

pub mod kafka;
pub mod log;

use crate::batch::Batch;
use crate::error::Result;

/// A destination of events and dead letters.
pub trait Sink: Send {
    /// Hands over the events and dead letters of `batch`.
    fn write(&mut self, batch: &Batch) -> Result<()>;

    /// Returns once everything handed over is stored.
    fn flush(&mut self) -> Result<()>;

    /// What the sink writes to, for messages.
    fn describe(&self) -> String;
}

/// The sink `config` describes; the embedded log lives in `<data_dir>/log`.
pub fn open(
    config: &crate::config::SinkConfig,
    data_dir: &std::path::Path,
) -> Result<Box<dyn Sink>> {
    use crate::config::SinkConfig;
    let dead_letter_topic = config.dead_letter_topic();
    Ok(match config {
        SinkConfig::Log {
            topic, partitions, ..
        } => Box::new(log::LogSink::open(
            &data_dir.join("log"),
            topic,
            *partitions,
            &dead_letter_topic,
        )?),
        SinkConfig::Kafka {
            topic, properties, ..
        } => Box::new(kafka::KafkaSink::new(
            properties,
            topic,
            &dead_letter_topic,
        )?),
    })
}
