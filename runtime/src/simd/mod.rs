//! Explicit-SIMD bodies of the hot kernels, and the choice between them.
//!
//! # Dispatch
//!
//! Each kernel with a SIMD body ([`crate::conv::conv2d`], [`crate::linear::linear`],
//! [`crate::pool::max_pool2d`], [`crate::act::relu`]) asks [`best`] which
//! instruction set to use and calls one of three bodies:
//!
//! - [`Isa::Avx512`]: AVX-512F, 16 `f32` lanes, masked loads and stores
//!   for row tails;
//! - [`Isa::Avx2`]: AVX2 + FMA, 8 lanes, `vmaskmov` for row tails;
//! - [`Isa::Portable`]: the plain Rust loops of each kernel's module, for
//!   every other target and for x86-64 CPUs without AVX2/FMA.
//!
//! With the `std` feature (and in tests) [`best`] detects the CPU's features
//! at run time (`std::is_x86_feature_detected!`, one cached atomic load per
//! call), so a binary built for plain `x86_64` uses AVX-512 where it is.
//! Without `std` there is no detection: the features the crate is compiled
//! for (`-C target-cpu=…` / `-C target-feature=…`, read with
//! `cfg!(target_feature = …)`) decide.
//!
//! The int8 kernels have one more body, for Arm cores with the DSP
//! extension (Cortex-M4, M7): `qpairs` and `qdense` on the dual 16-bit
//! multiply-add `smlad` (`dsp`), chosen at compile time by
//! `cfg(constnet_arm_dsp)`, which `build.rs` sets for `thumbv7em` targets.
//!
//! The SIMD bodies are `#[target_feature(enable = …)]` functions; calling
//! one is `unsafe` (the CPU must have the feature), and every call site says
//! why it holds: the caller got the [`Isa`] from [`best`], or from a test
//! that checked the feature first.
//!
//! # Numerics
//!
//! The SIMD bodies use fused multiply-adds and sum in a different order from
//! the portable loops, so their results differ from the portable ones in the
//! last bits (both are within rounding of the exact sum; the tests compare
//! every body with the `f64` [`reference`](crate::reference) kernels). The
//! max-pool and ReLU bodies are exact: they give the portable results bit
//! for bit, NaN and signed zeros included.

#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_arch = "x86_64")]
pub(crate) mod act;
#[cfg(target_arch = "x86_64")]
pub(crate) mod conv;
#[cfg(any(target_arch = "arm", test))]
pub(crate) mod dsp;
#[cfg(target_arch = "x86_64")]
pub(crate) mod lanes;
#[cfg(target_arch = "x86_64")]
pub(crate) mod linear;
pub(crate) mod math;
#[cfg(target_arch = "x86_64")]
pub(crate) mod pool;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qadd;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qconv;
#[cfg(any(target_arch = "arm", test))]
pub(crate) mod qdense;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qlinear;
#[cfg(any(target_arch = "arm", test))]
pub(crate) mod qpairs;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qpool;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qrescale;
#[cfg(target_arch = "x86_64")]
pub(crate) mod qstore;
#[cfg(target_arch = "x86_64")]
pub(crate) mod quantize;
#[cfg(target_arch = "x86_64")]
pub(crate) mod transpose;

/// An instruction set a kernel can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust, any target.
    Portable,
    /// AVX2 and FMA (x86-64 since Haswell / Zen 1).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512F (x86-64 since Skylake-SP / Zen 4).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Whether the CPU running this code has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    #[cfg(any(feature = "std", test))]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(any(feature = "std", test)))]
    {
        cfg!(target_feature = "avx512f")
    }
}

/// Whether the CPU running this code has AVX-512 F and BW (byte and word
/// lanes, masked byte loads), for the int8 max pool.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512bw() -> bool {
    #[cfg(any(feature = "std", test))]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(any(feature = "std", test)))]
    {
        cfg!(all(target_feature = "avx512f", target_feature = "avx512bw"))
    }
}

/// Whether the CPU running this code has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(any(feature = "std", test))]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(any(feature = "std", test)))]
    {
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    }
}

/// Whether the CPU running this code has AVX-512 VNNI, VL and BW
/// (`vpdpbusd` on 256-bit vectors, masked byte loads: x86-64 since Ice Lake
/// / Zen 4), for the int8 kernels.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_vnni() -> bool {
    #[cfg(any(feature = "std", test))]
    {
        std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(any(feature = "std", test)))]
    {
        cfg!(all(
            target_feature = "avx512vnni",
            target_feature = "avx512vl",
            target_feature = "avx512bw"
        ))
    }
}

/// The widest instruction set this CPU supports; see the module docs.
#[inline]
pub(crate) fn best() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return Isa::Avx512;
        }
        if has_avx2_fma() {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}
