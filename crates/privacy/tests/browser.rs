//! The upload page at `/` in a real headless Chromium, driven through chromedriver: a photo is
//! chosen, sent, and the result shown beside it. A screenshot is kept as a test artifact in
//! `$CARGO_TARGET_TMPDIR/artifacts/upload-page.png`. Skipped, loudly, without chromium and
//! chromedriver (`.ci/run` installs Debian's `chromium` and `chromium-driver`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use image::{ImageFormat, Rgb, RgbImage};
use spate_privacy::api::access_log::{AccessLog, LogFormat, Rotation};
use spate_privacy::api::keys::{KeyEntry, KeyTable};
use spate_privacy::api::proxy::TrustedProxies;
use spate_privacy::api::{self, AppState, Limits};
use spate_privacy::{Detection, Detector, Kind, PrivacyError};
use spate_testkit::Browser;

/// Reports one plate box in the middle of the photo.
struct MiddleBox;

impl Detector for MiddleBox {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        Ok(vec![Detection {
            kind: Kind::Plate,
            x1: w * 0.35,
            y1: h * 0.45,
            x2: w * 0.65,
            y2: h * 0.6,
            score: 0.9,
        }])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_page_shows_original_and_result_in_chromium() {
    let Some(browser) = Browser::start_sized(1200, 800).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyTable::new(vec![KeyEntry {
        key: "page-key".into(),
        id: "page".into(),
        customer: "Page Ltd".into(),
        plan: "custom".into(),
        rate_per_second: 100.0,
        burst: 100.0,
    }]);
    let log_path = dir.path().join("access.log");
    let state = AppState::new(
        Some(Arc::new(MiddleBox)),
        keys,
        Some(AccessLog::open(&log_path, LogFormat::Json, Rotation::default()).unwrap()),
        Limits::default(),
        TrustedProxies::default(),
    );
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let photo = RgbImage::from_fn(480, 320, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y / 7) % 256) as u8])
    });
    let photo_path = dir.path().join("car.png");
    photo
        .save_with_format(&photo_path, ImageFormat::Png)
        .unwrap();

    let client = &browser.client;
    client.goto(&format!("http://{addr}/")).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "Spate privacy");
    client
        .find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys("page-key")
        .await
        .unwrap();
    client
        .find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(&photo_path.display().to_string())
        .await
        .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let waited = Instant::now();
    let status = loop {
        let text = client
            .find(Locator::Id("status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.starts_with("Done") || text.contains(':') && !text.starts_with("Working") {
            break text;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "no answer on the page: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.starts_with("Done in"), "{status}");
    assert!(status.ends_with("1 regions hidden."), "{status}");
    // Both pictures are loaded and drawn.
    let widths = client
        .execute(
            "return [document.getElementById('original').naturalWidth, document.getElementById('result').naturalWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(widths, serde_json::json!([480, 480]));

    let png = client.screenshot().await.unwrap();
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("upload-page.png");
    std::fs::write(&shot, &png).unwrap();
    println!("screenshot: {}", shot.display());
    let shot_img = image::load_from_memory(&png).unwrap().to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> =
        shot_img.pixels().step_by(97).map(|p| p.0).collect();
    assert!(distinct.len() > 50, "the screenshot looks blank");
    browser.close().await;

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"path\":\"/v1/privacy/blur\"") && l.contains("\"status\":200")),
        "{log}"
    );
}
