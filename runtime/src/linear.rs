//! Fully connected layer, `torch.nn.Linear` on one sample.
//!
//! # Algorithm
//!
//! A matrix-vector product over the weight rows, which are contiguous
//! (`[out_features, in_features]`). On x86-64 CPUs with AVX-512F or
//! AVX2 + FMA (detected at run time with the `std` feature, chosen at
//! compile time without it) eight rows are processed at once with explicit
//! SIMD: each input vector is loaded once for eight rows' fused
//! multiply-adds, and the eight sums are reduced together at the end (see
//! `simd/linear.rs` in the sources). Elsewhere the portable `dot` below
//! runs once per row.
//!
//! # Summation order
//!
//! Each output is one dot product of a weight row with the input. A single
//! running sum would force LLVM to keep the additions in order (it may not
//! reassociate floating point), which serialises the loop on the latency of
//! one add. Instead the portable dot product keeps [`LANES`] independent
//! partial sums: element `i` goes to partial sum `i % LANES`, the partial
//! sums are combined pairwise, and the `I % LANES` leftover products are
//! added last. That order is fixed and written out, so LLVM turns the loop
//! into plain SIMD multiplies and adds (two 4-wide or one 8-wide
//! accumulator) without any fast-math licence, and the result is the same on
//! every target that runs it. The explicit-SIMD paths keep 16 (AVX-512) or
//! 8 (AVX2) partial sums with fused multiply-adds, so their results differ
//! from the portable ones in the last bits.
//!
//! PyTorch computes the same sums through a BLAS `gemm`/`gemv` with its own
//! blocking, so results agree to rounding, not bit for bit.

#![allow(clippy::doc_markdown)] // "PyTorch" and "NaN" are names, not code.
#![deny(clippy::undocumented_unsafe_blocks)]
pub use crate::act::PostAct;
use crate::simd::{self, Isa};
use crate::tensor::head;

/// The number of independent partial sums in a dot product: one AVX
/// register, or two SSE/NEON registers.
pub const LANES: usize = 8;

/// `Σ a[i]·b[i]` with [`LANES`] partial sums; see the module docs for the
/// exact order.
#[inline]
fn dot<const N: usize>(a: &[f32; N], b: &[f32; N]) -> f32 {
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (xs, ys) in a_chunks.iter().zip(b_chunks) {
        for ((s, &x), &y) in acc.iter_mut().zip(xs).zip(ys) {
            *s += x * y;
        }
    }
    let mut tail = 0.0f32;
    for (&x, &y) in a_rest.iter().zip(b_rest) {
        tail += x * y;
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7] = acc;
    (((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))) + tail
}

/// `torch.nn.Linear(I, O, bias=bias.is_some())` on one sample:
/// `output[o] = Σ_i weight[o][i] · input[i] + bias[o]`.
///
/// `weight` has PyTorch's layout `[out_features, in_features]`, so each
/// output reads one contiguous weight row: the whole layer is one pass over
/// the weights, and the input (`I` floats) stays in L1. `output` is fully
/// overwritten.
///
/// Checked at compile time: `I > 0` and `O > 0` (the array types already
/// tie the other sizes together).
///
/// ```
/// use constnet_runtime::linear::linear;
/// let x = [1.0, 2.0, 3.0];
/// let w = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]];
/// let mut y = [0.0f32; 2];
/// linear(&x, &w, Some(&[10.0, 0.0]), &mut y);
/// assert_eq!(y, [8.0, 3.0]);
/// ```
#[inline]
pub fn linear<const I: usize, const O: usize>(
    input: &[f32; I],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    output: &mut [f32; O],
) {
    linear_fused(input, weight, bias, PostAct::None, output);
}

