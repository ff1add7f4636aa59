//! Topics: a configuration (`topic.json`), N partitions, and the writer lock file.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::TopicConfig;
use crate::error::{IoContext, LogError, Result};
use crate::fetch::FetchedRecords;
use crate::partition::{AppendResult, Partition, PartitionInfo};
use crate::partitioner::partition_for_key;
use crate::record::Record;
use crate::segment::Segment;

/// Name of a topic's configuration file.
pub(crate) const CONFIG_FILE: &str = "topic.json";

/// Name of the lock file a writer holds (flock) while the topic is open for writing.
pub(crate) const LOCK_FILE: &str = "writer.lock";

/// A topic opened for writing (one writer per topic across processes) or read-only.
///
/// All methods take `&self`: appends to one partition are serialized by its own lock, and
/// fetches run concurrently with them.
pub struct Topic {
    name: String,
    config: TopicConfig,
    partitions: Vec<Partition>,
    next_partition: AtomicU32,
    // Declared last so the partitions flush before the lock is released.
    writer_lock: Option<File>,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("read_only", &self.is_read_only())
            .finish()
    }
}

impl Topic {
    /// Opens the topic in `dir`; it is writable when `writer_lock` (already locked) is given.
    pub(crate) fn open(dir: &Path, name: &str, writer_lock: Option<File>) -> Result<Topic> {
        let config = read_config(dir)?;
        let partitions = (0..config.partitions)
            .map(|p| {
                Partition::open(
                    dir.join(p.to_string()),
                    name,
                    p,
                    &config,
                    writer_lock.is_some(),
                )
            })
            .collect::<Result<_>>()?;
        Ok(Topic {
            name: name.to_string(),
            next_partition: AtomicU32::new(0),
            config,
            partitions,
            writer_lock,
        })
    }

    /// Creates the partition directories with their first segment (before `topic.json` is
    /// written, which makes the topic visible).
    pub(crate) fn create_partitions(dir: &Path, config: &TopicConfig) -> Result<()> {
        for p in 0..config.partitions {
            let partition_dir = dir.join(p.to_string());
            fs::create_dir(&partition_dir).at(&partition_dir)?;
            Segment::create(&partition_dir, 0)?;
        }
        Ok(())
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic's configuration.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// Number of partitions.
    pub fn partitions(&self) -> u32 {
        self.config.partitions
    }

    /// Whether this handle only reads.
    pub fn is_read_only(&self) -> bool {
        self.writer_lock.is_none()
    }

    /// The partition for a record: Kafka's murmur2 hash of the key
    /// ([`partition_for_key`]), or round-robin for keyless records.
    pub fn partition_for(&self, key: Option<&[u8]>) -> u32 {
        match key {
            Some(key) => partition_for_key(key, self.config.partitions),
            None => self.next_partition.fetch_add(1, Ordering::Relaxed) % self.config.partitions,
        }
    }

    /// Appends `records` to `partition` as one batch (one write); they get consecutive offsets.
    pub fn append(&self, partition: u32, records: &[Record<'_>]) -> Result<AppendResult> {
        self.partition(partition)?.append(records)
    }

    /// Fetches records of `partition` from `offset` on: whole batches up to about `max_bytes`,
    /// at least one batch. Fetching at the end offset returns nothing; outside
    /// `[start_offset, end_offset]` it fails with [`LogError::OffsetOutOfRange`].
    pub fn fetch(&self, partition: u32, offset: u64, max_bytes: usize) -> Result<FetchedRecords> {
        let mut out = FetchedRecords::new();
        self.fetch_into(partition, offset, max_bytes, &mut out)?;
        Ok(out)
    }

    /// As [`Topic::fetch`], reusing the buffer of `out`.
    pub fn fetch_into(
        &self,
        partition: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut FetchedRecords,
    ) -> Result<()> {
        self.partition(partition)?
            .fetch_into(offset, max_bytes, out)
    }

    /// The log start offset of `partition`: its first retained offset.
    pub fn start_offset(&self, partition: u32) -> Result<u64> {
        self.partition(partition)?.start_offset()
    }

    /// The end offset (high watermark) of `partition`: the offset of the next record.
    pub fn end_offset(&self, partition: u32) -> Result<u64> {
        self.partition(partition)?.end_offset()
    }

    /// The first offset of `partition` whose record's timestamp is at or after `timestamp`
    /// (Kafka's offsets-for-times), found through the time index; `None` if there is none.
    pub fn offset_for_timestamp(&self, partition: u32, timestamp: i64) -> Result<Option<u64>> {
        self.partition(partition)?.offset_for_timestamp(timestamp)
    }

    /// Offsets, segment count and size of `partition`.
    pub fn partition_info(&self, partition: u32) -> Result<PartitionInfo> {
        self.partition(partition)?.info()
    }

    /// Fsyncs every partition's active segment and index (no-op when read-only).
    pub fn flush(&self) -> Result<()> {
        self.partitions.iter().try_for_each(Partition::flush)
    }

    /// Applies `retention.bytes` and `retention.ms` to every partition as of `now_ms`, deleting
    /// old closed segments (never the active one) and moving the log start offset. Returns the
    /// number of segments deleted. Writers also do this after each segment roll.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        self.partitions
            .iter()
            .map(|p| p.enforce_retention(now_ms))
            .sum()
    }

    fn partition(&self, partition: u32) -> Result<&Partition> {
        self.partitions
            .get(partition as usize)
            .ok_or_else(|| LogError::UnknownPartition {
                topic: self.name.clone(),
                partition,
            })
    }
}

/// Reads `topic.json` in a topic directory.
pub(crate) fn read_config(dir: &Path) -> Result<TopicConfig> {
    let path = dir.join(CONFIG_FILE);
    let bytes = fs::read(&path).at(&path)?;
    let config: TopicConfig = serde_json::from_slice(&bytes).map_err(|e| LogError::Metadata {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    config.validate().map_err(|e| LogError::Metadata {
        path,
        reason: e.to_string(),
    })?;
    Ok(config)
}

/// Opens and locks a topic's writer lock file, or reports who holds it.
pub(crate) fn lock_writer(dir: &Path, topic: &str) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::Locked {
            topic: topic.to_string(),
            lock_file: path,
        }),
        Err(fs::TryLockError::Error(e)) => Err(e).at(&path),
    }
}

/// Whether `dir` holds a topic (has its configuration file).
pub(crate) fn exists(dir: &Path) -> Result<bool> {
    let path = dir.join(CONFIG_FILE);
    match fs::metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at(&path),
    }
}
