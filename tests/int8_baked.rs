//! `#[int8(weights = "…")]`: the int8 LeNet-5 of
//! `data/lenet5_int8.safetensors` (TFLite's quantization, saved by
//! `to_safetensors`; `tests/int8_lenet.rs` checks the file) baked in at
//! compile time, as `examples/embedded`'s int8 firmware bakes it; and a
//! small CNN whose clamps are not the whole `i8` range (a ReLU6 on an
//! output whose range holds negatives), so that every derived field is
//! checked on values that tell a wrong derivation apart.

mod common;

use common::data;
use common::mnist::{lenet_input, Mnist};
use constnet::quant::calibrate::Calibration;
use constnet::quant::{quantize, Clamp, Int8Network, QParams, QTensor};
use constnet::Network;
use safetensors::SafeTensors;

constnet::network! {
    /// LeNet-5 with its int8 twin baked in from the shipped int8 file.
    #[int8(weights = "data/lenet5_int8.safetensors")]
    pub struct Baked {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

constnet::network! {
    /// A small CNN with a fused ReLU6, baked from `tests/int8/relu6_cnn.safetensors`.
    #[int8(weights = "tests/int8/relu6_cnn.safetensors")]
    pub struct Relu6Cnn {
        input: [2, 6, 6],
        conv: Conv2d(2, 3, 3, padding = 1),
        ReLU6,
        MaxPool2d(2),
        Flatten,
        fc: Linear(27, 4),
    }
}

constnet::network! {
    /// A small graph network with every int8 kind that derives its
    /// parameters at run time (`Add` with a fused ReLU, a `Cat` that
    /// requantizes a branch read elsewhere, Hardswish, softmax), baked from
    /// `tests/int8/graph_cnn.safetensors`.
    #[int8(weights = "tests/int8/graph_cnn.safetensors")]
    pub struct GraphCnn {
        input: [2, 6, 6],
        conv: Conv2d(2, 4, 3, padding = 1),
        Add { Conv2d(4, 4, 1), {} },
        ReLU,
        Cat { Conv2d(4, 2, 3, padding = 1), {} },
        Hardswish,
        AdaptiveAvgPool2d(1),
        Flatten,
        fc: Linear(6, 3),
        Softmax(dim = 1),
    }
}

/// Fills `values` from xorshift32 state `s`, in [-0.5, 0.5).
fn xorshift(s: &mut u32, values: &mut [f32]) {
    for v in values {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        *v = (*s as f32 / u32::MAX as f32) - 0.5;
    }
}

/// `GraphCnn` with xorshift weights, quantized with other parameters on
/// every row (so that the `Cat` requantizes its identity branch).
fn graph_cnn() -> Box<GraphCnnInt8> {
    let mut float = GraphCnn::new_zeroed();
    let mut s = 0x1234_5678u32;
    float.visit_params_mut(&mut |_, values| xorshift(&mut s, values));
    let calibration = Calibration {
        input: QParams {
            scale: 0.02,
            zero_point: 3,
        },
        layers: GraphCnn::LAYERS
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let p = QParams {
                    scale: 0.01 + 0.003 * i as f32,
                    zero_point: (i as i8).wrapping_mul(13) % 40,
                };
                (l, p)
            })
            .collect(),
    };
    GraphCnnInt8::quantize(&float, &calibration).unwrap()
}

/// The fixture is `graph_cnn()` saved; `CONSTNET_WRITE_INT8=1` rewrites it.
#[test]
fn graph_cnn_fixture_is_the_quantized_network() {
    fixture_is(
        "tests/int8/graph_cnn.safetensors",
        &graph_cnn().to_safetensors().unwrap(),
    );
}

#[test]
fn baked_graph_cnn_equals_the_quantized_one() {
    let quantized = graph_cnn();
    let baked = GraphCnnInt8::baked();
    assert!(*baked == *quantized);
    for seed in 0..8u8 {
        let mut x = [[[0i8; 6]; 6]; 2];
        for (i, q) in x.as_flat_mut().iter_mut().enumerate() {
            *q = (i as i8).wrapping_mul(37).wrapping_add(seed as i8 * 11);
        }
        let (a, b) = (baked.forward(&x), quantized.forward(&x));
        assert_eq!(a, b);
        // The softmax's outputs: probabilities on the 1/256 grid.
        let total: i32 = a.iter().map(|&q| i32::from(q) + 128).sum();
        assert!((250..=262).contains(&total), "{a:?}");
    }
}

/// `Relu6Cnn` with weights from xorshift32, quantized with every output on
/// `[-3.1, 7.1]`: zero point −51, the ReLU6 clamp `[-51, 99]`.
fn relu6_cnn() -> Box<Relu6CnnInt8> {
    let mut float = Relu6Cnn::new_zeroed();
    let mut s = 0x2545_F491u32;
    float.visit_params_mut(&mut |_, values| xorshift(&mut s, values));
    let out = QParams {
        scale: 10.2 / 255.0,
        zero_point: -51,
    };
    let calibration = Calibration {
        input: QParams {
            scale: 0.02,
            zero_point: 3,
        },
        layers: Relu6Cnn::LAYERS.iter().map(|l| (l, out)).collect(),
    };
    Relu6CnnInt8::quantize(&float, &calibration).unwrap()
}

