//! Walks the declared entries in order, binds each layer's arguments,
//! computes every shape with PyTorch's formulas and reports *every*
//! inconsistency, each spanned on the offending token, with what was
//! expected, what the previous layer produces and how that was computed.
//! The result is the network as a [`Graph`].
//!
//! After an error the walk goes on: a layer whose output can still be known
//! (say, a `Linear` whose `in_features` is wrong still outputs
//! `out_features`) passes it on; otherwise the shape becomes unknown and later
//! layers are checked only for what does not depend on it, so one mistake
//! does not cascade into a dozen messages.
//!
//! `check.rs` holds the per-layer rules' shared context; `walk` the walk over
//! sequences, groups and conditions; `block` the uses of blocks; `merge` the
//! rules of `Add`, `Cat` and `Residual`; the other submodules one layer
//! family each.

use quote::ToTokens;
use syn::Ident;

mod block;
mod conv;
mod dense;
mod elementwise;
pub mod int8;
mod merge;
mod norm;
mod pad;
mod pool;
mod walk;

use crate::ast::{self, Dims, Layer, Range};
use crate::eval::{eval_int, Env, Value};
use crate::graph::Graph;
pub use crate::op::Op;
use crate::shape::{self, Computed, Shape, Window, WindowError};
use crate::spec::{self, Bindings, Bound};

/// Checks one network of an invocation (whose blocks it may use). All
/// errors are combined into one `syn::Error`.
pub fn check(inv: &ast::Invocation, net: &ast::Network) -> syn::Result<Graph> {
    walk::network(inv, net)
}

/// Checks the block declarations themselves, once per invocation.
pub fn check_blocks(inv: &ast::Invocation) -> syn::Result<()> {
    block::declarations(&inv.blocks)
}

/// Where a layer sits: its position in its module, and the names it goes by
/// (for keys, fields and messages).
#[derive(Clone)]
pub(crate) struct Place {
    /// The position among its module's entries (the index of the same
    /// layer in an `nn.Sequential`).
    pub index: usize,
    pub name: Option<Ident>,
    /// The `state_dict` prefix: `conv1`, `3`, `layer1.0.conv1`.
    pub key: String,
    /// The struct and trace field: `conv1`, `layer3`, `layer1_0_conv1`.
    pub field: String,
    /// Whether it is one of the network's own entries (not in a module).
    pub root: bool,
}

impl Place {
    /// ``` `conv1: Conv2d(1, 6, 5)` (layer 0) ```, or for a layer inside a
    /// module ``` `Conv2d(64, 64, 3)` (`layer1.0.conv1`) ```.
    fn describe(&self, display: &str) -> String {
        self.describe_with(display, "")
    }

    /// [`Place::describe`] with more inside the parentheses.
    fn describe_with(&self, display: &str, extra: &str) -> String {
        let at = if self.root {
            format!("layer {}", self.index)
        } else {
            format!("`{}`", self.key)
        };
        match (&self.name, self.root) {
            (Some(n), true) => format!("`{n}: {display}` ({at}{extra})"),
            _ => format!("`{display}` ({at}{extra})"),
        }
    }
}

/// One layer with everything resolved.
pub struct Checked {
    /// The layer with its arguments resolved, e.g. `Conv2d(1, 6, 5)`.
    pub display: String,
    pub op: Op,
    pub input: Shape,
    pub output: Shape,
    pub params: usize,
    pub macs: usize,
    /// How the output shape was computed, with the numbers filled in
    /// (empty for layers that keep their input shape).
    pub formula: String,
}

/// The shape flowing between layers, with where it came from.
#[derive(Clone)]
struct Flow {
    shape: Shape,
    /// The layer that produced it, e.g. ``the output of `MaxPool2d(2)` (layer 2)``.
    by: String,
    /// How its size was computed, e.g. `H = W = (28 + …) / 2 + 1 = 14`.
    formula: String,
    /// For a map: the layer that set its channel count.
    channels_by: String,
    /// For a flattened vector: the map it came from, and how.
    map: Option<(Shape, String, String)>,
}

impl Flow {
    /// ``the input of this layer is [6, 14, 14], the output of `…` (layer 2): H = …``
    fn explain(&self) -> String {
        let mut s = format!("the input of this layer is {}, {}", self.shape, self.by);
        if !self.formula.is_empty() {
            s.push_str(": ");
            s.push_str(&self.formula);
        }
        s
    }
}

