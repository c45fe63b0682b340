//! Golden CNNs (`tests/golden/`) quantized by TensorFlow Lite: constnet's
//! `#[int8]` network with TFLite's parameters gives TFLite's reference
//! kernels' int8 outputs, bit for bit. The files
//! (`tests/int8/<name>_tflite.safetensors`) are written by
//! `tools/tflite_int8_cnns.py`: TFLite's int8 weights, biases and weight
//! scales (batch norms folded by TFLite's converter), the scale and zero
//! point of every value under its layer-table row's name, and 64 inputs
//! with TFLite's int8 outputs.

use std::fs;
use std::path::Path;

use constnet::quant::calibrate::Calibration;
use constnet::quant::network::Stored;
use constnet::quant::{Int8Network, QParams, QTensor};
use constnet::{Network, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

#[path = "common/golden.rs"]
#[allow(dead_code)]
mod golden;
#[path = "../examples/resnet8/net.rs"]
mod resnet8;
#[path = "common/tensors.rs"]
mod tensors;
#[path = "common/zoo.rs"]
#[allow(dead_code)]
mod zoo;
use golden::{
    MobileNet, MobileNetInt8, MobileNetV2, MobileNetV2Int8, ResNetCifar, ResNetCifarInt8,
    SqueezeNet, SqueezeNetInt8, TinyEdge, TinyEdgeInt8, VggStack, VggStackInt8,
};
use tensors::{f32s, i32s, i8s};

/// The parameters TFLite gave the value shown by row (or `input`) `name`,
/// if it wrote one.
fn params(file: &SafeTensors<'_>, name: &str) -> Option<QParams> {
    file.tensor(&format!("{name}.scale")).ok()?;
    let zero_point = i32s(file, &format!("{name}.zero_point"))[0];
    Some(QParams {
        scale: f32s(file, &format!("{name}.scale"))[0],
        zero_point: i8::try_from(zero_point).unwrap(),
    })
}

/// What one golden network's comparison found.
struct Report {
    /// Outputs compared, and how many differ from TFLite's.
    outputs: usize,
    differ: usize,
    /// Weights constnet quantizes from the float network that differ from
    /// TFLite's (by at most one step: the folded batch norm's rounding).
    weights_off: usize,
}

/// `Q` with TFLite's parameters and stored tensors, run on TFLite's int8
/// inputs; the float network of `tests/golden/<name>.safetensors`.
fn against_tflite<N: Network, Q: Int8Network<Float = N>>(name: &str) -> Report {
    against_tflite_of::<N, Q>(name, &format!("tests/golden/{name}.safetensors"))
}

/// [`against_tflite`] with the float weights in `float` (under the root).
fn against_tflite_of<N: Network, Q: Int8Network<Float = N>>(name: &str, float: &str) -> Report {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let float = N::from_safetensors(&fs::read(root.join(float)).unwrap()).unwrap();
    let bytes_ = fs::read(root.join(format!("tests/int8/{name}_tflite.safetensors"))).unwrap();
    let file = SafeTensors::deserialize(&bytes_).unwrap();

    // Each row's value as TFLite quantized it; a row TFLite wrote no value
    // for (a folded batch norm, a pool, Flatten) keeps the one before, as
    // constnet's values do.
    let input = params(&file, "input").unwrap();
    let mut last = input;
    let layers = N::LAYERS
        .iter()
        .map(|row| {
            last = params(&file, row.name).unwrap_or(last);
            (row, last)
        })
        .collect();
    let ours = Q::quantize(&float, &Calibration { input, layers }).unwrap();

    // The network with TFLite's weights, biases and weight scales.
    let q = Q::from_row_parameters(&float, &bytes_).unwrap();
    let mut theirs = Vec::new();
    q.visit_stored(&mut |_, _, data| {
        if let Stored::I8(w) = data {
            theirs.extend_from_slice(w);
        }
    });
    let (mut weights, mut weights_off, mut k) = (0, 0, 0);
    ours.visit_stored(&mut |tensor, _, data| {
        if let Stored::I8(w) = data {
            for &a in w {
                let b = theirs[k];
                assert!((i32::from(a) - i32::from(b)).abs() <= 1, "{tensor}");
                weights_off += usize::from(a != b);
                k += 1;
            }
            weights += w.len();
        }
    });
    assert_eq!(k, theirs.len());

    // constnet quantizes the float inputs as TFLite's QUANTIZE does.
    let inputs = i8s(&file, "input.values");
    for (x, theirs) in f32s(&file, "input.float")
        .chunks_exact(N::Input::LEN)
        .zip(inputs.chunks_exact(N::Input::LEN))
    {
        let ours: Vec<i8> = x.iter().map(|&v| input.quantize(v)).collect();
        assert_eq!(ours, theirs, "{name}: quantized input");
    }

    let expected = i8s(&file, "output.values");
    let (mut outputs, mut differ) = (0, 0);
    for (x, theirs) in inputs
        .chunks_exact(N::Input::LEN)
        .zip(expected.chunks_exact(Q::Output::LEN))
    {
        let ours = q.forward(Q::Input::from_flat(x).unwrap());
        outputs += theirs.len();
        differ += ours
            .as_flat()
            .iter()
            .zip(theirs)
            .filter(|(a, b)| a != b)
            .count();
    }
    println!(
        "{name}: {differ} of {outputs} int8 outputs differ from TFLite's; \
         {weights_off} of {weights} weights quantized from the float network differ from TFLite's by one step"
    );
    Report {
        outputs,
        differ,
        weights_off,
    }
}

#[test]
fn vgg_stack_equals_tflite() {
    let r = against_tflite::<VggStack, VggStackInt8>("vgg_stack");
    assert_eq!((r.outputs, r.differ), (640, 0));
    assert_eq!(r.weights_off, 0);
}

/// Residual `Add`s with fused ReLUs, stride-2 convolutions and projections,
/// a global average pool.
#[test]
fn resnet_cifar_equals_tflite() {
    let r = against_tflite::<ResNetCifar, ResNetCifarInt8>("resnet_cifar");
    assert_eq!((r.outputs, r.differ), (640, 0));
    assert_eq!(r.weights_off, 0);
}

/// Depthwise convolutions (stride 1 and 2) with ReLU6 fused, 1×1
/// expansions and projections, residual `Add`s without an activation.
#[test]
fn mobilenet_v2_equals_tflite() {
    let r = against_tflite::<MobileNetV2, MobileNetV2Int8>("mobilenet_v2");
    assert_eq!((r.outputs, r.differ), (640, 0));
    assert_eq!(r.weights_off, 0);
}

/// Fire modules (`Cat` of a 1×1 and a padded 3×3 branch, both quantized
/// with the `Cat`'s parameters, as TFLite's converter does), ceil-mode max
/// pools (TFLite: a PAD and a valid pool, equal after a ReLU), a 1×1
/// classifier and a global average pool.
#[test]
fn squeezenet_equals_tflite() {
    let r = against_tflite::<SqueezeNet, SqueezeNetInt8>("squeezenet");
    assert_eq!((r.outputs, r.differ), (640, 0));
    assert_eq!(r.weights_off, 0);
}

/// A convolution whose kernel covers the whole input, a linear layer
/// without bias, and TFLite's int8 softmax (gemmlowp's fixed-point `exp`
/// and reciprocal; outputs on the 1/256 grid).
#[test]
fn tiny_edge_equals_tflite() {
    let r = against_tflite::<TinyEdge, TinyEdgeInt8>("tiny_edge");
    assert_eq!((r.outputs, r.differ), (8000, 0));
    assert_eq!(r.weights_off, 0);
}

/// Depthwise convolutions (one with two outputs per channel, at stride
/// 2), ReLU6 fused, TFLite's int8 Hardswish on its own, a global average
/// pool over a 4×3 map, softmax.
#[test]
fn mobilenet_equals_tflite() {
    let r = against_tflite::<MobileNet, MobileNetInt8>("mobilenet");
    assert_eq!((r.outputs, r.differ), (384, 0));
    assert_eq!(r.weights_off, 0);
}

/// MLPerf Tiny's image classification network: residual stacks with
/// Keras' stride-2 "same" padding (a `ZeroPad2d` folded into the
/// convolution), 1×1 stride-2 shortcuts, softmax.
#[test]
fn resnet8_equals_tflite() {
    let r = against_tflite_of::<resnet8::ResNet8, resnet8::ResNet8Int8>(
        "resnet8",
        "data/zoo/resnet8.safetensors",
    );
    assert_eq!((r.outputs, r.differ), (640, 0));
    assert_eq!(r.weights_off, 0);
}

/// MLPerf Tiny's keyword spotting network: a 10×4 stride-2 first layer with
/// asymmetric padding, four depthwise-separable blocks, a 25×5 average
/// pool, softmax.
#[test]
fn ds_cnn_equals_tflite() {
    let r =
        against_tflite_of::<zoo::DsCnn, zoo::DsCnnInt8>("ds_cnn", "data/zoo/ds_cnn.safetensors");
    assert_eq!((r.outputs, r.differ), (768, 0));
    assert_eq!(r.weights_off, 0);
}

/// MLPerf Tiny's visual wake words network: MobileNetV1 ×0.25 on 96×96,
/// thirteen depthwise-separable layers (four at stride 2 with Keras'
/// padding), softmax.
#[test]
fn mobilenet_v1_equals_tflite() {
    let r = against_tflite_of::<zoo::MobileNetV1, zoo::MobileNetV1Int8>(
        "mobilenet_v1_025",
        "data/zoo/mobilenet_v1_025.safetensors",
    );
    assert_eq!((r.outputs, r.differ), (32, 0));
    // One weight of 208,112 lands on the other side of a rounding
    // boundary: TensorFlow folds the batch norm in its own float order.
    assert!(r.weights_off <= 1, "{}", r.weights_off);
}

/// `tests/int8/tiny_edge_tflite.safetensors` with tensor `name` replaced by
/// `(dtype, shape, bytes)`, or dropped (`None`).
fn edited(name: &str, replacement: Option<(Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = fs::read(root.join("tests/int8/tiny_edge_tflite.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, TensorView<'_>)> = file
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != name)
        .collect();
    let owned = replacement;
    if let Some((dtype, shape, data)) = &owned {
        tensors.push((
            name.to_string(),
            TensorView::new(*dtype, shape.clone(), data).unwrap(),
        ));
    }
    safetensors::serialize(tensors, None).unwrap()
}

/// A file that does not fit the network gets an `Err` naming the tensor.
#[test]
fn bad_row_parameter_files_are_errors_naming_the_tensor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let float = TinyEdge::from_safetensors(
        &fs::read(root.join("tests/golden/tiny_edge.safetensors")).unwrap(),
    )
    .unwrap();
    let load = |bytes: Vec<u8>| TinyEdgeInt8::from_row_parameters(&float, &bytes).err();
    let int = |v: i32| (Dtype::I32, vec![1], v.to_le_bytes().to_vec());
    let cases = [
        (edited("input.scale", None), "input.scale", "missing"),
        (
            edited("0.zero_point", Some(int(200))),
            "0.zero_point",
            "[-128, 127]",
        ),
        (
            edited(
                "2.zero_point",
                Some((Dtype::F32, vec![1], 1f32.to_le_bytes().to_vec())),
            ),
            "2.zero_point",
            "I32 or I8",
        ),
        (
            edited(
                "2.scale",
                Some((Dtype::F32, vec![1], (-1f32).to_le_bytes().to_vec())),
            ),
            "2.scale",
            "positive and finite",
        ),
        (edited("0.weight", None), "0.weight", "missing"),
        (
            edited("2.bias", Some((Dtype::I32, vec![3], vec![0; 12]))),
            "2.bias",
            "shape [3]",
        ),
    ];
    for (bytes, tensor, says) in cases {
        let e = load(bytes)
            .unwrap_or_else(|| panic!("{tensor}: loaded"))
            .to_string();
        assert!(
            e.contains(&format!("`{tensor}`")) && e.contains(says),
            "{tensor}: {e}"
        );
    }
    assert!(load(b"not a file".to_vec()).is_some());
    // A float network that cannot be quantized (the file is fine).
    let mut nan = TinyEdge::from_safetensors(
        &fs::read(root.join("tests/golden/tiny_edge.safetensors")).unwrap(),
    )
    .unwrap();
    nan.visit_params_mut(&mut |_, values| values[0] = f32::NAN);
    let e = TinyEdgeInt8::from_row_parameters(&nan, &edited("none", None))
        .err()
        .expect("a NaN weight")
        .to_string();
    assert!(
        e.starts_with("the float network: cannot quantize the weights of layer `0`"),
        "{e}"
    );
    // The file itself loads (a zero point may also be I8).
    assert!(load(edited("2.zero_point", Some((Dtype::I8, vec![1], vec![1])))).is_none());
}

/// MLPerf Tiny's anomaly detection network: the fully connected
/// autoencoder, each `BatchNorm1d` folded into the linear layer before it
/// (as TFLite's converter does).
#[test]
fn autoencoder_equals_tflite() {
    let r = against_tflite_of::<zoo::AutoEncoder, zoo::AutoEncoderInt8>(
        "autoencoder",
        "data/zoo/autoencoder.safetensors",
    );
    assert_eq!((r.outputs, r.differ), (64 * 640, 0));
    assert_eq!(r.weights_off, 0);
}
