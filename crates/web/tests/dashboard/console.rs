//! The job console (`/console`) and the pipeline dashboard (`/dashboard/pipeline`) over an
//! in-memory [`JobService`] whose counters move on every `list()`: its REST API over plain
//! HTTP, and both pages drawn and clicked in a real headless Chromium.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fantoccini::Locator;
use serde_json::{Value, json};
use spate_store::Store;
use spate_web::{
    CheckpointView, ExceptionView, JobCheck, JobService, JobServiceError, JobState, JobView,
    Server, ServerConfig,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::{artifact, now_ms, pixels_of};
use spate_testkit::Browser;

/// The failed job's exceptions, newest first.
const NEWEST_EXCEPTION: &str = "division by zero in `amount / items` (payments_enriched, row 1204)";
const OLDER_EXCEPTION: &str = "task 2 of 4 lost its connection to the broker";
/// What the fake says of SQL naming the table `nope`.
const UNKNOWN_TABLE: &str = "2:8: unknown table `nope`";

/// The tables after each `INSERT INTO` and each `FROM` of `sql`, in order.
fn names_after(sql: &str, keyword: &[&str]) -> Vec<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    words
        .windows(keyword.len() + 1)
        .filter(|w| {
            w[..keyword.len()]
                .iter()
                .zip(keyword)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        })
        .map(|w| {
            w[keyword.len()]
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                .to_string()
        })
        .collect()
}

/// The fake's check: `sql`'s INSERT statements and a plan naming their sinks and sources.
fn plan_of(sql: &str) -> Result<JobCheck, JobServiceError> {
    if sql.contains("nope") {
        return Err(JobServiceError::Invalid(UNKNOWN_TABLE.into()));
    }
    let sinks = names_after(sql, &["INSERT", "INTO"]);
    if sinks.is_empty() {
        return Err(JobServiceError::Invalid(
            "1:1: no INSERT INTO statement: a job writes somewhere".into(),
        ));
    }
    let sources = names_after(sql, &["FROM"]);
    let plan = sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| {
            let source = sources.get(i).map_or("values", String::as_str);
            format!("Sink({sink}) parallelism=2\n  Calc\n    Source({source}) parallelism=2\n")
        })
        .collect();
    Ok(JobCheck {
        inserts: sinks.len(),
        plan,
    })
}

