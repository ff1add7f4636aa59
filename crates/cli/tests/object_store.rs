//! The filesystem connector on object storage, against a real S3 server (s3s-fs, which
//! `.ci/run` starts and names in `SPATE_TEST_S3_ENDPOINT`, `SPATE_TEST_S3_ACCESS_KEY`,
//! `SPATE_TEST_S3_SECRET_KEY` and `SPATE_TEST_S3_BUCKET`): `spate sql run` writes partitioned
//! Parquet and NDJSON to `s3://`, is killed with SIGKILL and restarted from its checkpoints,
//! and every row lands exactly once; a second job reads the Parquet back from `s3://`. Objects
//! are listed and read with `object_store`'s own client. Each test says SKIPPED without the
//! server, and writes under a prefix of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

mod common;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The test server, and a client of it.
struct S3 {
    endpoint: String,
    access_key: String,
    secret_key: String,
    bucket: String,
    client: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

impl S3 {
    /// The server `.ci/run` started, or `None` (said SKIPPED) when it did not.
    fn get(test: &str) -> Option<S3> {
        let Ok(endpoint) = std::env::var("SPATE_TEST_S3_ENDPOINT") else {
            eprintln!(
                "==== SKIPPED: {test}: set SPATE_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:19900), \
                 SPATE_TEST_S3_ACCESS_KEY, SPATE_TEST_S3_SECRET_KEY and SPATE_TEST_S3_BUCKET ===="
            );
            return None;
        };
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let (access_key, secret_key, bucket) = (
            var("SPATE_TEST_S3_ACCESS_KEY"),
            var("SPATE_TEST_S3_SECRET_KEY"),
            var("SPATE_TEST_S3_BUCKET"),
        );
        let client = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&bucket)
            .with_access_key_id(&access_key)
            .with_secret_access_key(&secret_key)
            .build()
            .unwrap();
        Some(S3 {
            endpoint,
            access_key,
            secret_key,
            bucket,
            client,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        })
    }

    /// A prefix of the bucket for this test run alone.
    fn prefix(&self, test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{test}-{}-{nanos}", std::process::id())
    }

    /// The objects under `prefix`, by key relative to it, with their sizes.
    fn list(&self, prefix: &str) -> BTreeMap<String, u64> {
        let prefix = ObjectPath::from(prefix);
        let listed: Vec<_> = self
            .runtime
            .block_on(self.client.list(Some(&prefix)).try_collect())
            .unwrap();
        listed
            .into_iter()
            .map(|meta| {
                let key = meta.location.as_ref()[prefix.as_ref().len() + 1..].to_string();
                (key, meta.size)
            })
            .collect()
    }

    fn read(&self, key: &str) -> bytes::Bytes {
        let key = ObjectPath::from(key);
        self.runtime
            .block_on(async { self.client.get(&key).await?.bytes().await })
            .unwrap()
    }

    /// The ids in the Parquet and NDJSON part objects under `prefix`, sorted, and the
    /// partition directories that have a `_SUCCESS` object.
    fn ids(&self, prefix: &str) -> (Vec<i64>, Vec<String>) {
        let (mut ids, mut committed) = (Vec::new(), Vec::new());
        for key in self.list(prefix).keys() {
            let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
            let data = self.read(&format!("{prefix}/{key}"));
            if name == "_SUCCESS" {
                committed.push(dir.to_string());
            } else if name.ends_with(".parquet") {
                for batch in ParquetRecordBatchReaderBuilder::try_new(data)
                    .unwrap()
                    .build()
                    .unwrap()
                {
                    let batch = batch.unwrap();
                    let column = batch.column_by_name("id").unwrap();
                    let column = column
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .unwrap();
                    ids.extend(column.values().iter().copied());
                }
            } else if name.ends_with(".json") {
                for line in std::str::from_utf8(&data).unwrap().lines() {
                    let row: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(
                        row.get("dt").is_none(),
                        "partition columns stay out: {line}"
                    );
                    ids.push(row["id"].as_i64().unwrap());
                }
            } else {
                panic!("unexpected object {prefix}/{key}");
            }
        }
        ids.sort_unstable();
        (ids, committed)
    }

    /// `spate sql run` of `sql` in `dir`, with the server's credentials in `AWS_*`.
    fn spate(&self, dir: &Path, sql: &str, checkpoints: bool) -> Command {
        let file = dir.join("job.sql");
        std::fs::write(&file, sql).unwrap();
        let mut cmd = Command::new(SPATE);
        cmd.arg("--data-dir")
            .arg(dir.join("data"))
            .args(["sql", "run"])
            .arg(&file)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if checkpoints {
            cmd.arg("--checkpoint-dir")
                .arg(dir.join("checkpoints"))
                .args(["--checkpoint-interval-ms", "300"]);
        }
        cmd
    }
}

const ROWS: i64 = 150_000;

/// Generated rows, 30,000 a second, into partitioned Parquet (credentials from the
/// environment, rolled at 1 MB) and NDJSON (credentials in the table's `s3.*` options).
fn writing_job(s3: &S3, prefix: &str) -> String {
    let columns = "id BIGINT, pad STRING, dt STRING, `hour` STRING";
    let commit = "'sink.partition-commit.policy.kind' = 'success-file'";
    let select = "SELECT id, pad, CASE WHEN id % 2 = 0 THEN '2026-11-24' ELSE '2026-11-25' END, \
                  CAST(10 + id % 3 AS STRING) FROM gen";
    format!(
        "CREATE TABLE gen (id BIGINT, pad STRING) WITH (
  'connector' = 'datagen', 'rows-per-second' = '30000', 'number-of-rows' = '{ROWS}',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}',
  'fields.pad.length' = '60');
