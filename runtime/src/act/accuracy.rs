//! The vectorised transcendental activations against their scalar `libm`
//! twins ([`crate::reference::libm_act`]) over the whole `f32` range, on
//! every instruction set.
//!
//! The inputs: every 8191st bit pattern (8191 is prime, so the walk visits
//! every exponent with varied mantissas: 524,353 values, both signs,
//! subnormals, infinities and NaNs included), 4,096 consecutive floats
//! around each of the 40 points where an approximation switches branch or
//! saturates (and around ±0 and the subnormal/normal boundary): 163,840
//! more, and the special values one by one; 688,217 inputs in all, for 11
//! functions on 3 instruction sets in about 7 s in a debug build (under
//! Miri a sparse walk and narrow windows, see `WALK_STEP`). Each function
//! must be within its bound of its twin, give NaN exactly where the twin
//! does (NaN in → NaN out), give the twin's
//! infinities and signed zeros at the special values, and be monotone where
//! the function is.
//!
//! `cargo test -p constnet-runtime accuracy -- --nocapture` prints the
//! measured maxima (the numbers in the functions' doc comments).

#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Bits.
#![allow(clippy::float_cmp)] // Special values must match exactly.

use super::{unary_with, Isa, Unary};
use crate::reference::{act as f64_act, libm_act as twin};
use crate::simd;
use std::string::String;
use std::vec::Vec;

/// The position of `x` on the number line in ulps: consecutive floats
/// differ by 1, `±0` are both 0.
fn key(x: f32) -> i64 {
    let b = x.to_bits();
    let m = i64::from(b & 0x7fff_ffff);
    if b >> 31 == 1 {
        -m
    } else {
        m
    }
}

/// The distance in ulps between two non-NaN floats.
fn ulps(a: f32, b: f32) -> u64 {
    (key(a) - key(b)).unsigned_abs()
}

/// The step of the walk over all bit patterns (prime).
#[cfg(not(miri))]
const WALK_STEP: u32 = 8191;
/// Half the width of each dense window around a branch point.
#[cfg(not(miri))]
const WINDOW: u32 = 2048;
// Miri interprets every operation: 688k inputs × 11 functions × 3 bodies
// would take hours. It checks the same code paths on a sparse walk (256
// patterns, still every binade range) and the branch points' neighbours.
#[cfg(miri)]
const WALK_STEP: u32 = 16_777_259; // prime
#[cfg(miri)]
const WINDOW: u32 = 2;

/// The walk over the whole range, the dense windows and the specials.
fn inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (0..=u32::MAX / WALK_STEP)
        .map(|i| f32::from_bits(i * WALK_STEP))
        .collect();
    let points = [
        0.0f32,
        f32::MIN_POSITIVE,
        // exp: overflow, the subnormal range, underflow to 0; the clamps.
        88.722_84,
        -87.336_55,
        -103.972_08,
        89.0,
        -104.0,
        -80.0,
        // expm1: the tiny-argument cut.
        2.980_232_2e-8,
        // tanh: the branch switch and saturation to ±1.
        0.625,
        9.010_913,
        // sigmoid: saturation to 1, exp(−x) overflow.
        16.635_532,
        // erf: the three branches, the tail's two sets, saturation.
        0.843_75,
        1.25,
        2.857_143,
        3.919_206_1,
        // gelu / silu arguments where the inner functions saturate.
        5.54,
        -5.54,
        1.0,
        0.5,
    ];
    for p in points {
        for sign in [1.0f32, -1.0] {
            let b = (p * sign).to_bits();
            for d in 0..WINDOW {
                xs.push(f32::from_bits(b.wrapping_add(d)));
                xs.push(f32::from_bits(b.wrapping_sub(d)));
            }
        }
    }
    xs.extend(specials());
    xs
}

/// Every special value.
fn specials() -> Vec<f32> {
    let mut v = std::vec![
        0.0,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        -f32::from_bits(0x007f_ffff),
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::EPSILON,
        1.0,
        -1.0,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001), // signalling NaN
        f32::from_bits(0xffc0_1234), // negative quiet NaN with a payload
    ];
    v.extend([88.72284f32, 88.722_83, -87.33655, -103.972_08, -103.97209]);
    v
}

