//! The serving store's query interfaces from the command line: `spate sql run
//! --pg-listen/--listen` serves the store its job writes while it runs (queried with the
//! real psql and over HTTP), and `spate serve --refresh` serves it read-only beside the job.

use spate_testkit::free_port;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");
const PSQL: &str = "/usr/bin/psql";

/// A child process killed and reaped when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn psql(port: u16, password: &str, sql: &str) -> Output {
    Command::new(PSQL)
        .args(["-X", "-At", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-U", "spate", "-d", "spate", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .unwrap()
}

fn http_get(url: &str) -> Option<serde_json::Value> {
    let mut response = ureq::get(url).call().ok()?;
    serde_json::from_slice(&response.body_mut().read_to_vec().ok()?).ok()
}

/// `f()` until it gives something, for up to 60 s; `what` names it in the failure.
fn wait_for<T>(what: &str, log: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {what} after 60 s; the process said:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn psql_and_http_query_a_running_jobs_table_and_spate_serve_follows_it() {
    if !Path::new(PSQL).exists() {
        eprintln!("\n\n*** SKIPPED: {PSQL} is not installed: this test did not run ***\n\n");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        "CREATE TABLE gen (id BIGINT, name STRING) WITH (
  'connector' = 'datagen', 'rows-per-second' = '500',
  'fields.id.min' = '1', 'fields.id.max' = '1000', 'fields.name.length' = '5');
CREATE TABLE live_rows (id BIGINT, name STRING) WITH ('connector' = 'spate-store');
INSERT INTO live_rows SELECT id, name FROM gen;
",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let (pg_port, http_port) = (free_port(), free_port());
    let log = tmp.path().join("job.log");
    let mut job = Running(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["sql", "run"])
            .arg(&job)
            .arg("--checkpoint-dir")
            .arg(tmp.path().join("checkpoints"))
            .args(["--checkpoint-interval-ms", "300"])
            .args(["--pg-listen", &format!("127.0.0.1:{pg_port}")])
            .args(["--listen", &format!("127.0.0.1:{http_port}")])
            .env("SPATE_PG_PASSWORD", "pw")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );

    let count = |out: &Output| -> Option<u64> {
        match out.status.success() {
            true => String::from_utf8_lossy(&out.stdout).trim().parse().ok(),
            false => None,
        }
    };
    let first = wait_for("rows through psql", &log, || {
        count(&psql(pg_port, "pw", "SELECT count(*) FROM live_rows")).filter(|n| *n > 0)
    });
    // Live: later commits are seen by later queries.
    wait_for("more rows through psql", &log, || {
        count(&psql(pg_port, "pw", "SELECT count(*) FROM live_rows")).filter(|n| *n > first)
    });
    let out = psql(
        pg_port,
        "pw",
        "SELECT min(id) >= 1, max(id) <= 1000, min(length(name)), max(length(name)) FROM live_rows",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "t|t|5|5\n");
    let out = psql(pg_port, "not-pw", "SELECT 1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tables = http_get(&format!("http://127.0.0.1:{http_port}/api/tables")).unwrap();
    assert_eq!(tables[0]["name"], "live_rows");
    assert!(tables[0]["rows"].as_u64().unwrap() > 0);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains(&format!("127.0.0.1:{pg_port}")), "{said}");
    assert!(
        said.contains("wrong password"),
        "the refused login is logged: {said}"
    );

    // spate serve beside the running job: read-only, it sees later commits once it reads
    // the store again (--refresh).
    let serve_port = free_port();
    let serve_log = tmp.path().join("serve.log");
    let _serve = Running(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{serve_port}")])
            .args(["--refresh", "200ms"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&serve_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!(
        "http://127.0.0.1:{serve_port}/api/query?sql=SELECT%20count(*)%20AS%20n%20FROM%20live_rows"
    );
    let n = |rows: serde_json::Value| rows[0]["n"].as_u64();
    let seen = wait_for("an answer from spate serve", &serve_log, || {
        n(http_get(&url)?)
    });
    assert!(seen > first, "{seen} rows, {first} before");
    wait_for("later rows from spate serve", &serve_log, || {
        n(http_get(&url)?).filter(|m| *m > seen)
    });
    let said = std::fs::read_to_string(&serve_log).unwrap();
    assert!(said.contains("read-only"), "{said}");
    // The job ends; the last commits stay served.
    job.0.kill().unwrap();
    job.0.wait().unwrap();
    assert!(n(http_get(&url).unwrap()).unwrap() > seen);
}
