//! Padding layers on one `[C, H, W]` sample: `torch.nn.ZeroPad2d`,
//! `ConstantPad2d`, `ReflectionPad2d`, `ReplicationPad2d` and
//! `F.pad(mode="circular")`, each with its own padding on every side.
//!
//! A pad layer in front of a convolution is better folded into it
//! ([`crate::conv::conv2d_fused`] takes the same four paddings and modes):
//! the padded map is then never written. These kernels are for the rest —
//! a pad before a pooling layer, a concatenation, or the network's output.
//!
//! # Algorithm
//!
//! Row by row: an output row reads one input row (or, for a constant pad,
//! none: it is filled); its middle `W` columns are that row, copied
//! (`memcpy`), and the `PL + PR` border columns are mapped to input columns
//! one by one through the same index map as the convolution's padding
//! (`conv::source_index`), so every mode follows one definition. The
//! result is exact: padding only moves values.

#![allow(clippy::doc_markdown)] // "PyTorch" is a name, not code.
use crate::conv::{kind, padding_fits, source_index, PaddingMode};

/// Pads every channel by `PT` rows on top, `PB` at the bottom, `PL` columns
/// on the left and `PR` on the right: PyTorch's
/// `F.pad(x, (PL, PR, PT, PB), mode, value)` — note that PyTorch lists
/// left, right, top, bottom.
///
/// The mode is the type `P`:
///
/// | PyTorch | `P` | `value` |
/// |---|---|---|
/// | `nn.ZeroPad2d(padding)` | [`Zeros`](crate::conv::Zeros) | `0.0` |
/// | `nn.ConstantPad2d(padding, value)` | [`Zeros`](crate::conv::Zeros) (a constant) | `value` |
/// | `nn.ReflectionPad2d(padding)` | [`Reflect`](crate::conv::Reflect) | ignored |
/// | `nn.ReplicationPad2d(padding)` | [`Replicate`](crate::conv::Replicate) | ignored |
/// | `F.pad(x, padding, mode="circular")` | [`Circular`](crate::conv::Circular) | ignored |
///
/// `output` is fully overwritten.
///
/// Checked at compile time: `C, H, W > 0`, `OH == H + PT + PB`,
/// `OW == W + PL + PR`, and PyTorch's limits: for [`Reflect`] each pad
/// smaller than the input size along its axis (`PT, PB < H`,
/// `PL, PR < W`), for [`Circular`] at most the input size; constant and
/// replicate padding may be larger than the input.
///
/// [`Reflect`]: crate::conv::Reflect
/// [`Circular`]: crate::conv::Circular
///
/// ```
/// use constnet_runtime::conv::{Reflect, Zeros};
/// use constnet_runtime::pad::pad2d;
/// let x = [[[1.0, 2.0, 3.0]]];
/// // nn.ReflectionPad2d((2, 1, 0, 0)): left 2, right 1.
/// let mut y = [[[0.0f32; 6]; 1]; 1];
/// pad2d::<Reflect, 0, 0, 2, 1, 1, 1, 3, 1, 6>(&x, 0.0, &mut y);
/// assert_eq!(y, [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]);
/// // nn.ConstantPad2d((0, 1, 1, 0), -1.0): right 1, top 1.
/// let mut y = [[[0.0f32; 4]; 2]; 1];
/// pad2d::<Zeros, 1, 0, 0, 1, 1, 1, 3, 2, 4>(&x, -1.0, &mut y);
/// assert_eq!(y, [[[-1.0; 4], [1.0, 2.0, 3.0, -1.0]]]);
/// ```
///
/// Reflect padding as large as the input fails to build:
///
/// ```compile_fail
/// use constnet_runtime::conv::Reflect;
/// use constnet_runtime::pad::pad2d;
/// let x = [[[1.0f32, 2.0, 3.0]]];
/// let mut y = [[[0.0f32; 6]; 1]; 1];
/// pad2d::<Reflect, 0, 0, 3, 0, 1, 1, 3, 1, 6>(&x, 0.0, &mut y);
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[inline]
pub fn pad2d<
    P: PaddingMode,
    const PT: usize,
    const PB: usize,
    const PL: usize,
    const PR: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    value: f32,
    output: &mut [[[f32; OW]; OH]; C],
) {
    const {
        assert!(
            C > 0 && H > 0 && W > 0,
            "pad2d: channels, height and width must be positive"
        );
        assert!(OH == H + PT + PB, "pad2d: OH must equal H + PT + PB");
        assert!(OW == W + PL + PR, "pad2d: OW must equal W + PL + PR");
        assert!(
            padding_fits::<P>(PT, PB, H) && padding_fits::<P>(PL, PR, W),
            "pad2d: reflect padding must be smaller than the input size (PT, PB < H; PL, PR < W), \
             circular padding at most the input size"
        );
    };
    // The input column each border column reads (`None`: the constant),
    // computed once.
    let left: [Option<usize>; PL] = core::array::from_fn(|j| source_index(kind::<P>(), j, PL, W));
    let right: [Option<usize>; PR] =
        core::array::from_fn(|j| source_index(kind::<P>(), PL + W + j, PL, W));
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let Some(in_row) = source_index(kind::<P>(), oh, PT, H).and_then(|ih| in_plane.get(ih))
            else {
                out_row.fill(value);
                continue;
            };
            // `OW == PL + W + PR`: the splits succeed.
            let Some((out_left, rest)) = out_row.split_at_mut_checked(PL) else {
                continue;
            };
            let Some((middle, out_right)) = rest.split_at_mut_checked(W) else {
                continue;
            };
            middle.copy_from_slice(in_row);
            for (o, &src) in out_left.iter_mut().zip(&left) {
                *o = src.and_then(|i| in_row.get(i)).copied().unwrap_or(value);
            }
            for (o, &src) in out_right.iter_mut().zip(&right) {
                *o = src.and_then(|i| in_row.get(i)).copied().unwrap_or(value);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, clippy::large_stack_arrays)] // Padding is exact; small test tensors.
