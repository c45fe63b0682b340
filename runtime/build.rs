//! Sets `cfg(constnet_arm_dsp)` when the target has Arm's DSP extension
//! (`smlad`: two signed 16-bit products added to an accumulator), which the
//! int8 convolution uses (`simd::qpairs`). Rust has no stable
//! `target_feature` cfg for it on Arm, so the target's name decides:
//! every `thumbv7em-*` core (Cortex-M4, M7) has it. Another target whose
//! cores all have it can opt in with `RUSTFLAGS="--cfg constnet_arm_dsp"`.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(constnet_arm_dsp)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo:rustc-cfg=constnet_arm_dsp");
    }
}
