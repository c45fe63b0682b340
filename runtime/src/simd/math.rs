//! Vectorised transcendental functions, written once over [`Simd`] and
//! instantiated for the portable path ([`Scalar`], one `f32` at a time, in
//! loops LLVM vectorises and that a Cortex-M4F runs as straight-line FPU
//! code) and for the AVX2+FMA and AVX-512 tokens of [`super::lanes`].
//!
//! # Method
//!
//! Every function is range reduction, a polynomial or rational
//! approximation with published coefficients, and reconstruction, with
//! branches replaced by computing each case and selecting per lane:
//!
//! - [`exp`]: `n = round(x·log₂e)` by the `1.5·2²³` trick, `r = x − n·ln 2`
//!   with Cody and Waite's two-constant split (`n·C₁` is exact: `C₁` has 9
//!   significant bits), `eʳ = 1 + r + r²·P(r)` with Cephes' degree-5
//!   minimax `P` on `|r| ≤ ln2/2`, and `2ⁿ` applied as `2^⌊n/2⌋ · 2^⌈n/2⌉`
//!   so that the subnormal results (`−103.97 < x < −87.34`) round once and
//!   `x` up to `ln(f32::MAX)` does not overflow early. `x` is clamped to
//!   `[−104, 89]` first (with NaN kept), which gives `0` and `+inf` past the
//!   ends.
//! - [`expm1`]: the same reduction; `eˣ − 1 = 2·(2ⁿ⁻¹·u + (2ⁿ⁻¹ − ½))`
//!   with `u = r + r²·P(r) = eʳ − 1`, one fused multiply-add, so no
//!   cancellation for small `x`; `|x| < 2⁻²⁵` returns `x` (the correctly
//!   rounded result, and it keeps `−0`).
//! - [`tanh`]: `x + x·z·T(z)`, `z = x²`, with Cephes' degree-4 `T` for
//!   `|x| < 0.625` (relative accuracy down to the subnormals, `tanh(±0) =
//!   ±0`), else `±(1 − 2/(e^{2|x|} + 1))`, which saturates to exactly `±1`
//!   by itself (`e^{2|x|}` overflows to `inf` and `2/inf = 0`).
//! - [`sigmoid`]: PyTorch's `1/(1 + e⁻ˣ)` with [`exp`]; `0` and `1` at the
//!   ends by the same overflow and underflow as the `libm` formula.
//! - [`erf`]: the FreeBSD/musl `erff` (the one `libm` ports), with its three
//!   rational approximations (`|x| < 0.84375`: `x + x·P/Q(x²)`; below
//!   `1.25`: `erx + P/Q(|x| − 1)`; above: `1 − e^{−x² − 0.5625 + R/S(1/x²)}/|x|`,
//!   with its two coefficient sets for `R/S` chosen per lane) evaluated
//!   together and selected per lane, with one division for the three
//!   quotients. In the tail one [`exp`] of the fused `−x·x − 0.5625 + R/S`
//!   replaces musl's split product of two, which keeps `erfc` within 10⁻⁶
//!   relative and `erf = 1 − erfc` far below an ulp.
//!
//! The SIMD tokens fuse every [`Simd::mul_add`]; [`Scalar`] rounds the
//! product and the sum separately (no `fma` without `std`, and none in the
//! Cortex-M4F's single-precision FPU path LLVM would use), so the portable
//! results differ from the SIMD ones in the last bit at times. Both are
//! tested against `libm` over the whole `f32` range (see `act.rs`'s tests);
//! each public activation's doc comment states its measured error.
//!
//! # NaN and special values
//!
//! Clamps are written `min(hi, max(lo, x))` with [`Simd::max`] /
//! [`Simd::min`] returning their *second* operand when the comparison is
//! false, so a NaN `x` passes through every clamp and poisons the result;
//! the integer bit manipulations then work on garbage, but a NaN times any
//! scale is NaN. Integer arithmetic wraps (it must not panic in debug
//! builds on such garbage).