/// One function under test: its kernel, twin and precise reference, and
/// its bound.
struct Case {
    name: &'static str,
    unary: Unary,
    twin: fn(f32) -> f32,
    precise: fn(f32) -> f32,
    /// Asserted bound in ulps of the twin.
    ulps: u64,
    /// Where the formula cancels (`1 + erf`, `1 + tanh` near −1 in GELU),
    /// an ulp of `erf` or `tanh` moves the result by `|x|·2⁻²⁵`, and the
    /// twin itself is that far from the exact value: a difference within
    /// `abs·|x|` absolute (`2⁻²³·|x|`, two such ulps each way) is also
    /// accepted.
    abs: f32,
    monotone: bool,
}

fn cases() -> Vec<Case> {
    let precise_exp = |x: f32| libm::exp(f64::from(x)) as f32;
    let precise_expm1 = |x: f32| libm::expm1(f64::from(x)) as f32;
    let precise_erf = |x: f32| libm::erf(f64::from(x)) as f32;
    std::vec![
        Case {
            name: "exp",
            unary: Unary::Exp,
            twin: twin::exp,
            precise: precise_exp,
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "expm1",
            unary: Unary::Expm1,
            twin: twin::expm1,
            precise: precise_expm1,
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "erf",
            unary: Unary::Erf,
            twin: twin::erf,
            precise: precise_erf,
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "tanh",
            unary: Unary::Tanh,
            twin: twin::tanh,
            precise: f64_act::tanh,
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "sigmoid",
            unary: Unary::Sigmoid,
            twin: twin::sigmoid,
            precise: f64_act::sigmoid,
            ulps: 4,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "silu",
            unary: Unary::Silu,
            twin: twin::silu,
            precise: f64_act::silu,
            ulps: 2,
            abs: 0.0,
            monotone: false
        },
        Case {
            name: "elu(1)",
            unary: Unary::Elu(1.0),
            twin: |x| twin::elu(x, 1.0),
            precise: |x| f64_act::elu(x, 1.0),
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "elu(0.3)",
            unary: Unary::Elu(0.3),
            twin: |x| twin::elu(x, 0.3),
            precise: |x| f64_act::elu(x, 0.3),
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "selu",
            unary: Unary::Selu,
            twin: twin::selu,
            precise: f64_act::selu,
            ulps: 2,
            abs: 0.0,
            monotone: true
        },
        Case {
            name: "gelu",
            unary: Unary::Gelu,
            twin: twin::gelu,
            precise: f64_act::gelu,
            ulps: 2,
            abs: f32::EPSILON,
            monotone: false
        },
        Case {
            name: "gelu_tanh",
            unary: Unary::GeluTanh,
            twin: twin::gelu_tanh,
            precise: f64_act::gelu_tanh,
            ulps: 2,
            abs: f32::EPSILON,
            monotone: false
        },
    ]
}

/// What one function on one instruction set measured.
#[derive(Default)]
struct Measured {
    /// Max ulps from the twin.
    twin_ulps: u64,
    /// Max ulps from the `f64` reference, and the twin's own, where the
    /// twin is within 16 ulps of it (elsewhere the f32 formula itself, not
    /// the approximation, departs from the exact function: `1 + erf` near
    /// −1, `e⁻ˣ` overflowing where the result would be subnormal).
    precise_ulps: u64,
    twin_precise_ulps: u64,
    /// Inputs left out of `precise_ulps` for that reason.
    formula_bound: usize,
    /// Max absolute difference from the twin where `|twin| <= 1`.
    twin_abs: f32,
    /// Inputs outside the ulp bound (inside the absolute one), and their
    /// largest `|got − twin| / |x|`.
    beyond_ulps: usize,
    beyond_abs_per_x: f32,
}

fn isas() -> Vec<Isa> {
    let mut isas = std::vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if simd::has_avx2_fma() {
            isas.push(Isa::Avx2);
        } else {
            std::eprintln!("skipped: this CPU has no AVX2+FMA");
        }
        if simd::has_avx512() {
            isas.push(Isa::Avx512);
        } else {
            std::eprintln!("skipped: this CPU has no AVX-512F");
        }
    }
    isas
}

