//! `spate sql run` with Flink's datagen, print, filesystem (CSV, Parquet) and spate-log
//! connectors, on job files written as for Flink.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::committed_rows;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// Runs `spate sql run JOB` (with `extra` arguments) on a job file holding `sql`.
fn run_job(dir: &Path, name: &str, sql: &str, extra: &[&str]) -> Output {
    let job = dir.join(name);
    std::fs::write(&job, sql).unwrap();
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["sql", "run"])
        .arg(&job)
        .args(extra)
        .output()
        .unwrap()
}

fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

const GENERATED: &str = "CREATE TABLE gen (
  id BIGINT,
  name STRING,
  score DOUBLE,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '200',
  'rows-per-second' = '100000',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '1000',
  'fields.name.length' = '5',
  'fields.score.min' = '1',
  'fields.score.max' = '2',
  'fields.ts.max-past' = '1 min'
);
";

#[test]
fn datagen_rows_are_printed_like_flink() {
    let tmp = tempfile::tempdir().unwrap();
    let sql = format!(
        "{GENERATED}
CREATE TABLE out (id BIGINT, name STRING, score DOUBLE, ts TIMESTAMP(3))
WITH ('connector' = 'print', 'print-identifier' = 'gen');
INSERT INTO out SELECT id, name, score, ts FROM gen WHERE id <= 150;
"
    );
    let out = run_job(tmp.path(), "print.sql", &sql, &["--parallelism", "2"]);
    succeeded(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut ids = Vec::new();
    let mut subtasks = BTreeSet::new();
    for line in stdout.lines() {
        // gen:2> +I[17, aZ3kq, 1.53…, 2024-05-01 10:00:00.123]
        let (prefix, row) = line.split_once("> ").expect(line);
        let subtask = prefix.strip_prefix("gen:").expect(line);
        subtasks.insert(subtask.to_string());
        let fields: Vec<&str> = row
            .strip_prefix("+I[")
            .and_then(|r| r.strip_suffix(']'))
            .expect(line)
            .split(", ")
            .collect();
        assert_eq!(fields.len(), 4, "{line}");
        ids.push(fields[0].parse::<i64>().unwrap());
        assert_eq!(fields[1].len(), 5, "{line}");
        assert!(
            fields[1].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{line}"
        );
        let score: f64 = fields[2].parse().unwrap();
        assert!((1.0..=2.0).contains(&score), "{line}");
        let ts = fields[3];
        assert!(
            ts.len() >= 19 && ts.as_bytes()[10] == b' ' && ts.as_bytes()[4] == b'-',
            "{line}"
        );
    }
    ids.sort();
    assert_eq!(ids, (1..=150).collect::<Vec<_>>());
    assert_eq!(subtasks, BTreeSet::from(["1".to_string(), "2".to_string()]));

    // One instance, to standard error: `id> ` without a subtask.
    let sql = sql.replace(
        "'print-identifier' = 'gen'",
        "'print-identifier' = 'gen', 'standard-error' = 'true'",
    );
    let out = run_job(tmp.path(), "stderr.sql", &sql, &[]);
    let stderr = succeeded(&out);
    assert!(out.stdout.is_empty());
    let printed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("gen> +I["))
        .collect();
    assert_eq!(printed.len(), 150, "{stderr}");
    assert!(printed[0].starts_with("gen> +I[1, "), "{stderr}");
}

/// A datagen table of the types Parquet and CSV carry without the clock.
const TYPED: &str = "CREATE TABLE gen (
  id BIGINT,
  qty INT,
  amount DECIMAL(10, 2),
  name VARCHAR(20),
  ok BOOLEAN,
  ratio DOUBLE
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '3000',
  'rows-per-second' = '10000000',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '1000000',
  'fields.qty.min' = '-50',
  'fields.qty.max' = '50',
  'fields.amount.min' = '0',
  'fields.amount.max' = '999.99',
  'fields.name.length' = '6',
  'fields.name.null-rate' = '0.1',
  'fields.ratio.min' = '0',
  'fields.ratio.max' = '1'
);
";

const COLUMNS: &str =
    "id BIGINT, qty INT, amount DECIMAL(10, 2), name VARCHAR(20), ok BOOLEAN, ratio DOUBLE";

