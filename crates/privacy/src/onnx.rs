//! ONNX models behind one interface: run by tract (always built in), or by ONNX Runtime when
//! this crate is built with the `ort` feature and the ONNX Runtime library is at hand.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::PrivacyError;

/// How many input shapes keep a prepared tract plan; past that the cache starts afresh.
const MAX_PLANS: usize = 8;

/// One model output: its shape and its values in row-major order.
pub type Output = (Vec<usize>, Vec<f32>);

/// Which inference engine to use, as asked for (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// ONNX Runtime when built in and its library is in the models directory, else tract.
    #[default]
    Auto,
    /// Always tract.
    Tract,
    /// ONNX Runtime, or an error when it cannot be had.
    OnnxRuntime,
}

impl FromStr for EngineChoice {
    type Err = PrivacyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "tract" => Ok(EngineChoice::Tract),
            "onnxruntime" | "ort" => Ok(EngineChoice::OnnxRuntime),
            other => Err(PrivacyError::Engine(format!(
                "unknown engine {other:?}: expected auto, tract or onnxruntime"
            ))),
        }
    }
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Tract => "tract",
            EngineChoice::OnnxRuntime => "onnxruntime",
        })
    }
}

/// The engine the models run on, once resolved.
#[derive(Clone)]
pub enum Engine {
    /// tract, in this process's own code.
    Tract,
    /// ONNX Runtime, loaded from its shared library.
    #[cfg(feature = "ort")]
    OnnxRuntime(Arc<crate::ort_engine::OrtEngine>),
}

impl Engine {
    /// Resolves `choice` against `models_dir`, where `spate models fetch` leaves the ONNX
    /// Runtime library (with the `ort` feature). `Auto` falls back to tract, saying why.
    pub fn resolve(choice: EngineChoice, models_dir: &Path) -> Result<Engine, PrivacyError> {
        match choice {
            EngineChoice::Tract => Ok(Engine::Tract),
            EngineChoice::OnnxRuntime => Self::onnxruntime(models_dir),
            EngineChoice::Auto => Self::onnxruntime(models_dir).or_else(|e| {
                tracing::info!("running the detectors on tract: {e}");
                Ok(Engine::Tract)
            }),
        }
    }

    #[cfg(feature = "ort")]
    fn onnxruntime(models_dir: &Path) -> Result<Engine, PrivacyError> {
        crate::ort_engine::OrtEngine::load(models_dir).map(Engine::OnnxRuntime)
    }

    #[cfg(not(feature = "ort"))]
    fn onnxruntime(_models_dir: &Path) -> Result<Engine, PrivacyError> {
        Err(PrivacyError::Engine(
            "this build has no ONNX Runtime support (build with the `ort` feature)".into(),
        ))
    }

    /// The choice that resolves to this engine and no other.
    pub fn choice(&self) -> EngineChoice {
        match self {
            Engine::Tract => EngineChoice::Tract,
            #[cfg(feature = "ort")]
            Engine::OnnxRuntime(_) => EngineChoice::OnnxRuntime,
        }
    }

