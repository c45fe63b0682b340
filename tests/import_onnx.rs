//! The ONNX importer's round trip (`import/`, constnet-import), with no
//! Python: `tools/gen_onnx_import_tests.py` committed ONNX models, ONNX
//! Runtime's outputs for fixed inputs (`<name>.ort.safetensors`) and what
//! the importer wrote (`<name>.rs`, `<name>.safetensors`) to
//! `tests/import_onnx/`. For each model this test
//!
//! 1. runs the importer library on the ONNX file again and asserts that it
//!    gives the committed declaration and weights, byte for byte (so that
//!    a change to the importer that changes its output is seen);
//! 2. compiles the committed declaration (`include!`), loads the weights
//!    and compares `forward` with ONNX Runtime's outputs: within 1e-4.
//!
//! The models: the 15 golden networks that `torch.onnx.export` can export
//! (`tests/golden/<name>.onnx`), the shipped LeNet-5 (`data/lenet5.onnx`),
//! a Keras-style NHWC network built as tf2onnx writes one (`nhwc.onnx`), a
//! Keras model converted by tf2onnx (`keras_tf2onnx.onnx`), an NHWC graph
//! whose output is an NHWC map (`nhwc_map.onnx`, compared after
//! transposing ONNX Runtime's output to [C, H, W]),
//! and torchvision's resnet18, mobilenet_v2 and squeezenet1_1 on
//! [3, 112, 112], committed with their initializers emptied: the test
//! fills them with the generator the script used (`onnx_value`), so that
//! their 14-45 MB are not committed.

use std::fs;
use std::path::{Path, PathBuf};

use constnet::{Network, Tensor};
use constnet_import::{import, Imported, Options};
use safetensors::SafeTensors;

