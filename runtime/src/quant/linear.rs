//! int8 fully connected layer, TFLite's `FullyConnectedPerChannel` (per
//! output channel weight scales, symmetric weights): the portable kernel
//! here, `simd::qlinear` (AVX2 `vpmaddwd`, or AVX-512 VNNI `vpdpbusd`)
//! where the CPU has them, and `simd::qdense` (`sxtb16` and `smlad`) on Arm
//! cores with the DSP extension (`thumbv7em`).

use super::Rescale;
use crate::simd::{self, Isa};

/// `torch.nn.Linear` quantized: `output[o] = rescale.store(o, Σ_i
/// weight[o][i] · (input[i] − input_zero))`. PyTorch's weight layout
/// `[out_features, in_features]`: each output reads one contiguous row.
///
/// Checked at compile time: `I > 0`, `O > 0`, and `I · 128 · 255 < 2^31`
/// (the `i32` accumulator cannot overflow).
///
/// ```
/// use constnet_runtime::quant::{linear::linear, Clamp, Requant, Rescale, Rounding};
/// let requant = [Requant::new(1.0), Requant::new(0.5)];
/// let r = Rescale { bias: None, requant: &requant, zero_point: 1, clamp: Clamp::NONE, rounding: Rounding::Single };
/// let mut y = [0i8; 2];
/// linear(&[3, 4, 5], 2, &[[1, 0, -1], [2, 2, 2]], &r, &mut y);
/// // (1 − 3) + 1 = −1; (2 + 4 + 6) · 0.5 + 1 = 7
/// assert_eq!(y, [-1, 7]);
/// ```
pub fn linear<const I: usize, const O: usize>(
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) {
    const {
        assert!(I > 0 && O > 0, "quant::linear: features must be positive");
        assert!(
            I as u64 * 128 * 255 < 1 << 31,
            "quant::linear: too many inputs for an i32 accumulator"
        );
    };
    linear_with(simd::best(), input, input_zero, weight, rescale, output);
}

/// [`linear`] on `isa` (AVX2 and AVX-512 machines take `simd::qlinear`,
/// with VNNI where the CPU has it; the tests run each).
pub(crate) fn linear_with<const I: usize, const O: usize>(
    isa: Isa,
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Portable {
        // SAFETY: `isa` is AVX2 or AVX-512F only when `simd::best` found
        // them on this CPU (or the build enables them), every CPU with
        // AVX-512F has AVX2, and `has_vnni` checks VNNI, VL and BW.
        unsafe {
            if isa == Isa::Avx512 && simd::has_vnni() {
                simd::qlinear::linear_vnni(input, input_zero, weight, rescale, output);
            } else {
                simd::qlinear::linear_avx2(input, input_zero, weight, rescale, output);
            }
        }
        return;
    }
    let _ = isa;
    // Arm: `sxtb16` and `smlad` where the DSP extension is.
    #[cfg(target_arch = "arm")]
    if simd::qdense::linear(input, input_zero, weight, rescale, output) {
        return;
    }
    dots(input, input_zero, weight, rescale, output);
}

/// Each output as `Σ w · x − zp · Σ w`: two plain `i8` dot products, which
/// LLVM turns into widening multiply-adds of pairs (`pmaddwd`), rather
/// than `Σ w · (x − zp)`, which needs every `x − zp` widened to `i32`
/// first. The same integer sum.
#[inline(always)]
fn dots<const I: usize, const O: usize>(
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) {
    let zp = i32::from(input_zero);
    for (o, (y, w)) in output.iter_mut().zip(weight).enumerate() {
        let (mut dot, mut sum) = (0i32, 0i32);
        for (&w, &x) in w.iter().zip(input) {
            dot += i32::from(i16::from(w) * i16::from(x));
            sum += i32::from(w);
        }
        *y = rescale.store(o, dot - zp * sum);
    }
}

#[cfg(test)]
mod tests {
    use super::linear_with;
    use crate::quant::test_util::{bytes, check, multipliers};
    use crate::quant::{Clamp, Requant, Rescale, Rounding};
    use crate::reference::test_util::Rng;
    use crate::simd;

    fn case<const I: usize, const O: usize>(seed: u32, bias: bool, relu: bool) {
        let mut rng = Rng::new(seed);
        let mut x = [0i8; I];
        let mut w = [[0i8; I]; O];
        bytes(&mut rng, &mut x, -128, 127);
        bytes(&mut rng, w.as_flattened_mut(), -127, 127);
        let zp = bytes_one(&mut rng);
        let b: [i32; O] = core::array::from_fn(|_| (rng.next_u32() % 4001) as i32 - 2000);
        let acc: std::vec::Vec<i64> = w
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&x)
                    .map(|(&w, &x)| i64::from(w) * (i64::from(x) - i64::from(zp)))
                    .sum()
            })
            .collect();
        let zero = [0i32; O];
        let real = multipliers(&mut rng, &acc, if bias { &b } else { &zero });
        let requant = real.map(Requant::new);
        let out_zp = bytes_one(&mut rng) / 4;
        let clamp = if relu {
            Clamp {
                min: out_zp,
                max: i8::MAX,
            }
        } else {
            Clamp::NONE
        };
        let r = Rescale {
            bias: bias.then_some(&b),
            requant: &requant,
            zero_point: out_zp,
            clamp,
            rounding: Rounding::Single,
        };
        for isa in crate::quant::test_util::isas() {
            let mut y = [0i8; O];
            linear_with(isa, &x, zp, &w, &r, &mut y);
            check(&y, &acc, &r, &real, "linear");
        }
        // Arm's DSP kernel (portable code off Arm) takes up to 1,024 inputs.
        let mut y = [0i8; O];
        let taken = simd::qdense::linear(&x, zp, &w, &r, &mut y);
        assert_eq!(taken, I <= 2 * simd::qdense::XWORDS, "qdense taken");
        if taken {
            check(&y, &acc, &r, &real, "linear (qdense)");
        } else {
            assert!(y.iter().all(|&v| v == 0));
        }
    }

    fn bytes_one(rng: &mut Rng) -> i8 {
        let mut b = [0i8];
        bytes(rng, &mut b, -128, 127);
        b[0]
    }

    #[test]
    fn linear_matches_the_sum_and_the_real_product_on_every_isa() {
        case::<120, 84>(12, true, false);
        case::<84, 10>(13, false, false);
        case::<1, 3>(14, true, false);
        // Too slow under Miri: LeNet-5's fc1, the autoencoder's first layer.
        if !cfg!(miri) {
            case::<400, 120>(11, true, true);
            case::<640, 128>(15, true, true);
            // More inputs than the DSP kernel's buffer: declined.
            case::<1030, 2>(16, true, false);
        }
        // Every remainder of the inputs' groups of four.
        case::<5, 2>(17, true, false);
        case::<6, 3>(18, false, true);
        case::<7, 1>(19, true, false);
    }
}
