//! What the API asks of a detector, and the detector made of the two models.

use std::path::Path;

use crate::error::PrivacyError;
use crate::face::CenterFace;
use crate::geometry::Detection;
use crate::models::{CENTERFACE, NANODET_JSON, PPOCR_DET};
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

/// CenterFace for faces, the PP-OCRv4 text detector for plates, and NanoDet for vehicles.
pub struct ModelDetector {
    face: CenterFace,
    plate: PlateDetector,
    vehicle: Option<VehicleDetector>,
    max_side: u32,
}

impl ModelDetector {
    /// Loads the models from `models_dir` (as `spate models fetch` leaves it); the vehicle
    /// model only when its files are there. Images whose longer side exceeds `max_side` are
    /// scaled down for the face and plate networks.
    pub fn load(models_dir: &Path, max_side: u32) -> Result<Self, PrivacyError> {
        let nanodet = NANODET_JSON.path_in(models_dir);
        Ok(ModelDetector {
            face: CenterFace::load(&CENTERFACE.path_in(models_dir))?,
            plate: PlateDetector::load(&PPOCR_DET.path_in(models_dir))?,
            vehicle: if nanodet.exists() {
                Some(VehicleDetector::load(&nanodet)?)
            } else {
                tracing::warn!(
                    "{} is missing: background=blur is refused (run `spate models fetch`)",
                    nanodet.display()
                );
                None
            },
            max_side,
        })
    }
}

impl Detector for ModelDetector {
    fn detect(&self, image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        let (w, h) = image.dimensions();
        let ratio = (self.max_side as f32 / w.max(h) as f32).min(1.0);
        let (iw, ih) = (
            ((w as f32 * ratio) as u32).max(1),
            ((h as f32 * ratio) as u32).max(1),
        );
        let mut found = self.face.detect_at(image, iw, ih)?;
        found.extend(self.plate.detect(image, self.max_side)?);
        Ok(found)
    }

    fn vehicles(&self, image: &image::RgbImage) -> Result<Option<Vec<Detection>>, PrivacyError> {
        self.vehicle.as_ref().map(|v| v.detect(image)).transpose()
    }
}
