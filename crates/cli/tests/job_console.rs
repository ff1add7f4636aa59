//! The job console through the binary: `spate serve --jobs` runs the jobs submitted with
//! `spate jobs submit`; stop takes a final checkpoint and restart resumes from it; the jobs
//! come back when the server restarts; a count over the log stays exact throughout (nothing
//! lost, nothing counted twice).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use spate_testkit::free_port;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

const JOB: &str = "CREATE TABLE events (k STRING, n BIGINT)
  WITH ('connector' = 'spate-log', 'topic' = 'events', 'format' = 'json');
CREATE TABLE totals (k STRING, events BIGINT, total BIGINT, PRIMARY KEY (k) NOT ENFORCED)
  WITH ('connector' = 'spate-store', 'table-name' = 'totals');
INSERT INTO totals SELECT k, COUNT(*), SUM(n) FROM events GROUP BY k;
";

/// `spate serve --jobs`, stopped with SIGTERM by [`Server::stop`] or killed when dropped.
struct Server(Child);

impl Server {
    fn start(data: &Path, port: u16) -> Server {
        let server = Server(
            Command::new(SPATE)
                .arg("--data-dir")
                .arg(data)
                .args(["serve", "--jobs", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(format!("http://127.0.0.1:{port}/api/jobs"))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// SIGTERM, then what it printed on stderr.
    fn stop(mut self) -> String {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status = self.0.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(self.0.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "the server ended with {status}: {err}");
        err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spate(data: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("SPATE_SERVER", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Appends events `from..to` to the topic: key `k<i % 3>`, n = i.
fn produce(data: &Path, from: i64, to: i64) {
    let mut child = Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(["log", "produce", "events"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = (from..to)
        .map(|i| format!("{{\"k\":\"k{}\",\"n\":{i}}}\n", i % 3))
        .collect();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), lines.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// The job as `GET /api/jobs/counts` answers it.
fn job(port: u16) -> Value {
    let mut answer = ureq::get(format!("http://127.0.0.1:{port}/api/jobs/counts"))
        .call()
        .unwrap();
    serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap()
}

/// Waits until the store's totals count `events` events summing to `sum`, then checks
/// they stay so for a while (nothing counted twice arrives late).
fn wait_for_totals(port: u16, events: i64, sum: i64) {
    let url = format!("http://127.0.0.1:{port}/api/query");
    let sql = "SELECT CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(total) AS BIGINT) AS total FROM totals";
    let read = || -> Option<(i64, i64)> {
        let mut answer = ureq::post(&url).send(sql).ok()?;
        let rows: Value = serde_json::from_str(&answer.body_mut().read_to_string().ok()?).ok()?;
        Some((rows[0]["events"].as_i64()?, rows[0]["total"].as_i64()?))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = read();
        if now == Some((events, sum)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "totals {now:?}, expected ({events}, {sum}); job: {}",
            job(port)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(read(), Some((events, sum)), "the totals moved on");
}

fn sum_to(n: i64) -> i64 {
    n * (n - 1) / 2
}

#[test]
fn jobs_submitted_to_the_console_stop_restart_and_survive_a_server_restart_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let created = Command::new(SPATE)
        .arg("--data-dir")
        .arg(&data)
        .args(["log", "create", "events", "--partitions", "2"])
        .status()
        .unwrap();
    assert!(created.success());
    produce(&data, 0, 1000);
    let server = Server::start(&data, port);

    // A job that does not plan is refused with where it fails, and nothing is kept.
    let bad = tmp.path().join("bad.sql");
    std::fs::write(&bad, JOB.replace("FROM events GROUP", "FROM nope GROUP")).unwrap();
    let out = spate(&data, port, &["jobs", "submit", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("SQL:5:"), "{err}");
    assert!(err.contains("nope"), "{err}");
    let file = tmp.path().join("counts.sql");
    std::fs::write(&file, JOB).unwrap();
    let plan = ok(spate(
        &data,
        port,
        &["jobs", "submit", "--dry-run", file.to_str().unwrap()],
    ));
    assert!(plan.contains("OK, 1 INSERT statement(s)"), "{plan}");

    let submitted = ok(spate(
        &data,
        port,
        &["jobs", "submit", file.to_str().unwrap()],
    ));
    assert!(submitted.contains("submitted counts"), "{submitted}");
    let again = spate(&data, port, &["jobs", "submit", file.to_str().unwrap()]);
    assert!(!again.status.success(), "a second job of the same name");
    wait_for_totals(port, 1000, sum_to(1000));
    let list = ok(spate(&data, port, &["jobs", "list"]));
    assert!(
        list.lines().nth(1).unwrap().starts_with("counts  running"),
        "{list}"
    );
    let view = job(port);
    assert_eq!(view["events_in"], 1000, "{view}");
    assert!(
        view["plan"].as_str().unwrap().starts_with("Job "),
        "the plan as `spate sql explain` prints it: {view}"
    );

    // Stop: a final checkpoint, then nothing runs; events written meanwhile wait.
    let stopped = ok(spate(&data, port, &["jobs", "stop", "counts"]));
    assert!(
        stopped.contains("counts Stopped, last checkpoint Some("),
        "{stopped}"
    );
    produce(&data, 1000, 1500);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(job(port)["state"], "stopped");
    wait_for_totals(port, 1000, sum_to(1000));
    // Restart: from that checkpoint, the new events only.
    ok(spate(&data, port, &["jobs", "restart", "counts"]));
    wait_for_totals(port, 1500, sum_to(1500));
    let view = job(port);
    assert_eq!(view["state"], "running", "{view}");
    assert!(view["restored_from"].as_u64().is_some(), "{view}");
    assert_eq!(
        view["events_in"], 500,
        "read again from the checkpoint: {view}"
    );

    // The server stops its jobs with a final checkpoint; the next one runs them again.
    let printed = server.stop();
    assert!(printed.contains("stopping the jobs"), "{printed}");
    produce(&data, 1500, 2100);
    let server = Server::start(&data, port);
    wait_for_totals(port, 2100, sum_to(2100));
    let view = job(port);
    assert_eq!(view["state"], "running", "{view}");
    assert_eq!(view["events_in"], 600, "{view}");
    assert!(view["exceptions"].as_array().unwrap().is_empty(), "{view}");

    // A job stopped by the user stays stopped across a server restart.
    ok(spate(&data, port, &["jobs", "stop", "counts"]));
    server.stop();
    let _server = Server::start(&data, port);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(job(port)["state"], "stopped");
}
