//! Appends, fetches, segment rolls, crash recovery, corruption and retention.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use spate_log::{FetchedRecords, Log, LogError, LogOptions, Record, TopicConfig, now_ms};
use tempfile::TempDir;

fn writer(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap()
}

fn small_segments(partitions: u32, segment_bytes: u64) -> TopicConfig {
    TopicConfig {
        segment_bytes,
        ..TopicConfig::new(partitions)
    }
}

fn value(offset: u64) -> Vec<u8> {
    format!("value-{offset}-{}", "x".repeat((offset % 37) as usize)).into_bytes()
}

/// Appends batches of `sizes` records to partition 0; record `o` has value `value(o)`,
/// key `k{o}` on even offsets, timestamp `1000 + o`.
fn append_batches(log: &Log, topic: &str, sizes: &[usize]) {
    let topic = log.topic(topic).unwrap();
    for &size in sizes {
        let base = topic.end_offset(0).unwrap();
        let values: Vec<_> = (base..base + size as u64).map(value).collect();
        let keys: Vec<_> = (base..base + size as u64)
            .map(|o| format!("k{o}"))
            .collect();
        let records: Vec<_> = values
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (v, k))| {
                let record = Record::new(1000 + base as i64 + i as i64, v);
                if (base as usize + i).is_multiple_of(2) {
                    record.with_key(k.as_bytes())
                } else {
                    record
                }
            })
            .collect();
        let result = topic.append(0, &records).unwrap();
        assert_eq!(result.base_offset, base);
        assert_eq!(result.last_offset, base + size as u64 - 1);
    }
}

/// Reads partition 0 from `from` to the end, checking every record; returns the count.
fn read_all(log: &Log, topic: &str, from: u64, max_bytes: usize) -> u64 {
    let topic = log.topic(topic).unwrap();
    let end = topic.end_offset(0).unwrap();
    let mut fetched = FetchedRecords::new();
    let mut next = from;
    while next < end {
        topic.fetch_into(0, next, max_bytes, &mut fetched).unwrap();
        assert!(
            !fetched.is_empty(),
            "empty fetch at {next} before end {end}"
        );
        let mut count = 0;
        for record in &fetched {
            assert_eq!(record.offset, next + count, "gap or reordering");
            assert_eq!(record.value, value(record.offset).as_slice());
            assert_eq!(record.timestamp, 1000 + record.offset as i64);
            let key = format!("k{}", record.offset);
            let expected_key = record.offset.is_multiple_of(2).then_some(key.as_bytes());
            assert_eq!(record.key, expected_key);
            count += 1;
        }
        assert_eq!(count as usize, fetched.len());
        next += count;
        assert_eq!(fetched.next_offset(), next);
    }
    next - from
}

fn partition_dir(dir: &TempDir, topic: &str, partition: u32) -> PathBuf {
    dir.path().join(topic).join(partition.to_string())
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Byte positions of the batches in a segment file, from their length fields.
fn batch_positions(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    let mut positions = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        positions.push(pos as u64);
        pos += u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    positions
}

fn flip_byte(path: &Path, position: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position).unwrap();
    file.write_all_at(&[byte[0] ^ 0x55], position).unwrap();
}

