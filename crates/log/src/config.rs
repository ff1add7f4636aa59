//! Topic configuration, fsync policy, options of a [`Log`](crate::Log) handle, and name rules.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::batch::MAX_BATCH_BYTES;
use crate::error::{LogError, Result};

/// Default size at which a partition rolls to a new segment file: 128 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 * 1024 * 1024;

/// Largest accepted `segment_bytes` (1 GiB), so that file positions fit the 32-bit index.
pub const MAX_SEGMENT_BYTES: u64 = MAX_BATCH_BYTES as u64;

/// Name of the directory under the log root that holds consumer group offsets;
/// no topic may take it.
pub(crate) const GROUPS_DIR: &str = "__consumer_offsets";

/// When appended data is forced to stable storage with fsync.
///
/// Whatever the policy, every batch is checksummed, so a crash never serves torn data: at worst
/// the unsynced tail is lost and truncated on the next open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum FsyncPolicy {
    /// Leave flushing to the operating system (Kafka's default); [`Topic::flush`](crate::Topic::flush)
    /// still syncs on demand.
    #[default]
    Never,
    /// Fsync after every appended batch.
    EveryBatch,
    /// Fsync on an append when at least this long has passed since the last fsync, and when the
    /// topic is flushed or closed.
    Interval(Duration),
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::EveryBatch => f.write_str("batch"),
            FsyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = LogError;

    /// Parses `never`, `batch` or `interval:MS`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "batch" => Ok(FsyncPolicy::EveryBatch),
            _ => s
                .strip_prefix("interval:")
                .and_then(|ms| ms.parse().ok())
                .map(|ms| FsyncPolicy::Interval(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    LogError::InvalidConfig(format!(
                        "fsync policy {s:?}: expected never, batch or interval:MS"
                    ))
                }),
        }
    }
}

impl From<FsyncPolicy> for String {
    fn from(policy: FsyncPolicy) -> String {
        policy.to_string()
    }
}

impl TryFrom<String> for FsyncPolicy {
    type Error = LogError;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Configuration of a topic, stored in `<root>/<topic>/topic.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Number of partitions (fixed at creation).
    pub partitions: u32,
    /// A partition rolls to a new segment file when the active one would grow past this size.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Delete the oldest closed segments while the partition stays at least this large
    /// (`retention.bytes`); `None` keeps everything.
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    /// Delete closed segments whose newest record is older than this many milliseconds
    /// (`retention.ms`); `None` keeps everything.
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// When appends are fsynced.
    #[serde(default)]
    pub fsync: FsyncPolicy,
}

fn default_segment_bytes() -> u64 {
    DEFAULT_SEGMENT_BYTES
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig::new(1)
    }
}

impl TopicConfig {
    /// A configuration with `partitions` partitions and defaults elsewhere: 128 MiB segments,
    /// unlimited retention, [`FsyncPolicy::Never`].
    pub fn new(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            retention_bytes: None,
            retention_ms: None,
            fsync: FsyncPolicy::Never,
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(LogError::InvalidConfig(msg));
        if self.partitions == 0 {
            return invalid("partitions must be at least 1".into());
        }
        if self.segment_bytes == 0 || self.segment_bytes > MAX_SEGMENT_BYTES {
            return invalid(format!(
                "segment_bytes must be between 1 and {MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if let Some(ms) = self.retention_ms
            && ms < 0
        {
            return invalid(format!("retention_ms must not be negative, got {ms}"));
        }
        Ok(())
    }
}

/// Options of a [`Log`](crate::Log) handle.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// Open topics as a reader only, without taking their writer locks: for tools that read
    /// while another process writes. New data written by that process is picked up on fetch.
    pub read_only: bool,
}

/// Checks a topic or group name: 1 to 249 characters of `[A-Za-z0-9._-]`, not starting with a
/// dot, and not the reserved groups directory.
pub(crate) fn validate_name(kind: &str, name: &str) -> Result<()> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > 249 || !valid_chars || name.starts_with('.') {
        return Err(LogError::InvalidArgument(format!(
            "{kind} name {name:?}: use 1 to 249 characters of [A-Za-z0-9._-], not starting with '.'"
        )));
    }
    if name == GROUPS_DIR {
        return Err(LogError::InvalidArgument(format!(
            "{kind} name {name:?} is reserved"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_round_trips_through_text() {
        for policy in [
            FsyncPolicy::Never,
            FsyncPolicy::EveryBatch,
            FsyncPolicy::Interval(Duration::from_millis(250)),
        ] {
            assert_eq!(policy.to_string().parse::<FsyncPolicy>().unwrap(), policy);
        }
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
        assert!("interval:x".parse::<FsyncPolicy>().is_err());
    }

    #[test]
    fn config_json_fills_defaults() {
        let config: TopicConfig = serde_json::from_str(r#"{"partitions": 3}"#).unwrap();
        assert_eq!(config, TopicConfig::new(3));
        let text = serde_json::to_string(&TopicConfig {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            ..TopicConfig::new(2)
        })
        .unwrap();
        assert!(text.contains(r#""fsync":"interval:1000""#), "{text}");
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("topic", "orders.v1_x-2").is_ok());
        for bad in ["", ".hidden", "a/b", "..", GROUPS_DIR, &"x".repeat(250)] {
            assert!(validate_name("topic", bad).is_err(), "{bad:?}");
        }
    }
}
