#!/usr/bin/env bash
# The peer benchmark: builds benches/peers (Rust: constnet, ONNX Runtime
# through the `ort` crate, tract-onnx, candle), runs ort.py (ONNX Runtime from
# Python) and then `peers`, both pinned to CPU 0, and prints the tables with
# the date and the CPU model.
#
#   PYTHON=/path/to/python benches/peers/run.sh [--quick] [NETWORK...]
#
# PYTHON (default: python3) must have numpy and onnxruntime; the Rust side
# loads the libonnxruntime.so of that onnxruntime package (ORT_DYLIB_PATH, if
# not set already). Without them both ONNX Runtime columns are left out (with
# a warning). NETWORKs select the networks whose names contain one of them.
# Run from anywhere.
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

have_ort=
if "$PYTHON" -c 'import numpy, onnxruntime' 2>/dev/null; then
    have_ort=1
    if [ -z "${ORT_DYLIB_PATH:-}" ]; then
        ORT_DYLIB_PATH="$("$PYTHON" -c 'import glob, os, onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
print(sorted(glob.glob(os.path.join(capi, "libonnxruntime.so*")))[-1])')"
        export ORT_DYLIB_PATH
    fi
    echo "== ONNX Runtime library for the Rust side: $ORT_DYLIB_PATH" >&2
else
    echo "warning: $PYTHON lacks numpy/onnxruntime (pip install onnxruntime numpy); no ONNX Runtime columns" >&2
    unset ORT_DYLIB_PATH
fi

echo "== building (cargo build --release, RUSTFLAGS=\"$RUSTFLAGS\")" >&2
cargo build --release --quiet

python_results="$(mktemp)"
tables="$(mktemp)"
trap 'rm -f "$python_results" "$tables"' EXIT

peers_args=("$@")
if [ -n "$have_ort" ]; then
    echo "== ONNX Runtime from Python ($PYTHON, ${PIN[*]:-unpinned})" >&2
    "${PIN[@]}" "$PYTHON" ort.py --results "$python_results" "$@"
    peers_args=(--python-results "$python_results" "$@")
fi

echo "== Rust engines (${PIN[*]:-unpinned})" >&2
"${PIN[@]}" target/release/peers "${peers_args[@]}" >"$tables"

cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), ${cpu:-unknown CPU} ($(nproc) CPUs online), pinned: ${PIN[*]:-no}${*:+, arguments: $*}"
echo
cat "$tables"