#![allow(clippy::excessive_precision)] // Coefficients as published.
#![allow(clippy::unreadable_literal)] // Coefficients as published.
#![allow(clippy::inline_always)] // Must inline into #[target_feature] callers.

/// An instruction set's `f32` vector: `LANES` floats per [`Simd::V`].
///
/// A value of an implementing type is a token: the SIMD ones can only be
/// made where the CPU has their features, so their methods may use the
/// intrinsics. Every method is `#[inline(always)]`: the generic functions
/// below are inlined into a `#[target_feature]` function, where LLVM then
/// inlines the intrinsics.
pub(crate) trait Simd: Copy {
    /// `LANES` floats.
    type V: Copy;
    /// `LANES` 32-bit integers.
    type I: Copy;
    /// A per-lane condition.
    type M: Copy;
    /// Lanes per vector.
    const LANES: usize;

    /// Every lane `v`.
    fn splat(self, v: f32) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`, correctly rounded.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`, fused where the instruction set has FMA.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a > b ? a : b` (`b` when either is NaN), as `maxps`.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? a : b` (`b` when either is NaN), as `minps`.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b` (false for NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a > b` (false for NaN).
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a` is NaN.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // Used by the x86 pools.
    fn is_nan(self, a: Self::V) -> Self::M;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;
    /// The bits of each lane.
    fn to_bits(self, v: Self::V) -> Self::I;
    /// The float with these bits in each lane.
    fn bits_to_f32(self, i: Self::I) -> Self::V;
    /// Every lane `v`.
    fn isplat(self, v: i32) -> Self::I;
    /// `a + b`, wrapping.
    fn iadd(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a − b`, wrapping.
    fn isub(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a & b`.
    fn iand(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a | b`.
    fn ior(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a << 23`, the exponent field's position.
    fn shl23(self, a: Self::I) -> Self::I;
    /// `a >> 1`, arithmetic (rounds towards −∞).
    fn sar1(self, a: Self::I) -> Self::I;

    /// Applies `f` to every element of `x`, `LANES` at a time, the last
    /// partial vector padded (the padding lanes' results are dropped).
    fn map(self, x: &mut [f32], f: impl Lanewise<Self>);
    /// The first `min(x.len(), LANES)` elements of `x`, the other lanes
    /// `fill`.
    fn load_or(self, x: &[f32], fill: f32) -> Self::V;
    /// Stores the first `min(x.len(), LANES)` lanes of `v` into `x`.
    fn store(self, v: Self::V, x: &mut [f32]);

    /// `f` folded over the lanes of `v`, lane 0 first.
    #[inline(always)]
    fn reduce(self, v: Self::V, f: impl Fn(f32, f32) -> f32) -> f32 {
        let mut buf = [0.0f32; 16];
        self.store(v, &mut buf);
        let lanes = buf.get(..Self::LANES).unwrap_or_default();
        lanes.iter().copied().reduce(f).unwrap_or(0.0)
    }
}

/// A function of one vector, for [`Simd::map`]. A trait with an
/// `#[inline(always)]` method rather than a closure: a closure (or a
/// function item passed as `impl Fn`) is reached through a call shim that
/// LLVM need not inline, and inside it the SIMD intrinsics, compiled
/// without the caller's target features, would stay calls.
pub(crate) trait Lanewise<S: Simd>: Copy {
    /// The function of `v`.
    fn at(self, s: S, v: S::V) -> S::V;
}

/// The portable instruction set: one `f32` per "vector". Generic code over
/// `Scalar` is the plain scalar formula, with branches as selects that LLVM
/// turns into vector blends when it vectorises the loops of [`Simd::map`].
#[derive(Clone, Copy)]
pub(crate) struct Scalar;

impl Simd for Scalar {
    type V = f32;
    type I = i32;
    type M = bool;
    const LANES: usize = 1;

    #[inline(always)]
    fn splat(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        // Unfused: `core` has no `fma` (and `libm::fmaf` is a software
        // routine where the target has no FMA instruction).
        a * b + c
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn gt(self, a: f32, b: f32) -> bool {
        a > b
    }
    #[inline(always)]
    fn is_nan(self, a: f32) -> bool {
        a.is_nan()
    }
    #[inline(always)]
    fn select(self, m: bool, a: f32, b: f32) -> f32 {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_wrap)] // Bits, reinterpreted.
    fn to_bits(self, v: f32) -> i32 {
        v.to_bits() as i32
    }
    #[inline(always)]
    #[allow(clippy::cast_sign_loss)] // Bits, reinterpreted.
    fn bits_to_f32(self, i: i32) -> f32 {
        f32::from_bits(i as u32)
    }
    #[inline(always)]
    fn isplat(self, v: i32) -> i32 {
        v
    }
    #[inline(always)]
    fn iadd(self, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn isub(self, a: i32, b: i32) -> i32 {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn iand(self, a: i32, b: i32) -> i32 {
        a & b
    }
    #[inline(always)]
    fn ior(self, a: i32, b: i32) -> i32 {
        a | b
    }
    #[inline(always)]
    fn shl23(self, a: i32) -> i32 {
        a.wrapping_shl(23)
    }
    #[inline(always)]
    fn sar1(self, a: i32) -> i32 {
        a >> 1
    }
    #[inline(always)]
    fn map(self, x: &mut [f32], f: impl Lanewise<Self>) {
        for v in x {
            *v = f.at(self, *v);
        }
    }
    #[inline(always)]
    fn load_or(self, x: &[f32], fill: f32) -> f32 {
        x.first().copied().unwrap_or(fill)
    }
    #[inline(always)]
    fn store(self, v: f32, x: &mut [f32]) {
        if let Some(d) = x.first_mut() {
            *d = v;
        }
    }
}

/// The sign bit.
const SIGN: i32 = i32::MIN;

/// `|x|`.
#[inline(always)]
pub(crate) fn abs<S: Simd>(s: S, x: S::V) -> S::V {
    s.bits_to_f32(s.iand(s.to_bits(x), s.isplat(!SIGN)))
}

/// `|mag|` with the sign of `sign`.
#[inline(always)]
fn copysign<S: Simd>(s: S, mag: S::V, sign: S::V) -> S::V {
    let m = s.iand(s.to_bits(mag), s.isplat(!SIGN));
    s.bits_to_f32(s.ior(m, s.iand(s.to_bits(sign), s.isplat(SIGN))))
}

/// `1.5·2²³`: adding it rounds any `|v| < 2²²` to an integer (ties to
/// even), which then sits in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// Cody–Waite split of `ln 2` (Cephes): `C1` has 9 significant bits, so
/// `n·C1` is exact for `|n| < 2¹⁵`; `C1 + C2` is `ln 2` to about 2⁻³⁴.
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_400_5e-4;

/// `(n, r, u)` with `x = n·ln 2 + r`, `|r| ≲ ln2/2`, and `u = eʳ − 1`
/// (Cephes' minimax polynomial, relative error below 2⁻²⁴ on the range):
/// the shared core of [`exp`] and [`expm1`]. `x` must already be clamped so
/// that `|n| < 2²²`; `n` is returned as an integer vector.
#[inline(always)]
fn reduce<S: Simd>(s: S, x: S::V) -> (S::I, S::V, S::V) {
    let t = s.mul_add(x, s.splat(core::f32::consts::LOG2_E), s.splat(ROUND));
    let nf = s.sub(t, s.splat(ROUND));
    let n = s.isub(s.to_bits(t), s.to_bits(s.splat(ROUND)));
    let r = s.mul_add(nf, s.splat(-LN2_HI), x);
    let r = s.mul_add(nf, s.splat(-LN2_LO), r);
    let mut p = s.splat(1.987_569_150_0e-4);
    p = s.mul_add(p, r, s.splat(1.398_199_950_7e-3));
    p = s.mul_add(p, r, s.splat(8.333_451_907_3e-3));
    p = s.mul_add(p, r, s.splat(4.166_579_589_4e-2));
    p = s.mul_add(p, r, s.splat(1.666_666_545_9e-1));
    p = s.mul_add(p, r, s.splat(5.000_000_120_1e-1));
    let u = s.mul_add(p, s.mul(r, r), r);
    (n, r, u)
}

/// `2ᵏ` for `−126 ≤ k ≤ 127`, from its exponent field.
#[inline(always)]
fn pow2i<S: Simd>(s: S, k: S::I) -> S::V {
    s.bits_to_f32(s.shl23(s.iadd(k, s.isplat(127))))
}

/// `eˣ`; see the module docs.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let x = s.min(s.splat(89.0), s.max(s.splat(-104.0), x));
    let (n, _, u) = reduce(s, x);
    let y = s.add(s.splat(1.0), u);
    // n ∈ [−150, 128]: both halves in [−75, 64].
    let n1 = s.sar1(n);
    let n2 = s.isub(n, n1);
    s.mul(s.mul(y, pow2i(s, n1)), pow2i(s, n2))
}

/// `eˣ − 1`; see the module docs.
#[inline(always)]
pub(crate) fn expm1<S: Simd>(s: S, x: S::V) -> S::V {
    // Below −80 the result is −1 (e⁻⁸⁰ < 2⁻¹¹⁵); n stays in [−116, 128].
    let xc = s.min(s.splat(89.0), s.max(s.splat(-80.0), x));
    let (n, _, u) = reduce(s, xc);
    // h = 2ⁿ⁻¹ ∈ [2⁻¹¹⁷, 2¹²⁷]; h − ½ is exact for n ≤ 25 and rounds to h
    // above, where it no longer matters; ·2 is exact (or overflows to inf).
    let h = pow2i(s, s.isub(n, s.isplat(1)));
    let y = s.mul_add(h, u, s.sub(h, s.splat(0.5)));
    let y = s.add(y, y);
    // Tiny x: expm1(x) rounds to x (and −0 stays −0, subnormals exact).
    s.select(s.lt(abs(s, x), s.splat(2.980_232_2e-8)), x, y)
}

/// `tanh(x)`; see the module docs.
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let ax = abs(s, x);
    // |x| < 0.625: x + x·z·T(z) (Cephes tanhf).
    let z = s.mul(x, x);
    let mut p = s.splat(-5.704_988_727_45e-3);
    p = s.mul_add(p, z, s.splat(2.063_908_879_54e-2));
    p = s.mul_add(p, z, s.splat(-5.373_971_555_31e-2));
    p = s.mul_add(p, z, s.splat(1.333_144_220_36e-1));
    p = s.mul_add(p, z, s.splat(-3.333_328_194_22e-1));
    let small = s.mul_add(s.mul(p, z), x, x);
    // Otherwise 1 − 2/(e^{2|x|} + 1), with the sign of x.
    let e = exp(s, s.add(ax, ax));
    let big = s.sub(s.splat(1.0), s.div(s.splat(2.0), s.add(e, s.splat(1.0))));
    // NaN: `ax < 0.625` is false, and `big` is NaN. The sign of x also
    // makes tanh(−0) = −0 (the sum `x·z·T + x` gives +0 there).
    copysign(s, s.select(s.lt(ax, s.splat(0.625)), small, big), x)
}

/// `1/(1 + e⁻ˣ)`, PyTorch's formula.
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    s.div(one, s.add(one, exp(s, s.sub(s.splat(0.0), x))))
}

/// Horner's rule: `c[0] + v·(c[1] + v·(…))`.
#[inline(always)]
fn horner<S: Simd, const N: usize>(s: S, v: S::V, c: [f32; N]) -> S::V {
    let (&last, rest) = c.split_last().expect("at least one coefficient");
    let mut p = s.splat(last);
    for &k in rest.iter().rev() {
        p = s.mul_add(p, v, s.splat(k));
    }
    p
}

/// Per lane, `a` where `m` holds, else `b`.
#[inline(always)]
fn pick9<S: Simd>(s: S, m: S::M, a: [f32; 9], b: [f32; 9]) -> [S::V; 9] {
    let mut out = [s.splat(0.0); 9];
    for ((o, &a), &b) in out.iter_mut().zip(&a).zip(&b) {
        *o = s.select(m, s.splat(a), s.splat(b));
    }
    out
}

/// Horner's rule with per-lane coefficients.
#[inline(always)]
fn horner9<S: Simd>(s: S, v: S::V, c: [S::V; 9]) -> S::V {
    let mut p = c[8];
    for &k in c[..8].iter().rev() {
        p = s.mul_add(p, v, k);
    }
    p
}

/// `erf(x)`; see the module docs. Coefficients from FreeBSD's `s_erff.c`.
#[inline(always)]
pub(crate) fn erf<S: Simd>(s: S, x: S::V) -> S::V {
    const ERX: f32 = 8.450_629_115_1e-1;
    let one = s.splat(1.0);
    let ax = abs(s, x);
    let is_small = s.lt(ax, s.splat(0.843_75));
    let is_mid = s.lt(ax, s.splat(1.25));
    // |x| < 0.84375: erf = x + x·(P/Q)(x²).
    let z = s.mul(x, x);
    let p_small = horner(
        s,
        z,
        [
            1.283_791_661_3e-1,
            -3.250_420_987_6e-1,
            -2.848_174_981_8e-2,
            -5.770_270_247_0e-3,
            -2.376_301_745_2e-5,
        ],
    );
    let q_small = horner(
        s,
        z,
        [
            1.0,
            3.979_172_110_6e-1,
            6.502_225_250_0e-2,
            5.081_306_211_7e-3,
            1.324_947_370_4e-4,
            -3.960_228_241_3e-6,
        ],
    );
    // |x| < 1.25: erf = erx + (P/Q)(|x| − 1).
    let m = s.sub(ax, one);
    let p_mid = horner(
        s,
        m,
        [
            -2.362_118_568_3e-3,
            4.148_561_060_4e-1,
            -3.722_078_800_2e-1,
            3.183_466_196_1e-1,
            -1.108_946_949_2e-1,
            3.547_830_507_2e-2,
            -2.166_375_517_8e-3,
        ],
    );
    let q_mid = horner(
        s,
        m,
        [
            1.0,
            1.064_208_820_5e-1,
            5.403_979_420_7e-1,
            7.182_865_589_9e-2,
            1.261_712_163_7e-1,
            1.363_708_358_3e-2,
            1.198_450_010_3e-2,
        ],
    );
    // Above: erfc = e^{−x² − 0.5625 + (R/S)(1/x²)}/|x|, two coefficient
    // sets split at 1/0.35.
    let w = s.div(one, s.mul(ax, ax));
    let near = s.lt(ax, s.splat(2.857_142_925_3));
    let rc = pick9(
        s,
        near,
        [
            -9.864_944_033_3e-3,
            -6.938_585_639_0e-1,
            -1.055_862_617_5e1,
            -6.237_533_187_9e1,
            -1.623_966_674_8e2,
            -1.846_050_872_8e2,
            -8.128_743_743_9e1,
            -9.814_329_147_3,
            0.0,
        ],
        [
            -9.864_943_102_0e-3,
            -7.992_832_660_7e-1,
            -1.775_795_555_1e1,
            -1.606_363_830_6e2,
            -6.375_664_672_9e2,
            -1.025_095_092_8e3,
            -4.835_191_955_6e2,
            0.0,
            0.0,
        ],
    );
    let sc = pick9(
        s,
        near,
        [
            1.0,
            1.965_127_182_0e1,
            1.376_577_606_2e2,
            4.345_658_874_5e2,
            6.453_872_680_7e2,
            4.290_081_481_9e2,
            1.086_350_021_4e2,
            6.570_249_557_5,
            -6.042_441_353_2e-2,
        ],
        [
            1.0,
            3.033_806_037_9e1,
            3.257_925_109_9e2,
            1.536_729_614_3e3,
            3.199_858_154_3e3,
            2.553_050_293_0e3,
            4.745_285_339_4e2,
            -2.244_095_230_1e1,
            0.0,
        ],
    );
    let (r_tail, s_tail) = (horner9(s, w, rc), horner9(s, w, sc));
    // One division for the three quotients.
    let num = s.select(is_small, p_small, s.select(is_mid, p_mid, r_tail));
    let den = s.select(is_small, q_small, s.select(is_mid, q_mid, s_tail));
    let q = s.div(num, den);
    let small = s.mul_add(x, q, x);
    let mid = s.add(s.splat(ERX), q);
    let arg = s.mul_add(s.sub(s.splat(0.0), ax), ax, s.add(s.splat(-0.5625), q));
    let tail = s.sub(one, s.div(exp(s, arg), ax));
    // NaN: both comparisons are false, and `tail` is NaN.
    let big = copysign(s, s.select(is_mid, mid, tail), x);
    s.select(is_small, small, big)
}

/// A transcendental activation (or a core function, for the tests): one
/// `match` per call, outside the loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unary {
    /// [`crate::act::tanh`].
    Tanh,
    /// [`crate::act::sigmoid`].
    Sigmoid,
    /// [`crate::act::elu`] with this `alpha`.
    Elu(f32),
    /// [`crate::act::selu`].
    Selu,
    /// [`crate::act::gelu`].
    Gelu,
    /// [`crate::act::gelu_tanh`].
    GeluTanh,
    /// [`crate::act::silu`].
    Silu,
    /// [`exp`] alone.
    #[cfg_attr(not(test), allow(dead_code))]
    Exp,
    /// [`expm1`] alone.
    #[cfg_attr(not(test), allow(dead_code))]
    Expm1,
    /// [`erf`] alone.
    #[cfg_attr(not(test), allow(dead_code))]
    Erf,
}

/// `v > 0 ? v · pos : expm1(v) · neg`: ELU and SELU (NaN takes the second
/// branch, and stays NaN).
#[inline(always)]
fn elu<S: Simd>(s: S, v: S::V, pos: Option<f32>, neg: f32) -> S::V {
    let p = match pos {
        Some(scale) => s.mul(v, s.splat(scale)),
        None => v,
    };
    s.select(s.gt(v, s.splat(0.0)), p, s.mul(expm1(s, v), s.splat(neg)))
}

/// `v · 0.5 · (1 + erf(v/√2))`, PyTorch's order.
#[inline(always)]
fn gelu<S: Simd>(s: S, v: S::V) -> S::V {
    let e = erf(s, s.mul(v, s.splat(core::f32::consts::FRAC_1_SQRT_2)));
    s.mul(s.mul(v, s.splat(0.5)), s.add(s.splat(1.0), e))
}

/// `0.5 · v · (1 + tanh(β·(v + κ·v³)))`, PyTorch's order.
#[inline(always)]
fn gelu_tanh<S: Simd>(s: S, v: S::V) -> S::V {
    use crate::act::{GELU_BETA, GELU_KAPPA};
    let cube = s.mul(s.mul(v, v), v);
    let inner = s.mul(
        s.splat(GELU_BETA),
        s.add(v, s.mul(s.splat(GELU_KAPPA), cube)),
    );
    let t = tanh(s, inner);
    s.mul(s.mul(s.splat(0.5), v), s.add(s.splat(1.0), t))
}

/// `v / (1 + e⁻ᵛ)`.
#[inline(always)]
fn silu<S: Simd>(s: S, v: S::V) -> S::V {
    let one = s.splat(1.0);
    s.div(v, s.add(one, exp(s, s.sub(s.splat(0.0), v))))
}

/// Defines a [`Lanewise`] type per function: each holds its own body only
/// (a `match` over all of them, inlined into every loop, would make the
/// unoptimised build's frames huge).
macro_rules! lanewise {
    ($($name:ident($field:ident) => |$s:ident, $v:ident| $body:expr;)*) => {$(
        #[derive(Clone, Copy)]
        struct $name(f32);
        impl<S: Simd> Lanewise<S> for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn at(self, $s: S, $v: S::V) -> S::V {
                let $field = self.0;
                $body
            }
        }
    )*};
}

