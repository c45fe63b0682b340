//! int8 pooling, TFLite's `MaxPool` and `AveragePool`: the output keeps the
//! input's scale and zero point, so no rescaling.

use super::conv::taps;
use crate::pool::{avg_window, output_len};
#[cfg(target_arch = "x86_64")]
use crate::simd;

/// `torch.nn.MaxPool2d(kernel_size=(KH, KW), stride=(SH, SW), padding=(PH,
/// PW), ceil_mode=CEIL)` quantized: the largest `q` of each window's
/// positions inside the input (padding, and with `CEIL` the part of a last
/// window past it, is never the maximum, as PyTorch's `−∞`).
///
/// Checked at compile time as [`crate::pool::max_pool2d`] (without
/// dilation).
///
/// ```
/// use constnet_runtime::quant::pool::max_pool2d;
/// let x = [[[1i8, -2, 3, 4, 9], [5, 6, -7, 8, -9]]];
/// let mut y = [[[0i8; 2]; 1]; 1];
/// max_pool2d::<2, 2, 2, 2, 0, 0, false, 1, 2, 5, 1, 2>(&x, &mut y);
/// assert_eq!(y, [[[6, 8]]]);
/// // ceil_mode = true: a third window, on the last column alone.
/// let mut y = [[[0i8; 3]; 1]; 1];
/// max_pool2d::<2, 2, 2, 2, 0, 0, true, 1, 2, 5, 1, 3>(&x, &mut y);
/// assert_eq!(y, [[[6, 8, 9]]]);
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub fn max_pool2d<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const CEIL: bool,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[i8; W]; H]; C],
    output: &mut [[[i8; OW]; OH]; C],
) {
    const { check::<KH, KW, SH, SW, PH, PW, CEIL, H, W, OH, OW>() };
    #[cfg(target_arch = "x86_64")]
    if const { simd::qpool::applies((KH, KW), (SH, SW), (PH, PW), (H, W), (OH, OW)) }
        && simd::has_avx512bw()
    {
        // SAFETY: the CPU has AVX-512 F and BW (just checked) and the pool
        // is one that `applies`.
        unsafe { simd::qpool::max_pool_pairs::<KH, SH, C, H, W, OH, OW>(input, output) };
        return;
    }
    max_pool_portable::<KH, KW, SH, SW, PH, PW, C, H, W, OH, OW>(input, output);
}

/// [`max_pool2d`]'s portable loops: every window's bounds, then its
/// largest byte.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(crate) fn max_pool_portable<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[i8; W]; H]; C],
    output: &mut [[[i8; OW]; OH]; C],
) {
    for (plane, out) in input.iter().zip(output.iter_mut()) {
        for (oy, row) in out.iter_mut().enumerate() {
            let (i0, i1) = taps(oy, SH, PH, 1, KH, H);
            for (ox, y) in row.iter_mut().enumerate() {
                let (j0, j1) = taps(ox, SW, PW, 1, KW, W);
                let mut m = i8::MIN;
                for i in i0..i1 {
                    for j in j0..j1 {
                        m = m.max(plane[oy * SH + i - PH][ox * SW + j - PW]);
                    }
                }
                *y = m;
            }
        }
    }
}

