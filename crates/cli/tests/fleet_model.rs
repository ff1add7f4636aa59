//! The fleet job and the engine anomaly model's lifecycle through the `spate` binary:
//! simulate a fleet, train, evaluate on another fleet, run the streaming job
//! (jobs/fleet/*.sql: every reading archived to Parquet under `dt=…/hour=…/` with `_SUCCESS`
//! files, every running window scored with `ML_PREDICT`), then drift, retrain and promote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

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

/// Parquet rows under `dir`, and the partition directories with a `_SUCCESS` file.
fn archive(dir: &Path, rows: &mut usize, committed: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') {
            archive(&path, rows, committed);
        } else if name == "_SUCCESS" {
            committed.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        } else if name.ends_with(".parquet") {
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                // The partition columns are in the path, not in the file.
                assert!(batch.schema().index_of("dt").is_err());
                assert_eq!(batch.num_columns(), 21);
                *rows += batch.num_rows();
            }
        }
    }
}

fn last_json(out: &str) -> Value {
    serde_json::from_str(out.lines().last().expect("a JSON line")).unwrap()
}

fn jobs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jobs/fleet")
}

/// Simulates 30 vehicles for 12 h from `start` at one reading per 10 s into `sink`, half of
/// them developing a fault within 4 h that is fully developed 2 h later, labels into
/// `labels`; `options` are further `simulate fleet` options (`--drift`, `--faults`).
fn simulate_into(
    data: &Path,
    sink: &str,
    labels: &Path,
    seed: &str,
    start: &str,
    options: &[&str],
) {
    spate(
        data,
        &[
            "simulate",
            "fleet",
            "--vehicles",
            "30",
            "--rate",
            "0.1",
            "--duration",
            "12h",
            "--speedup",
            "max",
            "--faulty",
            "0.5",
            "--fault-onset-within",
            "4h",
            "--fault-progression",
            "2h",
            "--seed",
            seed,
            "--start",
            start,
            "--sink",
            sink,
            "--labels",
            labels.to_str().unwrap(),
            "--quiet",
        ]
        .into_iter()
        .chain(options.iter().copied())
        .collect::<Vec<_>>(),
    );
}

/// [`simulate_into`] an NDJSON file; returns the telemetry and labels files.
fn simulate(dir: &Path, name: &str, seed: &str, start: &str, options: &[&str]) -> (String, String) {
    let telemetry = dir.join(format!("{name}.ndjson"));
    let labels = dir.join(format!("{name}.labels.ndjson"));
    simulate_into(
        &dir.join("sim-data"),
        &format!("file://{}", telemetry.display()),
        &labels,
        seed,
        start,
        options,
    );
    (
        telemetry.display().to_string(),
        labels.display().to_string(),
    )
}

