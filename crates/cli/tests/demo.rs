//! `spate demo` through the binary: every pipeline of both applications in one process, the
//! live tables queried over HTTP and psql while it runs, a clean stop on SIGTERM and a resume
//! from the data directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use spate_testkit::free_port;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The demo, stopped with SIGTERM when dropped.
struct Demo(Child);

impl Demo {
    fn start(data: &Path, ports: [u16; 2]) -> Demo {
        Demo::start_with(data, ports, &[])
    }

    /// The demo with more options.
    fn start_with(data: &Path, ports: [u16; 2], options: &[&str]) -> Demo {
        let [listen, pg] = ports.map(|p| format!("127.0.0.1:{p}"));
        Demo(
            Command::new(SPATE)
                .arg("--data-dir")
                .arg(data)
                .args(["demo", "--vehicles", "50", "--fleet-speedup", "30"])
                .args(["--listen", &listen, "--pg-listen", &pg])
                .args(options)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    /// Sends SIGTERM and returns the exit status and what the demo printed.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status = self.0.wait().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(self.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        (status, out)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Rows of `sql` over the demo's HTTP API, or `None` while it does not answer them.
fn query(listen: u16, sql: &str) -> Option<Vec<Value>> {
    let url = format!("http://127.0.0.1:{listen}/api/query");
    let mut answer = ureq::post(&url).send(sql).ok()?;
    serde_json::from_str(&answer.body_mut().read_to_string().ok()?).ok()
}

/// Polls `sql` (a single `n` column) until it is positive, for at most `seconds`.
fn wait_for_rows(listen: u16, sql: &str, seconds: u64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(rows) = query(listen, sql)
            && let Some(n) = rows.first().and_then(|r| r["n"].as_i64())
            && n > 0
        {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no rows from {sql} in {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_demo_runs_both_applications_serves_their_tables_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("spate-data");
    let ports = [free_port(), free_port()];
    let demo = Demo::start(&data, ports);
    // Ready once every part runs: each job has opened its table.
    let deadline = Instant::now() + Duration::from_secs(240);
    let health = loop {
        let url = format!("http://127.0.0.1:{}/healthz", ports[0]);
        if let Ok(mut answer) = ureq::get(&url).call() {
            break serde_json::from_str::<Value>(&answer.body_mut().read_to_string().unwrap())
                .unwrap();
        }
        assert!(Instant::now() < deadline, "/healthz never answered 200");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(health["ready"], true, "{health}");
    let parts = health["parts"].as_object().unwrap();
    for part in [
        "privacy API",
        "collector",
        "job api-analytics",
        "load generator",
        "fleet simulator",
        "job fleet-scoring",
    ] {
        assert_eq!(parts[part], "running", "{health}");
    }
    // The shipped jobs are the console's, and the pages are served on the same address.
    let get = |path: &str| {
        let mut answer = ureq::get(format!("http://127.0.0.1:{}{path}", ports[0]))
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        answer.body_mut().read_to_string().unwrap()
    };
    let jobs: Value = serde_json::from_str(&get("/api/jobs")).unwrap();
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["API analytics", "Fleet scoring"], "{jobs}");
    for path in ["/console", "/dashboard/pipeline", "/dashboard/api", "/"] {
        assert!(get(path).contains("<html"), "{path}");
    }
    // The fleet model's registry: the version trained on the first start is live.
    let model: Value = serde_json::from_str(&get("/api/model")).unwrap();
    assert_eq!(model["live"], 1, "{model}");
    assert_eq!(model["versions"][0]["version"], 1, "{model}");
    assert!(
        model["versions"][0]["f1"].as_f64().unwrap() > 0.5,
        "{model}"
    );
    // The privacy API answers there too: an upload without a key is refused.
    let mut blur = ureq::post(format!("http://127.0.0.1:{}/v1/privacy/blur", ports[0]))
        .config()
        .http_status_as_error(false)
        .build()
        .send(&b"not an image"[..])
        .unwrap();
    assert_eq!(
        blur.status(),
        401,
        "{}",
        blur.body_mut().read_to_string().unwrap()
    );
    let metrics = wait_for_rows(
        ports[0],
        "SELECT SUM(requests) AS n FROM api_metrics_10s",
        240,
    );
    let vehicles = wait_for_rows(ports[0], "SELECT COUNT(*) AS n FROM vehicle_health", 240);
    assert!(vehicles <= 50, "one row per vehicle: {vehicles}");
    screenshots(ports[0]);
    // The same tables over PostgreSQL's wire protocol, with the demo's password.
    if Path::new("/usr/bin/psql").exists() {
        let out = Command::new("psql")
            .env("PGPASSWORD", "spate")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &ports[1].to_string(),
                "-U",
                "spate",
                "-At",
            ])
            .args(["-c", "SELECT COUNT(*) FROM vehicle_health"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(n >= vehicles, "psql sees {n} vehicles");
    } else {
        eprintln!("SKIPPED the psql part: /usr/bin/psql is missing");
    }
    let (status, printed) = demo.stop();
    assert!(status.success(), "the demo ended with {status}: {printed}");
    assert!(
        printed.contains("training the fleet's first anomaly model"),
        "{printed}"
    );
    assert!(printed.contains(&format!("http://127.0.0.1:{}/dashboard/", ports[0])));

    // Again from the same data directory: the model is there, the tables too.
    let demo = Demo::start(&data, ports);
    let again = wait_for_rows(
        ports[0],
        "SELECT SUM(requests) AS n FROM api_metrics_10s",
        120,
    );
    assert!(
        again >= metrics,
        "{again} requests after the restart, {metrics} before"
    );
    let (status, printed) = demo.stop();
    assert!(status.success(), "{printed}");
    assert!(!printed.contains("training"), "{printed}");
}

/// The three dashboards and the job console of the running demo in headless Chromium, each
/// drawn with live data; the screenshots are kept in `$CARGO_TARGET_TMPDIR/artifacts/demo-*.png`.
fn screenshots(listen: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let Some(browser) = spate_testkit::Browser::start().await else {
            return;
        };
        let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let base = format!("http://127.0.0.1:{listen}");
        for (page, drawn) in [
            (
                "/dashboard/api",
                "document.querySelectorAll('tr.endpoint').length > 0 \
                 && document.querySelectorAll('path.line').length > 0",
            ),
            (
                "/dashboard/fleet",
                "document.querySelectorAll('circle.vehicle').length > 0 \
                 && document.getElementById('live-version').textContent == 'v1'",
            ),
            (
                "/dashboard/pipeline",
                "document.querySelectorAll('.job-card').length == 2 \
                 && !document.body.textContent.includes('no jobs')",
            ),
            (
                "/console",
                "document.querySelectorAll('tr.job').length == 2 \
                 && [...document.querySelectorAll('tr.job td.state')]\
                    .every((td) => td.textContent.includes('running'))",
            ),
        ] {
            browser.open(&format!("{base}{page}"), drawn, 120).await;
            let name = page.trim_start_matches('/').replace('/', "-");
            browser
                .screenshot(&artifacts.join(format!("demo-{name}.png")))
                .await;
        }
        browser.close().await;
    });
}

/// `SPATE_TEST_<name>`, or `None` with a notice.
fn server(name: &str) -> Option<String> {
    match std::env::var(format!("SPATE_TEST_{name}")) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("SKIPPED: the demo on real infrastructure: set SPATE_TEST_{name}");
            None
        }
    }
}

/// With `--kafka`, `--postgres` and `--mysql`: the access log and the telemetry go through
/// Kafka, and the results reach PostgreSQL and MySQL as well as the store.
#[test]
fn the_demo_runs_on_kafka_postgresql_and_mysql() {
    let (Some(kafka), Some(postgres), Some(mysql)) =
        (server("KAFKA"), server("POSTGRES_URL"), server("MYSQL_URL"))
    else {
        return;
    };
    // Windows of this run only: the tables may hold earlier runs' rows.
    let started = (chrono::Utc::now() - chrono::Duration::seconds(5))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let demo = Demo::start_with(
        &tmp.path().join("spate-data"),
        ports,
        &[
            "--kafka",
            &kafka,
            "--postgres",
            &postgres,
            "--mysql",
            &mysql,
        ],
    );
    wait_for_rows(
        ports[0],
        "SELECT SUM(requests) AS n FROM api_metrics_10s",
        240,
    );
    wait_for_rows(ports[0], "SELECT COUNT(*) AS n FROM vehicle_health", 240);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection as _;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut pg = sqlx::PgConnection::connect(&postgres).await.unwrap();
        let mut my = sqlx::MySqlConnection::connect(&mysql).await.unwrap();
        loop {
            let requests: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(SUM(requests) AS BIGINT) FROM api_metrics_10s \
                 WHERE window_start >= '{started}'"
            )))
            .fetch_one(&mut pg)
            .await
            .unwrap();
            let vehicles: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM vehicle_health WHERE window_end >= '{started}'"
            )))
            .fetch_one(&mut my)
            .await
            .unwrap();
            if requests.unwrap_or(0) > 0 && vehicles > 0 {
                assert!(vehicles <= 50, "one row per vehicle: {vehicles}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL has {requests:?} requests, MySQL {vehicles} vehicles since the start"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let (status, printed) = demo.stop();
    assert!(status.success(), "{printed}");
    assert!(
        printed.contains(&format!("Kafka:        {kafka}")),
        "{printed}"
    );
}
