//! constnet's int8 kernels (`constnet::quant`) against TensorFlow Lite's
//! reference int8 kernels, on the shipped LeNet-5, and the int8 network's
//! accuracy with constnet's own calibration.
//!
//! `tests/int8/lenet5_tflite.safetensors` (written by
//! `tools/tflite_int8_golden.py`) holds LeNet-5 as TFLite's converter
//! quantized it (per-channel int8 weights, int32 biases, every activation's
//! scale and zero point) and what TFLite's reference kernels computed with
//! it: every tensor of 20 test digits and the int8 logits of all 2,000. The
//! network below is assembled by hand from the kernels, one call per layer,
//! as `network!` will generate it.

mod common;

use common::mnist::{lenet_input, Mnist};
use common::tensors::{i32s, i8s};
use common::{data, lenet, root, tensor_f32, LeNet5, LeNet5Int8};
use constnet::quant::calibrate::{calibrate, Calibration, Method};
use constnet::quant::observe::{quantize_bias, quantize_weights};
use constnet::quant::{conv, linear, pool, quantize, Clamp, QParams, Requant, Rescale, Rounding};
use constnet::quant::{Int8Network, QTensor};
use constnet::Network;
use safetensors::SafeTensors;

/// One LeNet-5 input.
type Image = [[[f32; 32]; 32]; 1];

/// A quantized convolution or linear layer: int8 weights, int32 bias, and
/// the per-channel multipliers `s_in · s_w[o] / s_out`.
struct Layer<W, const O: usize> {
    weight: W,
    bias: [i32; O],
    requant: [Requant; O],
    out: QParams,
    rounding: Rounding,
}

/// Weight, bias, weight scales, input scale, output parameters.
type Parts = (Vec<i8>, Vec<i32>, Vec<f32>, f32, QParams);

/// A convolution: TFLite rounds its rescaling twice.
impl<const O: usize, const C: usize, const K: usize> Layer<[[[[i8; K]; K]; C]; O], O> {
    fn conv(parts: Parts) -> Self {
        Layer::new(rank4(&parts.0), parts, Rounding::Double)
    }
}

/// A linear layer: TFLite (on ruy) rounds its rescaling once.
impl<const O: usize, const I: usize> Layer<[[i8; I]; O], O> {
    fn linear(parts: Parts) -> Self {
        Layer::new(rank2(&parts.0), parts, Rounding::Single)
    }
}

impl<W, const O: usize> Layer<W, O> {
    fn new(weight: W, (_, b, s_w, s_in, out): Parts, rounding: Rounding) -> Self {
        Layer {
            weight,
            bias: b.try_into().unwrap(),
            requant: requants(s_in, &s_w, out.scale),
            out,
            rounding,
        }
    }

    fn rescale(&self) -> Rescale<'_, O> {
        Rescale {
            bias: Some(&self.bias),
            requant: &self.requant,
            zero_point: self.out.zero_point,
            clamp: Clamp::NONE,
            rounding: self.rounding,
        }
    }

    /// With the ReLU that follows it fused, as TFLite fuses it.
    fn rescale_relu(&self) -> Rescale<'_, O> {
        Rescale {
            clamp: Clamp::relu(self.out),
            ..self.rescale()
        }
    }
}

/// TFLite's multipliers: `s_in · s_w[o] / s_out` in `f64` from the `f32`
/// scales (`PopulateConvolutionQuantizationParams`).
fn requants<const O: usize>(s_in: f32, s_w: &[f32], s_out: f32) -> [Requant; O] {
    std::array::from_fn(|o| Requant::new(f64::from(s_in) * f64::from(s_w[o]) / f64::from(s_out)))
}

struct Int8LeNet {
    input: QParams,
    conv1: Layer<[[[[i8; 5]; 5]; 1]; 6], 6>,
    conv2: Layer<[[[[i8; 5]; 5]; 6]; 16], 16>,
    fc1: Layer<[[i8; 400]; 120], 120>,
    fc2: Layer<[[i8; 120]; 84], 84>,
    fc3: Layer<[[i8; 84]; 10], 10>,
}

