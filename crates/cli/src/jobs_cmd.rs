//! `spate jobs list|submit|stop|restart`: the job console from the command line, through the
//! same REST API as the page `/console` (`/api/jobs` of `spate demo` or `spate serve --jobs`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use spate_web::JobView;

/// `spate jobs …`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The server whose jobs these are (its HTTP address).
    #[arg(
        long,
        global = true,
        env = "SPATE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    #[command(subcommand)]
    command: JobsCommand,
}

/// What to do with the jobs.
#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Lists the jobs: state, uptime, rates, lag, last checkpoint, failures.
    List {
        /// Print the answer as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Checks a Flink SQL job file and runs it under a name; it is kept by the server and
    /// comes back when the server restarts.
    Submit {
        /// The job file (its SETs, tables, views and INSERTs).
        file: PathBuf,
        /// The job's name (the file's name without `.sql` by default).
        #[arg(long)]
        name: Option<String>,
        /// Only check it and print its plan.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stops a job with a final checkpoint.
    Stop {
        /// The job's id (see `list`).
        id: String,
    },
    /// Runs a stopped or failed job again from its latest checkpoint.
    Restart {
        /// The job's id (see `list`).
        id: String,
    },
}

/// Runs `spate jobs …`.
pub fn run(args: JobsArgs) -> anyhow::Result<()> {
    let api = Api {
        base: args.server.trim_end_matches('/').to_string(),
    };
    match args.command {
        JobsCommand::List { json } => {
            let answer = api.call("GET", "/api/jobs", None)?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&answer["jobs"])?),
                false => {
                    let jobs: Vec<JobView> = serde_json::from_value(answer["jobs"].clone())
                        .context("the server's answer is not a list of jobs")?;
                    print!("{}", table(&jobs, SystemTime::now()));
                }
            }
        }
        JobsCommand::Submit {
            file,
            name,
            dry_run,
        } => {
            let sql = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            match dry_run {
                true => {
                    let answer =
                        api.call("POST", "/api/jobs/validate", Some(json!({"sql": sql})))?;
                    println!(
                        "{}: OK, {} INSERT statement(s)",
                        file.display(),
                        answer["inserts"]
                    );
                    print!("{}", answer["plan"].as_str().unwrap_or_default());
                }
                false => {
                    let name = name.unwrap_or_else(|| {
                        file.file_stem()
                            .map_or("job".into(), |s| s.to_string_lossy().into_owned())
                    });
                    let job =
                        api.job("POST", "/api/jobs", Some(json!({"name": name, "sql": sql})))?;
                    println!("submitted {} ({:?})", job.id, job.state);
                }
            }
        }
        JobsCommand::Stop { id } => {
            let job = api.job("POST", &format!("/api/jobs/{id}/stop"), None)?;
            let checkpoint = job.last_checkpoint.map(|c| c.id);
            println!("{} {:?}, last checkpoint {checkpoint:?}", job.id, job.state);
        }
        JobsCommand::Restart { id } => {
            let job = api.job("POST", &format!("/api/jobs/{id}/restart"), None)?;
            println!("{} {:?}", job.id, job.state);
        }
    }
    Ok(())
}

/// The server's job API.
struct Api {
    base: String,
}

impl Api {
    /// Calls `path`, answering its JSON, or its `{"error"}` as an error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Stopping waits for the final checkpoint.
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let response = match (method, body) {
            ("POST", Some(body)) => agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string()),
            ("POST", None) => agent.post(&url).send_empty(),
            _ => agent.get(&url).call(),
        };
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        let answer: Value = serde_json::from_str(&text)
            .with_context(|| format!("{url}: HTTP {status}, not JSON: {}", text.trim()))?;
        match status.is_success() {
            true => Ok(answer),
            false => anyhow::bail!("{}", answer["error"].as_str().unwrap_or(text.trim())),
        }
    }

    /// Calls `path`, answering a job.
    fn job(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<JobView> {
        let answer = self.call(method, path, body)?;
        serde_json::from_value(answer).context("the server's answer is not a job")
    }
}

/// The jobs as a table, as `list` prints them.
fn table(jobs: &[JobView], now: SystemTime) -> String {
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut rows = vec![
        [
            "ID",
            "STATE",
            "UPTIME",
            "IN/S",
            "OUT/S",
            "IN",
            "OUT",
            "WM LAG",
            "CHECKPOINT",
            "DEAD",
            "RESTARTS",
            "LAST FAILURE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for job in jobs {
        let running = matches!(job.state, spate_web::JobState::Running);
        let uptime = match (running, job.started_at_ms) {
            (true, Some(at)) => seconds((now_ms - at).max(0) as u64),
            _ => "-".into(),
        };
        let checkpoint = job.last_checkpoint.map_or("-".into(), |c| {
            format!(
                "#{} {} ago, {} ms",
                c.id,
                seconds((now_ms - c.completed_at_ms).max(0) as u64),
                c.duration_ms
            )
        });
        rows.push(vec![
            job.id.clone(),
            format!("{:?}", job.state).to_lowercase(),
            uptime,
            format!("{:.0}", job.events_in_per_sec),
            format!("{:.0}", job.events_out_per_sec),
            job.events_in.to_string(),
            job.events_out.to_string(),
            job.watermark_lag_ms
                .map_or("-".into(), |ms| seconds(ms.max(0) as u64)),
            checkpoint,
            job.dead_letters.to_string(),
            job.restarts.to_string(),
            job.exceptions.first().map_or("-".into(), |e| {
                e.message.lines().next().unwrap_or("").to_string()
            }),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Milliseconds as `1h02m`, `3m05s` or `12.3s`.
fn seconds(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_web::{CheckpointView, ExceptionView, JobState};

    #[test]
    fn the_table_shows_state_rates_checkpoint_and_last_failure() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now_ms = 1_000_000_000;
        let job = JobView {
            id: "api-analytics".into(),
            name: "API analytics".into(),
            state: JobState::Running,
            sql: String::new(),
            plan: String::new(),
            submitted_at_ms: now_ms - 100_000,
            started_at_ms: Some(now_ms - 65_000),
            events_in: 1234,
            events_out: 56,
            events_in_per_sec: 410.4,
            events_out_per_sec: 2.0,
            watermark_ms: Some(now_ms - 1500),
            watermark_lag_ms: Some(1500),
            source_lag: None,
            dead_letters: 3,
            late_events: 0,
            checkpoints: 7,
            last_checkpoint: Some(CheckpointView {
                id: 7,
                completed_at_ms: now_ms - 800,
                duration_ms: 12,
            }),
            restored_from: None,
            restarts: 1,
            exceptions: vec![ExceptionView {
                at_ms: now_ms - 70_000,
                message: "sink failed\nmore".into(),
            }],
        };
        let text = table(&[job], now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(
            lines[1].contains("api-analytics  running  1m05s   410   2      1234  56   1.5s")
                && lines[1].contains("#7 0.8s ago, 12 ms")
                && lines[1].ends_with("sink failed"),
            "{text}"
        );
    }
}