lanewise! {
    TanhK(_p) => |s, v| tanh(s, v);
    SigmoidK(_p) => |s, v| sigmoid(s, v);
    EluK(alpha) => |s, v| elu(s, v, None, alpha);
    SeluK(_p) => |s, v| elu(s, v, Some(crate::act::SELU_SCALE), crate::act::SELU_NEG);
    GeluK(_p) => |s, v| gelu(s, v);
    GeluTanhK(_p) => |s, v| gelu_tanh(s, v);
    SiluK(_p) => |s, v| silu(s, v);
    ExpK(_p) => |s, v| exp(s, v);
    Expm1K(_p) => |s, v| expm1(s, v);
    ErfK(_p) => |s, v| erf(s, v);
}

/// `k` on every element of `x`.
#[inline(always)]
pub(crate) fn apply<S: Simd>(s: S, k: Unary, x: &mut [f32]) {
    match k {
        Unary::Tanh => s.map(x, TanhK(0.0)),
        Unary::Sigmoid => s.map(x, SigmoidK(0.0)),
        Unary::Elu(alpha) => s.map(x, EluK(alpha)),
        Unary::Selu => s.map(x, SeluK(0.0)),
        Unary::Gelu => s.map(x, GeluK(0.0)),
        Unary::GeluTanh => s.map(x, GeluTanhK(0.0)),
        Unary::Silu => s.map(x, SiluK(0.0)),
        Unary::Exp => s.map(x, ExpK(0.0)),
        Unary::Expm1 => s.map(x, Expm1K(0.0)),
        Unary::Erf => s.map(x, ErfK(0.0)),
    }
}

