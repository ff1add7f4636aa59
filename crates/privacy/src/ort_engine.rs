//! ONNX Runtime as the inference engine (feature `ort`): the `ort` crate with `load-dynamic`,
//! against the `libonnxruntime.so` that `spate models fetch` takes from PyPI's `onnxruntime`
//! wheel. The library is checked against its recorded SHA-256 before it is loaded.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use prost::Message;
use tract_onnx::pb;

use crate::error::PrivacyError;
use crate::models::{ONNXRUNTIME, ONNXRUNTIME_VERSION, sha256_hex};
use crate::onnx::Output;

/// ONNX Runtime loaded into this process (once: it allows one environment per process).
pub struct OrtEngine {
    environment: ort::environment::Environment,
}

/// The engine once loaded; failures are not kept, so a later call may find the library.
static LOADED: Mutex<Option<Arc<OrtEngine>>> = Mutex::new(None);

impl OrtEngine {
    /// Loads `libonnxruntime.so` from `models_dir` after checking its SHA-256, or returns the
    /// engine loaded before.
    pub fn load(models_dir: &Path) -> Result<Arc<OrtEngine>, PrivacyError> {
        let mut loaded = LOADED.lock().expect("ONNX Runtime load lock");
        if let Some(engine) = loaded.as_ref() {
            return Ok(engine.clone());
        }
        let path = ONNXRUNTIME.path_in(models_dir);
        let bytes = std::fs::read(&path).map_err(|e| {
            PrivacyError::Engine(format!(
                "{}: {e} (run `spate models fetch` with a build that has the `ort` feature)",
                path.display()
            ))
        })?;
        let actual = sha256_hex(&bytes);
        if actual != ONNXRUNTIME.sha256 {
            return Err(PrivacyError::Checksum {
                what: path.display().to_string(),
                expected: ONNXRUNTIME.sha256.to_string(),
                actual,
            });
        }
        let fail = |e: String| PrivacyError::Engine(format!("{}: {e}", path.display()));
        let environment = ort::init_from(&path)
            .map_err(|e| fail(e.to_string()))?
            .with_name("spate-privacy")
            .with_telemetry(false)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let engine = Arc::new(OrtEngine { environment });
        *loaded = Some(engine.clone());
        Ok(engine)
    }

    /// The ONNX Runtime release loaded (the one whose library hash is recorded).
    pub fn version(&self) -> &'static str {
        ONNXRUNTIME_VERSION
    }

    /// Prepares `proto` for ONNX Runtime; one session is made at once, to fail early.
    pub fn model(self: &Arc<Self>, name: &str, proto: pb::ModelProto) -> Result<OrtModel, String> {
        let model = OrtModel {
            engine: self.clone(),
            name: name.to_string(),
            bytes: for_onnxruntime(proto).encode_to_vec(),
            idle: Mutex::new(Vec::new()),
        };
        let first = model.session()?;
        model.idle.lock().expect("session pool lock").push(first);
        Ok(model)
    }
}

/// Removes what makes ONNX Runtime reject or slow down a model: weights listed as graph inputs
/// (they would not be constant-folded), and fixed input or output shapes (CenterFace's file
/// declares a batch of 10 at 32×32). The image input gets symbolic height and width.
pub fn for_onnxruntime(mut proto: pb::ModelProto) -> pb::ModelProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let Some(graph) = proto.graph.as_mut() else {
        return proto;
    };
    let weights: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    graph.input.retain(|i| !weights.contains(&i.name));
    let dims = |names: [&str; 2]| -> Vec<Dimension> {
        [Value::DimValue(1), Value::DimValue(3)]
            .into_iter()
            .chain(names.map(|n| Value::DimParam(n.to_string())))
            .map(|v| Dimension {
                denotation: String::new(),
                value: Some(v),
            })
            .collect()
    };
    if let Some(pb::type_proto::Value::TensorType(t)) = graph
        .input
        .first_mut()
        .and_then(|i| i.r#type.as_mut())
        .and_then(|t| t.value.as_mut())
    {
        t.shape = Some(pb::TensorShapeProto {
            dim: dims(["height", "width"]),
        });
    }
    for output in &mut graph.output {
        if let Some(pb::type_proto::Value::TensorType(t)) =
            output.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }
    proto
}

