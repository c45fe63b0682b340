//! The generated `forward` against a composition of the naive reference
//! kernels, on LeNet-5 and on a network using the rest of the foundation
//! vocabulary, with pseudo-random weights and inputs.

mod common;

use common::LeNet5;
use constnet::reference::{self, Conv2dParams, MaxPool2dParams, PaddingMode};
use constnet::{Network, Tensor};

constnet::network! {
    /// Strides, padding, dilation, groups, rectangular kernels, average
    /// pooling, no-bias layers, `_` inference and every activation.
    struct Varied {
        input: [4, 13, 11],
        Sigmoid,
        Conv2d(_, 8, (3, 2), stride = (2, 1), padding = (1, 0), dilation = (1, 2), groups = 2),
        Tanh,
        AvgPool2d(3, stride = 2, padding = 1),
        Conv2d(8, 6, 1, bias = false),
        ReLU,
        MaxPool2d((2, 3), stride = 1),
        Softmax,
        Flatten,
        Linear(_, 7, bias = false),
        Softmax(dim = -1),
    }
}

/// xorshift32 in [-1, 1): deterministic test data without a crate.
fn fill(values: &mut [f32], seed: u32) {
    let mut s = seed.max(1);
    for v in values {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
    }
}

/// Weights uniform in ±1/sqrt(fan_in), like PyTorch's default
/// initialisation, so activations stay of order one.
fn random_weights<N: Network>(seed: u32) -> Box<N> {
    let mut net = N::new_zeroed();
    let mut k = seed;
    net.visit_params_mut(&mut |info, values| {
        k += 1;
        fill(values, k);
        let fan_in: usize = info.shape[1..].iter().product::<usize>().max(1);
        let scale = 1.0 / (fan_in as f32).sqrt();
        for v in values {
            *v *= scale;
        }
    });
    net
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn conv(p: Conv2dParams, hw: (usize, usize), x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow) = p.output_hw(hw).unwrap();
    let mut out = vec![0.0; p.out_channels * oh * ow];
    reference::conv2d(&p, hw, x, w, b, &mut out);
    out
}

fn max_pool(k: usize, c: usize, hw: (usize, usize), x: &[f32]) -> Vec<f32> {
    let p = MaxPool2dParams {
        kernel: (k, k),
        stride: (k, k),
        padding: (0, 0),
        dilation: (1, 1),
        ceil_mode: false,
    };
    let (oh, ow) = p.output_hw(hw).unwrap();
    let mut out = vec![0.0; c * oh * ow];
    reference::max_pool2d(&p, c, hw, x, &mut out);
    out
}

fn dense(x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; b.len()];
    reference::linear(x, w, Some(b), &mut out);
    out
}

fn relu(x: &mut [f32]) {
    for v in x {
        *v = reference::act::relu(*v);
    }
}

fn lenet_conv(i: usize, o: usize) -> Conv2dParams {
    Conv2dParams {
        in_channels: i,
        out_channels: o,
        kernel: (5, 5),
        stride: (1, 1),
        padding: (0, 0),
        dilation: (1, 1),
        groups: 1,
        padding_mode: PaddingMode::Zeros,
    }
}

#[test]
fn lenet_matches_the_reference() {
    let net: Box<LeNet5> = random_weights(7);
    for seed in 1..=5 {
        let mut input = <LeNet5 as Network>::Input::zeroed();
        fill(input.as_flat_mut(), seed * 101);

        let mut x = conv(
            lenet_conv(1, 6),
            (32, 32),
            input.as_flat(),
            net.conv1.weight.as_flat(),
            Some(&net.conv1.bias),
        );
        relu(&mut x);
        let x = max_pool(2, 6, (28, 28), &x);
        let mut x = conv(
            lenet_conv(6, 16),
            (14, 14),
            &x,
            net.conv2.weight.as_flat(),
            Some(&net.conv2.bias),
        );
        relu(&mut x);
        let x = max_pool(2, 16, (10, 10), &x);
        let mut x = dense(&x, net.fc1.weight.as_flat(), &net.fc1.bias);
        relu(&mut x);
        let mut x = dense(&x, net.fc2.weight.as_flat(), &net.fc2.bias);
        relu(&mut x);
        let expected = dense(&x, net.fc3.weight.as_flat(), &net.fc3.bias);

        let got = net.forward(&input);
        let d = max_abs_diff(&got, &expected);
        assert!(d <= 1e-5, "seed {seed}: max |diff| = {d}");
        // The workspace variant gives the same bits, and reusing a
        // workspace (dirty from the previous call) changes nothing.
        let mut ws = LeNet5::new_workspace();
        assert_eq!(net.forward_with(&input, &mut ws), got);
        assert_eq!(net.forward_with(&input, &mut ws), got);
    }
}

