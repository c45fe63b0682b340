//! Golden tests against PyTorch for the whole `network!` vocabulary.
//!
//! `tools/golden_networks.py` builds 18 small networks in PyTorch (as
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
    let traced = check_trace(name, &*net, &io, &inputs[..<N::Input as Tensor>::LEN]);
    println!("{name}: {traced} traced layers match PyTorch's");
    err
}

/// Runs the first sample through `forward_traced` and compares every row
/// of the trace (layer, merge, block) that PyTorch recorded under the same
/// name (`__trace.<state_dict prefix>`, the output of every submodule
/// called once). Every recorded module with weights must be a row: a name
/// that does not match is a naming mistake. Returns how many rows were
/// compared.
fn check_trace<N: Network>(name: &str, net: &N, io: &SafeTensors<'_>, x: &[f32]) -> usize {
    let x = N::Input::from_flat(x).expect("input length");
    let mut trace = N::new_trace();
    let out = net.forward_traced(x, &mut trace);
    let fused = net.forward(x);
    for (a, b) in out.as_flat().iter().zip(fused.as_flat()) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "{name}: forward_traced {a} and forward {b} differ"
        );
    }
    let mut rows = std::collections::BTreeMap::new();
    constnet::Trace::visit(&*trace, &mut |info, values| {
        rows.insert(info.name.to_string(), values.to_vec());
    });
    let mut compared = 0;
    for (key, _) in io.tensors() {
        let Some(layer) = key.strip_prefix("__trace.") else {
            continue;
        };
        let owns_weights = N::PARAMS
            .iter()
            .any(|p| p.name.starts_with(&format!("{layer}.")));
        let Some(ours) = rows.get(layer) else {
            // A module without weights (an activation PyTorch names) may be
            // unnamed in the declaration; one with weights may not.
            assert!(
                !owns_weights,
                "{name}: PyTorch module `{layer}` is no row of the trace"
            );
            continue;
        };
        let (shape, theirs) = f32_tensor(io, &key);
        assert_eq!(ours.len(), theirs.len(), "{name}: `{layer}` {shape:?}");
        for (j, (&got, &want)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                within_tolerance(got, want),
                "{name}: traced `{layer}`[{j}]: PyTorch {want}, constnet {got}"
            );
        }
        compared += 1;
    }
    compared
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
#[path = "common/resnet.rs"]
mod resnet;
use resnet::ResNetCifar;

constnet::network! {
    /// torchvision's `Conv2dNormActivation` with ReLU6.
    block ConvBnRelu6(inp, oup, kernel = 3, stride = 1, groups = 1) {
        Conv2d(inp, oup, kernel, stride = stride, padding = (kernel - 1) / 2, groups = groups, bias = false),
        BatchNorm2d(oup),
        ReLU6,
    }

    /// torchvision's `InvertedResidual`: expansion (unless 1), depthwise,
    /// linear bottleneck; the input added only where the shape allows.
    block InvertedResidual(inp, oup, stride, expand_ratio) {
        Residual(when = stride == 1 && inp == oup) {
            conv: Sequential {
                if expand_ratio != 1 {
                    ConvBnRelu6(inp, inp * expand_ratio, kernel = 1),
                },
                ConvBnRelu6(inp * expand_ratio, inp * expand_ratio, stride = stride, groups = inp * expand_ratio),
                Conv2d(inp * expand_ratio, oup, 1, bias = false),
                BatchNorm2d(oup),
            },
        },
    }

    /// MobileNetV2's structure, small.
    struct MobileNetV2 {
        input: [3, 32, 32],
        features: Sequential {
            ConvBnRelu6(3, 16, stride = 2),
            InvertedResidual(16, 8, 1, 1),
            InvertedResidual(8, 12, 2, 6),
            InvertedResidual(12, 12, 1, 6),
            InvertedResidual(12, 16, 2, 6),
            InvertedResidual(16, 16, 1, 6),
            ConvBnRelu6(16, 64, kernel = 1),
        },
        AdaptiveAvgPool2d(1),
        Flatten,
        classifier: Sequential { Dropout(0.2), Linear(64, 10) },
    }
}

constnet::network! {
    /// torchvision's SqueezeNet `Fire`: squeeze, then two expand branches
    /// concatenated.
    block Fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes) {
        squeeze: Conv2d(inplanes, squeeze_planes, 1),
        squeeze_activation: ReLU,
        Cat {
            {
                expand1x1: Conv2d(squeeze_planes, expand1x1_planes, 1),
                expand1x1_activation: ReLU,
            },
            {
                expand3x3: Conv2d(squeeze_planes, expand3x3_planes, 3, padding = 1),
                expand3x3_activation: ReLU,
            },
        },
    }

    /// SqueezeNet 1.1's structure, small.
    struct SqueezeNet {
        input: [3, 33, 33],
        features: Sequential {
            Conv2d(3, 16, 3, stride = 2),
            ReLU,
            MaxPool2d(3, stride = 2, ceil_mode = true),
            Fire(16, 4, 8, 8),
            Fire(16, 4, 8, 8),
            MaxPool2d(3, stride = 2, ceil_mode = true),
            Fire(16, 8, 16, 16) -> [32, 4, 4],
        },
        classifier: Sequential { Dropout(0.5), Conv2d(32, 10, 1), ReLU, AdaptiveAvgPool2d(1) },
        Flatten,
    }
}

