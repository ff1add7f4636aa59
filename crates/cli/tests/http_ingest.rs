//! HTTP ingest (`'connector' = 'http'`) through real `spate sql run` jobs, with ureq as the
//! client: answers and dead letters for good, bad and refused bodies; acknowledged events
//! surviving `kill -9` and reaching an exactly-once sink once; `429` with `Retry-After` while
//! a job is held back by its sink, and `200` again once it catches up. Spate is the server
//! here, so no outside one is needed; each test listens on a free port of 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::committed_rows;
use serde_json::Value;
use spate_testkit::free_port;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// A `spate sql run` child process, killed (SIGKILL) when dropped.
struct Job {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Job {
    /// Starts `spate sql run JOB ARGS` with standard output going to `stdout`.
    fn start(data: &Path, job: &Path, args: &[&str], stdout: Stdio) -> Job {
        let mut child = Command::new(SPATE)
            .arg("--data-dir")
            .arg(data)
            .args(["sql", "run"])
            .arg(job)
            .args(args)
            .env("SPATE_LOG", "warn,spate_connectors::http=info")
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let text = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Job { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Fails if the job has ended.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the job ended ({status}):\n{}", self.stderr());
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, `Retry-After`, JSON body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// The test's HTTP client of one table.
struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(port: u16, path: &str) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            url: format!("http://127.0.0.1:{port}{path}"),
        }
    }

    fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.body_mut().read_to_string().unwrap();
        Answer {
            status: response.status().as_u16(),
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    fn post(&self, content_type: &str, body: &str) -> Answer {
        Self::answer(
            self.agent
                .post(&self.url)
                .header("Content-Type", content_type)
                .send(body)
                .unwrap(),
        )
    }

    fn post_events(&self, body: &str) -> Answer {
        self.post("application/x-ndjson", body)
    }

    /// `GET` on `path` (the table's own when `None`), or `None` while nothing listens.
    fn get(&self, path: Option<&str>) -> Option<Answer> {
        let url = match path {
            Some(path) => format!("{}{path}", self.url.rsplit_once('/').unwrap().0),
            None => self.url.clone(),
        };
        self.agent.get(&url).call().ok().map(Self::answer)
    }

    /// Waits until `GET` says `status` (ready, backpressure), failing if the job ends first.
    fn await_status(&self, job: &mut Job, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            job.assert_running();
            if let Some(answer) = self.get(None)
                && answer.body["status"] == status
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the listener never said {status}:\n{}",
                job.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// NDJSON payments with the given ids.
fn payments(ids: Range<u64>) -> String {
    ids.map(|id| {
        format!(
            "{{\"id\":{id},\"account\":\"acct-{}\",\"amount\":{}.5}}\n",
            id % 7,
            id % 100
        )
    })
    .collect()
}

/// The ids in the committed rows of the sink directory, in order, duplicates kept.
fn committed_ids(out: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = committed_rows(out)
        .iter()
        .map(|row| {
            serde_json::from_str::<Value>(row).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn acknowledged_events_survive_kill_minus_nine_and_reach_the_sink_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out, checkpoints) = (
        dir.path().join("data"),
        dir.path().join("out"),
        dir.path().join("checkpoints"),
    );
    let port = free_port();
    let job = dir.path().join("payments.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE payments (id BIGINT, account STRING, amount DOUBLE)
             WITH ('connector' = 'http', 'port' = '{port}', 'path' = '/payments',
                   'format' = 'json', 'request.max-body-size' = '256kb');
             CREATE TABLE paid (id BIGINT, account STRING, amount DOUBLE)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
             INSERT INTO paid SELECT id, account, amount FROM payments;",
            out.display()
        ),
    )
    .unwrap();
    let args = [
        "--parallelism",
        "2",
        "--checkpoint-dir",
        checkpoints.to_str().unwrap(),
        "--checkpoint-interval-ms",
        "300",
    ];
    let client = Client::new(port, "/payments");
    let mut first = Job::start(&data, &job, &args, Stdio::null());
    client.await_status(&mut first, "ready");
    let ready = client.get(None).unwrap();
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["topic"], "http.payments");
    assert_eq!(ready.body["partitions"], 2);

    // Good lines are taken, bad ones dead-lettered with their line numbers.
    let body = format!(
        "{}{{\"id\":\"fifty\"}}\n{}not json\n",
        payments(0..50),
        payments(50..100)
    );
    let answer = client.post_events(&body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["accepted"], 100);
    assert_eq!(answer.body["rejected"], 2);
    let lines: Vec<u64> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![51, 102]);

    // Bodies refused whole.
    let wrong_type = client.post("text/csv", "id\n1\n");
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.body);
    assert!(
        wrong_type.body["error"]
            .as_str()
            .unwrap()
            .contains("text/csv")
    );
    let csv = client.post_events("id,account\n1,a\n");
    assert_eq!(csv.status, 400, "{}", csv.body);
    assert!(
        csv.body["error"]
            .as_str()
            .unwrap()
            .contains("not NDJSON: line 1"),
        "{}",
        csv.body
    );
    assert_eq!(client.post_events("\n\r\n").status, 400);
    let large = client.post_events(&payments(0..10_000));
    assert_eq!(large.status, 413, "{}", large.body);
    assert_eq!(client.get(Some("/elsewhere")).unwrap().status, 404);
    let all_bad = client.post_events("{\"id\":[1]}\n");
    assert_eq!(all_bad.status, 422, "{}", all_bad.body);
    assert_eq!(all_bad.body["rejected"], 1);

