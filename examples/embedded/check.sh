#!/usr/bin/env bash
# Builds the Cortex-M4F firmwares (float: constnet-embedded; int8:
# constnet-embedded-int8), prints each one's size table, fails if an ELF
# contains any panic code, and, when qemu-system-arm is installed, runs each
# on QEMU's mps2-an386 board and fails unless every digit was classified as
# on the host (the float one: PyTorch's class within 1e-4; the int8 one:
# TFLite's int8 logits, bit for bit).
#
# Needs the thumbv7em-none-eabihf target (`rustup target add
# thumbv7em-none-eabihf`) and llvm-size/llvm-nm (`rustup component add
# llvm-tools`, tried here) or Debian's binutils-arm-none-eabi.
# Honours CARGO_TARGET_DIR. Usage: examples/embedded/check.sh
set -euo pipefail
cd "$(dirname "$0")"

TARGET=thumbv7em-none-eabihf
step() { printf '\n== %s\n' "$*"; }

step "build: cargo build --release --target $TARGET"
cargo build --release --target "$TARGET"
target_dir=${CARGO_TARGET_DIR:-target}
# llvm-size/llvm-nm from the Rust toolchain's llvm-tools, else arm-none-eabi-*.
tools="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ ! -x "$tools/llvm-nm" ]; then
    rustup component add llvm-tools >/dev/null 2>&1 || true
fi
if [ -x "$tools/llvm-nm" ] && [ -x "$tools/llvm-size" ] && [ -x "$tools/llvm-objdump" ]; then
    size=("$tools/llvm-size" -A)
    nm=("$tools/llvm-nm" -C)
    objdump=("$tools/llvm-objdump" -d)
elif command -v arm-none-eabi-nm >/dev/null && command -v arm-none-eabi-size >/dev/null; then
    size=(arm-none-eabi-size -A)
    nm=(arm-none-eabi-nm -C)
    objdump=(arm-none-eabi-objdump -d)
else
    echo "error: need llvm-tools (rustup component add llvm-tools) or binutils-arm-none-eabi" >&2
    exit 1
fi

# One firmware: sizes, panic check, QEMU run.
check() {
    local name=$1
    local elf="$target_dir/$TARGET/release/$name"
    test -f "$elf" || { echo "error: no firmware at $elf" >&2; return 1; }
    step "$name sizes: ${size[*]} (flash = .vector_table + .text + .rodata, RAM = .data + .bss + stack)"
    "${size[@]}" "$elf" | grep -v -E '^\.debug|^\.comment|^\.ARM'
    sections=$("${size[@]}" "$elf")
    sec() { awk -v s="$1" '$1 == s { print $2 }' <<<"$sections"; }
    echo "flash: .text + .rodata = $(($(sec .text) + $(sec .rodata))) bytes (+ .vector_table $(sec .vector_table))"
    echo "RAM:   .data + .bss    = $(($(sec .data) + $(sec .bss))) bytes (+ the stack, measured at run time)"

    step "$name panic check: ${nm[*]} | grep -Ei 'panic|_fail'"
    if "${nm[@]}" "$elf" | grep -Ei 'panic|_fail'; then
        echo "error: the firmware contains panic code (symbols above); find the caller with llvm-objdump -d -C -l" >&2
        return 1
    fi
    echo "ok: no panic symbols (no core::panicking::*, panic_bounds_check, slice_*_fail, unwrap_failed, panic handler)"

    # The int8 kernels' dual 16-bit multiply-adds (runtime/src/simd/dsp.rs).
    if [ "$name" = constnet-embedded-int8 ]; then
        step "$name DSP check: ${objdump[*]} | count smlad, sxtb16"
        listing=$("${objdump[@]}" "$elf")
        smlad=$(grep -cE '\ssmlad\s' <<<"$listing" || true)
        sxtb16=$(grep -cE '\ssxtb16\s' <<<"$listing" || true)
        echo "smlad: $smlad, sxtb16: $sxtb16 (the convolutions' and the linear layers' int8 products)"
        if [ "$smlad" -eq 0 ] || [ "$sxtb16" -eq 0 ]; then
            echo "error: the int8 firmware has no smlad or no sxtb16: the DSP kernels were not compiled in" >&2
            return 1
        fi
        echo "ok: the int8 kernels run on smlad"
    fi

    if ! command -v qemu-system-arm >/dev/null; then
        step "qemu-system-arm is not installed: $name not run (apt-get install qemu-system-arm)"
        return 0
    fi
    step "$name run: qemu-system-arm -machine mps2-an386 -cpu cortex-m4 (semihosting)"
    status=0
    output=$(timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
        -semihosting-config enable=on,target=native -kernel "$elf") || status=$?
    printf '%s\n' "$output"
    if [ "$status" -ne 0 ]; then
        echo "error: the firmware exited with status $status (124 is a time-out)" >&2
        return 1
    fi
    # "host agreement: N/N digits classified as on the host": every digit.
    if ! grep -Eq '^host agreement: ([0-9]+)/\1 digits classified as on the host' <<<"$output"; then
        echo "error: not every digit was classified as on the host" >&2
        return 1
    fi
    echo "ok: every digit classified as on the host"
}

check constnet-embedded
check constnet-embedded-int8
