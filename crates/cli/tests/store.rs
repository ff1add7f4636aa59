//! The serving store end to end: a SQL job writes an append table and an upsert table
//! (`'connector' = 'spate-store'`), and `spate query` reads them back as JSON.

use std::process::Command;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn job(input: &std::path::Path) -> String {
    format!(
        "CREATE TABLE events (
  ts BIGINT,
  client_ip STRING,
  status INT
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
CREATE TABLE errors (
  client_ip STRING,
  status INT,
  ts BIGINT
) WITH ('connector' = 'spate-store');
CREATE TABLE requests_per_ip (
  client_ip STRING,
  requests BIGINT,
  failures BIGINT,
  PRIMARY KEY (client_ip) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'table-name' = 'ip_requests', 'retention' = '7 d');
INSERT INTO errors SELECT client_ip, status, ts FROM events WHERE status >= 500;
INSERT INTO requests_per_ip
SELECT client_ip, COUNT(*), COUNT(*) FILTER (WHERE status >= 400) FROM events GROUP BY client_ip;
",
        input.display()
    )
}

fn spate(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn query_json(data: &std::path::Path, sql: &str) -> serde_json::Value {
    let out = spate(data, &["query", sql, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_job_writes_store_tables_that_spate_query_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    let ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
    let mut lines = String::new();
    let mut expected = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for i in 0..300i64 {
        let ip = ips[(i * i % 7 % 3) as usize];
        let status = match i % 10 {
            0 => 503,
            1 | 2 => 404,
            _ => 200,
        };
        lines.push_str(&format!(
            "{{\"ts\": {}, \"client_ip\": \"{ip}\", \"status\": {status}}}\n",
            1_700_000_000_000 + i * 100
        ));
        let entry = expected.entry(ip).or_insert((0i64, 0i64));
        entry.0 += 1;
        entry.1 += i64::from(status >= 400);
        if status >= 500 {
            errors.push((1_700_000_000_000 + i * 100, ip));
        }
    }
    std::fs::write(&input, lines).unwrap();
    let job_file = tmp.path().join("job.sql");
    std::fs::write(&job_file, job(&input)).unwrap();
    let data = tmp.path().join("data");
    let run = spate(&data, &["sql", "run", job_file.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let rows = query_json(
        &data,
        "SELECT client_ip, requests, failures FROM ip_requests ORDER BY client_ip",
    );
    let want: Vec<serde_json::Value> = expected
        .iter()
        .map(|(ip, (requests, failures))| {
            serde_json::json!({"client_ip": ip, "requests": requests, "failures": failures})
        })
        .collect();
    assert_eq!(rows, serde_json::Value::Array(want));

    let rows = query_json(&data, "SELECT ts, client_ip FROM errors ORDER BY ts");
    let want: Vec<serde_json::Value> = errors
        .iter()
        .map(|(ts, ip)| serde_json::json!({"ts": ts, "client_ip": ip}))
        .collect();
    assert_eq!(rows.as_array().unwrap().len(), 30);
    assert_eq!(rows, serde_json::Value::Array(want));

    // Errors are clear and fail the command.
    let out = spate(&data, &["query", "SELECT * FROM nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no table nope") && stderr.contains("errors, ip_requests"),
        "{stderr}"
    );
    // The table format prints the same rows.
    let out = spate(&data, &["query", "SELECT count(*) AS n FROM errors"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("| 30 |"));
}
