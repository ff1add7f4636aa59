//! The API over real HTTP on 127.0.0.1, with a fixed-box detector standing in for the models.

use std::io::Cursor;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ImageFormat, Rgb, RgbImage};
use spate_privacy::api::access_log::{AccessLog, LogFormat, Rotation};
use spate_privacy::api::keys::{KeyEntry, KeyTable};
use spate_privacy::api::proxy::TrustedProxies;
use spate_privacy::api::{self, AppState, Limits};
use spate_privacy::{Detection, Detector, Kind, PrivacyError};

/// Reports one plate box at (16, 16)-(48, 32) and counts its calls; with `.1`, also a vehicle
/// at (8, 8)-(56, 40).
struct FixedBox(AtomicUsize, bool);

impl Detector for FixedBox {
    fn vehicles(&self, _image: &RgbImage) -> Result<Option<Vec<Detection>>, PrivacyError> {
        Ok(self.1.then(|| {
            vec![Detection {
                kind: Kind::Vehicle,
                x1: 8.0,
                y1: 8.0,
                x2: 56.0,
                y2: 40.0,
                score: 0.8,
            }]
        }))
    }

    fn detect(&self, _image: &RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(vec![Detection {
            kind: Kind::Plate,
            x1: 16.0,
            y1: 16.0,
            x2: 48.0,
            y2: 32.0,
            score: 0.9,
        }])
    }
}

struct Server {
    addr: SocketAddr,
    detector: Arc<FixedBox>,
    log: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(limits: Limits) -> Server {
        Server::start_with(limits, Options::default()).await
    }

    async fn start_with(limits: Limits, options: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let entry = |key: &str, id: &str, rate_per_second, burst| KeyEntry {
            key: key.into(),
            id: id.into(),
            customer: format!("{id} Ltd"),
            plan: "custom".into(),
            rate_per_second,
            burst,
        };
        let keys = KeyTable::new(vec![
            entry("good-key", "fleet-a", 1000.0, 1000.0),
            entry("slow-key", "fleet-b", 0.01, 2.0),
        ]);
        let detector = Arc::new(FixedBox(AtomicUsize::new(0), options.vehicle));
        let access_log = AccessLog::open(&log, options.format, Rotation::default()).unwrap();
        let state = AppState::new(
            (!options.without_detector).then(|| detector.clone() as Arc<dyn Detector>),
            keys,
            Some(access_log),
            limits,
            TrustedProxies::parse(&options.trusted).unwrap(),
        );
        let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            detector,
            log,
            stop: Some(stop),
            handle: Some(handle),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    async fn shutdown(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let finished = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.handle.take().unwrap(),
        )
        .await
        .expect("server stops after the shutdown signal");
        finished.unwrap().unwrap();
    }
}

#[derive(Default)]
struct Options {
    vehicle: bool,
    format: LogFormat,
    trusted: Vec<String>,
    without_detector: bool,
}

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

/// Sends a request from a blocking thread (ureq is synchronous).
async fn send(
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Reply {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = if method == "GET" {
            let mut req = agent.get(&url);
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            req.call().unwrap()
        } else {
            let mut req = agent.post(&url);
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            req.send(&body[..]).unwrap()
        };
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .unwrap(),
        }
    })
    .await
    .unwrap()
}

fn noisy(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 37 % 256) as u8,
            (y * 91 % 256) as u8,
            ((x * y) % 256) as u8,
        ])
    })
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn key(k: &str) -> Vec<(&'static str, String)> {
    vec![("X-API-Key", k.to_string())]
}

