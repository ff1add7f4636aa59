//! The run: one task per traffic source sends requests at its rate (Poisson arrivals) to the
//! target over HTTP/1.1, naming the simulated client in `X-Forwarded-For`; answers are counted
//! per source and status, and every attacking client's first and last request is recorded for
//! the labels.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Timelike, Utc};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::LoadgenError;
use crate::agents::SCAN_PATHS;
use crate::geo::{COUNTRIES, activity};
use crate::plan::{Attack, AttackKind, Plan};

/// The blur endpoint.
const BLUR: &str = "/v1/privacy/blur";
/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One labelled attacking client, as written to the labels file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    /// The attack's name.
    pub attack: &'static str,
    /// The client's address (as sent in `X-Forwarded-For`).
    pub client_ip: String,
    /// The id of the valid key it used, if any.
    pub api_key: Option<String>,
    /// When the attack was scheduled to start (RFC 3339, UTC).
    pub start: String,
    /// When it was scheduled to end.
    pub end: String,
    /// When this client sent its first request.
    pub first_request: String,
    /// When it sent its last one.
    pub last_request: String,
    /// Requests it sent.
    pub requests: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Requests sent per source (`normal` or an attack's name).
    pub sent: BTreeMap<String, u64>,
    /// Answers per source and status code.
    pub statuses: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests without an answer (connection errors and timeouts), per source.
    pub errors: BTreeMap<String, u64>,
    /// Requests not sent because `max_in_flight` requests were waiting already.
    pub skipped: u64,
    /// Normal requests per country.
    pub countries: BTreeMap<String, u64>,
    /// The labels of the attacking clients (also written to the labels file).
    #[serde(skip)]
    pub labels: Vec<Label>,
}

/// First send, last send and requests sent, of one attacking client.
type Activity = (DateTime<Utc>, DateTime<Utc>, u64);

#[derive(Default)]
struct Tally {
    report: Report,
    /// First and last send time per attacking client.
    seen: HashMap<(AttackKind, Ipv4Addr), Activity>,
}

/// A request to send.
struct Call {
    method: Method,
    path: String,
    client: Ipv4Addr,
    agent: &'static str,
    key: Option<String>,
    content_type: Option<&'static str>,
    body: Bytes,
}

struct Shared {
    target: String,
    client: Client<HttpConnector, Full<Bytes>>,
    in_flight: Arc<Semaphore>,
    tally: Mutex<Tally>,
}

impl Shared {
    /// Sends `call` in the background unless too many requests are waiting already.
    fn fire(self: &Arc<Self>, source: String, attack: Option<AttackKind>, call: Call) {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.tally.lock().expect("tally").report.skipped += 1;
            return;
        };
        {
            let now = Utc::now();
            let mut tally = self.tally.lock().expect("tally");
            *tally.report.sent.entry(source.clone()).or_default() += 1;
            if let Some(kind) = attack {
                let e = tally
                    .seen
                    .entry((kind, call.client))
                    .or_insert((now, now, 0));
                e.1 = now;
                e.2 += 1;
            }
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, shared.send(call)).await;
            let mut tally = shared.tally.lock().expect("tally");
            match outcome {
                Ok(Ok(status)) => {
                    *tally
                        .report
                        .statuses
                        .entry(source)
                        .or_default()
                        .entry(status)
                        .or_default() += 1
                }
                Ok(Err(e)) => {
                    tracing::debug!("request failed: {e}");
                    *tally.report.errors.entry(source).or_default() += 1
                }
                Err(_) => *tally.report.errors.entry(source).or_default() += 1,
            }
            drop(permit);
        });
    }

    async fn send(&self, call: Call) -> Result<u16, String> {
        let mut req = Request::builder()
            .method(call.method)
            .uri(format!("{}{}", self.target, call.path))
            .header("user-agent", call.agent)
            .header("x-forwarded-for", call.client.to_string());
        if let Some(key) = &call.key {
            req = req.header("x-api-key", key);
        }
        if let Some(t) = call.content_type {
            req = req.header("content-type", t);
        }
        let req = req.body(Full::new(call.body)).map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        // Read the answer whole, so the connection can be reused.
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(status)
    }
}

/// Checks that `target` is an `http://host:port` URL and returns it without a trailing `/`.
pub fn check_target(target: &str) -> Result<String, LoadgenError> {
    let uri: Uri = target
        .parse()
        .map_err(|e| LoadgenError::Target(format!("{target}: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(LoadgenError::Target(format!(
            "{target}: expected http://HOST:PORT (TLS is not supported)"
        )));
    }
    Ok(target.trim_end_matches('/').to_string())
}

