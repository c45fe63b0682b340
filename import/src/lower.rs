//! ONNX nodes to constnet layers: a DAG whose nodes are the declaration's
//! layers and merges (`Add`, `Cat`), on values in constnet's layout.
//!
//! Every value computed from the input carries its *physical* shape (as
//! ONNX sees it, batch included) and a permutation to the *canonical*
//! layout (the declaration's `[C, H, W]`): a `Transpose` only changes that
//! permutation, so NHWC graphs (tf2onnx's, Keras') fold their transposes
//! away. Layout-sensitive layers need the canonical layout; element-wise
//! ones take any; axis arguments (`Concat`, `Softmax`, `ReduceMean`, `Pad`)
//! are mapped through it. Values computed from constants only (shape
//! arithmetic, `Constant` nodes) are evaluated here.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{dims_text, Attr, Const, Data, Dim, Graph, Node};

/// One layer of the declaration.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The DSL's layer name: `Conv2d`.
    pub kind: &'static str,
    /// Its arguments, formatted: `3`, `stride = 2`.
    pub args: Vec<String>,
    /// Its tensors: the key suffix (`weight`), shape and values.
    pub params: Vec<(&'static str, Vec<usize>, Vec<f32>)>,
    /// Where the layer's name comes from (its weight's ONNX name).
    pub hint: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Op {
    Input,
    Layer(Layer),
    Add,
    Cat,
}

/// A node of the lowered DAG: its op, the nodes it reads (in order) and its
/// output's canonical shape without the batch dimension.
#[derive(Clone, Debug)]
pub struct SNode {
    pub op: Op,
    pub inputs: Vec<usize>,
    pub shape: Vec<usize>,
}

/// The lowered graph.
#[derive(Debug)]
pub struct Lowered {
    pub nodes: Vec<SNode>,
    pub output: usize,
    pub input_shape: Vec<usize>,
    /// The ONNX input is NHWC: the declaration takes it as CHW.
    pub input_nhwc: bool,
    /// The ONNX output is NHWC: the declaration gives it as CHW.
    pub output_nhwc: bool,
}

#[derive(Clone, Debug)]
struct Dyn {
    id: usize,
    /// The shape as ONNX sees it, batch (1) included.
    pshape: Vec<usize>,
    /// `perm[i]` is the canonical axis of physical axis `i`.
    perm: Vec<usize>,
}

impl Dyn {
    fn canonical(&self) -> Vec<usize> {
        let mut c = vec![0; self.pshape.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            c[p] = self.pshape[i];
        }
        c
    }
    fn is_canonical(&self) -> bool {
        self.perm.iter().enumerate().all(|(i, &p)| i == p)
    }
    /// The canonical axis of physical axis `axis` (negative counts from the end).
    fn canon_axis(&self, axis: i64) -> Option<usize> {
        let rank = i64::try_from(self.pshape.len()).ok()?;
        let a = if axis < 0 { axis + rank } else { axis };
        let a = usize::try_from(a).ok()?;
        self.perm.get(a).copied()
    }
}

#[derive(Clone, Debug)]
enum Val {
    Const(Const),
    Dyn(Dyn),
    /// Not computed: a problem upstream was already reported.
    Poison,
}

/// Ops the importer knows, for the first pass that lists every unknown one.
const KNOWN: &[&str] = &[
    "Conv",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "LeakyRelu",
    "Elu",
    "Selu",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Erf",
    "Sqrt",
    "Concat",
    "Softmax",
    "LogSoftmax",
    "Pad",
    "Dropout",
    "Identity",
    "Transpose",
    "Constant",
    "Shape",
    "Gather",
    "Cast",
];

/// Element-wise arithmetic, recognised as a whole (GELU, SiLU, …) by
/// [`Lowerer::activation_region`].
const MATH: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Pow", "Erf", "Sqrt", "Tanh", "Sigmoid", "Relu", "Clip",
];

struct Lowerer<'g> {
    g: &'g Graph,
    vals: HashMap<String, Val>,
    nodes: Vec<SNode>,
    problems: Vec<String>,
    /// ONNX node indices already lowered as part of another node's pattern.
    done: HashSet<usize>,
    /// Consumers (ONNX node indices) of each value name.
    consumers: HashMap<&'g str, Vec<usize>>,
}

/// Lowers the graph; every problem found goes to `problems`.
pub fn lower(g: &Graph, input: Option<&[usize]>, problems: &mut Vec<String>) -> Option<Lowered> {
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for inp in &n.inputs {
            consumers.entry(inp.as_str()).or_default().push(i);
        }
    }
    for n in &g.nodes {
        if !n.domain.is_empty() && n.domain != "ai.onnx" {
            problems.push(format!(
                "{}: operator domain `{}` is not supported (only the standard ai.onnx operators)",
                n.describe(),
                n.domain
            ));
        } else if !KNOWN.contains(&n.op.as_str()) {
            problems.push(format!("{}: unsupported operator `{}`", n.describe(), n.op));
        }
    }
    let mut l = Lowerer {
        g,
        vals: g
            .consts
            .iter()
            .map(|(k, v)| (k.clone(), Val::Const(v.clone())))
            .chain(g.bad.iter().map(|k| (k.clone(), Val::Poison)))
            .collect(),
        nodes: Vec::new(),
        problems: Vec::new(),
        done: HashSet::new(),
        consumers,
    };
    let input = l.input(input);
    let out = l.run(input.as_ref());
    problems.append(&mut l.problems);
    out
}

fn pair(h: usize, w: usize) -> String {
    if h == w {
        h.to_string()
    } else {
        format!("({h}, {w})")
    }
}