constnet::network! {
    /// A DenseNet layer: its input and its new features, concatenated.
    block DenseLayer(inp, growth, bn_size = 4) {
        Cat {
            {},
            {
                norm1: BatchNorm2d(inp),
                relu1: ReLU,
                conv1: Conv2d(inp, bn_size * growth, 1, bias = false),
                norm2: BatchNorm2d(bn_size * growth),
                relu2: ReLU,
                conv2: Conv2d(bn_size * growth, growth, 3, padding = 1, bias = false),
            },
        },
    }

    /// A DenseNet-style dense block and transition.
    struct DenseNet {
        input: [3, 12, 12],
        conv0: Conv2d(3, 12, 3, padding = 1, bias = false),
        denseblock1: Sequential {
            denselayer1: DenseLayer(12, 6),
            denselayer2: DenseLayer(18, 6),
            denselayer3: DenseLayer(24, 6),
        } -> [30, 12, 12],
        transition1: Sequential {
            norm: BatchNorm2d(30),
            relu: ReLU,
            conv: Conv2d(30, 15, 1, bias = false),
            pool: AvgPool2d(2),
        },
        AdaptiveAvgPool2d(1),
        Flatten,
        classifier: Linear(15, 5),
    }
}

constnet::network! {
    /// Padding layers: TensorFlow's "same" at stride 2, and each mode; a
    /// "same" convolution with an even kernel (padded unevenly).
    struct TfPadding {
        input: [3, 17, 17],
        ZeroPad2d((0, 1, 0, 1)),
        Conv2d(3, 8, 3, stride = 2) -> [8, 8, 8],
        ReLU,
        ReflectionPad2d((1, 2, 0, 1)),
        Conv2d(8, 8, 3),
        ReplicationPad2d(1),
        MaxPool2d(2),
        ConstantPad2d((1, 0, 2, 1), 0.5),
        Conv2d(8, 6, 3, stride = 2) -> [6, 3, 2],
        CircularPad2d(1),
        Conv2d(6, 4, 3),
        Conv2d(4, 4, (2, 3), padding = "same") -> [4, 3, 2],
    }
}

#[test]
fn resnet_cifar() {
    check_golden::<ResNetCifar>("resnet_cifar");
}

#[test]
fn mobilenet_v2() {
    check_golden::<MobileNetV2>("mobilenet_v2");
}

#[test]
fn squeezenet() {
    check_golden::<SqueezeNet>("squeezenet");
}

#[test]
fn densenet() {
    check_golden::<DenseNet>("densenet");
}

#[test]
fn tf_padding() {
    check_golden::<TfPadding>("tf_padding");
}

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
            "densenet",
            "dilation_groups",
            "max_pools",
            "mlp",
            "mlp_named",
            "mobilenet",
            "mobilenet_v2",
            "padding_modes",
            "resnet_cifar",
            "squeezenet",
            "strided_big",
            "tf_padding",
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

/// ResNet-18 in torchvision's layout has exactly the keys and shapes of
/// `torchvision.models.resnet18().state_dict()` (listed, without the
/// `num_batches_tracked` counters, in `tests/golden/resnet18_keys.json` by
/// `tools/golden_networks.py`): such a file loads unchanged.
#[test]
fn resnet18_has_torchvision_keys() {
    let text = fs::read_to_string(golden_dir().join("resnet18_keys.json")).unwrap();
    let expected: Vec<(String, Vec<usize>)> = text
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').strip_prefix("[\""))
        .map(|l| {
            let (key, shape) = l.split_once("\", [").unwrap();
            let shape = shape.trim_end_matches("]]");
            let dims = shape.split(", ").map(|d| d.parse().unwrap()).collect();
            (key.to_string(), dims)
        })
        .collect();
    assert_eq!(expected.len(), 102);
    let ours: Vec<(String, Vec<usize>)> = resnet::ResNet18::PARAMS
        .iter()
        .map(|p| (p.name.to_string(), p.shape.to_vec()))
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(resnet::ResNet18::PARAMETERS, 11_689_512);
    assert_eq!(resnet::ResNet18::OUTPUT_SHAPE, &[1000]);
}
