//! Joining the branches of a graph: elementwise addition (a residual
//! connection, `x + f(x)`) and concatenation along channels
//! (`torch.cat(dim=1)`).
//!
//! A tensor is contiguous and row-major, so both work on flat arrays (any
//! tensor gives one through [`crate::tensor::flatten`] or
//! [`crate::tensor::view`]): an addition is one loop over `N` floats, and
//! since a `[C, H, W]` map's channels are consecutive, concatenating maps
//! along channels is copying each into a consecutive range of the result
//! ([`copy_channels`]). The loops are plain Rust over arrays whose lengths
//! are constants, so they have no bounds checks and LLVM vectorises them;
//! they are bound by memory, so there is nothing for explicit SIMD to gain.
//!
//! When a convolution produces one of the operands, prefer its fused
//! epilogue ([`crate::conv::Post::residual`]): the addition then happens in
//! registers and the sum is stored once. The results are the same bits.

/// `acc += other`, elementwise: the residual add when `acc` may be
/// overwritten.
///
/// ```
/// use constnet_runtime::merge::add;
/// let mut a = [1.0, 2.0, 3.0];
/// add(&mut a, &[0.5, -2.0, 1.0]);
/// assert_eq!(a, [1.5, 0.0, 4.0]);
/// ```
#[inline]
pub fn add<const N: usize>(acc: &mut [f32; N], other: &[f32; N]) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a += b;
    }
}

