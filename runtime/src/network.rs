//! The [`Network`] trait that every `network!` declaration implements, and
//! the facts about a network that are known at compile time.

use core::fmt;

use crate::tensor::Tensor;

/// The learnable tensors of one layer, in PyTorch's layout: `weight` is
/// `[out, in/groups, kh, kw]` for a convolution and `[out, in]` for a linear
/// layer; `bias` is `[out]`, or `()` for a layer declared with `bias = false`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights<W, B> {
    /// The layer's `weight` tensor.
    pub weight: W,
    /// The layer's `bias` tensor, or `()` when the layer has none.
    pub bias: B,
}

// SAFETY: a `Weights` is two fields, each `Zeroable`; all-zero bytes are a
// valid value of each, hence of the struct.
unsafe impl<W: bytemuck::Zeroable, B: bytemuck::Zeroable> bytemuck::Zeroable for Weights<W, B> {}

/// The tensors of a `BatchNorm2d` layer, in PyTorch's names: `weight` and
/// `bias` are `[C]`, or `()` for `affine = false`; the running statistics
/// are `[C]`. (`num_batches_tracked` plays no part in inference.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormWeights<A, S> {
    /// The scale `γ`, or `()` without `affine`.
    pub weight: A,
    /// The shift `β`, or `()` without `affine`.
    pub bias: A,
    /// The running mean.
    pub running_mean: S,
    /// The running variance.
    pub running_var: S,
}

// SAFETY: four fields, each `Zeroable`; all-zero bytes are a valid value of
// each, hence of the struct.
unsafe impl<A: bytemuck::Zeroable, S: bytemuck::Zeroable> bytemuck::Zeroable
    for BatchNormWeights<A, S>
{
}

/// One layer of a declared network, as the macro computed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name: the declared name (`conv1`), or for an unnamed layer
    /// its index in the equivalent `nn.Sequential` (`"3"`).
    pub name: &'static str,
    /// The layer as declared, with every argument resolved, e.g.
    /// `Conv2d(1, 6, 5)` or `MaxPool2d(2)`.
    pub kind: &'static str,
    /// The shape of the layer's input, batch dimension dropped.
    pub input_shape: &'static [usize],
    /// The shape of the layer's output, batch dimension dropped.
    pub output_shape: &'static [usize],
    /// Learnable parameters (weights and biases).
    pub params: usize,
    /// Multiply-accumulates of one forward pass of one sample.
    pub macs: usize,
    /// How the output shape was computed, with the numbers filled in, e.g.
    /// `H = W = (14 + 2·0 − 1·(5 − 1) − 1) / 1 + 1 = 10` (empty for a layer
    /// that keeps its input shape).
    pub formula: &'static str,
    /// The receptive field of one output value, `[height, width]` in input
    /// pixels (the whole input, for flat layers).
    pub receptive_field: [usize; 2],
    /// How deep in blocks and `Sequential`s the row is: 0 for the
    /// network's own layers, 1 for the layers of a block it uses, …
    pub depth: usize,
}

impl LayerInfo {
    /// The bytes of the layer's output activation (`f32`).
    #[must_use]
    pub const fn activation_bytes(&self) -> usize {
        4 * product(self.output_shape)
    }
}

/// One learnable tensor: its PyTorch `state_dict` key and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// The `state_dict` key, e.g. `conv1.weight` or `0.bias`.
    pub name: &'static str,
    /// The tensor's shape in PyTorch's layout.
    pub shape: &'static [usize],
}

impl ParamInfo {
    /// The number of elements, the product of the shape.
    #[must_use]
    pub const fn len(&self) -> usize {
        product(self.shape)
    }

    /// Whether the tensor has no elements (never, for a checked network).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The product of a shape's dimensions (`const`, hence the loop).
const fn product(dims: &[usize]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < dims.len() {
        n *= dims[i];
        i += 1;
    }
    n
}

/// The bytes of a list of `f32` tensors.
const fn param_bytes(params: &[ParamInfo]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < params.len() {
        n += params[i].len() * 4;
        i += 1;
    }
    n
}

/// A network declared with `constnet::network!`.
///
/// Everything but the weights is known at compile time: the input and output
/// types are fixed-size arrays, and the layer table, parameter list and cost
/// are constants. Generic code can run any network through this trait.
pub trait Network: Sized + bytemuck::Zeroable + 'static {
    /// The input of one sample, e.g. `[[[f32; 32]; 32]; 1]`.
    type Input: Tensor;
    /// The output of one sample, e.g. `[f32; 10]`.
    type Output: Tensor;
    /// Scratch memory for one forward pass: every intermediate activation.
    /// `forward` keeps it on the stack; `forward_with` borrows the caller's.
    type Workspace: bytemuck::Zeroable;
    /// Every layer's output of one forward pass, filled by
    /// [`Network::forward_traced`]; walk it with [`Trace::visit`].
    type Trace: Trace;