/// Every tensor of one forward pass.
#[derive(Default)]
struct Trace {
    input: Vec<i8>,
    conv1: Vec<i8>,
    pool1: Vec<i8>,
    conv2: Vec<i8>,
    pool2: Vec<i8>,
    fc1: Vec<i8>,
    fc2: Vec<i8>,
    fc3: Vec<i8>,
}

impl Int8LeNet {
    /// The same network with other roundings, to show that the data tells
    /// them apart.
    fn set_roundings(&mut self, conv: Rounding, linear: Rounding) {
        (self.conv1.rounding, self.conv2.rounding) = (conv, conv);
        (self.fc1.rounding, self.fc2.rounding, self.fc3.rounding) = (linear, linear, linear);
    }

    fn forward(&self, x: &Image) -> Trace {
        let mut q = [[[0i8; 32]; 32]; 1];
        quantize(
            x.as_flattened().as_flattened(),
            self.input,
            q.as_flattened_mut().as_flattened_mut(),
        );
        let mut c1 = [[[0i8; 28]; 28]; 6];
        conv::conv2d::<1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 32, 32, 6, 1, 5, 5, 28, 28>(
            &q,
            self.input.zero_point,
            &self.conv1.weight,
            &self.conv1.rescale_relu(),
            &mut c1,
        );
        let mut p1 = [[[0i8; 14]; 14]; 6];
        pool::max_pool2d::<2, 2, 2, 2, 0, 0, false, 6, 28, 28, 14, 14>(&c1, &mut p1);
        let mut c2 = [[[0i8; 10]; 10]; 16];
        conv::conv2d::<1, 1, 0, 0, 0, 0, 1, 1, 1, 6, 14, 14, 16, 6, 5, 5, 10, 10>(
            &p1,
            self.conv1.out.zero_point,
            &self.conv2.weight,
            &self.conv2.rescale_relu(),
            &mut c2,
        );
        let mut p2 = [[[0i8; 5]; 5]; 16];
        pool::max_pool2d::<2, 2, 2, 2, 0, 0, false, 16, 10, 10, 5, 5>(&c2, &mut p2);
        let flat: &[i8; 400] = p2.as_flattened().as_flattened().try_into().unwrap();
        let mut f1 = [0i8; 120];
        linear::linear(
            flat,
            self.conv2.out.zero_point,
            &self.fc1.weight,
            &self.fc1.rescale_relu(),
            &mut f1,
        );
        let mut f2 = [0i8; 84];
        linear::linear(
            &f1,
            self.fc1.out.zero_point,
            &self.fc2.weight,
            &self.fc2.rescale_relu(),
            &mut f2,
        );
        let mut f3 = [0i8; 10];
        linear::linear(
            &f2,
            self.fc2.out.zero_point,
            &self.fc3.weight,
            &self.fc3.rescale(),
            &mut f3,
        );
        let flat = |t: &[i8]| t.to_vec();
        Trace {
            input: flat(q.as_flattened().as_flattened()),
            conv1: flat(c1.as_flattened().as_flattened()),
            pool1: flat(p1.as_flattened().as_flattened()),
            conv2: flat(c2.as_flattened().as_flattened()),
            pool2: flat(p2.as_flattened().as_flattened()),
            fc1: flat(&f1),
            fc2: flat(&f2),
            fc3: flat(&f3),
        }
    }