/// `torch.nn.AvgPool2d(kernel_size=(KH, KW), stride=(SH, SW), padding=(PH,
/// PW), count_include_pad=COUNT_PAD)` quantized: each window's sum of `q`
/// (padding counts as the zero point) divided by its count, rounded half
/// away from zero. TFLite's `AveragePool` divides by the positions inside
/// the input, PyTorch's `count_include_pad=False`; with `COUNT_PAD` the
/// padded positions count too, PyTorch's default (the same without
/// padding).
///
/// ```
/// use constnet_runtime::quant::pool::avg_pool2d;
/// let x = [[[1i8, 2, -3, -4], [5, 6, -7, -7]]];
/// let mut y = [[[0i8; 2]; 1]; 1];
/// avg_pool2d::<2, 2, 2, 2, 0, 0, false, 1, 2, 4, 1, 2>(&x, 0, &mut y);
/// assert_eq!(y, [[[4, -5]]]); // 14 / 4 = 3.5 → 4; −21 / 4 = −5.25 → −5
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub fn avg_pool2d<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const COUNT_PAD: bool,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[i8; W]; H]; C],
    zero_point: i8,
    output: &mut [[[i8; OW]; OH]; C],
) {
    const { check::<KH, KW, SH, SW, PH, PW, false, H, W, OH, OW>() };
    for (plane, out) in input.iter().zip(output.iter_mut()) {
        for (oy, row) in out.iter_mut().enumerate() {
            let (i0, i1) = taps(oy, SH, PH, 1, KH, H);
            for (ox, y) in row.iter_mut().enumerate() {
                let (j0, j1) = taps(ox, SW, PW, 1, KW, W);
                let mut sum = 0i32;
                for i in i0..i1 {
                    for j in j0..j1 {
                        sum += i32::from(plane[oy * SH + i - PH][ox * SW + j - PW]);
                    }
                }
                let inside = (i1 - i0) * (j1 - j0);
                let count = if COUNT_PAD {
                    // PyTorch counts the padded positions of the window, not
                    // those past the padding (a window may end outside it).
                    let padded = avg_window(oy, KH, SH, PH, H).0 * avg_window(ox, KW, SW, PW, W).0;
                    sum += i32::from(zero_point) * (padded - inside) as i32;
                    padded
                } else {
                    inside
                };
                *y = round_div(sum, count as i32);
            }
        }
    }
}

/// `sum / count` rounded half away from zero, as TFLite's `AveragePool`:
/// `(sum ± count / 2) / count` with C's truncating division.
#[inline]
#[allow(clippy::cast_possible_truncation)] // An average of `i8`s is an `i8`.
fn round_div(sum: i32, count: i32) -> i8 {
    let q = if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    };
    q as i8
}

/// The compile-time checks both pools share.
const fn check<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const CEIL: bool,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>() {
    assert!(
        matches!(output_len(H, KH, SH, PH, 1, CEIL), Some(n) if n == OH)
            && matches!(output_len(W, KW, SW, PW, 1, CEIL), Some(n) if n == OW),
        "quant pool: OH and OW must be PyTorch's output sizes (and the padding at most half the kernel)"
    );
}

#[cfg(test)]
mod tests {
    use super::{avg_pool2d, max_pool2d};
    use crate::quant::test_util::bytes;
    use crate::reference::test_util::Rng;

    /// The window of output `(oy, ox)` from the definition: every position
    /// of the padded input it covers, `None` for padding.
    #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
    fn positions(
        plane: &[std::vec::Vec<i8>],
        (oy, ox): (usize, usize),
        (k, s, p): ((usize, usize), (usize, usize), (usize, usize)),
    ) -> std::vec::Vec<Option<i8>> {
        let (h, w) = (plane.len() as isize, plane[0].len() as isize);
        let mut v = std::vec::Vec::new();
        for i in 0..k.0 {
            for j in 0..k.1 {
                let y = (oy * s.0 + i) as isize - p.0 as isize;
                let x = (ox * s.1 + j) as isize - p.1 as isize;
                // PyTorch's window stops at the padding's end.
                if y >= h + p.0 as isize || x >= w + p.1 as isize {
                    continue;
                }
                let inside = (0..h).contains(&y) && (0..w).contains(&x);
                v.push(inside.then(|| plane[y as usize][x as usize]));
            }
        }
        v
    }