/// An `f32` as the shortest literal that reads back the same.
pub fn float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn to_usize(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Input `i` of a node, a constant, or the error that it is missing.
fn const_input(ins: &[Option<Val>], i: usize) -> Result<&Const, String> {
    match ins.get(i) {
        Some(Some(Val::Const(c))) => Ok(c),
        _ => Err(format!("input {i} is missing")),
    }
}

/// Input `i` of a node, if it is a constant.
fn const_at(ins: &[Option<Val>], i: usize) -> Option<&Const> {
    match ins.get(i) {
        Some(Some(Val::Const(c))) => Some(c),
        _ => None,
    }
}

/// The values of `node`'s outputs when only the first is computed: `d`,
/// then `Poison` (not computed) for the others.
fn first_output(node: &Node, d: Dyn) -> Vec<Val> {
    let mut out = vec![Val::Dyn(d)];
    out.extend(std::iter::repeat_n(
        Val::Poison,
        node.outputs.len().saturating_sub(1),
    ));
    out
}

/// The output size of a window of `k` (dilated: `keff`) over `len` with the
/// given padding and stride; `ceil` as PyTorch (a last window starting in
/// the right padding is dropped).
fn window_out(
    len: usize,
    pb: usize,
    pe: usize,
    keff: usize,
    s: usize,
    ceil: bool,
) -> Option<usize> {
    let padded = len.checked_add(pb)?.checked_add(pe)?;
    let span = padded.checked_sub(keff)?;
    let mut out = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if ceil && (out - 1) * s >= len + pb {
        out -= 1;
    }
    Some(out)
}

impl<'g> Lowerer<'g> {
    fn push(&mut self, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> usize {
        self.nodes.push(SNode { op, inputs, shape });
        self.nodes.len() - 1
    }

    /// A layer node after `x`, giving a value of physical shape `pshape`
    /// in `x`'s layout.
    fn layer(&mut self, x: &Dyn, layer: Layer, pshape: Vec<usize>) -> Dyn {
        let out = Dyn {
            id: 0,
            pshape,
            perm: x.perm.clone(),
        };
        let shape = out.canonical()[1..].to_vec();
        let id = self.push(Op::Layer(layer), vec![x.id], shape);
        Dyn { id, ..out }
    }

    fn simple(kind: &'static str, args: Vec<String>) -> Layer {
        Layer {
            kind,
            args,
            params: Vec::new(),
            hint: None,
        }
    }

    /// The graph input, checked against `--input`.
    fn input(&mut self, given: Option<&[usize]>) -> Option<Dyn> {
        let g = self.g;
        let dims = &g.input_dims;
        let name = &g.input_name;
        if dims.is_empty() {
            return None;
        }
        let mut ok = true;
        if dims.len() != 2 && dims.len() != 4 {
            self.problems.push(format!(
                "input `{name}` has shape {} (rank {}): constnet networks take [N, C, H, W] maps or [N, features] vectors",
                dims_text(dims),
                dims.len()
            ));
            return None;
        }
        match &dims[0] {
            Dim::Fixed(1) | Dim::Symbolic(_) | Dim::Unknown => {}
            Dim::Fixed(n) => {
                ok = false;
                self.problems.push(format!(
                    "input `{name}` has a batch of {n} ({}): export the model with a batch of 1 or a symbolic batch dimension",
                    dims_text(dims)
                ));
            }
        }
        let rest = &dims[1..];
        if let Some(given) = given {
            if given.len() != rest.len() {
                self.problems.push(format!(
                    "--input {given:?} has {} dimensions, but input `{name}` {} has {} besides the batch",
                    given.len(),
                    dims_text(dims),
                    rest.len()
                ));
                return None;
            }
        }
        let (pshape, sizes_ok) = self.input_pshape(given);
        ok &= sizes_ok;
        if ok && checked_product(&pshape).is_none_or(|n| n > 1 << 30) {
            ok = false;
            self.problems.push(format!(
                "input `{name}` {}: more than 2^30 values",
                dims_text(dims)
            ));
        }
        if !ok {
            return None;
        }
        let perm = if pshape.len() == 4 && self.input_is_nhwc() {
            vec![0, 2, 3, 1]
        } else {
            (0..pshape.len()).collect()
        };
        let x = Dyn {
            id: 0,
            pshape,
            perm,
        };
        let shape = x.canonical()[1..].to_vec();
        self.push(Op::Input, Vec::new(), shape);
        Some(x)
    }

    /// The input's physical shape, batch (1) first: each size as the model
    /// fixes it or as `--input` gives it (`given`, which has one size per
    /// dimension after the batch), and whether every one was good (each
    /// wrong one is reported).
    fn input_pshape(&mut self, given: Option<&[usize]>) -> (Vec<usize>, bool) {
        let g = self.g;
        let dims = &g.input_dims;
        let name = &g.input_name;
        let mut ok = true;
        let mut pshape = vec![1];
        for (i, d) in dims[1..].iter().enumerate() {
            let want = given.map(|g| g[i]);
            match (d, want) {
                (Dim::Fixed(v), Some(w)) if to_usize(*v) != Some(w) => {
                    ok = false;
                    self.problems.push(format!(
                        "wrong input shape: --input gives dimension {} as {w}, but the model fixes it at {v} (input `{name}` {})",
                        i + 1,
                        dims_text(dims)
                    ));
                }
                (Dim::Fixed(v), _) if *v > 0 => pshape.push(usize::try_from(*v).unwrap_or(0)),
                (Dim::Fixed(v), None) => {
                    ok = false;
                    self.problems.push(format!(
                        "input `{name}` {}: dimension {} is {v}",
                        dims_text(dims),
                        i + 1
                    ));
                }
                (_, Some(0)) => {
                    ok = false;
                    self.problems
                        .push(format!("--input: dimension {} is 0", i + 1));
                }
                (_, Some(w)) => pshape.push(w),
                (d, None) => {
                    ok = false;
                    self.problems.push(format!(
                        "input `{name}` {}: dimension {} is dynamic (`{d}`); constnet shapes are fixed: export with a fixed size, or give it with --input",
                        dims_text(dims),
                        i + 1
                    ));
                }
            }
        }
        (pshape, ok)
    }

    /// Whether the input (a map) is NHWC: every consumer transposes it to
    /// NCHW.
    fn input_is_nhwc(&self) -> bool {
        let g = self.g;
        self.consumers.get(g.input_name.as_str()).is_some_and(|cs| {
            !cs.is_empty()
                && cs.iter().all(|&c| {
                    let n = &g.nodes[c];
                    n.op == "Transpose" && n.ints("perm") == Some(&[0, 3, 1, 2])
                })
        })
    }

    /// Lowers every node in order, then checks the output and gives the
    /// lowered graph if no problem was found.
    fn run(&mut self, input: Option<&Dyn>) -> Option<Lowered> {
        let g = self.g;
        match input {
            Some(x) => {
                self.vals.insert(g.input_name.clone(), Val::Dyn(x.clone()));
            }
            None => {
                self.vals.insert(g.input_name.clone(), Val::Poison);
            }
        }
        for (i, node) in g.nodes.iter().enumerate() {
            if self.done.contains(&i) {
                continue;
            }
            if node.outputs.first().is_none_or(String::is_empty) {
                self.problems
                    .push(format!("{}: has no output", node.describe()));
                continue;
            }
            let ins = self.node_inputs(node);
            let outs = self.node_outputs(i, node, &ins);
            for (name, v) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    self.vals.insert(name.clone(), v);
                }
            }
        }
        self.finish(input)
    }

    /// The values of `node`'s inputs (`None` for an omitted optional
    /// one); an input no earlier node produces is reported and poisoned.
    fn node_inputs(&mut self, node: &Node) -> Vec<Option<Val>> {
        let ins: Vec<Option<Val>> = node
            .inputs
            .iter()
            .map(|name| {
                if name.is_empty() {
                    None
                } else {
                    Some(self.vals.get(name).cloned().unwrap_or(Val::Poison))
                }
            })
            .collect();
        for (name, v) in node.inputs.iter().zip(&ins) {
            if !name.is_empty() && !self.vals.contains_key(name) {
                self.problems.push(format!(
                    "{}: its input `{name}` is not produced by any node before it",
                    node.describe()
                ));
            }
            let _ = v;
        }
        ins
    }

    /// The values of `node`'s outputs: poisoned if an input is (after the
    /// checks that need no shapes), computed from the input, or evaluated
    /// from constants. A problem is reported and poisons them.
    fn node_outputs(&mut self, i: usize, node: &'g Node, ins: &[Option<Val>]) -> Vec<Val> {
        let poisoned = ins.iter().any(|v| matches!(v, Some(Val::Poison)))
            || !KNOWN.contains(&node.op.as_str())
            || !(node.domain.is_empty() || node.domain == "ai.onnx");
        if poisoned {
            if KNOWN.contains(&node.op.as_str()) {
                if let Err(e) = self.static_check(node) {
                    self.problems.push(format!("{}: {e}", node.describe()));
                }
            }
            vec![Val::Poison; node.outputs.len()]
        } else if ins.iter().any(|v| matches!(v, Some(Val::Dyn(_)))) {
            match self.dynamic(i, node, ins) {
                Ok(v) => v,
                Err(e) => {
                    self.problems.push(format!("{}: {e}", node.describe()));
                    vec![Val::Poison; node.outputs.len()]
                }
            }
        } else {
            match self.constant(node, ins) {
                Ok(v) => v.into_iter().map(Val::Const).collect(),
                Err(e) => {
                    self.problems.push(format!("{}: {e}", node.describe()));
                    vec![Val::Poison; node.outputs.len()]
                }
            }
        }
    }

    /// The graph's output value, if it was computed from the input; if not,
    /// the problem is reported (unless already reported upstream).
    fn output_value(&mut self) -> Option<Dyn> {
        let g = self.g;
        match self.vals.get(&g.output_name) {
            Some(Val::Dyn(d)) => Some(d.clone()),
            Some(Val::Const(_)) => {
                self.problems.push(format!(
                    "output `{}` does not depend on the input",
                    g.output_name
                ));
                None
            }
            Some(Val::Poison) => None,
            None => {
                self.problems.push(format!(
                    "output `{}` is not produced by any node",
                    g.output_name
                ));
                None
            }
        }
    }

    /// The output checked against the shape the model declares and the
    /// layouts constnet can give, and the lowered graph if no problem was
    /// found anywhere.
    fn finish(&mut self, input: Option<&Dyn>) -> Option<Lowered> {
        let g = self.g;
        let out = self.output_value()?;
        // The computed shape against the one the model declares.
        let declared = &g.output_dims;
        if declared.len() != out.pshape.len()
            || declared
                .iter()
                .zip(&out.pshape)
                .skip(1)
                .any(|(d, &p)| match d {
                    Dim::Fixed(v) => to_usize(*v) != Some(p),
                    _ => false,
                })
        {
            self.problems.push(format!(
                "output `{}`: the model declares {}, but the importer computes {:?}",
                g.output_name,
                dims_text(declared),
                out.pshape
            ));
        }
        let output_nhwc = !out.is_canonical();
        if output_nhwc && out.perm != [0, 2, 3, 1] {
            self.problems.push(format!(
                "output `{}` is in a layout (permutation {:?} of [N, C, H, W]) constnet cannot give",
                g.output_name, out.perm
            ));
        }
        if !self.problems.is_empty() {
            return None;
        }
        Some(Lowered {
            input_shape: self
                .nodes
                .first()
                .map(|n| n.shape.clone())
                .unwrap_or_default(),
            input_nhwc: input.is_some_and(|x| !x.is_canonical()),
            nodes: std::mem::take(&mut self.nodes),
            output: out.id,
            output_nhwc,
        })
    }

    /// The checks that need no shapes, for a node whose input could not be
    /// computed (a problem upstream), so that its own problems are still
    /// reported.
    fn static_check(&self, node: &Node) -> Result<(), String> {
        let scalar = |i: usize| -> Option<f32> {
            match self.vals.get(node.inputs.get(i)?) {
                Some(Val::Const(c)) => c.scalar(),
                _ => None,
            }
        };
        match node.op.as_str() {
            "Clip" => {
                let (lo, hi) = if self.g.opset >= 11 {
                    (scalar(1), scalar(2))
                } else {
                    (node.float("min"), node.float("max"))
                };
                match (lo, hi) {
                    (Some(0.0), Some(6.0) | None) | (None, None) => Ok(()),
                    (Some(0.0), Some(h)) if h == f32::INFINITY => Ok(()),
                    _ => Err(format!(
                        "a clip to [{}, {}]: constnet has ReLU (clip at 0) and ReLU6 (0 to 6)",
                        lo.map_or("-inf".into(), float),
                        hi.map_or("inf".into(), float)
                    )),
                }
            }
            "Gemm" if node.int("transA").unwrap_or(0) != 0 => Err("transA = 1".into()),
            "HardSigmoid" => hard_sigmoid(node),
            "Conv" | "MaxPool" | "AveragePool" => match node.string("auto_pad") {
                None | Some("NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER" | "") => Ok(()),
                Some(other) => Err(format!("auto_pad `{other}`")),
            },
            "Pad" => match node.string("mode").unwrap_or("constant") {
                "constant" | "reflect" | "edge" | "wrap" => Ok(()),
                other => Err(format!("mode `{other}`")),
            },
            _ => Ok(()),
        }
    }

    // -----------------------------------------------------------------
    // Constants
    // -----------------------------------------------------------------

    /// A node whose inputs are all constants, evaluated here: shape
    /// arithmetic and `Constant` nodes.
    fn constant(&mut self, node: &Node, ins: &[Option<Val>]) -> Result<Vec<Const>, String> {
        let c = |i: usize| const_input(ins, i);
        let value = match node.op.as_str() {
            "Constant" => Self::constant_value(node)?,
            "Identity" | "Dropout" => c(0)?.clone(),
            "Cast" => Self::cast_const(node, c(0)?)?,
            "Unsqueeze" | "Squeeze" | "Reshape" | "Flatten" => Self::reshape_const(node, ins)?,
            "Gather" => Self::gather_const(node, c(0)?, c(1)?)?,
            "Concat" => Self::concat_const(ins)?,
            "Add" | "Sub" | "Mul" | "Div" => Self::arith_const(node.op.as_str(), c(0)?, c(1)?)?,
            op => {
                return Err(format!(
                    "`{op}` on constants is not evaluated by the importer"
                ))
            }
        };
        Ok(vec![value])
    }

    /// A `Constant` node's value: its tensor, or its scalar or list
    /// attribute.
    fn constant_value(node: &Node) -> Result<Const, String> {
        match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => Ok(t.clone()),
            _ => match (
                node.attrs.get("value_float"),
                node.attrs.get("value_int"),
                node.attrs.get("value_ints"),
                node.attrs.get("value_floats"),
            ) {
                (Some(Attr::Float(f)), _, _, _) => Ok(Const {
                    dims: vec![],
                    data: Data::F32(vec![*f]),
                }),
                (_, Some(Attr::Int(v)), _, _) => Ok(Const {
                    dims: vec![],
                    data: Data::I64(vec![*v]),
                }),
                (_, _, Some(Attr::Ints(v)), _) => Ok(Const {
                    dims: vec![v.len()],
                    data: Data::I64(v.clone()),
                }),
                (_, _, _, Some(Attr::Floats(v))) => Ok(Const {
                    dims: vec![v.len()],
                    data: Data::F32(v.clone()),
                }),
                _ => {
                    Err("a Constant of a kind the importer does not read (sparse or string)".into())
                }
            },
        }
    }

    /// `Cast` of a constant to float or integer.
    fn cast_const(node: &Node, x: &Const) -> Result<Const, String> {
        match node.int("to") {
            Some(1) | Some(11) => Ok(Const {
                dims: x.dims.clone(),
                data: Data::F32(x.floats()),
            }),
            #[allow(clippy::cast_possible_truncation)]
            Some(6) | Some(7) => Ok(Const {
                dims: x.dims.clone(),
                data: Data::I64(match &x.data {
                    Data::I64(v) => v.clone(),
                    Data::F32(v) => v.iter().map(|&f| f as i64).collect(),
                }),
            }),
            _ => Err("a cast to a type other than float or integer".into()),
        }
    }

    /// `Reshape`, `Flatten`, `Squeeze` and `Unsqueeze` of a constant: the
    /// same values under the new shape.
    fn reshape_const(node: &Node, ins: &[Option<Val>]) -> Result<Const, String> {
        let x = const_input(ins, 0)?;
        let count = x.floats().len();
        let dims = match node.op.as_str() {
            "Reshape" => {
                let shape = const_input(ins, 1)?
                    .ints()
                    .ok_or("a non-integer shape")?
                    .to_vec();
                resolve_reshape(&x.dims, &shape, node.int("allowzero") == Some(1))?
            }
            "Flatten" => {
                let axis = node.int("axis").unwrap_or(1);
                let a = to_usize(if axis < 0 {
                    axis + x.dims.len() as i64
                } else {
                    axis
                })
                .ok_or("bad axis")?;
                let a = a.min(x.dims.len());
                vec![x.dims[..a].iter().product(), x.dims[a..].iter().product()]
            }
            _ => Self::squeeze_dims(node, ins, x)?,
        };
        if dims.iter().product::<usize>() != count {
            return Err(format!("cannot reshape {count} values to {dims:?}"));
        }
        Ok(Const {
            dims,
            data: x.data.clone(),
        })
    }

    /// The shape of a constant `x` after `Squeeze` or `Unsqueeze`.
    fn squeeze_dims(node: &Node, ins: &[Option<Val>], x: &Const) -> Result<Vec<usize>, String> {
        // The result has the same values; only the shape is
        // needed for scalars and vectors, which is what shape
        // arithmetic uses.
        let axes: Vec<i64> = match node.ints("axes") {
            Some(a) => a.to_vec(),
            None => match ins.get(1) {
                Some(Some(Val::Const(a))) => a.ints().unwrap_or_default().to_vec(),
                _ => Vec::new(),
            },
        };
        if node.op == "Unsqueeze" {
            let rank = x.dims.len() + axes.len();
            let mut axes: Vec<usize> = axes
                .iter()
                .filter_map(|&a| to_usize(if a < 0 { a + rank as i64 } else { a }))
                .collect();
            axes.sort_unstable();
            let mut dims = x.dims.clone();
            for a in axes {
                if a > dims.len() {
                    return Err("bad axes".into());
                }
                dims.insert(a, 1);
            }
            Ok(dims)
        } else if axes.is_empty() {
            Ok(x.dims.iter().copied().filter(|&d| d != 1).collect())
        } else {
            let rank = x.dims.len() as i64;
            let axes: BTreeSet<i64> = axes
                .iter()
                .map(|&a| if a < 0 { a + rank } else { a })
                .collect();
            Ok(x.dims
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(&(*i as i64)))
                .map(|(_, &d)| d)
                .collect())
        }
    }

    /// `Gather` of the elements `indices` from a constant vector `x`.
    fn gather_const(node: &Node, x: &Const, indices: &Const) -> Result<Const, String> {
        let idx = indices.ints().ok_or("non-integer indices")?.to_vec();
        if node.int("axis").unwrap_or(0) != 0 || x.dims.len() > 1 {
            return Err("a Gather of constants other than from a vector along axis 0".into());
        }
        let n = x.dims.first().copied().unwrap_or(1) as i64;
        let pick = |v: &[i64]| -> Result<Vec<i64>, String> {
            idx.iter()
                .map(|&i| {
                    let i = if i < 0 { i + n } else { i };
                    to_usize(i)
                        .and_then(|i| v.get(i).copied())
                        .ok_or_else(|| "index out of range".to_string())
                })
                .collect()
        };
        let dims = indices.dims.clone();
        match &x.data {
            Data::I64(v) => Ok(Const {
                dims,
                data: Data::I64(pick(v)?),
            }),
            Data::F32(v) => {
                let bits: Vec<i64> = v.iter().map(|f| i64::from(f.to_bits())).collect();
                let picked = pick(&bits)?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Const {
                    dims,
                    data: Data::F32(picked.iter().map(|&b| f32::from_bits(b as u32)).collect()),
                })
            }
        }
    }

    /// `Concat` of constant vectors: integers if every input is one,
    /// floats otherwise.
    fn concat_const(ins: &[Option<Val>]) -> Result<Const, String> {
        let mut values = Vec::new();
        let mut floats = Vec::new();
        let mut any_float = false;
        for v in ins.iter().flatten() {
            let Val::Const(k) = v else {
                return Err("input missing".into());
            };
            if k.dims.len() > 1 {
                return Err("a Concat of constants other than vectors".into());
            }
            floats.extend(k.floats());
            match &k.data {
                Data::I64(v) => values.extend(v.iter().copied()),
                Data::F32(_) => any_float = true,
            }
        }
        let n = floats.len();
        Ok(Const {
            dims: vec![n],
            data: if any_float {
                Data::F32(floats)
            } else {
                Data::I64(values)
            },
        })
    }

    /// `Add`, `Sub`, `Mul`, `Div` (`op`) of two constants of the same size
    /// or one a scalar: checked integer arithmetic if both are integers,
    /// `f32` otherwise.
    fn arith_const(op: &str, a: &Const, b: &Const) -> Result<Const, String> {
        let (x, y) = (a.floats(), b.floats());
        let (dims, n) = if x.len() >= y.len() {
            (a.dims.clone(), x.len())
        } else {
            (b.dims.clone(), y.len())
        };
        if !(x.len() == y.len() || x.len() == 1 || y.len() == 1) {
            return Err("constant arithmetic with broadcasting other than by a scalar".into());
        }
        let at = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        let f: fn(f32, f32) -> f32 = match op {
            "Add" => |p, q| p + q,
            "Sub" => |p, q| p - q,
            "Mul" => |p, q| p * q,
            _ => |p, q| p / q,
        };
        let out: Vec<f32> = (0..n).map(|i| f(at(&x, i), at(&y, i))).collect();
        if matches!((&a.data, &b.data), (Data::I64(_), Data::I64(_))) {
            let ai = a.ints().unwrap_or_default();
            let bi = b.ints().unwrap_or_default();
            let ati = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
            let r: Option<Vec<i64>> = (0..n)
                .map(|i| {
                    let (p, q) = (ati(ai, i), ati(bi, i));
                    match op {
                        "Add" => p.checked_add(q),
                        "Sub" => p.checked_sub(q),
                        "Mul" => p.checked_mul(q),
                        _ => p.checked_div(q),
                    }
                })
                .collect();
            Ok(Const {
                dims,
                data: Data::I64(r.ok_or("integer overflow")?),
            })
        } else {
            Ok(Const {
                dims,
                data: Data::F32(out),
            })
        }
    }

    // -----------------------------------------------------------------
    // Values computed from the input
    // -----------------------------------------------------------------

    /// A node with an input computed from the network's input: a layer, a
    /// merge, a change of layout only, or an error naming what constnet
    /// cannot do.
    fn dynamic(
        &mut self,
        index: usize,
        node: &'g Node,
        ins: &[Option<Val>],
    ) -> Result<Vec<Val>, String> {
        let dyns: Vec<&Dyn> = ins
            .iter()
            .filter_map(|v| match v {
                Some(Val::Dyn(d)) => Some(d),
                _ => None,
            })
            .collect();
        let x = dyns[0].clone();
        let konst = |i: usize| const_at(ins, i);
        let op = node.op.as_str();
        if MATH.contains(&op) {
            if let Some((x, layer, outputs)) = self.activation_region(index, &x) {
                let pshape = x.pshape.clone();
                let y = self.layer(&x, layer, pshape);
                for o in outputs {
                    self.vals.insert(o, Val::Dyn(y.clone()));
                }
                return Ok(vec![Val::Poison; 0]);
            }
        }
        let one = |d: Dyn| vec![Val::Dyn(d)];
        match op {
            "Identity" | "Dropout" => {
                if op == "Dropout" && node.int("training_mode").unwrap_or(0) != 0 {
                    return Err("Dropout in training mode".into());
                }
                Ok(first_output(node, x))
            }
            "Cast" => match node.int("to") {
                Some(1) => Ok(one(x)),
                _ => Err("a cast of the data to a type other than float32".into()),
            },
            "Transpose" => Self::transpose(node, &x).map(one),
            "Relu" | "Sigmoid" | "Tanh" | "HardSwish" | "HardSigmoid" | "LeakyRelu" | "Elu"
            | "Selu" | "Gelu" => self.activation(node, &x).map(one),
            "Clip" => self.clip(node, &x, ins).map(one),
            "Softmax" | "LogSoftmax" => self.softmax(node, &x).map(one),
            "Conv" => self.conv(node, &x, konst(1), konst(2)).map(one),
            "BatchNormalization" => self
                .batch_norm(node, &x, ins)
                .map(|d| first_output(node, d)),
            "MaxPool" | "AveragePool" => {
                if self.indices_used(node) {
                    return Err("its indices output is used".into());
                }
                self.pool(node, &x).map(|d| first_output(node, d))
            }
            "GlobalAveragePool" | "GlobalMaxPool" => self.global_pool(node, &x).map(one),
            "ReduceMean" => self.reduce_mean(node, &x, konst(1)).map(one),
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => self.reshape(node, op, x, konst(1)),
            "Gemm" => self.gemm(node, &x, ins).map(one),
            "MatMul" => self.matmul(node, &x, konst(1)),
            "Mul" | "Add" | "Sub" | "Div" if dyns.len() == 1 && ins.iter().flatten().count() == 2 => {
                self.affine(index, node, &x, ins).map(one)
            }
            "Add" | "Concat" => self.merge(node, op, &dyns, ins.iter().flatten().count()),
            "Pad" => self.pad(node, &x, ins).map(one),
            "Shape" => {
                #[allow(clippy::cast_possible_wrap)]
                let v: Vec<i64> = x.pshape.iter().map(|&d| d as i64).collect();
                Ok(vec![Val::Const(Const { dims: vec![v.len()], data: Data::I64(v) })])
            }
            "Mul" | "Sub" | "Div" | "Pow" | "Erf" | "Sqrt" => Err(format!(
                "element-wise `{op}` on the data that is not part of a known activation (GELU, SiLU, Hardswish, …)"
            )),
            other => Err(format!("`{other}` on the data is not supported")),
        }
    }

    /// Whether the indices output of a `MaxPool` is read by any node.
    fn indices_used(&self, node: &Node) -> bool {
        node.outputs.len() > 1
            && !node.outputs[1].is_empty()
            && self
                .consumers
                .get(node.outputs[1].as_str())
                .is_some_and(|c| !c.is_empty())
    }

    /// `Transpose`: the same node in another layout; it moves no data.
    fn transpose(node: &Node, x: &Dyn) -> Result<Dyn, String> {
        let rank = x.pshape.len();
        let p: Vec<usize> = match node.ints("perm") {
            Some(p) => p.iter().filter_map(|&a| to_usize(a)).collect(),
            None => (0..rank).rev().collect(),
        };
        let mut sorted = p.clone();
        sorted.sort_unstable();
        if sorted != (0..rank).collect::<Vec<_>>() {
            return Err(format!(
                "perm {p:?} is not a permutation of the {rank} axes"
            ));
        }
        if p[0] != 0 {
            return Err(format!("perm {p:?} moves the batch axis"));
        }
        Ok(Dyn {
            id: x.id,
            pshape: p.iter().map(|&i| x.pshape[i]).collect(),
            perm: p.iter().map(|&i| x.perm[i]).collect(),
        })
    }

    /// The activations that are one constnet layer each, with their
    /// arguments: `Relu`, `Sigmoid`, `Tanh`, `HardSwish`, `HardSigmoid`,
    /// `LeakyRelu`, `Elu`, `Selu`, `Gelu`.
    fn activation(&mut self, node: &Node, x: &Dyn) -> Result<Dyn, String> {
        let (kind, args) = match node.op.as_str() {
            "Relu" => ("ReLU", vec![]),
            "Sigmoid" => ("Sigmoid", vec![]),
            "Tanh" => ("Tanh", vec![]),
            "HardSwish" => ("Hardswish", vec![]),
            "HardSigmoid" => {
                hard_sigmoid(node)?;
                ("Hardsigmoid", vec![])
            }
            "LeakyRelu" => {
                let a = node.float("alpha").unwrap_or(0.01);
                let args = if a == 0.01 {
                    vec![]
                } else {
                    vec![format!("negative_slope = {}", float(a))]
                };
                ("LeakyReLU", args)
            }
            "Elu" => {
                let a = node.float("alpha").unwrap_or(1.0);
                let args = if a == 1.0 {
                    vec![]
                } else {
                    vec![format!("alpha = {}", float(a))]
                };
                ("ELU", args)
            }
            "Selu" => {
                let a = node.float("alpha").unwrap_or(1.673_263_2);
                let gm = node.float("gamma").unwrap_or(1.050_701);
                if (a - 1.673_263_2).abs() > 1e-5 || (gm - 1.050_701).abs() > 1e-5 {
                    return Err(format!(
                        "alpha = {a}, gamma = {gm}: constnet's SELU has PyTorch's fixed constants"
                    ));
                }
                ("SELU", vec![])
            }
            "Gelu" => {
                let args = match node.string("approximate").unwrap_or("none") {
                    "tanh" => vec!["approximate = \"tanh\"".to_string()],
                    _ => vec![],
                };
                ("GELU", args)
            }
            other => return Err(format!("`{other}` on the data is not supported")),
        };
        Ok(self.layer(x, Self::simple(kind, args), x.pshape.clone()))
    }

    /// `Clip` to [0, 6] (`ReLU6`) or [0, ∞) (`ReLU`), its bounds given as
    /// constant inputs (opset 11 on) or attributes.
    fn clip(&mut self, node: &Node, x: &Dyn, ins: &[Option<Val>]) -> Result<Dyn, String> {
        let konst = |i: usize| const_at(ins, i);
        let (lo, hi) = if node.inputs.len() > 1 || self.g.opset >= 11 {
            let lo = match node.inputs.get(1).filter(|s| !s.is_empty()) {
                Some(_) => Some(
                    konst(1)
                        .and_then(Const::scalar)
                        .ok_or("its min is not a constant scalar")?,
                ),
                None => None,
            };
            let hi = match node.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(_) => Some(
                    konst(2)
                        .and_then(Const::scalar)
                        .ok_or("its max is not a constant scalar")?,
                ),
                None => None,
            };
            (lo, hi)
        } else {
            (node.float("min"), node.float("max"))
        };
        let kind = match (lo, hi) {
            (Some(l), Some(h)) if l == 0.0 && h == 6.0 => "ReLU6",
            (Some(0.0), None) => "ReLU",
            (Some(l), Some(h)) if l == 0.0 && h == f32::INFINITY => "ReLU",
            _ => {
                return Err(format!(
                    "a clip to [{}, {}]: constnet has ReLU (clip at 0) and ReLU6 (0 to 6)",
                    lo.map_or("-inf".into(), float),
                    hi.map_or("inf".into(), float)
                ))
            }
        };
        Ok(self.layer(x, Self::simple(kind, vec![]), x.pshape.clone()))
    }

    /// `Softmax` and `LogSoftmax` over one axis other than the batch's.
    fn softmax(&mut self, node: &Node, x: &Dyn) -> Result<Dyn, String> {
        let rank = x.pshape.len();
        let default = if self.g.opset >= 13 { -1 } else { 1 };
        let axis = node.int("axis").unwrap_or(default);
        let a = x
            .canon_axis(axis)
            .ok_or_else(|| format!("axis {axis} out of range"))?;
        if self.g.opset < 13
            && !(rank == 2
                || to_usize(axis + if axis < 0 { rank as i64 } else { 0 }) == Some(rank - 1))
        {
            return Err(format!(
                "opset {} Softmax over axis {axis} of a rank-{rank} tensor flattens the axes after it, which constnet's Softmax does not",
                self.g.opset
            ));
        }
        if a == 0 {
            return Err("a softmax over the batch axis".into());
        }
        let kind = if node.op == "Softmax" {
            "Softmax"
        } else {
            "LogSoftmax"
        };
        Ok(self.layer(
            x,
            Self::simple(kind, vec![format!("dim = {a}")]),
            x.pshape.clone(),
        ))
    }

    /// `BatchNormalization` in inference mode, its statistics constants:
    /// a `BatchNorm2d`.
    fn batch_norm(&mut self, node: &Node, x: &Dyn, ins: &[Option<Val>]) -> Result<Dyn, String> {
        let konst = |i: usize| const_at(ins, i);
        if node.int("training_mode").unwrap_or(0) != 0 {
            return Err("BatchNormalization in training mode".into());
        }
        need_canonical(x, 4)?;
        let (Some(s), Some(b), Some(m), Some(v)) = (konst(1), konst(2), konst(3), konst(4)) else {
            return Err("its scale, bias, mean and variance must be constants".into());
        };
        let c = x.pshape[1];
        for (t, what) in [(s, "scale"), (b, "bias"), (m, "mean"), (v, "variance")] {
            if t.floats().len() != c {
                return Err(format!(
                    "its {what} has {} values for {c} channels",
                    t.floats().len()
                ));
            }
        }
        let eps = node.float("epsilon").unwrap_or(1e-5);
        let mut args = vec![c.to_string()];
        if eps != 1e-5 {
            args.push(format!("eps = {}", float(eps)));
        }
        let layer = Layer {
            kind: "BatchNorm2d",
            args,
            params: vec![
                ("weight", vec![c], s.floats()),
                ("bias", vec![c], b.floats()),
                ("running_mean", vec![c], m.floats()),
                ("running_var", vec![c], v.floats()),
            ],
            hint: hint_of(node),
        };
        Ok(self.layer(x, layer, x.pshape.clone()))
    }

    /// `GlobalAveragePool` and `GlobalMaxPool`: an adaptive pool to 1 × 1.
    fn global_pool(&mut self, node: &Node, x: &Dyn) -> Result<Dyn, String> {
        need_canonical(x, 4)?;
        let kind = if node.op == "GlobalAveragePool" {
            "AdaptiveAvgPool2d"
        } else {
            "AdaptiveMaxPool2d"
        };
        let p = vec![1, x.pshape[1], 1, 1];
        Ok(self.layer(x, Self::simple(kind, vec!["1".into()]), p))
    }

    /// `ReduceMean` over height and width (`axes` the constant input of
    /// opset 18 on): an adaptive average pool to 1 × 1, and a `Flatten`
    /// unless `keepdims`.
    fn reduce_mean(&mut self, node: &Node, x: &Dyn, axes: Option<&Const>) -> Result<Dyn, String> {
        let axes: Vec<i64> = match node.ints("axes") {
            Some(a) => a.to_vec(),
            None => axes
                .and_then(Const::ints)
                .map(<[i64]>::to_vec)
                .ok_or("its axes are not constant")?,
        };
        let keep = node.int("keepdims").unwrap_or(1) != 0;
        if x.pshape.len() != 4 {
            return Err("a mean over a tensor that is not a map".into());
        }
        let canon: BTreeSet<usize> = axes.iter().filter_map(|&a| x.canon_axis(a)).collect();
        if canon != BTreeSet::from([2, 3]) {
            return Err(format!(
                "a mean over axes {axes:?}: constnet pools over height and width only"
            ));
        }
        let mut p = x.pshape.clone();
        for (i, &c) in x.perm.iter().enumerate() {
            if c >= 2 {
                p[i] = 1;
            }
        }
        let pooled = self.layer(x, Self::simple("AdaptiveAvgPool2d", vec!["1".into()]), p);
        if keep {
            Ok(pooled)
        } else {
            let c = x.canonical()[1];
            let flat = Dyn {
                id: 0,
                pshape: vec![1, c],
                perm: vec![0, 1],
            };
            let id = self.push(
                Op::Layer(Self::simple("Flatten", vec![])),
                vec![pooled.id],
                vec![c],
            );
            Ok(Dyn { id, ..flat })
        }
    }

    /// `Gemm` of a vector by a constant weight (`B`) and bias (`C`): a
    /// `Linear`.
    fn gemm(&mut self, node: &Node, x: &Dyn, ins: &[Option<Val>]) -> Result<Dyn, String> {
        let konst = |i: usize| const_at(ins, i);
        if x.pshape.len() != 2 {
            return Err("its input is not a vector".into());
        }
        if node.int("transA").unwrap_or(0) != 0 {
            return Err("transA = 1".into());
        }
        let b = konst(1).ok_or("its weight (B) is not a constant")?;
        let trans_b = node.int("transB").unwrap_or(0) != 0;
        let alpha = node.float("alpha").unwrap_or(1.0);
        let beta = node.float("beta").unwrap_or(1.0);
        let bias = match node.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(_) => Some(konst(2).ok_or("its bias (C) is not a constant")?),
            None => None,
        };
        self.linear(node, x, b, trans_b, alpha, bias, beta, node.inputs.get(1))
    }

    #[allow(clippy::too_many_arguments)]
    fn linear(
        &mut self,
        node: &Node,
        x: &Dyn,
        b: &Const,
        trans_b: bool,
        alpha: f32,
        bias: Option<&Const>,
        beta: f32,
        hint: Option<&String>,
    ) -> Result<Dyn, String> {
        if b.dims.len() != 2 {
            return Err(format!("its weight has shape {:?}, not a matrix", b.dims));
        }
        let (out_f, in_f) = if trans_b {
            (b.dims[0], b.dims[1])
        } else {
            (b.dims[1], b.dims[0])
        };
        if in_f != x.pshape[1] {
            return Err(format!(
                "its weight {:?} does not fit an input of {} features",
                b.dims, x.pshape[1]
            ));
        }
        let bv = b.floats();
        let mut w = vec![0.0f32; out_f * in_f];
        for o in 0..out_f {
            for i in 0..in_f {
                let v = if trans_b {
                    bv[o * in_f + i]
                } else {
                    bv[i * out_f + o]
                };
                w[o * in_f + i] = v * alpha;
            }
        }
        let mut params = vec![("weight", vec![out_f, in_f], w)];
        if let Some(c) = bias {
            let cv = c.floats();
            let cv: Vec<f32> = if cv.len() == out_f {
                cv
            } else if cv.len() == 1 {
                vec![cv[0]; out_f]
            } else {
                return Err(format!("its bias has shape {:?}, not [{out_f}]", c.dims));
            };
            params.push(("bias", vec![out_f], cv.iter().map(|v| v * beta).collect()));
        }
        let mut args = vec![in_f.to_string(), out_f.to_string()];
        if bias.is_none() {
            args.push("bias = false".into());
        }
        let _ = node;
        let layer = Layer {
            kind: "Linear",
            args,
            params,
            hint: hint_of(node).or_else(|| hint.cloned()),
        };
        Ok(self.layer(x, layer, vec![1, out_f]))
    }

    /// `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`: a no-op, a `Flatten`
    /// of each sample, or an error naming the reshape constnet cannot do.
    fn reshape(
        &mut self,
        node: &Node,
        op: &str,
        x: Dyn,
        shape: Option<&Const>,
    ) -> Result<Vec<Val>, String> {
        let target = Self::reshape_target(node, op, &x, shape)?;
        if target == x.pshape {
            return Ok(vec![Val::Dyn(x)]);
        }
        let n: usize = x.pshape[1..].iter().product();
        if target.len() == 2 && target[0] == 1 && target[1] == n {
            if x.pshape.len() == 2 {
                return Ok(vec![Val::Dyn(x)]);
            }
            // Flattening an NHWC map gives NHWC order: only the same
            // as constnet's when the map is 1 × 1.
            let c = x.canonical();
            if !x.is_canonical() && c[2..].iter().any(|&d| d != 1) {
                return Err(format!(
                    "flattens a {:?} map stored NHWC: the features would be in H, W, C order, not constnet's C, H, W",
                    &c[1..]
                ));
            }
            let flat = Dyn {
                id: 0,
                pshape: vec![1, n],
                perm: vec![0, 1],
            };
            let id = self.push(
                Op::Layer(Self::simple("Flatten", vec![])),
                vec![x.id],
                vec![n],
            );
            return Ok(vec![Val::Dyn(Dyn { id, ..flat })]);
        }
        if target.first() != Some(&1) {
            return Err(format!(
                "a reshape to {target:?} involves the batch dimension"
            ));
        }
        Err(format!(
            "a reshape from {:?} to {target:?}: constnet reshapes only by flattening each sample",
            x.pshape
        ))
    }

    /// The physical shape `Flatten`, `Reshape` (to the constant `shape`) or
    /// `Squeeze` (`op`) gives `x`; an error for `Unsqueeze`.
    fn reshape_target(
        node: &Node,
        op: &str,
        x: &Dyn,
        shape: Option<&Const>,
    ) -> Result<Vec<usize>, String> {
        let rank = x.pshape.len() as i64;
        Ok(match op {
            "Flatten" => {
                let axis = node.int("axis").unwrap_or(1);
                let a = to_usize(if axis < 0 { axis + rank } else { axis }).ok_or("bad axis")?;
                if a != 1 {
                    return Err(format!(
                        "axis {axis}: constnet flattens each sample (axis 1)"
                    ));
                }
                vec![1, x.pshape[1..].iter().product()]
            }
            "Reshape" => {
                let shape = shape
                    .and_then(Const::ints)
                    .ok_or("its shape is not a constant")?;
                resolve_reshape(&x.pshape, shape, node.int("allowzero") == Some(1))?
            }
            _ => {
                let axes: Vec<i64> = match node.ints("axes") {
                    Some(a) => a.to_vec(),
                    None => shape
                        .and_then(Const::ints)
                        .map(<[i64]>::to_vec)
                        .unwrap_or_default(),
                };
                if op == "Unsqueeze" {
                    return Err("a new dimension (Unsqueeze) of the data".into());
                }
                let axes: BTreeSet<i64> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + rank } else { a })
                    .collect();
                x.pshape
                    .iter()
                    .enumerate()
                    .filter(|&(i, &d)| {
                        !(if axes.is_empty() {
                            d == 1 && i > 0
                        } else {
                            axes.contains(&(i as i64))
                        })
                    })
                    .map(|(_, &d)| d)
                    .collect()
            }
        })
    }

    /// `MatMul` by a constant weight, and an `Add` of a bias right after
    /// it: one `Linear`.
    fn matmul(&mut self, node: &Node, x: &Dyn, weight: Option<&Const>) -> Result<Vec<Val>, String> {
        if x.pshape.len() != 2 {
            return Err("its input is not a vector".into());
        }
        let b = weight.ok_or("its second operand is not a constant weight")?;
        // A bias added right after: one Linear.
        let mut bias = None;
        let mut bias_out = None;
        if let Some(&[next]) = self
            .consumers
            .get(node.outputs[0].as_str())
            .map(Vec::as_slice)
        {
            let n = &self.g.nodes[next];
            if n.op == "Add" && n.inputs.len() == 2 && n.outputs.len() == 1 {
                let other = if n.inputs[0] == node.outputs[0] {
                    &n.inputs[1]
                } else {
                    &n.inputs[0]
                };
                if let Some(Val::Const(c)) = self.vals.get(other) {
                    if c.floats().len() == b.dims.get(1).copied().unwrap_or(0) && c.dims.len() <= 2
                    {
                        bias = Some(c.clone());
                        bias_out = Some((next, n.outputs[0].clone()));
                    }
                }
            }
        }
        let y = self.linear(
            node,
            x,
            b,
            false,
            1.0,
            bias.as_ref(),
            1.0,
            node.inputs.get(1),
        )?;
        if let Some((next, out)) = bias_out {
            self.done.insert(next);
            self.vals.insert(out, Val::Dyn(y.clone()));
        }
        Ok(vec![Val::Dyn(y)])
    }

    /// `Add` and `Concat` of branches (`inputs` values, all computed from
    /// the network's input): a merge node, `Op::Add` or `Op::Cat`.
    fn merge(
        &mut self,
        node: &Node,
        op: &str,
        dyns: &[&Dyn],
        inputs: usize,
    ) -> Result<Vec<Val>, String> {
        if dyns.len() != inputs {
            return Err(format!(
                "{} of the data and a constant: constnet adds and concatenates branches of the network only",
                if op == "Add" { "a sum" } else { "a concatenation" }
            ));
        }
        let first = dyns[0];
        if dyns.iter().any(|d| d.perm != first.perm) {
            return Err("its inputs are in different layouts".into());
        }
        let mut p = first.pshape.clone();
        if op == "Add" {
            if dyns.iter().any(|d| d.pshape != first.pshape) {
                return Err(format!(
                    "adds tensors of shapes {}: constnet adds branches of the same shape only",
                    dyns.iter()
                        .map(|d| format!("{:?}", d.pshape))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        } else {
            let axis = node.int("axis").ok_or("no axis")?;
            let a = first.canon_axis(axis).ok_or("axis out of range")?;
            if a != 1 {
                return Err(format!("a concatenation along axis {axis}: constnet concatenates channels (features) only"));
            }
            let phys = first.perm.iter().position(|&c| c == 1).unwrap_or(1);
            for d in &dyns[1..] {
                let mut a = d.pshape.clone();
                let mut b = first.pshape.clone();
                a[phys] = 0;
                b[phys] = 0;
                if a != b {
                    return Err("concatenates tensors whose other dimensions differ".into());
                }
            }
            p[phys] = dyns.iter().map(|d| d.pshape[phys]).sum();
        }
        let out = Dyn {
            id: 0,
            pshape: p,
            perm: first.perm.clone(),
        };
        let shape = out.canonical()[1..].to_vec();
        let merge = if op == "Add" { Op::Add } else { Op::Cat };
        let id = self.push(merge, dyns.iter().map(|d| d.id).collect(), shape);
        Ok(vec![Val::Dyn(Dyn { id, ..out })])
    }

    /// `Conv` by a constant weight (`w`) and bias (`b`): a `Conv2d`, after
    /// a `ZeroPad2d` if its padding is asymmetric.
    fn conv(
        &mut self,
        node: &Node,
        x: &Dyn,
        w: Option<&Const>,
        b: Option<&Const>,
    ) -> Result<Dyn, String> {
        need_canonical(x, 4)?;
        let w = w.ok_or("its weight is not a constant")?;
        if w.dims.len() != 4 {
            return Err(format!(
                "its weight has shape {:?}: only 2-D convolutions are supported",
                w.dims
            ));
        }
        let (m, cg, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
        let c = x.pshape[1];
        let group = conv_group(node, &w.dims, c)?;
        let stride = attr2(node, "strides", 1)?;
        let dil = attr2(node, "dilations", 1)?;
        if m == 0 || cg == 0 || kh == 0 || kw == 0 {
            return Err(format!("its weight has an empty shape {:?}", w.dims));
        }
        let keff = [dilated(kh, dil[0])?, dilated(kw, dil[1])?];
        let pads = pads_of(node, &x.pshape[2..], keff, stride)?;
        let bias = conv_bias(node, b, m)?;
        let mut x = x.clone();
        let [t, l, bo, r] = pads;
        let symmetric = t == bo && l == r;
        if !symmetric {
            let p = x.pshape.clone();
            x = self.layer(
                &x,
                Self::simple("ZeroPad2d", vec![format!("({l}, {r}, {t}, {bo})")]),
                vec![1, c, padded(p[2], t, bo)?, padded(p[3], l, r)?],
            );
        }
        let (ph, pw) = if symmetric { (t, l) } else { (0, 0) };
        let h = window_out(x.pshape[2], ph, ph, keff[0], stride[0], false)
            .ok_or("the kernel is larger than the padded input")?;
        let wd = window_out(x.pshape[3], pw, pw, keff[1], stride[1], false)
            .ok_or("the kernel is larger than the padded input")?;
        let mut args = vec![c.to_string(), m.to_string(), pair(kh, kw)];
        if stride != [1, 1] {
            args.push(format!("stride = {}", pair(stride[0], stride[1])));
        }
        if (ph, pw) != (0, 0) {
            args.push(format!("padding = {}", pair(ph, pw)));
        }
        if dil != [1, 1] {
            args.push(format!("dilation = {}", pair(dil[0], dil[1])));
        }
        if group != 1 {
            args.push(format!("groups = {group}"));
        }
        let mut params = vec![("weight", w.dims.clone(), w.floats())];
        match bias {
            Some(b) => params.push(("bias", vec![m], b)),
            None => args.push("bias = false".into()),
        }
        let layer = Layer {
            kind: "Conv2d",
            args,
            params,
            hint: hint_of(node),
        };
        Ok(self.layer(&x, layer, vec![1, m, h, wd]))
    }

    /// `MaxPool` and `AveragePool`: a `MaxPool2d` or `AvgPool2d`, after a
    /// `ZeroPad2d` or in ceil mode where that is how its asymmetric padding
    /// can be expressed.
    fn pool(&mut self, node: &Node, x: &Dyn) -> Result<Dyn, String> {
        need_canonical(x, 4)?;
        let max = node.op == "MaxPool";
        let [k, stride, dil] = pool_window(node)?;
        let mut ceil = node.int("ceil_mode").unwrap_or(0) != 0;
        let keff = [dilated(k[0], dil[0])?, dilated(k[1], dil[1])?];
        let c = x.pshape[1];
        let (ih, iw) = (x.pshape[2], x.pshape[3]);
        let [t, l, b, r] = pads_of(node, &x.pshape[2..], keff, stride)?;
        let include = node.int("count_include_pad").unwrap_or(0) != 0;
        let mut x = x.clone();
        let (mut ph, mut pw) = (t, l);
        if t != b || l != r {
            // The ONNX output size, which every rewrite must keep.
            let oh = window_out(ih, t, b, keff[0], stride[0], ceil)
                .ok_or("the window is larger than the padded input")?;
            let ow = window_out(iw, l, r, keff[1], stride[1], ceil)
                .ok_or("the window is larger than the padded input")?;
            if max
                && t == 0
                && l == 0
                && window_out(ih, 0, 0, keff[0], stride[0], true) == Some(oh)
                && window_out(iw, 0, 0, keff[1], stride[1], true) == Some(ow)
            {
                // Padding only after: windows clipped at the end, as ceil_mode does.
                ceil = true;
                ph = 0;
                pw = 0;
            } else if !max && include && !ceil {
                x = self.layer(
                    &x,
                    Self::simple("ZeroPad2d", vec![format!("({l}, {r}, {t}, {b})")]),
                    vec![1, c, padded(ih, t, b)?, padded(iw, l, r)?],
                );
                ph = 0;
                pw = 0;
            } else {
                return Err(format!(
                    "asymmetric padding (top {t}, left {l}, bottom {b}, right {r}) that no constnet pool expresses"
                ));
            }
        }
        if ph.saturating_mul(2) > keff[0] || pw.saturating_mul(2) > keff[1] {
            return Err(format!(
                "padding ({ph}, {pw}) larger than half the window ({}, {})",
                keff[0], keff[1]
            ));
        }
        let oh = window_out(x.pshape[2], ph, ph, keff[0], stride[0], ceil)
            .ok_or("the window is larger than the padded input")?;
        let ow = window_out(x.pshape[3], pw, pw, keff[1], stride[1], ceil)
            .ok_or("the window is larger than the padded input")?;
        let mut args = vec![pair(k[0], k[1])];
        if stride != k {
            args.push(format!("stride = {}", pair(stride[0], stride[1])));
        }
        if (ph, pw) != (0, 0) {
            args.push(format!("padding = {}", pair(ph, pw)));
        }
        if max && dil != [1, 1] {
            args.push(format!("dilation = {}", pair(dil[0], dil[1])));
        }
        if ceil {
            args.push("ceil_mode = true".into());
        }
        if !max && !include && (ph, pw) != (0, 0) {
            args.push("count_include_pad = false".into());
        }
        let kind = if max { "MaxPool2d" } else { "AvgPool2d" };
        Ok(self.layer(&x, Self::simple(kind, args), vec![1, c, oh, ow]))
    }

    /// A per-channel `x * scale (+ shift)`, `x / scale (+ shift)`,
    /// `x + shift` or `x - shift` (TensorFlow's unfused batch
    /// normalisation, a bias added apart from its convolution, an input
    /// normalisation): a `BatchNorm2d` with mean 0 and variance 1 - eps
    /// (eps is its default, 1e-5; constnet's must be positive), which
    /// computes `x * weight + bias` (1 / sqrt(var + eps) rounds to 1).
    fn affine(
        &mut self,
        index: usize,
        node: &Node,
        x: &Dyn,
        ins: &[Option<Val>],
    ) -> Result<Dyn, String> {
        let other = |ins: &[Option<Val>]| {
            ins.iter().flatten().find_map(|v| match v {
                Val::Const(c) => Some(c.clone()),
                _ => None,
            })
        };
        let what = match node.op.as_str() {
            "Mul" => "a product",
            "Add" => "a sum",
            "Sub" => "a difference",
            _ => "a quotient",
        };
        let data_first = matches!(ins.first(), Some(Some(Val::Dyn(_))));
        if matches!(node.op.as_str(), "Sub" | "Div") && !data_first {
            return Err(format!(
                "{what} with the data as its second operand: constnet has per-channel scales and shifts only"
            ));
        }
        let c = other(ins).ok_or("no constant")?;
        let values = channel_values(x, &c).ok_or_else(|| {
            format!(
                "{what} of the data and a constant of shape {:?}: constnet has per-channel scales and shifts (BatchNorm2d) only",
                c.dims
            )
        })?;
        let n = values.len();
        let (mut scale, mut shift) = (vec![1.0; n], vec![0.0; n]);
        let mut hint = node
            .inputs
            .iter()
            .find(|i| matches!(self.vals.get(*i), Some(Val::Const(_))))
            .cloned();
        if matches!(node.op.as_str(), "Mul" | "Div") {
            // x / c as x * (1 / c): within an ulp of the quotient.
            scale = if node.op == "Mul" {
                values
            } else {
                values.iter().map(|v| 1.0 / v).collect()
            };
            // A shift right after: the same layer.
            if let Some((next, o, t, out)) = self.shift_after(node, x) {
                shift = t;
                self.done.insert(next);
                hint = Some(o);
                let y = self.affine_layer(x, scale, shift, name_hint(node, hint.as_ref()));
                self.vals.insert(out, Val::Dyn(y.clone()));
                return Ok(y);
            }
        } else if node.op == "Sub" {
            shift = values.iter().map(|v| -v).collect();
        } else {
            shift = values;
        }
        let _ = index;
        Ok(self.affine_layer(x, scale, shift, name_hint(node, hint.as_ref())))
    }

    /// The `Add` of a per-channel constant that is the only reader of
    /// `node`'s output, if there is one: its node index, the constant's
    /// name, its values per channel, and the `Add`'s output name.
    fn shift_after(&self, node: &Node, x: &Dyn) -> Option<(usize, String, Vec<f32>, String)> {
        let g = self.g;
        if let Some(&[next]) = self
            .consumers
            .get(node.outputs[0].as_str())
            .map(Vec::as_slice)
        {
            let n2 = &g.nodes[next];
            if n2.op == "Add" && n2.inputs.len() == 2 && n2.outputs.len() == 1 {
                let o = if n2.inputs[0] == node.outputs[0] {
                    &n2.inputs[1]
                } else {
                    &n2.inputs[0]
                };
                if let Some(Val::Const(c2)) = self.vals.get(o) {
                    if let Some(t) = channel_values(x, c2) {
                        return Some((next, o.clone(), t, n2.outputs[0].clone()));
                    }
                }
            }
        }
        None
    }

    fn affine_layer(
        &mut self,
        x: &Dyn,
        scale: Vec<f32>,
        shift: Vec<f32>,
        hint: Option<String>,
    ) -> Dyn {
        let n = scale.len();
        let layer = Layer {
            kind: "BatchNorm2d",
            args: vec![n.to_string()],
            params: vec![
                ("weight", vec![n], scale),
                ("bias", vec![n], shift),
                ("running_mean", vec![n], vec![0.0; n]),
                ("running_var", vec![n], vec![1.0 - 1e-5; n]),
            ],
            hint,
        };
        let p = x.pshape.clone();
        self.layer(x, layer, p)
    }

    /// `Pad` of a map's height and width: a `ZeroPad2d`, `ConstantPad2d`,
    /// `ReflectionPad2d`, `ReplicationPad2d` or `CircularPad2d`.
    fn pad(&mut self, node: &Node, x: &Dyn, ins: &[Option<Val>]) -> Result<Dyn, String> {
        let rank = x.pshape.len();
        let konst = |i: usize| match ins.get(i) {
            Some(Some(Val::Const(c))) => Some(c),
            _ => None,
        };
        let pads: Vec<i64> = match node.ints("pads") {
            Some(p) => p.to_vec(),
            None => konst(1)
                .and_then(Const::ints)
                .map(<[i64]>::to_vec)
                .ok_or("its pads are not constant")?,
        };
        let value = match node.float("value") {
            Some(v) => v,
            None => match node.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(_) => konst(2)
                    .and_then(Const::scalar)
                    .ok_or("its value is not a constant scalar")?,
                None => 0.0,
            },
        };
        let axes: Vec<usize> = match node.inputs.get(3).filter(|s| !s.is_empty()) {
            Some(_) => konst(3)
                .and_then(Const::ints)
                .ok_or("its axes are not constant")?
                .iter()
                .filter_map(|&a| to_usize(if a < 0 { a + rank as i64 } else { a }))
                .collect(),
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
        }
        if rank != 4 {
            return Err("a pad of a tensor that is not a map".into());
        }
        let [t, l, b, r] = canonical_pads(x, &pads, &axes)?;
        let mode = node.string("mode").unwrap_or("constant");
        let p = format!("({l}, {r}, {t}, {b})");
        let layer = match mode {
            "constant" if value == 0.0 => Self::simple("ZeroPad2d", vec![p]),
            "constant" => Self::simple("ConstantPad2d", vec![p, float(value)]),
            "reflect" => Self::simple("ReflectionPad2d", vec![p]),
            "edge" => Self::simple("ReplicationPad2d", vec![p]),
            "wrap" => Self::simple("CircularPad2d", vec![p]),
            other => return Err(format!("mode `{other}`")),
        };
        let c = x.canonical();
        if mode == "reflect" && (t >= c[2] || b >= c[2] || l >= c[3] || r >= c[3]) {
            return Err("reflection padding as large as the input".into());
        }
        let pshape = padded_pshape(x, [t, l, b, r])?;
        Ok(self.layer(x, layer, pshape))
    }

    // -----------------------------------------------------------------
    // Activations written as element-wise arithmetic
    // -----------------------------------------------------------------

    /// From node `start`, the largest region of element-wise nodes that
    /// reads only `x` and constants, has one exit, and computes a known
    /// activation: the activation, and the region's exit value names.
    /// The region's nodes are marked done.
    fn activation_region(&mut self, start: usize, x: &Dyn) -> Option<(Dyn, Layer, Vec<String>)> {
        let g = self.g;
        let x_name = g.nodes[start]
            .inputs
            .iter()
            .find(|n| matches!(self.vals.get(*n), Some(Val::Dyn(d)) if d.id == x.id && d.perm == x.perm))?
            .clone();
        // Grow: nodes after `start` in order whose inputs are `x`, constants
        // or the region's outputs.
        let mut region: Vec<usize> = Vec::new();
        let mut inside: HashSet<&str> = HashSet::new();
        for (i, n) in g.nodes.iter().enumerate().skip(start) {
            if region.len() >= 24 {
                break;
            }
            if self.done.contains(&i) || !MATH.contains(&n.op.as_str()) || n.outputs.len() != 1 {
                if i == start {
                    return None;
                }
                continue;
            }
            let mut reads_data = false;
            let ok = n.inputs.iter().all(|inp| {
                if inp.is_empty() {
                    return true;
                }
                if *inp == x_name || inside.contains(inp.as_str()) {
                    reads_data = true;
                    return true;
                }
                matches!(self.vals.get(inp), Some(Val::Const(c)) if c.floats().len() == 1)
            });
            if ok && reads_data {
                region.push(i);
                inside.insert(n.outputs[0].as_str());
            } else if i == start {
                return None;
            }
        }
        // Candidate exits, last first: the sub-region of its ancestors must
        // be closed (no inner value used outside it).
        for &exit in region.iter().rev() {
            let mut sub: BTreeSet<usize> = BTreeSet::from([exit]);
            for &i in region.iter().rev() {
                if i <= exit && sub.contains(&i) {
                    for inp in &g.nodes[i].inputs {
                        if let Some(&j) = region.iter().find(|&&j| g.nodes[j].outputs[0] == *inp) {
                            sub.insert(j);
                        }
                    }
                }
            }
            if sub.len() < 2 || !sub.contains(&start) {
                continue;
            }
            let closed = sub.iter().all(|&i| {
                i == exit
                    || self
                        .consumers
                        .get(g.nodes[i].outputs[0].as_str())
                        .is_none_or(|cs| cs.iter().all(|c| sub.contains(c)))
                        && g.nodes[i].outputs[0] != g.output_name
            });
            if !closed {
                continue;
            }
            let f = |t: f64| -> Option<f64> { self.eval_region(&sub, &x_name, t) };
            if let Some(layer) = identify(f) {
                for &i in &sub {
                    self.done.insert(i);
                }
                return Some((x.clone(), layer, vec![g.nodes[exit].outputs[0].clone()]));
            }
        }
        None
    }

    fn eval_region(&self, sub: &BTreeSet<usize>, x_name: &str, t: f64) -> Option<f64> {
        let g = self.g;
        let mut env: HashMap<&str, f64> = HashMap::from([(x_name, t)]);
        let mut last = None;
        for &i in sub {
            let n = &g.nodes[i];
            let arg = |k: usize| -> Option<f64> {
                let name = n.inputs.get(k)?;
                if let Some(v) = env.get(name.as_str()) {
                    return Some(*v);
                }
                match self.vals.get(name) {
                    Some(Val::Const(c)) => c.scalar().map(f64::from),
                    _ => None,
                }
            };
            let v = match n.op.as_str() {
                "Add" => arg(0)? + arg(1)?,
                "Sub" => arg(0)? - arg(1)?,
                "Mul" => arg(0)? * arg(1)?,
                "Div" => arg(0)? / arg(1)?,
                "Pow" => arg(0)?.powf(arg(1)?),
                "Erf" => erf(arg(0)?),
                "Sqrt" => arg(0)?.sqrt(),
                "Tanh" => arg(0)?.tanh(),
                "Sigmoid" => 1.0 / (1.0 + (-arg(0)?).exp()),
                "Relu" => arg(0)?.max(0.0),
                "Clip" => {
                    let mut v = arg(0)?;
                    if n.inputs.len() > 1 && !n.inputs[1].is_empty() {
                        v = v.max(arg(1)?);
                    }
                    if n.inputs.len() > 2 && !n.inputs[2].is_empty() {
                        v = v.min(arg(2)?);
                    }
                    v
                }
                _ => return None,
            };
            env.insert(n.outputs[0].as_str(), v);
            last = Some(v);
        }
        last
    }
}

/// The activation `f` computes, if it is one constnet has.
fn identify(f: impl Fn(f64) -> Option<f64>) -> Option<Layer> {
    let samples = [
        -4.1, -3.0, -2.2, -1.5, -0.7, -0.2, 0.0, 0.3, 0.9, 1.6, 2.5, 3.2, 5.0,
    ];
    let relu6 = |t: f64| t.clamp(0.0, 6.0);
    let sig = |t: f64| 1.0 / (1.0 + (-t).exp());
    type Candidate<'a> = (&'static str, Vec<String>, &'a dyn Fn(f64) -> f64);
    let candidates: [Candidate; 5] = [
        ("GELU", vec![], &|t: f64| {
            0.5 * t * (1.0 + erf(t / std::f64::consts::SQRT_2))
        }),
        ("GELU", vec!["approximate = \"tanh\"".into()], &|t: f64| {
            0.5 * t
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (t + 0.044_715 * t * t * t)).tanh())
        }),
        ("SiLU", vec![], &|t: f64| t * sig(t)),
        ("Hardswish", vec![], &|t: f64| t * relu6(t + 3.0) / 6.0),
        ("Hardsigmoid", vec![], &|t: f64| relu6(t + 3.0) / 6.0),
    ];
    let values: Option<Vec<f64>> = samples.iter().map(|&t| f(t)).collect();
    let values = values?;
    for (kind, args, g) in candidates {
        if samples
            .iter()
            .zip(&values)
            .all(|(&t, &v)| (g(t) - v).abs() <= 2e-5 * (1.0 + v.abs()))
        {
            return Some(Layer {
                kind,
                args,
                params: Vec::new(),
                hint: None,
            });
        }
    }
    None
}