    /// The network as TFLite quantized it.
    fn from_tflite(file: &SafeTensors<'_>) -> Int8LeNet {
        let p = |t: &str| QParams {
            scale: tensor_f32(file, &format!("{t}.scale")).1[0],
            zero_point: i8::try_from(i32s(file, &format!("{t}.zero_point"))[0]).unwrap(),
        };
        let input = p("input");
        // The max pools keep their input's parameters: TFLite's file says so.
        assert_eq!(p("pool1"), p("conv1"));
        assert_eq!(p("pool2"), p("conv2"));
        let layer = |name: &str, s_in: f32, out: QParams| {
            let s_w = tensor_f32(file, &format!("{name}.weight_scale")).1;
            (
                i8s(file, &format!("{name}.weight")),
                i32s(file, &format!("{name}.bias")),
                s_w,
                s_in,
                out,
            )
        };
        let (c1, c2, f1, f2) = (p("conv1"), p("conv2"), p("fc1"), p("fc2"));
        Int8LeNet {
            input,
            conv1: Layer::conv(layer("conv1", input.scale, c1)),
            conv2: Layer::conv(layer("conv2", c1.scale, c2)),
            fc1: Layer::linear(layer("fc1", c2.scale, f1)),
            fc2: Layer::linear(layer("fc2", f1.scale, f2)),
            fc3: Layer::linear(layer("fc3", f2.scale, p("fc3"))),
        }
    }

    /// The float network quantized with constnet's calibration: TFLite's
    /// rules (per-channel symmetric weights, asymmetric activations), each
    /// convolution and linear layer's output taking the range of the ReLU
    /// after it, the pools their input's.
    fn from_float(net: &LeNet5, calibration_inputs: &[Image], method: Method) -> Int8LeNet {
        let cal = calibrate(net, calibration_inputs, method).unwrap();
        let after = |name: &str| {
            cal.layers[cal.layers.iter().position(|(l, _)| l.name == name).unwrap() + 1].1
        };
        let (c1, c2, f1, f2) = (after("conv1"), after("conv2"), after("fc1"), after("fc2"));
        let f3 = cal.layers.last().unwrap().1;
        let layer = |w: &[f32], b: &[f32], s_in: f32, out: QParams| {
            let mut weight = vec![0i8; w.len()];
            let mut scales = vec![0f32; b.len()];
            quantize_weights(w, &mut weight, &mut scales).unwrap();
            let mut bias = vec![0i32; b.len()];
            quantize_bias(b, s_in, &scales, &mut bias);
            (weight, bias, scales, s_in, out)
        };
        Int8LeNet {
            input: cal.input,
            conv1: Layer::conv(layer(
                net.conv1
                    .weight
                    .as_flattened()
                    .as_flattened()
                    .as_flattened(),
                &net.conv1.bias,
                cal.input.scale,
                c1,
            )),
            conv2: Layer::conv(layer(
                net.conv2
                    .weight
                    .as_flattened()
                    .as_flattened()
                    .as_flattened(),
                &net.conv2.bias,
                c1.scale,
                c2,
            )),
            fc1: Layer::linear(layer(
                net.fc1.weight.as_flattened(),
                &net.fc1.bias,
                c2.scale,
                f1,
            )),
            fc2: Layer::linear(layer(
                net.fc2.weight.as_flattened(),
                &net.fc2.bias,
                f1.scale,
                f2,
            )),
            fc3: Layer::linear(layer(
                net.fc3.weight.as_flattened(),
                &net.fc3.bias,
                f2.scale,
                f3,
            )),
        }
    }
}

fn golden() -> Vec<u8> {
    std::fs::read(root().join("tests/int8/lenet5_tflite.safetensors")).unwrap()
}

fn rank4<const O: usize, const C: usize, const KH: usize, const KW: usize>(
    v: &[i8],
) -> [[[[i8; KW]; KH]; C]; O] {
    let mut a = [[[[0i8; KW]; KH]; C]; O];
    a.as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(v);
    a
}

fn rank2<const O: usize, const I: usize>(v: &[i8]) -> [[i8; I]; O] {
    let mut a = [[0i8; I]; O];
    a.as_flattened_mut().copy_from_slice(v);
    a
}

fn rank3(v: &[f32]) -> Image {
    let mut a: Image = [[[0f32; 32]; 32]; 1];
    a.as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(&v[..1024]);
    a
}

fn train_inputs(n: usize) -> Vec<Image> {
    let train = Mnist::load(&data("mnist"), "train").unwrap();
    train.images[..n].iter().map(lenet_input).collect()
}