#[test]
fn train_evaluate_score_then_retrain_on_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let models = tmp.path().join("models");
    let models = models.to_str().unwrap();

    let (train, train_labels) = simulate(
        tmp.path(),
        "train",
        "1",
        "2025-06-02T06:00:00Z",
        &["--drift", "0"],
    );
    let trained = last_json(&spate(
        &data,
        &[
            "model",
            "train",
            "--from",
            &train,
            "--labels",
            &train_labels,
            "--out",
            models,
        ],
    ));
    assert_eq!(trained["version"], "v1");
    assert_eq!(trained["live"], true);

    // Another fleet (another seed), the same season.
    let (eval, eval_labels) = simulate(
        tmp.path(),
        "eval",
        "2",
        "2025-06-09T06:00:00Z",
        &["--drift", "0"],
    );
    let report = tmp.path().join("report");
    let scores = tmp.path().join("scores.csv");
    let evaluation = last_json(&spate(
        &data,
        &[
            "model",
            "evaluate",
            "--model",
            models,
            "--from",
            &eval,
            "--labels",
            &eval_labels,
            "--report",
            report.to_str().unwrap(),
            "--scores",
            scores.to_str().unwrap(),
        ],
    ));
    let f1 = evaluation["f1"].as_f64().unwrap();
    let auc = evaluation["roc_auc"].as_f64().unwrap();
    assert!(f1 >= 0.8 && auc >= 0.9, "{evaluation}");
    // Lead times from the first flag and from the first alarm, each split by fault: the
    // faults' vehicles add up to the whole, and the healthy vehicles are counted apart.
    for lead in ["lead_time_hours", "alarm_lead_time_hours"] {
        let vehicles = evaluation[lead]["vehicles"].as_u64().unwrap();
        assert!(vehicles > 0, "{evaluation}");
        let by_fault = evaluation[lead]["by_fault"].as_object().unwrap();
        let sum: u64 = by_fault
            .values()
            .map(|f| f["vehicles"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, vehicles, "{lead}: {evaluation}");
        assert!(
            by_fault
                .keys()
                .all(|k| k.parse::<spate_fleet::FaultKind>().is_ok())
        );
    }
    let healthy = &evaluation["healthy_vehicles"];
    assert!(healthy["vehicles"].as_u64().unwrap() > 0, "{evaluation}");
    assert!(healthy["alarmed"].as_u64() <= healthy["flagged"].as_u64());
    let roc = std::fs::read_to_string(report.join("roc.svg")).unwrap();
    assert!(roc.starts_with("<svg") || roc.starts_with("<?xml"), "{roc}");

    // The streaming job scores the evaluation fleet's telemetry, sent again into the log, with
    // the live model.
    simulate_into(
        &data,
        "log://telemetry",
        &tmp.path().join("log.labels.ndjson"),
        "2",
        "2025-06-09T06:00:00Z",
        &["--drift", "0"],
    );
    // Two readings no sensor can send: a coolant at 300 °C, and one without its rpm.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&eval)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let mut hot = first.clone();
    hot["coolant_temp_c"] = 300.into();
    let mut no_rpm = first.clone();
    no_rpm.as_object_mut().unwrap().remove("engine_rpm");
    let mut produce = Command::new(SPATE)
        .arg("--data-dir")
        .arg(&data)
        .args(["log", "produce", "telemetry", "--key-field", "vin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = produce.stdin.take().unwrap();
        writeln!(stdin, "{hot}\n{no_rpm}").unwrap();
    }
    assert!(produce.wait().unwrap().success());

    let pipeline = std::fs::read_to_string(jobs().join("pipeline.sql"))
        .unwrap()
        .replace("spate-data/models/engine-anomaly", models)
        .replace(
            "spate-data/archive",
            &tmp.path().join("archive").display().to_string(),
        );
    let source = std::fs::read_to_string(jobs().join("source.sql"))
        .unwrap()
        .replace(
            "'scan.startup.mode' = 'earliest-offset'",
            "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'",
        );
    let job = tmp.path().join("job");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(job.join("source.sql"), source).unwrap();
    std::fs::write(job.join("pipeline.sql"), pipeline).unwrap();
    spate(
        &data,
        &[
            "sql",
            "run",
            "--init",
            job.join("source.sql").to_str().unwrap(),
            "--init",
            jobs().join("features.sql").to_str().unwrap(),
            "--init",
            jobs().join("sinks-log.sql").to_str().unwrap(),
            job.join("pipeline.sql").to_str().unwrap(),
        ],
    );
    let rejects: Vec<Value> = spate(
        &data,
        &["log", "consume", "telemetry-rejects", "--offset", "0"],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let mut problems: Vec<&str> = rejects
        .iter()
        .map(|r| r["problem"].as_str().unwrap())
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            "coolant_temp_c out of range (-40 to 215 °C)",
            "missing engine_rpm"
        ]
    );

    let (mut rows, mut committed) = (0, Vec::new());
    archive(&tmp.path().join("archive"), &mut rows, &mut committed);
    assert_eq!(
        rows,
        30 * 4_320 + 2,
        "every reading archived once, the rejected too"
    );
    committed.sort();
    // 06:00 to 18:00, and the last readings, offset within their 10 s, just past 18:00.
    let hours: Vec<String> = (6..=18).map(|h| format!("hour={h:02}")).collect();
    assert_eq!(committed, hours);

    let health: Vec<Value> = spate(
        &data,
        &["log", "consume", "vehicle-health", "--offset", "0"],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert!(health.len() > 100, "{} health rows", health.len());
    // `evaluate --scores`: vin, window_end, truth, fault, severity, score, health_score.
    let evaluated_health: std::collections::HashMap<(String, i64), f64> =
        std::fs::read_to_string(&scores)
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let key = (fields[0].to_string(), fields[1].parse().unwrap());
                (key, fields[6].parse().unwrap())
            })
            .collect();
    assert_eq!(evaluated_health.len(), health.len(), "the same windows");
    let flagged = health.iter().filter(|h| h["anomalous"] == true).count();
    assert!(
        flagged > 0 && flagged < health.len(),
        "{flagged} of {}",
        health.len()
    );
    let mut windows: Vec<(String, String)> = health
        .iter()
        .map(|h| (h["vin"].to_string(), h["window_start"].to_string()))
        .collect();
    windows.sort();
    windows.dedup();
    assert_eq!(
        windows.len(),
        health.len(),
        "one row per vehicle and window"
    );
    for h in &health {
        assert_eq!(h["model_version"], "v1", "{h}");
        // Scored windows are those where the engine ran a fifth of the time or more.
        assert!(h["running"].as_u64().unwrap() * 5 >= h["readings"].as_u64().unwrap());
        let volts = h["voltage_mean"].as_f64().unwrap();
        assert!((11.0..15.5).contains(&volts), "{h}");
        let score = h["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{h}");
        // The job's health score is the one `evaluate` computed for the same window.
        let end = chrono::NaiveDateTime::parse_from_str(
            h["window_end"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S%.f",
        )
        .unwrap()
        .and_utc()
        .timestamp_millis();
        let evaluated = evaluated_health[&(h["vin"].as_str().unwrap().to_string(), end)];
        assert!((score - evaluated).abs() < 1e-9, "{evaluated}: {h}");
        assert_eq!(
            h["top_signals"].as_str().unwrap().split(", ").count(),
            3,
            "{h}"
        );
    }

    // The same job into the serving store (jobs/fleet/sinks-store.sql): one row per vehicle,
    // its latest scored window.
    let pipeline_to_store = job.join("pipeline-store.sql");
    std::fs::write(
        &pipeline_to_store,
        std::fs::read_to_string(job.join("pipeline.sql"))
            .unwrap()
            .replace(
                &tmp.path().join("archive").display().to_string(),
                &tmp.path().join("archive-2").display().to_string(),
            ),
    )
    .unwrap();
    spate(
        &data,
        &[
            "sql",
            "run",
            "--init",
            job.join("source.sql").to_str().unwrap(),
            "--init",
            jobs().join("features.sql").to_str().unwrap(),
            "--init",
            jobs().join("sinks-store.sql").to_str().unwrap(),
            pipeline_to_store.to_str().unwrap(),
        ],
    );
    // Each vehicle's latest window in the log (its times are text of one format, in order).
    let mut latest: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for h in &health {
        let end = h["window_end"].to_string();
        let entry = latest
            .entry(h["vin"].as_str().unwrap().to_string())
            .or_insert((String::new(), 0.0));
        if end > entry.0 {
            *entry = (end, h["score"].as_f64().unwrap());
        }
    }
    let latest: BTreeMap<String, f64> = latest.into_iter().map(|(v, (_, s))| (v, s)).collect();
    let stored: Vec<Value> = serde_json::from_str(&spate(
        &data,
        &[
            "query",
            "--format",
            "json",
            "SELECT vin, score FROM vehicle_health",
        ],
    ))
    .unwrap();
    let stored: BTreeMap<String, f64> = stored
        .iter()
        .map(|r| {
            (
                r["vin"].as_str().unwrap().to_string(),
                r["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stored, latest,
        "the store holds each vehicle's latest verdict"
    );
    let rejected: Vec<Value> = serde_json::from_str(&spate(
        &data,
        &[
            "query",
            "--format",
            "json",
            "SELECT problem FROM telemetry_rejects",
        ],
    ))
    .unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");

    // Drift measured on the archive's newest two hours of event time only (17:00 to past
    // 18:00) is another measurement than over the whole day.
    let archived = tmp.path().join("archive").display().to_string();
    let whole = last_json(&spate(
        &data,
        &["model", "drift", "--registry", models, "--from", &archived],
    ));
    let newest = last_json(&spate(
        &data,
        &[
            "model",
            "drift",
            "--registry",
            models,
            "--from",
            &archived,
            "--drift-window",
            "2h",
        ],
    ));
    let windows = |report: &Value| report["features"][0]["recent_n"].as_u64().unwrap();
    assert!(
        windows(&newest) * 3 < windows(&whole),
        "two of thirteen hours: {newest} against {whole}"
    );

    // Winter, an aged fleet and a new model, and thermostats stuck open, which summer heat
    // hides (a healthy one opens as far) and the cold shows: the features drift, a challenger
    // is trained on the new data and promoted when it beats v1 there.
    let (drifted, drifted_labels) = simulate(
        tmp.path(),
        "winter",
        "3",
        "2025-12-15T06:00:00Z",
        &["--drift", "30", "--faults", "thermostat-stuck-open"],
    );
    let drift = last_json(&spate(
        &data,
        &["model", "drift", "--registry", models, "--from", &drifted],
    ));
    assert_eq!(drift["drifted"], true, "{drift}");
    let retrained = last_json(&spate(
        &data,
        &[
            "model",
            "retrain",
            "--registry",
            models,
            "--from",
            &drifted,
            "--labels",
            &drifted_labels,
        ],
    ));
    assert_eq!(retrained["challenger"], "v2", "{retrained}");
    assert_eq!(retrained["action"], "promote", "{retrained}");
    let list: Vec<Value> = spate(&data, &["model", "list", "--registry", models])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["live"], true, "{list:?}");
    let decisions = std::fs::read_to_string(Path::new(models).join("decisions.ndjson")).unwrap();
    let decisions: Vec<Value> = decisions
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert!(
        decisions[1]["reason"]
            .as_str()
            .unwrap()
            .contains("drift in"),
        "{decisions:?}"
    );

    // Watching: the first check reads the telemetry (and may train a challenger); later
    // checks find it unchanged and keep the live model without training again; a check that
    // fails says so and the watch goes on; SIGTERM ends it cleanly.
    // Runs a watch until it has printed three checks, then stops it with SIGTERM.
    let watch = |from: &str| -> Vec<Value> {
        let child = Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["model", "retrain", "--registry", models, "--from", from])
            .args(["--labels", &drifted_labels, "--every", "300ms"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Child(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let _ = tx.send(serde_json::from_str::<Value>(&line.unwrap()).unwrap());
            }
        });
        let mut checks = Vec::new();
        while checks.len() < 3 {
            match rx.recv_timeout(std::time::Duration::from_secs(120)) {
                Ok(check) => checks.push(check),
                Err(e) => panic!("the watch printed {checks:?}, then {e}"),
            }
        }
        let term = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = child.0.wait().unwrap();
        assert!(status.success(), "the watch ended with {status}");
        reader.join().unwrap();
        checks.extend(rx.try_iter());
        checks
    };
    let checks = watch(&drifted);
    assert_ne!(checks[0]["action"], "error", "{}", checks[0]);
    for check in &checks[1..] {
        assert_eq!(check["action"], "keep", "{check}");
        assert_eq!(check["reason"], "no new telemetry since the last check");
    }
    let missing = tmp.path().join("no-such-archive").display().to_string();
    let failed = watch(&missing);
    for check in &failed {
        assert_eq!(check["action"], "error", "{check}");
        assert!(
            check["reason"]
                .as_str()
                .unwrap()
                .contains("no-such-archive"),
            "{check}"
        );
    }
}

/// A child process killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 200 ms until it holds, for at most `seconds`.
fn wait_for(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The model versions of the health rows so far (none before the job creates the topic).
fn health_versions(data: &Path) -> Vec<String> {
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(["log", "consume", "vehicle-health", "--offset", "0"])
        .output()
        .unwrap();
    if !out.status.success() {
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(error.contains("unknown topic"), "{error}");
        return Vec::new();
    }
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["model_version"].to_string())
        .collect()
}

#[test]
fn a_promoted_model_is_swapped_into_the_running_job_and_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let models = tmp.path().join("models");
    let models = models.to_str().unwrap();
    let (train, labels) = simulate(
        tmp.path(),
        "train",
        "1",
        "2025-06-02T06:00:00Z",
        &["--drift", "0"],
    );
    let train_args = |seed: &'static str, promote: bool| {
        let mut args = vec![
            "model", "train", "--from", &train, "--labels", &labels, "--out", models, "--seed",
            seed,
        ];
        if promote {
            args.push("--promote");
        }
        args
    };
    spate(&data, &train_args("1", false));

    // The model server, on a port of its own choosing.
    let mut server = Child(
        Command::new(SPATE)
            .args([
                "model",
                "serve",
                "--registry",
                models,
                "--listen",
                "127.0.0.1:0",
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut banner = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stderr.take().unwrap()),
        &mut banner,
    )
    .unwrap();
    let predict = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    let health = predict.replace("/v1/predict", "/healthz");
    let live_version = || -> String {
        let answer = ureq::get(&health)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answer["model_version"].as_str().unwrap().to_string()
    };
    assert_eq!(live_version(), "v1");

    // The job runs on, reading the log as telemetry arrives.
    let job = tmp.path().join("pipeline.sql");
    std::fs::write(
        &job,
        std::fs::read_to_string(jobs().join("pipeline.sql"))
            .unwrap()
            .replace("spate-data/models/engine-anomaly", models)
            .replace(
                "spate-data/archive",
                &tmp.path().join("archive").display().to_string(),
            ),
    )
    .unwrap();
    let init = |file: &str| jobs().join(file).display().to_string();
    let (source, features, sinks) = (
        init("source.sql"),
        init("features.sql"),
        init("sinks-log.sql"),
    );
    simulate_into(
        &data,
        "log://telemetry",
        &tmp.path().join("first.labels.ndjson"),
        "2",
        "2025-06-09T06:00:00Z",
        &["--drift", "0"],
    );
    let _job = Child(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "sql", "run", "--init", &source, "--init", &features, "--init", &sinks,
            ])
            .arg(&job)
            .args(["--checkpoint-dir"])
            .arg(tmp.path().join("checkpoints"))
            .args(["--checkpoint-interval-ms", "500"])
            .spawn()
            .unwrap(),
    );
    wait_for(120, "health rows from v1", || {
        !health_versions(&data).is_empty()
    });
    let before = health_versions(&data).len();
    assert!(health_versions(&data).iter().all(|v| v == "\"v1\""));

    spate(&data, &train_args("2", true));
    wait_for(10, "the server to serve v2", || live_version() == "v2");
    let answer = ureq::post(&predict)
        .header("Content-Type", "application/json")
        .send(r#"{"rows": [{"coolant_mean": 60.0, "coolant_max": 65}, {"voltage_min": 12.1}]}"#)
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["model_version"], "v2");
    assert_eq!(answer["predictions"].as_array().unwrap().len(), 2);

    // A second day of telemetry: scored by v2, without the job restarting.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    simulate_into(
        &data,
        "log://telemetry",
        &tmp.path().join("second.labels.ndjson"),
        "2",
        "2025-06-10T06:00:00Z",
        &["--drift", "0"],
    );
    wait_for(120, "health rows from v2", || {
        health_versions(&data).iter().any(|v| v == "\"v2\"")
    });
    assert!(health_versions(&data).len() > before);
}
