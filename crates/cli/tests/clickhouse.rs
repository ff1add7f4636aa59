//! The `clickhouse` sink against a real server (`SPATE_TEST_CLICKHOUSE_URL`, ClickHouse's HTTP
//! interface, e.g. `http://127.0.0.1:18123`, which `.ci/run` starts): typed rows appended
//! with checkpoints, a row the table cannot take dead-lettered, a job that loses the server
//! failing and resuming from its last checkpoint, and the errors of a wrong password, a
//! missing table, a closed port and a missing column. Each test writes tables of its own,
//! which it drops, and says SKIPPED when the server is not set.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The test server, or `None` (said SKIPPED) when `SPATE_TEST_CLICKHOUSE_URL` is not set.
fn server(test: &str) -> Option<Server> {
    match std::env::var("SPATE_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Some(Server {
            url: url.trim_end_matches('/').to_string(),
        }),
        _ => {
            eprintln!(
                "==== SKIPPED: {test}: set SPATE_TEST_CLICKHOUSE_URL (e.g. http://127.0.0.1:18123) ===="
            );
            None
        }
    }
}

/// A ClickHouse server reached over HTTP.
struct Server {
    url: String,
}

impl Server {
    /// The answer to `sql`; panics on an error.
    fn query(&self, sql: &str) -> String {
        let mut response = ureq::post(format!("{}/", self.url))
            .config()
            .http_status_as_error(false)
            .build()
            .send(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap();
        assert_eq!(status, 200, "{sql}: {text}");
        text
    }

    /// The `host:port` of the server.
    fn address(&self) -> String {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
            .to_string()
    }

    /// A table of `columns` and `engine`, dropped with the returned guard.
    fn table(&self, what: &str, columns: &str, engine: &str) -> Table<'_> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "spate_{what}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.query(&format!(
            "CREATE TABLE default.{name} ({columns}) ENGINE = {engine}"
        ));
        Table { server: self, name }
    }
}

/// A table of the test, dropped when the test ends.
struct Table<'a> {
    server: &'a Server,
    name: String,
}

impl Table<'_> {
    /// The lines of `select` (`{t}` being the table), sorted.
    fn lines(&self, select: &str) -> Vec<String> {
        let sql = select.replace("{t}", &format!("default.{}", self.name));
        let mut lines: Vec<String> = self
            .server
            .query(&format!("{sql} FORMAT TabSeparated"))
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }
}

impl Drop for Table<'_> {
    fn drop(&mut self) {
        self.server
            .query(&format!("DROP TABLE IF EXISTS default.{}", self.name));
    }
}

/// Runs `spate sql run` on `sql` in `dir`, with `args` after `run`.
fn run(dir: &Path, sql: &str, args: &[&str]) -> Output {
    let job = dir.join("job.sql");
    std::fs::write(&job, sql).unwrap();
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["sql", "run"])
        .args(args)
        .arg(&job)
        .output()
        .unwrap()
}