const TENSORS: [&str; 8] = [
    "input", "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3",
];

#[test]
fn every_tensor_equals_tflite_reference_kernels() {
    let bytes = golden();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let net = Int8LeNet::from_tflite(&file);
    let inputs = tensor_f32(&file, "input.float").1;
    let expected: Vec<Vec<i8>> = TENSORS
        .iter()
        .map(|t| i8s(&file, &format!("{t}.values")))
        .collect();
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    assert_eq!(inputs.len(), 20 * 1024);
    for d in 0..20 {
        let x = rank3(&inputs[d * 1024..]);
        assert_eq!(
            x,
            lenet_input(&test.images[d]),
            "digit {d}: the tool's preprocessing"
        );
        let t = net.forward(&x);
        let ours = [
            &t.input, &t.conv1, &t.pool1, &t.conv2, &t.pool2, &t.fc1, &t.fc2, &t.fc3,
        ];
        for ((name, ours), theirs) in TENSORS.iter().zip(ours).zip(&expected) {
            let n = ours.len();
            assert_eq!(theirs.len(), 20 * n, "{name}");
            let differ = ours
                .iter()
                .zip(&theirs[d * n..][..n])
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(
                differ, 0,
                "digit {d}, tensor {name}: {differ} of {n} values differ from TFLite's"
            );
        }
    }
    let logits = i8s(&file, "fc3.all");
    for (d, digit) in test.images.iter().enumerate() {
        let t = net.forward(&lenet_input(digit));
        assert_eq!(t.fc3, logits[d * 10..][..10], "digit {d}: int8 logits");
    }
    // Each layer kind's rounding is pinned by the data: the other rule
    // changes some of these values.
    let mut other = Int8LeNet::from_tflite(&file);
    for (conv, linear, layers) in [
        (Rounding::Single, Rounding::Single, 0..4),
        (Rounding::Double, Rounding::Double, 4..7),
    ] {
        other.set_roundings(conv, linear);
        let mut differ = 0;
        for d in 0..20 {
            let (a, b) = (
                net.forward(&rank3(&inputs[d * 1024..])),
                other.forward(&rank3(&inputs[d * 1024..])),
            );
            let a = [
                &a.conv1, &a.pool1, &a.conv2, &a.pool2, &a.fc1, &a.fc2, &a.fc3,
            ];
            let b = [
                &b.conv1, &b.pool1, &b.conv2, &b.pool2, &b.fc1, &b.fc2, &b.fc3,
            ];
            differ += layers
                .clone()
                .map(|l| a[l].iter().zip(b[l]).filter(|(x, y)| x != y).count())
                .sum::<usize>();
        }
        println!("conv {conv:?}, linear {linear:?}: {differ} values differ");
        assert!(
            differ > 0,
            "conv {conv:?}, linear {linear:?}: no value differs"
        );
    }
}

#[test]
fn calibration_finds_tflites_parameters() {
    let bytes = golden();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let theirs = Int8LeNet::from_tflite(&file);
    let ours = Int8LeNet::from_float(&lenet(), &train_inputs(500), Method::MinMax);
    let pairs = [
        ("input", ours.input, theirs.input),
        ("conv1", ours.conv1.out, theirs.conv1.out),
        ("conv2", ours.conv2.out, theirs.conv2.out),
        ("fc1", ours.fc1.out, theirs.fc1.out),
        ("fc2", ours.fc2.out, theirs.fc2.out),
        ("fc3", ours.fc3.out, theirs.fc3.out),
    ];
    for (name, a, b) in pairs {
        println!("{name}: constnet {a:?}, TFLite {b:?}");
        assert_eq!(a.zero_point, b.zero_point, "{name}");
        assert!(
            (a.scale / b.scale - 1.0).abs() < 1e-5,
            "{name}: {a:?} against {b:?}"
        );
    }
    let weights = |n: &Int8LeNet| -> Vec<i8> {
        [
            n.conv1.weight.as_flattened().as_flattened().as_flattened(),
            n.conv2.weight.as_flattened().as_flattened().as_flattened(),
            n.fc1.weight.as_flattened(),
            n.fc2.weight.as_flattened(),
            n.fc3.weight.as_flattened(),
        ]
        .concat()
    };
    let (a, b) = (weights(&ours), weights(&theirs));
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| (i16::from(x) - i16::from(y)).abs())
        .max()
        .unwrap();
    println!(
        "{differ} of {} int8 weights differ from TFLite's, by at most {worst}",
        a.len()
    );
    assert!(
        worst <= 1 && differ * 1000 < a.len(),
        "{differ} weights differ, by up to {worst}"
    );
}