    /// The layers, in order, with their shapes and costs.
    const LAYERS: &'static [LayerInfo];
    /// Every learnable tensor, in declaration order, with its PyTorch key.
    const PARAMS: &'static [ParamInfo];
    /// The total number of learnable parameters.
    const PARAMETERS: usize;
    /// Multiply-accumulates of one forward pass of one sample.
    const MACS: usize;
    /// Bytes of every loaded tensor (`f32`), batch-norm statistics included.
    const WEIGHT_BYTES: usize = param_bytes(Self::PARAMS);
    /// Bytes of scratch memory of one forward pass: the size of
    /// [`Network::Workspace`].
    const WORKSPACE_BYTES: usize = core::mem::size_of::<Self::Workspace>();

    /// The shape of [`Network::Input`], batch dimension dropped.
    const INPUT_SHAPE: &'static [usize] = <Self::Input as Tensor>::SHAPE;
    /// The shape of [`Network::Output`], batch dimension dropped.
    const OUTPUT_SHAPE: &'static [usize] = <Self::Output as Tensor>::SHAPE;

    /// Runs one sample. Performs no heap allocation; the workspace lives on
    /// the stack (see [`Network::forward_with`] for large networks).
    fn forward(&self, input: &Self::Input) -> Self::Output;

    /// Runs one sample using caller-owned scratch memory, so that neither the
    /// heap nor a large stack frame is needed.
    fn forward_with(&self, input: &Self::Input, workspace: &mut Self::Workspace) -> Self::Output;

    /// Runs every input, writing the matching output, on this thread with
    /// caller-owned scratch memory: what [`crate::batch::forward_batch`]
    /// calls. Every output has the bits [`Network::forward_with`] gives its
    /// input alone.
    ///
    /// The default runs the samples one by one. A network that ends in
    /// dense layers (a chain of linear layers, batch norms, activations
    /// and softmax: an MLP, or a CNN's classifier) overrides it: what
    /// comes before those layers runs sample by sample, then the samples
    /// go through each dense layer in tiles, each weight row read once per
    /// tile instead of once per sample ([`crate::linear::linear_batch`]),
    /// with the tile on the stack.
    ///
    /// # Panics
    ///
    /// If `inputs` and `outputs` differ in length.
    fn forward_batch_with(
        &self,
        inputs: &[Self::Input],
        outputs: &mut [Self::Output],
        workspace: &mut Self::Workspace,
    ) {
        assert_eq!(
            inputs.len(),
            outputs.len(),
            "forward_batch_with: {} inputs but {} outputs",
            inputs.len(),
            outputs.len()
        );
        for (x, y) in inputs.iter().zip(outputs) {
            *y = self.forward_with(x, workspace);
        }
    }

    /// Runs one sample layer by layer, without fusing any, keeping every
    /// row of [`Network::LAYERS`] (layer, merge, block) in `trace`
    /// (caller-owned: no heap). The result equals
    /// [`Network::forward`]'s up to the rounding of fused batch norms.
    fn forward_traced(&self, input: &Self::Input, trace: &mut Self::Trace) -> Self::Output;

    /// A trace of zeros, on the heap, built in place.
    #[cfg(feature = "alloc")]
    #[must_use]
    fn new_trace() -> alloc::boxed::Box<Self::Trace> {
        bytemuck::zeroed_box()
    }

    /// A workspace of zeros, on the heap, built in place.
    #[cfg(feature = "alloc")]
    #[must_use]
    fn new_workspace() -> alloc::boxed::Box<Self::Workspace> {
        bytemuck::zeroed_box()
    }

    /// Calls `f` with every learnable tensor, in the order of
    /// [`Network::PARAMS`], as a flat row-major slice.
    fn visit_params(&self, f: &mut dyn FnMut(&'static ParamInfo, &[f32]));

    /// Calls `f` with every learnable tensor, in the order of
    /// [`Network::PARAMS`], as a flat mutable row-major slice.
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static ParamInfo, &mut [f32]));

    /// A network with every weight zero, on the heap, built in place (no
    /// large array ever crosses the stack).
    #[cfg(feature = "alloc")]
    #[must_use]
    fn new_zeroed() -> alloc::boxed::Box<Self> {
        bytemuck::zeroed_box()
    }