/// The records of the dead-letter topic of the job writing `table`.
fn dead_letters(dir: &Path, table: &str) -> Vec<serde_json::Value> {
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args([
            "log",
            "consume",
            &format!("insert-into-{table}.dead-letter"),
        ])
        .args(["--offset", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `n` events as JSON lines; `bad` lines are added.
fn events(dir: &Path, n: i64, bad: &[&str]) -> PathBuf {
    let path = dir.join("events.jsonl");
    let mut lines: Vec<String> = (0..n)
        .map(|i| {
            let name = match i % 10 {
                0 => "null".to_string(),
                _ => format!("\"n{i}\""),
            };
            format!(
                r#"{{"id":{i},"name":{name},"code":"c{}","amount":{i}.25,"ratio":{},"ok":{},"day":"2024-03-{:02}","ts":"2024-01-02T00:{:02}:{:02}.500"}}"#,
                i % 10,
                i as f64 / 4.0,
                i % 2 == 0,
                1 + i % 28,
                i / 60,
                i % 60
            )
        })
        .collect();
    lines.extend(bad.iter().map(|l| l.to_string()));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The job's source table of [`events`].
fn events_table(path: &Path) -> String {
    format!(
        "CREATE TABLE events (id BIGINT, name STRING, code STRING, amount DECIMAL(10, 2),
                     ratio DOUBLE, ok BOOLEAN, day DATE, ts TIMESTAMP(3))
  WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');",
        path.display()
    )
}

/// The ClickHouse columns [`events`] go to.
const EVENT_COLUMNS: &str = "id UInt32, name Nullable(String), code FixedString(2), \
    amount Decimal(10, 2), ratio Float32, ok UInt8, day Date, ts DateTime('Europe/Berlin'), \
    note String DEFAULT 'none'";

#[test]
fn a_checkpointed_job_appends_typed_rows_and_dead_letters_what_the_table_cannot_take() {
    let Some(server) =
        server("a_checkpointed_job_appends_typed_rows_and_dead_letters_what_the_table_cannot_take")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = server.table("typed", EVENT_COLUMNS, "MergeTree ORDER BY id");
    let input = events(
        dir.path(),
        1000,
        &[
            // Out of UInt32's range; longer than FixedString(2); NULL in a column not Nullable.
            r#"{"id":-5,"code":"c1","amount":1,"ratio":0,"ok":true,"day":"2024-03-01","ts":"2024-01-02T00:00:00"}"#,
            r#"{"id":2000,"code":"xyz","amount":1,"ratio":0,"ok":true,"day":"2024-03-01","ts":"2024-01-02T00:00:00"}"#,
            r#"{"id":2001,"amount":1,"ratio":0,"ok":true,"day":"2024-03-01","ts":"2024-01-02T00:00:00"}"#,
        ],
    );
    let out = run(
        dir.path(),
        &format!(
            "{events}
CREATE TABLE ch_out (id BIGINT, name STRING, code STRING, amount DECIMAL(10, 2), ratio DOUBLE,
                     ok BOOLEAN, day DATE, ts TIMESTAMP(3))
  WITH ('connector' = 'clickhouse', 'url' = '{url}', 'table-name' = '{table}',
        'database-name' = 'default', 'username' = 'default', 'password' = '',
        'sink.batch-size' = '64', 'sink.flush-interval' = '0', 'sink.max-retries' = '2');
INSERT INTO ch_out SELECT * FROM events;
",
            events = events_table(&input),
            url = server.url,
            table = table.name,
        ),
        &[
            "--checkpoint-dir",
            &dir.path().join("checkpoints").display().to_string(),
            "--checkpoint-interval-ms",
            "100",
        ],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 dead letters"), "{err}");
    let got = table.lines(
        "SELECT id, name, code, amount, ratio, ok, toString(day), toUnixTimestamp(ts), note FROM {t}",
    );
    let mut expected: Vec<String> = (0..1000i64)
        .map(|i| {
            let name = match i % 10 {
                0 => "\\N".to_string(),
                _ => format!("n{i}"),
            };
            format!(
                "{i}\t{name}\tc{}\t{i}.25\t{}\t{}\t2024-03-{:02}\t{}\tnone",
                i % 10,
                i as f64 / 4.0,
                u8::from(i % 2 == 0),
                1 + i % 28,
                1_704_153_600 + i
            )
        })
        .collect();
    expected.sort();
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);

    let letters = dead_letters(dir.path(), "ch_out");
    let mut reasons: Vec<(i64, &str)> = letters
        .iter()
        .map(|l| {
            let payload: serde_json::Value =
                serde_json::from_str(l["payload"].as_str().unwrap()).unwrap();
            (
                payload["id"].as_i64().unwrap(),
                l["reason"].as_str().unwrap(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            (-5, "column id: -5 is out of the range of UInt32"),
            (
                2000,
                "column code: xyz is 3 bytes long, longer than FixedString(2)"
            ),
            (
                2001,
                "column code: NULL in a column of type FixedString(2), not Nullable"
            ),
        ],
        "{letters:?}"
    );
    assert!(
        letters[0]["origin"]
            .as_str()
            .unwrap()
            .starts_with(&format!("clickhouse default.{}", table.name)),
        "{letters:?}"
    );
}

/// A TCP proxy to `target` that can be cut off: while cut, it closes every connection
/// (accepted ones and new ones) at once.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let flag = open.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || pipe(from, to, &flag));
                }
            }
        });
        Proxy { port, open }
    }
}

