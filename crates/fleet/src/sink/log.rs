//! The embedded-log sink: telemetry and labels as two topics, keyed by VIN.

use std::path::Path;

use spate_log::{Log, LogError, LogOptions, Producer, TopicConfig};

use super::{Encoded, Sink, labels_topic};
use crate::error::SinkError;

/// Partitions of the topics the sink creates when `?partitions=` does not say.
pub const DEFAULT_PARTITIONS: u32 = 4;

/// Appends telemetry to a topic and labels to `TOPIC-labels` of the embedded log. The key is
/// the VIN, so each vehicle stays in one partition, in order; the record timestamp is the
/// reading's. Missing topics are created.
pub struct LogSink {
    producer: Producer,
    telemetry: String,
    labels: String,
}

impl LogSink {
    /// Opens the log at `log_dir` and the two topics, creating what is missing.
    pub fn open(log_dir: &Path, topic: &str, partitions: u32) -> Result<LogSink, SinkError> {
        let log = Log::open(log_dir, LogOptions::default()).map_err(|source| SinkError::Log {
            topic: topic.to_string(),
            source,
        })?;
        let labels = labels_topic(topic);
        for name in [topic, labels.as_str()] {
            let opened = match log.topic(name) {
                Err(LogError::UnknownTopic(_)) => {
                    log.create_topic(name, TopicConfig::new(partitions))
                }
                other => other,
            };
            opened.map_err(|source| SinkError::Log {
                topic: name.to_string(),
                source,
            })?;
        }
        Ok(LogSink {
            producer: Producer::new(log),
            telemetry: topic.to_string(),
            labels,
        })
    }

    fn append(&mut self, topic_is_labels: bool, records: &Encoded) -> Result<(), SinkError> {
        let topic = match topic_is_labels {
            true => &self.labels,
            false => &self.telemetry,
        };
        for record in records.iter() {
            self.producer
                .send(topic, Some(record.vin.as_bytes()), record.json, record.ts)
                .map_err(|source| SinkError::Log {
                    topic: topic.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

impl Sink for LogSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.append(false, telemetry)?;
        self.append(true, labels)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.producer.flush().map_err(|source| SinkError::Log {
            topic: self.telemetry.clone(),
            source,
        })
    }
}
