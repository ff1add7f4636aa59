//! The MQTT sink: one message per record, QoS 1, on a topic per vehicle.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{Client, Event, MqttOptions, Outgoing, Packet, QoS};

use super::{Encoded, Sink};
use crate::error::SinkError;

/// How long to wait for the broker's CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a flush waits without a single acknowledgement before giving up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Publishes the client may have unacknowledged at once.
const INFLIGHT: u16 = 1000;
/// Publishes queued between the sink and the connection's thread.
const QUEUE: usize = 10_000;
/// MQTT keep-alive interval.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Publishes telemetry to `vehicles/{vin}/telemetry` and labels to `vehicles/{vin}/labels`
/// (under `prefix/` if given), QoS 1, not retained. A flush waits until the broker has
/// acknowledged every message.
pub struct MqttSink {
    client: Client,
    /// `prefix/`, or nothing.
    prefix: String,
    broker: String,
    published: u64,
    shared: Arc<Shared>,
    connection: Option<JoinHandle<()>>,
}

/// What the connection's thread reports.
#[derive(Default)]
struct Shared {
    state: Mutex<ConnectionState>,
    changed: Condvar,
}

#[derive(Default)]
struct ConnectionState {
    connected: bool,
    acknowledged: u64,
    error: Option<String>,
    closing: bool,
    ended: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ConnectionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MqttSink {
    /// Connects to the broker at `host:port` and waits for it to accept the connection; topics
    /// go under `prefix/` if given.
    pub fn connect(host: &str, port: u16, prefix: Option<&str>) -> Result<MqttSink, SinkError> {
        let broker = format!("{host}:{port}");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let client_id = format!("spate-fleet-{}-{nanos}", std::process::id());
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(KEEP_ALIVE).set_inflight(INFLIGHT);
        let (client, mut connection) = Client::new(options, QUEUE);
        let shared = Arc::new(Shared::default());
        let driver = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("mqtt-sink".into())
                .spawn(move || {
                    for event in connection.iter() {
                        let mut state = shared.lock();
                        match event {
                            Ok(Event::Incoming(Packet::ConnAck(_))) => state.connected = true,
                            Ok(Event::Incoming(Packet::PubAck(_))) => state.acknowledged += 1,
                            Ok(Event::Outgoing(Outgoing::Disconnect)) if state.closing => break,
                            Ok(_) => {}
                            Err(e) => {
                                if !state.closing {
                                    state.error = Some(e.to_string());
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
                .map_err(|e| SinkError::Mqtt {
                    broker: broker.clone(),
                    reason: format!("cannot start the connection thread: {e}"),
                })?
        };
        let sink = MqttSink {
            client,
            prefix: prefix.map_or(String::new(), |p| format!("{p}/")),
            broker,
            published: 0,
            shared,
            connection: Some(driver),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut state = sink.shared.lock();
        while !state.connected {
            if let Some(e) = &state.error {
                let reason = format!("cannot connect: {e}");
                drop(state);
                return Err(sink.error(reason));
            }
            let now = Instant::now();
            if now >= deadline || state.ended {
                drop(state);
                return Err(
                    sink.error(format!("no CONNACK within {} s", CONNECT_TIMEOUT.as_secs()))
                );
            }
            state = sink.wait(state, deadline - now);
        }
        drop(state);
        Ok(sink)
    }

    fn error(&self, reason: String) -> SinkError {
        SinkError::Mqtt {
            broker: self.broker.clone(),
            reason,
        }
    }

    fn wait<'a>(
        &'a self,
        state: MutexGuard<'a, ConnectionState>,
        timeout: Duration,
    ) -> MutexGuard<'a, ConnectionState> {
        self.shared
            .changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    fn publish(&mut self, records: &Encoded, stream: &str) -> Result<(), SinkError> {
        for record in records.iter() {
            let topic = format!("{}vehicles/{}/{stream}", self.prefix, record.vin);
            if let Err(e) =
                self.client
                    .publish(topic, QoS::AtLeastOnce, false, record.json.to_vec())
            {
                let reason = self.shared.lock().error.clone();
                return Err(self.error(reason.unwrap_or_else(|| format!("publish failed: {e}"))));
            }
            self.published += 1;
        }
        Ok(())
    }
}

impl Sink for MqttSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.publish(telemetry, "telemetry")?;
        self.publish(labels, "labels")
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let mut state = self.shared.lock();
        let mut last = (state.acknowledged, Instant::now());
        while state.acknowledged < self.published {
            if let Some(e) = &state.error {
                let reason = format!("connection lost: {e}");
                drop(state);
                return Err(self.error(reason));
            }
            if state.ended {
                drop(state);
                return Err(self.error("connection closed".into()));
            }
            if state.acknowledged > last.0 {
                last = (state.acknowledged, Instant::now());
            }
            let waited = last.1.elapsed();
            if waited >= ACK_TIMEOUT {
                let missing = self.published - state.acknowledged;
                drop(state);
                return Err(self.error(format!(
                    "{missing} message(s) unacknowledged after {} s",
                    ACK_TIMEOUT.as_secs()
                )));
            }
            state = self.wait(state, ACK_TIMEOUT - waited);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        self.shared.lock().closing = true;
        if self.client.disconnect().is_ok()
            && let Some(connection) = self.connection.take()
        {
            connection
                .join()
                .map_err(|_| self.error("the connection thread panicked".into()))?;
        }
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