    /// Builds the network on the heap from a PyTorch `state_dict` saved as
    /// safetensors (`safetensors.torch.save_file(model.state_dict(), …)`),
    /// checking every tensor's name, dtype and shape. See [`crate::load`].
    ///
    /// # Errors
    ///
    /// A malformed file, or a [`LoadError::Mismatch`](crate::load::LoadError::Mismatch)
    /// listing every missing, unexpected, wrongly typed and wrongly shaped
    /// tensor, with a hint when the keys follow another naming.
    #[cfg(feature = "alloc")]
    fn from_safetensors(bytes: &[u8]) -> Result<alloc::boxed::Box<Self>, crate::load::LoadError> {
        crate::load::from_safetensors(bytes)
    }

    /// [`Network::from_safetensors`], reading the file's keys as `options`
    /// say, e.g. `&LoadOptions::new().strip_prefix("module.")` for a
    /// checkpoint of `nn.DataParallel`.
    ///
    /// # Errors
    ///
    /// As [`Network::from_safetensors`], plus
    /// [`LoadError::PrefixNotFound`](crate::load::LoadError::PrefixNotFound)
    /// for a prefix that no key of the file starts with.
    #[cfg(feature = "alloc")]
    fn from_safetensors_with(
        bytes: &[u8],
        options: &crate::load::LoadOptions,
    ) -> Result<alloc::boxed::Box<Self>, crate::load::LoadError> {
        crate::load::from_safetensors_with(bytes, options)
    }

    /// [`Network::from_safetensors`] on the contents of a file.
    ///
    /// # Errors
    ///
    /// As [`Network::from_safetensors`], plus
    /// [`LoadError::Io`](crate::load::LoadError::Io) naming the path.
    #[cfg(feature = "std")]
    fn from_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<alloc::boxed::Box<Self>, crate::load::LoadError> {
        crate::load::from_file(path)
    }

    /// [`Network::from_file`], reading the file's keys as `options` say.
    ///
    /// # Errors
    ///
    /// As [`Network::from_safetensors_with`], plus
    /// [`LoadError::Io`](crate::load::LoadError::Io) naming the path.
    #[cfg(feature = "std")]
    fn from_file_with(
        path: impl AsRef<std::path::Path>,
        options: &crate::load::LoadOptions,
    ) -> Result<alloc::boxed::Box<Self>, crate::load::LoadError> {
        crate::load::from_file_with(path, options)
    }

    /// Replaces this network's weights with those of a safetensors file;
    /// all or nothing (on error the weights are unchanged).
    ///
    /// # Errors
    ///
    /// As [`Network::from_safetensors`].
    #[cfg(feature = "alloc")]
    fn load_safetensors(&mut self, bytes: &[u8]) -> Result<(), crate::load::LoadError> {
        crate::load::load_into(self, bytes)
    }

    /// [`Network::load_safetensors`], reading the file's keys as `options`
    /// say.
    ///
    /// # Errors
    ///
    /// As [`Network::from_safetensors_with`].
    #[cfg(feature = "alloc")]
    fn load_safetensors_with(
        &mut self,
        bytes: &[u8],
        options: &crate::load::LoadOptions,
    ) -> Result<(), crate::load::LoadError> {
        crate::load::load_into_with(self, bytes, options)
    }

    /// The weights as a safetensors file with PyTorch's keys (F32), which
    /// `safetensors.torch.load_file` and [`Network::from_safetensors`] read
    /// back exactly.
    ///
    /// # Errors
    ///
    /// Only if the serializer fails, which a checked network cannot cause.
    #[cfg(feature = "alloc")]
    fn to_safetensors(&self) -> Result<alloc::vec::Vec<u8>, crate::load::LoadError> {
        crate::load::to_safetensors(self)
    }

    /// The layer table, for printing.
    #[must_use]
    fn summary() -> Summary {
        Summary {
            input_shape: Self::INPUT_SHAPE,
            layers: Self::LAYERS,
            parameters: Self::PARAMETERS,
            macs: Self::MACS,
        }
    }
}

