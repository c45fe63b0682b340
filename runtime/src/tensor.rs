//! Tensors are plain nested `f32` arrays: `[f32; N]`, `[[f32; W]; H]`,
//! `[[[f32; W]; H]; C]` and (for convolution weights) `[[[[f32; W]; H]; C]; O]` (PyTorch's contiguous row-major layout, batch
//! dimension dropped). They live on the stack, in a `static`, or in a box,
//! carry their shape in their type, and need no allocation.
//!
//! [`Tensor`] gives generic code (loaders, benchmarks, ndarray interop) a flat
//! view of any of them. Every conversion here is safe code built on
//! `as_flattened` / `as_chunks`; with the sizes known at compile time the
//! optimiser removes the length checks.

/// A fixed-size `f32` tensor stored contiguously in row-major order.
///
/// `bytemuck::Pod`: any bytes are a valid value, so a slice of floats
/// holding whole tensors is viewed as a slice of tensors
/// (`bytemuck::try_cast_slice`) without a copy or `unsafe`.
pub trait Tensor: bytemuck::Pod {
    /// The shape, outermost dimension first.
    const SHAPE: &'static [usize];
    /// The number of elements, the product of [`Tensor::SHAPE`].
    const LEN: usize;

    /// A tensor of zeros.
    fn zeroed() -> Self;
    /// The elements in row-major order.
    fn as_flat(&self) -> &[f32];
    /// The elements in row-major order, mutably.
    fn as_flat_mut(&mut self) -> &mut [f32];
    /// Views a slice of exactly [`Tensor::LEN`] elements as this tensor,
    /// without copying. `None` if the length differs.
    fn from_flat(slice: &[f32]) -> Option<&Self>;
    /// Views a mutable slice of exactly [`Tensor::LEN`] elements as this
    /// tensor, without copying. `None` if the length differs.
    fn from_flat_mut(slice: &mut [f32]) -> Option<&mut Self>;
}

impl<const N: usize> Tensor for [f32; N] {
    const SHAPE: &'static [usize] = &[N];
    const LEN: usize = N;

    fn zeroed() -> Self {
        [0.0; N]
    }
    fn as_flat(&self) -> &[f32] {
        self
    }
    fn as_flat_mut(&mut self) -> &mut [f32] {
        self
    }
    #[inline(always)]
    fn from_flat(slice: &[f32]) -> Option<&Self> {
        slice.try_into().ok()
    }
    #[inline(always)]
    fn from_flat_mut(slice: &mut [f32]) -> Option<&mut Self> {
        slice.try_into().ok()
    }
}

impl<const H: usize, const W: usize> Tensor for [[f32; W]; H] {
    const SHAPE: &'static [usize] = &[H, W];
    const LEN: usize = H * W;

    fn zeroed() -> Self {
        [[0.0; W]; H]
    }
    fn as_flat(&self) -> &[f32] {
        self.as_flattened()
    }
    fn as_flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut()
    }
    #[inline(always)]
    fn from_flat(slice: &[f32]) -> Option<&Self> {
        if W == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks::<W>();
        if !rest.is_empty() {
            return None;
        }
        rows.try_into().ok()
    }
    #[inline(always)]
    fn from_flat_mut(slice: &mut [f32]) -> Option<&mut Self> {
        if W == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks_mut::<W>();
        if !rest.is_empty() {
            return None;
        }
        rows.try_into().ok()
    }
}

impl<const C: usize, const H: usize, const W: usize> Tensor for [[[f32; W]; H]; C] {
    const SHAPE: &'static [usize] = &[C, H, W];
    const LEN: usize = C * H * W;

    fn zeroed() -> Self {
        [[[0.0; W]; H]; C]
    }
    fn as_flat(&self) -> &[f32] {
        self.as_flattened().as_flattened()
    }
    fn as_flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut().as_flattened_mut()
    }
    #[inline(always)]
    fn from_flat(slice: &[f32]) -> Option<&Self> {
        if W == 0 || H == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks::<W>();
        if !rest.is_empty() {
            return None;
        }
        let (planes, rest) = rows.as_chunks::<H>();
        if !rest.is_empty() {
            return None;
        }
        planes.try_into().ok()
    }
    #[inline(always)]
    fn from_flat_mut(slice: &mut [f32]) -> Option<&mut Self> {
        if W == 0 || H == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks_mut::<W>();
        if !rest.is_empty() {
            return None;
        }
        let (planes, rest) = rows.as_chunks_mut::<H>();
        if !rest.is_empty() {
            return None;
        }
        planes.try_into().ok()
    }
}

impl<const O: usize, const C: usize, const H: usize, const W: usize> Tensor
    for [[[[f32; W]; H]; C]; O]
{
    const SHAPE: &'static [usize] = &[O, C, H, W];
    const LEN: usize = O * C * H * W;

    fn zeroed() -> Self {
        [[[[0.0; W]; H]; C]; O]
    }
    fn as_flat(&self) -> &[f32] {
        self.as_flattened().as_flattened().as_flattened()
    }
    fn as_flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
    }
    #[inline(always)]
    fn from_flat(slice: &[f32]) -> Option<&Self> {
        if W == 0 || H == 0 || C == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks::<W>();
        if !rest.is_empty() {
            return None;
        }
        let (planes, rest) = rows.as_chunks::<H>();
        if !rest.is_empty() {
            return None;
        }
        let (cubes, rest) = planes.as_chunks::<C>();
        if !rest.is_empty() {
            return None;
        }
        cubes.try_into().ok()
    }
    #[inline(always)]
    fn from_flat_mut(slice: &mut [f32]) -> Option<&mut Self> {
        if W == 0 || H == 0 || C == 0 {
            return None;
        }
        let (rows, rest) = slice.as_chunks_mut::<W>();
        if !rest.is_empty() {
            return None;
        }
        let (planes, rest) = rows.as_chunks_mut::<H>();
        if !rest.is_empty() {
            return None;
        }
        let (cubes, rest) = planes.as_chunks_mut::<C>();
        if !rest.is_empty() {
            return None;
        }
        cubes.try_into().ok()
    }
}