CREATE TABLE pq ({columns}) PARTITIONED BY (dt, `hour`) WITH (
  'connector' = 'filesystem', 'path' = 's3://{bucket}/{prefix}/parquet', 'format' = 'parquet',
  'sink.rolling-policy.file-size' = '1mb', {commit});
CREATE TABLE js ({columns}) PARTITIONED BY (dt, `hour`) WITH (
  'connector' = 'filesystem', 'path' = 's3://{bucket}/{prefix}/json', 'format' = 'json',
  's3.endpoint' = '{endpoint}', 's3.access-key' = '{key}', 's3.secret-key' = '{secret}',
  's3.path.style.access' = 'true', {commit});
INSERT INTO pq {select};
INSERT INTO js {select};
",
        bucket = s3.bucket,
        endpoint = s3.endpoint,
        key = s3.access_key,
        secret = s3.secret_key,
    )
}

#[test]
fn partitioned_parquet_and_ndjson_on_s3_exactly_once_through_kills() {
    let Some(s3) = S3::get("partitioned_parquet_and_ndjson_on_s3_exactly_once_through_kills")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = s3.prefix("kill");
    let sql = writing_job(&s3, &prefix);
    // Killed twice, each time once more part files were committed than before.
    let mut seen = 0;
    for kill in 0..2 {
        let mut job = s3.spate(tmp.path(), &sql, true).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let committed = s3
                .list(&prefix)
                .keys()
                .filter(|k| k.ends_with(".parquet") || k.ends_with(".json"))
                .filter(|k| !k.contains("/.staging/"))
                .count();
            if committed > seen + 2 {
                seen = committed;
                break;
            }
            assert!(Instant::now() < deadline, "kill {kill}: nothing committed");
            assert!(
                job.try_wait().unwrap().is_none(),
                "kill {kill}: the job ended"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        job.kill().unwrap();
        job.wait().unwrap();
        // Only whole files are visible: every Parquet object has its footer.
        for (key, _) in s3.list(&prefix) {
            if key.ends_with(".parquet") {
                let data = s3.read(&format!("{prefix}/{key}"));
                ParquetRecordBatchReaderBuilder::try_new(data)
                    .unwrap_or_else(|e| panic!("{key} is not whole: {e}"));
            }
        }
    }
    let out = s3.spate(tmp.path(), &sql, true).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<i64> = (1..=ROWS).collect();
    // Even ids go to the 24th, odd ones to the 25th, and id % 3 picks the hour.
    let partitions: Vec<String> = ["2026-11-24", "2026-11-25"]
        .iter()
        .flat_map(|dt| (10..13).map(move |h| format!("dt={dt}/hour={h}")))
        .collect();
    for format in ["parquet", "json"] {
        let (ids, mut committed) = s3.ids(&format!("{prefix}/{format}"));
        assert_eq!(ids.len(), expected.len(), "{format}: rows exactly once");
        assert!(ids == expected, "{format}: rows exactly once");
        committed.sort();
        assert_eq!(committed, partitions, "{format}: _SUCCESS per partition");
    }
    let listed = s3.list(&format!("{prefix}/parquet"));
    let parquet_files = listed.keys().filter(|k| k.ends_with(".parquet")).count();
    assert!(
        listed.values().all(|size| *size < 3 << 20),
        "rolled at 1 MB: {listed:?}"
    );
    assert!(parquet_files > 6, "{listed:?}");

    // A second job reads the Parquet back from s3:// (as a table without the partition
    // columns, which are in the keys only).
    let out_dir = tmp.path().join("read-back");
    let read = format!(
        "CREATE TABLE archive (id BIGINT, pad STRING) WITH (
  'connector' = 'filesystem', 'path' = 's3://{}/{prefix}/parquet', 'format' = 'parquet');
CREATE TABLE copy (id BIGINT, pad STRING) WITH (
  'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO copy SELECT id, pad FROM archive;
",
        s3.bucket,
        out_dir.display()
    );
    let read_dir = tmp.path().join("reader");
    std::fs::create_dir_all(&read_dir).unwrap();
    let out = s3.spate(&read_dir, &read, false).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut read_ids: Vec<i64> = common::committed_rows(&out_dir)
        .iter()
        .map(|row| row.split(',').next().unwrap().parse().unwrap())
        .collect();
    read_ids.sort_unstable();
    assert!(read_ids == expected, "read back: {} rows", read_ids.len());
}

#[test]
fn unreachable_endpoints_wrong_keys_and_missing_buckets_are_named() {
    let Some(s3) = S3::get("unreachable_endpoints_wrong_keys_and_missing_buckets_are_named") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prefix = s3.prefix("errors");
    let cases = [
        (
            format!("s3://{}/{prefix}", s3.bucket),
            format!("'s3.endpoint' = 'http://127.0.0.1:{closed}', "),
            format!("object store at http://127.0.0.1:{closed} does not answer"),
        ),
        (
            format!("s3://{}/{prefix}", s3.bucket),
            "'s3.secret-key' = 'wrong', ".to_string(),
            format!("refuses the credentials (access key '{}')", s3.access_key),
        ),
        (
            format!("s3://no-such-bucket-{}/x", std::process::id()),
            String::new(),
            format!("has no bucket 'no-such-bucket-{}'", std::process::id()),
        ),
    ];
    for (path, options, says) in cases {
        let sql = format!(
            "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
CREATE TABLE out (id BIGINT) WITH ({options}'connector' = 'filesystem', 'path' = '{path}',
  'format' = 'json');
INSERT INTO out SELECT id FROM gen;
"
        );
        let out = s3.spate(tmp.path(), &sql, false).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{path}: the job fails");
        assert!(stderr.contains(&says), "{path}: {says}\n{stderr}");
    }
    assert!(s3.list(&prefix).is_empty());
}
