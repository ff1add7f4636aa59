//! A topic of the embedded log (`spate-log`), and a second topic for dead letters.

use spate_log::{Log, LogOptions, Producer, TopicConfig};

use super::Sink;
use crate::batch::Batch;
use crate::error::Result;

/// Appends events to a log topic, keyed by idempotency key.
pub struct LogSink {
    log: Log,
    producer: Producer,
    topic: String,
    dead_letter_topic: String,
}

impl LogSink {
    /// Opens the log at `root`, creating `topic` (with `partitions`) and `dead_letter_topic`
    /// (one partition) if they do not exist.
    pub fn open(
        root: &std::path::Path,
        topic: &str,
        partitions: u32,
        dead_letter_topic: &str,
    ) -> Result<Self> {
        let log = Log::open(root, LogOptions::default())?;
        let topics = log.topics()?;
        if !topics.contains_key(topic) {
            log.create_topic(topic, TopicConfig::new(partitions))?;
        }
        if !topics.contains_key(dead_letter_topic) {
            log.create_topic(dead_letter_topic, TopicConfig::new(1))?;
        }
        // Check both can be written now rather than at the first batch.
        log.topic(topic)?;
        log.topic(dead_letter_topic)?;
        Ok(LogSink {
            producer: Producer::new(log.clone()),
            log,
            topic: topic.to_string(),
            dead_letter_topic: dead_letter_topic.to_string(),
        })
    }
}

impl Sink for LogSink {
    fn write(&mut self, batch: &Batch) -> Result<()> {
        let mut key = [0; 40];
        for record in &batch.records {
            let key = record.id.write(&mut key);
            self.producer.send(
                &self.topic,
                Some(key.as_bytes()),
                batch.value(record),
                record.timestamp_ms,
            )?;
        }
        let now = spate_log::now_ms();
        for dead in &batch.dead_letters {
            let key = dead.id.write(&mut key);
            self.producer.send(
                &self.dead_letter_topic,
                Some(key.as_bytes()),
                &dead.to_json(),
                now,
            )?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.producer.flush()?;
        self.log.topic(&self.topic)?.flush()?;
        self.log.topic(&self.dead_letter_topic)?.flush()?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "log topic {} (dead letters: {}) in {}",
            self.topic,
            self.dead_letter_topic,
            self.log.root().display()
        )
    }
}
