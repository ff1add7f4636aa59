//! TensorFlow.js graph models (`model.json` and its weight shards) converted to an ONNX model
//! in memory, so that tract runs them like any ONNX file.
//!
//! Only the operations of graphs exported from ONNX (by onnx-tf, then tfjs-converter) are
//! known: convolutions and pooling in NHWC become ONNX's NCHW operations between transposes
//! (which tract folds away), and small integer subgraphs that compute shapes are evaluated
//! here. Any other operation is refused with its name and node.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use tract_onnx::pb::{self, tensor_proto::DataType};

/// A problem with a graph model, naming the node or weight concerned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TfjsError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, TfjsError> {
    Err(TfjsError(message.into()))
}

#[derive(Deserialize)]
struct ModelJson {
    format: Option<String>,
    #[serde(rename = "modelTopology")]
    topology: Topology,
    #[serde(rename = "weightsManifest")]
    manifest: Vec<WeightGroup>,
    signature: Option<Signature>,
}

#[derive(Deserialize)]
struct Topology {
    node: Vec<NodeDef>,
}

#[derive(Deserialize)]
struct NodeDef {
    name: String,
    op: String,
    #[serde(default)]
    input: Vec<String>,
    #[serde(default)]
    attr: HashMap<String, Value>,
}

#[derive(Deserialize)]
struct WeightGroup {
    paths: Vec<String>,
    weights: Vec<WeightSpec>,
}

#[derive(Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f32>,
    min: Option<f32>,
}

#[derive(Deserialize)]
struct Signature {
    outputs: HashMap<String, Value>,
}

/// A constant: its shape and values.
#[derive(Debug, Clone, PartialEq)]
enum Constant {
    Float(Vec<usize>, Vec<f32>),
    Int(Vec<usize>, Vec<i64>),
}

impl Constant {
    fn ints(&self, what: &str) -> Result<&[i64], TfjsError> {
        match self {
            Constant::Int(_, v) => Ok(v),
            Constant::Float(..) => err(format!("{what}: expected integers, found floats")),
        }
    }

    fn to_proto(&self, name: &str) -> pb::TensorProto {
        let (dims, data_type, float_data, int64_data) = match self {
            Constant::Float(s, v) => (s, DataType::Float, v.clone(), vec![]),
            Constant::Int(s, v) => (s, DataType::Int64, vec![], v.clone()),
        };
        pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type as i32,
            float_data,
            int64_data,
            ..Default::default()
        }
    }
}

/// Reads the weights of a manifest from its shard files, given by path.
fn read_weights(
    manifest: &[WeightGroup],
    shard: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<HashMap<String, Constant>, TfjsError> {
    let mut out = HashMap::new();
    for group in manifest {
        let mut bytes = Vec::new();
        for path in &group.paths {
            bytes.extend(
                shard(path).ok_or_else(|| TfjsError(format!("weight shard {path} is missing")))?,
            );
        }
        let mut at = 0usize;
        for w in &group.weights {
            let count: usize = w.shape.iter().product();
            let stored = w
                .quantization
                .as_ref()
                .map_or(w.dtype.as_str(), |q| &q.dtype);
            let width = match stored {
                "float32" | "int32" => 4,
                "float16" | "uint16" => 2,
                "uint8" => 1,
                other => return err(format!("weight {}: dtype {other} is not supported", w.name)),
            };
            let data = bytes.get(at..at + count * width).ok_or_else(|| {
                TfjsError(format!(
                    "weight {}: the shards end before its {count} values",
                    w.name
                ))
            })?;
            at += count * width;
            let affine = |q: f32| {
                let qz = w.quantization.as_ref().expect("quantized");
                q * qz.scale.unwrap_or(1.0) + qz.min.unwrap_or(0.0)
            };
            let floats: Vec<f32> = match stored {
                "float32" => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                "float16" => data
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                "uint16" => data
                    .chunks_exact(2)
                    .map(|c| affine(u16::from_le_bytes([c[0], c[1]]) as f32))
                    .collect(),
                "uint8" => data.iter().map(|&b| affine(b as f32)).collect(),
                _ => Vec::new(),
            };
            let constant = match w.dtype.as_str() {
                "float32" => Constant::Float(w.shape.clone(), floats),
                "int32" if stored == "int32" => Constant::Int(
                    w.shape.clone(),
                    data.chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                        .collect(),
                ),
                "int32" => Constant::Int(
                    w.shape.clone(),
                    floats.iter().map(|&f| f.round() as i64).collect(),
                ),
                other => return err(format!("weight {}: dtype {other} is not supported", w.name)),
            };
            out.insert(w.name.clone(), constant);
        }
    }
    Ok(out)
}

/// `name` and output index of an input reference (`node`, `node:1`).
fn tensor_ref(input: &str) -> (&str, usize) {
    match input.rsplit_once(':') {
        Some((node, i)) if i.bytes().all(|b| b.is_ascii_digit()) => (node, i.parse().unwrap_or(0)),
        _ => (input, 0),
    }
}

fn tensor_name(input: &str) -> String {
    let (node, i) = tensor_ref(input);
    format!("{node}:{i}")
}

fn attr_ints(node: &NodeDef, name: &str) -> Result<Vec<i64>, TfjsError> {
    node.attr
        .get(name)
        .and_then(|a| a.get("list"))
        .and_then(|l| l.get("i"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()).or(x.as_i64()))
                .collect()
        })
        .ok_or_else(|| TfjsError(format!("node {}: attribute {name} is missing", node.name)))
}

