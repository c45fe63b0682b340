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

#[path = "common/golden.rs"]
mod golden;
use golden::*;

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
    let ours: Vec<(String, Vec<usize>)> = ResNet18::PARAMS
        .iter()
        .map(|p| (p.name.to_string(), p.shape.to_vec()))
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(ResNet18::PARAMETERS, 11_689_512);
    assert_eq!(ResNet18::OUTPUT_SHAPE, &[1000]);
}
