//! The PyTorch importer's round trip (`tools/constnet_import`), with no
//! Python: `tools/gen_import_tests.py` ran the importer on PyTorch modules
//! and committed what it wrote to `tests/import/`; here those declarations
//! compile, load the weights the importer wrote and give PyTorch's outputs.
//!
//! - The 18 networks of `tools/golden_networks.py` (every layer and option
//!   of the vocabulary, residual blocks, branches, concatenations, padding
//!   layers): `tests/import/<name>.rs` and `<name>.safetensors`, against
//!   the PyTorch outputs in `tests/golden/<name>.io.safetensors`.
//! - `Functional` and `CifarResNet` of `tools/gen_import_tests.py`:
//!   functional calls, `ModuleList`s, tensors saved under keys the
//!   declaration renames, a ResNet as CIFAR code writes it; against
//!   `tests/import/<name>.io.safetensors`.
//! - The shipped LeNet-5 (`tools/train_lenet.py`'s module with
//!   `data/lenet5.safetensors`), on all 2,000 test digits, against
//!   `data/lenet5_golden.safetensors`.
//! - torchvision's `resnet18` (on [3, 112, 112], a quarter of its cost
//!   at 224 × 224 in this unoptimised build), `mobilenet_v2` and
//!   `squeezenet1_1` (on [3, 224, 224]): the declarations the importer
//!   wrote, with weights and inputs from a deterministic generator that
//!   `gen_import_tests.py` also put into the PyTorch models (their 66 MB
//!   of weights are not committed), against
//!   `tests/import/torchvision_<model>.out.safetensors`.
//!
//! The tolerance is the golden tests': 1e-4 absolute, or 1e-3 relative
//! where |PyTorch's value| > 1.

use std::fs;
use std::path::{Path, PathBuf};

use constnet::{Network, Tensor};
use safetensors::SafeTensors;

#[path = "../examples/mnist/mod.rs"]
mod mnist;