#[tokio::test]
async fn blur_pixelates_the_detected_box_only() {
    let mut server = Server::start(Limits::default()).await;
    let img = noisy(64, 48);
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur"),
        key("good-key"),
        encode(&img, ImageFormat::Png),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), "image/png");
    assert_eq!(reply.header("x-detections"), "1");
    assert!(!reply.header("x-request-id").is_empty());
    let out = image::load_from_memory(&reply.body).unwrap().to_rgb8();
    assert_eq!(out.dimensions(), (64, 48));
    // Outside the grown box (1.1x: x 14..50, y 15..33) nothing changed.
    assert_eq!(out.get_pixel(5, 5), img.get_pixel(5, 5));
    assert_eq!(out.get_pixel(60, 40), img.get_pixel(60, 40));
    // Inside, the noise is gone: the 36 x 18 grown box holds 12 x 6 blocks of 3 pixels.
    let mut colours = std::collections::HashSet::new();
    for y in 16..32 {
        for x in 16..48 {
            colours.insert(out.get_pixel(x, y).0);
        }
    }
    assert!(
        colours.len() <= 72,
        "{} colours left in the box",
        colours.len()
    );
    assert_eq!(out.get_pixel(14, 15), out.get_pixel(16, 17));
    assert_eq!(server.detector.0.load(Ordering::SeqCst), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn jpeg_in_jpeg_out_and_boxes_as_json() {
    let mut server = Server::start(Limits::default()).await;
    let jpeg = encode(&noisy(64, 48), ImageFormat::Jpeg);
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur?mode=fill"),
        key("good-key"),
        jpeg.clone(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "image/jpeg");
    let out = image::load_from_memory_with_format(&reply.body, ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    let p = out.get_pixel(30, 24).0;
    assert!(p.iter().all(|&c| c < 24), "filled box is black, got {p:?}");

    let reply = send(
        "POST",
        server.url("/v1/privacy/blur?boxes=json"),
        key("good-key"),
        jpeg,
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["width"], 64);
    assert_eq!(body["height"], 48);
    assert_eq!(body["detections"][0]["kind"], "plate");
    assert_eq!(
        body["detections"][0],
        serde_json::json!({"kind": "plate", "x": 16.0, "y": 16.0, "w": 32.0, "h": 16.0, "score": 0.9})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn multipart_upload_is_accepted() {
    let mut server = Server::start(Limits::default()).await;
    let png = encode(&noisy(32, 32), ImageFormat::Png);
    let boundary = "XyZboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"car.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut headers = key("good-key");
    headers.push((
        "Content-Type",
        format!("multipart/form-data; boundary={boundary}"),
    ));
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur?boxes=json"),
        headers,
        body,
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["width"], 32);
    server.shutdown().await;
}

#[tokio::test]
async fn missing_or_unknown_key_is_401() {
    let mut server = Server::start(Limits::default()).await;
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    let reply = send("POST", server.url("/v1/privacy/blur"), vec![], png.clone()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "missing X-API-Key header");
    assert_eq!(reply.json()["request_id"], reply.header("x-request-id"));
    let reply = send("POST", server.url("/v1/privacy/blur"), key("nope"), png).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "unknown API key");
    assert_eq!(server.detector.0.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut server = Server::start(Limits::default()).await;
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    for _ in 0..2 {
        let reply = send(
            "POST",
            server.url("/v1/privacy/blur"),
            key("slow-key"),
            png.clone(),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur"),
        key("slow-key"),
        png.clone(),
    )
    .await;
    assert_eq!(reply.status, 429);
    let wait: u64 = reply.header("retry-after").parse().unwrap();
    assert!((90..=100).contains(&wait), "retry-after {wait}");
    // Another key has its own bucket.
    let reply = send("POST", server.url("/v1/privacy/blur"), key("good-key"), png).await;
    assert_eq!(reply.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_body_and_too_many_pixels_are_413() {
    let mut server = Server::start(Limits {
        max_body_bytes: 4096,
        max_pixels: 50 * 50,
        max_concurrent: 1,
    })
    .await;
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur"),
        key("good-key"),
        vec![0u8; 5000],
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.json()["error"],
        "request body over the limit of 4096 bytes"
    );
    // A small file that declares 60 x 60 pixels is refused before decoding.
    let png = encode(&RgbImage::new(60, 60), ImageFormat::Png);
    assert!(png.len() < 4096);
    let reply = send("POST", server.url("/v1/privacy/blur"), key("good-key"), png).await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.json()["error"],
        "image is 60x60 = 3600 pixels, over the limit of 2500"
    );
    assert_eq!(server.detector.0.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn truncated_and_foreign_bodies_are_rejected() {
    let mut server = Server::start(Limits::default()).await;
    let jpeg = encode(&noisy(64, 64), ImageFormat::Jpeg);
    let cut = jpeg[..jpeg.len() / 2].to_vec();
    let reply = send("POST", server.url("/v1/privacy/blur"), key("good-key"), cut).await;
    assert_eq!(reply.status, 400);
    let msg = reply.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("JPEG image is truncated: no end-of-image marker"),
        "{msg}"
    );
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur"),
        key("good-key"),
        b"hello world".to_vec(),
    )
    .await;
    assert_eq!(reply.status, 415);
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur?boxes=xml"),
        key("good-key"),
        jpeg.clone(),
    )
    .await;
    assert_eq!(reply.status, 400);
    let reply = send(
        "POST",
        server.url("/v1/privacy/blur?background=blur"),
        key("good-key"),
        jpeg,
    )
    .await;
    assert_eq!(reply.status, 501);
    assert_eq!(server.detector.0.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn page_metrics_request_ids_and_access_log() {
    let mut server = Server::start(Limits::default()).await;
    let page = send("GET", server.url("/"), vec![], vec![]).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("/v1/privacy/blur"));
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    let mut headers = key("good-key");
    headers.push(("x-request-id", "client-chosen-1".into()));
    headers.push(("User-Agent", "spate-test/1".into()));
    let reply = send("POST", server.url("/v1/privacy/blur"), headers, png.clone()).await;
    assert_eq!(reply.header("x-request-id"), "client-chosen-1");
    let metrics = send("GET", server.url("/metrics"), vec![], vec![]).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("privacy_http_requests_total{"), "{text}");
    assert!(
        text.contains("privacy_detections_total{kind=\"plate\"}"),
        "{text}"
    );
    server.shutdown().await;

    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    let post = &lines[1];
    assert_eq!(post["request_id"], "client-chosen-1");
    assert_eq!(post["client_ip"], "127.0.0.1");
    assert_eq!(post["api_key"], "fleet-a");
    assert_eq!(post["method"], "POST");
    assert_eq!(post["path"], "/v1/privacy/blur");
    assert_eq!(post["status"], 200);
    assert_eq!(post["bytes_in"], png.len());
    assert_eq!(post["bytes_out"], reply.body.len());
    assert_eq!(post["user_agent"], "spate-test/1");
    assert_eq!(post["protocol"], "HTTP/1.1");
    assert_eq!(post["detections"], 1);
    assert!(post["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(post["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[0]["api_key"], serde_json::Value::Null);
}

fn read_log(server: &Server) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&server.log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn wrong_content_types_are_415_and_unknown_routes_404_with_json() {
    let mut server = Server::start(Limits::default()).await;
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    let blur = server.url("/v1/privacy/blur");
    let mut headers = key("good-key");
    headers.push(("Content-Type", "text/plain; charset=utf-8".into()));
    let reply = send("POST", blur.clone(), headers, png.clone()).await;
    assert_eq!(reply.status, 415);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Content-Type text/plain; charset=utf-8 is not accepted"),
        "{}",
        reply.json()
    );
    let mut headers = key("good-key");
    headers.push(("Content-Type", "image/jpeg".into()));
    let reply = send("POST", blur.clone(), headers, png.clone()).await;
    assert_eq!(reply.status, 415);
    assert_eq!(
        reply.json()["error"],
        "Content-Type says image/jpeg, but the body is a Png image"
    );
    let mut headers = key("good-key");
    headers.push(("Content-Type", "image/png".into()));
    assert_eq!(send("POST", blur.clone(), headers, png).await.status, 200);

    for path in ["/.env", "/wp-admin/install.php", "/v1/privacy/blurx"] {
        let reply = send("GET", server.url(path), vec![], vec![]).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.json()["error"],
            format!("no such resource: GET {path}")
        );
        assert_eq!(reply.json()["request_id"], reply.header("x-request-id"));
    }
    let reply = send("GET", blur, key("good-key"), vec![]).await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.json()["error"],
        "GET is not allowed on /v1/privacy/blur"
    );
    assert_eq!(server.detector.0.load(Ordering::SeqCst), 1);
    server.shutdown().await;
    let statuses: Vec<u64> = read_log(&server)
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [415, 415, 200, 404, 404, 404, 405]);
}