/// The input line of a network: its shape, or `None` after an error.
fn check_input(net: &ast::Network, errors: &mut Vec<syn::Error>) -> Option<Shape> {
    let inputs: Vec<&ast::InputDecl> = net
        .body
        .iter()
        .filter_map(|e| match e {
            ast::Entry::Input(i) => Some(i),
            _ => None,
        })
        .collect();
    let Some(decl) = inputs.first() else {
        errors.push(syn::Error::new_spanned(
            &net.ident,
            format!(
                "network `{}` has no `input:` line\nhelp: start the body with the shape of one sample, e.g. `input: [1, 28, 28],` for an image or `input: [784],` for a vector",
                net.ident
            ),
        ));
        return None;
    };
    for extra in &inputs[1..] {
        errors.push(syn::Error::new_spanned(
            &extra.keyword,
            "a network has exactly one `input:` line",
        ));
    }
    let dims = eval_dims(&decl.dims, "input", &Env::default(), errors)?;
    let shape = match *dims.as_slice() {
        [n] => Shape::Flat(n),
        [c, h, w] => Shape::Map { c, h, w },
        _ => {
            errors.push(syn::Error::new(
                decl.dims.bracket_span,
                format!(
                    "`input:` takes `[C, H, W]` (an image) or `[N]` (a vector), found {} dimensions",
                    dims.len()
                ),
            ));
            return None;
        }
    };
    if shape.bytes().is_none() {
        let at = Range::single(decl.dims.bracket_span);
        errors.push(too_large(at, &format!("the input {shape}"), &shape));
        return None;
    }
    Some(shape)
}

/// ``{what} would be N bytes, more than `isize::MAX` …``
fn too_large(at: Range, what: &str, shape: &Shape) -> syn::Error {
    syn::Error::new_spanned(
        at,
        format!(
            "{what} would be {} bytes ({} f32 values), more than `isize::MAX` = {} bytes, the largest object Rust allows",
            shape.bytes_text(),
            shape.dims().iter().map(ToString::to_string).collect::<Vec<_>>().join(" × "),
            isize::MAX
        ),
    )
}

/// Evaluates a bracketed shape; every dimension must be a positive integer.
fn eval_dims(
    dims: &Dims,
    what: &str,
    env: &Env,
    errors: &mut Vec<syn::Error>,
) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut ok = true;
    for d in &dims.dims {
        match eval_int(d, env) {
            Ok(v) if v > 0 && usize::try_from(v).is_ok() => out.push(v as usize),
            Ok(v) => {
                ok = false;
                errors.push(syn::Error::new_spanned(
                    d,
                    format!("{what} sizes must be positive, found {v}"),
                ));
            }
            Err(e) => {
                ok = false;
                errors.push(e);
            }
        }
    }
    ok.then_some(out)
}

/// `-> [shape]` after an entry described as `what`.
fn check_assert(dims: &Dims, what: &str, flow: &Flow, env: &Env, errors: &mut Vec<syn::Error>) {
    let Some(expected) = eval_dims(dims, "shape assertion", env, errors) else {
        return;
    };
    if expected != flow.shape.dims() {
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
        let mut msg = format!(
            "shape assertion failed: {what} produces {}, not [{}]",
            flow.shape,
            expected.join(", ")
        );
        if !flow.formula.is_empty() {
            msg.push('\n');
            msg.push_str(&flow.formula);
        }
        errors.push(syn::Error::new(dims.bracket_span, msg));
    }
}

/// The layer kinds `network!` knows and the block names declared, for
/// "unknown layer" messages.
fn unknown_layer(
    layer: &Layer,
    blocks: &[&str],
    errors: &mut Vec<syn::Error>,
) -> Option<&'static str> {
    let kind = layer.kind.to_string();
    let builtin = spec::LAYERS.iter().map(|s| s.name);
    let suggestion = spec::suggest(&kind, builtin.clone().chain(blocks.iter().copied()));
    let hint = match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    };
    let mut known: Vec<&str> = builtin.collect();
    let blocks = if blocks.is_empty() {
        String::new()
    } else {
        format!("\nblocks declared: {}", blocks.join(", "))
    };
    known.push("and the groups Sequential { … }, Residual { … }, Add { … }, Cat { … }");
    errors.push(syn::Error::new_spanned(
        &layer.kind,
        format!(
            "unknown layer `{kind}`{hint}\nknown layers: {}{blocks}",
            known.join(", ")
        ),
    ));
    suggestion.and_then(|s| spec::find(s).map(|spec| spec.name))
}