#[test]
fn varied_network_matches_the_reference() {
    let net: Box<Varied> = random_weights(99);
    let mut input = <Varied as Network>::Input::zeroed();
    fill(input.as_flat_mut(), 5);

    let mut x = input.as_flat().to_vec();
    for v in &mut x {
        *v = reference::act::sigmoid(*v);
    }
    let p1 = Conv2dParams {
        in_channels: 4,
        out_channels: 8,
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 0),
        dilation: (1, 2),
        groups: 2,
        padding_mode: PaddingMode::Zeros,
    };
    let (h1, w1) = p1.output_hw((13, 11)).unwrap();
    assert_eq!((h1, w1), (7, 9));
    let mut x = conv(
        p1,
        (13, 11),
        &x,
        net.layer1.weight.as_flat(),
        Some(&net.layer1.bias),
    );
    for v in &mut x {
        *v = reference::act::tanh(*v);
    }
    let ap = reference::AvgPool2dParams {
        kernel: (3, 3),
        stride: (2, 2),
        padding: (1, 1),
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    };
    let (h3, w3) = ap.output_hw((h1, w1)).unwrap();
    let mut pooled = vec![0.0; 8 * h3 * w3];
    reference::avg_pool2d(&ap, 8, (h1, w1), &x, &mut pooled);
    let p4 = Conv2dParams {
        in_channels: 8,
        out_channels: 6,
        kernel: (1, 1),
        stride: (1, 1),
        padding: (0, 0),
        dilation: (1, 1),
        groups: 1,
        padding_mode: PaddingMode::Zeros,
    };
    let mut x = conv(p4, (h3, w3), &pooled, net.layer4.weight.as_flat(), None);
    relu(&mut x);
    let mp = MaxPool2dParams {
        kernel: (2, 3),
        stride: (1, 1),
        padding: (0, 0),
        dilation: (1, 1),
        ceil_mode: false,
    };
    let (h6, w6) = mp.output_hw((h3, w3)).unwrap();
    let mut x6 = vec![0.0; 6 * h6 * w6];
    reference::max_pool2d(&mp, 6, (h3, w3), &x, &mut x6);
    reference::softmax(&mut x6, 1, 6, h6 * w6);
    let mut out = vec![0.0; 7];
    reference::linear(&x6, net.layer9.weight.as_flat(), None, &mut out);
    reference::softmax(&mut out, 1, 7, 1);

    let got = net.forward(&input);
    let d = max_abs_diff(&got, &out);
    assert!(d <= 1e-5, "max |diff| = {d}");
    assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn constants_describe_the_network() {
    assert_eq!(LeNet5::PARAMETERS, 61_706);
    assert_eq!(LeNet5::MACS, 416_520);
    assert_eq!(LeNet5::INPUT_SHAPE, &[1, 32, 32]);
    assert_eq!(LeNet5::OUTPUT_SHAPE, &[10]);
    let names: Vec<&str> = LeNet5::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(
        names,
        ["conv1", "1", "2", "conv2", "4", "5", "6", "fc1", "8", "fc2", "10", "fc3"]
    );
    let conv2 = &LeNet5::LAYERS[3];
    assert_eq!(conv2.kind, "Conv2d(6, 16, 5)");
    assert_eq!(conv2.input_shape, &[6, 14, 14]);
    assert_eq!(conv2.output_shape, &[16, 10, 10]);
    assert_eq!(conv2.params, 16 * 6 * 25 + 16);
    assert_eq!(conv2.macs, 16 * 10 * 10 * 6 * 25);
    assert_eq!(
        LeNet5::LAYERS.iter().map(|l| l.params).sum::<usize>(),
        LeNet5::PARAMETERS
    );
    let keys: Vec<&str> = LeNet5::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(
        keys,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "fc3.weight",
            "fc3.bias"
        ]
    );
    assert_eq!(LeNet5::PARAMS[0].shape, &[6, 1, 5, 5]);
    assert_eq!(LeNet5::PARAMS[4].shape, &[120, 400]);
    // Sequential-style keys for unnamed layers, and `bias = false`.
    let keys: Vec<&str> = Varied::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(keys, ["1.weight", "1.bias", "4.weight", "9.weight"]);
    assert_eq!(Varied::PARAMS[0].shape, &[8, 2, 3, 2]);
}

#[test]
fn visiting_parameters_covers_every_weight_in_order() {
    let net: Box<LeNet5> = random_weights(3);
    let mut seen = Vec::new();
    net.visit_params(&mut |info, values| {
        assert_eq!(values.len(), info.len());
        seen.push((info.name, values[0]));
    });
    assert_eq!(seen.len(), LeNet5::PARAMS.len());
    assert_eq!(seen[0], ("conv1.weight", net.conv1.weight[0][0][0][0]));
    assert_eq!(seen[9], ("fc3.bias", net.fc3.bias[0]));
}

#[test]
fn summary_table_lists_every_layer() {
    let table = LeNet5::summary().to_string();
    println!("{table}");
    assert_eq!(table.lines().count(), 1 + 1 + 12 + 1);
    assert!(table.contains("conv2"));
    assert!(table.contains("Conv2d(6, 16, 5)"));
    assert!(table.contains("[16, 10, 10]"));
    assert!(table.contains("61706"));
    assert!(table.contains("416520"));
}

#[test]
fn static_models_and_debug() {
    static MODEL: LeNet5 = LeNet5::zeroed();
    assert_eq!(MODEL.forward(&[[[1.0; 32]; 32]; 1]), [0.0; 10]);
    assert_eq!(
        format!("{:?}", *MODEL_REF),
        "LeNet5 { parameters: 61706, .. }"
    );
    static MODEL_REF: &LeNet5 = &MODEL;
}
