//! The sparse offset and time index of a segment (`<base_offset:020>.index`).
//!
//! One 16-byte entry (little-endian) is added for a batch when at least
//! [`INDEX_INTERVAL_BYTES`] were appended since the previous entry:
//!
//! ```text
//! 0   relative_offset  u32  base offset of the batch minus the segment's base offset
//! 4   position         u32  byte position of the batch in the .log file
//! 8   max_timestamp    i64  largest timestamp in the segment up to and including this batch
//! ```
//!
//! The index is a hint: a lookup gives a batch at or before the one wanted, and reads walk
//! forward from there. It is rebuilt from the log whenever it does not look right.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Bytes appended between two index entries.
pub(crate) const INDEX_INTERVAL_BYTES: u64 = 16 * 1024;

/// Bytes of one entry in the index file.
pub(crate) const ENTRY_LEN: usize = 16;

/// One index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
    pub max_timestamp: i64,
}

impl IndexEntry {
    /// Appends the on-disk form of the entry to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> IndexEntry {
        IndexEntry {
            relative_offset: u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
            position: u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            max_timestamp: i64::from_le_bytes(bytes[8..16].try_into().unwrap()),
        }
    }
}

/// Reads an index file; a missing file is an empty index and a torn last entry is dropped.
pub(crate) fn load(path: &Path) -> Result<Vec<IndexEntry>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes
            .chunks_exact(ENTRY_LEN)
            .map(IndexEntry::decode)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).at(path),
    }
}

/// Replaces an index file with `entries`.
pub(crate) fn store(path: &Path, entries: &[IndexEntry]) -> Result<()> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for entry in entries {
        entry.encode(&mut bytes);
    }
    fs::write(path, bytes).at(path)
}

/// Whether `entries` are plausible for a segment of `segment_len` bytes: strictly increasing
/// offsets and positions inside the file, non-decreasing timestamps.
pub(crate) fn is_consistent(entries: &[IndexEntry], segment_len: u64) -> bool {
    let in_file = entries.iter().all(|e| u64::from(e.position) < segment_len);
    let ordered = entries.windows(2).all(|w| {
        w[0].relative_offset < w[1].relative_offset
            && w[0].position < w[1].position
            && w[0].max_timestamp <= w[1].max_timestamp
    });
    in_file && ordered
}

/// The last entry at or before `relative_offset`: where a read for it should start.
pub(crate) fn lookup(entries: &[IndexEntry], relative_offset: u64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| u64::from(e.relative_offset) <= relative_offset);
    n.checked_sub(1).map(|i| entries[i])
}

/// The last entry, before position `limit`, whose batches up to and including its own are all
/// older than `timestamp`: a search for the first record at or after `timestamp` may start there.
pub(crate) fn lookup_time(
    entries: &[IndexEntry],
    timestamp: i64,
    limit: u64,
) -> Option<IndexEntry> {
    let n =
        entries.partition_point(|e| e.max_timestamp < timestamp && u64::from(e.position) < limit);
    n.checked_sub(1).map(|i| entries[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(relative_offset: u32, position: u32, max_timestamp: i64) -> IndexEntry {
        IndexEntry {
            relative_offset,
            position,
            max_timestamp,
        }
    }

    #[test]
    fn lookups_find_the_entry_at_or_before() {
        let entries = [entry(10, 1000, 5), entry(20, 2000, 7), entry(30, 3000, 9)];
        assert_eq!(lookup(&entries, 5), None);
        assert_eq!(lookup(&entries, 10), Some(entries[0]));
        assert_eq!(lookup(&entries, 29), Some(entries[1]));
        assert_eq!(lookup(&entries, 1 << 40), Some(entries[2]));
        assert_eq!(lookup_time(&entries, 5, u64::MAX), None);
        assert_eq!(lookup_time(&entries, 8, u64::MAX), Some(entries[1]));
        assert_eq!(lookup_time(&entries, 100, 2500), Some(entries[1]));
    }

    #[test]
    fn files_round_trip_and_consistency_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        assert!(load(&path).unwrap().is_empty());
        let entries = vec![entry(1, 100, 3), entry(2, 200, 3)];
        store(&path, &entries).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        fs::write(&path, bytes).unwrap();
        assert_eq!(load(&path).unwrap(), entries);
        assert!(is_consistent(&entries, 201));
        assert!(!is_consistent(&entries, 200));
        assert!(!is_consistent(&[entries[1], entries[0]], 1000));
    }
}
