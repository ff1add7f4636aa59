//! The dashboards (`/dashboard/…`) over a store holding the shipped jobs' tables: served
//! with their types and ETags, and drawn by a real headless Chromium, whose DOM and
//! screenshots are checked, as commits change the tables and as tables appear. The
//! screenshots are kept in `$CARGO_TARGET_TMPDIR/artifacts/`. The Chromium tests are
//! skipped, loudly, without chromium and chromedriver on the PATH (`.ci/run` installs
//! Debian's `chromium` and `chromium-driver`).
//!
//! The job console and the pipeline dashboard (`console`) run over an in-memory job service.

mod console;
mod model;
mod store;

use std::path::{Path, PathBuf};

use spate_store::Store;
use spate_testkit::Browser;
use spate_web::{Server, ServerConfig};
use store::*;

/// The store in a temporary directory, served over HTTP on loopback.
async fn serve(fill: impl FnOnce(&Store)) -> (tempfile::TempDir, Store, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    fill(&store);
    let server = Server::start(
        store.clone(),
        ServerConfig {
            http: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.http_addr().unwrap());
    (dir, store, server, base)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// How many pixels of the screenshot are within a few levels of `rgb`, after checking that
/// it is a window-sized picture of more than a few colours.
fn pixels_of(png: &Path, rgb: [u8; 3]) -> usize {
    let image = image::open(png).unwrap().to_rgb8();
    assert!(
        image.width() >= 1200 && image.height() >= 700,
        "{}",
        png.display()
    );
    let distinct: std::collections::HashSet<[u8; 3]> =
        image.pixels().step_by(7).map(|p| p.0).collect();
    assert!(distinct.len() > 50, "{} looks blank", png.display());
    image
        .pixels()
        .filter(|p| p.0.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_dashboard_draws_metrics_map_clients_and_alerts_live() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let now = now_ms();
    let (_dir, store, _server, base) = serve(|s| api_tables(s, now)).await;

    let index = browser
        .open(
            &format!("{base}/dashboard/"),
            "document.querySelectorAll('#tables tr').length == 5",
            20,
        )
        .await;
    assert!(
        index.contains("<td class=\"name\">client_scores</td>"),
        "{index}"
    );
    browser.screenshot(&artifact("dashboard-index.png")).await;

    let dom = browser
        .open(
            &format!("{base}/dashboard/api"),
            "document.querySelectorAll('tr.client').length == 20 \
             && document.querySelectorAll('circle.caller').length == 5 \
             && document.querySelectorAll('tr.alert').length == 3 \
             && document.querySelectorAll('tr.endpoint').length == 3 \
             && document.getElementById('connection').textContent == 'live'",
            20,
        )
        .await;
    // Error rates by endpoint, busiest first; the latency chart's choice of endpoints.
    let busy = dom.find(&format!("<td class=\"name\">{BUSY_ENDPOINT}</td>"));
    let quiet = dom.find(&format!("<td class=\"name\">{QUIET_ENDPOINT}</td>"));
    assert!(busy.is_some() && busy < quiet, "endpoints: {dom}");
    assert!(dom.contains(&format!("<option value=\"{BUSY_ENDPOINT}\">")));
    // The QPS chart's line and the latency chart's three.
    assert_eq!(dom.matches("class=\"line\"").count(), 4, "charts: {dom}");
    // Country outlines decoded from the TopoJSON, and the five cities on them.
    assert!(
        dom.matches("fill-rule=\"evenodd\"").count() >= 170,
        "map: {dom}"
    );
    assert!(dom.contains("São Paulo, BR: 6000 requests"), "{dom}");
    // The top client first, with its score and reason.
    let top =
        format!("<tr class=\"client attacking\"><td class=\"ip\">{TOP_CLIENT}</td><td>NL</td>");
    assert!(
        dom.find(&top) < dom.find("<tr class=\"client\">"),
        "clients: {dom}"
    );
    assert!(dom.contains(&format!(
        "<td class=\"num score\">4.50</td><td class=\"reason\">{TOP_REASON}</td>"
    )));
    // The alerts, newest first.
    let alerts: Vec<&str> = dom.split("<tr class=\"alert\">").skip(1).collect();
    assert!(alerts[0].contains(ALERTED_CLIENT), "alerts: {dom}");
    assert!(alerts[2].contains("192.0.2.9"), "alerts: {dom}");
    assert!(!dom.contains("class=\"status missing\"") && !dom.contains("class=\"status error\""));
    let png = artifact("dashboard-api.png");
    browser.screenshot(&png).await;
    // The map's sea and the callers' dots are drawn.
    assert!(
        pixels_of(&png, [0xdb, 0xea, 0xfe]) > 20_000,
        "no map in {}",
        png.display()
    );

    // A new alert is shown, first, once committed.
    commit(
        &store,
        "attack_alerts",
        &[alert(now_ms(), "192.0.2.200", "scraping", 1)],
        2,
    );
    browser
        .wait_for(
            "document.querySelector('tr.alert td.ip').textContent.startsWith('192.0.2.200')",
            10,
        )
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_dashboard_draws_every_vehicle_and_the_one_clicked_live() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, store, _server, base) = serve(|s| fleet_table(s, now_ms())).await;
    let dom = browser
        .open(
            &format!("{base}/dashboard/fleet"),
            "document.querySelectorAll('circle.vehicle').length == 160",
            20,
        )
        .await;
    assert_eq!(dom.matches("class=\"vehicle anomalous").count(), 7);
    assert!(
        dom.contains(&format!(
            "class=\"vehicle anomalous\" data-vin=\"{BAD_VIN}\""
        )),
        "{dom}"
    );
    assert!(dom.contains("eu-central · 40 vehicles"));
    assert!(dom.contains("160 vehicles, 7 anomalous"));
    assert!(dom.contains(&format!(
        "<span class=\"version\">{MODEL_VERSION}</span> (150 vehicles)"
    )));

    // The vehicle clicked: its verdict, signals, version and features.
    browser
        .click(&format!("circle[data-vin='{BAD_VIN}']"))
        .await;
    let detail = browser
        .wait_for("document.querySelector('#vehicle .verdict') !== null", 10)
        .await;
    assert!(
        detail.contains(&format!(
            "class=\"vehicle anomalous selected\" data-vin=\"{BAD_VIN}\""
        )),
        "{detail}"
    );
    assert!(detail.contains("<span class=\"verdict anomalous\">anomalous</span>"));
    let signals: String = BAD_SIGNALS
        .split(", ")
        .map(|s| format!("<li>{s}</li>"))
        .collect();
    assert!(detail.contains(&signals), "{detail}");
    assert!(detail.contains("<td>0.9300</td>"));
    assert!(
        detail.contains("<tr class=\"signal\"><th>coolant_slope</th><td class=\"num\">0.400</td>")
    );
    assert!(detail.contains(&format!("<th>model version</th><td>{MODEL_VERSION}</td>")));
    let png = artifact("dashboard-fleet.png");
    browser.screenshot(&png).await;
    // Red and blue dots.
    assert!(
        pixels_of(&png, [0xdc, 0x26, 0x26]) > 300,
        "{}",
        png.display()
    );
    assert!(
        pixels_of(&png, [0x25, 0x63, 0xeb]) > 3_000,
        "{}",
        png.display()
    );

    // A vehicle turning anomalous turns red once its verdict is committed.
    commit(&store, "vehicle_health", &[vehicle(now_ms(), 42, true)], 2);
    browser
        .wait_for(
            "document.querySelector(\"circle[data-vin='1FTEW1E50KFA00042']\")\
             .classList.contains('anomalous')",
            10,
        )
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_wait_for_their_tables_and_show_them_once_written() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, store, _server, base) = serve(|_| {}).await;
    browser
        .client
        .goto(&format!("{base}/dashboard/api"))
        .await
        .unwrap();
    let all = [
        "api_metrics_10s",
        "geo_metrics_1m",
        "client_scores",
        "attack_alerts",
    ];
    let waiting = all
        .map(|t| {
            format!("document.body.textContent.includes('waiting for the job that writes {t}…')")
        })
        .join(" && ");
    browser.wait_for(&waiting, 20).await;
    browser
        .screenshot(&artifact("dashboard-api-waiting.png"))
        .await;

    // The job starts: the page finds the tables by itself (polling every 5 s).
    api_tables(&store, now_ms());
    let dom = browser
        .wait_for(
            "document.querySelectorAll('tr.client').length == 20 \
             && !document.body.textContent.includes('waiting for')",
            20,
        )
        .await;
    assert!(dom.contains(TOP_CLIENT));

    browser
        .open(
            &format!("{base}/dashboard/fleet"),
            "document.body.textContent.includes('waiting for the job that writes vehicle_health…')",
            20,
        )
        .await;
    browser.close().await;
}

/// `GET url` without following redirects: the status, the headers asked for and the body.
async fn get(url: String, if_none_match: Option<String>) -> (u16, Vec<String>, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut request = agent.get(&url);
        if let Some(tag) = if_none_match {
            request = request.header("If-None-Match", tag);
        }
        let mut response = request.call().unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let headers = ["content-type", "etag", "cache-control", "location"].map(header);
        let body = response.body_mut().read_to_vec().unwrap();
        (response.status().as_u16(), headers.to_vec(), body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_and_assets_are_served_with_their_types_and_etags() {
    let (_dir, _store, _server, base) = serve(|_| {}).await;
    for (path, media_type, text) in [
        (
            "/dashboard/",
            "text/html; charset=utf-8",
            "Spate dashboards",
        ),
        (
            "/dashboard/api",
            "text/html; charset=utf-8",
            "/dashboard/assets/api.js",
        ),
        (
            "/dashboard/fleet",
            "text/html; charset=utf-8",
            "/dashboard/assets/fleet.js",
        ),
        (
            "/dashboard/assets/live.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        (
            "/dashboard/assets/style.css",
            "text/css; charset=utf-8",
            "circle.vehicle",
        ),
        (
            "/dashboard/assets/countries-110m.json",
            "application/json",
            "\"Topology\"",
        ),
    ] {
        let (status, headers, body) = get(format!("{base}{path}"), None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers[0], media_type, "{path}");
        assert!(String::from_utf8(body).unwrap().contains(text), "{path}");
        let etag = headers[1].clone();
        assert!(etag.len() > 2 && etag.starts_with('"'), "{path}: {etag:?}");
        assert_eq!(headers[2], "no-cache", "{path}");
        let (status, headers, body) = get(format!("{base}{path}"), Some(etag.clone())).await;
        assert_eq!((status, body.len()), (304, 0), "{path}");
        assert_eq!(headers[1], etag);
        let (status, ..) = get(format!("{base}{path}"), Some("\"other\"".into())).await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, headers, _) = get(format!("{base}/dashboard"), None).await;
    assert_eq!((status, headers[3].as_str()), (308, "/dashboard/"));
    let (status, ..) = get(format!("{base}/dashboard/assets/nothing.js"), None).await;
    assert_eq!(status, 404);
    // The API is still there beside them.
    let (status, _, body) = get(format!("{base}/api/tables"), None).await;
    assert_eq!((status, body.as_slice()), (200, b"[]".as_slice()));
}