/// Softmax (`log = false`) or log-softmax of every lane of `x` viewed as
/// `[_, d, inner]`; see [`crate::act::softmax`].
///
/// With `inner == 1` each row of `d` contiguous floats is done `LANES` at a
/// time: a vector maximum, the exponentials summed in `LANES` partial sums
/// (so the sum is rounded in a different order from a sequential loop:
/// within rounding of it), then the scale. With `inner > 1`, `LANES`
/// adjacent lanes `i` are done at once, each summed over `d` in order, as
/// the scalar loop does.
///
/// The maximum is `maxps`'s, which drops a NaN; a NaN still poisons its
/// lane through the sum (`e^{NaN − m}` is NaN), as does `+inf`
/// (`inf − inf`), exactly as with a NaN-propagating maximum.
#[inline(always)]
pub(crate) fn normalize<S: Simd>(s: S, x: &mut [f32], d: usize, inner: usize, log: bool) {
    if d == 0 || inner == 0 {
        return;
    }
    let ninf = f32::NEG_INFINITY;
    for block in x.chunks_exact_mut(d * inner) {
        if inner == 1 {
            let mut m = s.splat(ninf);
            for c in block.chunks(S::LANES) {
                m = s.max(s.load_or(c, ninf), m);
            }
            let m = s.splat(s.reduce(m, |a, b| if b > a { b } else { a }));
            let mut acc = s.splat(0.0);
            for c in block.chunks_mut(S::LANES) {
                let e = exp(s, s.sub(s.load_or(c, ninf), m));
                if !log {
                    s.store(e, c);
                }
                acc = s.add(acc, e);
            }
            let sum = s.reduce(acc, |a, b| a + b);
            if log {
                let ls = s.splat(libm::logf(sum));
                for c in block.chunks_mut(S::LANES) {
                    s.store(s.sub(s.sub(s.load_or(c, 0.0), m), ls), c);
                }
            } else {
                let scale = s.splat(1.0 / sum);
                for c in block.chunks_mut(S::LANES) {
                    s.store(s.mul(s.load_or(c, 0.0), scale), c);
                }
            }
            continue;
        }
        let mut i0 = 0;
        while i0 < inner {
            let n = (inner - i0).min(S::LANES);
            // Row k of these lanes: block[k·inner + i0 ..][..n].
            let at = |k: usize| k * inner + i0..k * inner + i0 + n;
            let mut m = s.splat(ninf);
            for k in 0..d {
                let row = block.get(at(k)).unwrap_or_default();
                m = s.max(s.load_or(row, ninf), m);
            }
            let mut acc = s.splat(0.0);
            for k in 0..d {
                let row = block.get_mut(at(k)).unwrap_or_default();
                let e = exp(s, s.sub(s.load_or(row, ninf), m));
                if !log {
                    s.store(e, row);
                }
                acc = s.add(acc, e);
            }
            if log {
                let mut buf = [0.0f32; 16];
                s.store(acc, &mut buf);
                for v in &mut buf {
                    *v = libm::logf(*v);
                }
                let ls = s.load_or(&buf, 0.0);
                for k in 0..d {
                    let row = block.get_mut(at(k)).unwrap_or_default();
                    s.store(s.sub(s.sub(s.load_or(row, 0.0), m), ls), row);
                }
            } else {
                let scale = s.div(s.splat(1.0), acc);
                for k in 0..d {
                    let row = block.get_mut(at(k)).unwrap_or_default();
                    s.store(s.mul(s.load_or(row, 0.0), scale), row);
                }
            }
            i0 += n;
        }
    }
}