#[test]
fn int8_accuracy_is_within_half_a_point_of_float() {
    let float = lenet();
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    let calibration = train_inputs(500);
    let correct = |predict: &dyn Fn(&Image) -> usize| {
        test.images
            .iter()
            .zip(&test.labels)
            .filter(|(d, &l)| predict(&lenet_input(d)) == usize::from(l))
            .count()
    };
    let argmax = |v: &[i8]| {
        (0..v.len())
            .max_by_key(|&i| (v[i], std::cmp::Reverse(i)))
            .unwrap()
    };
    let f = correct(&|x| common::mnist::argmax(&float.forward(x)));
    for method in [Method::MinMax, Method::Percentile(1e-4)] {
        let q = Int8LeNet::from_float(&float, &calibration, method);
        let c = correct(&|x| argmax(&q.forward(x).fc3));
        println!("{method:?}: float {f}/2000, int8 {c}/2000");
        assert!(
            c.abs_diff(f) <= 10,
            "{method:?}: int8 {c}/2000 against float {f}/2000"
        );
    }
}

/// TFLite's parameters as a calibration of the float LeNet-5: each layer's
/// output takes the parameters of the TFLite tensor it ends in (a ReLU's or
/// a pool's, the convolution's or linear layer's before it).
fn tflite_calibration(theirs: &Int8LeNet) -> Calibration {
    let mut current = theirs.input;
    let layers = LeNet5::LAYERS
        .iter()
        .map(|l| {
            current = match l.name {
                "conv1" => theirs.conv1.out,
                "conv2" => theirs.conv2.out,
                "fc1" => theirs.fc1.out,
                "fc2" => theirs.fc2.out,
                "fc3" => theirs.fc3.out,
                _ => current,
            };
            (l, current)
        })
        .collect();
    Calibration {
        input: theirs.input,
        layers,
    }
}

#[test]
fn generated_int8_network_equals_tflite() {
    let bytes = golden();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let theirs = Int8LeNet::from_tflite(&file);
    let float = lenet();
    let ours = LeNet5Int8::quantize(&float, &tflite_calibration(&theirs)).unwrap();
    // The weights it quantized itself are TFLite's.
    assert_eq!(ours.conv1.weight, theirs.conv1.weight);
    assert_eq!(ours.fc1.weight, theirs.fc1.weight);
    assert_eq!(ours.fc3.bias, theirs.fc3.bias);
    assert_eq!(ours.input_params(), theirs.input);
    assert_eq!(ours.output_params(), theirs.fc3.out);
    let logits = i8s(&file, "fc3.all");
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    let mut workspace = LeNet5Int8::new_workspace();
    for (d, digit) in test.images.iter().enumerate() {
        let x = lenet_input(digit);
        let mut q = [[[0i8; 32]; 32]; 1];
        quantize(
            x.as_flattened().as_flattened(),
            ours.input_params(),
            q.as_flat_mut(),
        );
        let y = ours.forward_with(&q, &mut workspace);
        assert_eq!(y, logits[d * 10..][..10], "digit {d}");
        if d < 50 {
            assert_eq!(ours.forward(&q), y);
            let real = ours.forward_f32(&x);
            for (r, &q) in real.iter().zip(&y) {
                assert_eq!(*r, ours.output_params().dequantize(q));
            }
        }
    }
}

