//! `spate sql run` with `'connector' = 'kafka'` against a real Kafka-protocol broker at
//! `SPATE_TEST_KAFKA` (`host:port`), fed and read back by a client Spate did not write:
//! `kafka_client.py` (PyPI confluent-kafka) run by `SPATE_TEST_PYTHON` (default `python3`).
//! Skipped, loudly, without `SPATE_TEST_KAFKA`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::committed_rows;
use serde_json::Value;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The broker's address, or `None` (with a notice) when the test should skip.
fn broker(test: &str) -> Option<String> {
    match std::env::var("SPATE_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("SKIPPED: {test}: set SPATE_TEST_KAFKA=host:port of a Kafka broker");
            None
        }
    }
}

/// A name no other run has used.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Runs `kafka_client.py` with `args`, feeding it `input`; its standard output.
fn client(args: &[&str], input: &str) -> String {
    let python = std::env::var("SPATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka_client.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}; set SPATE_TEST_PYTHON"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kafka_client.py {args:?} failed (SPATE_TEST_PYTHON needs confluent-kafka): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sum over `topic`'s partitions of the offsets `group` committed (negative ones, for
/// none, count as 0).
fn committed_sum(broker: &str, group: &str, topic: &str) -> i64 {
    let committed: Value =
        serde_json::from_str(&client(&["committed", broker, group, topic], "")).unwrap();
    committed
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap().max(0))
        .sum()
}

/// The committed records of `topic`, as `kafka_client.py consume` prints them.
fn consume(broker: &str, topic: &str) -> Vec<Value> {
    client(&["consume", broker, topic], "")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `spate --data-dir DATA sql run JOB ARGS…`.
fn spate_run(data: &Path, job: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(SPATE);
    cmd.arg("--data-dir")
        .arg(data)
        .args(["sql", "run"])
        .arg(job)
        .args(args);
    cmd
}

#[test]
fn a_windowed_job_reads_kafka_and_writes_kafka() {
    let Some(broker) = broker("a_windowed_job_reads_kafka_and_writes_kafka") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (unique("clicks"), unique("totals"));
    client(&["create", &broker, &input, "2"], "");
    client(&["create", &broker, &output, "3"], "");
    let t0: i64 = 1_704_067_200_000;
    let mut lines = String::new();
    for i in 0..600i64 {
        lines.push_str(&format!(
            "{{\"user\":\"u{}\",\"amount\":{i},\"ts\":{}}}\n",
            i % 4,
            t0 + i * 100
        ));
        if i == 100 || i == 400 {
            lines.push_str("{\"user\":\"u1\",\"amount\":\n");
        }
    }
    client(&["produce", &broker, &input, "--key-field", "user"], &lines);

    let meta_dir = tmp.path().join("meta");
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE clicks (
               `user` STRING, amount BIGINT, ts BIGINT,
               part INT METADATA FROM 'partition' VIRTUAL,
               `offset` BIGINT METADATA VIRTUAL,
               rt AS TO_TIMESTAMP_LTZ(ts, 3),
               WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
             ) WITH (
               'connector' = 'kafka', 'topic' = '{input}',
               'properties.bootstrap.servers' = '{broker}',
               'properties.group.id' = '{group}',
               'scan.startup.mode' = 'earliest-offset',
               'scan.bounded.mode' = 'latest-offset',
               'format' = 'json'
             );
             CREATE TABLE totals (window_start TIMESTAMP(3), `user` STRING, total BIGINT,
                                  events BIGINT)
             WITH (
               'connector' = 'kafka', 'topic' = '{output}',
               'properties.bootstrap.servers' = '{broker}',
               'key.format' = 'json', 'key.fields' = 'user',
               'value.format' = 'json',
               'sink.delivery-guarantee' = 'at-least-once'
             );
             CREATE TABLE meta (part INT, `offset` BIGINT, amount BIGINT)
             WITH ('connector' = 'filesystem', 'path' = '{meta}', 'format' = 'csv');
             EXECUTE STATEMENT SET BEGIN
             INSERT INTO totals
             SELECT window_start, `user`, SUM(amount), COUNT(*)
             FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(rt), INTERVAL '10' SECOND))
             GROUP BY window_start, window_end, `user`;
             INSERT INTO meta SELECT part, `offset`, amount FROM clicks;
             END;",
            group = unique("group"),
            meta = meta_dir.display(),
        ),
    )
    .unwrap();
    let out = spate_run(&tmp.path().join("data"), &job, &["--parallelism", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 dead letters"), "{stderr}");

    // Every window of every user, once (no failure, so at least once is exactly once here),
    // keyed by the user.
    let mut expected: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
    for i in 0..600i64 {
        let e = expected
            .entry(((i * 100) / 10_000, format!("u{}", i % 4)))
            .or_default();
        e.0 += i;
        e.1 += 1;
    }
    let records = consume(&broker, &output);
    let mut got: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
    for r in &records {
        let value: Value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
        let user = value["user"].as_str().unwrap().to_string();
        assert_eq!(
            r["key"].as_str().unwrap(),
            format!("{{\"user\":\"{user}\"}}")
        );
        let start = value["window_start"].as_str().unwrap();
        let second: i64 = start
            .strip_prefix("2024-01-01T00:00:")
            .unwrap_or_else(|| panic!("window_start {start}"))
            .parse()
            .unwrap();
        let before = got.insert(
            (second / 10, user),
            (
                value["total"].as_i64().unwrap(),
                value["events"].as_i64().unwrap(),
            ),
        );
        assert!(before.is_none(), "a window written twice: {r}");
    }
    assert_eq!(got, expected);
    assert_eq!(records.len(), 24);

    // The metadata columns are the records' partitions and offsets, as the client reads them.
    let input_records: BTreeSet<String> = consume(&broker, &input)
        .iter()
        .filter_map(|r| {
            let value: Value = serde_json::from_str(r["value"].as_str().unwrap()).ok()?;
            Some(format!(
                "{},{},{}",
                r["partition"],
                r["offset"],
                value["amount"].as_i64()?
            ))
        })
        .collect();
    let meta: BTreeSet<String> = committed_rows(&meta_dir).into_iter().collect();
    assert_eq!(meta.len(), 600);
    assert_eq!(meta, input_records);
}

/// A `spate sql run` in the background, killed with SIGKILL when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the filesystem sink at `dir` has committed at least `n` rows; all of them.
fn wait_for(dir: &Path, n: usize, job: &mut Running) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = match dir.exists() {
            true => committed_rows(dir),
            false => Vec::new(),
        };
        if rows.len() >= n {
            return rows;
        }
        if let Some(status) = job.0.try_wait().unwrap() {
            panic!("the job exited with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {} of {n} rows",
            dir.display(),
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_job_killed_and_restarted_from_its_checkpoint_neither_loses_nor_repeats_rows() {
    let Some(broker) =
        broker("a_job_killed_and_restarted_from_its_checkpoint_neither_loses_nor_repeats_rows")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = unique("orders");
    client(&["create", &broker, &input, "3"], "");
    let out_dir = tmp.path().join("out");
    let group = unique("group");
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE orders (id BIGINT, qty INT) WITH (
               'connector' = 'kafka', 'topic' = '{input}',
               'properties.bootstrap.servers' = '{broker}',
               'properties.group.id' = '{group}',
               'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
             CREATE TABLE doubled (id BIGINT, qty INT)
             WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
             INSERT INTO doubled SELECT id, qty * 2 FROM orders WHERE qty >= 0;",
            out = out_dir.display(),
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let checkpoints: PathBuf = tmp.path().join("checkpoints");
    // Each run's standard error, for the failure messages.
    let job_log = tmp.path().join("job.log");
    let start = || {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&job_log)
            .unwrap();
        Running(
            spate_run(
                &data,
                &job,
                &[
                    "--checkpoint-dir",
                    checkpoints.to_str().unwrap(),
                    "--checkpoint-interval-ms",
                    "50",
                    "--parallelism",
                    "2",
                ],
            )
            .env("SPATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
        )
    };
    let produce = |ids: std::ops::Range<i64>| {
        let lines: String = ids
            .map(|i| format!("{{\"id\":{i},\"qty\":{}}}\n", i % 7))
            .collect();
        client(&["produce", &broker, &input], &lines);
    };
    // Rounds of: more input, a start from the last checkpoint, a SIGKILL once output appears.
    let rounds = 3;
    let per_round = 20_000;
    let mut seen = 0;
    for round in 0..rounds {
        produce(round * per_round..(round + 1) * per_round);
        let mut running = start();
        seen = wait_for(&out_dir, seen + 1, &mut running).len();
        drop(running);
    }
    let total = (rounds * per_round) as usize;
    let mut running = start();
    wait_for(&out_dir, total, &mut running);
    // The group's offsets, committed (asynchronously) once checkpoints complete, reach the
    // ends of the partitions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sum = committed_sum(&broker, &group, &input);
        if sum == rounds * per_round {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group's offsets sum to {sum}, not {}; the job's log:\n{}",
            rounds * per_round,
            std::fs::read_to_string(&job_log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let a few more checkpoints complete: nothing else may appear.
    std::thread::sleep(Duration::from_millis(500));
    let rows = committed_rows(&out_dir);
    drop(running);
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|row| {
            let (id, qty) = row.split_once(',').unwrap();
            let id: i64 = id.parse().unwrap();
            assert_eq!(qty.parse::<i64>().unwrap(), (id % 7) * 2, "{row}");
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..rounds * per_round).collect::<Vec<_>>());
}

/// `spate sql validate` of a job whose source is `source` (a table `src` with a BIGINT `id`)
/// and whose sink is `sink` (a table `out` of `columns` INTs, taking `id` for each); whether it
/// passed, and its standard error.
fn validate_into(source: &str, sink: &str, columns: usize) -> (bool, String) {
    validate_job(&format!(
        "{source}\n{sink}\nINSERT INTO out SELECT {} FROM src;\n",
        (0..columns)
            .map(|i| format!("CAST(id AS INT) AS c{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `spate sql validate` of the job `text`: whether it passed, and its standard error.
fn validate_job(text: &str) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(&job, text).unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["sql", "validate"])
        .arg(&job)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn validate(source: &str, sink: &str) -> (bool, String) {
    validate_into(source, sink, 1)
}

#[test]
fn kafka_options_are_checked_where_the_table_is_declared() {
    // Planning needs no broker.
    let kafka = |columns: &str, options: &str| {
        format!(
            "CREATE TABLE src ({columns}) WITH ('connector' = 'kafka', 'topic' = 't',
               'properties.bootstrap.servers' = '127.0.0.1:1', 'format' = 'json'{options});"
        )
    };
    let print = "CREATE TABLE out (id BIGINT) WITH ('connector' = 'print');";
    let (ok, err) = validate(
        &kafka("id BIGINT, p INT METADATA FROM 'partition'", ""),
        print,
    );
    assert!(ok, "{err}");
    let cases = [
        (
            kafka("id BIGINT", ", 'scan.startup.mode' = 'group-offsets'"),
            "group-offsets needs a consumer group",
        ),
        (
            kafka("id BIGINT", ", 'scan.startup.mode' = 'timestamp'"),
            "scan.startup.timestamp-millis",
        ),
        (
            kafka("id BIGINT, h STRING METADATA FROM 'headers'", ""),
            "the Kafka metadata key 'headers'",
        ),
        (
            kafka("id BIGINT, o STRING METADATA FROM 'offset'", "")
                .replace("STRING METADATA", "BOOLEAN METADATA"),
            "metadata 'offset' as Boolean",
        ),
        (
            kafka("id BIGINT", ", 'key.fields' = 'id'"),
            "keys need 'key.format'",
        ),
        (
            kafka("id BIGINT", "").replace("'format' = 'json'", "'format' = 'raw'"),
            "the raw format takes one STRING or BYTES column",
        ),
        (
            "CREATE TABLE src (id BIGINT, p INT METADATA FROM 'partition') WITH (
               'connector' = 'datagen', 'number-of-rows' = '1');"
                .to_string(),
            "METADATA columns of datagen tables",
        ),
    ];
    for (source, expected) in &cases {
        let (ok, err) = validate(source, print);
        assert!(!ok && err.contains(expected), "{source}: {err}");
    }
    let datagen =
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');";
    let sink = |extra: &str| {
        format!(
            "CREATE TABLE out (id BIGINT{extra}) WITH ('connector' = 'kafka', 'topic' = 'o',
               'properties.bootstrap.servers' = '127.0.0.1:1', 'format' = 'csv',
               'sink.delivery-guarantee' = 'exactly-once');"
        )
    };
    let (ok, err) = validate(datagen, &sink(""));
    assert!(!ok && err.contains("an exactly-once Kafka sink"), "{err}");
    let at_least_once = |extra: &str| sink(extra).replace("exactly-once", "at-least-once");
    let (ok, err) = validate_into(
        datagen,
        &at_least_once(", p INT METADATA FROM 'partition'"),
        2,
    );
    assert!(
        !ok && err.contains("read-only metadata 'partition'"),
        "{err}"
    );
    let (ok, err) = validate(
        datagen,
        &at_least_once(", p INT METADATA FROM 'partition' VIRTUAL"),
    );
    assert!(ok, "{err}");
}

#[test]
fn the_fleet_simulator_writes_the_records_of_a_file_run_to_kafka_keyed_by_vin() {
    let Some(broker) =
        broker("the_fleet_simulator_writes_the_records_of_a_file_run_to_kafka_keyed_by_vin")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let topic = unique("vehicles");
    let simulate = |sink: &str| {
        let out = Command::new(SPATE)
            .arg("--data-dir")
            .arg(tmp.path())
            .args(["simulate", "fleet", "--start", "2025-04-01T07:00:00Z"])
            .args(["--speedup", "max", "-q", "--vehicles", "12"])
            .args([
                "--max-events",
                "1200",
                "--faulty",
                "1",
                "--fault-onset-within",
                "0s",
            ])
            .args(["--sink", sink])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sink}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    simulate(&format!("kafka://{broker}/{topic}?partitions=3"));
    let file = tmp.path().join("fleet.ndjson");
    simulate(&format!("file://{}", file.display()));

    let consumed = |topic: &str| -> Vec<Value> {
        client(&["consume", &broker, topic], "")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let lines = |path: &Path| -> Vec<String> {
        let mut lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    for (records, expected) in [
        (consumed(&topic), lines(&file)),
        (
            consumed(&format!("{topic}-labels")),
            lines(&tmp.path().join("fleet.labels.ndjson")),
        ),
    ] {
        // Each record is keyed by its VIN, stamped with its time, and one VIN's records stay
        // in one partition, in order.
        let mut partition_of: BTreeMap<String, i64> = BTreeMap::new();
        let mut last_ts: BTreeMap<String, i64> = BTreeMap::new();
        for record in &records {
            let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
            let vin = value["vin"].as_str().unwrap().to_string();
            assert_eq!(record["key"].as_str(), Some(vin.as_str()), "{record}");
            assert_eq!(record["timestamp"], value["ts"], "{record}");
            let partition = record["partition"].as_i64().unwrap();
            assert_eq!(
                *partition_of.entry(vin.clone()).or_insert(partition),
                partition
            );
            let ts = value["ts"].as_i64().unwrap();
            let last = last_ts.insert(vin, ts).unwrap_or(i64::MIN);
            assert!(ts >= last, "{record} after time {last}");
        }
        let mut values: Vec<String> = records
            .iter()
            .map(|r| r["value"].as_str().unwrap().to_string())
            .collect();
        values.sort();
        assert!(!expected.is_empty());
        assert_eq!(values, expected, "Kafka holds what the file run wrote");
    }
    let partitions: BTreeSet<i64> = consumed(&topic)
        .iter()
        .map(|r| r["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions.len(), 3, "12 VINs spread over the 3 partitions");

    let bad = Command::new(SPATE)
        .args(["simulate", "fleet", "--sink", "kafka://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no topic"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// A PostgreSQL database for the scale-out test: `SPATE_TEST_POSTGRES_URL`.
struct Postgres(String);

impl Postgres {
    fn from_env(test: &str) -> Option<Self> {
        match std::env::var("SPATE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Postgres(url)),
            _ => {
                eprintln!("SKIPPED: {test}: set SPATE_TEST_POSTGRES_URL");
                None
            }
        }
    }

    /// Runs `sql`; the rows it returns, each column as text, sorted.
    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::{Connection, Row};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.0).await.unwrap();
            let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get::<String, _>(i)).collect())
                .collect();
            rows.sort();
            rows
        })
    }

    /// `jdbc:postgresql://…` of the database.
    fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://{}", self.0.split_once("://").unwrap().1)
    }
}

/// An upsert-kafka table of JSON keys and values, with more options in `extra`.
fn upsert_table(name: &str, columns: &str, topic: &str, broker: &str, extra: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH (
           'connector' = 'upsert-kafka', 'topic' = '{topic}',
           'properties.bootstrap.servers' = '{broker}',
           'key.format' = 'json', 'value.format' = 'json'{extra});"
    )
}

/// The records of an upsert topic by user (from the key's JSON): the one partition the key's
/// records are in, and the value of each (`None` for a tombstone) in order.
type ByUser = BTreeMap<String, (i64, Vec<Option<Value>>)>;

fn changes_by_user(records: &[Value]) -> ByUser {
    let mut by_user = ByUser::new();
    for r in records {
        let key: Value = serde_json::from_str(r["key"].as_str().expect("a key")).unwrap();
        let value = r["value"]
            .as_str()
            .map(|v| serde_json::from_str(v).unwrap());
        let partition = r["partition"].as_i64().unwrap();
        let entry = by_user
            .entry(key["user"].as_str().unwrap().to_string())
            .or_insert((partition, Vec::new()));
        assert_eq!(
            entry.0, partition,
            "one key's records in two partitions: {r}"
        );
        entry.1.push(value);
    }
    by_user
}

/// The last record of each user in `topic` (`None`: a tombstone), once they are `want`; fails
/// after a minute or when `job` exits.
fn wait_for_last(
    broker: &str,
    topic: &str,
    want: &BTreeMap<String, Option<Value>>,
    job: &mut Running,
) -> ByUser {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let by_user = changes_by_user(&consume(broker, topic));
        let last: BTreeMap<String, Option<Value>> = by_user
            .iter()
            .map(|(user, (_, values))| (user.clone(), values.last().cloned().flatten()))
            .collect();
        if &last == want {
            return by_user;
        }
        if let Some(status) = job.0.try_wait().unwrap() {
            panic!("the job exited with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{topic} holds {last:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `command`, which must succeed; its standard output.
fn succeeded(mut command: Command) -> Vec<u8> {
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command:?}: {stderr}");
    out.stdout
}

/// Orders as upsert-kafka records (`{"key": …, "value": …}` lines for `kafka_client.py
/// upsert`), applied to `table` as they are made.
#[derive(Default)]
struct Orders {
    table: BTreeMap<i64, (String, i64)>,
    lines: String,
}

impl Orders {
    fn set(&mut self, id: i64, row: Option<(String, i64)>) {
        let value = match &row {
            Some((user, amount)) => serde_json::json!({"id": id, "user": user, "amount": amount}),
            None => Value::Null,
        };
        self.lines.push_str(&format!(
            "{}\n",
            serde_json::json!({"key": {"id": id}, "value": value})
        ));
        match row {
            Some(row) => self.table.insert(id, row),
            None => self.table.remove(&id),
        };
    }

    /// The records made since the last call.
    fn take_lines(&mut self) -> String {
        std::mem::take(&mut self.lines)
    }

    /// The last value per user: `{"user", "n", "amount"}` (without the user when
    /// `!with_user`), `None` for the users in `gone`.
    fn totals(&self, gone: &[&str], with_user: bool) -> BTreeMap<String, Option<Value>> {
        let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (user, amount) in self.table.values() {
            let t = totals.entry(user.clone()).or_default();
            t.0 += 1;
            t.1 += amount;
        }
        let mut want: BTreeMap<String, Option<Value>> = totals
            .into_iter()
            .map(|(user, (n, amount))| {
                let value = match with_user {
                    true => serde_json::json!({"user": user, "n": n, "amount": amount}),
                    false => serde_json::json!({"n": n, "amount": amount}),
                };
                (user, Some(value))
            })
            .collect();
        for user in gone {
            assert!(
                want.insert(user.to_string(), None).is_none(),
                "{user} has orders"
            );
        }
        want
    }
}

#[test]
fn scaled_out_processes_equal_one_process_and_hand_partitions_over_exactly_once() {
    let test = "scaled_out_processes_equal_one_process_and_hand_partitions_over_exactly_once";
    let (Some(broker), Some(pg)) = (broker(test), Postgres::from_env(test)) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = unique("clicks");
    client(&["create", &broker, &input, "4"], "");
    let (single, scaled) = (unique("pages_single"), unique("pages_scaled"));
    let (single, scaled) = (single.replace('-', "_"), scaled.replace('-', "_"));
    for table in [&single, &scaled] {
        pg.query(&format!(
            "CREATE TABLE {table} (page TEXT PRIMARY KEY, views BIGINT, total BIGINT)"
        ));
    }
    // Records keyed by user, counted by page: the job repartitions by page through Kafka.
    let produce = |ids: std::ops::Range<i64>| {
        let lines: String = ids
            .map(|i| {
                format!(
                    "{{\"user\":\"u{}\",\"page\":\"p{}\",\"n\":{i}}}\n",
                    i % 97,
                    i % 13
                )
            })
            .collect();
        client(&["produce", &broker, &input, "--key-field", "user"], &lines);
    };
    let job = |name: &str, group: &str, sink: &str, bounded: bool| {
        let path = tmp.path().join(name);
        let bound = match bounded {
            true => "'scan.bounded.mode' = 'latest-offset',",
            false => "",
        };
        std::fs::write(
            &path,
            format!(
                "CREATE TABLE clicks (`user` STRING, page STRING, n BIGINT) WITH (
                   'connector' = 'kafka', 'topic' = '{input}',
                   'properties.bootstrap.servers' = '{broker}',
                   'properties.group.id' = '{group}', {bound}
                   'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
                 CREATE TABLE pages (page STRING, views BIGINT, total BIGINT,
                   PRIMARY KEY (page) NOT ENFORCED) WITH (
                   'connector' = 'jdbc', 'url' = '{url}', 'table-name' = '{sink}',
                   'sink.buffer-flush.interval' = '100ms');
                 INSERT INTO pages SELECT page, COUNT(*), SUM(n) FROM clicks GROUP BY page;",
                url = pg.jdbc_url()
            ),
        )
        .unwrap();
        path
    };
    let count = |table: &str| {
        pg.query(&format!(
            "SELECT page, views::TEXT, total::TEXT FROM {table}"
        ))
    };
    produce(0..20_000);

    // One process, bounded: the reference.
    let single_job = job("single.sql", &unique("single"), &single, true);
    let out = spate_run(&tmp.path().join("data-single"), &single_job, &[])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = count(&single);
    assert_eq!(reference.len(), 13);

    // Two processes sharing the job through their group.
    let scaled_group = unique("scaled");
    let scaled_job = job("scaled.sql", &scaled_group, &scaled, false);
    let checkpoints = tmp.path().join("checkpoints");
    let logs = ["a.log", "b.log", "c.log"].map(|l| tmp.path().join(l));
    let start = |n: usize| {
        Running(
            spate_run(
                &tmp.path().join(format!("data-{n}")),
                &scaled_job,
                &[
                    "--scale-out",
                    "--checkpoint-dir",
                    checkpoints.to_str().unwrap(),
                    "--checkpoint-interval-ms",
                    "200",
                ],
            )
            .env("SPATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&logs[n]).unwrap())
            .spawn()
            .unwrap(),
        )
    };
    let logs_text = || {
        logs.iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- next process ---\n")
    };
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen; the processes' logs:\n{}",
                logs_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (mut a, b) = (start(0), start(1));
    // Both take a share of the partitions.
    // The parts process n started, in order.
    let started = |n: usize| -> Vec<String> {
        std::fs::read_to_string(&logs[n])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("scale-out: running "))
            .map(String::from)
            .collect()
    };
    let runs = |n: usize| -> BTreeSet<String> { started(n).into_iter().collect() };
    // Each assignment of process n: how many parts it was given.
    let assignments = |n: usize| -> Vec<usize> {
        let log = std::fs::read_to_string(&logs[n]).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.strip_prefix("scale-out: assigned "))
            .map(|parts| parts.split(' ').count())
            .collect()
    };
    wait_until("both processes running parts", &|| {
        (0..2).all(|n| !runs(n).is_empty())
    });
    wait_until("the scaled-out result equal to one process's", &|| {
        count(&scaled) == reference
    });
    let expected = |n: i64| -> Vec<Vec<String>> {
        let mut pages: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for i in 0..n {
            let e = pages.entry(format!("p{}", i % 13)).or_default();
            e.0 += 1;
            e.1 += i;
        }
        pages
            .into_iter()
            .map(|(page, (views, total))| vec![page, views.to_string(), total.to_string()])
            .collect()
    };

    // More input; one process dies (SIGKILL) while it counts, and a replacement starts: it
    // resumes the dead process's parts from their checkpoints. (tansu 0.6 never hands a
    // member's partitions to the others when it dies without leaving, even after its
    // session times out; a joining member gets them.)
    let lost = runs(0);
    let rebalances = assignments(1).len();
    let survivor_started = started(1).len();
    std::thread::scope(|scope| {
        scope.spawn(|| produce(20_000..40_000));
        wait_until("progress on the new input", &|| count(&scaled) != reference);
        a.0.kill().unwrap();
        a.0.wait().unwrap();
    });
    // The group notices the loss once the session times out (a new assignment of the
    // survivor); the replacement joins after that.
    wait_until("the group noticing the lost process", &|| {
        assignments(1).len() > rebalances
    });
    let c = start(2);
    // The lost process's parts run again, in the survivor or the replacement, from their
    // checkpoints.
    let restarted = || -> BTreeSet<String> {
        let mut parts: BTreeSet<String> =
            started(1).split_off(survivor_started).into_iter().collect();
        parts.extend(runs(2));
        parts
    };
    wait_until("every event counted once after the replacement", &|| {
        count(&scaled) == expected(40_000) && restarted().is_superset(&lost)
    });

    // More input; the replacement stops (SIGTERM) and leaves the group: the survivor takes
    // over every partition.
    produce(40_000..50_000);
    wait_until("progress on the last input", &|| {
        count(&scaled) != expected(40_000)
    });
    let stopped = c.0.id();
    unsafe { libc::kill(stopped as i32, libc::SIGTERM) };
    wait_until("every event counted once by the survivor", &|| {
        count(&scaled) == expected(50_000) && assignments(1).last() == Some(&8)
    });
    // Nothing more arrives once everything is counted.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&scaled), expected(50_000));
    // The members commit the group's offsets as the parts' checkpoints complete, so Kafka's
    // tools see its lag: they reach the ends of the input's partitions.
    wait_until("the group's offsets at the input's end", &|| {
        committed_sum(&broker, &scaled_group, &input) == 50_000
    });
    drop(c);
    drop(b);
    for table in [&single, &scaled] {
        pg.query(&format!("DROP TABLE {table}"));
    }
}

#[test]
fn a_scaled_out_window_fires_while_an_input_partition_stays_idle() {
    let test = "a_scaled_out_window_fires_while_an_input_partition_stays_idle";
    let Some(broker) = broker(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (unique("clicks"), unique("views"));
    client(&["create", &broker, &input, "2"], "");
    client(&["create", &broker, &output, "1"], "");
    // One key: every event is in one partition, and the other never gets one. Its writer
    // to the repartition topic has no watermark; only its idleness lets the windows fire.
    let t0: i64 = 1_704_067_200_000;
    let lines: String = (0..300i64)
        .map(|i| {
            format!(
                "{{\"user\":\"u0\",\"page\":\"p{}\",\"ts\":{}}}\n",
                i % 3,
                t0 + i * 100
            )
        })
        .collect();
    client(&["produce", &broker, &input, "--key-field", "user"], &lines);
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'table.exec.source.idle-timeout' = '1 s';
             CREATE TABLE clicks (`user` STRING, page STRING, ts BIGINT,
               rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
             ) WITH ('connector' = 'kafka', 'topic' = '{input}',
               'properties.bootstrap.servers' = '{broker}',
               'properties.group.id' = '{group}',
               'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
             CREATE TABLE views (window_start TIMESTAMP(3), page STRING, views BIGINT)
             WITH ('connector' = 'kafka', 'topic' = '{output}',
               'properties.bootstrap.servers' = '{broker}', 'format' = 'json');
             INSERT INTO views SELECT window_start, page, COUNT(*)
             FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(rt), INTERVAL '10' SECOND))
             GROUP BY window_start, window_end, page;",
            group = unique("idle"),
        ),
    )
    .unwrap();
    let log = tmp.path().join("job.log");
    let checkpoints = tmp.path().join("checkpoints");
    let _job = Running(
        spate_run(
            &tmp.path().join("data"),
            &job,
            &[
                "--scale-out",
                "--checkpoint-dir",
                checkpoints.to_str().unwrap(),
                "--checkpoint-interval-ms",
                "200",
            ],
        )
        // Each part's completed checkpoints and the markers its readers take, to tell a
        // stalled part from a held watermark.
        .env(
            "SPATE_LOG",
            "warn,spate_engine::job::coordinator=debug,spate_connectors::kafka::repartition=debug",
        )
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    // 30 s of events: the watermark (28.9 s) closes the first two windows, not the third.
    // (As the other tests of this file, it waits up to 120 s: in the whole suite the broker and
    // both cores are shared.)
    let deadline = Instant::now() + Duration::from_secs(120);
    let records = loop {
        let records = consume(&broker, &output);
        if records.len() >= 6 {
            break records;
        }
        if Instant::now() >= deadline {
            let text = std::fs::read_to_string(&log).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let head = lines
                .iter()
                .take(20)
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!(
                "{} of 6 window results; the job's log ({} lines), first 20:\n{head}\n…last 40:\n{tail}",
                records.len(),
                lines.len()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let mut views: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &records {
        let value: Value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
        let key = (
            value["window_start"].as_str().unwrap().to_string(),
            value["page"].as_str().unwrap().to_string(),
        );
        *views.entry(key).or_default() += value["views"].as_i64().unwrap();
    }
    let windows: BTreeSet<&String> = views.keys().map(|(w, _)| w).collect();
    assert_eq!(windows.len(), 2, "{records:?}");
    assert_eq!(views.values().sum::<i64>(), 200, "{records:?}");
}

#[test]
fn upsert_kafka_carries_a_group_by_changelog_through_kafka_and_back() {
    let Some(broker) = broker("upsert_kafka_carries_a_group_by_changelog_through_kafka_and_back")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (orders_topic, totals, buffered) = (unique("orders"), unique("totals"), unique("buffered"));
    client(&["create", &broker, &orders_topic, "2"], "");
    client(&["create", &broker, &totals, "3"], "");
    client(&["create", &broker, &buffered, "3"], "");

    // Job 1, unbounded: counts and sums per user of the orders table (keyed by order id)
    // into two upsert-kafka topics, one written as the changes come, one through the buffer
    // with the user only in the key.
    let columns = "`user` STRING, n BIGINT, amount BIGINT, PRIMARY KEY (`user`) NOT ENFORCED";
    let orders_table = |extra: &str| {
        upsert_table(
            "orders",
            "id BIGINT, `user` STRING, amount BIGINT, PRIMARY KEY (id) NOT ENFORCED",
            &orders_topic,
            &broker,
            extra,
        )
    };
    let buffered_table = |extra: &str| {
        upsert_table(
            "buffered",
            columns,
            &buffered,
            &broker,
            &format!(", 'value.fields-include' = 'EXCEPT_KEY'{extra}"),
        )
    };
    let job = tmp.path().join("totals.sql");
    std::fs::write(
        &job,
        format!(
            "{}\n{}\n{}\n
             EXECUTE STATEMENT SET BEGIN
             INSERT INTO totals SELECT `user`, COUNT(*), SUM(amount) FROM orders GROUP BY `user`;
             INSERT INTO buffered SELECT `user`, COUNT(*), SUM(amount) FROM orders GROUP BY `user`;
             END;",
            orders_table(""),
            upsert_table("totals", columns, &totals, &broker, ""),
            buffered_table(
                ", 'sink.buffer-flush.max-rows' = '1000', 'sink.buffer-flush.interval' = '1 h'"
            ),
        ),
    )
    .unwrap();
    let checkpoints = tmp.path().join("checkpoints");
    let mut running = Running(
        spate_run(
            &tmp.path().join("data"),
            &job,
            &[
                "--parallelism",
                "2",
                "--checkpoint-dir",
                checkpoints.to_str().unwrap(),
                "--checkpoint-interval-ms",
                "200",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );

    // First the orders: inserts, updates (some moving an order from u3 to u4, some repeating
    // the row) and a record whose value is not an order.
    let mut orders = Orders::default();
    for id in 0..400 {
        orders.set(id, Some((format!("u{}", id % 5), id)));
    }
    for id in (3..400).step_by(10) {
        orders.set(id, Some((format!("u{}", (id + 1) % 5), id * 2)));
    }
    for id in (0..400).step_by(7) {
        let same = orders.table[&id].clone();
        orders.set(id, Some(same));
    }
    let mut lines = orders.take_lines();
    lines.push_str("{\"key\": {\"id\": 500}, \"value\": \"not an order\"}\n");
    client(&["upsert", &broker, &orders_topic], &lines);
    wait_for_last(&broker, &totals, &orders.totals(&[], true), &mut running);
    // Then tombstones of every order of u4, and of an order that never was.
    let of_u4: Vec<i64> = orders
        .table
        .iter()
        .filter(|(_, (user, _))| user == "u4")
        .map(|(id, _)| *id)
        .collect();
    for id in of_u4 {
        orders.set(id, None);
    }
    orders.set(9_999, None);
    client(&["upsert", &broker, &orders_topic], &orders.take_lines());

    // The client reads the topics: the last record of each user is its totals, or a tombstone
    // for u4, whose group the deletes emptied; a user's records are in one partition; updates
    // in place write no tombstone.
    let final_totals = orders.totals(&["u4"], true);
    let by_user = wait_for_last(&broker, &totals, &final_totals, &mut running);
    for (user, (_, values)) in &by_user {
        let tombstones = values.iter().filter(|v| v.is_none()).count();
        assert_eq!(tombstones, usize::from(user == "u4"), "{user}: {values:?}");
    }
    let partitions: BTreeSet<i64> = by_user.values().map(|(p, _)| *p).collect();
    assert!(
        partitions.len() > 1,
        "keys spread over partitions: {by_user:?}"
    );
    wait_for_last(
        &broker,
        &buffered,
        &orders.totals(&["u4"], false),
        &mut running,
    );
    drop(running);

    // Job 2 reads both topics back as changelogs and materialises them in the store.
    let data = tmp.path().join("data2");
    let job = tmp.path().join("materialise.sql");
    let bounded = ", 'scan.bounded.mode' = 'latest-offset'";
    std::fs::write(
        &job,
        format!(
            "{}\n{}\n
             CREATE TABLE from_totals ({columns}) WITH ('connector' = 'spate-store');
             CREATE TABLE from_buffered ({columns}) WITH ('connector' = 'spate-store');
             EXECUTE STATEMENT SET BEGIN
             INSERT INTO from_totals SELECT * FROM totals;
             INSERT INTO from_buffered SELECT * FROM buffered;
             END;",
            upsert_table("totals", columns, &totals, &broker, bounded),
            buffered_table(bounded),
        ),
    )
    .unwrap();
    succeeded(spate_run(&data, &job, &["--parallelism", "2"]));
    let want_rows: Vec<Value> = final_totals.values().flatten().cloned().collect();
    assert_eq!(want_rows.len(), 4);
    for table in ["from_totals", "from_buffered"] {
        let mut query = Command::new(SPATE);
        query
            .arg("--data-dir")
            .arg(&data)
            .args(["query", "--format", "json"])
            .arg(format!(
                "SELECT `user`, n, amount FROM {table} ORDER BY `user`"
            ));
        let rows: Value = serde_json::from_slice(&succeeded(query)).unwrap();
        assert_eq!(rows, Value::Array(want_rows.clone()), "{table}");
    }

    // A bounded run of job 1 over the same orders dead-letters the record that is not an
    // order, once per INSERT.
    let job = tmp.path().join("again.sql");
    std::fs::write(
        &job,
        format!(
            "{}\n{}\nINSERT INTO totals SELECT `user`, COUNT(*), SUM(amount) FROM orders \
             GROUP BY `user`;",
            orders_table(bounded),
            upsert_table("totals", columns, &totals, &broker, ""),
        ),
    )
    .unwrap();
    let out = spate_run(&tmp.path().join("data3"), &job, &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains(" 1 dead letters"),
        "{stderr}"
    );
}

#[test]
fn upsert_kafka_options_are_checked_where_the_table_is_declared() {
    // Planning needs no broker.
    let table = |name: &str, columns: &str, extra: &str| {
        format!(
            "CREATE TABLE {name} ({columns}) WITH ('connector' = 'upsert-kafka', 'topic' = 't',
               'properties.bootstrap.servers' = '127.0.0.1:1',
               'key.format' = 'json', 'value.format' = 'json'{extra});"
        )
    };
    let keyed = "id BIGINT, c INT, PRIMARY KEY (id) NOT ENFORCED";
    let datagen =
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');";
    let print = "CREATE TABLE out (c0 INT) WITH ('connector' = 'print');";
    // An updating result goes into an upsert-kafka table; an upsert-kafka table feeds one.
    let grouped = |sink: &str| {
        format!(
            "{datagen}\n{sink}\nINSERT INTO out SELECT id, CAST(COUNT(*) AS INT) FROM src \
             GROUP BY id;"
        )
    };
    let cases: Vec<(String, Option<&str>)> = vec![
        (grouped(&table("out", keyed, "")), None),
        (
            grouped(&table("out", "id BIGINT, c INT", "")),
            Some("an upsert-kafka table without a primary key"),
        ),
        (
            grouped(&table(
                "out",
                keyed,
                ", 'sink.buffer-flush.max-rows' = '10'",
            )),
            Some("buffering needs 'sink.buffer-flush.interval' greater than zero too"),
        ),
        (
            grouped(&table(
                "out",
                keyed,
                ", 'sink.buffer-flush.interval' = 'soon'",
            )),
            Some("expected a duration"),
        ),
        (
            format!(
                "{}\n{print}\nINSERT INTO out SELECT c FROM src;",
                table("src", keyed, "")
            ),
            None,
        ),
        (
            format!(
                "{}\n{print}\nINSERT INTO out SELECT c FROM src;",
                table(
                    "src",
                    "id BIGINT, c INT, ts TIMESTAMP(3), PRIMARY KEY (id) NOT ENFORCED, \
                     WATERMARK FOR ts AS ts - INTERVAL '1' SECOND",
                    ""
                )
            ),
            Some("a WATERMARK on the upsert-kafka table"),
        ),
        (
            format!(
                "{}\nCREATE TABLE out (c0 INT) WITH ('connector' = 'filesystem', 'path' = '/x', \
                 'format' = 'csv');\nINSERT INTO out SELECT c FROM src;",
                table("src", keyed, "")
            ),
            Some("writing an updating result (a changelog) to the filesystem sink"),
        ),
    ];
    for (job_text, expected) in &cases {
        let (ok, err) = validate_job(job_text);
        match expected {
            None => assert!(ok, "{job_text}: {err}"),
            Some(expected) => assert!(!ok && err.contains(expected), "{job_text}: {err}"),
        }
    }
}

/// A Kafka job run by the job console (`spate serve --jobs`) reports how many records it has
/// not read yet (from librdkafka's statistics) and reads them all, once more are produced.
#[test]
fn the_job_console_shows_a_kafka_jobs_source_lag() {
    let Some(broker) = broker("the_job_console_shows_a_kafka_jobs_source_lag") else {
        return;
    };
    let topic = unique("lag");
    client(&["create", &broker, &topic, "2"], "");
    let lines = |from: usize, to: usize| -> String {
        (from..to).map(|i| format!("{{\"id\":{i}}}\n")).collect()
    };
    client(&["produce", &broker, &topic], &lines(0, 2000));
    let tmp = tempfile::tempdir().unwrap();
    let port = spate_testkit::free_port();
    let _server = Running(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(tmp.path())
            .args(["serve", "--jobs", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{port}/api/jobs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&api).call().is_err() {
        assert!(Instant::now() < deadline, "the server never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sql = format!(
        "CREATE TABLE ids (id BIGINT) WITH ('connector' = 'kafka', 'topic' = '{topic}', \
         'properties.bootstrap.servers' = '{broker}', 'properties.group.id' = '{topic}', \
         'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
         CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO sink SELECT id FROM ids;"
    );
    let mut answer = ureq::post(&api)
        .header("content-type", "application/json")
        .send(serde_json::json!({"name": "lag", "sql": sql}).to_string())
        .unwrap();
    let _ = answer.body_mut().read_to_string();
    let job = |want: u64| -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut answer = ureq::get(format!("{api}/lag")).call().unwrap();
            let job: Value =
                serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
            if job["events_in"] == want && job["source_lag"] == 0 {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "not {want} events read with no lag: {job}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    job(2000);
    client(&["produce", &broker, &topic], &lines(2000, 3000));
    job(3000);
}