#[test]
fn accuracy_over_the_whole_range() {
    let start = std::time::Instant::now();
    let xs = inputs();
    let mut sorted: Vec<f32> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    sorted.sort_by(f32::total_cmp);
    sorted.dedup_by(|a, b| a.to_bits() == b.to_bits());
    let mut failures = Vec::new();
    for case in cases() {
        let want: Vec<f32> = xs.iter().map(|&x| (case.twin)(x)).collect();
        let precise: Vec<f32> = xs.iter().map(|&x| (case.precise)(x)).collect();
        for isa in isas() {
            let mut got = xs.clone();
            unary_with(isa, case.unary, &mut got);
            let mut m = Measured::default();
            for (((&x, &g), &w), &p) in xs.iter().zip(&got).zip(&want).zip(&precise) {
                let what = || {
                    std::format!(
                        "{} on {isa:?} at {x:e} ({:#010x}): got {g:e}, twin {w:e}",
                        case.name,
                        x.to_bits()
                    )
                };
                if g.is_nan() || w.is_nan() {
                    if g.is_nan() != w.is_nan() {
                        failures.push(std::format!("{}: NaN mismatch", what()));
                    }
                    continue;
                }
                if g.is_infinite() || w.is_infinite() {
                    if g != w {
                        failures.push(std::format!("{}: infinity mismatch", what()));
                    }
                    continue;
                }
                let u = ulps(g, w);
                let a = (g - w).abs();
                m.twin_ulps = m.twin_ulps.max(u);
                if w.abs() <= 1.0 {
                    m.twin_abs = m.twin_abs.max(a);
                }
                if !p.is_nan() && !p.is_infinite() {
                    if ulps(w, p) <= 16 {
                        m.precise_ulps = m.precise_ulps.max(ulps(g, p));
                        m.twin_precise_ulps = m.twin_precise_ulps.max(ulps(w, p));
                    } else {
                        m.formula_bound += 1;
                    }
                }
                if u > case.ulps {
                    m.beyond_ulps += 1;
                    m.beyond_abs_per_x = m.beyond_abs_per_x.max(a / x.abs());
                    if a > case.abs * x.abs() {
                        failures.push(std::format!("{}: {u} ulps, {a:e} absolute", what()));
                    }
                }
            }
            // Special values: the twin's signed zeros and saturation.
            for x in specials() {
                let mut g = [x];
                unary_with(isa, case.unary, &mut g);
                let w = (case.twin)(x);
                let same = g[0].to_bits() == w.to_bits() || (g[0].is_nan() && w.is_nan());
                let tiny = g[0] != 0.0 && w != 0.0 && ulps(g[0], w) <= case.ulps;
                if !same && !tiny {
                    failures.push(std::format!(
                        "{} on {isa:?} at special {x:e}: got {:e}, twin {w:e}",
                        case.name,
                        g[0]
                    ));
                }
            }
            if case.monotone {
                let mut ys = sorted.clone();
                unary_with(isa, case.unary, &mut ys);
                for (pair, xpair) in ys.windows(2).zip(sorted.windows(2)) {
                    if pair[1] < pair[0] {
                        failures.push(std::format!(
                            "{} on {isa:?} not monotone: f({:e}) = {:e} > f({:e}) = {:e}",
                            case.name,
                            xpair[0],
                            pair[0],
                            xpair[1],
                            pair[1]
                        ));
                    }
                }
            }
            std::println!(
                "{:<10} {:<9} max {:>4} ulps from libm (abs {:.1e} where |f| <= 1; {} inputs beyond {} ulps, there |diff| <= {:.2e}·|x|); {} ulps from f64 (libm: {}; {} inputs left out)",
                case.name, std::format!("{isa:?}"), m.twin_ulps, m.twin_abs, m.beyond_ulps, case.ulps,
                m.beyond_abs_per_x, m.precise_ulps, m.twin_precise_ulps, m.formula_bound
            );
        }
    }
    std::println!(
        "{} inputs per function, {:.1} s",
        xs.len(),
        start.elapsed().as_secs_f64()
    );
    let shown: Vec<&String> = failures.iter().take(30).collect();
    assert!(
        failures.is_empty(),
        "{} failures, first: {shown:#?}",
        failures.len()
    );
}
