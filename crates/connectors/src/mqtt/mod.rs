//! MQTT as a source and a sink (`'connector' = 'mqtt'`), through `rumqttc`'s MQTT 5 client.
//!
//! - [`source`]: subscribes to a topic filter (`+`/`#` wildcards) at QoS 1 in a persistent
//!   session, and acknowledges (PUBACK) each message once the checkpoint that covers it is
//!   complete: at least once, also across restarts of the job. The topic of each message is
//!   the `topic` metadata column.
//! - [`sink`]: one message per row, on a topic that may take `{column}` placeholders
//!   (`vehicles/{vin}/telemetry`), QoS 1, flushed (every PUBACK in) on each checkpoint
//!   barrier: at least once.
//!
//! Payloads are JSON objects ([`crate::format::record`]). MQTT 5 is used rather than 3.1.1
//! because its CONNECT carries a Receive Maximum: the broker may then have
//! [`RECEIVE_MAXIMUM`] messages unacknowledged on the source's connection, where an MQTT
//! 3.1.1 client gets the broker's own limit (Mosquitto's `max_inflight_messages`, 20 by
//! default), which would bound a source that acknowledges on checkpoints to 20 messages per
//! checkpoint interval.

pub mod sink;
pub mod source;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::v5::MqttOptions;
use rumqttc::v5::mqttbytes::QoS;

/// How long a client waits for the broker's CONNACK (and a source for its SUBACK).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The MQTT keep-alive interval.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How many QoS 1 messages the broker may send a source before it acknowledges one.
pub const RECEIVE_MAXIMUM: u16 = u16::MAX;
/// The largest message a client takes or sends.
const MAX_PACKET_BYTES: u32 = 1 << 20;
/// Requests (publishes, acknowledgements) queued between a client and its connection thread.
const REQUEST_QUEUE: usize = 10_000;

/// An MQTT error.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The connection thread could not start.
    #[error("cannot start the connection thread: {0}")]
    Thread(std::io::Error),
    /// The broker did not accept the connection in time.
    #[error("no CONNACK from {broker} within {} s{}", CONNECT_TIMEOUT.as_secs(), last_error(.last))]
    ConnectTimeout {
        /// `host:port`.
        broker: String,
        /// The last connection error, if any.
        last: Option<String>,
    },
    /// The broker refused a subscription.
    #[error("the broker refused the subscription to {filter}: {reason}")]
    Subscription {
        /// The topic filter.
        filter: String,
        /// The broker's reason code.
        reason: String,
    },
    /// The connection failed.
    #[error("connection to {broker} lost: {reason}")]
    Connection {
        /// `host:port`.
        broker: String,
        /// What happened.
        reason: String,
    },
    /// The client's request queue is closed: the connection thread ended.
    #[error("the connection thread ended")]
    Closed,
    /// A message was not acknowledged in time.
    #[error("{missing} message(s) unacknowledged after {} s", .waited.as_secs())]
    AckTimeout {
        /// Messages published and not acknowledged.
        missing: u64,
        /// How long the sink waited without a single acknowledgement.
        waited: Duration,
    },
    /// The broker refused a message.
    #[error("the broker refused a message: {0}")]
    Refused(String),
    /// A row has no usable value for a placeholder of the topic pattern.
    #[error("row {row}: {reason}")]
    Topic {
        /// The row's index in its batch.
        row: usize,
        /// Why the topic cannot be made.
        reason: String,
    },
}

fn last_error(last: &Option<String>) -> String {
    last.as_ref().map_or(String::new(), |e| format!(" ({e})"))
}

/// Where the broker is and who connects to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// The broker's host name or address (`hostname`).
    pub host: String,
    /// The broker's port (`port`, 1883 by default).
    pub port: u16,
    /// The client identifier (`client-id`); instances past the first of a parallel stage
    /// append `-<instance>`.
    pub client_id: String,
    /// `username` and `password`, if set.
    pub credentials: Option<(String, String)>,
}

impl Broker {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The client identifier of instance `instance` of `parallelism`.
    pub fn client_id_of(&self, instance: usize, parallelism: usize) -> String {
        match parallelism {
            1 => self.client_id.clone(),
            _ => format!("{}-{instance}", self.client_id),
        }
    }

    /// The options of a client with `client_id`.
    fn options(&self, client_id: String) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_connection_timeout(CONNECT_TIMEOUT.as_secs())
            .set_request_channel_capacity(REQUEST_QUEUE)
            .set_max_packet_size(Some(MAX_PACKET_BYTES));
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user, password);
        }
        options
    }
}

/// A client identifier unique to this process and moment: `<prefix>-<pid>-<nanos>`.
pub fn unique_client_id(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The quality of service of messages read or written (`qos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// `0`: at most once, never acknowledged.
    AtMostOnce,
    /// `1`: at least once, acknowledged (PUBACK).
    AtLeastOnce,
}

impl Qos {
    /// The QoS numbered `text` (`0` or `1`).
    pub fn from_name(text: &str) -> Option<Self> {
        match text.trim() {
            "0" => Some(Qos::AtMostOnce),
            "1" => Some(Qos::AtLeastOnce),
            _ => None,
        }
    }

    fn mqtt(self) -> QoS {
        match self {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
        }
    }
}

/// Whether `filter` is a valid MQTT topic filter: `+` and `#` fill whole levels, `#` only
/// the last.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "+" => true,
        "#" => i == levels.len() - 1,
        l => !l.contains(['+', '#']),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_wildcards_on_whole_levels() {
        assert!(valid_filter("vehicles/+/telemetry"));
        assert!(valid_filter("vehicles/#"));
        assert!(valid_filter("#"));
        assert!(!valid_filter("vehicles/#/telemetry"));
        assert!(!valid_filter("vehicles/a+/telemetry"));
        assert!(!valid_filter(""));
    }

    #[test]
    fn parallel_instances_get_their_own_client_ids() {
        let broker = Broker {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: "job".into(),
            credentials: None,
        };
        assert_eq!(broker.client_id_of(0, 1), "job");
        assert_eq!(broker.client_id_of(1, 2), "job-1");
        assert_eq!(broker.address(), "127.0.0.1:1883");
    }
}