/// A model with a pool of ONNX Runtime sessions: each run takes an idle one (or makes one),
/// so that concurrent requests never wait for each other. Each session runs on its caller's
/// thread only.
pub struct OrtModel {
    engine: Arc<OrtEngine>,
    name: String,
    bytes: Vec<u8>,
    idle: Mutex<Vec<Session>>,
}

impl OrtModel {
    fn session(&self) -> Result<Session, String> {
        let text = |e: ort::Error<_>| e.to_string();
        Session::builder(&self.engine.environment)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(text)?
            .with_intra_threads(1)
            .map_err(text)?
            .with_inter_threads(1)
            .map_err(text)?
            .with_intra_op_spinning(false)
            .map_err(text)?
            .commit_from_memory(&self.bytes)
            .map_err(|e| e.to_string())
    }

    /// Runs the model on a `[1, 3, height, width]` CHW input.
    pub fn run(
        &self,
        input: Vec<f32>,
        height: usize,
        width: usize,
    ) -> Result<Vec<Output>, PrivacyError> {
        let fail = |message: String| PrivacyError::Inference {
            model: self.name.clone(),
            message,
        };
        let idle = self.idle.lock().expect("session pool lock").pop();
        let mut session = match idle {
            Some(session) => session,
            None => self.session().map_err(fail)?,
        };
        let result = run_session(&mut session, input, height, width).map_err(fail);
        self.idle.lock().expect("session pool lock").push(session);
        result
    }
}

fn run_session(
    session: &mut Session,
    input: Vec<f32>,
    height: usize,
    width: usize,
) -> Result<Vec<Output>, String> {
    let tensor =
        Tensor::from_array(([1usize, 3, height, width], input)).map_err(|e| e.to_string())?;
    let outputs = session
        .run(ort::inputs![tensor])
        .map_err(|e| e.to_string())?;
    (0..outputs.len())
        .map(|i| {
            let (shape, values) = outputs[i]
                .try_extract_tensor::<f32>()
                .map_err(|e| e.to_string())?;
            let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
            Ok((shape, values.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{Dimension, dimension::Value};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                denotation: String::new(),
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                denotation: String::new(),
                                value: Some(Value::DimValue(d)),
                            })
                            .collect(),
                    }),
                })),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cleanup_drops_weight_inputs_and_fixed_shapes() {
        let proto = pb::ModelProto {
            graph: Some(pb::GraphProto {
                input: vec![value_info("image", &[10, 3, 32, 32]), value_info("w", &[4])],
                output: vec![value_info("heat", &[10, 1, 8, 8])],
                initializer: vec![pb::TensorProto {
                    name: "w".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let graph = for_onnxruntime(proto).graph.unwrap();
        assert_eq!(graph.input.len(), 1);
        let Some(pb::type_proto::Value::TensorType(t)) = graph.input[0]
            .r#type
            .as_ref()
            .and_then(|t| t.value.as_ref())
        else {
            panic!("no tensor type");
        };
        let dims: Vec<_> = t
            .shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.value.clone())
            .collect();
        use pb::tensor_shape_proto::dimension::Value;
        assert_eq!(
            dims,
            [
                Some(Value::DimValue(1)),
                Some(Value::DimValue(3)),
                Some(Value::DimParam("height".into())),
                Some(Value::DimParam("width".into())),
            ]
        );
        let Some(pb::type_proto::Value::TensorType(out)) = graph.output[0]
            .r#type
            .as_ref()
            .and_then(|t| t.value.as_ref())
        else {
            panic!("no tensor type");
        };
        assert_eq!(out.shape, None);
    }
}
