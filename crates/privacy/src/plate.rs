//! Licence plates: the PP-OCRv4 text detector (DB, as RapidOCR runs it) finds text regions,
//! and a plate-shape check keeps the ones shaped like a plate.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use crate::detect::Stages;
use crate::error::PrivacyError;
use crate::geometry::{Detection, Kind};
use crate::onnx::{Engine, Normalize, OnnxModel, to_chw};

/// The text detector's input normalisation: `(v / 255 - 0.5) / 0.5`.
const NORMALIZE: Normalize = Normalize {
    scale: 1.0 / 255.0,
    mean: [0.5; 3],
    std: [0.5; 3],
    order: [0, 1, 2],
};

/// Probability above which a pixel is text (RapidOCR's `thresh`).
pub const PIXEL_THRESHOLD: f32 = 0.3;
/// Mean probability a region needs (RapidOCR's `box_thresh`).
pub const BOX_THRESHOLD: f32 = 0.5;
/// How far a region is grown, as in DB's unclip (RapidOCR's `unclip_ratio`).
pub const UNCLIP_RATIO: f32 = 1.6;
/// RapidOCR scales images up until the shorter side has this many pixels.
pub const MIN_SIDE: u32 = 736;

/// Which text boxes count as plates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateShape {
    /// Smallest width / height.
    pub min_aspect: f32,
    /// Largest width / height.
    pub max_aspect: f32,
    /// Smallest height in image pixels.
    pub min_height: f32,
    /// Largest width as a fraction of the image width.
    pub max_width_fraction: f32,
}

impl Default for PlateShape {
    fn default() -> Self {
        PlateShape {
            min_aspect: 1.5,
            max_aspect: 8.0,
            min_height: 6.0,
            max_width_fraction: 0.6,
        }
    }
}

impl PlateShape {
    /// Whether `d`, found in an image `image_width` pixels wide, looks like a plate.
    pub fn accepts(&self, d: &Detection, image_width: u32) -> bool {
        let (w, h) = (d.width(), d.height());
        h >= self.min_height
            && w / h >= self.min_aspect
            && w / h <= self.max_aspect
            && w <= self.max_width_fraction * image_width as f32
    }
}

/// The plate detector.
pub struct PlateDetector {
    model: OnnxModel,
    shape: PlateShape,
}

impl PlateDetector {
    /// Loads `ch_PP-OCRv4_det_infer.onnx` for `engine`, with the default plate shape.
    pub fn load(path: &Path, engine: &Engine) -> Result<Self, PrivacyError> {
        Ok(PlateDetector {
            model: OnnxModel::load(path, engine)?,
            shape: PlateShape::default(),
        })
    }

    /// The network input size for an image: scaled up until the shorter side is
    /// [`MIN_SIDE`], then down if the longer side exceeds `max_side`, each side rounded to
    /// a multiple of 32.
    pub fn input_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
        let mut ratio = (MIN_SIDE as f32 / width.min(height) as f32).max(1.0);
        let longest = width.max(height) as f32 * ratio;
        if longest > max_side as f32 {
            ratio *= max_side as f32 / longest;
        }
        let round = |v: u32| ((v as f32 * ratio / 32.0).round() as u32).max(1) * 32;
        (round(width), round(height))
    }

    /// All text regions (before the plate-shape check), in image pixels, and how long each
    /// stage took.
    pub fn text_regions(
        &self,
        image: &image::RgbImage,
        max_side: u32,
    ) -> Result<(Vec<Detection>, Stages), PrivacyError> {
        let started = Instant::now();
        let (w, h) = image.dimensions();
        let (iw, ih) = Self::input_size(w, h, max_side);
        let input = to_chw(image, iw, ih, NORMALIZE);
        let preprocessed = Instant::now();
        let outputs = self.model.run(input, ih as usize, iw as usize)?;
        let inferred = Instant::now();
        let Some((_, prob)) = outputs
            .first()
            .filter(|(_, p)| p.len() == (iw * ih) as usize)
        else {
            return Err(PrivacyError::Inference {
                model: self.model.name().to_string(),
                message: format!(
                    "output has shape {:?}, expected [1, 1, {ih}, {iw}]",
                    outputs.first().map(|o| &o.0)
                ),
            });
        };
        let (sx, sy) = (w as f32 / iw as f32, h as f32 / ih as f32);
        let found = regions(prob, iw as usize, ih as usize)
            .into_iter()
            .map(|d| Detection {
                x1: (d.x1 * sx).clamp(0.0, w as f32),
                y1: (d.y1 * sy).clamp(0.0, h as f32),
                x2: (d.x2 * sx).clamp(0.0, w as f32),
                y2: (d.y2 * sy).clamp(0.0, h as f32),
                ..d
            })
            .collect();
        let stages = Stages {
            preprocess: preprocessed - started,
            inference: inferred - preprocessed,
            postprocess: inferred.elapsed(),
        };
        Ok((found, stages))
    }

    /// Plates: text regions that pass the plate-shape check, and how long each stage took.
    pub fn detect_timed(
        &self,
        image: &image::RgbImage,
        max_side: u32,
    ) -> Result<(Vec<Detection>, Stages), PrivacyError> {
        let width = image.width();
        let (regions, mut stages) = self.text_regions(image, max_side)?;
        let started = Instant::now();
        let plates = regions
            .into_iter()
            .filter(|d| self.shape.accepts(d, width))
            .collect();
        stages.postprocess += started.elapsed();
        Ok((plates, stages))
    }

    /// Plates: text regions that pass the plate-shape check.
    pub fn detect(
        &self,
        image: &image::RgbImage,
        max_side: u32,
    ) -> Result<Vec<Detection>, PrivacyError> {
        Ok(self.detect_timed(image, max_side)?.0)
    }
}