    // More batches, then kill -9 right after the last acknowledgement: some of what was
    // acknowledged is not covered by a checkpoint yet.
    for batch in 1..20u64 {
        first.assert_running();
        let answer = client.post_events(&payments(batch * 100..(batch + 1) * 100));
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["accepted"], 100);
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let before_restart = committed_ids(&out).len();

    let mut second = Job::start(&data, &job, &args, Stdio::null());
    client.await_status(&mut second, "ready");
    let answer = client.post_events(&payments(2_000..2_100));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_ids(&out).len() < 2_100 {
        second.assert_running();
        assert!(
            Instant::now() < deadline,
            "{} of 2100 events committed:\n{}",
            committed_ids(&out).len(),
            second.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A few more checkpoints: nothing is committed twice.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(committed_ids(&out), (0..2_100).collect::<Vec<_>>());
    assert!(
        before_restart < 2_000,
        "every event was committed before the kill ({before_restart}): the restart proved nothing"
    );
    drop(second);

    // Each bad line was dead-lettered once, naming its line and client.
    let consumed = Command::new(SPATE)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "log",
            "consume",
            "insert-into-paid.dead-letter",
            "--offset",
            "0",
        ])
        .output()
        .unwrap();
    assert!(consumed.status.success());
    let letters: Vec<Value> = String::from_utf8(consumed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 3, "{letters:?}");
    for (letter, line) in letters.iter().zip([51, 102, 1]) {
        let origin = letter["origin"].as_str().unwrap();
        assert!(
            origin.starts_with("http POST /payments from 127.0.0.1:")
                && origin.ends_with(&format!(", line {line}")),
            "{letters:?}"
        );
    }
    assert_eq!(letters[0]["payload"], "{\"id\":\"fifty\"}");
    assert_eq!(letters[1]["payload"], "not json");
}

#[test]
fn a_job_held_back_by_its_sink_gets_429_until_it_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let job = dir.path().join("print.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE payments (id BIGINT, account STRING, amount DOUBLE)
             WITH ('connector' = 'http', 'port' = '{port}', 'format' = 'json',
                   'backpressure.max-lag' = '1000', 'backpressure.retry-after' = '2 s');
             CREATE TABLE shown (id BIGINT, account STRING, amount DOUBLE)
             WITH ('connector' = 'print');
             INSERT INTO shown SELECT * FROM payments;"
        ),
    )
    .unwrap();
    // Nobody reads the job's standard output until later: once the pipe is full, the print
    // sink blocks, the job stops reading the topic, and the lag grows with each batch.
    let mut job = Job::start(&dir.path().join("data"), &job, &[], Stdio::piped());
    let client = Client::new(port, "/");
    client.await_status(&mut job, "ready");
    let mut throttled = None;
    for batch in 0..500u64 {
        let answer = client.post_events(&payments(batch * 1_000..(batch + 1) * 1_000));
        if answer.status == 429 {
            throttled = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let throttled = throttled.expect("the job was held back, yet no request got 429");
    assert_eq!(throttled.retry_after.as_deref(), Some("2"));
    assert!(
        throttled.body["lag"].as_u64().unwrap() > 1_000,
        "{}",
        throttled.body
    );
    assert_eq!(throttled.body["max_lag"], 1_000);
    // The listener's status says so while the lag is past the bound. The job may still move
    // some of the topic into its buffers after a 429, taking the lag below the bound again;
    // batches are then taken until its buffers are full and the lag stays past it.
    let mut status = client.get(None).unwrap();
    for batch in 500..1_000u64 {
        if status.status == 503 {
            break;
        }
        client.post_events(&payments(batch * 1_000..(batch + 1) * 1_000));
        status = client.get(None).unwrap();
    }
    assert_eq!(status.status, 503, "{}", status.body);
    assert_eq!(status.body["status"], "backpressure");
    assert!(status.body["throttled"].as_u64().unwrap() >= 1);

    // Reading the output lets the job catch up, and requests are taken again.
    let mut stdout = job.child.stdout.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    client.await_status(&mut job, "ready");
    let answer = client.post_events(&payments(0..10));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn a_port_already_taken_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let job = dir.path().join("taken.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE payments (id BIGINT) WITH ('connector' = 'http', 'port' = '{port}',
                                                    'format' = 'json');
             CREATE TABLE shown (id BIGINT) WITH ('connector' = 'blackhole');
             INSERT INTO shown SELECT * FROM payments;"
        ),
    )
    .unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["sql", "run"])
        .arg(&job)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "table payments: cannot listen on 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}
