//! Golden tests against PyTorch for the whole `network!` vocabulary.
//!
//! `tools/golden_networks.py` builds 13 small networks in PyTorch (as
//! `nn.Sequential`, keys `<index>.weight`, or as `nn.Module`s with named
//! attributes, keys `<name>.weight`) that together use every layer and every
//! option of the vocabulary, and writes to `tests/golden/`:
//!
//! - `<name>.safetensors`: the `state_dict` (BatchNorm's
//!   `num_batches_tracked` included; the loader must ignore it), loaded here
//!   with `Net::from_safetensors`;
//! - `<name>.io.safetensors`: `__input` `[B, ...input]` and `__output`
//!   `[B, ...output]`, PyTorch's eval-mode output for B = 3 random samples.
//!
//! Each test declares the same network with `constnet::network!`, runs every
//! sample through `forward` and checks every output value with
//! [`within_tolerance`]. No Python needed: the files are committed; see
//! `tests/golden/README.md` for what each network covers.

use std::fs;
use std::path::{Path, PathBuf};

use constnet::{Network, Tensor};
use safetensors::SafeTensors;

/// The folder of the golden files.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The tolerance rule: an output value matches PyTorch's if it is within
/// 1e-4 absolute, or, for |expected| > 1, within 1e-3 relative.
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

/// A flat row-major index as a multi-index of `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &n) in index.iter_mut().zip(shape).rev() {
        *i = flat % n;
        flat /= n;
    }
    index
}

