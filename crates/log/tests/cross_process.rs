//! A writer lock held in one process keeps writers of other processes out, while their
//! read-only handles read. (Alone in its test binary: a child process spawned while other
//! tests hold lock files would briefly inherit them.)

use std::path::Path;
use std::process::Command;

use spate_log::{FetchedRecords, Log, LogError, LogOptions, Record, TopicConfig};

const CHILD_DIR: &str = "SPATE_LOG_TEST_CHILD_DIR";

/// Run as a child process by `another_process_is_locked_out_but_can_read`; does nothing
/// when run directly.
#[test]
fn child_process_probe() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    let writer = Log::open(dir, LogOptions::default()).unwrap();
    assert!(matches!(writer.topic("t"), Err(LogError::Locked { .. })));
    let topic = Log::open(dir, LogOptions { read_only: true })
        .unwrap()
        .topic("t")
        .unwrap();
    assert_eq!(topic.end_offset(0).unwrap(), 50);
    let mut fetched = FetchedRecords::new();
    topic.fetch_into(0, 0, 1 << 20, &mut fetched).unwrap();
    let values: Vec<&[u8]> = fetched.iter().map(|r| r.value).collect();
    assert_eq!(values, [&b"v"[..]; 50]);
}

#[test]
fn another_process_is_locked_out_but_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let topic = log.create_topic("t", TopicConfig::new(1)).unwrap();
    topic.append(0, &[Record::new(0, b"v"); 50]).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_probe", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "child process failed: {status}");
}
