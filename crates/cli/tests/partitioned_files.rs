//! `PARTITIONED BY` filesystem sinks: rows land in `dt=…/hour=…/` directories without their
//! partition columns, and each partition gets its `_SUCCESS` file once the watermark has passed
//! its hour (Flink's `partition-time` commit trigger), as the fleet archive uses them.

use std::path::Path;
use std::process::Command;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn job(input: &Path, output: &Path, commit: &str) -> String {
    format!(
        "CREATE TABLE readings (
  vin STRING,
  ts BIGINT,
  rpm INT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
CREATE TABLE archive (
  vin STRING,
  ts BIGINT,
  rpm INT,
  dt STRING,
  `hour` STRING
) PARTITIONED BY (dt, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '{}',
  'format' = 'csv'{commit}
);
INSERT INTO archive
SELECT vin, ts, rpm, DATE_FORMAT(event_time, 'yyyy-MM-dd'), DATE_FORMAT(event_time, 'HH')
FROM readings;
",
        input.display(),
        output.display()
    )
}

/// Committed part files under `dir` (recursively), as `partition path: rows`.
fn partitions(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for dt in std::fs::read_dir(dir).unwrap().flatten() {
        let dt_name = dt.file_name().to_string_lossy().into_owned();
        if dt_name.starts_with('.') {
            continue;
        }
        for hour in std::fs::read_dir(dt.path()).unwrap().flatten() {
            let name = format!("{dt_name}/{}", hour.file_name().to_string_lossy());
            let mut rows = Vec::new();
            for file in std::fs::read_dir(hour.path()).unwrap().flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                if file_name.starts_with("part-") {
                    let text = std::fs::read_to_string(file.path()).unwrap();
                    rows.extend(text.lines().map(str::to_string));
                } else {
                    rows.push(format!("[{file_name}]"));
                }
            }
            rows.sort();
            out.push((name, rows));
        }
    }
    out.sort();
    out
}

fn run(sql: &str, dir: &Path) {
    let file = dir.join("job.sql");
    std::fs::write(&file, sql).unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["sql", "run"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rows_go_to_hive_style_partitions_with_success_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("readings.jsonl");
    // 2024-01-01 09:59:59.5, 10:00:00, 10:30:00 and 11:00:01 UTC; an empty VIN for the
    // default partition is not a partition column, so it stays in the rows.
    std::fs::write(
        &input,
        "{\"vin\":\"A\",\"ts\":1704103199500,\"rpm\":800}\n\
         {\"vin\":\"B\",\"ts\":1704103200000,\"rpm\":900}\n\
         {\"vin\":\"\",\"ts\":1704105000000,\"rpm\":1000}\n\
         {\"vin\":\"A\",\"ts\":1704106801000,\"rpm\":2000}\n",
    )
    .unwrap();
    let output = tmp.path().join("archive");
    let commit = ",
  'sink.partition-commit.trigger' = 'partition-time',
  'partition.time-extractor.timestamp-pattern' = '$dt $hour:00:00',
  'sink.partition-commit.delay' = '1 h',
  'sink.partition-commit.policy.kind' = 'success-file'";
    run(&job(&input, &output, commit), tmp.path());
    assert_eq!(
        partitions(&output),
        [
            (
                "dt=2024-01-01/hour=09".to_string(),
                vec!["A,1704103199500,800".to_string(), "[_SUCCESS]".into()]
            ),
            (
                "dt=2024-01-01/hour=10".to_string(),
                vec![
                    ",1704105000000,1000".to_string(),
                    "B,1704103200000,900".into(),
                    "[_SUCCESS]".into()
                ]
            ),
            (
                "dt=2024-01-01/hour=11".to_string(),
                vec!["A,1704106801000,2000".to_string(), "[_SUCCESS]".into()]
            ),
        ]
    );
}

#[test]
fn without_a_commit_policy_there_are_no_success_files_and_bad_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("readings.jsonl");
    std::fs::write(&input, "{\"vin\":\"A\",\"ts\":1704103199500,\"rpm\":800}\n").unwrap();
    let output = tmp.path().join("archive");
    run(&job(&input, &output, ""), tmp.path());
    assert_eq!(
        partitions(&output),
        [(
            "dt=2024-01-01/hour=09".to_string(),
            vec!["A,1704103199500,800".to_string()]
        )]
    );
    let file = tmp.path().join("bad.sql");
    let bad = job(
        &input,
        &output,
        ",\n  'sink.partition-commit.policy.kind' = 'metastore'",
    );
    std::fs::write(&file, bad).unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["sql", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.sql:8:1:"), "{err}");
    assert!(err.contains("Spate has no metastore"), "{err}");
}