/// The error function, to 1e-12 (a continued series, then its complement's
/// continued fraction).
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.5 {
        // Maclaurin series.
        let mut sum: f64 = 0.0;
        let mut term = a;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -a * a / n;
            if n > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc by Lentz's continued fraction.
        let mut f = a;
        let mut c = a;
        let mut d = 0.0;
        for k in 1..200 {
            let an = f64::from(k) / 2.0;
            d = a + an * d;
            d = if d == 0.0 { 1e-300 } else { 1.0 / d };
            c = a + an / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-a * a).exp() / (f * std::f64::consts::PI.sqrt())
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// The Keras layer in a TensorFlow name: `model/layer/op…` → `layer`
/// (`conv1/kernel` → `conv1`).
fn tf_scope(name: &str) -> Option<String> {
    let segs: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    match segs.len() {
        0 | 1 => None,
        2 => Some(segs[0].to_string()),
        _ => Some(segs[1].to_string()),
    }
}

/// What a layer is named after, given the name of its first constant:
/// - a PyTorch key (`layer1.0.conv1.weight`): itself;
/// - an exporter's number (`onnx::Conv_193`): the module path in the
///   node's name (`/layer2/layer2.0/downsample/downsample.0/Conv` →
///   `layer2.0.downsample.0`);
/// - a TensorFlow name (`model/conv1/Conv2D/ReadVariableOp:0`), or a
///   tf2onnx constant (`const_fold_opt_58`) in a node with a TensorFlow
///   name: the Keras layer (`conv1`).
fn name_hint(node: &Node, tensor: Option<&String>) -> Option<String> {
    let tensor = tensor?;
    if let Some(path) = node
        .name
        .strip_prefix('/')
        .filter(|_| tensor.starts_with("onnx::"))
    {
        let segs: Vec<&str> = path.split('/').collect();
        if segs.len() >= 2 {
            // Each scope is named `parent.child` under a Sequential.
            let mut parts: Vec<&str> = Vec::new();
            for s in &segs[..segs.len() - 1] {
                if parts
                    .last()
                    .is_some_and(|p| s.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
                {
                    parts.pop();
                }
                parts.push(s);
            }
            return Some(parts.join("."));
        }
    }
    if tensor.contains('/') {
        return tf_scope(tensor).or_else(|| Some(tensor.clone()));
    }
    if !tensor.contains('.') && !node.name.starts_with('/') {
        if let Some(scope) = tf_scope(&node.name) {
            return Some(scope);
        }
    }
    Some(tensor.clone())
}

fn hint_of(node: &Node) -> Option<String> {
    name_hint(node, node.inputs.get(1))
}

/// ONNX's HardSigmoid with PyTorch's constants, or why not.
fn hard_sigmoid(node: &Node) -> Result<(), String> {
    let a = node.float("alpha").unwrap_or(0.2);
    let b = node.float("beta").unwrap_or(0.5);
    if (a - 1.0 / 6.0).abs() > 1e-6 || (b - 0.5).abs() > 1e-6 {
        return Err(format!(
            "alpha = {a}, beta = {b}: constnet's Hardsigmoid is PyTorch's (alpha = 1/6, beta = 0.5)"
        ));
    }
    Ok(())
}

/// A constant's values per channel of the map `x`: a scalar repeated, or
/// one value per channel along `x`'s channel axis (size 1 on the others).
fn channel_values(x: &Dyn, c: &Const) -> Option<Vec<f32>> {
    let rank = x.pshape.len();
    if rank != 4 || c.dims.len() > rank {
        return None;
    }
    let n = x.canonical()[1];
    let v = c.floats();
    if v.len() == 1 {
        return Some(vec![v[0]; n]);
    }
    // The constant's axes, aligned to the right of the data's.
    let offset = rank - c.dims.len();
    let phys = x.perm.iter().position(|&a| a == 1)?;
    let ok = c
        .dims
        .iter()
        .enumerate()
        .all(|(i, &d)| if i + offset == phys { d == n } else { d == 1 });
    ok.then_some(v)
}

/// A `Conv`'s group, checked against its weight's shape `dims` (`[M, C /
/// group, kH, kW]`), its `c` input channels and its `kernel_shape`.
fn conv_group(node: &Node, dims: &[usize], c: usize) -> Result<usize, String> {
    let (m, cg, kh, kw) = (dims[0], dims[1], dims[2], dims[3]);
    let group = to_usize(node.int("group").unwrap_or(1))
        .filter(|&g| g > 0)
        .ok_or("bad group")?;
    if cg.checked_mul(group) != Some(c) || m % group != 0 {
        return Err(format!(
            "weight {dims:?} with group {group} does not fit {c} input channels"
        ));
    }
    if let Some(k) = node.ints("kernel_shape") {
        if k != [kh as i64, kw as i64] {
            return Err(format!(
                "kernel_shape {k:?} differs from the weight's {:?}",
                [kh, kw]
            ));
        }
    }
    Ok(group)
}

/// A `Conv`'s bias (its input 2, `b` if a constant), checked to have one
/// value for each of its `m` output channels.
fn conv_bias(node: &Node, b: Option<&Const>, m: usize) -> Result<Option<Vec<f32>>, String> {
    match node.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(_) => {
            let b = b.ok_or("its bias is not a constant")?;
            if b.floats().len() != m {
                return Err(format!(
                    "its bias has {} values for {m} channels",
                    b.floats().len()
                ));
            }
            Ok(Some(b.floats()))
        }
        None => Ok(None),
    }
}

/// A `Pad`'s `pads` (begins, then ends) on the physical `axes` of the map
/// `x`, as `[top, left, bottom, right]`; an error for negative padding or
/// padding of the batch or channel axis.
fn canonical_pads(x: &Dyn, pads: &[i64], axes: &[usize]) -> Result<[usize; 4], String> {
    // Canonical [top, bottom, left, right].
    let mut canon = [0i64; 8];
    for (j, &a) in axes.iter().enumerate() {
        let ca = *x.perm.get(a).ok_or("axis out of range")?;
        canon[ca] = pads[j];
        canon[4 + ca] = pads[axes.len() + j];
    }
    if canon.iter().any(|&p| p < 0) {
        return Err(format!("negative padding {pads:?} (cropping)"));
    }
    if canon[0] != 0 || canon[1] != 0 || canon[4] != 0 || canon[5] != 0 {
        return Err(format!("pads {pads:?} pad the batch or channel axis"));
    }
    Ok([canon[2], canon[3], canon[6], canon[7]].map(|v| usize::try_from(v).unwrap_or(0)))
}

/// The physical shape of the map `x` padded by `[top, left, bottom,
/// right]`, or an error if a size overflows.
fn padded_pshape(x: &Dyn, [t, l, b, r]: [usize; 4]) -> Result<Vec<usize>, String> {
    let mut pshape = x.pshape.clone();
    for (i, &ca) in x.perm.iter().enumerate() {
        if ca == 2 {
            pshape[i] = pshape[i]
                .checked_add(t)
                .and_then(|v| v.checked_add(b))
                .ok_or("padding too large")?;
        }
        if ca == 3 {
            pshape[i] = pshape[i]
                .checked_add(l)
                .and_then(|v| v.checked_add(r))
                .ok_or("padding too large")?;
        }
    }
    Ok(pshape)
}

/// A `MaxPool`'s or `AveragePool`'s kernel, strides and dilations, checked
/// (no dilation for an average, no `storage_order`).
fn pool_window(node: &Node) -> Result<[[usize; 2]; 3], String> {
    let max = node.op == "MaxPool";
    let k = attr2(node, "kernel_shape", 0)?;
    if k.contains(&0) {
        return Err("no kernel_shape".into());
    }
    let stride = attr2(node, "strides", 1)?;
    let dil = attr2(node, "dilations", 1)?;
    if !max && dil != [1, 1] {
        return Err("an average pool with dilation".into());
    }
    if node.int("storage_order").unwrap_or(0) != 0 {
        return Err("storage_order = 1".into());
    }
    Ok([k, stride, dil])
}

/// The extent of a kernel of `k` taps `dilation` apart.
fn dilated(k: usize, dilation: usize) -> Result<usize, String> {
    k.checked_sub(1)
        .and_then(|k| k.checked_mul(dilation))
        .and_then(|k| k.checked_add(1))
        .ok_or_else(|| format!("a kernel of {k} with dilation {dilation}"))
}

fn padded(len: usize, before: usize, after: usize) -> Result<usize, String> {
    len.checked_add(before)
        .and_then(|v| v.checked_add(after))
        .ok_or_else(|| "padding too large".to_string())
}

fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn need_canonical(x: &Dyn, rank: usize) -> Result<(), String> {
    if x.pshape.len() != rank {
        return Err(format!(
            "its input has shape {:?}, not a [N, C, H, W] map",
            x.pshape
        ));
    }
    if !x.is_canonical() {
        return Err(format!(
            "its input is stored in a layout other than NCHW (permutation {:?}) with no transpose back",
            x.perm
        ));
    }
    Ok(())
}

/// A two-element attribute (`strides`, `dilations`), `default` if absent.
fn attr2(node: &Node, name: &str, default: usize) -> Result<[usize; 2], String> {
    match node.ints(name) {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 => match (to_usize(v[0]), to_usize(v[1])) {
            (Some(a), Some(b)) if a > 0 && b > 0 => Ok([a, b]),
            _ => Err(format!("{name} {v:?} are not positive")),
        },
        Some(v) => Err(format!("{name} {v:?}: only 2-D operations are supported")),
    }
}

/// Explicit `[top, left, bottom, right]` padding from `pads` or `auto_pad`.
fn pads_of(
    node: &Node,
    spatial: &[usize],
    keff: [usize; 2],
    stride: [usize; 2],
) -> Result<[usize; 4], String> {
    let auto = node.string("auto_pad").unwrap_or("NOTSET");
    match auto {
        "NOTSET" | "" => match node.ints("pads") {
            None => Ok([0; 4]),
            Some(p) if p.len() == 4 => {
                let v: Vec<usize> = p.iter().filter_map(|&x| to_usize(x)).collect();
                if v.len() != 4 {
                    return Err(format!("negative pads {p:?}"));
                }
                Ok([v[0], v[1], v[2], v[3]])
            }
            Some(p) => Err(format!("pads {p:?}: only 2-D operations are supported")),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut out = [0; 4];
            for a in 0..2 {
                let len = spatial[a];
                let o = len.div_ceil(stride[a]);
                let total =
                    ((o - 1).saturating_mul(stride[a]).saturating_add(keff[a])).saturating_sub(len);
                let small = total / 2;
                let (begin, end) = if auto == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                out[a] = begin;
                out[a + 2] = end;
            }
            Ok(out)
        }
        other => Err(format!("auto_pad `{other}`")),
    }
}

/// ONNX Reshape's target shape: `0` copies (unless `allowzero`), `-1` infers.
fn resolve_reshape(from: &[usize], shape: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total: usize = from.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*from.get(i).ok_or("a 0 past the input's rank")?),
            s => out.push(to_usize(s).ok_or_else(|| format!("shape {shape:?}"))?),
        }
    }
    if let Some(i) = infer {
        let known = checked_product(&out).ok_or("a shape too large")?;
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {from:?} to {shape:?}"));
        }
        out[i] = total / known;
    }
    if checked_product(&out) != Some(total) {
        return Err(format!("cannot reshape {from:?} to {shape:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_accurate() {
        // Values of erf from tables.
        for (x, want) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
        ] {
            assert!((erf(x) - want).abs() < 1e-12, "{x}");
            assert!((erf(-x) + want).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn same_padding() {
        let n = Node {
            name: "c".into(),
            op: "Conv".into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec![],
            attrs: [("auto_pad".to_string(), Attr::Str("SAME_UPPER".into()))].into(),
        };
        assert_eq!(pads_of(&n, &[7, 8], [3, 3], [2, 2]), Ok([1, 0, 1, 1]));
        assert_eq!(window_out(7, 1, 1, 3, 2, false), Some(4));
    }
}
