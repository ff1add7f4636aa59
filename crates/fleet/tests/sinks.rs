//! The sinks through `run`: files and the embedded log, paced and unpaced.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use spate_fleet::{Fleet, FleetConfig, Label, RunOptions, SinkUri, Speedup, Telemetry, Vin, run};
use spate_log::{FetchedRecords, Log, LogOptions};

/// 2025-04-01T07:00:00Z.
const MORNING: i64 = 1_743_490_800_000;

fn fleet(vehicles: u64) -> Fleet {
    let mut config = FleetConfig::new(vehicles, MORNING);
    config.faults.share = 1.0;
    config.faults.onset_within = Duration::ZERO;
    Fleet::new(config).unwrap()
}

#[test]
fn file_sink_writes_telemetry_and_labels_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.ndjson");
    let uri: SinkUri = format!("file://{}", path.display()).parse().unwrap();
    let mut sink = uri.open(dir.path(), None).unwrap();
    let mut options = RunOptions::new(Speedup::Max);
    options.max_events = Some(1234);
    let mut batches = 0;
    let done = run(&mut fleet(10), sink.as_mut(), &options, |_| batches += 1).unwrap();
    assert_eq!(done.events, 1234);
    assert_eq!(done.labels, 10, "one onset label per vehicle");
    assert_eq!(done.batches, batches);
    let telemetry = std::fs::read_to_string(&path).unwrap();
    let readings: Vec<Telemetry> = telemetry
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(readings.len(), 1234);
    assert!(readings.iter().all(|r| r.vin.check_digit_ok()));
    let labels = std::fs::read_to_string(dir.path().join("fleet.labels.ndjson")).unwrap();
    let labels: Vec<Label> = labels
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(labels.len(), 10);
    assert!(labels.iter().all(|l| l.severity == 0.0));
    assert!(!telemetry.contains("severity"));
}

#[test]
fn log_sink_keys_by_vin_and_keeps_each_vehicle_in_one_partition() {
    let dir = tempfile::tempdir().unwrap();
    let uri: SinkUri = "log://fleet?partitions=3".parse().unwrap();
    let mut sink = uri.open(dir.path(), None).unwrap();
    let mut options = RunOptions::new(Speedup::Max);
    options.duration = Some(Duration::from_secs(20));
    let done = run(&mut fleet(25), sink.as_mut(), &options, |_| {}).unwrap();
    assert_eq!(done.events, 25 * 20);
    drop(sink);

    let log = Log::open(dir.path(), LogOptions { read_only: true }).unwrap();
    let read = |name: &str| {
        let topic = log.topic(name).unwrap();
        assert_eq!(topic.partitions(), 3);
        let mut records = Vec::new();
        let mut fetched = FetchedRecords::new();
        for p in 0..3 {
            topic.fetch_into(p, 0, 1 << 24, &mut fetched).unwrap();
            for r in fetched.iter() {
                let value: serde_json::Value = serde_json::from_slice(r.value).unwrap();
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                assert_eq!(value["vin"], key.as_str());
                assert_eq!(value["ts"], r.timestamp);
                records.push((p, key.parse::<Vin>().unwrap()));
            }
        }
        records
    };
    let telemetry = read("fleet");
    assert_eq!(telemetry.len(), 500);
    let mut partition_of: HashMap<Vin, u32> = HashMap::new();
    for (p, vin) in &telemetry {
        assert_eq!(
            *partition_of.entry(*vin).or_insert(*p),
            *p,
            "{vin} in two partitions"
        );
    }
    assert_eq!(partition_of.len(), 25);
    assert_eq!(read("fleet-labels").len(), 25);
}

#[test]
fn paced_runs_deliver_one_batch_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let uri: SinkUri = format!("file://{}/paced.ndjson", dir.path().display())
        .parse()
        .unwrap();
    let mut sink = uri.open(dir.path(), None).unwrap();
    let mut options = RunOptions::new(Speedup::Factor(10.0));
    options.batch_interval = Duration::from_millis(200);
    options.duration = Some(Duration::from_secs(10));
    let started = Instant::now();
    let mut seen = Vec::new();
    let done = run(&mut fleet(3), sink.as_mut(), &options, |p| {
        seen.push((p.events, p.simulated))
    })
    .unwrap();
    let took = started.elapsed();
    // 10 s simulated at 10× is 1 s of wall time: five batches of two simulated seconds.
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(done.events, 30);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen[0], (6, Duration::from_secs(2)));
    assert_eq!(seen[4], (30, Duration::from_secs(10)));
}
