//! The ONNX model, decoded with prost and checked: the graph's one input and
//! one output, its constant tensors (initializers and `Constant` nodes) as
//! `f32` or `i64`, and its nodes with their attributes. Every problem found
//! is collected; nothing here panics on malformed input.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use crate::onnx;

/// A constant tensor's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor: an initializer or a `Constant` node's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub dims: Vec<usize>,
    pub data: Data,
}

impl Const {
    /// The values as `f32` (integers converted).
    pub fn floats(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            #[allow(clippy::cast_precision_loss)]
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as `i64`, if the tensor holds integers.
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    /// The single value of a tensor of one element, as `f32`.
    pub fn scalar(&self) -> Option<f32> {
        let v = self.floats();
        (v.len() == 1).then(|| v[0])
    }
}

/// A node attribute.
#[derive(Clone, Debug)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    Str(String),
    Tensor(Const),
    /// A kind the importer never needs (graphs, sparse tensors, …).
    Other,
}

/// A graph node.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    /// `Conv "node_conv2d"`, for messages.
    pub fn describe(&self) -> String {
        format!("{} node `{}`", self.op, self.name)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.attrs.get(name) {
            Some(Attr::Int(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f32> {
        match self.attrs.get(name) {
            Some(Attr::Float(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::Str(v)) => Some(v),
            _ => None,
        }
    }
}

/// One dimension of the graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Symbolic(String),
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Symbolic(s) => write!(f, "{s}"),
            Dim::Unknown => write!(f, "?"),
        }
    }
}

/// A shape as ONNX writes it: `[batch, 3, 32, 32]`.
pub fn dims_text(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// The decoded graph.
#[derive(Debug)]
pub struct Graph {
    pub producer: String,
    pub opset: i64,
    pub input_name: String,
    pub input_dims: Vec<Dim>,
    pub output_name: String,
    pub output_dims: Vec<Dim>,
    pub consts: HashMap<String, Const>,
    /// Initializers that could not be decoded (already reported).
    pub bad: Vec<String>,
    pub nodes: Vec<Node>,
}

const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// ONNX's name of a tensor data type, for messages.
fn dtype_name(t: i32) -> &'static str {
    match t {
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "float64",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => "an unsupported type",
    }
}

/// Decodes a tensor, or says why it cannot be.
pub fn decode_tensor(t: &onnx::TensorProto, what: &str) -> Result<Const, String> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(format!(
            "{what}: its data is stored outside the model file (external data), which the importer does not read; save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))"
        ));
    }
    if t.segment.is_some() {
        return Err(format!("{what}: a segmented tensor is not supported"));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        match usize::try_from(d) {
            Ok(d) => dims.push(d),
            Err(_) => return Err(format!("{what}: negative dimension {d}")),
        }
    }
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("{what}: its size overflows"))?;
    let data = tensor_data(t, what, count)?;
    let len = match &data {
        Data::F32(v) => v.len(),
        Data::I64(v) => v.len(),
    };
    if len != count {
        return Err(format!(
            "{what}: holds {len} values, but its shape {dims:?} needs {count}"
        ));
    }
    Ok(Const { dims, data })
}

/// A tensor's values as `f32` or `i64`, from its raw bytes (checked to
/// hold `count` values) or its typed field.
fn tensor_data(t: &onnx::TensorProto, what: &str, count: usize) -> Result<Data, String> {
    let dtype = t.data_type.unwrap_or(0);
    let raw = t.raw_data.as_deref();
    Ok(match dtype {
        FLOAT => Data::F32(match raw {
            Some(raw) => {
                check_len(what, raw.len(), count, 4)?;
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
            None => t.float_data.clone(),
        }),
        DOUBLE => Data::F32(match raw {
            Some(raw) => {
                check_len(what, raw.len(), count, 8)?;
                #[allow(clippy::cast_possible_truncation)]
                raw.chunks_exact(8)
                    .map(|b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect()
            }
            #[allow(clippy::cast_possible_truncation)]
            None => t.double_data.iter().map(|&x| x as f32).collect(),
        }),
        INT64 => Data::I64(match raw {
            Some(raw) => {
                check_len(what, raw.len(), count, 8)?;
                raw.chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect()
            }
            None => t.int64_data.clone(),
        }),
        INT32 => Data::I64(match raw {
            Some(raw) => {
                check_len(what, raw.len(), count, 4)?;
                raw.chunks_exact(4)
                    .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect()
            }
            None => t.int32_data.iter().map(|&x| i64::from(x)).collect(),
        }),
        other => {
            return Err(format!(
                "{what}: data type {} is not supported (float32, float64, int32 and int64 are)",
                dtype_name(other)
            ))
        }
    })
}

fn check_len(what: &str, bytes: usize, count: usize, size: usize) -> Result<(), String> {
    if Some(bytes) == count.checked_mul(size) {
        Ok(())
    } else {
        Err(format!(
            "{what}: raw data of {bytes} bytes, but its shape needs {count} values of {size} bytes"
        ))
    }
}

fn value_dims(v: &onnx::ValueInfoProto) -> Result<Vec<Dim>, String> {
    use onnx::tensor_shape_proto::dimension::Value;
    use onnx::type_proto::Value as T;
    let name = v.name.as_deref().unwrap_or_default();
    let Some(T::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(format!("`{name}` is not a tensor"));
    };
    if t.elem_type != Some(FLOAT) {
        return Err(format!(
            "`{name}` is {}; constnet networks take and give float32",
            dtype_name(t.elem_type.unwrap_or(0))
        ));
    }
    let Some(shape) = &t.shape else {
        return Err(format!("`{name}` has no shape (not even its rank)"));
    };
    Ok(shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) => Dim::Fixed(*v),
            Some(Value::DimParam(p)) => Dim::Symbolic(p.clone()),
            None => Dim::Unknown,
        })
        .collect())
}

