//! What the API asks of a detector, and the detector made of the two models.

use std::path::Path;

use crate::error::PrivacyError;
use crate::face::CenterFace;
use crate::geometry::Detection;
use crate::models::{CENTERFACE, PPOCR_DET};
use crate::plate::PlateDetector;

/// Finds the regions to hide in a photo.
pub trait Detector: Send + Sync {
    /// Faces and plates in `image`, in its pixels.
    fn detect(&self, image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError>;
}

/// CenterFace for faces and the PP-OCRv4 text detector for plates.
pub struct ModelDetector {
    face: CenterFace,
    plate: PlateDetector,
    max_side: u32,
}

impl ModelDetector {
    /// Loads both models from `models_dir` (as `spate models fetch` leaves it). Images whose
    /// longer side exceeds `max_side` are scaled down for the networks.
    pub fn load(models_dir: &Path, max_side: u32) -> Result<Self, PrivacyError> {
        Ok(ModelDetector {
            face: CenterFace::load(&CENTERFACE.path_in(models_dir))?,
            plate: PlateDetector::load(&PPOCR_DET.path_in(models_dir))?,
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
}