/// The fixture is `relu6_cnn()` saved; `CONSTNET_WRITE_INT8=1 cargo test
/// --test int8_baked` (re)writes it.
#[test]
fn relu6_cnn_fixture_is_the_quantized_network() {
    fixture_is(
        "tests/int8/relu6_cnn.safetensors",
        &relu6_cnn().to_safetensors().unwrap(),
    );
}

/// The file at `path` (under the root) holds `saved`; with
/// `CONSTNET_WRITE_INT8` set, writes it first.
fn fixture_is(path: &str, saved: &[u8]) {
    let path = common::root().join(path);
    if std::env::var_os("CONSTNET_WRITE_INT8").is_some() {
        std::fs::write(&path, saved).unwrap();
    }
    assert!(
        std::fs::read(&path).unwrap() == saved,
        "{} is stale",
        path.display()
    );
}

#[test]
fn baked_relu6_cnn_equals_the_quantized_one() {
    let quantized = relu6_cnn();
    let baked = Relu6CnnInt8::baked();
    assert_eq!(baked.conv.clamp, Clamp { min: -51, max: 99 });
    assert_eq!(baked.conv, quantized.conv);
    assert_eq!(baked.fc, quantized.fc);
    assert!(*baked == *quantized);
    let mut x = [[[0i8; 6]; 6]; 2];
    for (i, q) in x.as_flat_mut().iter_mut().enumerate() {
        *q = (i as i8).wrapping_mul(37);
    }
    assert_eq!(baked.forward(&x), quantized.forward(&x));
}

#[test]
fn baked_int8_network_equals_the_loaded_file() {
    let bytes = std::fs::read(data("lenet5_int8.safetensors")).unwrap();
    let loaded = BakedInt8::from_safetensors(&bytes).unwrap();
    let baked = BakedInt8::baked();
    // Field by field first, for a readable failure; then the whole struct
    // (multipliers, clamps, zero points and roundings included).
    assert_eq!(baked.values, loaded.values);
    assert_eq!(baked.conv1, loaded.conv1);
    assert_eq!(baked.conv2, loaded.conv2);
    assert_eq!(baked.fc1, loaded.fc1);
    assert_eq!(baked.fc2, loaded.fc2);
    assert_eq!(baked.fc3, loaded.fc3);
    assert!(*baked == *loaded);
    // Every layer has a requantization to derive: none was left zero.
    assert!(baked.fc3.requant.iter().all(|r| r.multiplier != 0));
}

#[test]
fn baked_int8_network_gives_tflites_logits() {
    let golden =
        std::fs::read(common::root().join("tests/int8/lenet5_tflite.safetensors")).unwrap();
    let golden = SafeTensors::deserialize(&golden).unwrap();
    let logits = golden.tensor("fc3.all").unwrap().data();
    let net = BakedInt8::baked();
    let mut workspace = BakedInt8::new_workspace();
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    for (d, digit) in test.images.iter().enumerate() {
        let x = lenet_input(digit);
        let mut q = [[[0i8; 32]; 32]; 1];
        quantize(
            x.as_flattened().as_flattened(),
            net.input_params(),
            q.as_flat_mut(),
        );
        let y = net.forward_with(&q, &mut workspace);
        let theirs: Vec<i8> = logits[d * 10..][..10].iter().map(|&b| b as i8).collect();
        assert_eq!(y[..], theirs[..], "digit {d}");
    }
}

#[test]
fn summary_shows_each_rows_parameters_and_weight_scales() {
    let net = BakedInt8::baked();
    let text = net.summary().to_string();
    let lines: Vec<&str> = text.lines().collect();
    // A header, the input, one row per layer of the float table.
    assert_eq!(lines.len(), 2 + Baked::LAYERS.len(), "{text}");
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{text}"))
    };
    let params = |p: constnet::quant::QParams| format!("{:.5e}  {:>5}", p.scale, p.zero_point);
    assert!(row("input").contains(&params(net.input_params())), "{text}");
    for (name, layer) in [
        ("conv1", &net.conv1.weight_scale[..]),
        ("fc1", &net.fc1.weight_scale[..]),
    ] {
        let lo = layer.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = layer.iter().copied().fold(0.0, f32::max);
        assert!(
            row(name).ends_with(&format!("{lo:.5e} … {hi:.5e}")),
            "{text}"
        );
    }
    assert!(row("conv1").contains(&params(net.conv1.output)), "{text}");
    // The ReLU fused into conv2 and the pool after it show conv2's
    // clamped output; they have no weights.
    for name in ["4", "5"] {
        assert!(
            row(name).ends_with(&params(net.conv2.output)),
            "{name}: {text}"
        );
    }
    assert!(row("fc3").contains(&params(net.output_params())), "{text}");
}
