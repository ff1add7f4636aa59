//! The collector end to end in one process, with a sink kept in memory: every line arrives,
//! dead letters carry their place, a failing sink loses nothing after a restart, and a
//! blocked sink stops the reading.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use spate_collector::sink::Sink;
use spate_collector::{Batch, Collector, CollectorError, Config, RunUntil};

/// What a [`MemorySink`] received: written records (key, value) and how many of them were
/// flushed.
#[derive(Default)]
struct Received {
    records: Vec<(String, String)>,
    dead_letters: Vec<String>,
    flushed: usize,
}

/// A sink into memory that can fail its flushes and hold its writes.
#[derive(Clone, Default)]
struct MemorySink {
    received: Arc<Mutex<Received>>,
    /// Flushes fail once more than this many records were written.
    fail_after_records: Option<usize>,
    /// While true, writes wait.
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Sink for MemorySink {
    fn write(&mut self, batch: &Batch) -> spate_collector::Result<()> {
        let (closed, opened) = &*self.gate;
        let mut closed = closed.lock().unwrap();
        while *closed {
            closed = opened.wait(closed).unwrap();
        }
        let mut received = self.received.lock().unwrap();
        for record in &batch.records {
            received.records.push((
                record.id.to_string(),
                String::from_utf8(batch.value(record).to_vec()).unwrap(),
            ));
        }
        for dead in &batch.dead_letters {
            received.dead_letters.push(dead.to_string());
        }
        Ok(())
    }

    fn flush(&mut self) -> spate_collector::Result<()> {
        let mut received = self.received.lock().unwrap();
        if self
            .fail_after_records
            .is_some_and(|limit| received.records.len() > limit)
        {
            return Err(CollectorError::Stopped("the sink went away".into()));
        }
        received.flushed = received.records.len();
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "checkpoint = \"{dir}/checkpoint.json\"\ncommit_interval = \"20ms\"\nscan_interval = \"20ms\"\n{extra}\n\
         [[source]]\ninclude = [\"{dir}/*.log\"]\nformat = \"nginx-combined\"\n\
         [sink]\ntype = \"log\"\ntopic = \"unused\"\n",
        dir = dir.display()
    );
    Config::parse(&text).unwrap()
}

fn nginx_line(i: usize) -> String {
    format!(
        "10.0.{}.{} - - [01/Jan/2024:00:{:02}:{:02} +0000] \"GET /v1/items/{i} HTTP/1.1\" 200 {} \"-\" \"curl/8.5.0\"",
        i / 256 % 256,
        i % 256,
        i / 60 % 60,
        i % 60,
        100 + i
    )
}

fn write_lines(path: &Path, range: std::ops::Range<usize>) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    for i in range {
        text.push_str(&nginx_line(i));
        text.push('\n');
    }
    file.write_all(text.as_bytes()).unwrap();
}

fn run_caught_up(config: &Config, dir: &Path, sink: MemorySink) -> spate_collector::Result<()> {
    Collector::from_config(config, dir, Box::new(sink))?
        .run(RunUntil::CaughtUp)
        .map(|_| ())
}