#[test]
fn generated_int8_network_equals_the_kernels_assembled_by_hand() {
    let float = lenet();
    let inputs = train_inputs(200);
    let by_hand = Int8LeNet::from_float(&float, &inputs, Method::MinMax);
    let calibration = calibrate(&*float, &inputs, Method::MinMax).unwrap();
    let generated = LeNet5Int8::quantize(&float, &calibration).unwrap();
    assert_eq!(generated.conv2.weight, by_hand.conv2.weight);
    assert_eq!(generated.fc2.requant, by_hand.fc2.requant);
    for digit in &Mnist::load(&data("mnist"), "t10k").unwrap().images[..300] {
        let x = lenet_input(digit);
        let t = by_hand.forward(&x);
        let mut q = [[[0i8; 32]; 32]; 1];
        quantize(
            x.as_flattened().as_flattened(),
            generated.input_params(),
            q.as_flat_mut(),
        );
        assert_eq!(t.input, q.as_flat());
        assert_eq!(generated.forward(&q)[..], t.fc3[..]);
    }
    println!(
        "LeNet5Int8: {} bytes of weights (float: {}), workspace {} bytes",
        <LeNet5Int8 as Int8Network>::WEIGHT_BYTES,
        LeNet5::WEIGHT_BYTES,
        <LeNet5Int8 as Int8Network>::WORKSPACE_BYTES
    );
}