/// Loads `tests/golden/<name>.safetensors` into `N`, runs every sample of
/// `<name>.io.safetensors` through `forward`, and asserts that every output
/// value is [`within_tolerance`] of PyTorch's. Prints and returns the worst
/// absolute error.
fn check_golden<N: Network>(name: &str) -> f32 {
    let dir = golden_dir();
    let weights_path = dir.join(format!("{name}.safetensors"));
    let weights = fs::read(&weights_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", weights_path.display()));
    let net = N::from_safetensors(&weights).unwrap_or_else(|e| panic!("{name}: {e}"));

    let io_path = dir.join(format!("{name}.io.safetensors"));
    let io_bytes =
        fs::read(&io_path).unwrap_or_else(|e| panic!("cannot read {}: {e}", io_path.display()));
    let io = SafeTensors::deserialize(&io_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (input_shape, inputs) = f32_tensor(&io, "__input");
    let (output_shape, outputs) = f32_tensor(&io, "__output");
    assert_eq!(input_shape[1..], *N::INPUT_SHAPE, "{name}: input shape");
    assert_eq!(output_shape[1..], *N::OUTPUT_SHAPE, "{name}: output shape");
    let samples = input_shape[0];
    assert!(samples > 0 && output_shape[0] == samples, "{name}: batch");

    let mut workspace = N::new_workspace();
    let mut worst = (0.0f32, 0, 0, 0.0f32, 0.0f32); // (|err|, sample, index, expected, got)
    let mut failures = Vec::new();
    let samples_in = inputs.chunks_exact(<N::Input as Tensor>::LEN);
    let samples_out = outputs.chunks_exact(<N::Output as Tensor>::LEN);
    for (sample, (x, expected)) in samples_in.zip(samples_out).enumerate() {
        let x = N::Input::from_flat(x).expect("input length");
        let ours = net.forward(x);
        let again = net.forward_with(x, &mut workspace);
        assert!(
            ours.as_flat()
                .iter()
                .zip(again.as_flat())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: forward and forward_with differ on sample {sample}"
        );
        for (i, (&got, &want)) in ours.as_flat().iter().zip(expected).enumerate() {
            let err = (got - want).abs();
            if err > worst.0 || err.is_nan() {
                worst = (err, sample, i, want, got);
            }
            if !within_tolerance(got, want) {
                failures.push(format!(
                    "  sample {sample}, output {:?}: PyTorch {want}, constnet {got} (|err| {err:e})",
                    unravel(i, N::OUTPUT_SHAPE)
                ));
            }
        }
    }
    let (err, sample, i, want, got) = worst;
    println!(
        "{name}: {samples} samples x {} outputs, worst |err| = {err:e} \
         (sample {sample}, output {:?}: PyTorch {want}, constnet {got})",
        <N::Output as Tensor>::LEN,
        unravel(i, N::OUTPUT_SHAPE)
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} values out of tolerance, e.g.\n{}",
        failures.len(),
        outputs.len(),
        failures[..failures.len().min(12)].join("\n")
    );
    err
}

constnet::network! {
    /// VGG-style blocks: 3x3 convs with padding 1, BatchNorm, ReLU, 2x2 max
    /// pools, a bias-free conv, Flatten, Linear, Dropout (`nn.Sequential`).
    struct VggStack {
        input: [3, 16, 12],
        Conv2d(3, 8, 3, padding = 1),
        BatchNorm2d(8),
        ReLU,
        Conv2d(8, 8, 3, padding = 1),
        BatchNorm2d(8),
        ReLU(inplace = true),
        MaxPool2d(2),
        Conv2d(8, 16, 3, padding = 1),
        ReLU,
        Conv2d(16, 16, 3, padding = 1, bias = false),
        BatchNorm2d(16),
        ReLU,
        MaxPool2d(2, stride = 2) -> [16, 4, 3],
        Flatten,
        Linear(16 * 4 * 3, 32),
        ReLU,
        Dropout(0.5),
        Linear(32, 10),
    }
}

constnet::network! {
    /// Depthwise-separable (MobileNet-style), named attributes: depthwise
    /// (groups = in_channels) and depthwise with multiplier 2.
    struct MobileNet {
        input: [4, 15, 11],
        stem: Conv2d(4, 8, 3, stride = 2, padding = 1, bias = false),
        stem_bn: BatchNorm2d(8),
        ReLU6,
        dw1: Conv2d(8, 8, 3, padding = 1, groups = 8, bias = false),
        dw1_bn: BatchNorm2d(8),
        ReLU6,
        pw1: Conv2d(8, 16, 1, bias = false),
        pw1_bn: BatchNorm2d(16),
        ReLU6,
        dw2: Conv2d(16, 32, 3, stride = 2, padding = 1, groups = 16) -> [32, 4, 3],
        Hardswish,
        pw2: Conv2d(32, 24, 1),
        pw2_bn: BatchNorm2d(24, eps = 1e-3, momentum = 0.01),
        Hardswish,
        AdaptiveAvgPool2d(1),
        Flatten,
        Dropout(p = 0.2),
        classifier: Linear(24, 6),
        Softmax(dim = 1),
    }
}

constnet::network! {
    /// Strided convs and no pooling, on inputs of magnitude ~10; Softmax over
    /// the channels of a map, LogSoftmax over its columns.
    struct StridedBig {
        input: [5, 13, 9],
        Conv2d(5, 8, 3, stride = 2),
        LeakyReLU(0.2),
        Conv2d(8, 12, (3, 2), stride = (2, 1), padding = (1, 0)),
        ELU(alpha = 0.7),
        Conv2d(12, 6, 3, stride = 2, padding = 1) -> [6, 2, 2],
        SELU,
        Conv2d(6, 5, 1),
        Softmax(dim = 1),
        LogSoftmax(dim = 3),
    }
}

constnet::network! {
    /// Conv2d padding modes and string paddings, named attributes; GELU's
    /// two forms (the exact one as the output, after a high-gain conv).
    struct PaddingModes {
        input: [3, 10, 7],
        reflect: Conv2d(3, 6, 3, padding = 1, padding_mode = "reflect"),
        Tanh,
        replicate: Conv2d(6, 6, (3, 5), padding = (2, 1), padding_mode = "replicate"),
        GELU(approximate = "tanh"),
        circular: Conv2d(6, 8, 3, stride = (1, 2), padding = (1, 2), padding_mode = "circular"),
        SiLU,
        same: Conv2d(8, 8, 5, padding = "same"),
        ReLU,
        same_dilated: Conv2d(8, 4, 3, padding = "same", dilation = 2, padding_mode = "reflect"),
        valid: Conv2d(4, 4, 3, padding = "valid") -> [4, 10, 2],
        GELU,
    }
}

constnet::network! {
    /// Dilation with padding, grouped and depthwise-multiplier convs,
    /// AdaptiveMaxPool2d on a non-divisible map.
    struct DilationGroups {
        input: [6, 14, 12],
        Conv2d(6, 12, 3, padding = 2, dilation = 2, groups = 3),
        ReLU,
        Conv2d(12, 12, (3, 2), padding = (1, 2), dilation = (2, 3), groups = 4, bias = false),
        Hardswish,
        Conv2d(_, 24, 3, stride = (2, 3), groups = 12) -> [24, 5, 4],
        Hardsigmoid,
        Conv2d(24, 24, 1, groups = 2),
        AdaptiveMaxPool2d((2, 3)),
        Flatten,
        Linear(144, 8, bias = false),
    }
}

constnet::network! {
    /// MaxPool2d with dilation, padding and ceil_mode (including a last
    /// window that would start in the padding, which PyTorch drops).
    struct MaxPools {
        input: [3, 17, 14],
        Conv2d(3, 4, 1),
        MaxPool2d(3, stride = 1, padding = 1, dilation = 2) -> [4, 15, 12],
        MaxPool2d(3, stride = 2, padding = 1, ceil_mode = true) -> [4, 8, 7],
        MaxPool2d(2, stride = None, padding = 1, ceil_mode = true) -> [4, 5, 4],
        MaxPool2d((2, 3), stride = (1, 2), dilation = (2, 1), ceil_mode = true) -> [4, 3, 2],
        Flatten,
        Linear(24, 5),
    }
}

constnet::network! {
    /// AvgPool2d with ceil_mode, count_include_pad = false and
    /// divisor_override.
    struct AvgPools {
        input: [4, 13, 14],
        Conv2d(4, 6, 3, padding = 1),
        Sigmoid,
        AvgPool2d(3, stride = 2, ceil_mode = true) -> [6, 6, 7],
        AvgPool2d(3, stride = 1, padding = 1, count_include_pad = false),
        Conv2d(6, 6, 1),
        AvgPool2d(2, padding = 1, ceil_mode = true) -> [6, 4, 4],
        AvgPool2d(
            (2, 3),
            stride = (1, 2),
            padding = (1, 1),
            ceil_mode = true,
            count_include_pad = false
        ) -> [6, 5, 3],
        AvgPool2d(2, stride = 1, divisor_override = 3) -> [6, 4, 2],
        Flatten,
        Linear(48, 6),
    }
}

constnet::network! {
    /// Adaptive pools with overlapping, non-divisible bins and a global one,
    /// named attributes.
    struct Adaptive {
        input: [3, 17, 15],
        conv1: Conv2d(3, 8, 3, stride = 2, padding = 1) -> [8, 9, 8],
        ReLU,
        AdaptiveMaxPool2d((7, 5)),
        conv2: Conv2d(8, 8, 3, padding = 1),
        GELU(approximate = "tanh"),
        AdaptiveAvgPool2d((3, 2)),
        conv3: Conv2d(8, 10, 1),
        AdaptiveAvgPool2d(1),
        Flatten,
        fc: Linear(_, 4),
        Tanh,
    }
}

constnet::network! {
    /// Every activation on a [C, H, W] map, Softmax over the rows and
    /// LogSoftmax over the channels.
    struct ActivationsMap {
        input: [6, 7, 9],
        Conv2d(6, 8, 3, padding = 1),
        ReLU6,
        Conv2d(8, 8, 1),
        LeakyReLU,
        Conv2d(8, 8, 1),
        ELU,
        Conv2d(8, 8, 1),
        GELU(approximate = "none"),
        Conv2d(8, 8, 1),
        SiLU,
        Conv2d(8, 8, 1),
        Hardswish,
        Conv2d(8, 8, 1),
        Hardsigmoid,
        Conv2d(8, 8, 1),
        Sigmoid,
        Conv2d(8, 8, 1),
        Tanh,
        Conv2d(8, 8, 1),
        Softmax(dim = 2),
        Conv2d(8, 4, 1),
        LogSoftmax(dim = -3),
    }
}

constnet::network! {
    /// An MLP on vectors (`nn.Sequential`).
    struct Mlp {
        input: [20],
        Linear(20, 32),
        GELU(approximate = "tanh"),
        Dropout(0.3),
        Linear(32, 32, bias = false),
        SELU,
        Linear(32, 16),
        Hardswish,
        Identity,
        Linear(16, 16),
        ReLU6,
        Linear(16, 16),
        LeakyReLU(negative_slope = 0.1),
        Linear(16, 10),
        LogSoftmax(dim = 1),
    }
}

constnet::network! {
    /// An MLP with named attributes; Softmax with PyTorch's implicit dim.
    struct MlpNamed {
        input: [12],
        fc1: Linear(12, 24),
        ELU(alpha = 1.5),
        Dropout,
        fc2: Linear(24, 24),
        Sigmoid,
        fc3: Linear(24, 24, bias = false),
        Tanh,
        fc4: Linear(_, 16),
        SiLU,
        fc5: Linear(16, 16),
        Hardsigmoid,
        fc6: Linear(16, 16),
        GELU,
        fc7: Linear(16, 8),
        Softmax(dim = None),
    }
}

constnet::network! {
    /// BatchNorm2d variants (on the raw input, affine = false, custom eps),
    /// Dropout2d and Identity, named attributes.
    struct BnVariants {
        input: [5, 9, 13],
        bn0: BatchNorm2d(5),
        conv1: Conv2d(5, 8, 3, bias = false),
        bn1: BatchNorm2d(8, affine = false),
        ReLU,
        Dropout2d(0.25),
        conv2: Conv2d(8, 8, (2, 3), stride = (1, 2)) -> [8, 6, 5],
        bn2: BatchNorm2d(8, eps = 1e-3, momentum = 0.05),
        Identity,
        SiLU,
        conv3: Conv2d(8, 6, 3, padding = 1, groups = 2, padding_mode = "zeros"),
        bn3: BatchNorm2d(_, eps = 0.1, track_running_stats = true),
        Dropout2d,
    }
}

constnet::network! {
    /// A kernel as large as the non-square input, a 1x1 map flattened.
    struct TinyEdge {
        input: [2, 5, 7],
        Conv2d(2, 3, (5, 7)) -> [3, 1, 1],
        Flatten,
        Linear(3, 4, bias = false),
        Softmax(dim = -1),
    }
}

#[test]
fn vgg_stack() {
    check_golden::<VggStack>("vgg_stack");
}

#[test]
fn mobilenet() {
    check_golden::<MobileNet>("mobilenet");
}

#[test]
fn strided_big() {
    check_golden::<StridedBig>("strided_big");
}

#[test]
fn padding_modes() {
    check_golden::<PaddingModes>("padding_modes");
}

#[test]
fn dilation_groups() {
    check_golden::<DilationGroups>("dilation_groups");
}

#[test]
fn max_pools() {
    check_golden::<MaxPools>("max_pools");
}

#[test]
fn avg_pools() {
    check_golden::<AvgPools>("avg_pools");
}

#[test]
fn adaptive() {
    check_golden::<Adaptive>("adaptive");
}

#[test]
fn activations_map() {
    check_golden::<ActivationsMap>("activations_map");
}

#[test]
fn mlp() {
    check_golden::<Mlp>("mlp");
}

#[test]
fn mlp_named() {
    check_golden::<MlpNamed>("mlp_named");
}

#[test]
fn bn_variants() {
    // The file keeps BatchNorm's step counters, which the loader must skip.
    let bytes = fs::read(golden_dir().join("bn_variants.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let counters = file
        .names()
        .into_iter()
        .filter(|n| n.ends_with(".num_batches_tracked"))
        .count();
    assert_eq!(counters, 4);
    check_golden::<BnVariants>("bn_variants");
}

#[test]
fn tiny_edge() {
    check_golden::<TinyEdge>("tiny_edge");
}

/// Every golden file is used by a test above, and the tolerance rule is the
/// documented one.
#[test]
fn golden_files_and_tolerance() {
    let mut names: Vec<String> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".io.safetensors").map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "activations_map",
            "adaptive",
            "avg_pools",
            "bn_variants",
            "dilation_groups",
            "max_pools",
            "mlp",
            "mlp_named",
            "mobilenet",
            "padding_modes",
            "strided_big",
            "tiny_edge",
            "vgg_stack",
        ]
    );
    assert!(within_tolerance(0.5 + 0.9e-4, 0.5));
    assert!(!within_tolerance(0.5 + 2e-4, 0.5));
    assert!(within_tolerance(-100.09, -100.0));
    assert!(!within_tolerance(-100.2, -100.0));
    assert!(!within_tolerance(f32::NAN, 0.0));
}