/// Copies `from` to `to` while `open` holds.
fn pipe(mut from: TcpStream, mut to: TcpStream, open: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buffer = [0u8; 16 * 1024];
    while open.load(Ordering::SeqCst) {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn a_job_that_loses_the_server_fails_and_resumes_from_its_last_checkpoint() {
    let Some(server) =
        server("a_job_that_loses_the_server_fails_and_resumes_from_its_last_checkpoint")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = server.table("resumed", "id UInt64, v String", "MergeTree ORDER BY id");
    let proxy = Proxy::start(server.address());
    let rows = 3000;
    let job = format!(
        "CREATE TABLE numbers (id BIGINT, v STRING)
  WITH ('connector' = 'datagen', 'rows-per-second' = '1000', 'number-of-rows' = '{rows}',
        'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '{last}',
        'fields.v.length' = '8');
CREATE TABLE ch_out (id BIGINT, v STRING)
  WITH ('connector' = 'clickhouse', 'url' = 'clickhouse://127.0.0.1:{port}',
        'table-name' = '{table}', 'sink.flush-interval' = '50ms', 'sink.max-retries' = '2');
INSERT INTO ch_out SELECT id, v FROM numbers;
",
        last = rows - 1,
        port = proxy.port,
        table = table.name,
    );
    let checkpoints = dir.path().join("checkpoints").display().to_string();
    let args = [
        "--checkpoint-dir",
        checkpoints.as_str(),
        "--checkpoint-interval-ms",
        "200",
    ];
    let first = {
        let dir = dir.path().to_path_buf();
        let (job, args) = (job.clone(), args.map(String::from));
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&dir, &job, &args)
        })
    };
    // Cut the server off once some rows are in.
    let count = || -> u64 { table.lines("SELECT count() FROM {t}")[0].parse().unwrap() };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count() < 500 {
        assert!(std::time::Instant::now() < deadline, "no rows arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.open.store(false, Ordering::SeqCst);
    let out = first.join().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "table default.{}: cannot reach ClickHouse at 127.0.0.1:{}",
            table.name, proxy.port
        )),
        "{err}"
    );
    let before = count();
    assert!(before < rows, "{before} rows before the failure");

    // The next run resumes from the last checkpoint: every row, some possibly twice.
    proxy.open.store(true, Ordering::SeqCst);
    let out = run(dir.path(), &job, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        table.lines("SELECT uniqExact(id), min(id), max(id) FROM {t}"),
        [format!("{rows}\t0\t{}", rows - 1)]
    );
    let total = count();
    assert!(total >= rows, "{total}");
    assert!(
        total < rows + before,
        "the second run started over: {total} rows"
    );
}

#[test]
fn a_wrong_password_a_missing_table_a_closed_port_and_a_missing_column_are_named() {
    let Some(server) =
        server("a_wrong_password_a_missing_table_a_closed_port_and_a_missing_column_are_named")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = events(dir.path(), 3, &[]);
    let table = server.table("narrow", "id UInt32, name String", "Memory");
    // The job's sink table has `columns`, written from `select`.
    let fail = |options: &str, columns: &str, select: &str| {
        let out = run(
            dir.path(),
            &format!(
                "{events}
CREATE TABLE ch_out ({columns})
  WITH ('connector' = 'clickhouse', 'sink.max-retries' = '1', {options});
INSERT INTO ch_out SELECT {select} FROM events;
",
                events = events_table(&input),
            ),
            &[],
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        err
    };
    let url = &server.url;
    let address = server.address();
    let t = &table.name;
    // The sink's options, its columns, what is written to them, and the message.
    let cases = [
        (
            format!("'url' = '{url}', 'table-name' = '{t}', 'password' = 'secret-word'"),
            "id BIGINT",
            "id",
            format!(
                "table default.{t}: ClickHouse at {address} refused the login of user 'default'"
            ),
        ),
        (
            format!("'url' = '{url}', 'table-name' = 'no_such_table'"),
            "id BIGINT",
            "id",
            format!("table default.no_such_table does not exist in ClickHouse at {address}"),
        ),
        (
            format!("'url' = '{url}', 'database-name' = 'no_such_db', 'table-name' = '{t}'"),
            "id BIGINT",
            "id",
            format!("table no_such_db.{t} does not exist in ClickHouse at {address}"),
        ),
        (
            format!("'url' = 'clickhouse://127.0.0.1:1', 'table-name' = '{t}'"),
            "id BIGINT",
            "id",
            format!("table default.{t}: cannot reach ClickHouse at 127.0.0.1:1"),
        ),
        (
            format!("'url' = '{url}', 'table-name' = '{t}'"),
            "id BIGINT, code STRING",
            "id, code",
            format!(
                "table default.{t}: column code: the ClickHouse table has no such column (it has id, name)"
            ),
        ),
        (
            format!("'url' = '{url}', 'table-name' = '{t}'"),
            "id BIGINT, name BIGINT",
            "id, id AS name",
            format!(
                "table default.{t}: column name: Int64 values cannot be written to a ClickHouse String column"
            ),
        ),
    ];
    for (options, columns, select, expected) in cases {
        let err = fail(&options, columns, select);
        assert!(err.contains(&expected), "{options}: {err}");
        assert!(!err.contains("secret-word"), "{err}");
    }
}

#[test]
fn a_url_of_another_protocol_is_refused_at_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(dir.path(), 1, &[]);
    let out = run(
        dir.path(),
        &format!(
            "{events}
CREATE TABLE ch_out (id BIGINT)
  WITH ('connector' = 'clickhouse', 'url' = 'tcp://127.0.0.1:9000', 'table-name' = 't');
INSERT INTO ch_out SELECT id FROM events;
",
            events = events_table(&input)
        ),
        &[],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("table ch_out: option 'url'"), "{err}");
    assert!(err.contains("job.sql:4:"), "{err}");
}