#[test]
fn quantize_errors_name_the_layer() {
    let mut float = lenet();
    let calibration = calibrate(&*float, &train_inputs(20), Method::MinMax).unwrap();
    let mut short = calibration.clone();
    short.layers.pop();
    let e = LeNet5Int8::quantize(&float, &short).err().unwrap();
    assert_eq!(
        e,
        constnet::quant::QuantizeError::Layers {
            expected: 12,
            found: 11
        }
    );
    assert_eq!(
        e.to_string(),
        "quantization parameters for 11 layers given, the network has 12 (calibrate the same network)"
    );
    float.fc2.weight[3][7] = f32::NAN;
    let e = LeNet5Int8::quantize(&float, &calibration).err().unwrap();
    assert!(
        matches!(
            e,
            constnet::quant::QuantizeError::Weights { layer: "fc2", .. }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("`fc2`"), "{e}");
    // Calibration errors name the tensor too: zero inputs have no range.
    let float = lenet();
    let zeros = vec![[[[0.0f32; 32]; 32]; 1]; 3];
    let e = calibrate(&*float, &zeros, Method::MinMax).err().unwrap();
    assert_eq!(e.to_string(), "cannot quantize the network's input: every value is 0: a constant tensor has no scale (give inputs that vary)");
    assert_eq!(
        calibrate(&*float, &[], Method::MinMax).err(),
        Some(constnet::quant::calibrate::CalibrationError::NoInputs)
    );
    let mut nan = zeros.clone();
    nan[2][0][5][5] = f32::NAN;
    assert_eq!(
        calibrate(&*float, &nan, Method::MinMax).err(),
        Some(constnet::quant::calibrate::CalibrationError::BadInput { index: 2 })
    );
    let e = calibrate(&*float, &[], Method::MinMax).err().unwrap();
    assert_eq!(
        e.to_string(),
        "calibration needs at least one input, none were given"
    );
    let e = calibrate(&*float, &nan, Method::MinMax).err().unwrap();
    assert_eq!(
        e.to_string(),
        "calibration input 2 holds NaN or an infinite value"
    );
}

// Issue 14's budget: the int8 LeNet-5 (weights, biases, scales and
// multipliers) in 64 KiB, under a third of the float one's 241 KiB.
const _: () = assert!(<LeNet5Int8 as Int8Network>::WEIGHT_BYTES <= 64 * 1024);
const _: () = assert!(<LeNet5Int8 as Int8Network>::WEIGHT_BYTES * 3 < LeNet5::WEIGHT_BYTES);

/// `bytes` with tensor `name` replaced by `(dtype, shape, data)`, or
/// removed (`None`).
fn edit(
    bytes: &[u8],
    name: &str,
    with: Option<(safetensors::Dtype, Vec<usize>, Vec<u8>)>,
) -> Vec<u8> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = file
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != name)
        .collect();
    if let Some((dtype, shape, data)) = &with {
        tensors.push((
            name.to_string(),
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
        ));
    }
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn saved_int8_network_loads_back_bit_for_bit() {
    use constnet::quant::store::StoreError;
    let float = lenet();
    let calibration = calibrate(&*float, &train_inputs(100), Method::MinMax).unwrap();
    let q = LeNet5Int8::quantize(&float, &calibration).unwrap();
    let bytes = q.to_safetensors().unwrap();
    println!("LeNet5Int8 as safetensors: {} bytes", bytes.len());
    let back = LeNet5Int8::from_safetensors(&bytes).unwrap();
    assert!(*back == *q, "the loaded network differs from the saved one");

    let err = |b: &[u8]| LeNet5Int8::from_safetensors(b).err().unwrap();
    let e = err(&bytes[..20]);
    assert!(matches!(e, StoreError::Malformed(_)));
    assert!(e.to_string().starts_with("not a safetensors file: "), "{e}");
    let e = err(&edit(&bytes, "fc2.bias", None));
    assert_eq!(
        e,
        StoreError::Missing {
            tensor: "fc2.bias".into()
        }
    );
    assert_eq!(e.to_string(), "tensor `fc2.bias` is missing from the file");
    let e = err(&edit(
        &bytes,
        "conv1.weight",
        Some((safetensors::Dtype::F32, vec![6, 1, 5, 5], vec![0; 600])),
    ));
    assert!(
        matches!(&e, StoreError::WrongDtype { tensor, expected: "I8", .. } if tensor == "conv1.weight"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "tensor `conv1.weight` has dtype F32; the int8 network stores it as I8"
    );
    let e = err(&edit(
        &bytes,
        "fc3.weight",
        Some((safetensors::Dtype::I8, vec![10, 80], vec![0; 800])),
    ));
    assert_eq!(
        e.to_string(),
        "tensor `fc3.weight` has shape [10, 80], but the int8 network stores [10, 84]"
    );
    let mut scales = vec![0u8; 4 * 13];
    scales[..4].copy_from_slice(&1.0f32.to_le_bytes());
    let e = err(&edit(
        &bytes,
        "values.scale",
        Some((safetensors::Dtype::F32, vec![13], scales)),
    ));
    assert_eq!(
        e,
        StoreError::BadScale {
            tensor: "values.scale".into(),
            index: 1,
            value: 0.0
        }
    );
    assert_eq!(
        e.to_string(),
        "tensor `values.scale`[1] is 0; a scale must be positive and finite"
    );
}

/// `data/lenet5_int8.safetensors`, the int8 LeNet-5 that
/// `examples/embedded` bakes in, is this network quantized with TFLite's
/// parameters, saved with `to_safetensors`. `CONSTNET_WRITE_INT8=1 cargo
/// test --test int8_lenet shipped` (re)writes it.
#[test]
fn shipped_int8_file_is_the_network_quantized_as_tflite_did() {
    let bytes = golden();
    let theirs = Int8LeNet::from_tflite(&SafeTensors::deserialize(&bytes).unwrap());
    let ours = LeNet5Int8::quantize(&lenet(), &tflite_calibration(&theirs)).unwrap();
    let saved = ours.to_safetensors().unwrap();
    let path = data("lenet5_int8.safetensors");
    if std::env::var_os("CONSTNET_WRITE_INT8").is_some() {
        std::fs::write(&path, &saved).unwrap();
    }
    let shipped = std::fs::read(&path).unwrap();
    assert!(
        shipped == saved,
        "{} differs from TFLite's quantization; CONSTNET_WRITE_INT8=1 rewrites it",
        path.display()
    );
}
