//! [`crate::quant::quantize`] compiled for AVX-512 and for AVX2: the
//! portable loop itself ([`QParams::quantize`] per value, written without
//! a call, a branch or a saturating conversion), which LLVM vectorises to
//! the width the enabled features give: 16 values a step with AVX-512, 8
//! with AVX2, 4 with the SSE2 every x86-64 has. The same operations on
//! every lane, so the same bytes as the portable code.
//!
//! `taskset -c 0 cargo bench -p constnet-runtime --bench int8 -- 'quantize
//! 1024'` (LeNet-5's float input) measures the three.

#![allow(clippy::inline_always)] // The loop must inline into these bodies.

use crate::quant::{quantize_each, QParams};

/// AVX-512F (16 lanes; `vpmovdb` packs them to bytes).
#[target_feature(enable = "avx512f")]
pub(crate) fn avx512(input: &[f32], params: QParams, output: &mut [i8]) {
    quantize_each(input, params, output);
}

/// AVX2 (8 lanes).
#[target_feature(enable = "avx2")]
pub(crate) fn avx2(input: &[f32], params: QParams, output: &mut [i8]) {
    quantize_each(input, params, output);
}

#[cfg(test)]
mod tests {
    use super::{avx2, avx512};
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;
    use crate::simd::{has_avx2_fma, has_avx512};

    /// Each body against [`QParams::quantize`] one value at a time: ties
    /// and their neighbours, values past ±256 and past `i32`, infinities,
    /// NaN and random bit patterns, on lengths with and without a partial
    /// last vector, with scales and zero points that move every edge.
    #[test]
    fn quantize_matches_per_value_on_every_isa() {
        let mut rng = Rng::new(11);
        let mut values = std::vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            2.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            127.5,
            -128.5,
            255.5,
            -256.5,
            3.0e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::MIN_POSITIVE,
        ];
        let n = if cfg!(miri) { 40 } else { 2_000 };
        for _ in 0..n {
            values.push(f32::from_bits(rng.next_u32()));
            values.push((rng.next_u32() % 4_000) as f32 / 8.0 - 250.0);
        }
        for scale in [1.0, 0.5, 0.1, 1.0e-30] {
            for zero_point in [-128, -3, 0, 127] {
                let p = QParams { scale, zero_point };
                for len in [values.len(), 17, 15, 1, 0] {
                    let x = &values[values.len() - len..];
                    let want: std::vec::Vec<i8> = x.iter().map(|&v| p.quantize(v)).collect();
                    let mut got = std::vec![0i8; len];
                    if has_avx512() {
                        // SAFETY: AVX-512F was detected just above.
                        unsafe { avx512(x, p, &mut got) };
                        assert_eq!(got, want, "AVX-512, scale {scale}, zero point {zero_point}");
                    }
                    if has_avx2_fma() {
                        got.fill(0);
                        // SAFETY: AVX2 was detected just above.
                        unsafe { avx2(x, p, &mut got) };
                        assert_eq!(got, want, "AVX2, scale {scale}, zero point {zero_point}");
                    }
                    got.fill(0);
                    crate::quant::quantize(x, p, &mut got);
                    assert_eq!(
                        got, want,
                        "dispatched, scale {scale}, zero point {zero_point}"
                    );
                }
            }
        }
    }
}