fn attr_string(node: &NodeDef, name: &str) -> Option<String> {
    let s = node.attr.get(name)?.get("s")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

fn attr_bool(node: &NodeDef, name: &str) -> bool {
    node.attr
        .get(name)
        .and_then(|a| a.get("b"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn attr_float(node: &NodeDef, name: &str) -> Option<f32> {
    node.attr.get(name)?.get("f")?.as_f64().map(|f| f as f32)
}

fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

fn float_attr(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn string_attr(name: &str, s: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn float_input(name: &str, shape: &[i64]) -> pb::ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| pb::tensor_shape_proto::Dimension {
            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Builds the ONNX graph node by node.
struct Builder {
    consts: HashMap<String, Constant>,
    emitted_consts: HashSet<String>,
    graph: pb::GraphProto,
}

impl Builder {
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        outputs: Vec<String>,
        attrs: Vec<pb::AttributeProto>,
    ) {
        self.graph.node.push(pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs,
            output: outputs,
            attribute: attrs,
            ..Default::default()
        });
    }

    /// The ONNX tensor name of a node input, adding constants as initializers when used:
    /// the graph's own (`node:0`) and those a conversion derives (`node/pads`, named as is).
    fn input(&mut self, input: &str) -> String {
        let graph_name = tensor_name(input);
        let (name, constant) = match self.consts.get(&graph_name) {
            Some(c) => (graph_name, Some(c)),
            None => match self.consts.get(input) {
                Some(c) => (input.to_string(), Some(c)),
                None => (graph_name, None),
            },
        };
        if let Some(c) = constant
            && self.emitted_consts.insert(name.clone())
        {
            self.graph.initializer.push(c.to_proto(&name));
        }
        name
    }

    fn constant(&self, node: &NodeDef, index: usize) -> Result<&Constant, TfjsError> {
        let input = node.input.get(index).ok_or_else(|| {
            TfjsError(format!(
                "node {} ({}): input {index} is missing",
                node.name, node.op
            ))
        })?;
        self.consts.get(&tensor_name(input)).ok_or_else(|| {
            TfjsError(format!(
                "node {} ({}): input {input} must be a constant",
                node.name, node.op
            ))
        })
    }

    /// An NHWC operation run as its NCHW ONNX counterpart between two transposes.
    fn nhwc(
        &mut self,
        node: &NodeDef,
        op: &str,
        mut inputs: Vec<String>,
        attrs: Vec<pb::AttributeProto>,
    ) -> Result<(), TfjsError> {
        let format = attr_string(node, "data_format").unwrap_or_else(|| "NHWC".into());
        if format != "NHWC" {
            return err(format!(
                "node {}: data_format {format} is not supported",
                node.name
            ));
        }
        let nchw = format!("{}/nchw", node.name);
        let out = format!("{}/out_nchw", node.name);
        self.node(
            "Transpose",
            &nchw,
            vec![inputs.remove(0)],
            vec![nchw.clone()],
            vec![ints_attr("perm", vec![0, 3, 1, 2])],
        );
        inputs.insert(0, nchw);
        self.node(
            op,
            &format!("{}/op", node.name),
            inputs,
            vec![out.clone()],
            attrs,
        );
        self.node(
            "Transpose",
            &node.name,
            vec![out],
            vec![format!("{}:0", node.name)],
            vec![ints_attr("perm", vec![0, 2, 3, 1])],
        );
        Ok(())
    }

    fn padding_attrs(node: &NodeDef) -> Result<Vec<pb::AttributeProto>, TfjsError> {
        match attr_string(node, "padding").as_deref() {
            Some("VALID") | None => Ok(vec![]),
            Some("SAME") => Ok(vec![string_attr("auto_pad", "SAME_UPPER")]),
            Some(other) => err(format!(
                "node {}: padding {other} is not supported",
                node.name
            )),
        }
    }

    /// Evaluates a node whose inputs are all constants, when it computes integers.
    fn fold(&self, node: &NodeDef) -> Result<Option<Constant>, TfjsError> {
        let inputs: Option<Vec<&Constant>> = node
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(|i| self.consts.get(&tensor_name(i)))
            .collect();
        let Some(inputs) = inputs else {
            return Ok(None);
        };
        Ok(match node.op.as_str() {
            "Identity" => Some(inputs[0].clone()),
            "Add" | "AddV2" => match (inputs[0], inputs[1]) {
                (Constant::Int(sa, a), Constant::Int(sb, b))
                    if a.len() == b.len() || b.len() == 1 || a.len() == 1 =>
                {
                    let n = a.len().max(b.len());
                    let shape = if a.len() >= b.len() {
                        sa.clone()
                    } else {
                        sb.clone()
                    };
                    let at = |v: &Vec<i64>, i: usize| if v.len() == 1 { v[0] } else { v[i] };
                    Some(Constant::Int(
                        shape,
                        (0..n).map(|i| at(a, i) + at(b, i)).collect(),
                    ))
                }
                _ => None,
            },
            "SparseToDense" => {
                let indices = inputs[0].ints("SparseToDense indices")?;
                let shape = inputs[1].ints("SparseToDense shape")?;
                let values = inputs[2].ints("SparseToDense values")?;
                let default = inputs[3].ints("SparseToDense default")?;
                if shape.len() != 1 {
                    return err(format!(
                        "node {}: only 1-D SparseToDense is supported",
                        node.name
                    ));
                }
                let mut dense = vec![*default.first().unwrap_or(&0); shape[0].max(0) as usize];
                for (k, &i) in indices.iter().enumerate() {
                    let v = if values.len() == 1 {
                        values[0]
                    } else {
                        values[k]
                    };
                    *dense.get_mut(i as usize).ok_or_else(|| {
                        TfjsError(format!("node {}: index {i} out of range", node.name))
                    })? = v;
                }
                Some(Constant::Int(vec![dense.len()], dense))
            }
            _ => None,
        })
    }

    fn convert(&mut self, node: &NodeDef) -> Result<(), TfjsError> {
        if let Some(folded) = self.fold(node)? {
            self.consts.insert(format!("{}:0", node.name), folded);
            return Ok(());
        }
        let out = vec![format!("{}:0", node.name)];
        let name = node.name.as_str();
        let data: Vec<&String> = node.input.iter().filter(|i| !i.starts_with('^')).collect();
        match node.op.as_str() {
            "Identity" => {
                let x = self.input(data[0]);
                self.node("Identity", name, vec![x], out, vec![]);
            }
            "Add" | "AddV2" | "Sub" | "Mul" => {
                let op = match node.op.as_str() {
                    "Sub" => "Sub",
                    "Mul" => "Mul",
                    _ => "Add",
                };
                let (a, b) = (self.input(data[0]), self.input(data[1]));
                self.node(op, name, vec![a, b], out, vec![]);
            }
            "Sigmoid" | "Relu" => {
                let x = self.input(data[0]);
                self.node(&node.op, name, vec![x], out, vec![]);
            }
            "LeakyRelu" => {
                let x = self.input(data[0]);
                let alpha = attr_float(node, "alpha").unwrap_or(0.2);
                self.node(
                    "LeakyRelu",
                    name,
                    vec![x],
                    out,
                    vec![float_attr("alpha", alpha)],
                );
            }
            "Transpose" => {
                let perm = self.constant(node, 1)?.ints("Transpose perm")?.to_vec();
                let x = self.input(data[0]);
                self.node(
                    "Transpose",
                    name,
                    vec![x],
                    out,
                    vec![ints_attr("perm", perm)],
                );
            }
            "Reshape" => {
                let shape = self.constant(node, 1)?.ints("Reshape shape")?.to_vec();
                let shape_name = format!("{name}/shape");
                self.consts
                    .insert(shape_name.clone(), Constant::Int(vec![shape.len()], shape));
                let x = self.input(data[0]);
                let s = self.input(&shape_name);
                self.node("Reshape", name, vec![x, s], out, vec![]);
            }
            "ConcatV2" => {
                let axis = self.constant(node, data.len() - 1)?.ints("ConcatV2 axis")?[0];
                let inputs = data[..data.len() - 1]
                    .iter()
                    .map(|i| self.input(i))
                    .collect();
                self.node("Concat", name, inputs, out, vec![int_attr("axis", axis)]);
            }
            "Pad" | "PadV2" => {
                let pads = self.constant(node, 1)?.ints("Pad paddings")?.to_vec();
                let begins = pads.iter().step_by(2).copied();
                let ends = pads.iter().skip(1).step_by(2).copied();
                let pads_name = format!("{name}/pads");
                let pads: Vec<i64> = begins.chain(ends).collect();
                self.consts
                    .insert(pads_name.clone(), Constant::Int(vec![pads.len()], pads));
                let mut inputs = vec![self.input(data[0]), self.input(&pads_name)];
                if node.op == "PadV2" {
                    let value = match self.constant(node, 2)? {
                        Constant::Float(_, v) => v[0],
                        Constant::Int(_, v) => v[0] as f32,
                    };
                    let value_name = format!("{name}/value");
                    self.consts
                        .insert(value_name.clone(), Constant::Float(vec![], vec![value]));
                    inputs.push(self.input(&value_name));
                }
                self.node(
                    "Pad",
                    name,
                    inputs,
                    out,
                    vec![string_attr("mode", "constant")],
                );
            }
            "SplitV" => {
                let sizes = self.constant(node, 1)?.ints("SplitV sizes")?.to_vec();
                let axis = self.constant(node, 2)?.ints("SplitV axis")?[0];
                let sizes_name = format!("{name}/sizes");
                self.consts.insert(
                    sizes_name.clone(),
                    Constant::Int(vec![sizes.len()], sizes.clone()),
                );
                let inputs = vec![self.input(data[0]), self.input(&sizes_name)];
                let outs = (0..sizes.len()).map(|i| format!("{name}:{i}")).collect();
                self.node("Split", name, inputs, outs, vec![int_attr("axis", axis)]);
            }
            "Conv2D" => {
                let strides = attr_ints(node, "strides")?;
                let dilations = attr_ints(node, "dilations").unwrap_or(vec![1, 1, 1, 1]);
                // TF filters are HWIO; ONNX wants OIHW.
                let Constant::Float(shape, w) = self.constant(node, 1)? else {
                    return err(format!("node {name}: integer filter"));
                };
                let [kh, kw, ci, co] = shape[..] else {
                    return err(format!("node {name}: filter of shape {shape:?}"));
                };
                let mut oihw = vec![0f32; w.len()];
                for h in 0..kh {
                    for x in 0..kw {
                        for i in 0..ci {
                            for o in 0..co {
                                oihw[((o * ci + i) * kh + h) * kw + x] =
                                    w[((h * kw + x) * ci + i) * co + o];
                            }
                        }
                    }
                }
                let w_name = format!("{name}/oihw");
                self.consts
                    .insert(w_name.clone(), Constant::Float(vec![co, ci, kh, kw], oihw));
                let mut attrs = vec![
                    ints_attr("strides", strides[1..3].to_vec()),
                    ints_attr("dilations", dilations[1..3].to_vec()),
                    ints_attr("kernel_shape", vec![kh as i64, kw as i64]),
                ];
                attrs.extend(Self::padding_attrs(node)?);
                let inputs = vec![self.input(data[0]), self.input(&w_name)];
                self.nhwc(node, "Conv", inputs, attrs)?;
            }
            "MaxPool" => {
                let k = attr_ints(node, "ksize")?;
                let s = attr_ints(node, "strides")?;
                let mut attrs = vec![
                    ints_attr("kernel_shape", k[1..3].to_vec()),
                    ints_attr("strides", s[1..3].to_vec()),
                ];
                attrs.extend(Self::padding_attrs(node)?);
                let inputs = vec![self.input(data[0])];
                self.nhwc(node, "MaxPool", inputs, attrs)?;
            }
            "ResizeBilinear" => {
                let size = self
                    .constant(node, 1)?
                    .ints("ResizeBilinear size")?
                    .to_vec();
                let mode = match (
                    attr_bool(node, "align_corners"),
                    attr_bool(node, "half_pixel_centers"),
                ) {
                    (true, _) => "align_corners",
                    (false, true) => "half_pixel",
                    (false, false) => "asymmetric",
                };
                // Sizes of the NCHW tensor: N and C are taken from the input at run time.
                let sizes_name = format!("{name}/scales_hw");
                let x = self.input(data[0]);
                let nchw = format!("{name}/nchw");
                self.node(
                    "Transpose",
                    &nchw,
                    vec![x],
                    vec![nchw.clone()],
                    vec![ints_attr("perm", vec![0, 3, 1, 2])],
                );
                let shape = format!("{name}/shape");
                self.node(
                    "Shape",
                    &shape,
                    vec![nchw.clone()],
                    vec![shape.clone()],
                    vec![],
                );
                let nc = format!("{name}/nc");
                let (starts, ends, axes) = (
                    format!("{name}/s0"),
                    format!("{name}/s2"),
                    format!("{name}/ax"),
                );
                self.consts
                    .insert(starts.clone(), Constant::Int(vec![1], vec![0]));
                self.consts
                    .insert(ends.clone(), Constant::Int(vec![1], vec![2]));
                self.consts
                    .insert(axes.clone(), Constant::Int(vec![1], vec![0]));
                let slice_inputs = vec![
                    shape,
                    self.input(&starts),
                    self.input(&ends),
                    self.input(&axes),
                ];
                self.node("Slice", &nc, slice_inputs, vec![nc.clone()], vec![]);
                self.consts
                    .insert(sizes_name.clone(), Constant::Int(vec![2], size));
                let hw = self.input(&sizes_name);
                let sizes = format!("{name}/sizes");
                self.node(
                    "Concat",
                    &sizes,
                    vec![nc, hw],
                    vec![sizes.clone()],
                    vec![int_attr("axis", 0)],
                );
                let resized = format!("{name}/resized");
                self.node(
                    "Resize",
                    &resized,
                    vec![nchw, String::new(), String::new(), sizes],
                    vec![resized.clone()],
                    vec![
                        string_attr("mode", "linear"),
                        string_attr("coordinate_transformation_mode", mode),
                    ],
                );
                self.node(
                    "Transpose",
                    name,
                    vec![resized],
                    out,
                    vec![ints_attr("perm", vec![0, 2, 3, 1])],
                );
            }
            other => return err(format!("node {name}: operation {other} is not supported")),
        }
        Ok(())
    }
}

/// A converted model: the ONNX model, its input's shape and its outputs' names in the
/// signature's order (sorted by name).
pub struct Converted {
    /// The ONNX model.
    pub model: pb::ModelProto,
    /// The input's shape as the graph declares it.
    pub input_shape: Vec<i64>,
    /// The graph outputs, sorted by their signature name.
    pub outputs: Vec<String>,
}

/// Converts the graph model in `model_json`, reading its weight shards through `shard` (given
/// a path of the manifest, it returns the file's bytes).
pub fn convert(
    model_json: &[u8],
    shard: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Converted, TfjsError> {
    let model: ModelJson =
        serde_json::from_slice(model_json).map_err(|e| TfjsError(format!("model.json: {e}")))?;
    if model.format.as_deref().is_some_and(|f| f != "graph-model") {
        return err(format!(
            "model.json: format {:?} is not a graph model",
            model.format
        ));
    }
    let weights = read_weights(&model.manifest, shard)?;
    let by_name: HashMap<&str, &NodeDef> = model
        .topology
        .node
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut outputs: Vec<String> = match &model.signature {
        Some(s) => s.outputs.keys().cloned().collect(),
        None => return err("model.json has no signature naming its outputs"),
    };
    outputs.sort();
    // Depth-first from the outputs: every node after its inputs.
    let mut order: Vec<&NodeDef> = Vec::new();
    let mut state: HashMap<&str, bool> = HashMap::new();
    let mut stack: Vec<(&str, bool)> = outputs.iter().map(|o| (tensor_ref(o).0, false)).collect();
    while let Some((name, done)) = stack.pop() {
        let node = by_name
            .get(name)
            .ok_or_else(|| TfjsError(format!("node {name} is referenced but not defined")))?;
        if done {
            if state.insert(name, true) != Some(true) {
                order.push(node);
            }
            continue;
        }
        match state.get(name) {
            Some(true) => continue,
            Some(false) => {} // seen, waiting for its inputs
            None => {
                state.insert(name, false);
            }
        }
        stack.push((name, true));
        for i in &node.input {
            let input = tensor_ref(i.trim_start_matches('^')).0;
            if state.get(input) != Some(&true) {
                stack.push((input, false));
            }
        }
    }
    let mut b = Builder {
        consts: HashMap::new(),
        emitted_consts: HashSet::new(),
        graph: pb::GraphProto {
            name: "tfjs".into(),
            ..Default::default()
        },
    };
    let mut input_shape = Vec::new();
    for node in order {
        match node.op.as_str() {
            "Const" => {
                let c = weights
                    .get(&node.name)
                    .ok_or_else(|| TfjsError(format!("constant {} has no weights", node.name)))?;
                b.consts.insert(format!("{}:0", node.name), c.clone());
            }
            "Placeholder" => {
                input_shape = node
                    .attr
                    .get("shape")
                    .and_then(|s| s.pointer("/shape/dim"))
                    .and_then(Value::as_array)
                    .map(|dims| {
                        dims.iter()
                            .map(|d| {
                                d["size"]
                                    .as_str()
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(-1)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if input_shape.iter().any(|&d| d < 0) {
                    return err(format!(
                        "input {}: shape {input_shape:?} is not fixed",
                        node.name
                    ));
                }
                b.graph
                    .input
                    .push(float_input(&format!("{}:0", node.name), &input_shape));
            }
            _ => b.convert(node)?,
        }
    }
    for o in &outputs {
        let name = tensor_name(o);
        b.graph.output.push(pb::ValueInfoProto {
            name,
            ..Default::default()
        });
    }
    Ok(Converted {
        model: pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "spate tfjs converter".into(),
            graph: Some(b.graph),
            ..Default::default()
        },
        input_shape,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TF.js graph of one `Pad` over the input, its paddings a weight.
    fn padded_graph() -> (Vec<u8>, Vec<u8>) {
        let json = serde_json::json!({
            "format": "graph-model",
            "modelTopology": { "node": [
                { "name": "input_1", "op": "Placeholder", "attr": { "shape": { "shape": {
                    "dim": [{"size": "1"}, {"size": "2"}, {"size": "2"}, {"size": "1"}] } } } },
                { "name": "paddings", "op": "Const", "attr": {} },
                { "name": "Identity", "op": "Pad", "input": ["input_1", "paddings"] }
            ] },
            "weightsManifest": [{ "paths": ["w.bin"], "weights": [
                { "name": "paddings", "shape": [4, 2], "dtype": "int32" }
            ] }],
            "signature": { "outputs": { "Identity:0": { "name": "Identity:0" } } }
        });
        let pads: Vec<u8> = [0i32, 0, 1, 1, 1, 1, 0, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        (serde_json::to_vec(&json).unwrap(), pads)
    }

    #[test]
    fn derived_constants_become_initializers() {
        let (json, pads) = padded_graph();
        let converted = convert(&json, &|path| (path == "w.bin").then(|| pads.clone())).unwrap();
        let graph = converted.model.graph.unwrap();
        let defined: HashSet<&str> = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .chain(graph.initializer.iter().map(|t| t.name.as_str()))
            .chain(
                graph
                    .node
                    .iter()
                    .flat_map(|n| n.output.iter().map(String::as_str)),
            )
            .collect();
        for node in &graph.node {
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                assert!(
                    defined.contains(input.as_str()),
                    "{input} of {} is undefined",
                    node.name
                );
            }
        }
        // ONNX's pads: every axis's begin, then every axis's end.
        let pads = graph
            .initializer
            .iter()
            .find(|t| t.name.ends_with("/pads"))
            .expect("the Pad's pads");
        assert_eq!(pads.int64_data, [0, 1, 1, 0, 0, 1, 1, 0]);
    }
}