mod tests {
    use super::*;
    use crate::conv::{Circular, Reflect, Replicate, Zeros};
    use crate::reference::test_util::Rng;
    use crate::reference::{self, PaddingMode as Mode};
    use crate::Tensor;

    #[test]
    fn hand_worked_every_mode() {
        // [1 2 3] padded 2 left, 2 right.
        let x = [[[1.0f32, 2.0, 3.0]]];
        let mut y = [[[0.0f32; 7]; 1]; 1];
        pad2d::<Zeros, 0, 0, 2, 2, 1, 1, 3, 1, 7>(&x, 0.0, &mut y);
        assert_eq!(y[0][0], [0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        pad2d::<Zeros, 0, 0, 2, 2, 1, 1, 3, 1, 7>(&x, 9.0, &mut y);
        assert_eq!(y[0][0], [9.0, 9.0, 1.0, 2.0, 3.0, 9.0, 9.0]);
        pad2d::<Reflect, 0, 0, 2, 2, 1, 1, 3, 1, 7>(&x, 9.0, &mut y);
        assert_eq!(y[0][0], [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
        pad2d::<Replicate, 0, 0, 2, 2, 1, 1, 3, 1, 7>(&x, 9.0, &mut y);
        assert_eq!(y[0][0], [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]);
        pad2d::<Circular, 0, 0, 2, 2, 1, 1, 3, 1, 7>(&x, 9.0, &mut y);
        assert_eq!(y[0][0], [2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]);
        // Vertically: a column [1 2 3] padded 1 on top, 2 below, reflect.
        let x = [[[1.0f32], [2.0], [3.0]]];
        let mut y = [[[0.0f32; 1]; 6]; 1];
        pad2d::<Reflect, 1, 2, 0, 0, 1, 3, 1, 6, 1>(&x, 0.0, &mut y);
        assert_eq!(y, [[[2.0], [1.0], [2.0], [3.0], [2.0], [1.0]]]);
    }

    /// Runs `pad2d` and the reference on the same random data and compares
    /// them exactly.
    macro_rules! pad_case {
        ($ty:ty, $mode:expr, $seed:expr, value = $value:expr;
         C=$c:literal H=$h:literal W=$w:literal P=($pt:literal, $pb:literal, $pl:literal, $pr:literal)) => {{
            const C: usize = $c;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = H + $pt + $pb;
            const OW: usize = W + $pl + $pr;
            let mut x = [[[0.0f32; W]; H]; C];
            Rng::new($seed).fill(Tensor::as_flat_mut(&mut x));
            let mut y = [[[f32::NAN; OW]; OH]; C];
            pad2d::<$ty, $pt, $pb, $pl, $pr, C, H, W, OH, OW>(&x, $value, &mut y);
            let mut expected = std::vec![f32::NAN; C * OH * OW];
            reference::pad2d($mode, C, (H, W), ($pt, $pb, $pl, $pr), $value, Tensor::as_flat(&x), &mut expected);
            let got: std::vec::Vec<u32> = Tensor::as_flat(&y).iter().map(|v| v.to_bits()).collect();
            let want: std::vec::Vec<u32> = expected.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "pad2d {:?} C={} H={} W={} P=({}, {}, {}, {})", $mode, $c, $h, $w, $pt, $pb, $pl, $pr);
        }};
    }

    /// Geometries valid in every mode (each pad < the input size): zero
    /// pads on some sides, every side alone, asymmetric pairs, one-pixel
    /// inputs along an axis, and pads of `size − 1`.
    macro_rules! pad_cases {
        ($ty:ty, $mode:expr) => {{
            pad_case!($ty, $mode, 1, value = 0.0; C=1 H=1 W=1 P=(0, 0, 0, 0));
            pad_case!($ty, $mode, 2, value = 0.0; C=2 H=3 W=4 P=(0, 0, 0, 0));
            pad_case!($ty, $mode, 3, value = 0.0; C=2 H=3 W=4 P=(1, 0, 0, 0));
            pad_case!($ty, $mode, 4, value = 0.0; C=2 H=3 W=4 P=(0, 1, 0, 0));
            pad_case!($ty, $mode, 5, value = 0.0; C=2 H=3 W=4 P=(0, 0, 1, 0));
            pad_case!($ty, $mode, 6, value = 0.0; C=2 H=3 W=4 P=(0, 0, 0, 1));
            pad_case!($ty, $mode, 7, value = 1.5; C=3 H=5 W=6 P=(0, 1, 0, 1));
            pad_case!($ty, $mode, 8, value = -2.0; C=3 H=5 W=6 P=(1, 0, 1, 0));
            pad_case!($ty, $mode, 9, value = 0.0; C=1 H=4 W=7 P=(2, 1, 3, 0));
            pad_case!($ty, $mode, 10, value = 0.0; C=2 H=6 W=5 P=(1, 3, 0, 4));
            pad_case!($ty, $mode, 11, value = 0.0; C=1 H=4 W=4 P=(3, 3, 3, 3));
            pad_case!($ty, $mode, 12, value = 0.0; C=2 H=2 W=9 P=(1, 1, 8, 2));
            pad_case!($ty, $mode, 13, value = 0.0; C=2 H=9 W=2 P=(8, 0, 0, 1));
            pad_case!($ty, $mode, 14, value = 0.0; C=1 H=1 W=20 P=(0, 0, 5, 7));
            pad_case!($ty, $mode, 15, value = 0.0; C=1 H=20 W=1 P=(6, 4, 0, 0));
            pad_case!($ty, $mode, 16, value = 0.0; C=4 H=16 W=17 P=(1, 2, 2, 1));
            pad_case!($ty, $mode, 17, value = 0.0; C=2 H=32 W=33 P=(0, 1, 0, 1));
        }};
    }

    #[test]
    fn zeros_and_constant_match_reference() {
        pad_cases!(Zeros, Mode::Zeros);
        // A constant, and pads larger than the input on every side.
        pad_case!(Zeros, Mode::Zeros, 20, value = 0.0; C=2 H=2 W=3 P=(4, 5, 6, 7));
        pad_case!(Zeros, Mode::Zeros, 21, value = 3.25; C=2 H=2 W=3 P=(4, 5, 6, 7));
        pad_case!(Zeros, Mode::Zeros, 22, value = f32::NEG_INFINITY; C=1 H=1 W=1 P=(3, 0, 0, 2));
        pad_case!(Zeros, Mode::Zeros, 23, value = -0.0; C=3 H=1 W=2 P=(0, 9, 9, 0));
    }

    #[test]
    fn reflect_matches_reference() {
        pad_cases!(Reflect, Mode::Reflect);
    }

    #[test]
    fn replicate_matches_reference() {
        pad_cases!(Replicate, Mode::Replicate);
        // Pads larger than the input.
        pad_case!(Replicate, Mode::Replicate, 30, value = 0.0; C=2 H=2 W=3 P=(4, 5, 6, 7));
        pad_case!(Replicate, Mode::Replicate, 31, value = 0.0; C=1 H=1 W=1 P=(3, 2, 0, 4));
    }

    #[test]
    fn circular_matches_reference() {
        pad_cases!(Circular, Mode::Circular);
        // Pads equal to the input size, PyTorch's limit.
        pad_case!(Circular, Mode::Circular, 40, value = 0.0; C=2 H=2 W=3 P=(2, 2, 3, 3));
        pad_case!(Circular, Mode::Circular, 41, value = 0.0; C=1 H=1 W=1 P=(1, 0, 1, 1));
        pad_case!(Circular, Mode::Circular, 42, value = 0.0; C=1 H=3 W=4 P=(0, 3, 4, 0));
    }
}