#[tokio::test]
async fn forwarded_for_is_logged_only_behind_trusted_proxies() {
    for (trusted, expected) in [
        (vec![], "127.0.0.1"),
        (vec!["127.0.0.0/8".to_string()], "198.51.100.23"),
    ] {
        let mut server = Server::start_with(
            Limits::default(),
            Options {
                trusted,
                ..Options::default()
            },
        )
        .await;
        let headers = vec![("X-Forwarded-For", "198.51.100.23".to_string())];
        let reply = send("GET", server.url("/wp-login.php"), headers, vec![]).await;
        assert_eq!(reply.status, 404);
        server.shutdown().await;
        assert_eq!(read_log(&server)[0]["client_ip"], expected);
    }
}

#[tokio::test]
async fn combined_format_log() {
    let mut server = Server::start_with(
        Limits::default(),
        Options {
            format: LogFormat::Combined,
            ..Options::default()
        },
    )
    .await;
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    let mut headers = key("good-key");
    headers.push(("User-Agent", "fleet-sdk/2.1".into()));
    headers.push(("x-request-id", "abc".into()));
    let reply = send("POST", server.url("/v1/privacy/blur"), headers, png.clone()).await;
    assert_eq!(reply.status, 200);
    server.shutdown().await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    let line = log.lines().next().unwrap();
    let prefix = "127.0.0.1 - fleet-a [";
    assert!(line.starts_with(prefix), "{line}");
    let expected = format!(
        "] \"POST /v1/privacy/blur HTTP/1.1\" 200 {} \"-\" \"fleet-sdk/2.1\" request_id=abc request_time=",
        reply.body.len()
    );
    assert!(line.contains(&expected), "{line}");
    assert!(
        line.ends_with(&format!(" bytes_in={} detections=1", png.len())),
        "{line}"
    );
}

