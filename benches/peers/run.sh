#!/usr/bin/env bash
# The peer benchmark: builds benches/peers (Rust: constnet, tract-onnx, candle)
# and runs it and ort.py (ONNX Runtime, Python) pinned to CPU 0, then prints
# one combined Markdown table with the date and the CPU model.
#
#   PYTHON=/path/to/python benches/peers/run.sh [--quick]
#
# PYTHON (default: python3) must have numpy and onnxruntime; without them the
# ONNX Runtime row is left out (with a warning). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"

export RUSTFLAGS="-C target-cpu=native"
PYTHON="${PYTHON:-python3}"
if command -v taskset >/dev/null 2>&1; then
    PIN=(taskset -c 0)
else
    echo "warning: taskset not found; running unpinned" >&2
    PIN=()
fi

echo "== building (cargo build --release, RUSTFLAGS=\"$RUSTFLAGS\")" >&2
cargo build --release --quiet

rust_table="$(mktemp)"
ort_rows="$(mktemp)"
trap 'rm -f "$rust_table" "$ort_rows"' EXIT

echo "== Rust engines (${PIN[*]:-unpinned})" >&2
"${PIN[@]}" target/release/peers "$@" >"$rust_table"

echo "== ONNX Runtime ($PYTHON)" >&2
if "$PYTHON" -c 'import numpy, onnxruntime' 2>/dev/null; then
    "${PIN[@]}" "$PYTHON" ort.py "$@" >"$ort_rows"
else
    echo "warning: $PYTHON lacks numpy/onnxruntime (pip install onnxruntime numpy); no ONNX Runtime row" >&2
fi

cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
echo
echo "LeNet-5 on the 2,000 held-out MNIST digits, $(date -u '+%Y-%m-%d %H:%M UTC'), ${cpu:-unknown CPU} ($(nproc) CPUs online), pinned: ${PIN[*]:-no}${*:+, $*}"
echo
cat "$rust_table" "$ort_rows"