/// [`linear`] followed by the activation `act`, applied as each output is
/// stored: `output[o] = act(Σ_i weight[o][i] · input[i] + bias[o])`, the
/// same bits as [`linear`] followed by the standalone activation
/// ([`crate::act::relu`]…) on the same CPU.
///
/// ```
/// use constnet_runtime::linear::{linear_fused, PostAct};
/// let x = [1.0, 2.0, 3.0];
/// let w = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]];
/// let mut y = [0.0f32; 2];
/// linear_fused(&x, &w, None, PostAct::Relu, &mut y);
/// assert_eq!(y, [0.0, 3.0]);
/// ```
#[inline]
pub fn linear_fused<const I: usize, const O: usize>(
    input: &[f32; I],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    act: PostAct,
    output: &mut [f32; O],
) {
    const {
        assert!(
            I > 0 && O > 0,
            "linear: in_features and out_features must be positive"
        );
    };
    linear_with(simd::best(), input, weight, bias, act, output);
}

/// [`linear_fused`] on many samples at once: for every `s`,
/// `outputs[s][..O] = act(weight · inputs[s][..I] + bias)`, the rest of
/// each output row left as it was. Each output has the bits
/// [`linear_fused`] gives that sample alone on the same CPU: the batch
/// changes which weights are in cache, not the arithmetic.
///
/// Rows are `W` floats wide (`I <= W` and `O <= W`, checked at compile
/// time), so that two buffers of `[f32; W]` rows serve every layer of a
/// network in turn. With one sample the weights are streamed once per
/// sample and the layer waits on memory; here each block of weight rows is
/// loaded once and used for every sample (see `simd/linear.rs` in the
/// sources).
///
/// # Panics
///
/// If `inputs` and `outputs` differ in length.
///
/// ```
/// use constnet_runtime::linear::{linear_batch, PostAct};
/// let w = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]];
/// let xs = [[1.0, 2.0, 3.0], [4.0, 0.0, 2.0]];
/// let mut ys = [[0.0f32; 3]; 2];
/// linear_batch(&xs, &w, None, PostAct::Relu, &mut ys);
/// assert_eq!(ys, [[0.0, 3.0, 0.0], [2.0, 3.0, 0.0]]);
/// ```
#[inline]
pub fn linear_batch<const I: usize, const O: usize, const W: usize>(
    inputs: &[[f32; W]],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    act: PostAct,
    outputs: &mut [[f32; W]],
) {
    const {
        assert!(
            I > 0 && O > 0,
            "linear: in_features and out_features must be positive"
        );
        assert!(
            I <= W && O <= W,
            "linear_batch: rows narrower than the layer"
        );
    };
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "linear_batch: {} inputs but {} outputs",
        inputs.len(),
        outputs.len()
    );
    linear_batch_with(simd::best(), inputs, weight, bias, act, outputs);
}

/// [`linear_batch`] on the SIMD body of `isa` if the CPU has it, else
/// the portable body, one weight row at a time for every sample.
#[inline]
fn linear_batch_with<const I: usize, const O: usize, const W: usize>(
    isa: Isa,
    inputs: &[[f32; W]],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    act: PostAct,
    outputs: &mut [[f32; W]],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::linear::avx512::linear_batch(inputs, weight, bias, act, outputs) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::linear::avx2::linear_batch(inputs, weight, bias, act, outputs) };
        }
        _ => {
            let mut biases = bias.into_iter().flatten();
            for (o, row) in weight.iter().enumerate() {
                let b = biases.next().copied().unwrap_or(0.0);
                for (x, y) in inputs.iter().zip(outputs.iter_mut()) {
                    y[o] = act.apply(dot(row, head(x)) + b);
                }
            }
        }
    }
}

/// [`linear_fused`] on the SIMD body of `isa` if the CPU has it, else
/// [`linear_portable`].
#[inline]
fn linear_with<const I: usize, const O: usize>(
    isa: Isa,
    input: &[f32; I],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    act: PostAct,
    output: &mut [f32; O],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::linear::avx512::linear(input, weight, bias, act, output) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::linear::avx2::linear(input, weight, bias, act, output) };
        }
        _ => linear_portable(input, weight, bias, act, output),
    }
}