#[tokio::test]
async fn without_detectors_keys_limits_and_checks_still_answer() {
    let mut server = Server::start_with(
        Limits::default(),
        Options {
            without_detector: true,
            ..Options::default()
        },
    )
    .await;
    let blur = server.url("/v1/privacy/blur");
    let png = encode(&noisy(8, 8), ImageFormat::Png);
    assert_eq!(
        send("POST", blur.clone(), vec![], png.clone()).await.status,
        401
    );
    let jpeg = encode(&noisy(64, 64), ImageFormat::Jpeg);
    let cut = jpeg[..jpeg.len() / 2].to_vec();
    assert_eq!(
        send("POST", blur.clone(), key("good-key"), cut)
            .await
            .status,
        400
    );
    let reply = send("POST", blur.clone(), key("good-key"), png.clone()).await;
    assert_eq!(reply.status, 503);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("without detectors"),
        "{}",
        reply.json()
    );
    for _ in 0..2 {
        send("POST", blur.clone(), key("slow-key"), png.clone()).await;
    }
    assert_eq!(send("POST", blur, key("slow-key"), png).await.status, 429);
    assert_eq!(
        send("GET", server.url("/.git/config"), vec![], vec![])
            .await
            .status,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn background_blur_keeps_the_vehicle_sharp() {
    let mut server = Server::start_with(
        Limits::default(),
        Options {
            vehicle: true,
            ..Options::default()
        },
    )
    .await;
    let img = noisy(128, 64);
    let png = encode(&img, ImageFormat::Png);
    let url = server.url("/v1/privacy/blur?background=blur&mode=fill");
    let reply = send("POST", url, key("good-key"), png.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-vehicles"), "1");
    let out = image::load_from_memory(&reply.body).unwrap().to_rgb8();
    // Inside the vehicle (grown 6%) but outside the plate: unchanged. The plate: black.
    // Far outside: blurred.
    assert_eq!(out.get_pixel(10, 36), img.get_pixel(10, 36));
    assert_eq!(out.get_pixel(30, 24), &Rgb([0, 0, 0]));
    let changed = (64..128)
        .filter(|&x| out.get_pixel(x, 50) != img.get_pixel(x, 50))
        .count();
    assert!(changed > 55, "{changed} of 64 background pixels changed");
    let url = server.url("/v1/privacy/blur?background=blur&boxes=json");
    let reply = send("POST", url, key("good-key"), png).await;
    assert_eq!(reply.json()["vehicles"][0]["kind"], "vehicle");
    assert_eq!(reply.json()["detections"][0]["kind"], "plate");
    server.shutdown().await;
}