/// What the importer wrote, included as generated.
mod imported {
    include!("import/vgg_stack.rs");
    include!("import/mobilenet.rs");
    include!("import/strided_big.rs");
    include!("import/padding_modes.rs");
    include!("import/dilation_groups.rs");
    include!("import/max_pools.rs");
    include!("import/avg_pools.rs");
    include!("import/adaptive.rs");
    include!("import/activations_map.rs");
    include!("import/mlp.rs");
    include!("import/mlp_named.rs");
    include!("import/bn_variants.rs");
    include!("import/tiny_edge.rs");
    include!("import/resnet_cifar.rs");
    include!("import/mobilenet_v2.rs");
    include!("import/squeezenet.rs");
    include!("import/densenet.rs");
    include!("import/tf_padding.rs");
    include!("import/lenet5.rs");
    include!("import/functional.rs");
    include!("import/cifar_resnet.rs");
    include!("import/torchvision_resnet18.rs");
    include!("import/torchvision_mobilenet_v2.rs");
    include!("import/torchvision_squeezenet1_1.rs");
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: PathBuf) -> Vec<u8> {
    fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The tolerance rule of the golden tests.
fn within_tolerance(got: f32, expected: f32) -> bool {
    let err = (got - expected).abs();
    err <= 1e-4 || (expected.abs() > 1.0 && err <= 1e-3 * expected.abs())
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

/// Runs every sample of `inputs` through `net` (`forward_with`, on two
/// threads with a workspace each on the heap) and asserts every output
/// value is within tolerance of `expected`; returns the worst absolute
/// error.
fn compare<N: Network + Sync>(name: &str, net: &N, inputs: &[f32], expected: &[f32]) -> f32 {
    let n_in = <N::Input as Tensor>::LEN;
    let n_out = <N::Output as Tensor>::LEN;
    let samples = inputs.len() / n_in;
    assert_eq!(samples, expected.len() / n_out, "{name}: samples");
    let half = samples.div_ceil(2) * n_in;
    let outputs: Vec<f32> = std::thread::scope(|s| {
        let run = |part: &[f32]| {
            let mut workspace = N::new_workspace();
            part.chunks_exact(n_in)
                .flat_map(|x| {
                    let x = N::Input::from_flat(x).expect("input length");
                    net.forward_with(x, &mut workspace).as_flat().to_vec()
                })
                .collect::<Vec<f32>>()
        };
        let (first, second) = inputs.split_at(half);
        let later = s.spawn(move || run(second));
        let mut outputs = run(first);
        outputs.extend(later.join().expect("forward panicked"));
        outputs
    });
    let mut worst = 0.0f32;
    let mut failures = Vec::new();
    for (i, (&got, &want)) in outputs.iter().zip(expected).enumerate() {
        let err = (got - want).abs();
        if err > worst || err.is_nan() {
            worst = err;
        }
        if !within_tolerance(got, want) {
            failures.push(format!(
                "  sample {}, output {}: PyTorch {want}, constnet {got}",
                i / n_out,
                i % n_out
            ));
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

/// A golden network: the imported declaration with the imported weights,
/// against PyTorch's outputs in `tests/golden/<name>.io.safetensors`.
fn check_golden<N: Network + Sync>(name: &str) {
    check_io::<N>(name, &format!("tests/golden/{name}.io.safetensors"));
}

/// The imported declaration `name` with the imported weights, against
/// PyTorch's outputs (`__input`, `__output`) in the file `io`.
fn check_io<N: Network + Sync>(name: &str, io: &str) {
    let weights = read(root().join(format!("tests/import/{name}.safetensors")));
    let net = N::from_safetensors(&weights).unwrap_or_else(|e| panic!("{name}: {e}"));
    let io_bytes = read(root().join(io));
    let io = SafeTensors::deserialize(&io_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (input_shape, inputs) = f32_tensor(&io, "__input");
    let (output_shape, outputs) = f32_tensor(&io, "__output");
    assert_eq!(input_shape[1..], *N::INPUT_SHAPE, "{name}: input shape");
    assert_eq!(output_shape[1..], *N::OUTPUT_SHAPE, "{name}: output shape");
    compare(name, &*net, &inputs, &outputs);
}

macro_rules! golden {
    ($($test:ident: $net:ident,)*) => {
        $(
            #[test]
            fn $test() {
                check_golden::<imported::$net>(stringify!($test));
            }
        )*
    };
}

golden! {
    vgg_stack: VggStack,
    mobilenet: Mobilenet,
    strided_big: StridedBig,
    padding_modes: PaddingModes,
    dilation_groups: DilationGroups,
    max_pools: MaxPools,
    avg_pools: AvgPools,
    adaptive: Adaptive,
    activations_map: ActivationsMap,
    mlp: Mlp,
    mlp_named: MlpNamed,
    bn_variants: BnVariants,
    tiny_edge: TinyEdge,
    resnet_cifar: ResnetCifar,
    mobilenet_v2: MobilenetV2,
    squeezenet: Squeezenet,
    densenet: Densenet,
    tf_padding: TfPadding,
}

/// Functional calls, `ModuleList`s and keys the declaration renames
/// (`Functional` in `tools/gen_import_tests.py`).
#[test]
fn functional() {
    check_io::<imported::Functional>("functional", "tests/import/functional.io.safetensors");
}

/// A ResNet as CIFAR code writes it (`CifarResNet` in
/// `tools/gen_import_tests.py`): empty `nn.Sequential()` shortcuts, a
/// weightless module used twice (a block without parameters).
#[test]
fn cifar_resnet() {
    check_io::<imported::CifarResNet>("cifar_resnet", "tests/import/cifar_resnet.io.safetensors");
}

/// The shipped LeNet-5, imported from `tools/train_lenet.py`'s module,
/// on all 2,000 test digits.
#[test]
fn lenet5() {
    use imported::LeNet5;
    let weights = read(root().join("tests/import/lenet5.safetensors"));
    let net = LeNet5::from_safetensors(&weights).expect("tests/import/lenet5.safetensors");
    let digits = mnist::Mnist::load(&root().join("data/mnist"), "t10k").expect("data/mnist");
    let inputs: Vec<f32> = digits
        .images
        .iter()
        .flat_map(|d| mnist::lenet_input(d).as_flat().to_vec())
        .collect();
    let golden = read(root().join("data/lenet5_golden.safetensors"));
    let golden = SafeTensors::deserialize(&golden).expect("data/lenet5_golden.safetensors");
    let (shape, logits) = f32_tensor(&golden, "logits");
    assert_eq!(shape, [2000, 10]);
    let worst = compare("lenet5", &*net, &inputs, &logits);
    assert!(worst <= 1e-4);
}

/// The imported LeNet-5 reads the shipped weights file too: the importer
/// kept PyTorch's keys.
#[test]
fn lenet5_reads_the_shipped_weights() {
    let shipped = read(root().join("data/lenet5.safetensors"));
    let imported = read(root().join("tests/import/lenet5.safetensors"));
    let a = imported::LeNet5::from_safetensors(&shipped).expect("data/lenet5.safetensors");
    let b = imported::LeNet5::from_safetensors(&imported).expect("imported weights");
    assert_eq!(a.to_safetensors().unwrap(), b.to_safetensors().unwrap());
}

// ---------------------------------------------------------------------------
// torchvision, with deterministic weights (`deterministic` in
// tools/gen_import_tests.py).
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

/// The tensor `key` of shape `shape`, as `deterministic` in
/// `tools/gen_import_tests.py` computes it (the same f64 operations, then
/// rounded to f32).
fn deterministic(key: &str, shape: &[usize], out: &mut [f32]) {
    let seed = fnv1a(key);
    let last = key.rsplit('.').next().unwrap_or_default();
    let (lo, width, scale) = if key.starts_with("input.") {
        (-1.5, 3.0, None)
    } else if last == "weight" && shape.len() >= 2 {
        let fan_in: usize = shape[1..].iter().product();
        #[allow(clippy::cast_precision_loss)] // fan-ins are small
        let scale = 1.4 * (3.0 / fan_in as f64).sqrt();
        (0.0, 0.0, Some(scale))
    } else {
        match last {
            "weight" => (0.5, 1.0, None),
            "bias" => (-0.3, 0.6, None),
            "running_mean" => (-0.5, 1.0, None),
            "running_var" => (0.5, 1.5, None),
            other => panic!("no deterministic rule for `{other}` ({key})"),
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

/// A torchvision model's declaration, with the generated weights and
/// inputs, against PyTorch's outputs.
fn check_torchvision<N: Network + Sync>(model: &str) {
    let mut net = N::new_zeroed();
    net.visit_params_mut(&mut |info, values| deterministic(info.name, info.shape, values));
    let out = read(root().join(format!("tests/import/torchvision_{model}.out.safetensors")));
    let out = SafeTensors::deserialize(&out).expect("outputs");
    let (shape, expected) = f32_tensor(&out, "output");
    assert_eq!(shape[1..], *N::OUTPUT_SHAPE, "{model}: output shape");
    let mut inputs = vec![0.0; shape[0] * <N::Input as Tensor>::LEN];
    for (i, x) in inputs
        .chunks_exact_mut(<N::Input as Tensor>::LEN)
        .enumerate()
    {
        deterministic(&format!("input.{i}"), N::INPUT_SHAPE, x);
    }
    compare(model, &*net, &inputs, &expected);
}

#[test]
fn torchvision_resnet18() {
    check_torchvision::<imported::TvResNet18>("resnet18");
}

#[test]
fn torchvision_mobilenet_v2() {
    check_torchvision::<imported::TvMobileNetV2>("mobilenet_v2");
}

#[test]
fn torchvision_squeezenet1_1() {
    check_torchvision::<imported::TvSqueezeNet11>("squeezenet1_1");
}

/// The generator gives the Python one's bits (values printed by
/// `deterministic` in `tools/gen_import_tests.py`).
#[test]
fn deterministic_values_are_the_python_ones() {
    let cases: [(&str, &[usize], &[u32]); 4] = [
        ("fc.bias", &[3], &[0xbc5b_b25a, 0xbc3d_6a0d, 0xbe07_2118]),
        (
            "conv1.weight",
            &[2, 1, 1, 3],
            &[
                0x3e01_3d26,
                0x3f2f_bb5f,
                0xbfaa_fc20,
                0x3f29_4e7b,
                0xbebb_4cb6,
                0x3fa6_653b,
            ],
        ),
        ("bn1.running_var", &[2], &[0x3fbb_52b4, 0x3fd7_0e82]),
        ("input.0", &[2], &[0x3f77_cea2, 0x3e24_ad80]),
    ];
    for (key, shape, bits) in cases {
        let mut values = vec![0.0f32; bits.len()];
        deterministic(key, shape, &mut values);
        let got: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, bits, "{key}");
    }
}