fn attribute(a: &onnx::AttributeProto, what: &str) -> Result<Attr, String> {
    use onnx::attribute_proto::AttributeType as A;
    let kind = a.r#type.and_then(|t| A::try_from(t).ok());
    Ok(match kind {
        Some(A::Int) => Attr::Int(a.i.unwrap_or(0)),
        Some(A::Ints) => Attr::Ints(a.ints.clone()),
        Some(A::Float) => Attr::Float(a.f.unwrap_or(0.0)),
        Some(A::Floats) => Attr::Floats(a.floats.clone()),
        Some(A::String) => {
            Attr::Str(String::from_utf8_lossy(a.s.as_deref().unwrap_or_default()).into_owned())
        }
        Some(A::Tensor) => match &a.t {
            Some(t) => Attr::Tensor(decode_tensor(t, what)?),
            None => return Err(format!("{what}: a tensor attribute without a tensor")),
        },
        _ => Attr::Other,
    })
}

/// Decodes and checks the model: every problem goes to `problems`.
pub fn parse(bytes: &[u8], problems: &mut Vec<String>) -> Option<Graph> {
    let model = match onnx::ModelProto::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!(
                "not an ONNX model: the protobuf does not decode ({e})"
            ));
            return None;
        }
    };
    let Some(graph) = model.graph else {
        problems.push("not an ONNX model: it has no graph".into());
        return None;
    };
    let opset = model
        .opset_import
        .iter()
        .find(|o| {
            o.domain.as_deref().unwrap_or_default().is_empty()
                || o.domain.as_deref() == Some("ai.onnx")
        })
        .and_then(|o| o.version)
        .unwrap_or(0);
    let producer = format!(
        "{} {}",
        model.producer_name.unwrap_or_default(),
        model.producer_version.unwrap_or_default()
    )
    .trim()
    .to_string();

    let (consts, bad) = initializers(&graph, problems);
    let inputs: Vec<&onnx::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !consts.contains_key(i.name.as_deref().unwrap_or_default()))
        .collect();
    let (input_name, input_dims) = the_one(&inputs, "input", problems);
    let outputs: Vec<&onnx::ValueInfoProto> = graph.output.iter().collect();
    let (output_name, output_dims) = the_one(&outputs, "output", problems);
    let nodes = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| decode_node(i, n, problems))
        .collect();
    Some(Graph {
        producer,
        opset,
        input_name,
        input_dims,
        output_name,
        output_dims,
        consts,
        bad,
        nodes,
    })
}

/// The graph's initializers, decoded, and the names of those that could
/// not be (their problems reported).
fn initializers(
    graph: &onnx::GraphProto,
    problems: &mut Vec<String>,
) -> (HashMap<String, Const>, Vec<String>) {
    let mut consts = HashMap::new();
    let mut bad = Vec::new();
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        match decode_tensor(t, &format!("initializer `{name}`")) {
            Ok(c) => {
                consts.insert(name, c);
            }
            Err(e) => {
                problems.push(e);
                bad.push(name);
            }
        }
    }
    if !graph.sparse_initializer.is_empty() {
        problems.push("sparse initializers are not supported".into());
    }
    (consts, bad)
}

/// The name and shape of the graph's one input or output (`what`) among
/// `values`; empty, with the problem reported, if there is not exactly one
/// or its type is not a float32 tensor.
fn the_one(
    values: &[&onnx::ValueInfoProto],
    what: &str,
    problems: &mut Vec<String>,
) -> (String, Vec<Dim>) {
    let mut name = String::new();
    let mut dims = Vec::new();
    match values {
        [one] => {
            name = one.name.clone().unwrap_or_default();
            match value_dims(one) {
                Ok(d) => dims = d,
                Err(e) => problems.push(format!("{what} {e}")),
            }
        }
        [] => problems.push(format!("the graph has no {what}")),
        many => problems.push(format!(
            "the graph has {} {what}s ({}); a constnet network has one",
            many.len(),
            many.iter()
                .map(|i| format!("`{}`", i.name.as_deref().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    (name, dims)
}

/// Node `i` of the graph with its attributes decoded; an attribute that
/// cannot be is reported and left out.
fn decode_node(i: usize, n: &onnx::NodeProto, problems: &mut Vec<String>) -> Node {
    let op = n.op_type.clone().unwrap_or_default();
    let name = match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("#{i}"),
    };
    let mut attrs = BTreeMap::new();
    for a in &n.attribute {
        let aname = a.name.clone().unwrap_or_default();
        if a.ref_attr_name.is_some() {
            problems.push(format!(
                "{op} node `{name}`: attribute `{aname}` refers to a function's attribute"
            ));
            continue;
        }
        match attribute(a, &format!("{op} node `{name}`, attribute `{aname}`")) {
            Ok(v) => {
                attrs.insert(aname, v);
            }
            Err(e) => problems.push(e),
        }
    }
    Node {
        name,
        op,
        domain: n.domain.clone().unwrap_or_default(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attrs,
    }
}
