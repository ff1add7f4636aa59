//! An ONNX model loaded once and prepared by tract for each input shape it meets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::error::PrivacyError;

/// How many input shapes keep a prepared plan; past that the cache starts afresh.
const MAX_PLANS: usize = 8;

/// One model output: its shape and its values in row-major order.
pub type Output = (Vec<usize>, Vec<f32>);

/// An image model taking one `[1, 3, H, W]` f32 input.
pub struct OnnxModel {
    path: PathBuf,
    model: InferenceModel,
    plans: Mutex<HashMap<(usize, usize), Arc<TypedRunnableModel>>>,
}

impl OnnxModel {
    /// Parses the ONNX file at `path`.
    pub fn load(path: &Path) -> Result<Self, PrivacyError> {
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| PrivacyError::Model {
                path: path.to_path_buf(),
                message: format!("{e:#}"),
            })?;
        Ok(OnnxModel {
            path: path.to_path_buf(),
            model,
            plans: Mutex::new(HashMap::new()),
        })
    }

    /// A model already parsed (or converted), named after `path` in messages.
    pub fn from_inference_model(path: PathBuf, model: InferenceModel) -> Self {
        OnnxModel {
            path,
            model,
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// The model's file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

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

    /// Runs the model on a `[1, 3, height, width]` input given in CHW order, and returns each
    /// output as its shape and values.
    pub fn run(
        &self,
        input: Vec<f32>,
        height: usize,
        width: usize,
    ) -> Result<Vec<Output>, PrivacyError> {
        let plan = self.plan(height, width)?;
        let fail = |e: TractError| PrivacyError::Inference {
            model: self.name(),
            message: format!("{e:#}"),
        };
        let tensor = Tensor::from_shape(&[1, 3, height, width], &input).map_err(fail)?;
        let outputs = plan.run(tvec!(tensor.into_tvalue())).map_err(fail)?;
        outputs
            .iter()
            .map(|o| {
                let view = o.to_plain_array_view::<f32>().map_err(fail)?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}

/// Resizes `image` to `width` × `height` (bilinear) and lays it out as CHW f32 values
/// `(v * scale - mean) / std` per channel.
pub fn to_chw(
    image: &image::RgbImage,
    width: u32,
    height: u32,
    scale: f32,
    mean: f32,
    std: f32,
) -> Vec<f32> {
    let resized;
    let src = if image.dimensions() == (width, height) {
        image
    } else {
        resized =
            image::imageops::resize(image, width, height, image::imageops::FilterType::Triangle);
        &resized
    };
    let plane = (width * height) as usize;
    let mut out = vec![0f32; plane * 3];
    for (i, px) in src.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (px.0[c] as f32 * scale - mean) / std;
        }
    }
    out
}