/// `nn.Flatten()` on one sample: views a `[C, H, W]` map as a `[C·H·W]` vector,
/// without copying.
///
/// `N` must equal `C * H * W`; a call where it does not fails to build.
#[inline]
#[must_use]
pub fn flatten<const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &[[[f32; W]; H]; C],
) -> &[f32; N] {
    const { assert!(N == C * H * W, "flatten: N must equal C * H * W") };
    match Tensor::as_flat(x).try_into() {
        Ok(flat) => flat,
        // The const assertion above makes the lengths equal.
        Err(_) => unreachable!(),
    }
}

/// [`flatten`], mutably: views a `[C, H, W]` map as a `[C·H·W]` vector.
#[inline]
#[must_use]
pub fn flatten_mut<const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &mut [[[f32; W]; H]; C],
) -> &mut [f32; N] {
    const { assert!(N == C * H * W, "flatten_mut: N must equal C * H * W") };
    match Tensor::as_flat_mut(x).try_into() {
        Ok(flat) => flat,
        // The const assertion above makes the lengths equal.
        Err(_) => unreachable!(),
    }
}

/// Views a slice of exactly `T::LEN` floats as the tensor `T`.
///
/// Generated code views regions of a network's workspace with this; their
/// bounds are constants, so the check folds away in optimised builds.
///
/// # Panics
///
/// If the length is not `T::LEN` (a bug in the caller).
#[inline(always)]
#[must_use]
pub fn view<T: Tensor>(flat: &[f32]) -> &T {
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
pub fn view_mut<T: Tensor>(flat: &mut [f32]) -> &mut T {
    match T::from_flat_mut(flat) {
        Some(t) => t,
        None => panic!("constnet: a workspace region does not match its tensor"),
    }
}

/// The first `N` floats of a row of `W` (`N <= W`, which every caller
/// checks at compile time).
#[inline]
pub(crate) fn head<const N: usize, const W: usize>(row: &[f32; W]) -> &[f32; N] {
    row.first_chunk::<N>()
        .unwrap_or_else(|| unreachable!("{N} > {W}"))
}

/// [`head`], mutably.
#[inline]
pub(crate) fn head_mut<const N: usize, const W: usize>(row: &mut [f32; W]) -> &mut [f32; N] {
    row.first_chunk_mut::<N>()
        .unwrap_or_else(|| unreachable!("{N} > {W}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn shapes_and_lengths() {
        assert_eq!(<[f32; 7]>::SHAPE, &[7]);
        assert_eq!(<[[f32; 3]; 2]>::SHAPE, &[2, 3]);
        assert_eq!(<[[[f32; 4]; 3]; 2]>::SHAPE, &[2, 3, 4]);
        assert_eq!(<[[[f32; 4]; 3]; 2]>::LEN, 24);
        assert_eq!(<[[[[f32; 5]; 4]; 3]; 2]>::SHAPE, &[2, 3, 4, 5]);
    }

    #[test]
    fn slice_round_trip_is_row_major() {
        let mut t = <[[[f32; 4]; 3]; 2]>::zeroed();
        for (i, v) in Tensor::as_flat_mut(&mut t).iter_mut().enumerate() {
            *v = i as f32;
        }
        assert_eq!(t[1][2][3], 23.0);
        assert_eq!(t[1][0][0], 12.0);
        let flat: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let view = <[[[f32; 4]; 3]; 2]>::from_flat(&flat).unwrap();
        assert_eq!(view, &t);
        assert!(<[[[f32; 4]; 3]; 2]>::from_flat(&flat[..23]).is_none());
        assert!(<[[f32; 4]; 3]>::from_flat(&flat[..13]).is_none());
        assert!(<[f32; 24]>::from_flat(&flat[..23]).is_none());
        let w = <[[[[f32; 2]; 3]; 2]; 2]>::from_flat(&flat).unwrap();
        assert_eq!(w[1][1][2][1], 23.0);
        assert_eq!(Tensor::as_flat(w), &flat[..]);
    }

    #[test]
    fn views_of_a_flat_buffer() {
        let mut buf = [0.0f32; 10];
        let t: &mut [[[f32; 2]; 2]; 2] = view_mut(&mut buf[2..]);
        t[1][1][1] = 7.0;
        assert_eq!(buf[9], 7.0);
        let v: &[f32; 4] = view(&buf[6..]);
        assert_eq!(v[3], 7.0);
    }

    #[test]
    #[should_panic(expected = "does not match")]
    fn a_view_of_the_wrong_length_panics() {
        let buf = [0.0f32; 10];
        let _: &[f32; 4] = view(&buf[..5]);
    }

    #[test]
    fn flatten_is_a_view() {
        let mut t = [[[0.0f32; 2]; 2]; 3];
        t[2][1][0] = 5.0;
        let f: &[f32; 12] = flatten(&t);
        assert_eq!(f[2 * 4 + 2], 5.0);
        assert!(core::ptr::eq(f.as_ptr(), t.as_ptr().cast()));
        let m: &mut [f32; 12] = flatten_mut(&mut t);
        m[0] = 1.0;
        assert_eq!(t[0][0][0], 1.0);
    }
}