#[test]
fn round_trip_across_segment_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let sizes: Vec<usize> = (0..200).map(|i| 1 + i % 23).collect();
    let total: usize = sizes.iter().sum();
    {
        let log = writer(dir.path());
        log.create_topic("events", small_segments(2, 8 * 1024))
            .unwrap();
        append_batches(&log, "events", &sizes);
        assert_eq!(
            log.topic("events").unwrap().end_offset(0).unwrap(),
            total as u64
        );
        assert_eq!(read_all(&log, "events", 0, 1), total as u64);
        assert_eq!(read_all(&log, "events", 0, 1 << 20), total as u64);
    }
    let segments = files(&partition_dir(&dir, "events", 0), "log");
    assert!(
        segments.len() > 5,
        "expected rolls, got {} segments",
        segments.len()
    );
    assert_eq!(
        files(&partition_dir(&dir, "events", 0), "index").len(),
        segments.len()
    );
    let first = segments[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(first, "00000000000000000000.log");

    let log = writer(dir.path());
    let topic = log.topic("events").unwrap();
    assert_eq!(topic.end_offset(0).unwrap(), total as u64);
    assert_eq!(topic.end_offset(1).unwrap(), 0);
    assert_eq!(read_all(&log, "events", 0, 4096), total as u64);
    // Random access: every offset can be fetched directly.
    for offset in (0..total as u64).step_by(7) {
        let fetched = topic.fetch(0, offset, 1).unwrap();
        assert_eq!(fetched.iter().next().unwrap().offset, offset);
    }
    append_batches(&log, "events", &[5, 5]);
    assert_eq!(read_all(&log, "events", 0, 100_000), total as u64 + 10);
    let info = topic.partition_info(0).unwrap();
    assert_eq!((info.start_offset, info.end_offset), (0, total as u64 + 10));
    assert!(info.segments > 5);
}

#[test]
fn fetch_from_the_middle_of_a_batch_starts_at_that_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    append_batches(&log, "t", &[10, 10]);
    let topic = log.topic("t").unwrap();
    let fetched = topic.fetch(0, 5, 1).unwrap();
    let offsets: Vec<u64> = fetched.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (5..10).collect::<Vec<_>>(),
        "one batch, from offset 5"
    );
    assert_eq!(fetched.len(), 5);
    assert_eq!(fetched.next_offset(), 10);
    assert_eq!(fetched.high_watermark(), 20);
    let fetched = topic.fetch(0, 13, 1 << 20).unwrap();
    assert_eq!(fetched.iter().next().unwrap().value, value(13).as_slice());
    assert_eq!(fetched.len(), 7);

    assert!(topic.fetch(0, 20, 1024).unwrap().is_empty());
    assert!(matches!(
        topic.fetch(0, 21, 1024),
        Err(LogError::OffsetOutOfRange {
            requested: 21,
            start: 0,
            end: 20
        })
    ));
    assert!(matches!(
        topic.fetch(3, 0, 1024),
        Err(LogError::UnknownPartition { partition: 3, .. })
    ));
}

#[test]
fn offset_for_timestamp_uses_the_time_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    log.create_topic("t", small_segments(1, 2048)).unwrap();
    append_batches(&log, "t", &vec![3; 300]);
    let topic = log.topic("t").unwrap();
    assert_eq!(topic.offset_for_timestamp(0, 0).unwrap(), Some(0));
    assert_eq!(
        topic.offset_for_timestamp(0, 1000 + 517).unwrap(),
        Some(517)
    );
    assert_eq!(
        topic.offset_for_timestamp(0, 1000 + 899).unwrap(),
        Some(899)
    );
    assert_eq!(topic.offset_for_timestamp(0, 1000 + 900).unwrap(), None);
}

#[test]
fn torn_tail_is_truncated_on_open_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = writer(dir.path());
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        append_batches(&log, "t", &[4, 4, 4]);
    }
    let segment = files(&partition_dir(&dir, "t", 0), "log").remove(0);
    let positions = batch_positions(&segment);
    let len = fs::metadata(&segment).unwrap().len();
    // A short write: the last batch is cut in the middle.
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    {
        let log = writer(dir.path());
        let topic = log.topic("t").unwrap();
        assert_eq!(topic.end_offset(0).unwrap(), 8);
        assert_eq!(fs::metadata(&segment).unwrap().len(), positions[2]);
        append_batches(&log, "t", &[4, 2]);
        assert_eq!(topic.end_offset(0).unwrap(), 14);
        assert_eq!(read_all(&log, "t", 0, 1 << 20), 14);
    }
    // A flipped byte in the last batch: its checksum fails.
    let positions = batch_positions(&segment);
    assert_eq!(positions.len(), 4);
    flip_byte(&segment, positions[3] + 50);
    let log = writer(dir.path());
    let topic = log.topic("t").unwrap();
    assert_eq!(topic.end_offset(0).unwrap(), 12);
    assert_eq!(fs::metadata(&segment).unwrap().len(), positions[3]);
    append_batches(&log, "t", &[3]);
    assert_eq!(read_all(&log, "t", 0, 1 << 20), 15);
}

