//! Where the records go: one small trait, and a sink per URI scheme.
//!
//! | URI | telemetry | labels |
//! |---|---|---|
//! | `log://TOPIC[?partitions=N]` | topic `TOPIC` of the embedded log, key = VIN | topic `TOPIC-labels` |
//! | `file://PATH.ndjson` | NDJSON file `PATH.ndjson` | `PATH.labels.ndjson` |
//! | `mqtt://HOST[:PORT][?prefix=P]` | `[P/]vehicles/{vin}/telemetry`, QoS 1 | `[P/]vehicles/{vin}/labels` |
//! | `kafka://HOST:PORT[,HOST:PORT…]/TOPIC[?partitions=N]` | topic `TOPIC`, key = VIN | topic `TOPIC-labels` |
//!
//! An MQTT sink's `prefix` puts its topics under `P/` (e.g. a test's own `test/<pid>`). Log
//! and Kafka sinks create missing topics with `partitions` partitions. With a labels file
//! (`--labels`), labels go to that NDJSON file instead, whatever the sink.

mod file;
mod kafka;
mod log;
mod mqtt;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

pub use self::file::{FileSink, LabelFileSink};
pub use self::kafka::KafkaSink;
pub use self::log::{DEFAULT_PARTITIONS, LogSink};
pub use self::mqtt::MqttSink;
use crate::error::SinkError;
use crate::vin::Vin;

/// Records of one stream serialized as JSON, each followed by a newline, with the VIN and
/// timestamp of each.
#[derive(Debug, Default, Clone)]
pub struct Encoded {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

/// Where one record of an [`Encoded`] is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    vin: Vin,
    ts: i64,
    start: usize,
    end: usize,
}

/// One record of an [`Encoded`].
#[derive(Debug, Clone, Copy)]
pub struct EncodedRecord<'a> {
    /// The vehicle.
    pub vin: Vin,
    /// The record's time, epoch ms.
    pub ts: i64,
    /// The JSON text, without the newline.
    pub json: &'a [u8],
}

impl Encoded {
    /// Appends a record.
    pub fn push<T: Serialize>(&mut self, vin: Vin, ts: i64, record: &T) {
        let start = self.data.len();
        serde_json::to_writer(&mut self.data, record).expect("records serialize to JSON in memory");
        self.entries.push(Entry {
            vin,
            ts,
            start,
            end: self.data.len(),
        });
        self.data.push(b'\n');
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every record, keeping the memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.entries.clear();
    }

    /// The records as NDJSON.
    pub fn ndjson(&self) -> &[u8] {
        &self.data
    }

    /// The records one by one.
    pub fn iter(&self) -> impl Iterator<Item = EncodedRecord<'_>> {
        self.entries.iter().map(|e| EncodedRecord {
            vin: e.vin,
            ts: e.ts,
            json: &self.data[e.start..e.end],
        })
    }
}

/// The topic of the labels beside telemetry topic `topic` (log and Kafka sinks).
pub fn labels_topic(topic: &str) -> String {
    format!("{topic}-labels")
}

/// A destination for telemetry and labels.
pub trait Sink: Send {
    /// Hands over the telemetry and the labels of one tick.
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError>;

    /// Delivers everything sent so far: the end of a batch.
    fn flush(&mut self) -> Result<(), SinkError>;

    /// Delivers everything sent so far and closes the connection or files.
    fn close(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}

/// A parsed `--sink` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkUri {
    /// `log://TOPIC[?partitions=N]`.
    Log {
        /// The telemetry topic; labels go to `TOPIC-labels`.
        topic: String,
        /// Partitions of topics the sink creates.
        partitions: u32,
    },
    /// `file://PATH`.
    File {
        /// The telemetry file.
        path: PathBuf,
    },
    /// `mqtt://HOST[:PORT][?prefix=P]`.
    Mqtt {
        /// Broker host.
        host: String,
        /// Broker port (1883 by default).
        port: u16,
        /// Levels put before every topic (`P/vehicles/…`), if any.
        prefix: Option<String>,
    },
    /// `kafka://SERVERS/TOPIC[?partitions=N]`.
    Kafka {
        /// The bootstrap servers, `host:port[,host:port…]`.
        servers: String,
        /// The telemetry topic; labels go to `TOPIC-labels`.
        topic: String,
        /// Partitions of topics the sink creates.
        partitions: u32,
    },
}

/// The default MQTT port.
const MQTT_PORT: u16 = 1883;