/// A job id made from its name, as the real service does: lower case, words joined by '-'.
fn id_of(name: &str) -> String {
    name.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// A job as submitted now.
fn job(name: &str, sql: &str, state: JobState) -> JobView {
    let now = now_ms();
    JobView {
        id: id_of(name),
        name: name.into(),
        state,
        sql: sql.into(),
        plan: plan_of(sql).expect("a fake job's SQL plans").plan,
        submitted_at_ms: now - 600_000,
        started_at_ms: (state == JobState::Running).then_some(now - 300_000),
        events_in: 0,
        events_out: 0,
        events_in_per_sec: 0.0,
        events_out_per_sec: 0.0,
        watermark_ms: None,
        watermark_lag_ms: None,
        source_lag: None,
        dead_letters: 0,
        late_events: 0,
        checkpoints: 0,
        last_checkpoint: None,
        restored_from: None,
        restarts: 0,
        exceptions: Vec::new(),
    }
}

/// Jobs in memory; each `list()` moves the running ones on (rows, rates, lags, checkpoints).
#[derive(Debug, Default)]
pub struct FakeJobs {
    state: Mutex<Fake>,
}

#[derive(Debug, Default)]
struct Fake {
    jobs: Vec<JobView>,
    lists: u64,
}

impl FakeJobs {
    /// Two running jobs (one setting rows aside as dead letters), a failed one with two
    /// exceptions and a finished one.
    pub fn with_jobs() -> FakeJobs {
        let now = now_ms();
        let api = job(
            "api-metrics",
            "INSERT INTO api_metrics_10s SELECT endpoint, count(*) FROM api_requests GROUP BY endpoint",
            JobState::Running,
        );
        let mut fleet = job(
            "fleet-health",
            "INSERT INTO vehicle_health SELECT vin, score(*) FROM telemetry",
            JobState::Running,
        );
        fleet.dead_letters = 3;
        let mut payments = job(
            "payments-enrich",
            "INSERT INTO payments_enriched SELECT p.*, amount / items FROM payments p",
            JobState::Failed,
        );
        payments.restarts = 3;
        payments.exceptions = vec![
            ExceptionView {
                at_ms: now - 20_000,
                message: NEWEST_EXCEPTION.into(),
            },
            ExceptionView {
                at_ms: now - 95_000,
                message: OLDER_EXCEPTION.into(),
            },
        ];
        payments.last_checkpoint = Some(CheckpointView {
            id: 41,
            completed_at_ms: now - 25_000,
            duration_ms: 230,
        });
        let mut backfill = job(
            "nightly-backfill",
            "INSERT INTO daily_totals SELECT day, sum(amount) FROM payments_archive GROUP BY day",
            JobState::Finished,
        );
        backfill.events_in = 1_250_000;
        backfill.events_out = 365;
        FakeJobs {
            state: Mutex::new(Fake {
                jobs: vec![api, fleet, payments, backfill],
                lists: 0,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Fake) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

#[async_trait]
impl JobService for FakeJobs {
    fn list(&self) -> Vec<JobView> {
        self.with(|fake| {
            fake.lists += 1;
            let k = fake.lists;
            let now = now_ms();
            for (i, job) in fake.jobs.iter_mut().enumerate() {
                if job.state != JobState::Running {
                    job.events_in_per_sec = 0.0;
                    job.events_out_per_sec = 0.0;
                    continue;
                }
                let i = i as u64;
                job.events_in_per_sec = 200.0 + ((k * 37 + i * 11) % 100) as f64 + 0.5;
                job.events_out_per_sec = job.events_in_per_sec * 0.75;
                job.events_in += job.events_in_per_sec as u64;
                job.events_out += job.events_out_per_sec as u64;
                let lag = 1_500 + ((k * 13 + i * 7) % 500) as i64;
                job.watermark_ms = Some(now - lag);
                job.watermark_lag_ms = Some(lag);
                job.source_lag = Some((k * 7 + i) % 300);
                job.late_events += k % 2;
                if job.dead_letters > 0 && k % 5 == 0 {
                    job.dead_letters += 1;
                }
                if k % 3 == 0 || job.last_checkpoint.is_none() {
                    job.checkpoints += 1;
                    job.last_checkpoint = Some(CheckpointView {
                        id: job.last_checkpoint.map_or(1, |c| c.id + 1),
                        completed_at_ms: now,
                        duration_ms: 40 + (k * 17 + i) % 60,
                    });
                }
            }
            fake.jobs.clone()
        })
    }

    async fn check(&self, sql: String) -> Result<JobCheck, JobServiceError> {
        plan_of(&sql)
    }

    async fn submit(&self, name: String, sql: String) -> Result<JobView, JobServiceError> {
        if name.trim().is_empty() {
            return Err(JobServiceError::Invalid("a job needs a name".into()));
        }
        plan_of(&sql)?;
        let mut view = job(&name, &sql, JobState::Running);
        view.submitted_at_ms = now_ms();
        view.started_at_ms = Some(view.submitted_at_ms);
        self.with(|fake| {
            if fake.jobs.iter().any(|j| j.id == view.id) {
                return Err(JobServiceError::Conflict(format!(
                    "a job named {name:?} exists already"
                )));
            }
            fake.jobs.push(view.clone());
            Ok(view)
        })
    }

    async fn stop(&self, id: &str) -> Result<JobView, JobServiceError> {
        // Its final checkpoint takes a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.with(|fake| {
            let job = fake
                .jobs
                .iter_mut()
                .find(|j| j.id == id)
                .ok_or_else(|| JobServiceError::NotFound(id.into()))?;
            if job.state != JobState::Running {
                return Err(JobServiceError::Conflict(format!(
                    "{id} is {:?}, not running",
                    job.state
                )));
            }
            job.state = JobState::Stopped;
            job.started_at_ms = None;
            job.events_in_per_sec = 0.0;
            job.events_out_per_sec = 0.0;
            Ok(job.clone())
        })
    }

    async fn restart(&self, id: &str) -> Result<JobView, JobServiceError> {
        self.with(|fake| {
            let job = fake
                .jobs
                .iter_mut()
                .find(|j| j.id == id)
                .ok_or_else(|| JobServiceError::NotFound(id.into()))?;
            if !matches!(
                job.state,
                JobState::Stopped | JobState::Failed | JobState::Finished
            ) {
                return Err(JobServiceError::Conflict(format!(
                    "{id} is {:?}: only a stopped, failed or finished job restarts",
                    job.state
                )));
            }
            job.state = JobState::Running;
            job.started_at_ms = Some(now_ms());
            job.restored_from = job.last_checkpoint.map(|c| c.id);
            job.events_in = 0;
            job.events_out = 0;
            Ok(job.clone())
        })
    }
}

/// An empty store served over HTTP on loopback, with `jobs` as its console's back end.
async fn serve_jobs(jobs: Option<FakeJobs>) -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let server = Server::start(
        store,
        ServerConfig {
            http: Some("127.0.0.1:0".parse().unwrap()),
            jobs: jobs.map(|j| Arc::new(j) as Arc<dyn JobService>),
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.http_addr().unwrap());
    (dir, server, base)
}

/// `method url` with an optional JSON body: the status and the body as JSON.
async fn call(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = match (method, body) {
            ("GET", _) => agent.get(&url).call().unwrap(),
            ("POST", Some(body)) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes())
                .unwrap(),
            ("POST", None) => agent.post(&url).send_empty().unwrap(),
            (other, _) => panic!("no {other}"),
        };
        let bytes = response.body_mut().read_to_vec().unwrap();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&bytes)));
        (response.status().as_u16(), json)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_api_answers_404_without_jobs_and_lists_checks_and_runs_them_with() {
    // Without a JobService: 404 and why, for the list and for every other call.
    let (_dir, _server, base) = serve_jobs(None).await;
    let (status, body) = call("GET", format!("{base}/api/jobs"), None).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("this process runs no jobs"),
        "{body}"
    );
    let (status, _) = call(
        "POST",
        format!("{base}/api/jobs/validate"),
        Some(json!({"sql": "INSERT INTO a SELECT * FROM b"})),
    )
    .await;
    assert_eq!(status, 404);
    // The pages are served either way (they say what is missing themselves).
    for page in ["/console", "/dashboard/pipeline"] {
        let (status, headers, body) = crate::get(format!("{base}{page}"), None).await;
        assert_eq!(
            (status, headers[0].as_str()),
            (200, "text/html; charset=utf-8")
        );
        let body = String::from_utf8(body).unwrap();
        let script = if page == "/console" {
            "console.js"
        } else {
            "pipeline.js"
        };
        assert!(
            body.contains(&format!("/dashboard/assets/{script}")),
            "{body}"
        );
    }

    // The index links to both.
    let (_, _, index) = crate::get(format!("{base}/dashboard/"), None).await;
    let index = String::from_utf8(index).unwrap();
    assert!(
        index.contains("<a href=\"/console\">Job console</a>")
            && index.contains("<a href=\"/dashboard/pipeline\">Pipeline</a>"),
        "{index}"
    );

    // With one: the jobs as JSON, the process's figures beside them.
    let (_dir, _server, base) = serve_jobs(Some(FakeJobs::with_jobs())).await;
    let (status, body) = call("GET", format!("{base}/api/jobs"), None).await;
    assert_eq!(status, 200, "{body}");
    let jobs = body["jobs"].as_array().unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "api-metrics",
            "fleet-health",
            "payments-enrich",
            "nightly-backfill"
        ]
    );
    assert_eq!(jobs[0]["state"], "running");
    assert_eq!(jobs[2]["state"], "failed");
    assert_eq!(jobs[2]["exceptions"][0]["message"], NEWEST_EXCEPTION);
    assert!(jobs[0]["events_in_per_sec"].as_f64().unwrap() > 0.0);
    assert!(body["process"]["rss_bytes"].as_u64().unwrap() > 0, "{body}");
    // The server's clock, which the pages measure ages against.
    let server_now = body["now_ms"].as_i64().unwrap();
    assert!((server_now - now_ms()).abs() < 5_000, "{body}");
    assert!(body["process"]["cores"].as_u64().unwrap() >= 1, "{body}");
    let (status, one) = call("GET", format!("{base}/api/jobs/fleet-health"), None).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("fleet-health")));

    // Validation: 400 with the line and column, or the statements and the plan.
    let (status, body) = call(
        "POST",
        format!("{base}/api/jobs/validate"),
        Some(json!({"sql": "INSERT INTO totals\nSELECT count(*) FROM nope"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], UNKNOWN_TABLE);
    let sql = "INSERT INTO a SELECT * FROM b; INSERT INTO c SELECT * FROM d";
    let (status, body) = call(
        "POST",
        format!("{base}/api/jobs/validate"),
        Some(json!({ "sql": sql })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inserts"], 2);
    assert_eq!(body["plan"], plan_of(sql).unwrap().plan);

    // Submitting: 201 and the job, 409 for the same name again; stop and restart.
    let submit = json!({"name": "A to C", "sql": sql});
    let (status, body) = call("POST", format!("{base}/api/jobs"), Some(submit.clone())).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (201, Some("a-to-c")),
        "{body}"
    );
    let (status, body) = call("POST", format!("{base}/api/jobs"), Some(submit)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("exists"), "{body}");
    let (status, body) = call("POST", format!("{base}/api/jobs/a-to-c/stop"), None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("stopped")));
    let (status, _) = call("POST", format!("{base}/api/jobs/a-to-c/stop"), None).await;
    assert_eq!(status, 409);
    let (status, body) = call("POST", format!("{base}/api/jobs/a-to-c/restart"), None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("running")));
    let (status, _) = call("POST", format!("{base}/api/jobs/nothing/restart"), None).await;
    assert_eq!(status, 404);
}

