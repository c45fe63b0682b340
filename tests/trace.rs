//! `forward_traced` captures every layer's output: it equals `forward`'s
//! result, and each layer equals PyTorch's intermediate for a shipped digit
//! (`trace.*` in data/lenet5_golden.safetensors, from tools/train_lenet.py).
//! The layer table's formulas agree with the shapes.

mod common;

use common::mnist::lenet_input;
use common::{data, lenet, tensor_f32, test_digits, LeNet5, LeNet5Trace};
use constnet::{Network, Tensor};
use safetensors::SafeTensors;

fn golden(file: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    tensor_f32(file, name).1
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_layer_matches_pytorch() {
    let net = lenet();
    let test = test_digits();
    let bytes = std::fs::read(data("lenet5_golden.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();

    let input = lenet_input(&test.images[0]);
    let mut trace = Box::new(LeNet5Trace::new());
    let out = net.forward_traced(&input, &mut trace);
    // LeNet-5 fuses only ReLUs into the layers before them: the same bits.
    assert_eq!(out, net.forward(&input));
    assert_eq!(out, trace.fc3);

    let pairs: [(&str, &[f32]); 12] = [
        ("trace.conv1", trace.conv1.as_flat()),
        ("trace.relu1", trace.layer1.as_flat()),
        ("trace.pool1", trace.layer2.as_flat()),
        ("trace.conv2", trace.conv2.as_flat()),
        ("trace.relu2", trace.layer4.as_flat()),
        ("trace.pool2", trace.layer5.as_flat()),
        ("trace.flatten", trace.layer6.as_flat()),
        ("trace.fc1", trace.fc1.as_flat()),
        ("trace.relu3", trace.layer8.as_flat()),
        ("trace.fc2", trace.fc2.as_flat()),
        ("trace.relu4", trace.layer10.as_flat()),
        ("trace.fc3", trace.fc3.as_flat()),
    ];
    for (name, ours) in pairs {
        let d = max_diff(ours, &golden(&file, name));
        assert!(d <= 1e-4, "{name}: max |diff| = {d}");
    }
}

#[test]
fn table_formulas_agree_with_shapes() {
    for layer in LeNet5::LAYERS {
        if layer.formula.is_empty() {
            assert_eq!(layer.input_shape, layer.output_shape, "{}", layer.name);
            continue;
        }
        // The last number of each formula is the size it computes.
        let result: usize = layer
            .formula
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{}: {}", layer.name, layer.formula));
        let expected = if layer.output_shape.len() == 3 {
            layer.output_shape[1]
        } else {
            layer.output_shape[0]
        };
        assert_eq!(result, expected, "{}: {}", layer.name, layer.formula);
    }
    let conv2 = &LeNet5::LAYERS[3];
    assert_eq!(
        conv2.formula,
        "H = W = (14 + 2·0 − 1·(5 − 1) − 1) / 1 + 1 = 10"
    );
    assert_eq!(conv2.receptive_field, [14, 14]);
    assert_eq!(LeNet5::LAYERS[5].receptive_field, [16, 16]);
    assert_eq!(conv2.activation_bytes(), 16 * 10 * 10 * 4);
}

/// A trace can be walked generically: every layer's output with its
/// `LayerInfo`, in layer order, without naming the fields.
fn walk<N: Network>(trace: &N::Trace) -> Vec<(&'static str, Vec<f32>)> {
    let mut layers = Vec::new();
    constnet::Trace::visit(trace, &mut |info, values| {
        assert_eq!(
            values.len(),
            info.output_shape.iter().product::<usize>(),
            "{}",
            info.name
        );
        layers.push((info.name, values.to_vec()));
    });
    layers
}

#[test]
fn a_trace_is_visited_layer_by_layer() {
    let net = lenet();
    let input = lenet_input(&test_digits().images[1]);
    let mut trace = LeNet5::new_trace();
    let out = Network::forward_traced(&*net, &input, &mut trace);
    let layers = walk::<LeNet5>(&trace);
    let names: Vec<&str> = layers.iter().map(|(n, _)| *n).collect();
    let expected: Vec<&str> = LeNet5::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(names, expected);
    assert_eq!(names[..4], ["conv1", "1", "2", "conv2"]);
    // The slices are the fields' contents.
    assert_eq!(layers[0].1, trace.conv1.as_flat());
    assert_eq!(layers[5].1, trace.layer5.as_flat());
    assert_eq!(layers[11].1, out.as_flat());
}