/// The portable body of [`linear_fused`]: one [`dot`] per output.
#[inline]
fn linear_portable<const I: usize, const O: usize>(
    input: &[f32; I],
    weight: &[[f32; I]; O],
    bias: Option<&[f32; O]>,
    act: PostAct,
    output: &mut [f32; O],
) {
    let mut biases = bias.into_iter().flatten();
    for (y, row) in output.iter_mut().zip(weight) {
        let b = biases.next().copied().unwrap_or(0.0);
        *y = act.apply(dot(row, input) + b);
    }
}

#[cfg(test)]
// Hand-worked values are exact, so exact comparisons are intended; test
// tensors of a few tens of KiB on the stack are fine.
#[allow(
    clippy::float_cmp,
    clippy::large_stack_arrays,
    clippy::cast_precision_loss
)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::reference::test_util::{assert_close, Rng};

    #[test]
    fn hand_worked() {
        let x = [1.0, 2.0, 3.0];
        let w = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]];
        let mut y = [f32::NAN; 2];
        linear(&x, &w, None, &mut y);
        assert_eq!(y, [-2.0, 3.0]);
        linear(&x, &w, Some(&[10.0, -3.0]), &mut y);
        assert_eq!(y, [8.0, 0.0]);
        // 1 → 1.
        let mut y = [0.0f32];
        linear(&[3.0], &[[-2.0]], Some(&[0.5]), &mut y);
        assert_eq!(y, [-5.5]);
    }

    #[test]
    fn dot_order_is_exact_for_integers() {
        // Values whose sums are exact in f32: any order gives the same.
        let a: [f32; 19] = core::array::from_fn(|i| i as f32);
        let b = [2.0f32; 19];
        assert_eq!(dot(&a, &b), 2.0 * f32::from((0..19).sum::<u16>()));
    }

    macro_rules! linear_case {
        ($f:expr, $seed:expr; I=$i:literal O=$o:literal bias=$bias:literal) => {{
            const I: usize = $i;
            const O: usize = $o;
            let mut rng = Rng::new($seed);
            let mut x = [0.0f32; I];
            rng.fill(&mut x);
            let mut w = [[0.0f32; I]; O];
            rng.fill(w.as_flattened_mut());
            let mut b = [0.0f32; O];
            rng.fill(&mut b);
            let bias: Option<&[f32; O]> = if $bias { Some(&b) } else { None };
            let mut y = [f32::NAN; O];
            $f(&x, &w, bias, PostAct::None, &mut y);
            let mut expected = std::vec![0.0f32; O];
            reference::linear(&x, w.as_flattened(), bias.map(|b| b.as_slice()), &mut expected);
            assert_close(&y, &expected, stringify!(linear $f I=$i O=$o));
        }};
    }

    /// Every shape, through `$f`: sizes around the vector widths (8, 16)
    /// and the row blocks (8, 4, 2, 1 rows), and LeNet's layers. Under Miri,
    /// which is some thousands of times slower, the large shapes have
    /// smaller twins, still with full vectors, a tail, and several row
    /// blocks.
    macro_rules! linear_cases {
        ($f:expr) => {{
            linear_case!($f, 1; I=1 O=1 bias=true);
            linear_case!($f, 2; I=1 O=5 bias=false);
            linear_case!($f, 3; I=7 O=3 bias=true);
            linear_case!($f, 4; I=8 O=8 bias=true);
            linear_case!($f, 5; I=9 O=2 bias=false);
            linear_case!($f, 6; I=16 O=1 bias=true);
            linear_case!($f, 7; I=17 O=7 bias=true);
            #[cfg(not(miri))]
            linear_case!($f, 8; I=400 O=120 bias=true);
            #[cfg(miri)]
            linear_case!($f, 8; I=40 O=12 bias=true);
            #[cfg(not(miri))]
            linear_case!($f, 9; I=120 O=84 bias=true);
            #[cfg(miri)]
            linear_case!($f, 9; I=24 O=13 bias=true);
            linear_case!($f, 10; I=84 O=10 bias=true);
            #[cfg(not(miri))]
            linear_case!($f, 11; I=1023 O=5 bias=true);
            #[cfg(miri)]
            linear_case!($f, 11; I=127 O=5 bias=true);
            #[cfg(not(miri))]
            linear_case!($f, 12; I=1024 O=3 bias=false);
            #[cfg(miri)]
            linear_case!($f, 12; I=128 O=3 bias=false);
            #[cfg(not(miri))]
            linear_case!($f, 13; I=3 O=1023 bias=true);
            #[cfg(miri)]
            linear_case!($f, 13; I=3 O=63 bias=true);
            linear_case!($f, 14; I=15 O=15 bias=true);
            linear_case!($f, 15; I=31 O=9 bias=false);
            linear_case!($f, 16; I=32 O=16 bias=true);
            linear_case!($f, 17; I=33 O=17 bias=true);
            linear_case!($f, 18; I=47 O=14 bias=true);
            linear_case!($f, 19; I=2 O=13 bias=false);
            linear_case!($f, 20; I=100 O=11 bias=true);
        }};
    }

    /// `linear_fused` with each activation is `linear` followed by the
    /// standalone activation, bit for bit, on every instruction set and on
    /// both sides of the 8-row blocks.
    #[test]
    fn fused_activation_is_the_unfused_sequence() {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            }
            if simd::has_avx512() {
                isas.push(Isa::Avx512);
            }
        }
        type Standalone = fn(&mut [f32]);
        let acts: [(PostAct, Standalone); 6] = [
            (PostAct::None, |_| {}),
            (PostAct::Relu, crate::act::relu),
            (PostAct::Relu6, crate::act::relu6),
            (PostAct::LeakyRelu(0.2), |x| crate::act::leaky_relu(x, 0.2)),
            (PostAct::Hardswish, crate::act::hardswish),
            (PostAct::Hardsigmoid, crate::act::hardsigmoid),
        ];
        macro_rules! case {
            ($seed:expr; I=$i:literal O=$o:literal) => {{
                let mut rng = Rng::new($seed);
                let mut x = [0.0f32; $i];
                rng.fill(&mut x);
                // Sums of a few units: every kink of the activations is hit.
                x.iter_mut().for_each(|v| *v *= 4.0);
                let mut w = [[0.0f32; $i]; $o];
                rng.fill(w.as_flattened_mut());
                let mut b = [0.0f32; $o];
                rng.fill(&mut b);
                for &isa in &isas {
                    for (act, standalone) in acts {
                        let mut fused = [f32::NAN; $o];
                        linear_with(isa, &x, &w, Some(&b), act, &mut fused);
                        let mut unfused = [f32::NAN; $o];
                        linear_with(isa, &x, &w, Some(&b), PostAct::None, &mut unfused);
                        standalone(&mut unfused);
                        assert_eq!(
                            fused.map(f32::to_bits),
                            unfused.map(f32::to_bits),
                            "{isa:?} {act:?} I={} O={}",
                            $i,
                            $o
                        );
                    }
                }
            }};
        }
        case!(1; I=7 O=3);
        case!(2; I=16 O=8);
        case!(3; I=33 O=15);
        // Under Miri (every operation interpreted), the small cases only.
        #[cfg(not(miri))]
        case!(4; I=120 O=84);
        #[cfg(not(miri))]
        case!(5; I=400 O=23);
    }

    /// `linear_batch` gives each sample the bits `linear_fused` gives it
    /// alone, on every instruction set, for every activation, for batches
    /// of 0 to 9 samples (whole groups of 3 or 4 and every remainder), on
    /// both sides of the 8-row blocks and of the vector width; the rest of
    /// each output row is left untouched.
    #[test]
    fn batch_matches_single_on_every_isa() {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            }
            if simd::has_avx512() {
                isas.push(Isa::Avx512);
            }
        }
        let acts = [
            PostAct::None,
            PostAct::Relu,
            PostAct::Relu6,
            PostAct::LeakyRelu(0.2),
            PostAct::Hardswish,
            PostAct::Hardsigmoid,
        ];
        // Under Miri (every operation interpreted), the batch sizes that
        // still leave every remainder after groups of 3 (AVX2) and 4
        // (AVX-512F), and two activations.
        let batches: &[usize] = if cfg!(miri) {
            &[0, 1, 5, 6, 7]
        } else {
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        };
        macro_rules! case {
            ($seed:expr; I=$i:literal O=$o:literal W=$w:literal bias=$bias:literal) => {{
                const I: usize = $i;
                const O: usize = $o;
                const W: usize = $w;
                let mut rng = Rng::new($seed);
                let mut xs = [[0.0f32; W]; 9];
                rng.fill(xs.as_flattened_mut());
                xs.as_flattened_mut().iter_mut().for_each(|v| *v *= 4.0);
                let mut w = [[0.0f32; I]; O];
                rng.fill(w.as_flattened_mut());
                let mut b = [0.0f32; O];
                rng.fill(&mut b);
                let bias: Option<&[f32; O]> = if $bias { Some(&b) } else { None };
                for &isa in &isas {
                    for act in acts.into_iter().step_by(if cfg!(miri) { 4 } else { 1 }) {
                        for n in batches.iter().copied() {
                            let mut ys = [[-7.5f32; W]; 9];
                            linear_batch_with(isa, &xs[..n], &w, bias, act, &mut ys[..n]);
                            for (s, (x, y)) in xs.iter().zip(&ys).enumerate() {
                                let mut alone = [f32::NAN; O];
                                linear_with(isa, head::<I, W>(x), &w, bias, act, &mut alone);
                                let want: std::vec::Vec<u32> = if s < n {
                                    alone.iter().map(|v| v.to_bits()).collect()
                                } else {
                                    std::vec![(-7.5f32).to_bits(); O]
                                };
                                let got: std::vec::Vec<u32> = y[..O].iter().map(|v| v.to_bits()).collect();
                                assert_eq!(got, want, "{isa:?} {act:?} I={I} O={O} n={n} sample {s}");
                                assert!(y[O..].iter().all(|&v| v == -7.5), "{isa:?} row tail, sample {s}");
                            }
                        }
                    }
                }
            }};
        }
        case!(1; I=7 O=3 W=7 bias=true);
        case!(2; I=16 O=8 W=20 bias=false);
        case!(3; I=33 O=15 W=40 bias=true);
        case!(4; I=9 O=24 W=24 bias=true);
        // Under Miri (every operation interpreted), the small cases only.
        #[cfg(not(miri))]
        case!(5; I=640 O=128 W=640 bias=true);
        #[cfg(not(miri))]
        case!(6; I=128 O=8 W=128 bias=true);
        #[cfg(not(miri))]
        case!(7; I=8 O=130 W=130 bias=false);
        #[cfg(not(miri))]
        case!(8; I=120 O=84 W=128 bias=true);
    }

    #[test]
    fn matches_reference() {
        linear_cases!(|x, w, b, _, y| linear(x, w, b, y));
        linear_cases!(linear_fused);
    }

    #[test]
    fn portable_matches_reference() {
        linear_cases!(|x, w, b, a, y| linear_with(Isa::Portable, x, w, b, a, y));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_matches_reference() {
        if !simd::has_avx2_fma() {
            std::eprintln!("skipped: this CPU has no AVX2+FMA");
            return;
        }
        linear_cases!(|x, w, b, a, y| linear_with(Isa::Avx2, x, w, b, a, y));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_matches_reference() {
        if !simd::has_avx512() {
            std::eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        linear_cases!(|x, w, b, a, y| linear_with(Isa::Avx512, x, w, b, a, y));
    }
}
