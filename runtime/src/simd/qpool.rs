//! The int8 max pool ([`crate::quant::pool::max_pool2d`]) with AVX-512BW
//! for windows two columns wide at column stride 2, without padding and
//! with every window inside the input: LeNet-5's 2×2 pools, VGG's, any
//! `KH` and row stride.
//!
//! # Why
//!
//! The portable loops compute each window's bounds and visit its bytes one
//! at a time: about 0.45 µs of LeNet-5's int8 forward pass (6 × 28 × 28 and
//! 16 × 10 × 10 bytes) under `perf`, more than `fc2` and `fc3` together.
//!
//! # Algorithm
//!
//! Per output row, 32 outputs at a time: the window's `KH` input rows, 64
//! bytes each (a masked load of the `2·n` bytes the `n` outputs read), are
//! reduced with `vpmaxsb`; then each pair of columns: as 32 words, the even
//! byte sign-extended (`vpsllw 8`, `vpsraw 8`), the odd one (`vpsraw 8`),
//! `vpmaxsw`, and the words narrowed back to bytes (`vpmovwb`), one masked
//! store. The same comparisons as the portable loops, so the same bytes
//! (tested over many shapes against them).

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use core::arch::x86_64::{
    _mm512_castsi256_si512, _mm512_cvtepi16_epi8, _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8,
    _mm512_max_epi16, _mm512_max_epi8, _mm512_set1_epi8, _mm512_slli_epi16, _mm512_srai_epi16,
};

/// Outputs per vector: 64 input bytes, two per output.
const STEP: usize = 32;

/// Whether [`max_pool_pairs`] takes a pool of kernel `(KH, KW)`, stride
/// `(SH, SW)` and padding `(PH, PW)` from `(H, W)` to `(OH, OW)`: windows
/// two columns wide at column stride 2, no padding, and every window
/// inside the input (with `ceil_mode`, a last window past it is not).
pub(crate) const fn applies(
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (ph, pw): (usize, usize),
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
) -> bool {
    kw == 2 && sw == 2 && ph == 0 && pw == 0 && oh > 0 && (oh - 1) * sh + kh <= h && 2 * ow <= w
}

/// The pool (see the module docs).
///
/// # Safety
///
/// The CPU must have AVX-512 F and BW, and the pool must be one that
/// [`applies`] (`KW = SW = 2`, no padding, every window inside).
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn max_pool_pairs<
    const KH: usize,
    const SH: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[i8; W]; H]; C],
    output: &mut [[[i8; OW]; OH]; C],
) {
    assert!(
        OH > 0 && (OH - 1) * SH + KH <= H && 2 * OW <= W,
        "not a pool of the AVX-512 int8 max pool"
    );
    for (plane, out) in input.iter().zip(output.iter_mut()) {
        for (oy, row) in out.iter_mut().enumerate() {
            let rows = &plane[oy * SH..oy * SH + KH];
            for x0 in (0..OW).step_by(STEP) {
                let n = (OW - x0).min(STEP);
                let keep = u64::MAX >> (64 - 2 * n);
                let mut m = _mm512_set1_epi8(i8::MIN);
                for r in rows {
                    // SAFETY: AVX-512BW is enabled; the load reads input
                    // bytes `2·x0 .. 2·(x0 + n) <= 2·OW <= W` of the row.
                    let v = unsafe { _mm512_maskz_loadu_epi8(keep, r[2 * x0..].as_ptr()) };
                    m = _mm512_max_epi8(m, v);
                }
                let even = _mm512_srai_epi16::<8>(_mm512_slli_epi16::<8>(m));
                let odd = _mm512_srai_epi16::<8>(m);
                let y = _mm512_cvtepi16_epi8(_mm512_max_epi16(even, odd));
                // SAFETY: AVX-512BW is enabled; the store writes outputs
                // `x0 .. x0 + n <= OW` of the row (the mask's `n` bits).
                unsafe {
                    _mm512_mask_storeu_epi8(
                        row[x0..].as_mut_ptr(),
                        u64::MAX >> (64 - n),
                        _mm512_castsi256_si512(y),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{applies, max_pool_pairs};
    use crate::quant::pool::max_pool_portable;
    use crate::quant::test_util::bytes;
    use crate::reference::test_util::Rng;

    macro_rules! case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal KH=$kh:literal SH=$sh:literal -> ($oh:literal, $ow:literal)) => {{
            assert!(applies(($kh, 2), ($sh, 2), (0, 0), ($h, $w), ($oh, $ow)));
            let mut rng = Rng::new($seed);
            let mut x = [[[0i8; $w]; $h]; $c];
            bytes(&mut rng, x.as_flattened_mut().as_flattened_mut(), -128, 127);
            let mut want = [[[0i8; $ow]; $oh]; $c];
            max_pool_portable::<$kh, 2, $sh, 2, 0, 0, $c, $h, $w, $oh, $ow>(&x, &mut want);
            // Every output written: a 99 left would show.
            let mut got = [[[99i8; $ow]; $oh]; $c];
            // SAFETY: the caller checked the features; `applies` above.
            unsafe { max_pool_pairs::<$kh, $sh, $c, $h, $w, $oh, $ow>(&x, &mut got) };
            assert_eq!(
                got, want,
                "C={} H={} W={} KH={} SH={}",
                $c, $h, $w, $kh, $sh
            );
        }};
    }

    #[test]
    fn max_pool_pairs_match_the_portable_loops_avx512() {
        if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw"))
        {
            return;
        }
        // LeNet-5's two pools; an odd width (the last column unread) and an
        // odd height (the last row unread).
        case!(1; C=6 H=28 W=28 KH=2 SH=2 -> (14, 14));
        case!(2; C=3 H=7 W=9 KH=2 SH=2 -> (3, 4));
        if cfg!(miri) {
            return;
        }
        case!(3; C=16 H=10 W=10 KH=2 SH=2 -> (5, 5));
        // Rows wider than one vector (64 + 8 bytes: 32 + 4 outputs), exactly
        // one vector, and 65 columns.
        case!(4; C=2 H=4 W=72 KH=2 SH=2 -> (2, 36));
        case!(5; C=2 H=4 W=64 KH=2 SH=2 -> (2, 32));
        case!(6; C=1 H=2 W=130 KH=2 SH=2 -> (1, 65));
        // Other window heights and row strides: 3 rows at stride 2
        // (overlapping), 1 row, 3 rows at stride 1, 4 rows at stride 3.
        case!(7; C=2 H=9 W=12 KH=3 SH=2 -> (4, 6));
        case!(8; C=2 H=5 W=6 KH=1 SH=1 -> (5, 3));
        case!(9; C=2 H=6 W=8 KH=3 SH=1 -> (4, 4));
        case!(10; C=2 H=11 W=4 KH=4 SH=3 -> (3, 2));
        // One output column.
        case!(11; C=3 H=2 W=2 KH=2 SH=2 -> (1, 1));
    }

    #[test]
    fn other_pools_stay_on_the_portable_loops() {
        // Padding, a column stride or width other than 2, and a ceil-mode
        // window past the input.
        assert!(!applies((2, 2), (2, 2), (1, 1), (7, 7), (4, 4)));
        assert!(!applies((3, 3), (2, 2), (0, 0), (9, 9), (4, 4)));
        assert!(!applies((2, 2), (1, 1), (0, 0), (8, 8), (7, 7)));
        assert!(!applies((2, 2), (2, 2), (0, 0), (7, 7), (4, 4)));
        assert!(applies((2, 2), (2, 2), (0, 0), (7, 7), (3, 3)));
    }
}
