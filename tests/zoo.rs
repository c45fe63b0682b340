//! The benchmark zoo's networks (`data/zoo/`, written by `tools/zoo.py`)
//! match PyTorch: every output of the golden inputs, and every traced
//! layer of the first one, within 1e-4 (or 1e-3 relative above 1); and
//! `forward_batch` on all the golden inputs at once gives `forward`'s bits.

use std::path::Path;

use constnet::{Network, Tensor};
use safetensors::SafeTensors;

#[path = "../examples/resnet8/net.rs"]
mod resnet8;
#[path = "common/zoo.rs"]
mod zoo;

fn within(got: f32, want: f32) -> bool {
    let err = (got - want).abs();
    err <= 1e-4 || (want.abs() > 1.0 && err <= 1e-3 * want.abs())
}

fn f32s(file: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    let t = file
        .tensor(name)
        .unwrap_or_else(|e| panic!("`{name}`: {e}"));
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Loads `data/zoo/<name>.safetensors`, checks the outputs of every golden
/// input and every traced layer; returns how many layers were compared.
fn check<N: Network>(name: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/zoo");
    let net = N::from_file(dir.join(format!("{name}.safetensors"))).unwrap();
    let bytes = std::fs::read(dir.join(format!("{name}_golden.safetensors"))).unwrap();
    let golden = SafeTensors::deserialize(&bytes).unwrap();
    let (inputs, outputs) = (f32s(&golden, "input"), f32s(&golden, "output"));
    let mut workspace = N::new_workspace();
    let xs: Vec<N::Input> = inputs
        .chunks_exact(<N::Input as Tensor>::LEN)
        .map(|x| *N::Input::from_flat(x).unwrap())
        .collect();
    let mut batched = vec![<N::Output as Tensor>::zeroed(); xs.len()];
    constnet::batch::forward_batch(&*net, &xs, &mut batched);
    let pairs = xs
        .iter()
        .zip(outputs.chunks_exact(<N::Output as Tensor>::LEN));
    for (i, (x, want)) in pairs.enumerate() {
        let got = net.forward_with(x, &mut workspace);
        let bits =
            |t: &N::Output| -> Vec<u32> { t.as_flat().iter().map(|v| v.to_bits()).collect() };
        assert_eq!(
            bits(&batched[i]),
            bits(&got),
            "{name} input {i}: forward_batch"
        );
        for (j, (&g, &w)) in got.as_flat().iter().zip(want).enumerate() {
            assert!(
                within(g, w),
                "{name} input {i} output {j}: PyTorch {w}, constnet {g}"
            );
        }
    }
    let x = N::Input::from_flat(&inputs[..<N::Input as Tensor>::LEN]).unwrap();
    let mut trace = N::new_trace();
    let _ = net.forward_traced(x, &mut trace);
    let recorded = golden
        .names()
        .iter()
        .filter(|n| n.starts_with("trace."))
        .count();
    let mut compared = 0;
    constnet::Trace::visit(&*trace, &mut |layer, ours| {
        let key = format!("trace.{}", layer.name);
        if golden.tensor(&key).is_ok() {
            let theirs = f32s(&golden, &key);
            assert_eq!(ours.len(), theirs.len(), "{name}: {key}");
            for (j, (&g, &w)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    within(g, w),
                    "{name}: {key}[{j}]: PyTorch {w}, constnet {g}"
                );
            }
            compared += 1;
        }
    });
    // Every layer PyTorch recorded is a row of the trace, by its name.
    assert_eq!(compared, recorded, "{name}: traced layers without a row");
    assert!(compared > 0, "{name}: no traced layer");
    compared
}

#[test]
fn resnet8_matches_pytorch() {
    check::<resnet8::ResNet8>("resnet8");
}

#[test]
fn ds_cnn_matches_pytorch() {
    check::<zoo::DsCnn>("ds_cnn");
}

#[test]
fn mobilenet_v1_matches_pytorch() {
    check::<zoo::MobileNetV1>("mobilenet_v1_025");
}

#[test]
fn autoencoder_matches_pytorch() {
    check::<zoo::AutoEncoder>("autoencoder");
}

#[test]
fn lenet5_tanh_matches_pytorch() {
    check::<zoo::LeNet5Tanh>("lenet5_tanh");
}
