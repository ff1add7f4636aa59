//! MQTT topics as a sink: one JSON message per row, on the topic of the table's pattern,
//! where `{column}` stands for the row's value of that column (`vehicles/{vin}/telemetry`).
//!
//! Delivery is at least once with QoS 1: messages are published as rows come, and on a
//! checkpoint barrier the sink waits for the broker's PUBACK of every message published, so
//! every row before a completed checkpoint is with the broker; rows after it are published
//! again on recovery. A lost connection or a refused message fails the sink (and the job
//! recovers from its last checkpoint). With QoS 0 nothing is acknowledged: at most once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::{Client, Event};
use spate_engine::EngineError;
use spate_engine::sink::Sink;

use super::{Broker, CONNECT_TIMEOUT, MqttError, Qos};
use crate::format::record::{RecordFormat, encode_rows};

/// How long a flush waits without a single acknowledgement before giving up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// A piece of a topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text taken as is.
    Text(String),
    /// The value of the column at this index of the sink's schema.
    Column(usize),
}

/// A topic with `{column}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    pattern: String,
    parts: Vec<Part>,
}

impl TopicPattern {
    /// Parses `pattern` against the columns of `schema`. A topic name has no wildcards; `{`
    /// and `}` only delimit placeholders.
    pub fn parse(pattern: &str, schema: &SchemaRef) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("the topic is empty".into());
        }
        if pattern.contains(['+', '#']) {
            return Err("a topic to publish to has no wildcards (+, #)".into());
        }
        let mut parts = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(format!("an unmatched '}}' at '{}'", &rest[open..]));
            }
            let close = rest[open..]
                .find('}')
                .map(|i| open + i)
                .ok_or_else(|| format!("an unclosed '{{' at '{}'", &rest[open..]))?;
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let name = &rest[open + 1..close];
            let index = schema
                .index_of(name)
                .map_err(|_| format!("{{{name}}} is not a column of the table"))?;
            parts.push(Part::Column(index));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(TopicPattern {
            pattern: pattern.to_string(),
            parts,
        })
    }

    /// The topic of each row of `batch`.
    fn topics(&self, batch: &RecordBatch) -> Result<Vec<String>, MqttError> {
        let mut topics = vec![String::new(); batch.num_rows()];
        for part in &self.parts {
            match part {
                Part::Text(text) => topics.iter_mut().for_each(|t| t.push_str(text)),
                Part::Column(index) => {
                    let values = arrow::compute::cast(batch.column(*index), &DataType::Utf8)
                        .map_err(|e| MqttError::Topic {
                            row: 0,
                            reason: format!("cannot write the column as text: {e}"),
                        })?;
                    let name = batch.schema().field(*index).name().clone();
                    for (row, (topic, value)) in
                        topics.iter_mut().zip(values.as_string::<i32>()).enumerate()
                    {
                        let value = value.ok_or_else(|| MqttError::Topic {
                            row,
                            reason: format!("{name} is NULL, and the topic takes its value"),
                        })?;
                        if value.contains(['+', '#']) {
                            return Err(MqttError::Topic {
                                row,
                                reason: format!(
                                    "{name} = '{value}' holds a wildcard, which no topic has"
                                ),
                            });
                        }
                        topic.push_str(value);
                    }
                }
            }
        }
        Ok(topics)
    }
}

/// Configuration of an MQTT sink, shared by its instances.
#[derive(Debug, Clone)]
pub struct MqttSinkConfig {
    /// The broker and the client identity.
    pub broker: Broker,
    /// Where each row goes.
    pub topic: TopicPattern,
    /// The QoS of the messages.
    pub qos: Qos,
    /// The rows written, all in the message.
    pub schema: SchemaRef,
}

/// What the connection thread reports.
#[derive(Default)]
struct Shared {
    state: Mutex<ConnectionState>,
    changed: Condvar,
}