/// Splits `TOPIC[?partitions=N]` (the rest of a log or Kafka URI): the topic part, and the
/// partitions of topics the sink creates.
fn topic_and_partitions<'a>(rest: &'a str, sink: &str) -> Result<(&'a str, u32), String> {
    let (topic, query) = match rest.split_once('?') {
        Some((topic, query)) => (topic, Some(query)),
        None => (rest, None),
    };
    let mut partitions = DEFAULT_PARTITIONS;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("partitions", n)) => {
                partitions = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("partitions={n}: expected a positive number"))?;
            }
            _ => {
                return Err(format!(
                    "unknown parameter {pair:?}; the {sink} sink takes partitions=N"
                ));
            }
        }
    }
    Ok((topic, partitions))
}

impl FromStr for SinkUri {
    type Err = SinkError;

    fn from_str(uri: &str) -> Result<SinkUri, SinkError> {
        let bad = |reason: String| SinkError::Uri {
            uri: uri.to_string(),
            reason,
        };
        let usage =
            "use log://TOPIC, file://PATH.ndjson, mqtt://HOST:PORT or kafka://HOST:PORT/TOPIC";
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(bad(format!("not a URI; {usage}")));
        };
        match scheme {
            "log" => {
                let (topic, partitions) = topic_and_partitions(rest, "log").map_err(bad)?;
                if topic.is_empty() {
                    return Err(bad("no topic: use log://TOPIC".into()));
                }
                Ok(SinkUri::Log {
                    topic: topic.to_string(),
                    partitions,
                })
            }
            "kafka" => {
                let (path, partitions) = topic_and_partitions(rest, "Kafka").map_err(bad)?;
                let usage = "use kafka://HOST:PORT/TOPIC";
                let Some((servers, topic)) = path.split_once('/') else {
                    return Err(bad(format!("no topic: {usage}")));
                };
                if servers.is_empty() || topic.is_empty() || topic.contains('/') {
                    return Err(bad(format!("expected brokers and one topic: {usage}")));
                }
                Ok(SinkUri::Kafka {
                    servers: servers.to_string(),
                    topic: topic.to_string(),
                    partitions,
                })
            }
            "file" if rest.is_empty() => Err(bad("no path: use file://PATH.ndjson".into())),
            "file" => Ok(SinkUri::File {
                path: PathBuf::from(rest),
            }),
            "mqtt" => {
                let (authority, query) = match rest.split_once('?') {
                    Some((authority, query)) => (authority, Some(query)),
                    None => (rest, None),
                };
                let mut prefix = None;
                for pair in query.into_iter().flat_map(|q| q.split('&')) {
                    match pair.split_once('=') {
                        Some(("prefix", p)) => {
                            let p = p.trim_matches('/');
                            if p.is_empty() || p.contains(['+', '#']) {
                                return Err(bad(format!(
                                    "prefix={p}: expected topic levels without wildcards"
                                )));
                            }
                            prefix = Some(p.to_string());
                        }
                        _ => {
                            return Err(bad(format!(
                                "unknown parameter {pair:?}; the MQTT sink takes prefix=LEVELS"
                            )));
                        }
                    }
                }
                let authority = authority.trim_end_matches('/');
                let (host, port) = match authority.rsplit_once(':') {
                    Some((host, port)) => (
                        host,
                        port.parse()
                            .map_err(|_| bad(format!("port {port:?} is not a port number")))?,
                    ),
                    None => (authority, MQTT_PORT),
                };
                if host.is_empty() || host.contains('/') {
                    return Err(bad("expected mqtt://HOST:PORT".into()));
                }
                Ok(SinkUri::Mqtt {
                    host: host.to_string(),
                    port,
                    prefix,
                })
            }
            other => Err(bad(format!("unknown scheme {other}://; {usage}"))),
        }
    }
}

impl SinkUri {
    /// Opens the sink; a log sink opens (or creates) its topics in the log at `log_dir`. With
    /// `labels`, the labels go to that NDJSON file instead of the sink's own label stream.
    pub fn open(&self, log_dir: &Path, labels: Option<&Path>) -> Result<Box<dyn Sink>, SinkError> {
        let sink: Box<dyn Sink> = match self {
            SinkUri::File { path } => {
                let labels = labels.map_or_else(|| file::labels_path(path), Path::to_path_buf);
                return Ok(Box::new(FileSink::create(path, &labels)?));
            }
            SinkUri::Log { topic, partitions } => {
                Box::new(LogSink::open(log_dir, topic, *partitions)?)
            }
            SinkUri::Mqtt { host, port, prefix } => {
                Box::new(MqttSink::connect(host, *port, prefix.as_deref())?)
            }
            SinkUri::Kafka {
                servers,
                topic,
                partitions,
            } => Box::new(KafkaSink::connect(
                servers,
                topic,
                &labels_topic(topic),
                *partitions,
            )?),
        };
        Ok(match labels {
            Some(labels) => Box::new(LabelFileSink::create(sink, labels)?),
            None => sink,
        })
    }