/// Checks one layer given the shape flowing in (`None` if unknown after an
/// earlier error). Returns the resolved layer if it checked cleanly, and the
/// shape flowing out if it can be known.
fn check_layer(
    layer: &Layer,
    spec: &'static spec::Spec,
    place: &Place,
    env: &Env,
    flow: Option<&Flow>,
    errors: &mut Vec<syn::Error>,
) -> (Option<Checked>, Option<Flow>) {
    let kind = spec.name;
    let Some(b) = spec::bind(spec, layer, env, errors) else {
        // The arguments are wrong; shape-preserving layers still pass the
        // shape on.
        return (None, flow.filter(|_| keeps_shape(kind)).cloned());
    };
    let mut cx = Cx {
        layer,
        place,
        flow,
        errors,
        failed: false,
    };
    let result = match kind {
        "Conv2d" => cx.conv2d(&b),
        "MaxPool2d" => cx.max_pool2d(&b),
        "AvgPool2d" => cx.avg_pool2d(&b),
        "AdaptiveAvgPool2d" | "AdaptiveMaxPool2d" => cx.adaptive_pool2d(&b, kind),
        "BatchNorm2d" | "BatchNorm1d" => cx.batch_norm(&b, kind == "BatchNorm1d"),
        "Linear" => cx.linear(&b),
        "Flatten" => cx.flatten(&b),
        "Dropout" | "Dropout2d" => cx.dropout(&b, kind),
        "Identity" => cx.pass_through(Op::Identity, "Identity".into()),
        "Softmax" | "LogSoftmax" => cx.softmax(&b, kind == "LogSoftmax"),
        k if pad::KINDS.contains(&k) => cx.pad2d(&b, k),
        _ => cx.activation(&b, kind),
    };
    let Some(out) = result else {
        return (None, None);
    };
    let mut failed = cx.failed;
    let mut next = out.flow.map(|mut f| {
        if f.by.is_empty() {
            f.by = format!("the output of {}", place.describe(&out.display));
        }
        f
    });
    if let Some(f) = next.as_ref().filter(|f| f.shape.bytes().is_none()) {
        errors.push(too_large(
            Range::single(layer.kind.span()),
            &format!("the output of this layer, {},", f.shape),
            &f.shape,
        ));
        failed = true;
        next = None;
    }
    let checked = match (flow, &next) {
        (Some(inf), Some(outf)) if !failed => {
            // The spatial part only: the channel count is in the layer text.
            let formula = if inf.shape == outf.shape && out.op != Op::Flatten {
                String::new()
            } else {
                match outf.formula.split_once("; ") {
                    Some((first, rest)) if first.starts_with("out_channels") => rest.to_string(),
                    _ => outf.formula.clone(),
                }
            };
            Some(Checked {
                display: out.display,
                op: out.op,
                input: inf.shape,
                output: outf.shape,
                params: out.params,
                macs: out.macs,
                formula,
            })
        }
        _ => None,
    };
    (checked, next)
}

/// What a layer check produces: the resolved op, its text, its cost, and
/// the flow out (`None` if unknown).
struct Out {
    op: Op,
    display: String,
    params: usize,
    macs: usize,
    flow: Option<Flow>,
}

/// The context of one layer's check.
struct Cx<'a> {
    layer: &'a Layer,
    place: &'a Place,
    flow: Option<&'a Flow>,
    errors: &'a mut Vec<syn::Error>,
    /// Set when an error was reported that does not stop the shape from
    /// flowing on.
    failed: bool,
}

