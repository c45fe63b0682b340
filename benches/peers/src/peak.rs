//! The single-core FMA peak, measured with the runtime benches' own FMA
//! kernels (`runtime/benches/common/fma.rs`: independent chains of vector
//! FMAs in registers, the widest this CPU has), the best of many short
//! runs.

#[path = "../../../runtime/benches/common/fma.rs"]
mod fma;

/// A measured peak.
pub struct Peak {
    pub gflops: f64,
    /// The instructions it used.
    pub what: &'static str,
}

/// The peak of this CPU's widest FMA (AVX-512F, else AVX2 + FMA): 200
/// timed runs of 400,000 iterations; `None` elsewhere.
pub fn measure() -> Option<Peak> {
    let (what, _, _) = fma::widest()?;
    let gflops = fma::peak_gflops(400_000, 200)?;
    Some(Peak { gflops, what })
}
