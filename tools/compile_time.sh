#!/usr/bin/env bash
# Compile-time cost of network declarations, measured.
#
# What: builds a scratch crate (in a temporary directory) that depends on this
# repository's `constnet` and holds one binary per network: LeNet-5, MLPerf
# Tiny's ResNet-8 (examples/resnet8/net.rs) and ResNet-18 in torchvision's
# layout ([3, 224, 224], tests/common/golden.rs). It builds everything once
# (dependencies included: the clean build), then for each binary touches its
# source and rebuilds it twice in release mode, printing the wall time and the
# compiler's peak memory (GNU time's %M) of the faster rebuild: the cost of
# the declaration itself. Finally it runs ResNet-18 once on a heap workspace
# with seeded weights, to show that it builds and runs.
#
# Why: README's "Compile time" section quotes these numbers.
#
# How to run (from anywhere; needs cargo and /usr/bin/time):
#   tools/compile_time.sh
# The machine is shared: rerun for stable numbers, compare within one run.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "compile-time"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
constnet = { path = "$repo" }

[[bin]]
name = "lenet5"
path = "src/lenet5.rs"
[[bin]]
name = "resnet8"
path = "src/resnet8.rs"
[[bin]]
name = "resnet18"
path = "src/resnet18.rs"

[workspace]
TOML

# LeNet-5, as examples/lenet.rs declares it.
sed -n '/^constnet::network! {/,/^}/p' "$repo/examples/lenet.rs" >"$dir/src/lenet5.rs"
cat >>"$dir/src/lenet5.rs" <<'RS'
fn main() {
    let net = LeNet5::zeroed();
    println!("{:?}", net.forward(&[[[0.5; 32]; 32]; 1]));
}
RS

cp "$repo/examples/resnet8/net.rs" "$dir/src/resnet8.rs"
cat >>"$dir/src/resnet8.rs" <<'RS'
fn main() {
    use constnet::Network;
    let net = ResNet8::new_zeroed();
    println!("{:?}", net.forward(&[[[0.5; 32]; 32]; 3]));
}
RS

# ResNet-18: the BasicBlock invocation of tests/common/golden.rs.
awk '/^constnet::network! \{/ {buf=""; keep=0} {buf = buf $0 "\n"} /pub struct ResNet18/ {keep=1} /^}/ {if (keep) {printf "%s", buf; keep=0} buf=""}' \
    "$repo/tests/common/golden.rs" >"$dir/src/resnet18.rs"
cat >>"$dir/src/resnet18.rs" <<'RS'
fn main() {
    use constnet::Network;
    use std::time::Instant;
    let mut net = ResNet18::new_zeroed();
    let mut seed = 1u32;
    net.visit_params_mut(&mut |info, w| {
        for v in w.iter_mut() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = ((seed >> 8) as f32 / 16_777_216.0 - 0.5) * 0.1;
        }
        if info.name.ends_with("running_var") {
            w.fill(1.0);
        }
    });
    let mut workspace = ResNet18::new_workspace();
    let x = Box::new([[[0.5f32; 224]; 224]; 3]);
    let start = Instant::now();
    let y = net.forward_with(&x, &mut workspace);
    println!(
        "ResNet-18: {} parameters, {} bytes of workspace (on the heap), one forward {:.1} ms, logits[..3] = {:?}",
        ResNet18::PARAMETERS,
        ResNet18::WORKSPACE_BYTES,
        start.elapsed().as_secs_f64() * 1e3,
        &y[..3]
    );
}
RS

cd "$dir"
export CARGO_TARGET_DIR="$dir/target"
start=$SECONDS
cargo build --release --quiet
echo "clean release build of the three binaries, dependencies included: $((SECONDS - start)) s"
for bin in lenet5 resnet8 resnet18; do
    best=""
    for _ in 1 2; do
        touch "src/$bin.rs"
        out="$( { /usr/bin/time -f '%e s, %M KB' cargo build --release --quiet --bin "$bin"; } 2>&1 | tail -n 1)"
        if [ -z "$best" ] || awk "BEGIN { exit !(${out%% *} < ${best%% *}) }"; then best="$out"; fi
    done
    echo "$bin: touch + cargo build --release --bin $bin: $best (wall time, compiler peak memory)"
done
"$CARGO_TARGET_DIR/release/resnet18"
