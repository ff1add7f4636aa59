//! The `jdbc` connector against real servers: `SPATE_TEST_MYSQL_URL` (e.g.
//! `mysql://root@127.0.0.1:3306/test`) and `SPATE_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Each test runs on every server set, in tables
//! of its own that it drops, and says SKIPPED for each server not set.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// A test server.
struct Server {
    /// `mysql` or `postgres`.
    kind: &'static str,
    /// The driver URL.
    url: String,
}

impl Server {
    /// The URL as a job file writes it (Flink's `jdbc:` form).
    fn jdbc_url(&self) -> String {
        match self.kind {
            "mysql" => format!("jdbc:{}", self.url),
            _ => format!(
                "jdbc:postgresql://{}",
                self.url.split_once("://").expect("a URL").1
            ),
        }
    }

    /// A table name of this test run.
    fn table(&self, what: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "spate_{what}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Runs statements.
    fn execute(&self, statements: &[String]) {
        block_on(async {
            let mut c = self.connect().await;
            for s in statements {
                sqlx::query(AssertSqlSafe(s.as_str()))
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        })
    }

    /// The rows of `sql`, whose columns are all selected as text, sorted.
    fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut rows: Vec<Vec<Option<String>>> = block_on(async {
            let mut c = self.connect().await;
            sqlx::query(AssertSqlSafe(sql))
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<Option<String>, _>(i))
                        .collect()
                })
                .collect()
        });
        rows.sort();
        rows
    }

    /// `column` selected as text.
    fn text(&self, column: &str) -> String {
        match self.kind {
            "mysql" => format!("CAST({column} AS CHAR)"),
            _ => format!("CAST({column} AS TEXT)"),
        }
    }

    async fn connect(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url).await.unwrap()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The servers set in the environment; says SKIPPED for the others.
fn servers(test: &str) -> Vec<Server> {
    let mut servers = Vec::new();
    for (kind, var) in [
        ("mysql", "SPATE_TEST_MYSQL_URL"),
        ("postgres", "SPATE_TEST_POSTGRES_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => servers.push(Server { kind, url }),
            _ => eprintln!("SKIPPED: {test} on {kind}: set {var}"),
        }
    }
    servers
}

/// Runs `spate sql run` on `sql`.
fn run(dir: &Path, sql: &str) -> Output {
    let job = dir.join("job.sql");
    std::fs::write(&job, sql).unwrap();
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["sql", "run"])
        .arg(&job)
        .output()
        .unwrap()
}

