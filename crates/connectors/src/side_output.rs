//! Side outputs kept in the embedded log: dead letters go to `<job>.dead-letter` and late
//! events to `<job>.late`, one JSON object per record with the reason and origin.

use std::sync::Arc;

use serde::Serialize;
use spate_engine::side_output::{SideOutputKind, SideOutputSink, SideRecord};
use spate_log::{Log, Record, Topic, TopicConfig};

/// Writes side records to two topics of the embedded log.
#[derive(Debug)]
pub struct LogSideOutput {
    dead_letters: Arc<Topic>,
    late: Arc<Topic>,
}

#[derive(Serialize)]
struct Entry<'a> {
    reason: &'a str,
    origin: &'a str,
    payload: std::borrow::Cow<'a, str>,
}

impl LogSideOutput {
    /// Opens (creating if needed) the side-output topics of job `job`.
    pub fn open(log: &Log, job: &str) -> Result<Self, spate_log::LogError> {
        let open = |name: String| match log.topic(&name) {
            Ok(t) => Ok(t),
            Err(spate_log::LogError::UnknownTopic(_)) => {
                log.create_topic(&name, TopicConfig::new(1))
            }
            Err(e) => Err(e),
        };
        Ok(LogSideOutput {
            dead_letters: open(format!("{job}.dead-letter"))?,
            late: open(format!("{job}.late"))?,
        })
    }

    /// The dead-letter topic's name.
    pub fn dead_letter_topic(&self) -> &str {
        self.dead_letters.name()
    }
}

impl SideOutputSink for LogSideOutput {
    fn send(&self, record: SideRecord) {
        let entry = Entry {
            reason: &record.reason,
            origin: &record.origin,
            payload: String::from_utf8_lossy(&record.payload),
        };
        let value = serde_json::to_vec(&entry).expect("entry serializes");
        let topic = match record.kind {
            SideOutputKind::DeadLetter => &self.dead_letters,
            SideOutputKind::Late => &self.late,
        };
        let rec = Record::new(spate_log::now_ms(), &value);
        if let Err(e) = topic.append(0, &[rec]) {
            tracing::error!(topic = topic.name(), error = %e, "could not write a side record");
        }
    }
}
