//! The `mqtt` connector against a real broker (`SPATE_TEST_MQTT`, e.g. `127.0.0.1:1883`):
//! a job reading a wildcard filter with the topic column and writing a topic pattern, whose
//! messages are acknowledged only by completed checkpoints (so a job killed before one gets
//! them again); and the fleet job over MQTT into MariaDB (`SPATE_TEST_MYSQL_URL` too). Each
//! test says SKIPPED when its servers are not set, and uses topics of its own process.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The broker's host and port, or `None` (said SKIPPED) when `SPATE_TEST_MQTT` is not set.
fn broker(test: &str) -> Option<(String, u16)> {
    let Ok(broker) = std::env::var("SPATE_TEST_MQTT") else {
        eprintln!("==== SKIPPED: {test}: set SPATE_TEST_MQTT (e.g. 127.0.0.1:1883) ====");
        return None;
    };
    let (host, port) = broker
        .rsplit_once(':')
        .expect("SPATE_TEST_MQTT is host:port");
    Some((host.to_string(), port.parse().expect("a port")))
}

fn spate(data: &Path, args: &[&str]) -> String {
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `spate sql run` child process, killed when dropped (also when the test fails).
struct Job {
    child: Child,
    stderr: Arc<Mutex<String>>,
    subscribed: Receiver<()>,
}

impl Job {
    /// Starts `spate sql run ARGS`, logging the MQTT source's subscription.
    fn start(data: &Path, args: &[&str]) -> Job {
        let mut child = Command::new(SPATE)
            .arg("--data-dir")
            .arg(data)
            .args(["sql", "run"])
            .args(args)
            .env("SPATE_LOG", "warn,spate_connectors::mqtt=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, subscribed) = channel();
        let pipe = child.stderr.take().unwrap();
        {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("MQTT source subscribed") {
                        let _ = tx.send(());
                    }
                    let mut text = stderr.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        Job {
            child,
            stderr,
            subscribed,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `sources` MQTT sources of the job have subscribed; fails if the job ends
    /// first.
    fn await_subscribed(&mut self, sources: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut subscribed = 0;
        loop {
            match self.subscribed.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => {
                    subscribed += 1;
                    if subscribed == sources {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => panic!("the job did not subscribe:\n{}", self.stderr()),
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the job ended ({status}):\n{}", self.stderr());
            }
        }
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

/// A test client subscribed to `filter`, handing over (topic, payload) of what arrives.
struct Subscriber {
    client: rumqttc::Client,
    messages: Receiver<(String, Vec<u8>)>,
    reader: Option<JoinHandle<()>>,
}

impl Subscriber {
    fn new(host: &str, port: u16, id: &str, filter: &str) -> Subscriber {
        let mut options = rumqttc::MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut connection) = rumqttc::Client::new(options, 1000);
        client.subscribe(filter, rumqttc::QoS::AtLeastOnce).unwrap();
        let (tx, messages) = channel();
        let (ready_tx, ready) = channel();
        let reader = std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if tx.send((p.topic, p.payload.to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(e) => panic!("test client: {e}"),
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(10))
            .expect("the test client subscribed");
        Subscriber {
            client,
            messages,
            reader: Some(reader),
        }
    }

    fn publish(&self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_vec())
            .unwrap();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The job of the connector test: `{prefix}/+/in` (with the topic) echoed to
/// `{prefix}/out/{v}`, checkpoints every `interval_ms`.
fn echo_job(dir: &Path, host: &str, port: u16, prefix: &str, interval_ms: u64) -> [String; 5] {
    let job = dir.join("echo.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE readings (id BIGINT, v STRING, topic STRING METADATA FROM 'topic' VIRTUAL)
             WITH ('connector' = 'mqtt', 'hostname' = '{host}', 'port' = '{port}',
                   'topic' = '{prefix}/+/in', 'client-id' = 'spate-test-{pid}-echo',
                   'qos' = '1', 'scan.session' = 'persistent',
                   'scan.session.expiry-interval' = '2 min', 'format' = 'json');
             CREATE TABLE echoed (id BIGINT, v STRING, src STRING)
             WITH ('connector' = 'mqtt', 'hostname' = '{host}', 'port' = '{port}',
                   'topic' = '{prefix}/out/{{v}}', 'qos' = '1', 'format' = 'json');
             INSERT INTO echoed SELECT id, v, topic FROM readings;",
            pid = std::process::id()
        ),
    )
    .unwrap();
    [
        "--checkpoint-dir".into(),
        dir.join("checkpoints").display().to_string(),
        "--checkpoint-interval-ms".into(),
        interval_ms.to_string(),
        job.display().to_string(),
    ]
}

/// Collects the echoes of ids `0..n` (each once, from the right topics) within 30 s.
fn collect_echoes(out: &Subscriber, prefix: &str, n: i64) {
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (seen.len() as i64) < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let (topic, payload) = out
            .messages
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {} of {n} echoes arrived", seen.len()));
        let row: Value = serde_json::from_slice(&payload).unwrap();
        let id = row["id"].as_i64().unwrap();
        let v = row["v"].as_str().unwrap();
        assert_eq!(topic, format!("{prefix}/out/{v}"));
        assert_eq!(v, if id % 2 == 0 { "even" } else { "odd" }, "{row}");
        assert_eq!(row["src"], format!("{prefix}/dev{}/in", id % 5), "{row}");
        assert!(seen.insert(id, topic).is_none(), "id {id} echoed twice");
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
}

#[test]
fn wildcard_source_topic_column_pattern_sink_and_acks_on_checkpoints() {
    let Some((host, port)) = broker("mqtt connector") else {
        return;
    };
    let pid = std::process::id();
    let prefix = format!("spate-test/{pid}/echo");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = Subscriber::new(
        &host,
        port,
        &format!("spate-test-{pid}-client"),
        &format!("{prefix}/out/#"),
    );
    const N: i64 = 50;

    // A job whose checkpoints never complete: it echoes every message, acknowledges none.
    let no_checkpoint = echo_job(tmp.path(), &host, port, &prefix, 3_600_000);
    let args: Vec<&str> = no_checkpoint.iter().map(String::as_str).collect();
    let mut job = Job::start(&data, &args);
    job.await_subscribed(1);
    for id in 0..N {
        let v = if id % 2 == 0 { "even" } else { "odd" };
        out.publish(
            &format!("{prefix}/dev{}/in", id % 5),
            json!({"id": id, "v": v}).to_string().as_bytes(),
        );
    }
    out.publish(&format!("{prefix}/bad/in"), b"{\"id\": \"not a number\"");
    collect_echoes(&out, &prefix, N);
    job.assert_running();
    drop(job);

    // Killed before a checkpoint: the broker delivers every message again to the next run,
    // which acknowledges them once its checkpoints complete.
    let checkpointing = echo_job(tmp.path(), &host, port, &prefix, 200);
    let args: Vec<&str> = checkpointing.iter().map(String::as_str).collect();
    let mut job = Job::start(&data, &args);
    job.await_subscribed(1);
    collect_echoes(&out, &prefix, N);
    std::thread::sleep(Duration::from_secs(3));
    job.assert_running();
    assert!(
        out.messages.try_recv().is_err(),
        "a message was echoed twice in one run"
    );
    drop(job);

    // Acknowledged: a third run gets nothing again.
    let mut job = Job::start(&data, &args);
    job.await_subscribed(1);
    std::thread::sleep(Duration::from_secs(3));
    job.assert_running();
    if let Ok((topic, payload)) = out.messages.try_recv() {
        panic!(
            "acknowledged, yet delivered again: {topic} {}",
            String::from_utf8_lossy(&payload)
        );
    }
    drop(job);

    // The malformed message was dead-lettered by each run that read it, with its topic.
    let letters: Vec<Value> = spate(
        &data,
        &[
            "log",
            "consume",
            "insert-into-echoed.dead-letter",
            "--offset",
            "0",
        ],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        assert_eq!(letter["origin"], format!("mqtt topic {prefix}/bad/in"));
        assert_eq!(letter["payload"], "{\"id\": \"not a number\"");
        assert!(!letter["reason"].as_str().unwrap().is_empty());
    }
}

fn jobs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jobs/fleet")
}

/// Simulates a fleet from `start` at one reading per 10 s into `sink`, labels into `labels`.
fn simulate(data: &Path, sink: &str, labels: &Path, vehicles: &str, duration: &str, seed: &str) {
    spate(
        data,
        &[
            "simulate",
            "fleet",
            "--vehicles",
            vehicles,
            "--rate",
            "0.1",
            "--duration",
            duration,
            "--speedup",
            "max",
            "--faulty",
            "0.5",
            "--fault-onset-within",
            "1h",
            "--fault-progression",
            "1h",
            "--seed",
            seed,
            "--start",
            "2025-06-09T06:00:00Z",
            "--sink",
            sink,
            "--labels",
            labels.to_str().unwrap(),
            "--quiet",
        ],
    );
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `statements` on the MySQL/MariaDB server at `url`.
fn execute(url: &str, statements: &[String]) {
    block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(AssertSqlSafe(s.as_str()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    })
}

/// The (vin, score, model_version) rows of `table`.
fn health_rows(url: &str, table: &str) -> Vec<(String, f64, String)> {
    block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(url).await.unwrap();
        let sql = format!("SELECT vin, score, model_version FROM {table}");
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    })
}

/// The VINs of `telemetry` (NDJSON) with a 5-minute window in which the engine ran a fifth
/// of the time or more, closed well before the last reading (so that the watermark has
/// passed it), and every VIN.
fn vehicles_that_ran(telemetry: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(telemetry).unwrap();
    let mut windows: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    let mut all = BTreeSet::new();
    let mut last = i64::MIN;
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let vin = r["vin"].as_str().unwrap().to_string();
        let ts = r["ts"].as_i64().unwrap();
        last = last.max(ts);
        let w = windows.entry((vin.clone(), ts - ts % 300_000)).or_default();
        w.0 += 1;
        if r["engine_rpm"].as_f64().unwrap() > 0.0 {
            w.1 += 1;
        }
        all.insert(vin);
    }
    // A window ends 5 min after its start; the watermark trails the last reading by 10 s.
    // One more window of margin for readings out of order.
    let ran = windows
        .iter()
        .filter(|((_, start), (readings, running))| {
            start + 2 * 300_000 <= last - 10_000 && running * 5 >= *readings
        })
        .map(|((vin, _), _)| vin.clone())
        .collect();
    (ran, all)
}

#[test]
fn fleet_job_over_mqtt_into_mariadb() {
    let Some((host, port)) = broker("fleet over MQTT") else {
        return;
    };
    let Ok(mysql) = std::env::var("SPATE_TEST_MYSQL_URL") else {
        eprintln!("==== SKIPPED: fleet over MQTT: set SPATE_TEST_MYSQL_URL ====");
        return;
    };
    let pid = std::process::id();
    let prefix = format!("spate-test/{pid}/fleet");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let models = tmp.path().join("models");
    let models = models.to_str().unwrap();

    // A small model.
    let train = tmp.path().join("train.ndjson");
    let train_labels = tmp.path().join("train.labels.ndjson");
    simulate(
        &tmp.path().join("sim"),
        &format!("file://{}", train.display()),
        &train_labels,
        "30",
        "12h",
        "1",
    );
    let trained = spate(
        &data,
        &[
            "model",
            "train",
            "--from",
            train.to_str().unwrap(),
            "--labels",
            train_labels.to_str().unwrap(),
            "--out",
            models,
        ],
    );
    let trained: Value = serde_json::from_str(trained.lines().last().unwrap()).unwrap();
    assert_eq!(trained["version"], "v1");

    // The health table, of this run.
    let table = format!("vehicle_health_mqtt_{pid}");
    let schema = std::fs::read_to_string(jobs().join("mysql-schema.sql"))
        .unwrap()
        .replace("vehicle_health", &table);
    let create = schema[schema.find("CREATE TABLE").expect("a CREATE TABLE")..]
        .trim()
        .trim_end_matches(';')
        .to_string();
    execute(&mysql, &[format!("DROP TABLE IF EXISTS {table}"), create]);
    let _drop_table = DropTable {
        url: mysql.clone(),
        table: table.clone(),
    };

    // The job: telemetry over MQTT under this run's prefix, verdicts into the table.
    let job = tmp.path().join("job");
    std::fs::create_dir_all(&job).unwrap();
    let source = std::fs::read_to_string(jobs().join("source-mqtt.sql"))
        .unwrap()
        .replace(
            "'hostname' = '127.0.0.1'",
            &format!("'hostname' = '{host}'"),
        )
        .replace("'port' = '1883'", &format!("'port' = '{port}'"))
        .replace(
            "'topic' = 'vehicles/+/telemetry'",
            &format!("'topic' = '{prefix}/vehicles/+/telemetry'"),
        )
        .replace(
            "'client-id' = 'spate-fleet-telemetry'",
            &format!(
                "'client-id' = 'spate-test-{pid}-fleet', 'scan.session.expiry-interval' = '2 min'"
            ),
        );
    assert!(source.contains(&prefix), "{source}");
    let sinks = std::fs::read_to_string(jobs().join("sinks-mysql.sql"))
        .unwrap()
        .replace("jdbc:mysql://127.0.0.1:3306/test", &format!("jdbc:{mysql}"))
        .replace(
            "'table-name' = 'vehicle_health'",
            &format!("'table-name' = '{table}'"),
        );
    assert!(sinks.contains(&table), "{sinks}");
    let pipeline = std::fs::read_to_string(jobs().join("pipeline.sql"))
        .unwrap()
        .replace("spate-data/models/engine-anomaly", models)
        .replace(
            "spate-data/archive",
            &tmp.path().join("archive").display().to_string(),
        );
    for (name, text) in [
        ("source-mqtt.sql", &source),
        ("sinks-mysql.sql", &sinks),
        ("pipeline.sql", &pipeline),
    ] {
        std::fs::write(job.join(name), text).unwrap();
    }
    let path = |name: &str| job.join(name).display().to_string();
    let features = jobs().join("features.sql").display().to_string();
    // Checkpoints every second: they acknowledge the readings and flush the health table.
    let checkpoints = tmp.path().join("checkpoints").display().to_string();
    let mut running = Job::start(
        &data,
        &[
            "--init",
            &path("source-mqtt.sql"),
            "--init",
            &features,
            "--init",
            &path("sinks-mysql.sql"),
            &path("pipeline.sql"),
            "--checkpoint-dir",
            &checkpoints,
            "--checkpoint-interval-ms",
            "1000",
        ],
    );
    // Every INSERT of the pipeline reads the telemetry with a subscription of its own.
    running.await_subscribed(pipeline.matches("INSERT INTO").count());

    // The fleet, over MQTT; the same simulation into a file says which vehicles ran.
    let (vehicles, duration, seed) = ("20", "2h", "7");
    simulate(
        &tmp.path().join("sim"),
        &format!("mqtt://{host}:{port}?prefix={prefix}"),
        &tmp.path().join("mqtt.labels.ndjson"),
        vehicles,
        duration,
        seed,
    );
    let replay = tmp.path().join("replay.ndjson");
    simulate(
        &tmp.path().join("sim"),
        &format!("file://{}", replay.display()),
        &tmp.path().join("replay.labels.ndjson"),
        vehicles,
        duration,
        seed,
    );
    let (ran, all) = vehicles_that_ran(&replay);
    assert!(!ran.is_empty(), "no vehicle ran");

    let deadline = Instant::now() + Duration::from_secs(120);
    let rows = loop {
        running.assert_running();
        let rows = health_rows(&mysql, &table);
        let vins: BTreeSet<String> = rows.iter().map(|r| r.0.clone()).collect();
        if ran.is_subset(&vins) {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "{} of the {} vehicles that ran have a verdict:\n{}",
            ran.intersection(&vins).count(),
            ran.len(),
            running.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(running);
    for (vin, score, version) in &rows {
        assert!(all.contains(vin), "{vin} is not of the fleet");
        assert!((0.0..=1.0).contains(score), "{vin}: score {score}");
        assert_eq!(version, "v1", "{vin}");
    }
}

/// Drops the test's table when the test ends, passed or failed.
struct DropTable {
    url: String,
    table: String,
}

impl Drop for DropTable {
    fn drop(&mut self) {
        // Never panics: it may run while the test unwinds.
        let dropped = block_on(async {
            let mut c = AnyConnection::connect(&self.url).await?;
            let sql = format!("DROP TABLE IF EXISTS {}", self.table);
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .execute(&mut c)
                .await
        });
        if let Err(e) = dropped {
            eprintln!("could not drop {}: {e}", self.table);
        }
    }
}
