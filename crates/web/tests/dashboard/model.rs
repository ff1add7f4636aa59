//! The fleet dashboard's model panel over a registry kept in memory: the live version, the
//! drift watch, "Retrain now" showing its progress and its decision, and "Promote".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use spate_web::{
    CheckView, DecisionView, ModelService, ModelServiceError, ModelView, RetrainingView,
    ServerConfig, VersionView,
};

use super::store::fleet_table;
use super::{artifact, now_ms};
use spate_testkit::Browser;

/// A registry in memory: a retraining takes two status reads (one per step), then registers
/// a better version and promotes it.
#[derive(Debug)]
struct Registry(Mutex<ModelView>);

fn version(version: u32, f1: f64) -> VersionView {
    VersionView {
        version,
        created_at_ms: now_ms(),
        f1,
        precision: f1,
        recall: f1,
        threshold: 0.5,
        windows: 1000,
    }
}

impl Registry {
    fn new() -> Registry {
        Registry(Mutex::new(ModelView {
            live: Some(2),
            versions: vec![version(2, 0.91), version(1, 0.88)],
            decisions: vec![DecisionView {
                at_ms: now_ms() - 60_000,
                action: "keep".into(),
                version: 2,
                reason: "no drift: largest PSI 0.041 below 0.25".into(),
            }],
            last_check: Some(CheckView {
                at_ms: now_ms() - 60_000,
                action: "keep".into(),
                reason: "no drift: largest PSI 0.041 below 0.25".into(),
                drifted: Some(false),
                max_psi: Some(0.041),
            }),
            retraining: None,
            check_every_secs: 600,
        }))
    }
}

#[async_trait]
impl ModelService for Registry {
    fn status(&self) -> Result<ModelView, ModelServiceError> {
        let mut view = self.0.lock().unwrap();
        let shown = view.clone();
        // Each read moves a retraining on by a step; the third ends it.
        if let Some(r) = view.retraining.as_mut() {
            match r.step.as_str() {
                "computing the labelled feature windows of the archive" => {
                    r.step = "training a challenger on 1200 windows".into()
                }
                _ => {
                    view.retraining = None;
                    view.versions.insert(0, version(3, 0.95));
                    view.live = Some(3);
                    let reason = "retrain forced; on 300 held-out windows the challenger scores \
                                  F1 0.9500 against v2's 0.9100";
                    view.decisions.insert(
                        0,
                        DecisionView {
                            at_ms: now_ms(),
                            action: "promote".into(),
                            version: 3,
                            reason: reason.into(),
                        },
                    );
                    view.last_check = Some(CheckView {
                        at_ms: now_ms(),
                        action: "promote".into(),
                        reason: reason.into(),
                        drifted: Some(false),
                        max_psi: Some(0.05),
                    });
                }
            }
        }
        Ok(shown)
    }

    async fn retrain(&self) -> Result<ModelView, ModelServiceError> {
        let mut view = self.0.lock().unwrap();
        if view.retraining.is_some() {
            return Err(ModelServiceError::Conflict(
                "a retraining runs already".into(),
            ));
        }
        view.retraining = Some(RetrainingView {
            started_at_ms: now_ms(),
            step: "computing the labelled feature windows of the archive".into(),
            forced: true,
        });
        Ok(view.clone())
    }

    async fn promote(&self, v: u32) -> Result<ModelView, ModelServiceError> {
        let mut view = self.0.lock().unwrap();
        if !view.versions.iter().any(|x| x.version == v) {
            return Err(ModelServiceError::NotFound(v));
        }
        view.live = Some(v);
        view.decisions.insert(
            0,
            DecisionView {
                at_ms: now_ms(),
                action: "promote".into(),
                version: v,
                reason: "promoted from the fleet dashboard".into(),
            },
        );
        Ok(view.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_dashboard_shows_the_model_retrains_and_promotes() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = spate_store::Store::open(dir.path().join("store")).unwrap();
    fleet_table(&store, now_ms());
    let server = spate_web::Server::start(
        store,
        ServerConfig {
            http: Some("127.0.0.1:0".parse().unwrap()),
            models: Some(Arc::new(Registry::new())),
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.http_addr().unwrap());
    let dom = browser
        .open(
            &format!("{base}/dashboard/fleet"),
            "document.getElementById('live-version')?.textContent == 'v2'",
            20,
        )
        .await;
    assert!(dom.contains("no drift (largest PSI 0.041)"), "{dom}");
    assert_eq!(dom.matches("<tr class=\"model").count(), 2, "{dom}");
    assert!(dom.contains("<tr class=\"model live\"><td class=\"version\">v2 (live)</td>"));
    assert!(dom.contains("no drift: largest PSI 0.041 below 0.25"));

    // Retrain now: its steps show, then the promoted challenger is live.
    browser.click("#retrain").await;
    browser
        .wait_for(
            "document.getElementById('retraining').textContent.includes('training a challenger')",
            10,
        )
        .await;
    let dom = browser
        .wait_for(
            "document.getElementById('live-version').textContent == 'v3'",
            10,
        )
        .await;
    assert!(
        dom.contains("<td class=\"action\">promote</td><td class=\"version\">v3</td>"),
        "{dom}"
    );
    assert!(dom.contains("<td id=\"retraining\">idle</td>"), "{dom}");
    browser
        .screenshot(&artifact("dashboard-fleet-model.png"))
        .await;

    // Promote v1 back.
    browser.click("button.promote[data-version='1']").await;
    browser
        .wait_for(
            "document.getElementById('live-version').textContent == 'v1'",
            10,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_api_answers_404_without_a_registry_and_409_while_retraining() {
    let dir = tempfile::tempdir().unwrap();
    let store = spate_store::Store::open(dir.path().join("store")).unwrap();
    let config = |models: Option<Arc<dyn ModelService>>| ServerConfig {
        http: Some("127.0.0.1:0".parse().unwrap()),
        models,
        ..ServerConfig::default()
    };
    let bare = spate_web::Server::start(store.clone(), config(None))
        .await
        .unwrap();
    let kept = spate_web::Server::start(store, config(Some(Arc::new(Registry::new()))))
        .await
        .unwrap();
    let (bare, kept) = (bare.http_addr().unwrap(), kept.http_addr().unwrap());
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let call = |method: &str, url: String| {
            let mut r = match method {
                "POST" => agent.post(&url).send_empty().unwrap(),
                _ => agent.get(&url).call().unwrap(),
            };
            let body: serde_json::Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            (r.status().as_u16(), body)
        };
        let (status, body) = call("GET", format!("http://{bare}/api/model"));
        assert_eq!(status, 404);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("no model registry"),
            "{body}"
        );
        let (status, body) = call("GET", format!("http://{kept}/api/model"));
        assert_eq!((status, body["live"].as_u64()), (200, Some(2)), "{body}");
        assert_eq!(
            call("POST", format!("http://{kept}/api/model/retrain")).0,
            202
        );
        let (status, body) = call("POST", format!("http://{kept}/api/model/retrain"));
        assert_eq!(status, 409, "{body}");
        assert_eq!(
            call("POST", format!("http://{kept}/api/model/promote/9")).0,
            404
        );
    })
    .await
    .unwrap();
}
