//! Arm's DSP-extension instructions the int8 kernels are built on
//! (`simd::qpairs`, `simd::qdense`): `smlad` (two signed 16-bit products
//! added to a 32-bit accumulator) and `sxtb16` (bytes 0 and 2, or with a
//! rotation 1 and 3, of a word sign-extended into its two halves), each one
//! instruction and one cycle on a Cortex-M4 or M7.
//!
//! Where the target has the extension (`cfg(constnet_arm_dsp)`, set by
//! `build.rs` for `thumbv7em`) they are those instructions, in inline
//! assembly (Rust's Arm DSP intrinsics are unstable); elsewhere the same
//! arithmetic in plain Rust, so that the host tests run the kernels built
//! on them against the naive twins, and under Miri. The firmware
//! (`examples/embedded/check.sh`) runs the assembly under QEMU against
//! TFLite's int8 logits.
//!
//! Why not plain Rust everywhere: LLVM's ARMParallelDSP pass does turn
//! adjacent `i16 × i16` products into `smlad`, but only in some loop
//! shapes. On LeNet-5's layers it formed none for a row kernel (it kept the
//! inputs in registers across the row, `smlabb` per product) and 16 for a
//! per-pixel kernel whose bounds checks then cost more than they saved
//! (QEMU counted 2.9 M instructions per int8 forward pass, against 1.8 M
//! for the portable row kernel); it never forms `sxtb16`.

/// Two `i16` as a word, `lo` in the low half.
#[inline(always)]
#[allow(clippy::cast_sign_loss)] // Bit patterns.
pub(crate) fn pair(lo: i16, hi: i16) -> u32 {
    u32::from(lo as u16) | u32::from(hi as u16) << 16
}

/// `acc + lo(x) · lo(y) + hi(x) · hi(y)`, the halves signed 16-bit: Arm's
/// `smlad`.
#[cfg(constnet_arm_dsp)]
#[inline(always)]
pub(crate) fn smlad(x: u32, y: u32, mut acc: i32) -> i32 {
    // SAFETY: `smlad` reads three registers and writes one; it touches no
    // memory and no stack (it may set the sticky Q flag, which nothing
    // reads). `cfg(constnet_arm_dsp)` is set only for targets whose cores
    // all have the DSP extension (`build.rs`).
    unsafe {
        core::arch::asm!(
            "smlad {acc}, {x}, {y}, {acc}",
            acc = inout(reg) acc,
            x = in(reg) x,
            y = in(reg) y,
            options(pure, nomem, nostack),
        );
    }
    acc
}

/// [`smlad`] of `x` with `y0` into `a0` and with `y1` into `a1`, as two
/// adjacent instructions: one assembly block, so that the compiler's
/// scheduler does not pull the two accumulator chains apart (it did, and
/// then spilled every `x` to the stack to reload it for the second chain).
#[cfg(constnet_arm_dsp)]
#[inline(always)]
pub(crate) fn smlad2(x: u32, y0: u32, y1: u32, mut a0: i32, mut a1: i32) -> (i32, i32) {
    // SAFETY: as `smlad`: registers only, no memory, no stack.
    unsafe {
        core::arch::asm!(
            "smlad {a0}, {x}, {y0}, {a0}",
            "smlad {a1}, {x}, {y1}, {a1}",
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            x = in(reg) x,
            y0 = in(reg) y0,
            y1 = in(reg) y1,
            options(pure, nomem, nostack),
        );
    }
    (a0, a1)
}

/// [`smlad`] of `x` with `y0` into `a0` and with `y1` into `a1`.
#[cfg(not(constnet_arm_dsp))]
#[inline(always)]
pub(crate) fn smlad2(x: u32, y0: u32, y1: u32, a0: i32, a1: i32) -> (i32, i32) {
    (smlad(x, y0, a0), smlad(x, y1, a1))
}

/// `acc + lo(x) · lo(y) + hi(x) · hi(y)`, the halves signed 16-bit: what
/// Arm's `smlad` computes, in plain Rust.
#[cfg(not(constnet_arm_dsp))]
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // The halves, as `smlad` reads them.
pub(crate) fn smlad(x: u32, y: u32, acc: i32) -> i32 {
    let (xl, xh, yl, yh) = (x as i16, (x >> 16) as i16, y as i16, (y >> 16) as i16);
    acc.wrapping_add(i32::from(xl) * i32::from(yl))
        .wrapping_add(i32::from(xh) * i32::from(yh))
}

/// Bytes 0 and 2 of `x` sign-extended into the low and high halves: Arm's
/// `sxtb16`.
#[cfg(constnet_arm_dsp)]
#[inline(always)]
pub(crate) fn sxtb16(x: u32) -> u32 {
    let out: u32;
    // SAFETY: one register in, one out; no memory, no stack, no flags.
    unsafe {
        core::arch::asm!(
            "sxtb16 {out}, {x}",
            out = lateout(reg) out,
            x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Bytes 1 and 3 of `x` sign-extended into the low and high halves: Arm's
/// `sxtb16` with `ror #8`.
#[cfg(constnet_arm_dsp)]
#[inline(always)]
pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
    let out: u32;
    // SAFETY: one register in, one out; no memory, no stack, no flags.
    unsafe {
        core::arch::asm!(
            "sxtb16 {out}, {x}, ror #8",
            out = lateout(reg) out,
            x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Bytes 0 and 2 of `x` sign-extended into the low and high halves: what
/// Arm's `sxtb16` computes, in plain Rust.
#[cfg(not(constnet_arm_dsp))]
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // The bytes, as `sxtb16` reads them.
pub(crate) fn sxtb16(x: u32) -> u32 {
    pair(i16::from(x as i8), i16::from((x >> 16) as i8))
}

/// Bytes 1 and 3 of `x` sign-extended into the low and high halves: what
/// Arm's `sxtb16` with `ror #8` computes, in plain Rust.
#[cfg(not(constnet_arm_dsp))]
#[inline(always)]
pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
    sxtb16(x.rotate_right(8))
}

#[cfg(test)]
mod tests {
    use super::{pair, smlad, smlad2, sxtb16, sxtb16_ror8};

    #[test]
    fn smlad_adds_both_signed_products() {
        let (x, y) = (pair(255, -128), pair(-127, 127));
        assert_eq!(smlad(x, y, 10), 10 - 255 * 127 - 128 * 127);
        assert_eq!(smlad(pair(-1, -1), pair(-1, 1), 0), 0);
        assert_eq!(smlad(pair(i16::MIN, 0), pair(i16::MIN, 0), 0), 1 << 30);
        assert_eq!(
            smlad2(x, y, pair(1, 2), 10, 20),
            (smlad(x, y, 10), 20 + 255 - 256)
        );
    }

    #[test]
    fn sxtb16_sign_extends_alternate_bytes() {
        let w = u32::from_le_bytes([0x80, 0x7f, 0xff, 0x01]); // −128, 127, −1, 1
        assert_eq!(sxtb16(w), pair(-128, -1));
        assert_eq!(sxtb16_ror8(w), pair(127, 1));
        assert_eq!(sxtb16(0), 0);
    }
}