impl Cx<'_> {
    fn error(&mut self, at: Range, msg: impl Into<String>) {
        self.failed = true;
        self.errors.push(syn::Error::new_spanned(at, msg.into()));
    }

    fn kind_span(&self) -> Range {
        Range::single(self.layer.kind.span())
    }

    /// A strictly positive integer (a size).
    fn positive(&mut self, b: &Bound, what: &str) -> Option<usize> {
        match b.value {
            Value::Int(v) => self.positive_int(v, b, what),
            _ => None,
        }
    }

    fn positive_int(&mut self, v: i128, b: &Bound, what: &str) -> Option<usize> {
        let span = b.range_or(self.kind_span());
        match usize::try_from(v) {
            Ok(u) if u > 0 => Some(u),
            Ok(_) | Err(_) if v <= 0 => {
                self.error(span, format!("{what} must be positive, found {v}"));
                None
            }
            _ => {
                self.error(
                    span,
                    format!("arithmetic overflow: {what} = {v} does not fit in a usize"),
                );
                None
            }
        }
    }

    /// An integer or pair, each part at least `min` (0 or 1).
    fn pair(&mut self, b: &Bound, what: &str, min: i128) -> Option<(usize, usize)> {
        let (h, w, same) = match b.value {
            Value::Int(v) => (v, v, true),
            Value::Pair(h, w) => (h, w, false),
            _ => return None,
        };
        let span = b.range_or(self.kind_span());
        let one = |v: i128, this: &mut Self| -> Option<usize> {
            if v < min {
                let need = if min == 0 { "non-negative" } else { "positive" };
                this.error(span, format!("{what} must be {need}, found {v}"));
                return None;
            }
            match usize::try_from(v) {
                Ok(u) => Some(u),
                Err(_) => {
                    this.error(
                        span,
                        format!("arithmetic overflow: {what} = {v} does not fit in a usize"),
                    );
                    None
                }
            }
        };
        let h = one(h, self);
        let w = if same { h } else { one(w, self) };
        Some((h?, w?))
    }

    /// `in_channels` / `num_features`: the declared value (or `_`) against
    /// the channels of the input map, with an explained error on mismatch.
    /// Returns the value to go on with.
    fn channels(
        &mut self,
        b: &Bound,
        what: &str,
        map: Option<(usize, usize, usize)>,
    ) -> Option<usize> {
        let declared = match b.value {
            Value::Infer => None,
            _ => self.positive(b, what),
        };
        match (map, declared) {
            (Some((c, ..)), Some(d)) if d != c => {
                let flow = self.flow?;
                let channels = if c == 1 {
                    "its 1 channel comes".to_string()
                } else {
                    format!("its {c} channels come")
                };
                let msg = format!(
                    "expected {what} = {c}, found {d}{}\n{}\n{channels} from {}\nhelp: write `{c}`, or `_` to infer it",
                    written(b),
                    flow.explain(),
                    flow.channels_by
                );
                self.error(b.range_or(self.kind_span()), msg);
                Some(d)
            }
            (Some((c, ..)), _) => Some(c),
            (None, d) => d,
        }
    }

    /// A number argument (`eps`, `negative_slope`, …).
    fn float(b: &Bound) -> f64 {
        match b.value {
            Value::Float(v) => v,
            #[allow(clippy::cast_precision_loss)] // Small integers written in source.
            Value::Int(v) => v as f64,
            _ => 0.0,
        }
    }

    /// A number argument used as an `f32` (as PyTorch's f32 kernels use
    /// it), which must be finite there.
    fn float32(&mut self, b: &Bound, what: &str) -> Option<f32> {
        let v = Self::float(b);
        #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
        let single = v as f32;
        if single.is_finite() {
            return Some(single);
        }
        self.error(
            b.range_or(self.kind_span()),
            format!(
                "{what} = {v:e} is not a finite f32 (the largest is {:e})",
                f32::MAX
            ),
        );
        None
    }

    /// A string argument (`padding_mode`, `approximate`), already checked
    /// against its allowed values.
    fn string(b: &Bound) -> &str {
        match &b.value {
            Value::Str(s) => s,
            _ => "",
        }
    }

    /// The output flow of a layer that keeps the channels of its input map.
    fn same_channels(&self, shape: Shape, formula: String) -> Option<Flow> {
        Some(Flow {
            shape,
            by: String::new(),
            formula,
            channels_by: self.flow?.channels_by.clone(),
            map: None,
        })
    }

    /// `` `conv1: Conv2d(1, 6, 5)` (layer 0, out_channels = 6) ``
    fn sets_channels(&self, display: &str, what: &str, c: usize) -> String {
        self.place
            .describe_with(display, &format!(", {what} = {c}"))
    }

    fn bool(b: &Bound) -> bool {
        matches!(b.value, Value::Bool(true))
    }

    /// The input as a `[C, H, W]` map, or an error on the layer name.
    fn need_map(&mut self, what: &str) -> Option<(usize, usize, usize)> {
        let flow = self.flow?;
        match flow.shape {
            Shape::Map { c, h, w } => Some((c, h, w)),
            Shape::Flat(n) => {
                let msg = format!(
                    "`{what}` needs a [C, H, W] feature map, but its input is the vector [{n}], {}",
                    flow.by
                );
                self.error(self.kind_span(), msg);
                None
            }
        }
    }

    /// The number of elements of a weight tensor of these dimensions,
    /// checked to fit in memory as `f32`s.
    fn weight_len(&mut self, dims: &[usize]) -> Option<usize> {
        let len = Shape::bytes_of(dims).and_then(|_| product(dims));
        if len.is_none() {
            let dims = dims.iter().map(ToString::to_string).collect::<Vec<_>>();
            self.error(
                self.kind_span(),
                format!(
                    "arithmetic overflow: this layer's weight [{}] would be more than `isize::MAX` bytes, the largest object Rust allows",
                    dims.join(", ")
                ),
            );
        }
        len
    }

    /// A count (multiply-accumulates), checked not to overflow `usize`.
    fn count(&mut self, factors: &[usize], what: &str) -> Option<usize> {
        let v = product(factors);
        if v.is_none() {
            self.error(
                self.kind_span(),
                format!("arithmetic overflow: the {what} of this layer does not fit in usize"),
            );
        }
        v
    }

    /// The output size of a sliding window along one axis, or an error
    /// spanned on the kernel argument.
    fn window(&mut self, axis: &str, win: Window, ceil: bool, kernel: &Bound) -> Option<Computed> {
        match win.output(ceil) {
            Ok(c) => Some(c),
            Err(WindowError::TooLarge { padded, span }) => {
                let flow = self.flow.map(Flow::explain).unwrap_or_default();
                let is = if axis.contains(" and ") {
                    "are each"
                } else {
                    "is"
                };
                let msg = format!(
                    "kernel_size {} does not fit the padded input: the {axis} {is} {padded}, but the window spans {span}, so the output would be empty\n{flow}",
                    kernel.value.describe()
                );
                self.error(kernel.range_or(self.kind_span()), msg);
                None
            }
            Err(WindowError::Overflow) => {
                self.error(
                    kernel.range_or(self.kind_span()),
                    "arithmetic overflow computing the output size",
                );
                None
            }
        }
    }

    /// Output height and width; one computation (and at most one error)
    /// when both axes have the same geometry.
    fn spatial(
        &mut self,
        hwin: Window,
        wwin: Window,
        ceil: bool,
        kernel: &Bound,
    ) -> Option<(Computed, Computed)> {
        if hwin == wwin {
            let c = self.window("height and width", hwin, ceil, kernel)?;
            return Some((c.clone(), c));
        }
        let hc = self.window("height", hwin, ceil, kernel);
        let wc = self.window("width", wwin, ceil, kernel);
        Some((hc?, wc?))
    }

    fn spatial_formula(hc: &Computed, wc: &Computed) -> String {
        if hc.formula == wc.formula {
            format!("H = W = {}", hc.formula)
        } else {
            format!("H = {}; W = {}", hc.formula, wc.formula)
        }
    }
}

/// The product of `factors`, `None` on overflow.
fn product(factors: &[usize]) -> Option<usize> {
    factors.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// Whether a layer kind passes its input shape through unchanged.
fn keeps_shape(kind: &str) -> bool {
    matches!(
        kind,
        "ReLU"
            | "ReLU6"
            | "LeakyReLU"
            | "ELU"
            | "SELU"
            | "GELU"
            | "SiLU"
            | "Hardswish"
            | "Hardsigmoid"
            | "Sigmoid"
            | "Tanh"
            | "Softmax"
            | "LogSoftmax"
            | "Dropout"
            | "Dropout2d"
            | "Identity"
            | "BatchNorm2d"
            | "BatchNorm1d"
    )
}

/// ` (`16 * 4 * 4`)` when the argument was written as an expression rather
/// than a plain literal.
fn written(b: &Bound) -> String {
    match &b.expr {
        Some(syn::Expr::Lit(_)) | None => String::new(),
        Some(e) => format!(" (`{}`)", e.to_token_stream()),
    }
}

fn pair_text<T: PartialEq + std::fmt::Display>((h, w): (T, T)) -> String {
    if h == w {
        h.to_string()
    } else {
        format!("({h}, {w})")
    }
}