    /// Where the labels go, for messages.
    pub fn labels_destination(&self, labels: Option<&Path>) -> String {
        if let Some(labels) = labels {
            return labels.display().to_string();
        }
        match self {
            SinkUri::Log { topic, .. } => format!("log topic {}", labels_topic(topic)),
            SinkUri::Kafka { topic, .. } => format!("Kafka topic {}", labels_topic(topic)),
            SinkUri::File { path } => file::labels_path(path).display().to_string(),
            SinkUri::Mqtt { prefix: None, .. } => "MQTT topics vehicles/{vin}/labels".into(),
            SinkUri::Mqtt {
                prefix: Some(p), ..
            } => format!("MQTT topics {p}/vehicles/{{vin}}/labels"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<SinkUri, String> {
        uri.parse::<SinkUri>().map_err(|e| e.to_string())
    }

    #[test]
    fn uris_parse() {
        assert_eq!(
            parse("log://vehicles").unwrap(),
            SinkUri::Log {
                topic: "vehicles".into(),
                partitions: DEFAULT_PARTITIONS
            }
        );
        assert_eq!(
            parse("log://v?partitions=8").unwrap(),
            SinkUri::Log {
                topic: "v".into(),
                partitions: 8
            }
        );
        assert_eq!(
            parse("file:///tmp/x.ndjson").unwrap(),
            SinkUri::File {
                path: "/tmp/x.ndjson".into()
            }
        );
        assert_eq!(
            parse("mqtt://127.0.0.1:1884").unwrap(),
            SinkUri::Mqtt {
                host: "127.0.0.1".into(),
                port: 1884,
                prefix: None
            }
        );
        assert_eq!(
            parse("mqtt://127.0.0.1:1884?prefix=test/42/").unwrap(),
            SinkUri::Mqtt {
                host: "127.0.0.1".into(),
                port: 1884,
                prefix: Some("test/42".into())
            }
        );
        assert_eq!(
            parse("kafka://127.0.0.1:9092,127.0.0.1:9093/vehicles?partitions=6").unwrap(),
            SinkUri::Kafka {
                servers: "127.0.0.1:9092,127.0.0.1:9093".into(),
                topic: "vehicles".into(),
                partitions: 6
            }
        );
        assert_eq!(
            parse("mqtt://broker").unwrap(),
            SinkUri::Mqtt {
                host: "broker".into(),
                port: 1883,
                prefix: None
            }
        );
    }

    #[test]
    fn bad_uris_say_why() {
        let kafka = parse("kafka://localhost:9092").unwrap_err();
        assert!(kafka.contains("no topic"), "{kafka}");
        assert!(
            kafka.starts_with("--sink kafka://localhost:9092:"),
            "{kafka}"
        );
        assert!(
            parse("kafka://h:9092/a/b")
                .unwrap_err()
                .contains("one topic")
        );
        assert!(
            parse("kafka://h:9092/t?acks=1")
                .unwrap_err()
                .contains("the Kafka sink takes partitions=N")
        );
        assert!(parse("vehicles.ndjson").unwrap_err().contains("not a URI"));
        assert!(
            parse("http://x")
                .unwrap_err()
                .contains("unknown scheme http://")
        );
        assert!(parse("log://").unwrap_err().contains("no topic"));
        assert!(
            parse("log://t?partitions=0")
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse("log://t?replicas=3")
                .unwrap_err()
                .contains("unknown parameter")
        );
        assert!(parse("mqtt://h:99999").unwrap_err().contains("not a port"));
        assert!(
            parse("mqtt://h?prefix=a/+")
                .unwrap_err()
                .contains("wildcards")
        );
        assert!(
            parse("mqtt://h?qos=2")
                .unwrap_err()
                .contains("unknown parameter")
        );
        assert!(parse("file://").unwrap_err().contains("no path"));
    }

    #[test]
    fn encoded_records_keep_their_boundaries() {
        let vin: Vin = "1M8GDM9AXKP042788".parse().unwrap();
        let mut encoded = Encoded::default();
        encoded.push(vin, 1, &serde_json::json!({"a": 1}));
        encoded.push(vin, 2, &serde_json::json!({"b": [2]}));
        assert_eq!(encoded.ndjson(), b"{\"a\":1}\n{\"b\":[2]}\n");
        let records: Vec<_> = encoded.iter().map(|r| (r.ts, r.json)).collect();
        assert_eq!(
            records,
            vec![(1, &b"{\"a\":1}"[..]), (2, &b"{\"b\":[2]}"[..])]
        );
        encoded.clear();
        assert!(encoded.is_empty() && encoded.ndjson().is_empty());
    }
}
