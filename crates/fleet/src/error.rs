//! Errors of the simulator and its sinks.

use std::io;
use std::path::PathBuf;

/// Something wrong with a simulation's configuration or its delivery.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// An option is out of range; `field` names it as the command line spells it.
    #[error("--{field}: {reason}")]
    Config {
        /// The option.
        field: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Something wrong with a sink: its URI, or delivering to it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink URI cannot be used.
    #[error("--sink {uri}: {reason}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing a file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The embedded log refused a topic operation or an append.
    #[error("log topic {topic}: {source}")]
    Log {
        /// The topic.
        topic: String,
        /// The log's error.
        #[source]
        source: spate_log::LogError,
    },
    /// The Kafka brokers refused a topic or a record, or could not be reached.
    #[error("Kafka {servers}, topic {topic}: {reason}")]
    Kafka {
        /// The bootstrap servers.
        servers: String,
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// The MQTT broker could not be reached, or stopped acknowledging.
    #[error("MQTT broker {broker}: {reason}")]
    Mqtt {
        /// `host:port` of the broker.
        broker: String,
        /// What went wrong.
        reason: String,
    },
}