/// The text of the element `css` selects ("" without one).
async fn text(browser: &Browser, css: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : '';",
        serde_json::to_string(css).unwrap()
    );
    let value = browser.client.execute(&script, vec![]).await.unwrap();
    value.as_str().unwrap_or_default().to_string()
}

/// Replaces what the input or textarea `css` holds by typing `keys`.
async fn type_into(browser: &Browser, css: &str, keys: &str) {
    let field = browser.client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(keys).await.unwrap();
}

/// The condition that job `id`'s row shows `state`.
fn row_state(id: &str, state: &str) -> String {
    format!(
        "(document.querySelector(\"tr.job[data-id='{id}'] td.state .state\") || {{}}).textContent == '{state}'"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_jobs_validates_explains_releases_stops_and_restarts() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, _server, base) = serve_jobs(Some(FakeJobs::with_jobs())).await;
    browser
        .client
        .goto(&format!("{base}/console"))
        .await
        .unwrap();

    // The jobs, with their states and figures, refreshed every second.
    let dom = browser
        .wait_for(
            "document.querySelectorAll('tr.job').length == 4 \
             && document.getElementById('connection').textContent == 'live'",
            20,
        )
        .await;
    assert!(
        dom.contains(
            "<tr class=\"job failed\" data-id=\"payments-enrich\"><td class=\"name\">payments-enrich</td>\
             <td class=\"state\"><span class=\"state failed\">failed</span></td>"
        ),
        "{dom}"
    );
    assert_eq!(
        text(&browser, "#job-counts").await,
        "4 · 2 running, 1 failed, 1 finished"
    );
    let first = text(&browser, "tr.job[data-id='api-metrics'] td.in-total").await;
    browser
        .wait_for(
            &format!(
                "document.querySelector(\"tr.job[data-id='api-metrics'] td.in-total\").textContent != '{first}'"
            ),
            5,
        )
        .await;
    let rate = text(&browser, "tr.job[data-id='api-metrics'] td.in-rate").await;
    let rate: f64 = rate.parse().unwrap_or_else(|_| panic!("in/s: {rate:?}"));
    assert!((200.0..=300.0).contains(&rate), "{rate}");
    assert!(
        text(&browser, "tr.job[data-id='api-metrics'] td.checkpoint")
            .await
            .starts_with('#')
    );
    assert!(
        text(&browser, "tr.job[data-id='api-metrics'] td.watermark-lag")
            .await
            .ends_with(" s")
    );
    assert_eq!(
        text(&browser, "tr.job[data-id='payments-enrich'] td.restarts").await,
        "3"
    );
    assert_eq!(
        text(&browser, "tr.job[data-id='nightly-backfill'] td.in-total").await,
        "1,250,000"
    );
    assert!(
        text(&browser, "tr.job[data-id='api-metrics'] td.uptime")
            .await
            .starts_with("5m "),
    );
    // Stop where a job runs, Restart where it failed or finished.
    let visible = |id: &str, button: &str| {
        format!("!document.querySelector(\"tr.job[data-id='{id}'] button.{button}\").hidden")
    };
    browser
        .wait_for(
            &format!(
                "{} && !({}) && {} && !({})",
                visible("api-metrics", "stop"),
                visible("api-metrics", "restart"),
                visible("payments-enrich", "restart"),
                visible("payments-enrich", "stop"),
            ),
            5,
        )
        .await;

    // The job clicked: its exceptions (newest first), SQL and plan.
    browser
        .click("tr.job[data-id='payments-enrich'] td.name")
        .await;
    let detail = browser
        .wait_for(
            "document.querySelectorAll('#detail li.exception').length == 2",
            5,
        )
        .await;
    let newest = detail.find(NEWEST_EXCEPTION);
    let older = detail.find(OLDER_EXCEPTION);
    assert!(newest.is_some() && newest < older, "{detail}");
    assert!(
        text(&browser, "#detail pre.sql")
            .await
            .contains("FROM payments p")
    );
    assert!(
        text(&browser, "#detail pre.plan")
            .await
            .contains("Sink(payments_enriched)")
    );
    assert!(
        detail.contains("class=\"panel alarm\" id=\"detail\""),
        "{detail}"
    );

    // Validate: the error with its line and column, which the editor selects.
    type_into(
        &browser,
        "#sql",
        "INSERT INTO totals\nSELECT count(*) FROM nope",
    )
    .await;
    browser.click("#validate").await;
    browser
        .wait_for(
            "document.getElementById('check').textContent.includes('2:8')",
            5,
        )
        .await;
    assert_eq!(text(&browser, "#check").await, UNKNOWN_TABLE);
    let class = browser
        .client
        .execute(
            "return document.getElementById('check').className + ' ' \
             + document.getElementById('sql').selectionStart",
            vec![],
        )
        .await
        .unwrap();
    // Line 2 starts at 19 ("INSERT INTO totals\n"), column 8 is 7 further.
    assert_eq!(class, "status error 26");

    // Good SQL: OK with its statements; Explain shows the plan.
    let sql = "INSERT INTO clicks_per_minute\nSELECT window_start, count(*) FROM clicks GROUP BY window_start";
    type_into(&browser, "#sql", sql).await;
    browser.click("#validate").await;
    browser
        .wait_for(
            "document.getElementById('check').textContent == 'OK, 1 INSERT statement'",
            5,
        )
        .await;
    browser.click("#explain").await;
    browser
        .wait_for("!document.getElementById('plan').hidden", 5)
        .await;
    assert_eq!(text(&browser, "#plan").await, plan_of(sql).unwrap().plan);

    // Release: the job appears, running; releasing it again says why not.
    type_into(&browser, "#job-name", "Clicks per minute").await;
    browser.click("#release").await;
    browser
        .wait_for(
            &format!(
                "document.querySelectorAll('tr.job').length == 5 && {}",
                row_state("clicks-per-minute", "running")
            ),
            5,
        )
        .await;
    assert!(
        text(&browser, "#check")
            .await
            .starts_with("released Clicks per minute (id clicks-per-minute)")
    );
    // The new job is the one shown.
    browser
        .wait_for(
            "document.querySelector('#detail h2').textContent.startsWith('Clicks per minute')",
            5,
        )
        .await;
    browser.click("#release").await;
    browser
        .wait_for(
            "document.getElementById('check').textContent.includes('exists already')",
            5,
        )
        .await;

    // Stop, then Restart.
    browser
        .click("tr.job[data-id='clicks-per-minute'] button.stop")
        .await;
    browser
        .wait_for(
            &format!(
                "{} && {}",
                row_state("clicks-per-minute", "stopped"),
                visible("clicks-per-minute", "restart")
            ),
            10,
        )
        .await;
    assert_eq!(
        text(&browser, "tr.job[data-id='clicks-per-minute'] td.uptime").await,
        "–"
    );
    browser
        .click("tr.job[data-id='clicks-per-minute'] button.restart")
        .await;
    browser
        .wait_for(&row_state("clicks-per-minute", "running"), 10)
        .await;
    // Restart the failed job too: it runs again.
    browser
        .click("tr.job[data-id='payments-enrich'] button.restart")
        .await;
    browser
        .wait_for(&row_state("payments-enrich", "running"), 10)
        .await;
    assert_eq!(
        text(&browser, "#job-counts").await,
        "5 · 4 running, 1 finished"
    );

    browser
        .click("tr.job[data-id='payments-enrich'] td.name")
        .await;
    browser
        .wait_for(
            "document.querySelectorAll('#detail li.exception').length == 2",
            5,
        )
        .await;
    let png = artifact("console.png");
    browser.screenshot(&png).await;
    // The running badges.
    assert!(
        pixels_of(&png, [0x16, 0xa3, 0x4a]) > 300,
        "{}",
        png.display()
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_dashboard_charts_every_job_and_the_process_live() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, _server, base) = serve_jobs(Some(FakeJobs::with_jobs())).await;
    let dom = browser
        .open(
            &format!("{base}/dashboard/pipeline"),
            "document.querySelectorAll('.job-card').length == 4 \
             && document.getElementById('connection').textContent == 'live'",
            20,
        )
        .await;
    // The failed job first, in red, with its latest exception.
    assert!(
        dom.contains("<section class=\"panel job-card failed alarm\" data-id=\"payments-enrich\">"),
        "{dom}"
    );
    assert_eq!(
        text(&browser, ".job-card h2 .name").await,
        "payments-enrich",
        "the jobs in trouble come first"
    );
    assert_eq!(
        text(&browser, ".job-card.alarm .exception.current pre.message").await,
        NEWEST_EXCEPTION
    );
    assert_eq!(dom.matches("class=\"panel job-card").count(), 4);
    assert_eq!(
        dom.matches(" alarm\"").count(),
        2,
        "the failed card and the overview: {dom}"
    );
    assert!(
        text(&browser, "#summary")
            .await
            .ends_with("2 running, 1 failing (payments-enrich)")
    );
    assert_eq!(
        text(&browser, ".job-card[data-id='fleet-health'] .no-exception").await,
        "no exceptions"
    );

    // The rates move, and are charted (a line for in/s and one for out/s).
    let css = ".job-card[data-id='api-metrics'] .in-rate";
    let first = text(&browser, css).await;
    assert!(first.parse::<f64>().unwrap() >= 200.0, "{first}");
    browser
        .wait_for(
            &format!(
                "document.querySelector(\"{css}\").textContent != '{first}' \
                 && document.querySelectorAll(\".job-card[data-id='api-metrics'] path.line\").length == 2"
            ),
            10,
        )
        .await;
    assert!(
        text(
            &browser,
            ".job-card[data-id='api-metrics'] .checkpoint-duration"
        )
        .await
        .ends_with(" ms")
    );
    assert_eq!(
        text(&browser, ".job-card[data-id='nightly-backfill'] .in-rate").await,
        "0.0"
    );
    let dead = text(&browser, ".job-card[data-id='fleet-health'] .dead-letters").await;
    assert!(dead.parse::<u64>().unwrap() >= 3, "{dead}");

    // The process: CPU once two samples were taken, memory at once, both charted.
    let dom = browser
        .wait_for(
            "/^[0-9]+\\.[0-9] %$/.test(document.getElementById('cpu').textContent) \
             && /^[0-9.]+ MB$/.test(document.getElementById('rss').textContent) \
             && document.querySelectorAll('#cpu-chart path.line, #rss-chart path.line').length == 2",
            10,
        )
        .await;
    assert!(dom.contains("class=\"chart\""));
    let png = artifact("pipeline.png");
    browser.screenshot(&png).await;
    // The failed job's red.
    assert!(
        pixels_of(&png, [0xdc, 0x26, 0x26]) > 500,
        "{}",
        png.display()
    );
    browser.close().await;
}