/// `out = a + b`, elementwise, for when neither operand may be overwritten
/// (both are read again later). The same bits as [`add`].
///
/// ```
/// use constnet_runtime::merge::add_into;
/// let mut y = [0.0f32; 2];
/// add_into(&[1.0, 2.0], &[10.0, 20.0], &mut y);
/// assert_eq!(y, [11.0, 22.0]);
/// ```
#[inline]
pub fn add_into<const N: usize>(a: &[f32; N], b: &[f32; N], out: &mut [f32; N]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// `dst = src`: copies one flat tensor into another of the same size.
///
/// ```
/// use constnet_runtime::merge::copy;
/// let mut y = [0.0f32; 3];
/// copy(&[1.0, 2.0, 3.0], &mut y);
/// assert_eq!(y, [1.0, 2.0, 3.0]);
/// ```
#[inline]
pub fn copy<const N: usize>(src: &[f32; N], dst: &mut [f32; N]) {
    *dst = *src;
}

/// One branch of a concatenation along channels (`torch.cat([..], dim=1)`):
/// copies the `C` channels of `src` to channels `AT..AT + C` of `dst`, which
/// has `CT` channels of the same `H × W`. Calling it once per branch, with
/// `AT` the number of channels before it, builds the concatenation; the
/// other channels of `dst` are left as they are.
///
/// Checked at compile time: `AT + C <= CT`.
///
/// ```
/// use constnet_runtime::merge::copy_channels;
/// let a = [[[1.0f32; 2]; 2]; 1];
/// let b = [[[2.0f32; 2]; 2]; 2];
/// let mut cat = [[[0.0f32; 2]; 2]; 3];
/// copy_channels::<0, 1, 3, 2, 2>(&a, &mut cat);
/// copy_channels::<1, 2, 3, 2, 2>(&b, &mut cat);
/// assert_eq!(cat, [[[1.0; 2]; 2], [[2.0; 2]; 2], [[2.0; 2]; 2]]);
/// ```
///
/// A branch that does not fit fails to build:
///
/// ```compile_fail
/// use constnet_runtime::merge::copy_channels;
/// let b = [[[2.0f32; 2]; 2]; 2];
/// let mut cat = [[[0.0f32; 2]; 2]; 3];
/// copy_channels::<2, 2, 3, 2, 2>(&b, &mut cat);
/// ```
#[inline]
pub fn copy_channels<
    const AT: usize,
    const C: usize,
    const CT: usize,
    const H: usize,
    const W: usize,
>(
    src: &[[[f32; W]; H]; C],
    dst: &mut [[[f32; W]; H]; CT],
) {
    const {
        assert!(
            AT + C <= CT,
            "copy_channels: channels AT..AT + C must lie within the CT channels of dst"
        );
    };
    // `AT + C <= CT`, so the range is inside `dst` and has `C` planes.
    if let Some(planes) = dst.get_mut(AT..AT + C) {
        for (d, s) in planes.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, clippy::large_stack_arrays)] // Exact sums; small test tensors.
mod tests {
    use super::*;
    use crate::reference::test_util::{bits, Rng};
    use crate::Tensor;
    use std::vec::Vec;

    fn random<const N: usize>(seed: u32) -> [f32; N] {
        let mut x = [0.0f32; N];
        Rng::new(seed).fill(&mut x);
        x
    }

    /// Sums as the naive loop computes them, on lengths around the vector
    /// widths; `add` and `add_into` give the same bits.
    macro_rules! add_case {
        ($n:literal) => {{
            let a = random::<$n>($n);
            let b = random::<$n>($n + 1000);
            let sums: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
            let expected = bits(&sums);
            let mut acc = a;
            add(&mut acc, &b);
            assert_eq!(bits(&acc), expected, "add {}", $n);
            let mut out = [f32::NAN; $n];
            add_into(&a, &b, &mut out);
            assert_eq!(bits(&out), expected, "add_into {}", $n);
            let mut dst = [f32::NAN; $n];
            copy(&a, &mut dst);
            assert_eq!(dst.map(f32::to_bits), a.map(f32::to_bits));
        }};
    }

    #[test]
    fn add_matches_naive_sum() {
        add_case!(1);
        add_case!(7);
        add_case!(8);
        add_case!(15);
        add_case!(16);
        add_case!(17);
        add_case!(33);
        add_case!(1000);
    }

    #[test]
    fn nan_and_infinity_propagate() {
        let mut a = [f32::NAN, f32::INFINITY, 1.0, -0.0];
        add(&mut a, &[1.0, f32::NEG_INFINITY, f32::INFINITY, -0.0]);
        assert!(a[0].is_nan() && a[1].is_nan());
        assert_eq!(a[2], f32::INFINITY);
        assert_eq!(a[3].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn concatenation_along_channels() {
        // torch.cat([a, b, c], dim=1) of 2-, 1- and 3-channel 3x5 maps.
        let mut a = [[[0.0f32; 5]; 3]; 2];
        let mut b = [[[0.0f32; 5]; 3]; 1];
        let mut c = [[[0.0f32; 5]; 3]; 3];
        Rng::new(1).fill(Tensor::as_flat_mut(&mut a));
        Rng::new(2).fill(Tensor::as_flat_mut(&mut b));
        Rng::new(3).fill(Tensor::as_flat_mut(&mut c));
        let mut cat = [[[f32::NAN; 5]; 3]; 6];
        copy_channels::<0, 2, 6, 3, 5>(&a, &mut cat);
        copy_channels::<2, 1, 6, 3, 5>(&b, &mut cat);
        copy_channels::<3, 3, 6, 3, 5>(&c, &mut cat);
        let expected: Vec<f32> = [a.as_flat(), b.as_flat(), c.as_flat()].concat();
        assert_eq!(cat.as_flat(), &expected[..]);
        // A branch leaves the other channels alone.
        let mut cat = [[[7.0f32; 5]; 3]; 6];
        copy_channels::<2, 1, 6, 3, 5>(&b, &mut cat);
        assert!(cat[..2]
            .as_flattened()
            .as_flattened()
            .iter()
            .all(|&v| v == 7.0));
        assert!(cat[3..]
            .as_flattened()
            .as_flattened()
            .iter()
            .all(|&v| v == 7.0));
        assert_eq!(cat[2], b[0]);
        // The whole map.
        let mut whole = [[[0.0f32; 5]; 3]; 3];
        copy_channels::<0, 3, 3, 3, 5>(&c, &mut whole);
        assert_eq!(whole, c);
    }
}