/// What the importer wrote, included as generated.
mod imported {
    include!("import_onnx/vgg_stack.rs");
    include!("import_onnx/mobilenet.rs");
    include!("import_onnx/strided_big.rs");
    include!("import_onnx/padding_modes.rs");
    include!("import_onnx/max_pools.rs");
    include!("import_onnx/activations_map.rs");
    include!("import_onnx/mlp.rs");
    include!("import_onnx/mlp_named.rs");
    include!("import_onnx/bn_variants.rs");
    include!("import_onnx/tiny_edge.rs");
    include!("import_onnx/resnet_cifar.rs");
    include!("import_onnx/mobilenet_v2.rs");
    include!("import_onnx/squeezenet.rs");
    include!("import_onnx/densenet.rs");
    include!("import_onnx/tf_padding.rs");
    include!("import_onnx/lenet5.rs");
    include!("import_onnx/nhwc.rs");
    include!("import_onnx/nhwc_map.rs");
    include!("import_onnx/keras_tf2onnx.rs");
    include!("import_onnx/torchvision_resnet18.rs");
    include!("import_onnx/torchvision_mobilenet_v2.rs");
    include!("import_onnx/torchvision_squeezenet1_1.rs");
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: PathBuf) -> Vec<u8> {
    fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `vgg_stack` → `VggStack`, as the generator names the structs.
fn struct_name(name: &str) -> String {
    name.split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A float32 tensor of a safetensors file: its shape and its values.
fn f32_tensor(file: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = file
        .tensor(name)
        .unwrap_or_else(|e| panic!("`{name}`: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "`{name}`");
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), values)
}

/// Imports `model` (its bytes) as the generator did.
fn run_importer(name: &str, model: &Path, bytes: &[u8]) -> Imported {
    let options = Options {
        name: struct_name(name),
        source: model
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string(),
        input: None,
    };
    import(bytes, &options).unwrap_or_else(|report| panic!("{name}: {report}"))
}

/// `[C, H, W]` from one `[H, W, C]` sample.
fn hwc_to_chw(x: &[f32], chw: &[usize]) -> Vec<f32> {
    let (c, h, w) = (chw[0], chw[1], chw[2]);
    let mut out = vec![0.0; x.len()];
    for ci in 0..c {
        for hi in 0..h {
            for wi in 0..w {
                out[(ci * h + hi) * w + wi] = x[(hi * w + wi) * c + ci];
            }
        }
    }
    out
}

/// Runs every sample of ONNX Runtime's input through `net` and compares
/// with its output; returns the worst absolute difference.
fn compare<N: Network>(name: &str, net: &N, imported: &Imported) -> f32 {
    let io = read(root().join(format!("tests/import_onnx/{name}.ort.safetensors")));
    let io = SafeTensors::deserialize(&io).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (in_shape, inputs) = f32_tensor(&io, "__input");
    let (out_shape, outputs) = f32_tensor(&io, "__output");
    if imported.output_nhwc {
        let s = N::OUTPUT_SHAPE;
        assert_eq!(
            out_shape[1..],
            [s[1], s[2], s[0]],
            "{name}: output shape (NHWC)"
        );
    } else {
        assert_eq!(out_shape[1..], *N::OUTPUT_SHAPE, "{name}: output shape");
    }
    let n_in = <N::Input as Tensor>::LEN;
    let n_out = <N::Output as Tensor>::LEN;
    let samples = in_shape[0];
    assert_eq!(inputs.len(), samples * n_in, "{name}: input size");
    let mut workspace = N::new_workspace();
    let mut worst = 0.0f32;
    let mut failures = Vec::new();
    for (s, (x, want)) in inputs
        .chunks_exact(n_in)
        .zip(outputs.chunks_exact(n_out))
        .enumerate()
    {
        let x = if imported.input_nhwc {
            hwc_to_chw(x, N::INPUT_SHAPE)
        } else {
            x.to_vec()
        };
        let x = N::Input::from_flat(&x).expect("input length");
        let got = net.forward_with(x, &mut workspace).as_flat().to_vec();
        let want = if imported.output_nhwc {
            hwc_to_chw(want, N::OUTPUT_SHAPE)
        } else {
            want.to_vec()
        };
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let err = (g - w).abs();
            if err > worst || err.is_nan() {
                worst = err;
            }
            if err.is_nan() || err > 1e-4 {
                failures.push(format!(
                    "  sample {s}, output {i}: ONNX Runtime {w}, constnet {g}"
                ));
            }
        }
    }
    println!("{name}: {samples} samples x {n_out} outputs, worst |err| = {worst:e}");
    assert!(
        failures.is_empty(),
        "{name}: {} values out of tolerance, e.g.\n{}",
        failures.len(),
        failures[..failures.len().min(12)].join("\n")
    );
    worst
}

/// A committed model: imported again as committed, then run against ONNX
/// Runtime.
fn check<N: Network>(name: &str, model: &str) {
    let path = root().join(model);
    let imported = run_importer(name, &path, &read(path.clone()));
    let declaration = fs::read_to_string(root().join(format!("tests/import_onnx/{name}.rs")))
        .expect("the committed declaration");
    assert_eq!(
        imported.declaration, declaration,
        "{name}: the importer's declaration differs from the committed one (rerun tools/gen_onnx_import_tests.py)"
    );
    let weights = read(root().join(format!("tests/import_onnx/{name}.safetensors")));
    assert!(
        imported.safetensors().expect("safetensors") == weights,
        "{name}: the importer's weights differ from the committed ones"
    );
    let net = N::from_safetensors(&weights).unwrap_or_else(|e| panic!("{name}: {e}"));
    compare(name, &*net, &imported);
}

macro_rules! onnx_tests {
    ($($test:ident: $net:ident from $model:expr,)*) => {
        $(
            #[test]
            fn $test() {
                check::<imported::$net>(stringify!($test), $model);
            }
        )*
    };
}

onnx_tests! {
    vgg_stack: VggStack from "tests/golden/vgg_stack.onnx",
    mobilenet: Mobilenet from "tests/golden/mobilenet.onnx",
    strided_big: StridedBig from "tests/golden/strided_big.onnx",
    padding_modes: PaddingModes from "tests/golden/padding_modes.onnx",
    max_pools: MaxPools from "tests/golden/max_pools.onnx",
    activations_map: ActivationsMap from "tests/golden/activations_map.onnx",
    mlp: Mlp from "tests/golden/mlp.onnx",
    mlp_named: MlpNamed from "tests/golden/mlp_named.onnx",
    bn_variants: BnVariants from "tests/golden/bn_variants.onnx",
    tiny_edge: TinyEdge from "tests/golden/tiny_edge.onnx",
    resnet_cifar: ResnetCifar from "tests/golden/resnet_cifar.onnx",
    mobilenet_v2: MobilenetV2 from "tests/golden/mobilenet_v2.onnx",
    squeezenet: Squeezenet from "tests/golden/squeezenet.onnx",
    densenet: Densenet from "tests/golden/densenet.onnx",
    tf_padding: TfPadding from "tests/golden/tf_padding.onnx",
    lenet5: Lenet5 from "data/lenet5.onnx",
    nhwc: Nhwc from "tests/import_onnx/nhwc.onnx",
    nhwc_map: NhwcMap from "tests/import_onnx/nhwc_map.onnx",
    keras_tf2onnx: KerasTf2onnx from "tests/import_onnx/keras_tf2onnx.onnx",
}

// ---------------------------------------------------------------------------
// torchvision, with deterministic initializers (`onnx_value` in
// tools/gen_onnx_import_tests.py).
// ---------------------------------------------------------------------------

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The `i`-th value in [0, 1) of `key`'s SplitMix64 stream (24 bits).
fn uniform(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    #[allow(clippy::cast_precision_loss)] // 24 bits: exact
    let top = (z >> 40) as f64;
    top / 16_777_216.0
}

/// The values of ONNX initializer `name`, as `onnx_value` in
/// `tools/gen_onnx_import_tests.py` computes them.
fn onnx_value(name: &str, shape: &[usize], out: &mut [f32]) {
    let seed = fnv1a(name);
    let (lo, width, scale) = if name.starts_with("input.") {
        (-1.5, 3.0, None)
    } else if shape.len() >= 2 {
        let fan_in: usize = shape[1..].iter().product();
        #[allow(clippy::cast_precision_loss)] // fan-ins are small
        let scale = 1.4 * (3.0 / fan_in as f64).sqrt();
        (0.0, 0.0, Some(scale))
    } else {
        match name.rsplit('.').next().unwrap_or_default() {
            "weight" => (0.5, 1.0, None),
            "running_mean" => (-0.5, 1.0, None),
            "running_var" => (0.5, 1.5, None),
            _ => (-0.3, 0.6, None),
        }
    };
    for (i, v) in out.iter_mut().enumerate() {
        let u = uniform(seed, i as u64);
        let value = match scale {
            Some(s) => (2.0 * u - 1.0) * s,
            None => lo + width * u,
        };
        #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
        {
            *v = value as f32;
        }
    }
}

/// A torchvision model: its initializers generated, imported (the
/// declaration as committed), run against ONNX Runtime with the weights
/// the importer wrote.
fn check_torchvision<N: Network>(model: &str) {
    let name = format!("torchvision_{model}");
    let path = root().join(format!("tests/import_onnx/{name}.onnx"));
    let filled = constnet_import::fill_empty_initializers(&read(path.clone()), onnx_value)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let imported = run_importer(&name, &path, &filled);
    let declaration = fs::read_to_string(root().join(format!("tests/import_onnx/{name}.rs")))
        .expect("the committed declaration");
    assert_eq!(
        imported.declaration, declaration,
        "{name}: the importer's declaration differs from the committed one (rerun tools/gen_onnx_import_tests.py)"
    );
    let weights = imported.safetensors().expect("safetensors");
    let net = N::from_safetensors(&weights).unwrap_or_else(|e| panic!("{name}: {e}"));
    compare(&name, &*net, &imported);
}

#[test]
fn torchvision_resnet18() {
    check_torchvision::<imported::TorchvisionResnet18>("resnet18");
}

#[test]
fn torchvision_mobilenet_v2() {
    check_torchvision::<imported::TorchvisionMobilenetV2>("mobilenet_v2");
}

#[test]
fn torchvision_squeezenet1_1() {
    check_torchvision::<imported::TorchvisionSqueezenet11>("squeezenet1_1");
}

/// The inputs ONNX Runtime ran on are the generator's: the Rust generator
/// gives the Python one's bits.
#[test]
fn generated_inputs_are_the_python_ones() {
    let io = read(root().join("tests/import_onnx/torchvision_squeezenet1_1.ort.safetensors"));
    let io = SafeTensors::deserialize(&io).expect("io");
    let (shape, inputs) = f32_tensor(&io, "__input");
    let n: usize = shape[1..].iter().product();
    for (i, x) in inputs.chunks_exact(n).enumerate() {
        let mut want = vec![0.0; n];
        onnx_value(&format!("input.{i}"), &shape[1..], &mut want);
        assert!(x == want.as_slice(), "input.{i}");
    }
}