#[test]
fn datagen_rows_round_trip_through_parquet_files() {
    let tmp = tempfile::tempdir().unwrap();
    let parquet = tmp.path().join("parquet");
    let via_parquet = tmp.path().join("via-parquet");
    let direct = tmp.path().join("direct");

    let write = format!(
        "{TYPED}
CREATE TABLE pq ({COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet');
INSERT INTO pq SELECT id, qty, amount, name, ok, ratio FROM gen;
",
        parquet.display()
    );
    succeeded(&run_job(
        tmp.path(),
        "write.sql",
        &write,
        &["--parallelism", "2"],
    ));
    let parts: Vec<String> = std::fs::read_dir(&parquet)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-"))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts.iter().all(|p| p.ends_with(".parquet")), "{parts:?}");

    let read = format!(
        "CREATE TABLE pq ({COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet');
CREATE TABLE out ({COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO out SELECT id, qty, amount, name, ok, ratio FROM pq;
",
        parquet.display(),
        via_parquet.display()
    );
    succeeded(&run_job(tmp.path(), "read.sql", &read, &[]));

    // The same generator straight into CSV: the same seed makes the same rows.
    let straight = format!(
        "{TYPED}
CREATE TABLE out ({COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO out SELECT id, qty, amount, name, ok, ratio FROM gen;
",
        direct.display()
    );
    succeeded(&run_job(tmp.path(), "direct.sql", &straight, &[]));

    let rows = committed_rows(&via_parquet);
    assert_eq!(rows.len(), 3000);
    assert_eq!(rows, committed_rows(&direct));
    let ids: BTreeSet<i64> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, (1..=3000).collect());
    for row in &rows {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 6, "{row}");
        assert!(
            (-50..=50).contains(&fields[1].parse::<i32>().unwrap()),
            "{row}"
        );
        let amount: f64 = fields[2].parse().unwrap();
        assert!((0.0..=999.99).contains(&amount), "{row}");
        // A DECIMAL(5, 2), written as Flink writes it: normalized (123.6, 5, 9.6E+2).
        let cents = amount * 100.0;
        assert!((cents - cents.round()).abs() < 1e-6, "{row}");
        assert!(fields[3].is_empty() || fields[3].len() == 6, "{row}");
        assert!(["true", "false"].contains(&fields[4]), "{row}");
    }
    let nulls = rows
        .iter()
        .filter(|r| r.split(',').nth(3) == Some(""))
        .count();
    assert!((150..450).contains(&nulls), "{nulls} NULL names of 3000");
}

#[test]
fn a_spate_log_sink_feeds_a_spate_log_source() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["log", "create", "scores", "--partitions", "3"])
            .status()
            .unwrap()
            .success()
    );
    let write = format!(
        "{TYPED}
CREATE TABLE scores (id BIGINT, qty INT, name STRING) WITH (
  'connector' = 'spate-log',
  'topic' = 'scores',
  'key.format' = 'json',
  'key.fields' = 'id',
  'value.format' = 'json',
  'sink.partitioner' = 'default'
);
INSERT INTO scores SELECT id, qty, name FROM gen;
"
    );
    succeeded(&run_job(
        tmp.path(),
        "to-log.sql",
        &write,
        &["--parallelism", "2"],
    ));
    let consume = Command::new(SPATE)
        .arg("--data-dir")
        .arg(&data)
        .args(["log", "describe", "scores"])
        .output()
        .unwrap();
    let described = String::from_utf8_lossy(&consume.stdout);
    assert!(consume.status.success(), "{described}");

    let out_dir = tmp.path().join("out");
    let read = format!(
        "CREATE TABLE scores (id BIGINT, qty INT, name STRING) WITH (
  'connector' = 'spate-log', 'topic' = 'scores', 'format' = 'json',
  'scan.bounded.mode' = 'latest-offset'
);
CREATE TABLE out (id BIGINT, qty INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO out SELECT id, qty, name FROM scores;
",
        out_dir.display()
    );
    succeeded(&run_job(tmp.path(), "from-log.sql", &read, &[]));
    let rows = committed_rows(&out_dir);
    assert_eq!(rows.len(), 3000);
    let ids: BTreeSet<i64> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 3000);
    // Each row is in the topic once, and keys spread the rows over the three partitions.
    let ends: Vec<u64> = described
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PARTITION"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(ends.len(), 3, "{described}");
    assert_eq!(ends.iter().sum::<u64>(), 3000, "{described}");
    assert!(ends.iter().all(|e| *e > 500), "{described}");
    // The sink's ledger is no consumer group of the topic.
    assert!(
        described.contains("no consumer group has committed offsets for scores"),
        "{described}"
    );
}

#[test]
fn bad_connector_options_are_reported_at_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let typo = "CREATE TABLE gen (id BIGINT) WITH (\n  'connector' = 'datagen',\n  'fields.id.kidn' = 'sequence'\n);\nCREATE TABLE out (id BIGINT) WITH ('connector' = 'print');\nINSERT INTO out SELECT id FROM gen;\n";
    let out = run_job(tmp.path(), "typo.sql", typo, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.sql:3:3"), "{err}");
    assert!(err.contains("did you mean 'fields.id.kind'?"), "{err}");

    let unknown = typo.replace("fields.id.kidn", "fields.nope.kind");
    let out = run_job(tmp.path(), "unknown.sql", &unknown, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown.sql:1:1"), "{err}");
    assert!(err.contains("'fields.nope.kind' names no column"), "{err}");

    let reading_print = "CREATE TABLE p (id BIGINT) WITH ('connector' = 'print');\nCREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO out SELECT id FROM p;\n";
    let out = run_job(tmp.path(), "print-source.sql", reading_print, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading from a print table"), "{err}");
}

#[test]
fn format_options_that_change_the_layout_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, "1\n2\n").unwrap();
    let sql = format!(
        "CREATE TABLE src (id BIGINT) WITH (
  'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv',
  'csv.field-delimiter' = ';'
);
CREATE TABLE out (id BIGINT) WITH ('connector' = 'print');
INSERT INTO out SELECT id FROM src;
",
        input.display()
    );
    let out = run_job(tmp.path(), "delimiter.sql", &sql, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("delimiter.sql:1:1"), "{err}");
    assert!(err.contains("'csv.field-delimiter' = ';'"), "{err}");
    // The defaults, spelled out, are fine.
    let sql = sql.replace("';'", "','");
    let out = run_job(tmp.path(), "default.sql", &sql, &[]);
    succeeded(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+I[1]\n+I[2]\n");
}