/// The `path` of every received event, deduplicated by key (checking duplicates are equal).
fn distinct_paths(received: &Received) -> Vec<String> {
    let mut by_key = BTreeMap::new();
    for (key, value) in &received.records {
        let event: serde_json::Value = serde_json::from_str(value).unwrap();
        assert_eq!(event["event_id"], key.as_str());
        if let Some(previous) = by_key.insert(key.clone(), value.clone()) {
            assert_eq!(previous, *value, "two events with key {key}");
        }
    }
    let mut paths: Vec<String> = by_key
        .values()
        .map(|v| {
            serde_json::from_str::<serde_json::Value>(v).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    paths.sort();
    paths
}

fn expected_paths(range: std::ops::Range<usize>) -> Vec<String> {
    let mut paths: Vec<String> = range.map(|i| format!("/v1/items/{i}")).collect();
    paths.sort();
    paths
}

#[test]
fn every_line_arrives_once_with_its_file_offset_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(&dir.path().join("a.log"), 0..500);
    write_lines(&dir.path().join("b.log"), 500..800);
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join("b.log"))
        .unwrap();
    writeln!(file, "this is not nginx").unwrap();
    write_lines(&dir.path().join("b.log"), 800..810);
    let sink = MemorySink::default();
    run_caught_up(&config(dir.path(), ""), dir.path(), sink.clone()).unwrap();
    let received = sink.received.lock().unwrap();
    assert_eq!(received.records.len(), 810);
    assert_eq!(received.flushed, 810);
    assert_eq!(distinct_paths(&received), expected_paths(0..810));
    let b_log = dir.path().join("b.log");
    assert_eq!(
        received.dead_letters,
        [format!("{}:301: expected [time]", b_log.display())]
    );
    let first: serde_json::Value = serde_json::from_str(&received.records[0].1).unwrap();
    assert_eq!(first["log_offset"], 0);
    assert_eq!(first["ua_class"], "script");
    assert!(first["log_file"].as_str().unwrap().ends_with(".log"));

    // Run again: the checkpoint says everything was shipped.
    let again = MemorySink::default();
    run_caught_up(&config(dir.path(), ""), dir.path(), again.clone()).unwrap();
    assert!(again.received.lock().unwrap().records.is_empty());
}

#[test]
fn a_failed_flush_loses_nothing_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    write_lines(&log, 0..3000);
    // Small batches, so that several go out before the failing flush.
    let config = config(dir.path(), "batch_bytes = 20000\nread_bytes = 4096\n");
    let failing = MemorySink {
        fail_after_records: Some(1500),
        ..MemorySink::default()
    };
    let error = run_caught_up(&config, dir.path(), failing.clone()).unwrap_err();
    assert!(error.to_string().contains("went away"), "{error}");
    let shipped_before = failing.received.lock().unwrap().records.len();
    assert!(shipped_before > 0);

    write_lines(&log, 3000..3500);
    let healthy = MemorySink::default();
    run_caught_up(&config, dir.path(), healthy.clone()).unwrap();
    // Together: every line, some twice, the same key each time.
    let mut all = Received::default();
    all.records
        .extend(failing.received.lock().unwrap().records.iter().cloned());
    all.records
        .extend(healthy.received.lock().unwrap().records.iter().cloned());
    assert_eq!(distinct_paths(&all), expected_paths(0..3500));
    let unique: HashSet<&String> = all.records.iter().map(|(k, _)| k).collect();
    assert_eq!(unique.len(), 3500);
    assert!(
        all.records.len() > 3500,
        "the unconfirmed batches were sent again"
    );
}

#[test]
fn a_blocked_sink_stops_the_reading() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    write_lines(&log, 0..100_000); // about 12 MB
    let config = config(
        dir.path(),
        "batch_bytes = 65536\nmax_inflight_batches = 2\nread_bytes = 16384\n",
    );
    let sink = MemorySink::default();
    *sink.gate.0.lock().unwrap() = true;
    let collector = Collector::from_config(&config, dir.path(), Box::new(sink.clone())).unwrap();
    let stats = collector.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || collector.run(RunUntil::Stopped(&stop)).map(|_| ()))
    };
    // Wait until the reading stalls (no progress for 300 ms).
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let read = stats.summary().input_bytes;
        if read != last.0 {
            last = (read, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(300) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stalled_at = stats.summary().input_bytes;
    let file_size = std::fs::metadata(&log).unwrap().len();
    // Two batches queued, one being written, one being filled: well under 1 MiB of input.
    assert!(
        stalled_at < 1 << 20,
        "read {stalled_at} of {file_size} bytes"
    );
    // Open the gate: everything arrives.
    *sink.gate.0.lock().unwrap() = false;
    sink.gate.1.notify_all();
    let started = Instant::now();
    while sink.received.lock().unwrap().records.len() < 100_000 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not all delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap().unwrap();
    assert_eq!(stats.summary().input_bytes, file_size);
}
