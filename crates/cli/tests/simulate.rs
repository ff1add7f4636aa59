//! `spate simulate fleet` end to end through the binary: the file, log and MQTT sinks,
//! determinism, pacing and errors.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");
/// A fixed start, so that runs are reproducible.
const START: &str = "2025-04-01T07:00:00Z";

fn spate(data: &Path, args: &[&str]) -> Output {
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn simulate(data: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "simulate",
        "fleet",
        "--start",
        START,
        "--speedup",
        "max",
        "-q",
    ];
    all.extend_from_slice(args);
    let out = spate(data, &all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn file_sink_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("fleet.ndjson");
    let uri = format!("file://{}", file.display());
    let out = simulate(
        tmp.path(),
        &[
            "--vehicles",
            "40",
            "--sink",
            &uri,
            "--max-events",
            "12000",
            "--faulty",
            "0.5",
            "--fault-onset-within",
            "0s",
            "--fault-progression",
            "2m",
        ],
    );
    assert!(
        out.stderr.is_empty(),
        "--quiet printed {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = summary(&out);
    assert_eq!(summary["events"], 12000);
    assert_eq!(summary["vehicles"], 40);
    let telemetry = lines(&file);
    assert_eq!(telemetry.len(), 12000);
    for record in &telemetry {
        for field in [
            "vin",
            "ts",
            "model",
            "engine_l",
            "region",
            "engine_rpm",
            "coolant_temp_c",
            "maf_g_s",
            "long_term_fuel_trim_pct",
            "o2_sensor_v",
            "dtcs",
        ] {
            assert!(record.get(field).is_some(), "no {field} in {record}");
        }
        assert!(record.get("fault").is_none() && record.get("severity").is_none());
    }
    let labels = lines(&tmp.path().join("fleet.labels.ndjson"));
    let faulty = labels
        .iter()
        .map(|l| l["vin"].as_str().unwrap())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert!(
        (10..=30).contains(&faulty),
        "{faulty} of 40 vehicles faulty"
    );
    assert_eq!(summary["labels"], labels.len());
    // 12,000 readings of 40 vehicles are 300 s: every fault went from its onset to full
    // severity in two minutes, labelled at each tenth.
    assert_eq!(labels.len(), 11 * faulty);
    assert_eq!(
        labels.iter().filter(|l| l["severity"] == 1.0).count(),
        faulty
    );
}

#[test]
fn a_seed_reproduces_a_run_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let file = tmp.path().join(name);
        let uri = format!("file://{}", file.display());
        simulate(
            tmp.path(),
            &[
                "--vehicles",
                "3000",
                "--sink",
                &uri,
                "--duration",
                "20s",
                "--seed",
                seed,
                "--drift",
                "20",
                "--faulty",
                "0.3",
            ],
        );
        (
            std::fs::read(&file).unwrap(),
            std::fs::read(tmp.path().join(name.replace(".ndjson", ".labels.ndjson"))).unwrap(),
        )
    };
    let first = run("a.ndjson", "9");
    assert_eq!(first.0.iter().filter(|&&b| b == b'\n').count(), 60_000);
    assert!(
        first == run("b.ndjson", "9"),
        "two runs with one seed differ"
    );
    assert!(
        first.0 != run("c.ndjson", "10").0,
        "two seeds, the same records"
    );
}