/// DB post-processing on a probability map of `width` × `height`: threshold, 2×2 dilation,
/// 8-connected regions, mean-score filter and unclip, with axis-aligned boxes where RapidOCR
/// fits rotated rectangles. Boxes are in map pixels.
pub fn regions(prob: &[f32], width: usize, height: usize) -> Vec<Detection> {
    let mut mask = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            let on = |xx: usize, yy: usize| prob[yy * width + xx] > PIXEL_THRESHOLD;
            mask[y * width + x] = on(x, y)
                || (x > 0 && on(x - 1, y))
                || (y > 0 && on(x, y - 1))
                || (x > 0 && y > 0 && on(x - 1, y - 1));
        }
    }
    let mut seen = vec![false; width * height];
    let mut out = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        queue.push_back(start);
        let (mut x1, mut y1, mut x2, mut y2) = (usize::MAX, usize::MAX, 0, 0);
        let (mut count, mut sum) = (0usize, 0f32);
        while let Some(i) = queue.pop_front() {
            let (x, y) = (i % width, i / width);
            count += 1;
            sum += prob[i];
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x + 1), y2.max(y + 1));
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        let (w, h) = ((x2 - x1) as f32, (y2 - y1) as f32);
        if w.min(h) < 3.0 {
            continue;
        }
        // The mean over the region's own pixels, not its box, so that tilted plates keep
        // their score.
        let score = sum / count as f32;
        if score < BOX_THRESHOLD {
            continue;
        }
        let grow = count as f32 * UNCLIP_RATIO / (2.0 * (w + h));
        if w.min(h) + 2.0 * grow < 5.0 {
            continue;
        }
        out.push(Detection {
            kind: Kind::Plate,
            x1: (x1 as f32 - grow).max(0.0),
            y1: (y1 as f32 - grow).max(0.0),
            x2: (x2 as f32 + grow).min(width as f32),
            y2: (y2 as f32 + grow).min(height as f32),
            score,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_finds_one_blob_and_unclips_it() {
        let (w, h) = (40, 20);
        let mut prob = vec![0.0; w * h];
        for y in 8..12 {
            for x in 10..30 {
                prob[y * w + x] = 0.9;
            }
        }
        let found = regions(&prob, w, h);
        assert_eq!(found.len(), 1);
        let d = found[0];
        // The 2x2 dilation makes the blob 21 x 5 from (10, 8); unclip grows it by
        // 21 * 5 * 1.6 / 52 = 3.23 on each side.
        let grow = 21.0 * 5.0 * 1.6 / 52.0;
        assert!((d.x1 - (10.0 - grow)).abs() < 1e-4, "{d:?}");
        assert!((d.y2 - (13.0 + grow)).abs() < 1e-4, "{d:?}");
        assert!(d.score > 0.5);
    }

    #[test]
    fn regions_drops_faint_and_tiny_blobs() {
        let (w, h) = (20, 20);
        let mut prob = vec![0.0; w * h];
        for y in 2..8 {
            for x in 2..18 {
                prob[y * w + x] = 0.35;
            }
        }
        prob[15 * w + 15] = 0.9;
        assert!(regions(&prob, w, h).is_empty());
    }

    #[test]
    fn plate_shape_check() {
        let shape = PlateShape::default();
        let d = |w: f32, h: f32| Detection {
            kind: Kind::Plate,
            x1: 0.0,
            y1: 0.0,
            x2: w,
            y2: h,
            score: 1.0,
        };
        assert!(shape.accepts(&d(90.0, 20.0), 640));
        assert!(!shape.accepts(&d(20.0, 20.0), 640), "square");
        assert!(!shape.accepts(&d(400.0, 20.0), 640), "too wide");
        assert!(!shape.accepts(&d(20.0, 4.0), 640), "too low");
    }

    #[test]
    fn input_size_follows_rapidocr_and_caps() {
        assert_eq!(PlateDetector::input_size(640, 480, 4096), (992, 736));
        assert_eq!(PlateDetector::input_size(4000, 3000, 1280), (1280, 960));
    }
}