#[test]
fn garbage_after_the_last_batch_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = writer(dir.path());
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        append_batches(&log, "t", &[4]);
    }
    let segment = files(&partition_dir(&dir, "t", 0), "log").remove(0);
    let len = fs::metadata(&segment).unwrap().len();
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.write_all_at(&[0u8; 100], len).unwrap();
    let log = writer(dir.path());
    assert_eq!(log.topic("t").unwrap().end_offset(0).unwrap(), 4);
    assert_eq!(fs::metadata(&segment).unwrap().len(), len);
}

fn assert_corrupt_at(err: LogError, file: &Path, position: u64, offset: u64) {
    match err {
        LogError::Corrupt {
            file: ref f,
            position: p,
            offset: o,
            ref reason,
        } => {
            assert_eq!((f.as_path(), p, o), (file, position, offset), "{reason}");
            let message = err.to_string();
            assert!(
                message.contains(&file.display().to_string())
                    && message.contains(&position.to_string())
            );
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn corrupt_batch_in_the_middle_is_reported_never_served() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = writer(dir.path());
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        append_batches(&log, "t", &[5, 5, 5]);
    }
    let segment = files(&partition_dir(&dir, "t", 0), "log").remove(0);
    let positions = batch_positions(&segment);
    flip_byte(&segment, positions[1] + 60);
    let len = fs::metadata(&segment).unwrap().len();

    for read_only in [false, true] {
        let log = Log::open(dir.path(), LogOptions { read_only }).unwrap();
        let topic = log.topic("t").unwrap();
        assert_eq!(topic.end_offset(0).unwrap(), 15, "read_only={read_only}");
        assert_eq!(fs::metadata(&segment).unwrap().len(), len, "not truncated");
        // Reading from the start stops before the corrupt batch.
        let fetched = topic.fetch(0, 0, 1 << 20).unwrap();
        assert_eq!((fetched.len(), fetched.next_offset()), (5, 5));
        assert_corrupt_at(
            topic.fetch(0, 5, 1 << 20).unwrap_err(),
            &segment,
            positions[1],
            5,
        );
        assert_corrupt_at(
            topic.fetch(0, 7, 1 << 20).unwrap_err(),
            &segment,
            positions[1],
            5,
        );
        // The batch after it is still readable.
        let fetched = topic.fetch(0, 10, 1 << 20).unwrap();
        assert_eq!(
            fetched.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (10..15).collect::<Vec<_>>()
        );
    }
}

#[test]
fn corrupt_batch_in_a_closed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = writer(dir.path());
        log.create_topic("t", small_segments(1, 1024)).unwrap();
        append_batches(&log, "t", &[5; 12]);
    }
    let segments = files(&partition_dir(&dir, "t", 0), "log");
    assert!(segments.len() >= 3);
    let closed = &segments[0];
    let positions = batch_positions(closed);
    assert!(positions.len() >= 2);
    flip_byte(closed, positions[1] + 40);
    let log = writer(dir.path());
    let topic = log.topic("t").unwrap();
    assert_eq!(topic.end_offset(0).unwrap(), 60);
    assert_corrupt_at(
        topic.fetch(0, 6, 1 << 20).unwrap_err(),
        closed,
        positions[1],
        5,
    );
    assert_eq!(topic.fetch(0, 0, 1 << 20).unwrap().len(), 5);
}