#[test]
fn log_sink_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = simulate(
        tmp.path(),
        &[
            "--vehicles",
            "12",
            "--sink",
            "log://vehicles",
            "--duration",
            "1m",
            "--faulty",
            "1",
            "--fault-onset-within",
            "0s",
        ],
    );
    assert_eq!(summary(&out)["events"], 720);
    let consume = |topic: &str| {
        let out = spate(tmp.path(), &["log", "consume", topic, "--print-metadata"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let records = consume("vehicles");
    assert_eq!(records.len(), 720);
    let mut partitions: HashMap<String, u64> = HashMap::new();
    for record in &records {
        let vin = record["key"].as_str().unwrap().to_string();
        assert_eq!(record["value"]["vin"], vin.as_str());
        assert_eq!(record["timestamp"], record["value"]["ts"]);
        let p = record["partition"].as_u64().unwrap();
        assert_eq!(
            *partitions.entry(vin).or_insert(p),
            p,
            "a vehicle in two partitions"
        );
    }
    assert_eq!(partitions.len(), 12);
    let labels = consume("vehicles-labels");
    assert_eq!(labels.len(), 12, "one onset label per vehicle");
    assert!(labels.iter().all(|l| l["value"]["fault"].is_string()));
}

#[test]
fn paced_run_takes_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("paced.ndjson");
    let uri = format!("file://{}", file.display());
    let started = Instant::now();
    let out = spate(
        tmp.path(),
        &[
            "simulate",
            "fleet",
            "--vehicles",
            "5",
            "--sink",
            &uri,
            "--duration",
            "1s",
            "--batch-interval",
            "250ms",
            "--speedup",
            "1",
            "-q",
        ],
    );
    assert!(out.status.success());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(lines(&file).len(), 5);
    assert_eq!(summary(&out)["batches"], 4);
}

#[test]
fn bad_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = |args: &[&str], wanted: &str| {
        let mut all = vec!["simulate", "fleet"];
        all.extend_from_slice(args);
        let out = spate(tmp.path(), &all);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    };
    fail(
        &[
            "--sink",
            "kafka://127.0.0.1:1/vehicles",
            "--max-events",
            "1",
        ],
        "Kafka 127.0.0.1:1, topic vehicles",
    );
    fail(&["--sink", "ftp://x"], "unknown scheme ftp://");
    fail(&["--sink", "file:///tmp/x.ndjson", "--rate", "0"], "--rate");
    fail(
        &["--sink", "file:///tmp/x.ndjson", "--faulty", "2"],
        "--faulty",
    );
    fail(
        &["--sink", "file:///tmp/x.ndjson", "--faults", "flat-tyre"],
        "unknown fault",
    );
    fail(
        &["--sink", "file:///tmp/x.ndjson", "--speedup", "fast"],
        "\"max\"",
    );
    fail(
        &["--sink", "file:///tmp/x.ndjson", "--start", "yesterday"],
        "--start",
    );
    fail(
        &["--sink", "file:///nonexistent-dir/x.ndjson"],
        "/nonexistent-dir/x.ndjson",
    );
    fail(
        &["--sink", "mqtt://127.0.0.1:1", "--max-events", "1"],
        "127.0.0.1:1",
    );
}

#[test]
fn help_texts() {
    for args in [
        vec!["simulate", "--help"],
        vec!["simulate", "fleet", "--help"],
    ] {
        let out = Command::new(SPATE).args(&args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:") && text.contains("fleet"), "{text}");
    }
}

#[test]
fn mqtt_sink_end_to_end() {
    let Ok(broker) = std::env::var("SPATE_TEST_MQTT") else {
        eprintln!("==== skipped: SPATE_TEST_MQTT not set ====");
        return;
    };
    let (host, port) = broker
        .rsplit_once(':')
        .expect("SPATE_TEST_MQTT is host:port");
    let port: u16 = port.parse().unwrap();
    let mut options =
        rumqttc::MqttOptions::new(format!("spate-test-{}", std::process::id()), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = rumqttc::Client::new(options, 100);
    client
        .subscribe("vehicles/+/telemetry", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    client
        .subscribe("vehicles/+/labels", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut subscribed = 0;
        for event in connection.iter() {
            match event {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    subscribed += 1;
                    if subscribed == 2 {
                        tx.send(None).unwrap();
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    if tx.send(Some((p.topic, p.payload.to_vec()))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber: {e}"),
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        None,
        "subscribed"
    );

    let tmp = tempfile::tempdir().unwrap();
    let sink = format!("mqtt://{broker}");
    let out = simulate(
        tmp.path(),
        &[
            "--vehicles",
            "8",
            "--sink",
            &sink,
            "--max-events",
            "400",
            "--faulty",
            "1",
            "--fault-onset-within",
            "0s",
        ],
    );
    assert_eq!(summary(&out)["events"], 400);
    let (mut telemetry, mut labels) = (0, 0);
    while telemetry < 400 || labels < 8 {
        let (topic, payload) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("only {telemetry} readings and {labels} labels arrived"))
            .unwrap();
        let value: Value = serde_json::from_slice(&payload).unwrap();
        let vin = value["vin"].as_str().unwrap();
        if topic == format!("vehicles/{vin}/telemetry") {
            telemetry += 1;
            assert!(value.get("fault").is_none());
        } else if topic == format!("vehicles/{vin}/labels") {
            labels += 1;
            assert!(value["fault"].is_string());
        } else {
            panic!("unexpected topic {topic} for {vin}");
        }
    }
    assert_eq!((telemetry, labels), (400, 8));
    client.disconnect().unwrap();
    drop(rx);
    let _ = reader.join();
}
