//! One writer per topic, readers concurrent with the writer, and read-only handles that follow
//! another writer (in this process or another one).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use spate_log::{FetchedRecords, Log, LogError, LogOptions, Record, Topic, TopicConfig};

fn writer(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap()
}

fn reader(dir: &Path) -> Log {
    Log::open(dir, LogOptions { read_only: true }).unwrap()
}

fn append_sequence(topic: &Topic, count: u64) {
    let base = topic.end_offset(0).unwrap();
    let values: Vec<_> = (base..base + count).map(|o| o.to_le_bytes()).collect();
    let records: Vec<_> = values.iter().map(|v| Record::new(0, v)).collect();
    topic.append(0, &records).unwrap();
}

/// Reads partition 0 from offset 0 until `total`, checking offsets are consecutive and each
/// value is its own offset.
fn follow_to(topic: &Topic, total: u64) {
    let mut fetched = FetchedRecords::new();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < total {
        topic.fetch_into(0, next, 3000, &mut fetched).unwrap();
        if fetched.is_empty() {
            assert!(Instant::now() < deadline, "reader stalled at {next}");
            thread::yield_now();
            continue;
        }
        for record in &fetched {
            assert_eq!(record.offset, next, "gap or reordering");
            assert_eq!(record.value, next.to_le_bytes());
            next += 1;
        }
        assert!(fetched.high_watermark() >= next);
    }
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = writer(dir.path());
    first.create_topic("t", TopicConfig::new(1)).unwrap();
    let second = writer(dir.path());
    match second.topic("t") {
        Err(err @ LogError::Locked { .. }) => {
            assert!(err.to_string().contains("writer.lock"), "{err}");
        }
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    // Readers do not need the lock.
    assert_eq!(
        reader(dir.path())
            .topic("t")
            .unwrap()
            .end_offset(0)
            .unwrap(),
        0
    );
    drop(first);
    append_sequence(&second.topic("t").unwrap(), 3);
}

#[test]
fn a_writable_handle_reads_a_topic_another_writer_holds_without_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let collector = writer(dir.path());
    collector.create_topic("t", TopicConfig::new(1)).unwrap();
    let job = writer(dir.path());
    let topic = job.topic_reader("t").unwrap();
    assert!(Arc::ptr_eq(&topic, &job.topic_reader("t").unwrap()));
    let appending = thread::spawn(move || {
        let topic = collector.topic("t").unwrap();
        for _ in 0..50 {
            append_sequence(&topic, 20);
        }
    });
    follow_to(&topic, 1000);
    appending.join().unwrap();
    // The job's handle never took the lock: once the collector is gone, another writer can.
    append_sequence(&writer(dir.path()).topic("t").unwrap(), 1);
    // A topic the handle writes itself is read through the same `Arc`.
    job.create_topic("own", TopicConfig::new(1)).unwrap();
    assert!(Arc::ptr_eq(
        &job.topic("own").unwrap(),
        &job.topic_reader("own").unwrap()
    ));
    assert!(matches!(
        job.topic_reader("missing"),
        Err(LogError::UnknownTopic(_))
    ));
}

#[test]
fn concurrent_readers_see_a_gap_free_growing_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    let config = TopicConfig {
        segment_bytes: 16 * 1024,
        ..TopicConfig::new(1)
    };
    let topic = log.create_topic("t", config).unwrap();
    let total: u64 = (0..1500).map(|i| 1 + i % 13).sum();
    let same_handle = {
        let topic = Arc::clone(&topic);
        thread::spawn(move || follow_to(&topic, total))
    };
    let other_handle = {
        let dir = dir.path().to_path_buf();
        thread::spawn(move || follow_to(&reader(&dir).topic("t").unwrap(), total))
    };
    for i in 0..1500 {
        append_sequence(&topic, 1 + i % 13);
    }
    same_handle.join().unwrap();
    other_handle.join().unwrap();
    assert!(topic.partition_info(0).unwrap().segments > 3);
}

#[test]
fn a_read_only_handle_follows_the_writer_and_stops_at_incomplete_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = writer(dir.path());
    let config = TopicConfig {
        segment_bytes: 2048,
        retention_bytes: Some(4096),
        ..TopicConfig::new(1)
    };
    let topic = log.create_topic("t", config).unwrap();
    append_sequence(&topic, 10);

    let ro = reader(dir.path());
    let follower = ro.topic("t").unwrap();
    assert!(follower.is_read_only());
    assert_eq!(follower.end_offset(0).unwrap(), 10);
    assert!(matches!(
        follower.append(0, &[Record::new(0, b"x")]),
        Err(LogError::ReadOnly(_))
    ));
    assert!(matches!(
        ro.create_topic("u", TopicConfig::new(1)),
        Err(LogError::ReadOnly(_))
    ));

    // New batches and new segments are picked up; segments removed by retention are dropped.
    let mut next = 0;
    for _ in 0..99 {
        append_sequence(&topic, 10);
        let fetched = follower.fetch(0, next, 1 << 20).unwrap();
        for record in &fetched {
            assert_eq!(
                (record.offset, record.value),
                (next, &next.to_le_bytes()[..])
            );
            next += 1;
        }
    }
    assert_eq!(next, 1000);
    let start = topic.start_offset(0).unwrap();
    assert!(start > 0);
    assert_eq!(follower.start_offset(0).unwrap(), start);
    assert!(matches!(
        follower.fetch(0, 0, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    // A batch being written is invisible until it is complete.
    drop(topic);
    drop(log);
    let part = dir.path().join("t").join("0");
    let mut segments: Vec<_> = fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let active = segments.pop().unwrap();
    let log = writer(dir.path());
    append_sequence(&log.topic("t").unwrap(), 10);
    drop(log);
    let bytes = fs::read(&active).unwrap();
    let last_len = bytes.len() - follower_end_position(&bytes, 0);
    let cut = bytes.len() - last_len;
    let file = OpenOptions::new().write(true).open(&active).unwrap();
    file.set_len(cut as u64).unwrap();
    file.write_all_at(&bytes[cut..cut + last_len / 2], cut as u64)
        .unwrap();
    assert_eq!(follower.end_offset(0).unwrap(), 1000);
    assert!(follower.fetch(0, 1000, 1 << 20).unwrap().is_empty());
    file.write_all_at(&bytes[cut + last_len / 2..], (cut + last_len / 2) as u64)
        .unwrap();
    assert_eq!(follower.end_offset(0).unwrap(), 1010);
    let fetched = follower.fetch(0, 1000, 1 << 20).unwrap();
    assert_eq!(fetched.len(), 10);
}

/// Position of the last batch in a segment's bytes, walking batch lengths from `pos`.
fn follower_end_position(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        let len = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if pos + len == bytes.len() {
            return pos;
        }
        pos += len;
    }
}
