//! Running networks on [`ndarray`] arrays (feature `ndarray`).
//!
//! - [`forward_view`] runs one sample given as a view of shape
//!   [`Network::INPUT_SHAPE`] (an `ArrayView3` for a `[C, H, W]` network, an
//!   `ArrayView1` for an MLP);
//! - [`forward_batch`] runs a batch given as a view of shape
//!   `[batch, ..INPUT_SHAPE]` (an `ArrayView4` for a `[C, H, W]` network, an
//!   `ArrayView2` for an MLP) and returns a `[batch, Output::LEN]` array.
//!
//! Any dimension type works, `IxDyn` included: the shape is checked at run
//! time and a mismatch is a [`ShapeError`]. A sample in standard (row-major,
//! contiguous) layout is used in place, without a copy; any other layout
//! (transposed, sliced with a step, ...) is copied once into a contiguous
//! input first, in logical order, so the result never depends on the layout.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ::ndarray::{Array2, ArrayView, Axis, Dimension};

use crate::network::Network;
use crate::tensor::Tensor;

/// An array's shape does not match the network's input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShapeError {
    /// The shape of the array that was passed.
    pub found: Vec<usize>,
    /// The network's input shape, [`Network::INPUT_SHAPE`].
    pub expected: &'static [usize],
    /// Whether a batch `[batch, ..expected]` was expected
    /// ([`forward_batch`]) rather than one sample ([`forward_view`]).
    pub batched: bool,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "input has shape {:?}, but the network takes ",
            self.found
        )?;
        if self.batched {
            f.write_str("[batch")?;
            for d in self.expected {
                write!(f, ", {d}")?;
            }
            f.write_str("]")
        } else {
            write!(f, "{:?}", self.expected)
        }
    }
}

impl core::error::Error for ShapeError {}

/// Runs one sample given as an `ndarray` view.
///
/// The view's shape must equal [`Network::INPUT_SHAPE`]. A view in standard
/// layout is passed to [`Network::forward`] in place; any other view is first
/// copied into an input on the stack. Like [`Network::forward`] this keeps
/// the workspace on the stack; for large networks prefer [`forward_batch`],
/// whose workspace is on the heap.
///
/// ```
/// use constnet_runtime::{ndarray::forward_view, Network};
/// use ndarray::ArrayView3;
///
/// fn classify<N: Network<Output = [f32; 10]>>(net: &N, image: ArrayView3<f32>) -> usize {
///     let logits = forward_view(net, image).expect("a [1, 32, 32] image");
///     (0..10).fold(0, |best, i| if logits[i] > logits[best] { i } else { best })
/// }
/// ```
///
/// # Errors
///
/// [`ShapeError`] if the shape is not [`Network::INPUT_SHAPE`].
pub fn forward_view<N: Network, D: Dimension>(
    net: &N,
    x: ArrayView<'_, f32, D>,
) -> Result<N::Output, ShapeError> {
    if x.shape() != N::INPUT_SHAPE {
        return Err(ShapeError {
            found: x.shape().to_vec(),
            expected: N::INPUT_SHAPE,
            batched: false,
        });
    }
    if let Some(input) = x.as_slice().and_then(N::Input::from_flat) {
        return Ok(net.forward(input));
    }
    let mut input = N::Input::zeroed();
    copy_logical(&x, input.as_flat_mut());
    Ok(net.forward(&input))
}

/// Runs a batch given as an `ndarray` view of shape `[batch, ..INPUT_SHAPE]`
/// and returns the outputs as a `[batch, Output::LEN]` array, each sample's
/// output flattened in row-major order.
///
/// One workspace ([`Network::new_workspace`], on the heap) serves the whole
/// batch. A batch contiguous in standard layout goes to
/// [`Network::forward_batch_with`] as it is (the dense layers a network
/// ends in then run it in tiles of samples, each weight read once per
/// tile); otherwise
/// each sample that is contiguous is used in place and any other is copied
/// into one reused heap buffer first. Either way every output has the bits
/// [`Network::forward`] gives its sample.
///
/// ```
/// use constnet_runtime::{ndarray::forward_batch, Network};
/// use ndarray::{Array2, ArrayView4};
///
/// fn logits<N: Network>(net: &N, images: ArrayView4<f32>) -> Array2<f32> {
///     forward_batch(net, images).expect("images of the network's input shape")
/// }
/// ```
///
/// # Errors
///
/// [`ShapeError`] if the shape is not `[batch, ..INPUT_SHAPE]`.
pub fn forward_batch<N: Network, D: Dimension>(
    net: &N,
    x: ArrayView<'_, f32, D>,
) -> Result<Array2<f32>, ShapeError> {
    let shape = x.shape();
    let Some((&batch, sample_shape)) = shape.split_first() else {
        return Err(batch_error::<N>(shape));
    };
    if sample_shape != N::INPUT_SHAPE {
        return Err(batch_error::<N>(shape));
    }
    let out_len = <N::Output as Tensor>::LEN;
    let mut out = Array2::<f32>::zeros((batch, out_len));
    if batch == 0 {
        return Ok(out);
    }
    let mut workspace = N::new_workspace();
    let whole = x
        .as_slice()
        .and_then(|x| bytemuck::try_cast_slice::<f32, N::Input>(x).ok());
    if let (Some(inputs), Some(outputs)) = (
        whole,
        out.as_slice_mut()
            .and_then(|y| bytemuck::try_cast_slice_mut::<f32, N::Output>(y).ok()),
    ) {
        net.forward_batch_with(inputs, outputs, &mut workspace);
        return Ok(out);
    }
    // Filled only for samples that are not contiguous.
    let mut staging: Vec<f32> = Vec::new();
    let x = x.into_dyn();
    for (sample, mut row) in x.axis_iter(Axis(0)).zip(out.rows_mut()) {
        let y = match sample.as_slice().and_then(N::Input::from_flat) {
            Some(input) => net.forward_with(input, &mut workspace),
            None => {
                if staging.is_empty() {
                    staging = vec![0.0; <N::Input as Tensor>::LEN];
                }
                copy_logical(&sample, &mut staging);
                match N::Input::from_flat(&staging) {
                    Some(input) => net.forward_with(input, &mut workspace),
                    // Only for an input with a zero-sized dimension, which
                    // `Tensor::from_flat` declines: nothing to copy.
                    None => net.forward_with(&N::Input::zeroed(), &mut workspace),
                }
            }
        };
        for (o, v) in row.iter_mut().zip(y.as_flat()) {
            *o = *v;
        }
    }
    Ok(out)
}

fn batch_error<N: Network>(found: &[usize]) -> ShapeError {
    ShapeError {
        found: found.to_vec(),
        expected: N::INPUT_SHAPE,
        batched: true,
    }
}

/// Copies a view's elements in logical row-major order.
fn copy_logical<D: Dimension>(x: &ArrayView<'_, f32, D>, dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(x.iter()) {
        *d = *s;
    }
}
