//! Consumer groups: committed offsets per group, in `<root>/__consumer_offsets/<group>.json`.
//!
//! Each commit is a read-modify-write of the group's file under a lock file
//! (`<group>.lock`), written atomically (temporary file, fsync, rename), so that commits from
//! several processes neither tear the file nor lose each other's partitions.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{GROUPS_DIR, validate_name};
use crate::error::{IoContext, LogError, Result};
use crate::fsutil::write_atomically;
use crate::log::Log;

/// Offsets committed by one group: topic → partition → next offset to consume.
pub type GroupOffsets = BTreeMap<String, BTreeMap<u32, u64>>;

/// How far a group is behind on one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: u32,
    /// The group's committed offset (next offset to consume), if it committed one.
    pub committed: Option<u64>,
    /// The partition's end offset (high watermark).
    pub end_offset: u64,
    /// `end_offset - committed`, if the group committed an offset.
    pub lag: Option<u64>,
}

#[derive(Default, Serialize, Deserialize)]
struct GroupFile {
    offsets: GroupOffsets,
}

/// The directory of group offset files.
pub(crate) struct GroupStore {
    dir: PathBuf,
}

impl GroupStore {
    /// The store under the log root `root`.
    pub fn new(root: &Path) -> GroupStore {
        GroupStore {
            dir: root.join(GROUPS_DIR),
        }
    }

    fn path(&self, group: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{group}.{ext}"))
    }

    fn read(&self, group: &str) -> Result<GroupFile> {
        validate_name("group", group)?;
        let path = self.path(group, "json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LogError::Metadata {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(GroupFile::default()),
            Err(e) => Err(e).at(&path),
        }
    }

    fn commit(&self, group: &str, topic: &str, offsets: &[(u32, u64)]) -> Result<()> {
        validate_name("group", group)?;
        validate_name("topic", topic)?;
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let lock_path = self.path(group, "lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at(&lock_path)?;
        lock.lock().at(&lock_path)?;
        let mut file = self.read(group)?;
        file.offsets
            .entry(topic.to_string())
            .or_default()
            .extend(offsets.iter().copied());
        let json = serde_json::to_vec_pretty(&file).expect("offsets serialize to JSON");
        write_atomically(&self.path(group, "json"), &json)
    }

    fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&self.dir),
        };
        let mut groups = Vec::new();
        for entry in entries {
            let name = entry.at(&self.dir)?.file_name();
            if let Some(group) = name.to_string_lossy().strip_suffix(".json") {
                groups.push(group.to_string());
            }
        }
        groups.sort();
        Ok(groups)
    }
}

/// Consumer group offsets. Committing works on read-only handles too: group files are
/// separate from topic data.
impl Log {
    /// Commits `offset` (the next offset to consume) for `group` on one partition.
    pub fn commit(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()> {
        self.commit_offsets(group, topic, &[(partition, offset)])
    }

    /// Commits several `(partition, offset)` pairs of one topic in one atomic write.
    pub fn commit_offsets(&self, group: &str, topic: &str, offsets: &[(u32, u64)]) -> Result<()> {
        self.group_store().commit(group, topic, offsets)
    }

    /// The offset `group` committed on a partition, if any.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        let file = self.group_store().read(group)?;
        Ok(file
            .offsets
            .get(topic)
            .and_then(|p| p.get(&partition))
            .copied())
    }

    /// Everything `group` committed.
    pub fn group_offsets(&self, group: &str) -> Result<GroupOffsets> {
        Ok(self.group_store().read(group)?.offsets)
    }

    /// Names of the groups that committed offsets, sorted.
    pub fn consumer_groups(&self) -> Result<Vec<String>> {
        self.group_store().list()
    }

    /// Committed offset, end offset and lag of `group` on every partition of `topic`.
    pub fn group_lag(&self, group: &str, topic: &str) -> Result<Vec<PartitionLag>> {
        let handle = self.topic(topic)?;
        let committed = self.group_offsets(group)?.remove(topic).unwrap_or_default();
        (0..handle.partitions())
            .map(|partition| {
                let end_offset = handle.end_offset(partition)?;
                let committed = committed.get(&partition).copied();
                Ok(PartitionLag {
                    partition,
                    committed,
                    end_offset,
                    lag: committed.map(|c| end_offset.saturating_sub(c)),
                })
            })
            .collect()
    }
}
