//! The `spate` binary end to end: log admin commands, dead letters, help texts.

mod common;

use common::committed_rows;
use std::io::Write;
use std::process::{Command, Stdio};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn spate(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["log", "--help"],
        vec!["log", "topics", "--help"],
        vec!["log", "create", "--help"],
        vec!["log", "produce", "--help"],
        vec!["log", "consume", "--help"],
        vec!["log", "describe", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "window", "--help"],
        vec!["sql", "--help"],
        vec!["sql", "run", "--help"],
        vec!["sql", "explain", "--help"],
        vec!["sql", "validate", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "api", "--help"],
        vec!["api", "--help"],
        vec!["api", "serve", "--help"],
        vec!["models", "--help"],
        vec!["models", "fetch", "--help"],
        vec!["loadgen", "--help"],
        vec!["loadgen", "api", "--help"],
        vec!["collect", "--help"],
        vec!["collect", "parse", "--help"],
        vec!["geoip", "--help"],
        vec!["geoip", "fetch", "--help"],
        vec!["geoip", "lookup", "--help"],
        vec!["bench", "collect", "--help"],
    ] {
        let out = Command::new(SPATE).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?} failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?} printed no usage: {text}");
    }
}

#[test]
fn produce_consume_describe_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert!(
        spate(d, &["log", "create", "t", "--partitions", "3"])
            .status
            .success()
    );
    let mut child = Command::new(SPATE)
        .arg("--data-dir")
        .arg(d)
        .args([
            "log",
            "produce",
            "t",
            "--key-field",
            "k",
            "--timestamp-field",
            "ts",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..100 {
            writeln!(
                stdin,
                r#"{{"k":"key{}","ts":{},"v":{i}}}"#,
                i % 7,
                1_700_000_000_000i64 + i
            )
            .unwrap();
        }
        writeln!(stdin, "not json").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "a bad line must make produce exit non-zero"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin:101"),
        "the bad line is not named: {err}"
    );

    let out = spate(d, &["log", "consume", "t", "--group", "g"]);
    assert!(out.status.success());
    let mut values: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["v"]
                .as_i64()
                .unwrap()
        })
        .collect();
    values.sort();
    assert_eq!(values, (0..100).collect::<Vec<_>>());
    // The group committed its offsets: a second consume finds nothing new.
    let again = spate(d, &["log", "consume", "t", "--group", "g"]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "");
    let describe =
        String::from_utf8_lossy(&spate(d, &["log", "describe", "t"]).stdout).into_owned();
    assert!(
        describe.contains("GROUP") && describe.contains("LAG"),
        "describe shows no group lag: {describe}"
    );
}

#[test]
fn malformed_and_mistyped_events_are_dead_lettered_and_the_job_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    let good = |ts: i64, ip: &str| {
        format!(
            r#"{{"ts":{ts},"client_ip":"{ip}","status":200,"latency_ms":10.0,"bytes_out":100}}"#
        )
    };
    writeln!(f, "{}", good(1_704_067_200_000, "1.1.1.1")).unwrap();
    writeln!(f, "{{\"ts\": broken").unwrap();
    writeln!(f, "{}", good(1_704_067_201_000, "1.1.1.1")).unwrap();
    writeln!(f, r#"{{"ts":1704067202000,"client_ip":"2.2.2.2","status":"two hundred","latency_ms":1.0,"bytes_out":1}}"#).unwrap();
    writeln!(f, "{}", good(1_704_067_215_000, "2.2.2.2")).unwrap();
    drop(f);
    let data = tmp.path().join("data");
    let out_dir = tmp.path().join("out");
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(&data)
        .args(["bench", "window", "--parallelism", "1", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["dead_letters"], 2);
    assert_eq!(figures["events"], 5);
    let rows = committed_rows(&out_dir);
    assert_eq!(
        rows,
        vec![
            "\"2024-01-01 00:00:00\",\"2024-01-01 00:00:10\",1.1.1.1,2,10.0,200,0",
            "\"2024-01-01 00:00:10\",\"2024-01-01 00:00:20\",2.2.2.2,1,10.0,100,0",
        ]
    );
    let dlq = spate(&data, &["log", "consume", "api-metrics-10s.dead-letter"]);
    let text = String::from_utf8_lossy(&dlq.stdout);
    let letters: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 2, "{text}");
    assert_eq!(
        letters[0]["origin"],
        "topic bench-events partition 0 offset 1"
    );
    assert_eq!(
        letters[1]["origin"],
        "topic bench-events partition 0 offset 3"
    );
    assert!(
        letters[1]["payload"]
            .as_str()
            .unwrap()
            .contains("two hundred")
    );
    assert!(!letters[1]["reason"].as_str().unwrap().is_empty());
}
