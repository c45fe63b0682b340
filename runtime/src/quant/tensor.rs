//! `i8` tensors: the int8 twin of [`crate::tensor`], for the workspaces and
//! inputs of quantized networks.

/// An `i8` array of rank 1 to 4 (PyTorch's layout), viewed flat without
/// copying.
pub trait QTensor: bytemuck::Pod {
    /// The shape, outermost dimension first.
    const SHAPE: &'static [usize];
    /// The number of elements.
    const LEN: usize;

    /// The elements in row-major order.
    fn as_flat(&self) -> &[i8] {
        bytemuck::cast_slice(core::slice::from_ref(self))
    }

    /// The elements in row-major order, mutably.
    fn as_flat_mut(&mut self) -> &mut [i8] {
        bytemuck::cast_slice_mut(core::slice::from_mut(self))
    }

    /// Views a slice of exactly [`QTensor::LEN`] elements as this tensor;
    /// `None` if the length differs.
    fn from_flat(slice: &[i8]) -> Option<&Self> {
        match bytemuck::try_cast_slice::<i8, Self>(slice) {
            Ok([t]) => Some(t),
            _ => None,
        }
    }

    /// [`QTensor::from_flat`], mutably.
    fn from_flat_mut(slice: &mut [i8]) -> Option<&mut Self> {
        match bytemuck::try_cast_slice_mut::<i8, Self>(slice) {
            Ok([t]) => Some(t),
            _ => None,
        }
    }
}

impl<const N: usize> QTensor for [i8; N] {
    const SHAPE: &'static [usize] = &[N];
    const LEN: usize = N;
}

impl<const H: usize, const W: usize> QTensor for [[i8; W]; H] {
    const SHAPE: &'static [usize] = &[H, W];
    const LEN: usize = H * W;
}

impl<const C: usize, const H: usize, const W: usize> QTensor for [[[i8; W]; H]; C] {
    const SHAPE: &'static [usize] = &[C, H, W];
    const LEN: usize = C * H * W;
}

impl<const O: usize, const C: usize, const H: usize, const W: usize> QTensor
    for [[[[i8; W]; H]; C]; O]
{
    const SHAPE: &'static [usize] = &[O, C, H, W];
    const LEN: usize = O * C * H * W;
}

/// Views a slice of exactly `T::LEN` values as the tensor `T` (generated
/// code views regions of a workspace with it; the bounds are constants).
///
/// # Panics
///
/// If the length is not `T::LEN` (a bug in the caller).
///
/// ```
/// use constnet_runtime::quant::tensor::view;
/// let flat = [1i8, 2, 3, 4, 5, 6];
/// let map: &[[[i8; 3]; 2]; 1] = view(&flat);
/// assert_eq!(map[0][1], [4, 5, 6]);
/// ```
#[inline(always)]
#[must_use]
pub fn view<T: QTensor>(flat: &[i8]) -> &T {
    match T::from_flat(flat) {
        Some(t) => t,
        None => panic!("constnet: a workspace region does not match its tensor"),
    }
}

/// [`view`], mutably.
///
/// # Panics
///
/// If the length is not `T::LEN` (a bug in the caller).
#[inline(always)]
#[must_use]
pub fn view_mut<T: QTensor>(flat: &mut [i8]) -> &mut T {
    match T::from_flat_mut(flat) {
        Some(t) => t,
        None => panic!("constnet: a workspace region does not match its tensor"),
    }
}

/// `nn.Flatten()` on an `i8` map: `[C, H, W]` viewed as `[C·H·W]`. `N` must
/// equal `C · H · W` (checked at compile time).
#[inline]
#[must_use]
pub fn flatten<const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &[[[i8; W]; H]; C],
) -> &[i8; N] {
    const { assert!(N == C * H * W, "flatten: N must equal C * H * W") };
    view(x.as_flat())
}