    macro_rules! case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal) P=($ph:literal, $pw:literal) -> ($oh:literal, $ow:literal)) => {{
            let mut rng = Rng::new($seed);
            let mut x = [[[0i8; $w]; $h]; $c];
            bytes(&mut rng, x.as_flattened_mut().as_flattened_mut(), -128, 127);
            let zp = (rng.next_u32() % 256) as i32 as i8;
            let mut max = [[[0i8; $ow]; $oh]; $c];
            let mut avg = [[[0i8; $ow]; $oh]; $c];
            let mut avg_pad = [[[0i8; $ow]; $oh]; $c];
            max_pool2d::<$kh, $kw, $sh, $sw, $ph, $pw, false, $c, $h, $w, $oh, $ow>(&x, &mut max);
            avg_pool2d::<$kh, $kw, $sh, $sw, $ph, $pw, false, $c, $h, $w, $oh, $ow>(
                &x, zp, &mut avg,
            );
            avg_pool2d::<$kh, $kw, $sh, $sw, $ph, $pw, true, $c, $h, $w, $oh, $ow>(
                &x,
                zp,
                &mut avg_pad,
            );
            for c in 0..$c {
                let plane: std::vec::Vec<std::vec::Vec<i8>> =
                    x[c].iter().map(|r| r.to_vec()).collect();
                for oy in 0..$oh {
                    for ox in 0..$ow {
                        let win = positions(&plane, (oy, ox), (($kh, $kw), ($sh, $sw), ($ph, $pw)));
                        let inside: std::vec::Vec<f64> =
                            win.iter().flatten().map(|&q| f64::from(q)).collect();
                        let top = win.iter().flatten().max().copied().unwrap();
                        assert_eq!(max[c][oy][ox], top, "max ({c}, {oy}, {ox})");
                        let mean = libm::round(inside.iter().sum::<f64>() / inside.len() as f64);
                        assert_eq!(f64::from(avg[c][oy][ox]), mean, "avg ({c}, {oy}, {ox})");
                        let all: f64 = win.iter().map(|q| f64::from(q.unwrap_or(zp))).sum();
                        let mean = libm::round(all / win.len() as f64);
                        assert_eq!(
                            f64::from(avg_pad[c][oy][ox]),
                            mean,
                            "avg, padding counted ({c}, {oy}, {ox})"
                        );
                    }
                }
            }
        }};
    }

    #[test]
    fn pools_match_their_definitions() {
        case!(21; C=3 H=28 W=28 K=(2, 2) S=(2, 2) P=(0, 0) -> (14, 14)); // LeNet-5
        case!(22; C=2 H=9 W=7 K=(3, 3) S=(2, 2) P=(1, 1) -> (5, 4));
        case!(23; C=2 H=6 W=8 K=(3, 2) S=(1, 2) P=(1, 0) -> (6, 4));
        case!(24; C=1 H=5 W=5 K=(5, 5) S=(1, 1) P=(2, 2) -> (5, 5));
        case!(25; C=4 H=25 W=5 K=(25, 5) S=(1, 1) P=(0, 0) -> (1, 1)); // DS-CNN's global pool

        // The last row and column never read; overlapping rows, strided
        // columns.
        case!(26; C=2 H=7 W=9 K=(2, 2) S=(2, 2) P=(0, 0) -> (3, 4));
        case!(27; C=2 H=8 W=6 K=(3, 2) S=(1, 2) P=(0, 0) -> (6, 3));
    }

    /// `ceil_mode`: the last windows run past the input (and its padding).
    macro_rules! ceil_case {
        ($seed:expr; H=$h:literal W=$w:literal K=$k:literal S=$s:literal P=$p:literal -> ($oh:literal, $ow:literal)) => {{
            let mut rng = Rng::new($seed);
            let mut x = [[[0i8; $w]; $h]; 2];
            bytes(&mut rng, x.as_flattened_mut().as_flattened_mut(), -128, 127);
            let mut max = [[[0i8; $ow]; $oh]; 2];
            max_pool2d::<$k, $k, $s, $s, $p, $p, true, 2, $h, $w, $oh, $ow>(&x, &mut max);
            for c in 0..2 {
                let plane: std::vec::Vec<std::vec::Vec<i8>> =
                    x[c].iter().map(|r| r.to_vec()).collect();
                for oy in 0..$oh {
                    for ox in 0..$ow {
                        let win = positions(&plane, (oy, ox), (($k, $k), ($s, $s), ($p, $p)));
                        let top = win.iter().flatten().max().copied().unwrap();
                        assert_eq!(max[c][oy][ox], top, "({c}, {oy}, {ox})");
                    }
                }
            }
        }};
    }

    #[test]
    fn max_pool_ceil_mode_matches_its_definition() {
        ceil_case!(31; H=16 W=16 K=3 S=2 P=0 -> (8, 8)); // SqueezeNet's; floor: 7
        ceil_case!(32; H=10 W=9 K=3 S=2 P=1 -> (6, 5)); // floor: 5 × 5
        ceil_case!(33; H=7 W=8 K=2 S=2 P=1 -> (4, 5)); // last row's window in the padding: dropped
    }
}