/// Sends the plan's traffic to `target` (an `http://host:port` URL) with at most
/// `max_in_flight` requests waiting at once, and reports what happened.
pub async fn run(plan: Plan, target: &str, max_in_flight: usize) -> Result<Report, LoadgenError> {
    let target = check_target(target)?;
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    let shared = Arc::new(Shared {
        target,
        client,
        in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        tally: Mutex::new(Tally::default()),
    });
    let plan = Arc::new(plan);
    let started = Instant::now();
    let started_at = Utc::now();
    let mut tasks = vec![tokio::spawn(normal_users(
        plan.clone(),
        shared.clone(),
        started,
        started_at,
    ))];
    for i in 0..plan.attacks.len() {
        tasks.push(tokio::spawn(attacker(
            plan.clone(),
            i,
            shared.clone(),
            started,
        )));
    }
    for t in tasks {
        t.await
            .map_err(|e| LoadgenError::Plan(format!("traffic task failed: {e}")))?;
    }
    // Wait for the answers still on their way.
    let all = max_in_flight.max(1) as u32;
    let _ = tokio::time::timeout(
        REQUEST_TIMEOUT + Duration::from_secs(5),
        shared.in_flight.acquire_many(all),
    )
    .await;
    let mut tally = std::mem::take(&mut *shared.tally.lock().expect("tally"));
    tally.report.seconds = started.elapsed().as_secs_f64();
    let at = |offset: Duration| {
        (started_at + chrono::Duration::from_std(offset).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for attack in &plan.attacks {
        // Clients that sent nothing (a bot never drawn) attacked no one: no label.
        for client in &attack.clients {
            let Some(&(first, last, requests)) = tally.seen.get(&(attack.kind, client.ip)) else {
                continue;
            };
            tally.report.labels.push(Label {
                attack: attack.kind.name(),
                client_ip: client.ip.to_string(),
                api_key: client.key.as_ref().map(|k| k.1.clone()),
                start: at(attack.start),
                end: at(attack.end),
                first_request: stamp(first),
                last_request: stamp(last),
                requests,
            });
        }
    }
    Ok(tally.report)
}

/// The time to the next arrival of a Poisson process of `rate` per second.
fn next_gap(rng: &mut impl Rng, rate: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64((-u.ln() / rate).min(3600.0))
}

/// Mean of [`activity`] over a day, so the daily average of the normal rate is the rate asked.
const MEAN_ACTIVITY: f64 = 0.55;

async fn normal_users(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    started: Instant,
    started_at: DateTime<Utc>,
) {
    let settings = &plan.settings;
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 0x6e6f726d);
    let speedup = 86_400.0 / settings.day_length.as_secs_f64().max(1e-3);
    let total_weight: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut next = Duration::ZERO;
    loop {
        // Each country's users are as active as its local hour makes them.
        let simulated = started_at
            + chrono::Duration::milliseconds((next.as_secs_f64() * speedup * 1e3) as i64);
        let utc_hour = simulated.hour() as f64 + simulated.minute() as f64 / 60.0;
        let weights: Vec<f64> = COUNTRIES
            .iter()
            .map(|c| c.weight * activity((utc_hour + c.utc_offset_hours as f64).rem_euclid(24.0)))
            .collect();
        let factor = weights.iter().sum::<f64>() / total_weight / MEAN_ACTIVITY;
        next += next_gap(&mut rng, (settings.rate * factor).max(1e-3));
        if next >= settings.duration {
            break;
        }
        tokio::time::sleep_until((started + next).into()).await;
        let mut pick = rng.random_range(0.0..weights.iter().sum::<f64>());
        let country = weights
            .iter()
            .position(|w| {
                pick -= w;
                pick < 0.0
            })
            .unwrap_or(COUNTRIES.len() - 1);
        let user = plan.users[country].choose(&mut rng).expect("users");
        let photo = plan.photos.choose(&mut rng).expect("photos");
        let roll: f64 = rng.random();
        let mut call = Call {
            method: Method::POST,
            path: BLUR.to_string(),
            client: user.ip,
            agent: user.agent,
            key: Some(user.key.clone()),
            content_type: Some(photo.content_type),
            body: photo.bytes.clone(),
        };
        if roll < 0.10 {
            // The upload page.
            (
                call.method,
                call.path,
                call.key,
                call.content_type,
                call.body,
            ) = (Method::GET, "/".into(), None, None, Bytes::new());
        } else if roll < 0.12 {
            // A typo in the path.
            call.path = "/v1/privacy/blur/".into();
        } else if roll < 0.14 {
            // A forgotten key.
            call.key = None;
        } else if roll < 0.30 {
            call.path = format!("{BLUR}?boxes=json");
        } else if roll < 0.38 {
            call.path = format!("{BLUR}?mode=fill");
        }
        *shared
            .tally
            .lock()
            .expect("tally")
            .report
            .countries
            .entry(COUNTRIES[country].code.to_string())
            .or_default() += 1;
        shared.fire("normal".into(), None, call);
    }
}

async fn attacker(plan: Arc<Plan>, index: usize, shared: Arc<Shared>, started: Instant) {
    let attack: &Attack = &plan.attacks[index];
    let mut rng = ChaCha8Rng::seed_from_u64(plan.settings.seed ^ (0xa77ac0 + index as u64));
    let mut next = attack.start;
    let mut scan_round = 0usize;
    loop {
        next += next_gap(&mut rng, attack.rate);
        if attack.kind == AttackKind::CredentialStuffing {
            // Bursts of 3 s with 2 s pauses.
            let into = (next - attack.start).as_secs_f64() % 5.0;
            if into >= 3.0 {
                next += Duration::from_secs_f64(5.0 - into);
            }
        }
        if next >= attack.end {
            break;
        }
        tokio::time::sleep_until((started + next).into()).await;
        let client = attack.clients.choose(&mut rng).expect("clients");
        let call = match attack.kind {
            AttackKind::CredentialStuffing => {
                let photo = &plan.photos[0];
                let guess: u64 = rng.random();
                Call {
                    method: Method::POST,
                    path: BLUR.into(),
                    client: client.ip,
                    agent: client.agent,
                    key: Some(format!("sk_live_{guess:016x}")),
                    content_type: Some(photo.content_type),
                    body: photo.bytes.clone(),
                }
            }
            AttackKind::Scanning => {
                let base = SCAN_PATHS[scan_round % SCAN_PATHS.len()];
                // After the list, the same paths under random directories: ever new paths.
                let path = if scan_round < SCAN_PATHS.len() {
                    base.to_string()
                } else {
                    format!("/{:x}{base}", rng.random::<u32>())
                };
                scan_round += 1;
                let method = if rng.random_bool(0.8) {
                    Method::GET
                } else {
                    Method::POST
                };
                Call {
                    method,
                    path,
                    client: client.ip,
                    agent: client.agent,
                    key: None,
                    content_type: None,
                    body: Bytes::new(),
                }
            }
            AttackKind::Scraping => {
                let photo = plan.photos.choose(&mut rng).expect("photos");
                Call {
                    method: Method::POST,
                    path: format!("{BLUR}?boxes=json"),
                    client: client.ip,
                    agent: client.agent,
                    key: client.key.as_ref().map(|k| k.0.clone()),
                    content_type: Some(photo.content_type),
                    body: photo.bytes.clone(),
                }
            }
            AttackKind::Dos => {
                let page = rng.random_bool(0.5);
                Call {
                    method: if page { Method::GET } else { Method::POST },
                    path: if page { "/".into() } else { BLUR.into() },
                    client: client.ip,
                    agent: client.agent,
                    key: None,
                    content_type: None,
                    body: Bytes::new(),
                }
            }
        };
        shared.fire(attack.kind.name().to_string(), Some(attack.kind), call);
    }
}

/// Writes `labels` as NDJSON to `path`.
pub fn write_labels(path: &std::path::Path, labels: &[Label]) -> Result<(), LoadgenError> {
    let mut text = String::new();
    for l in labels {
        text.push_str(&serde_json::to_string(l).expect("labels serialise"));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| LoadgenError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_plain_http() {
        assert_eq!(
            check_target("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check_target("https://example.com").is_err());
        assert!(check_target("127.0.0.1:80").is_err());
    }

    #[test]
    fn poisson_gaps_average_one_over_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 20_000;
        let total: f64 = (0..n).map(|_| next_gap(&mut rng, 50.0).as_secs_f64()).sum();
        let mean = total / n as f64;
        assert!((mean - 0.02).abs() < 0.001, "{mean}");
    }
}