fn assert_ran(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Events `{"k": "k<i % 7>", "v": i}` for i in 0..n, in a JSON file.
fn events(dir: &Path, n: i64) -> std::path::PathBuf {
    let path = dir.join("events.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"k":"k{}","v":{i}}}"#, i % 7))
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn row(fields: &[&str]) -> Vec<Option<String>> {
    fields.iter().map(|f| Some(f.to_string())).collect()
}

#[test]
fn an_updating_group_by_upserts_and_deletes_by_key() {
    for server in servers("an_updating_group_by_upserts_and_deletes_by_key") {
        let dir = tempfile::tempdir().unwrap();
        let input = events(dir.path(), 1000);
        let totals = server.table("totals");
        let buckets = server.table("buckets");
        server.execute(&[
            format!("CREATE TABLE {totals} (k VARCHAR(16) PRIMARY KEY, cnt BIGINT, total BIGINT)"),
            format!("CREATE TABLE {buckets} (cnt BIGINT PRIMARY KEY, keys_ BIGINT)"),
            // A stale row that the job overwrites, and one it leaves alone.
            format!("INSERT INTO {totals} VALUES ('k0', -1, -1), ('other', 1, 1)"),
        ]);
        let url = server.jdbc_url();
        let out = run(
            dir.path(),
            &format!(
                "CREATE TABLE events (k STRING, v BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE totals (k STRING, cnt BIGINT, total BIGINT, PRIMARY KEY (k) NOT ENFORCED)
  WITH ('connector' = 'jdbc', 'url' = '{url}', 'table-name' = '{totals}',
        'driver' = 'ignored', 'sink.buffer-flush.max-rows' = '5');
CREATE TABLE buckets (cnt BIGINT, keys_ BIGINT, PRIMARY KEY (cnt) NOT ENFORCED)
  WITH ('connector' = 'jdbc', 'url' = '{url}', 'table-name' = '{buckets}',
        'sink.buffer-flush.max-rows' = '3');
EXECUTE STATEMENT SET BEGIN
INSERT INTO totals SELECT k, COUNT(*), SUM(v) FROM events GROUP BY k;
INSERT INTO buckets SELECT cnt, COUNT(*) FROM (SELECT k, COUNT(*) AS cnt FROM events GROUP BY k) GROUP BY cnt;
END;
",
                input = input.display()
            ),
        );
        let drop = [
            format!("DROP TABLE {totals}"),
            format!("DROP TABLE {buckets}"),
        ];
        if !out.status.success() {
            server.execute(&drop);
        }
        assert_ran(&out);
        let mut expected: Vec<Vec<Option<String>>> = (0..7)
            .map(|k| {
                let vs: Vec<i64> = (0..1000).filter(|i| i % 7 == k).collect();
                row(&[
                    &format!("k{k}"),
                    &vs.len().to_string(),
                    &vs.iter().sum::<i64>().to_string(),
                ])
            })
            .collect();
        expected.push(row(&["other", "1", "1"]));
        expected.sort();
        let got = server.rows(&format!(
            "SELECT {}, {}, {} FROM {totals}",
            server.text("k"),
            server.text("cnt"),
            server.text("total")
        ));
        // Counts of 142 (k6) and 143 (k0..k5) remain; the buckets the counts passed through
        // were deleted.
        let got_buckets = server.rows(&format!(
            "SELECT {}, {} FROM {buckets}",
            server.text("cnt"),
            server.text("keys_")
        ));
        server.execute(&drop);
        assert_eq!(got, expected, "on {}", server.kind);
        assert_eq!(
            got_buckets,
            vec![row(&["142", "1"]), row(&["143", "6"])],
            "on {}",
            server.kind
        );
    }
}

#[test]
fn an_append_sink_without_key_inserts_every_row() {
    for server in servers("an_append_sink_without_key_inserts_every_row") {
        let dir = tempfile::tempdir().unwrap();
        let input = events(dir.path(), 250);
        let log = server.table("log");
        server.execute(&[format!("CREATE TABLE {log} (v BIGINT, k VARCHAR(16))")]);
        let out = run(
            dir.path(),
            &format!(
                "CREATE TABLE events (k STRING, v BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE log (v BIGINT, k STRING)
  WITH ('connector' = 'jdbc', 'url' = '{url}', 'table-name' = '{log}',
        'sink.buffer-flush.max-rows' = '40', 'sink.buffer-flush.interval' = '0s');
INSERT INTO log SELECT v, k FROM events WHERE v % 2 = 0;
",
                input = input.display(),
                url = server.jdbc_url()
            ),
        );
        let got = server.rows(&format!(
            "SELECT {}, {} FROM {log}",
            server.text("v"),
            server.text("k")
        ));
        server.execute(&[format!("DROP TABLE {log}")]);
        assert_ran(&out);
        let mut expected: Vec<Vec<Option<String>>> = (0..250)
            .filter(|v| v % 2 == 0)
            .map(|v| row(&[&v.to_string(), &format!("k{}", v % 7)]))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "on {}", server.kind);
    }
}

#[test]
fn a_lookup_join_enriches_from_the_database_and_keeps_missing_keys() {
    for server in servers("a_lookup_join_enriches_from_the_database_and_keeps_missing_keys") {
        let names = server.table("names");
        server.execute(&[
            format!(
                "CREATE TABLE {names} (id VARCHAR(16) PRIMARY KEY, name VARCHAR(32), rank_ INT)"
            ),
            format!(
                "INSERT INTO {names} VALUES ('k0', 'zero', 0), ('k1', 'one', 1), ('k2', NULL, 2), \
                 ('k3', 'three', 3), ('k4', 'four', 4), ('k5', 'five', 5)"
            ),
        ]);
        // The whole table in memory; by key with a cache smaller than the keys; by key uncached.
        for cache in [
            "",
            "'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '3',
             'lookup.partial-cache.expire-after-write' = '1 min',
             'lookup.partial-cache.expire-after-access' = '30 s',",
            "'lookup.cache' = 'NONE', 'lookup.max-retries' = '1',",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let input = events(dir.path(), 700);
            let out_dir = dir.path().join("out");
            let out = run(
                dir.path(),
                &format!(
                    "CREATE TABLE events (k STRING, v BIGINT, proc_time AS PROCTIME())
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE names (id STRING, name STRING, rank_ INT, PRIMARY KEY (id) NOT ENFORCED)
  WITH ('connector' = 'jdbc', {cache} 'url' = '{url}', 'table-name' = '{names}');
CREATE TABLE enriched (v BIGINT, k STRING, name STRING, rank_ INT)
  WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO enriched
SELECT e.v, e.k, n.name, n.rank_
FROM events AS e
LEFT JOIN names FOR SYSTEM_TIME AS OF e.proc_time AS n ON e.k = n.id;
",
                    input = input.display(),
                    url = server.jdbc_url(),
                    out = out_dir.display()
                ),
            );
            if !out.status.success() {
                server.execute(&[format!("DROP TABLE {names}")]);
            }
            assert_ran(&out);
            let labels = ["zero", "one", "", "three", "four", "five", ""];
            let mut expected: Vec<String> = (0..700)
                .map(|v| {
                    let k = v % 7;
                    let rank = if k < 6 { k.to_string() } else { String::new() };
                    format!("{v},k{k},{},{rank}", labels[k as usize])
                })
                .collect();
            expected.sort();
            assert_eq!(
                common::committed_rows(&out_dir),
                expected,
                "on {} with {cache:?}",
                server.kind
            );
        }
        server.execute(&[format!("DROP TABLE {names}")]);
    }
}

#[test]
fn a_server_that_refuses_is_reported_with_the_table() {
    for server in servers("a_server_that_refuses_is_reported_with_the_table") {
        let dir = tempfile::tempdir().unwrap();
        let input = events(dir.path(), 10);
        // MySQL refuses a wrong password; PostgreSQL here trusts loopback, so a closed port.
        let url = match server.kind {
            "mysql" => server.jdbc_url(),
            _ => "jdbc:postgresql://127.0.0.1:1/test".to_string(),
        };
        let out = run(
            dir.path(),
            &format!(
                "CREATE TABLE events (k STRING, v BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE sink_t (k STRING, v BIGINT)
  WITH ('connector' = 'jdbc', 'url' = '{url}', 'table-name' = 'no_such_table',
        'password' = 'wrong-password', 'sink.max-retries' = '1');
INSERT INTO sink_t SELECT k, v FROM events;
",
                input = input.display()
            ),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "on {}: {stderr}", server.kind);
        assert!(
            stderr.contains("table no_such_table: cannot connect to"),
            "on {}: {stderr}",
            server.kind
        );
        assert!(!stderr.contains("wrong-password"), "{stderr}");
    }
}

#[test]
fn a_url_of_another_database_is_refused_at_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(dir.path(), 1);
    let out = run(
        dir.path(),
        &format!(
            "CREATE TABLE events (k STRING, v BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE sink_t (k STRING, v BIGINT)
  WITH ('connector' = 'jdbc', 'url' = 'jdbc:oracle:thin:@h:1521:x', 'table-name' = 't');
INSERT INTO sink_t SELECT k, v FROM events;
",
            input = input.display()
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("table sink_t: option 'url'"), "{stderr}");
    assert!(stderr.contains("job.sql:3:"), "{stderr}");
}

#[test]
fn a_partial_lookup_cache_needs_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(dir.path(), 1);
    let out = run(
        dir.path(),
        &format!(
            "CREATE TABLE events (k STRING, v BIGINT, proc_time AS PROCTIME())
  WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'json');
CREATE TABLE names (id STRING, name STRING)
  WITH ('connector' = 'jdbc', 'url' = 'jdbc:mysql://127.0.0.1:3306/test',
        'table-name' = 'names', 'lookup.cache' = 'PARTIAL');
CREATE TABLE out_t (k STRING, name STRING) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT e.k, n.name FROM events AS e
JOIN names FOR SYSTEM_TIME AS OF e.proc_time AS n ON e.k = n.id;
",
            input = input.display()
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("'lookup.cache' = 'PARTIAL' needs 'lookup.partial-cache.max-rows'"),
        "{stderr}"
    );
    assert!(stderr.contains("job.sql:3:"), "{stderr}");
}