    /// The engine's name, with ONNX Runtime's version.
    pub fn describe(&self) -> String {
        match self {
            Engine::Tract => "tract".into(),
            #[cfg(feature = "ort")]
            Engine::OnnxRuntime(ort) => format!("onnxruntime {}", ort.version()),
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// An image model taking one `[1, 3, H, W]` f32 input.
pub struct OnnxModel {
    name: String,
    backend: Backend,
}

enum Backend {
    Tract(TractModel),
    #[cfg(feature = "ort")]
    OnnxRuntime(crate::ort_engine::OrtModel),
}

impl OnnxModel {
    /// Reads the ONNX file at `path` and prepares it for `engine`.
    pub fn load(path: &Path, engine: &Engine) -> Result<Self, PrivacyError> {
        let proto =
            tract_onnx::onnx()
                .proto_model_for_path(path)
                .map_err(|e| PrivacyError::Model {
                    path: path.to_path_buf(),
                    message: format!("{e:#}"),
                })?;
        Self::from_proto(path, proto, engine)
    }

    /// A model already parsed (or converted), named after `path` in messages.
    pub fn from_proto(
        path: &Path,
        proto: pb::ModelProto,
        engine: &Engine,
    ) -> Result<Self, PrivacyError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fail = |message: String| PrivacyError::Model {
            path: path.to_path_buf(),
            message,
        };
        let backend = match engine {
            Engine::Tract => {
                let model = tract_onnx::onnx()
                    .model_for_proto_model(&proto)
                    .map_err(|e| fail(format!("{e:#}")))?;
                Backend::Tract(TractModel {
                    path: path.to_path_buf(),
                    model,
                    plans: Mutex::new(HashMap::new()),
                })
            }
            #[cfg(feature = "ort")]
            Engine::OnnxRuntime(ort) => {
                Backend::OnnxRuntime(ort.model(&name, proto).map_err(|e| fail(e.to_string()))?)
            }
        };
        Ok(OnnxModel { name, backend })
    }

    /// The model's file name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the model on a `[1, 3, height, width]` input given in CHW order, and returns each
    /// output as its shape and values.
    pub fn run(
        &self,
        input: Vec<f32>,
        height: usize,
        width: usize,
    ) -> Result<Vec<Output>, PrivacyError> {
        match &self.backend {
            Backend::Tract(model) => model.run(&self.name, input, height, width),
            #[cfg(feature = "ort")]
            Backend::OnnxRuntime(model) => model.run(input, height, width),
        }
    }
}

/// A tract model with one optimised plan per input shape met.
struct TractModel {
    path: PathBuf,
    model: InferenceModel,
    plans: Mutex<HashMap<(usize, usize), Arc<TypedRunnableModel>>>,
}

impl TractModel {
    fn plan(&self, height: usize, width: usize) -> Result<Arc<TypedRunnableModel>, PrivacyError> {
        let key = (height, width);
        if let Some(plan) = self.plans.lock().expect("plan cache lock").get(&key) {
            return Ok(plan.clone());
        }
        let mut model = self.model.clone();
        // Files may declare fixed output shapes (CenterFace's say batch 10, 32x32): forget
        // them so that tract infers them from the input.
        let prepared = (0..model.output_outlets().map(|o| o.len()).unwrap_or(0))
            .try_for_each(|i| model.set_output_fact(i, InferenceFact::default()))
            .and_then(|_| model.with_input_fact(0, f32::fact([1, 3, height, width]).into()));
        let plan = prepared
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| PrivacyError::Model {
                path: self.path.clone(),
                message: format!("preparing for input 1x3x{height}x{width}: {e:#}"),
            })?;
        let mut plans = self.plans.lock().expect("plan cache lock");
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.insert(key, plan.clone());
        Ok(plan)
    }

    fn run(
        &self,
        name: &str,
        input: Vec<f32>,
        height: usize,
        width: usize,
    ) -> Result<Vec<Output>, PrivacyError> {
        let plan = self.plan(height, width)?;
        let fail = |e: TractError| PrivacyError::Inference {
            model: name.to_string(),
            message: format!("{e:#}"),
        };
        let tensor = tract_ndarray::Array4::from_shape_vec((1, 3, height, width), input)
            .map_err(|e| fail(e.into()))?;
        let outputs = plan
            .run(tvec!(Tensor::from(tensor).into_tvalue()))
            .map_err(fail)?;
        outputs
            .iter()
            .map(|o| {
                let view = o.to_plain_array_view::<f32>().map_err(fail)?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}

/// Per-channel normalisation of 0–255 pixel values: `(v * scale - mean[c]) / std[c]`, for
/// the input channels in `order` (indices into RGB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Multiplies the raw value first.
    pub scale: f32,
    /// Subtracted after scaling, per input channel.
    pub mean: [f32; 3],
    /// Divides last, per input channel.
    pub std: [f32; 3],
    /// Which RGB channel each input channel takes: `[0, 1, 2]` for RGB, `[2, 1, 0]` for BGR.
    pub order: [usize; 3],
}

impl Normalize {
    /// Raw 0–255 RGB values.
    pub const RAW_RGB: Normalize = Normalize {
        scale: 1.0,
        mean: [0.0; 3],
        std: [1.0; 3],
        order: [0, 1, 2],
    };
}

/// Resizes `image` to `width` × `height` and lays it out as the CHW f32 input of a network.
/// Shrinking by up to 2.5 times, in one pass: bilinear with pixel centres aligned, as OpenCV's
/// `INTER_LINEAR` (which deface and RapidOCR use), each output pixel blending its 2×2 nearest
/// source pixels. Shrinking further, a triangle filter first, so that fine detail does not
/// alias.
pub fn to_chw(image: &image::RgbImage, width: u32, height: u32, norm: Normalize) -> Vec<f32> {
    let (sw, sh) = image.dimensions();
    if 2 * sw > 5 * width || 2 * sh > 5 * height {
        let resized =
            image::imageops::resize(image, width, height, image::imageops::FilterType::Triangle);
        return bilinear_chw(&resized, width, height, norm);
    }
    bilinear_chw(image, width, height, norm)
}

fn bilinear_chw(image: &image::RgbImage, width: u32, height: u32, norm: Normalize) -> Vec<f32> {
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (w, h) = (width as usize, height as usize);
    let src = image.as_raw();
    // Per output column: the two source columns and the right one's weight.
    let taps = |out: usize, len: usize| -> Vec<(usize, usize, f32)> {
        let ratio = len as f32 / out as f32;
        (0..out)
            .map(|i| {
                let pos = ((i as f32 + 0.5) * ratio - 0.5).max(0.0);
                let lo = (pos as usize).min(len - 1);
                let hi = (lo + 1).min(len - 1);
                (lo, hi, pos - lo as f32)
            })
            .collect()
    };
    let cols = taps(w, sw);
    let rows = taps(h, sh);
    let factor = norm.std.map(|s| norm.scale / s);
    let offset: [f32; 3] = std::array::from_fn(|c| norm.mean[c] / norm.std[c]);
    let plane = w * h;
    let mut out = vec![0f32; plane * 3];
    // Separable: each source row needed is blended horizontally once, into one row per input
    // channel, and each output row blends two such rows vertically (the same arithmetic, in
    // the same order, as blending the 2×2 neighbours of each output pixel).
    let horizontal = |sy: usize, into: &mut [f32]| {
        let row = &src[sy * sw * 3..][..sw * 3];
        for (c, &from) in norm.order.iter().enumerate() {
            for (v, &(x0, x1, fx)) in into[c * w..][..w].iter_mut().zip(&cols) {
                let (a, b) = (row[x0 * 3 + from] as f32, row[x1 * 3 + from] as f32);
                *v = a + (b - a) * fx;
            }
        }
    };
    let (mut top, mut bottom) = (vec![0f32; 3 * w], vec![0f32; 3 * w]);
    let (mut top_row, mut bottom_row) = (usize::MAX, usize::MAX);
    for (y, &(y0, y1, fy)) in rows.iter().enumerate() {
        if top_row != y0 {
            if bottom_row == y0 {
                std::mem::swap(&mut top, &mut bottom);
                std::mem::swap(&mut top_row, &mut bottom_row);
            } else {
                horizontal(y0, &mut top);
                top_row = y0;
            }
        }
        if bottom_row != y1 {
            horizontal(y1, &mut bottom);
            bottom_row = y1;
        }
        for c in 0..3 {
            let (upper, lower) = (&top[c * w..][..w], &bottom[c * w..][..w]);
            let dst = &mut out[c * plane + y * w..][..w];
            for ((d, &u), &l) in dst.iter_mut().zip(upper).zip(lower) {
                let v = u + (l - u) * fy;
                *d = v * factor[c] - offset[c];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn to_chw_same_size_copies_and_normalises() {
        let img = RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8 * 10, y as u8 * 100, 255]));
        let norm = Normalize {
            scale: 1.0 / 255.0,
            mean: [0.5; 3],
            std: [0.5; 3],
            order: [2, 1, 0],
        };
        let out = to_chw(&img, 3, 2, norm);
        // Channel 0 is blue (255 everywhere): (1 - 0.5) / 0.5 = 1.
        assert!(out[..6].iter().all(|v| (v - 1.0).abs() < 1e-6), "{out:?}");
        // Channel 2 is red: pixel (2, 1) is 20 -> (20/255 - 0.5) / 0.5.
        assert!((out[12 + 5] - (20.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
        // Channel 1 is green: row 1 is 100.
        assert!((out[6 + 4] - (100.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    }

    #[test]
    fn to_chw_halving_averages_pixel_pairs() {
        // Halving a 4x2 ramp: each output pixel sits between two source columns and rows.
        let img = RgbImage::from_fn(4, 2, |x, y| Rgb([x as u8 * 40, y as u8 * 80, 0]));
        let out = to_chw(&img, 2, 1, Normalize::RAW_RGB);
        assert_eq!(out[..2], [20.0, 100.0]);
        assert_eq!(out[2..4], [40.0, 40.0]);
        // Upscaling clamps at the edges: the first column keeps the first pixel's value.
        let up = to_chw(&img, 8, 2, Normalize::RAW_RGB);
        assert_eq!(up[0], 0.0);
        assert_eq!(up[7], 120.0);
    }

    /// The blend of each output pixel's 2×2 source neighbours, one pixel at a time.
    fn per_pixel_reference(img: &RgbImage, w: usize, h: usize, norm: Normalize) -> Vec<f32> {
        let (sw, sh) = (img.width() as usize, img.height() as usize);
        let tap = |i: usize, out: usize, len: usize| {
            let pos = ((i as f32 + 0.5) * (len as f32 / out as f32) - 0.5).max(0.0);
            let lo = (pos as usize).min(len - 1);
            (lo, (lo + 1).min(len - 1), pos - lo as f32)
        };
        let mut out = vec![0f32; 3 * w * h];
        for y in 0..h {
            let (y0, y1, fy) = tap(y, h, sh);
            for x in 0..w {
                let (x0, x1, fx) = tap(x, w, sw);
                for (c, &from) in norm.order.iter().enumerate() {
                    let at =
                        |xx: usize, yy: usize| img.get_pixel(xx as u32, yy as u32)[from] as f32;
                    let upper = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
                    let lower = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
                    let v = upper + (lower - upper) * fy;
                    out[c * w * h + y * w + x] =
                        v * (norm.scale / norm.std[c]) - norm.mean[c] / norm.std[c];
                }
            }
        }
        out
    }

    #[test]
    fn to_chw_is_the_per_pixel_blend_exactly() {
        let img = RgbImage::from_fn(97, 61, |x, y| {
            Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, ((x ^ y) * 3) as u8])
        });
        let norm = Normalize {
            scale: 1.0 / 255.0,
            mean: [0.5, 0.4, 0.3],
            std: [0.5, 0.25, 0.2],
            order: [2, 1, 0],
        };
        for (w, h) in [(64, 40), (97, 61), (160, 96), (50, 61), (97, 25)] {
            assert_eq!(
                to_chw(&img, w as u32, h as u32, norm),
                per_pixel_reference(&img, w, h, norm),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn to_chw_shrinking_far_does_not_alias() {
        // Stripes one pixel wide, shrunk 3x: two-tap sampling would hit only one colour of
        // them per output column; the triangle filter averages them.
        let img = RgbImage::from_fn(12, 12, |x, _| Rgb([if x % 2 == 0 { 0 } else { 255 }; 3]));
        let out = to_chw(&img, 4, 4, Normalize::RAW_RGB);
        assert!(out.iter().all(|v| (60.0..200.0).contains(v)), "{out:?}");
    }

    #[test]
    fn engine_choice_parses_and_prints() {
        for choice in [
            EngineChoice::Auto,
            EngineChoice::Tract,
            EngineChoice::OnnxRuntime,
        ] {
            assert_eq!(choice.to_string().parse::<EngineChoice>().unwrap(), choice);
        }
        assert!("cuda".parse::<EngineChoice>().is_err());
    }

    #[cfg(not(feature = "ort"))]
    #[test]
    fn auto_falls_back_to_tract_without_ort() {
        let dir = std::env::temp_dir();
        assert!(matches!(
            Engine::resolve(EngineChoice::Auto, &dir).unwrap(),
            Engine::Tract
        ));
        let err = Engine::resolve(EngineChoice::OnnxRuntime, &dir).unwrap_err();
        assert!(err.to_string().contains("`ort` feature"), "{err}");
    }

    #[cfg(feature = "ort")]
    #[test]
    fn auto_falls_back_to_tract_without_the_library() {
        let dir = std::env::temp_dir().join(format!("spate-no-onnxruntime-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let auto = Engine::resolve(EngineChoice::Auto, &dir);
        let forced = Engine::resolve(EngineChoice::OnnxRuntime, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(auto.unwrap(), Engine::Tract));
        let err = forced.unwrap_err().to_string();
        assert!(
            err.contains("libonnxruntime.so") && err.contains("spate models fetch"),
            "{err}"
        );
    }
}