/// A TCP relay in front of the server that can be cut (every connection closed, nothing
/// listening) and resumed on the same port: the server going away, as a browser sees it.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            upstream,
            tasks: Arc::default(),
        };
        relay.accept(listener);
        relay
    }

    fn accept(&self, listener: TcpListener) {
        let (tasks, upstream) = (self.tasks.clone(), self.upstream);
        let accepting = tokio::spawn({
            let tasks = tasks.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let relayed = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    tasks.lock().unwrap().push(relayed.abort_handle());
                }
            }
        });
        tasks.lock().unwrap().push(accepting.abort_handle());
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn resume(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.accept(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_say_when_there_are_no_jobs_or_no_server_and_recover() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // A process without jobs: both pages say so.
    let (_dir, _server, base) = serve_jobs(None).await;
    browser
        .open(
            &format!("{base}/console"),
            "document.getElementById('jobs-status').textContent.startsWith(\
             'No job console in this process: this process runs no jobs') \
             && document.getElementById('connection').textContent == 'no jobs in this process' \
             && document.getElementById('release').disabled",
            10,
        )
        .await;
    browser
        .open(&format!("{base}/dashboard/pipeline"), "document.getElementById('jobs-status').textContent.includes('this process runs no jobs')",
            10,
        )
        .await;

    // The server goes away: "disconnected", and back to live once it answers again.
    let (_dir, _server, base) = serve_jobs(Some(FakeJobs::with_jobs())).await;
    let upstream = base.trim_start_matches("http://").parse().unwrap();
    let relay = Relay::start(upstream).await;
    browser
        .open(
            &format!("http://{}/console", relay.addr),
            "document.querySelectorAll('tr.job').length == 4 \
             && document.getElementById('connection').textContent == 'live'",
            20,
        )
        .await;
    relay.cut();
    browser
        .wait_for(
            "document.getElementById('connection').textContent == 'disconnected: retrying' \
             && document.getElementById('jobs-status').textContent.startsWith('disconnected')",
            10,
        )
        .await;
    // What it showed stays.
    assert_eq!(
        browser
            .client
            .execute("return document.querySelectorAll('tr.job').length", vec![])
            .await
            .unwrap(),
        4
    );
    browser
        .screenshot(&artifact("console-disconnected.png"))
        .await;
    relay.resume().await;
    browser
        .wait_for(
            "document.getElementById('connection').textContent == 'live' \
             && document.getElementById('jobs-status').textContent == ''",
            10,
        )
        .await;
    relay.cut();
    browser.close().await;
}

/// The table dashboards say, in a banner, when a job of the process fails, and take the
/// banner away once it runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_say_while_a_job_is_down_and_recover() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, _server, base) = serve_jobs(Some(FakeJobs::with_jobs())).await;
    for page in ["/dashboard/api", "/dashboard/fleet"] {
        let dom = browser
            .open(
                &format!("{base}{page}"),
                "document.getElementById('jobs-down') !== null",
                20,
            )
            .await;
        assert!(
            dom.contains(&format!(
                "Job payments-enrich has failed: {}",
                NEWEST_EXCEPTION.replace('&', "&amp;")
            )),
            "{page}: {dom}"
        );
        assert!(!dom.contains("Job api-metrics"), "{dom}");
    }
    browser
        .screenshot(&artifact("dashboard-job-down.png"))
        .await;
    let base_url = base.clone();
    tokio::task::spawn_blocking(move || {
        ureq::post(format!("{base_url}/api/jobs/payments-enrich/restart"))
            .send_empty()
            .unwrap();
    })
    .await
    .unwrap();
    browser
        .wait_for("document.getElementById('jobs-down') === null", 10)
        .await;
    browser.close().await;
}