#[test]
fn retention_by_size_moves_the_start_offset_and_deletes_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    let config = TopicConfig {
        retention_bytes: Some(4096),
        ..small_segments(1, 1024)
    };
    log.create_topic("t", config).unwrap();
    append_batches(&log, "t", &[4; 100]);
    let topic = log.topic("t").unwrap();
    topic.enforce_retention(now_ms()).unwrap();
    let info = topic.partition_info(0).unwrap();
    assert!(info.start_offset > 0, "{info:?}");
    assert_eq!(info.end_offset, 400);
    assert!(info.bytes >= 4096 && info.bytes < 4096 + 2048, "{info:?}");
    let on_disk = files(&partition_dir(&dir, "t", 0), "log");
    assert_eq!(on_disk.len(), info.segments);
    let first = format!("{:020}.log", info.start_offset);
    assert_eq!(on_disk[0].file_name().unwrap().to_string_lossy(), first);
    assert_eq!(
        files(&partition_dir(&dir, "t", 0), "index").len(),
        info.segments
    );
    match topic.fetch(0, 0, 1024) {
        Err(LogError::OffsetOutOfRange {
            requested: 0,
            start,
            end: 400,
        }) => assert_eq!(start, info.start_offset),
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    assert_eq!(
        read_all(&log, "t", info.start_offset, 1 << 20),
        400 - info.start_offset
    );
    drop(topic);
    drop(log);
    let log = writer(dir.path());
    assert_eq!(
        log.topic("t").unwrap().start_offset(0).unwrap(),
        info.start_offset
    );
}

#[test]
fn retention_by_age_deletes_expired_closed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    let config = TopicConfig {
        retention_ms: Some(60_000),
        ..small_segments(1, 1024)
    };
    let topic = log.create_topic("t", config).unwrap();
    // Timestamps in the future, so that retention at each roll (with the real clock) keeps them.
    let old = now_ms() + 86_400_000;
    let young = old + 3_600_000;
    let payload = [7u8; 300];
    for ts in [old, old, old, old, old, old, young, young, young] {
        topic.append(0, &[Record::new(ts, &payload)]).unwrap();
    }
    let before = topic.partition_info(0).unwrap();
    assert_eq!(before.start_offset, 0);
    assert!(before.segments >= 4, "{before:?}");
    assert_eq!(
        topic.enforce_retention(old + 60_000).unwrap(),
        0,
        "nothing older than the cutoff yet"
    );
    let deleted = topic.enforce_retention(old + 60_001).unwrap();
    let after = topic.partition_info(0).unwrap();
    assert!(deleted > 0);
    assert_eq!(after.segments, before.segments - deleted);
    assert_eq!(after.start_offset, 6, "{after:?}");
    // Everything expired, but the active segment stays.
    topic.enforce_retention(young + 3_600_000).unwrap();
    let last = topic.partition_info(0).unwrap();
    assert_eq!(last.segments, 1);
    assert_eq!(last.end_offset, 9);
    assert!(last.start_offset <= 8);
    assert_eq!(files(&partition_dir(&dir, "t", 0), "log").len(), 1);
}

#[test]
fn topics_are_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    log.create_topic("a", TopicConfig::new(3)).unwrap();
    log.create_topic("b", TopicConfig::new(1)).unwrap();
    assert!(matches!(
        log.create_topic("a", TopicConfig::new(1)),
        Err(LogError::TopicExists(_))
    ));
    assert!(matches!(
        log.create_topic("bad/name", TopicConfig::new(1)),
        Err(LogError::InvalidArgument(_))
    ));
    assert!(matches!(
        log.create_topic("c", TopicConfig::new(0)),
        Err(LogError::InvalidConfig(_))
    ));
    let topics = log.topics().unwrap();
    assert_eq!(topics.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(topics["a"].partitions, 3);
    append_batches(&log, "b", &[3]);
    log.delete_topic("b").unwrap();
    assert!(matches!(log.topic("b"), Err(LogError::UnknownTopic(_))));
    assert!(!dir.path().join("b").exists());
    log.create_topic("b", TopicConfig::new(1)).unwrap();
    assert_eq!(log.topic("b").unwrap().end_offset(0).unwrap(), 0);
    let held = log.topic("a").unwrap();
    assert!(matches!(
        log.delete_topic("a"),
        Err(LogError::Locked { .. })
    ));
    drop(held);
    log.delete_topic("a").unwrap();
}