#[derive(Default)]
struct ConnectionState {
    connected: bool,
    acknowledged: u64,
    error: Option<MqttError>,
    closing: bool,
    ended: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ConnectionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(
        &'a self,
        state: MutexGuard<'a, ConnectionState>,
        timeout: Duration,
    ) -> MutexGuard<'a, ConnectionState> {
        self.changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// One instance of the MQTT sink.
pub struct MqttSink {
    config: MqttSinkConfig,
    client: Client,
    /// QoS 1 messages published.
    published: u64,
    shared: Arc<Shared>,
    connection: Option<JoinHandle<()>>,
}

fn sink_err(pattern: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Sink {
        name: format!("mqtt topic {pattern}"),
        message: e.to_string(),
    }
}

impl MqttSink {
    /// Instance `instance` of `parallelism`: connects and waits for the broker's CONNACK.
    pub fn new(
        config: MqttSinkConfig,
        instance: usize,
        parallelism: usize,
    ) -> Result<Self, EngineError> {
        let err = |e: MqttError| sink_err(&config.topic.pattern, e);
        let options = config
            .broker
            .options(config.broker.client_id_of(instance, parallelism));
        let (client, mut connection) = Client::new(options, super::REQUEST_QUEUE);
        let shared = Arc::new(Shared::default());
        let broker = config.broker.address();
        let driver = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("mqtt-sink-{instance}"))
                .spawn(move || {
                    for event in connection.iter() {
                        let mut state = shared.lock();
                        match event {
                            Ok(Event::Incoming(Packet::ConnAck(_))) => state.connected = true,
                            Ok(Event::Incoming(Packet::PubAck(ack))) => match ack.reason {
                                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
                                    state.acknowledged += 1;
                                }
                                reason => {
                                    state
                                        .error
                                        .get_or_insert(MqttError::Refused(format!("{reason:?}")));
                                }
                            },
                            Ok(Event::Outgoing(Outgoing::Disconnect)) if state.closing => break,
                            Ok(_) => {}
                            Err(e) => {
                                if !state.closing {
                                    state.error.get_or_insert(MqttError::Connection {
                                        broker: broker.clone(),
                                        reason: e.to_string(),
                                    });
                                }
                                break;
                            }
                        }
                        drop(state);
                        shared.changed.notify_all();
                    }
                    shared.lock().ended = true;
                    shared.changed.notify_all();
                })
                .map_err(|e| err(MqttError::Thread(e)))?
        };
        let sink = MqttSink {
            client,
            published: 0,
            shared,
            connection: Some(driver),
            config,
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut state = sink.shared.lock();
        while !state.connected {
            if let Some(e) = state.error.take() {
                drop(state);
                return Err(sink.err(e));
            }
            let now = Instant::now();
            if now >= deadline || state.ended {
                drop(state);
                return Err(sink.err(MqttError::ConnectTimeout {
                    broker: sink.config.broker.address(),
                    last: None,
                }));
            }
            state = sink.shared.wait(state, deadline - now);
        }
        drop(state);
        Ok(sink)
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        sink_err(&self.config.topic.pattern, e)
    }

    /// The connection's failure, if it failed.
    fn failure(&self) -> Option<MqttError> {
        self.shared.lock().error.take()
    }

    /// Waits for the PUBACK of every QoS 1 message published.
    fn flush(&self) -> Result<(), EngineError> {
        let mut state = self.shared.lock();
        let mut last = (state.acknowledged, Instant::now());
        while state.acknowledged < self.published {
            if let Some(e) = state.error.take() {
                drop(state);
                return Err(self.err(e));
            }
            if state.ended {
                drop(state);
                return Err(self.err(MqttError::Closed));
            }
            if state.acknowledged > last.0 {
                last = (state.acknowledged, Instant::now());
            }
            let waited = last.1.elapsed();
            if waited >= ACK_TIMEOUT {
                let missing = self.published - state.acknowledged;
                drop(state);
                return Err(self.err(MqttError::AckTimeout { missing, waited }));
            }
            state = self.shared.wait(state, ACK_TIMEOUT - waited);
        }
        Ok(())
    }
}

impl Sink for MqttSink {
    fn name(&self) -> String {
        format!("mqtt {}", self.config.topic.pattern)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(e) = self.failure() {
            return Err(self.err(e));
        }
        let topics = self.config.topic.topics(batch).map_err(|e| self.err(e))?;
        let payloads = encode_rows(RecordFormat::Json, batch)?;
        let qos = self.config.qos.mqtt();
        for (topic, payload) in topics.into_iter().zip(payloads) {
            let payload = payload.unwrap_or_default();
            if self.client.publish(topic, qos, false, payload).is_err() {
                return Err(self.err(self.failure().unwrap_or(MqttError::Closed)));
            }
            if self.config.qos == Qos::AtLeastOnce {
                self.published += 1;
            }
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        self.flush()?;
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<(), EngineError> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<(), EngineError> {
        // Rows after the restored checkpoint are published again: at least once.
        Ok(())
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        if self.connection.is_some() {
            self.shared.lock().closing = true;
            // Best effort: the connection thread ends once the DISCONNECT is out.
            let _ = self.client.try_disconnect();
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("vin", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]))
    }

    #[test]
    fn topics_take_the_values_of_their_placeholders() {
        let pattern = TopicPattern::parse("vehicles/{vin}/n{n}", &schema()).unwrap();
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec![Some("A1"), Some("B2"), None])),
                Arc::new(Int64Array::from(vec![1, 22, 3])),
            ],
        )
        .unwrap();
        let err = pattern.topics(&batch).unwrap_err();
        assert!(err.to_string().contains("row 2: vin is NULL"), "{err}");
        assert_eq!(
            pattern.topics(&batch.slice(0, 2)).unwrap(),
            ["vehicles/A1/n1", "vehicles/B2/n22"]
        );
        assert_eq!(
            TopicPattern::parse("plain/topic", &schema())
                .unwrap()
                .topics(&batch)
                .unwrap(),
            ["plain/topic"; 3]
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for (pattern, problem) in [
            ("vehicles/+/x", "wildcards"),
            ("vehicles/{vin", "unclosed"),
            ("vehicles/vin}", "unmatched"),
            ("vehicles/{speed}", "not a column"),
            ("", "empty"),
        ] {
            let e = TopicPattern::parse(pattern, &schema()).unwrap_err();
            assert!(e.contains(problem), "{pattern}: {e}");
        }
    }
}