/// Every layer's output of one forward pass of a network (the
/// `<Name>Trace` struct that `network!` generates: one fixed-size array per
/// layer, no heap).
///
/// Its fields are named like the network's weight fields (`conv1`, or
/// `layer3` for the unnamed layer 3); [`Trace::visit`] walks them in layer
/// order with each layer's [`LayerInfo`], so generic tools can compare or
/// dump every layer without naming fields:
///
/// ```
/// use constnet_runtime::{Network, Trace};
///
/// /// The largest difference of each layer's output between two traces.
/// fn max_diffs<N: Network>(a: &N::Trace, b: &N::Trace) -> Vec<(&'static str, f32)> {
///     let mut outputs = Vec::new();
///     b.visit(&mut |_, values| outputs.push(values.to_vec()));
///     let mut diffs = Vec::new();
///     let mut i = 0;
///     a.visit(&mut |layer, values| {
///         let d = values.iter().zip(&outputs[i]).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
///         diffs.push((layer.name, d));
///         i += 1;
///     });
///     diffs
/// }
/// ```
pub trait Trace: bytemuck::Zeroable + 'static {
    /// Calls `f` with every layer's output, in the order of
    /// [`Network::LAYERS`], as a flat row-major slice of
    /// `product(layer.output_shape)` values.
    fn visit(&self, f: &mut dyn FnMut(&'static LayerInfo, &[f32]));
}

/// No trace: for hand-written [`Network`] impls that capture nothing.
impl Trace for () {
    fn visit(&self, _: &mut dyn FnMut(&'static LayerInfo, &[f32])) {}
}

/// A network's layer table; its `Display` prints one row per layer with the
/// output shape, parameter count and multiply-accumulates.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// The network's input shape.
    pub input_shape: &'static [usize],
    /// The layers in order.
    pub layers: &'static [LayerInfo],
    /// Total parameters.
    pub parameters: usize,
    /// Total multiply-accumulates per sample.
    pub macs: usize,
}

/// Writes a shape as `[6, 28, 28]`.
fn write_shape(out: &mut impl fmt::Write, shape: &[usize]) -> fmt::Result {
    out.write_char('[')?;
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        write!(out, "{d}")?;
    }
    out.write_char(']')
}

/// A layer's `[in] → [out]` column, rendered without allocation.
fn transition(l: &LayerInfo) -> TextBuf {
    let mut buf = TextBuf::new();
    let _ = write_shape(&mut buf, l.input_shape);
    let _ = fmt::Write::write_str(&mut buf, " → ");
    let _ = write_shape(&mut buf, l.output_shape);
    buf
}

/// A small text buffer for table cells; text that does not fit is cut.
struct TextBuf {
    bytes: [u8; 96],
    len: usize,
}

impl TextBuf {
    fn new() -> Self {
        TextBuf {
            bytes: [0; 96],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        if s.len() > room {
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

impl fmt::Display for Summary {
    /// One row per layer, merge and block (names indented by nesting):
    /// name, layer, input → output shape, receptive field, parameters,
    /// multiply-accumulates, activation bytes, and how the output size was
    /// computed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width =
            |it: &mut dyn Iterator<Item = usize>, min: usize| it.max().unwrap_or(min).max(min);
        // Names are indented two spaces per level of nesting.
        let indent = |l: &LayerInfo| l.depth.saturating_mul(2);
        let name_w = width(
            &mut self
                .layers
                .iter()
                .map(|l| l.name.len().saturating_add(indent(l))),
            5,
        );
        let kind_w = width(&mut self.layers.iter().map(|l| l.kind.chars().count()), 4);
        let shape_w = width(
            &mut self
                .layers
                .iter()
                .map(|l| transition(l).as_str().chars().count()),
            14,
        );
        writeln!(
            f,
            "{:<name_w$}  {:<kind_w$}  {:<shape_w$}  {:>9}  {:>9}  {:>10}  {:>9}  how",
            "layer", "kind", "input → output", "receptive", "params", "MACs", "act bytes"
        )?;
        let mut input = TextBuf::new();
        write_shape(&mut input, self.input_shape)?;
        writeln!(
            f,
            "{:<name_w$}  {:<kind_w$}  {:<shape_w$}",
            "input",
            "",
            input.as_str()
        )?;
        for l in self.layers {
            let mut field = TextBuf::new();
            fmt::Write::write_fmt(
                &mut field,
                format_args!("{}×{}", l.receptive_field[0], l.receptive_field[1]),
            )?;
            let pad = indent(l);
            let rest = name_w.saturating_sub(pad);
            writeln!(
                f,
                "{:pad$}{:<rest$}  {:<kind_w$}  {:<shape_w$}  {:>9}  {:>9}  {:>10}  {:>9}  {}",
                "",
                l.name,
                l.kind,
                transition(l).as_str(),
                field.as_str(),
                l.params,
                l.macs,
                l.activation_bytes(),
                l.formula
            )?;
        }
        write!(
            f,
            "{:<name_w$}  {:<kind_w$}  {:<shape_w$}  {:>9}  {:>9}  {:>10}",
            "total", "", "", "", self.parameters, self.macs
        )
    }
}