/// A piecewise-linear activation on every element of `x`, with exactly the
/// portable functions' operations (see `simd/act.rs`): the same bits.
#[cfg(target_arch = "x86_64")] // The portable path keeps `PostAct::apply_all`.
#[inline(always)]
pub(crate) fn piecewise<S: Simd>(s: S, act: crate::act::PostAct, x: &mut [f32]) {
    use crate::act::PostAct;
    match act {
        PostAct::None => {}
        PostAct::Relu => s.map(x, Piecewise::<0>(0.0)),
        PostAct::Relu6 => s.map(x, Piecewise::<1>(0.0)),
        PostAct::LeakyRelu(slope) => s.map(x, Piecewise::<2>(slope)),
        PostAct::Hardswish => s.map(x, Piecewise::<3>(0.0)),
        PostAct::Hardsigmoid => s.map(x, Piecewise::<4>(0.0)),
    }
}

/// `min(max(v, 0), 6)` as `f32::clamp(v, 0, 6)`: NaN kept.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn clamp6<S: Simd>(s: S, v: S::V) -> S::V {
    s.min(s.splat(6.0), s.max(s.splat(0.0), v))
}

/// One piecewise-linear activation as a type (`K` as in [`piecewise`]'s
/// `match`; the field is LeakyReLU's slope).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Piecewise<const K: u8>(f32);

#[cfg(target_arch = "x86_64")]
impl<S: Simd, const K: u8> Lanewise<S> for Piecewise<K> {
    #[inline(always)]
    fn at(self, s: S, v: S::V) -> S::V {
        let zero = s.splat(0.0);
        let three = s.splat(3.0);
        let six = s.splat(6.0);
        match K {
            0 => s.max(zero, v),
            1 => clamp6(s, v),
            2 => s.select(s.gt(v, zero), v, s.mul(v, s.splat(self.0))),
            3 => s.div(s.mul(v, clamp6(s, s.add(v, three))), six),
            _ => s.div(clamp6(s, s.add(v, three)), six),
        }
    }
}
