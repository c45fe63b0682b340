//! Loading PyTorch weights into `network!` declarations: attribute-named and
//! `nn.Sequential`-named models, half precision, round trips, errors that
//! name the tensor, and a multi-megabyte network on a small stack.

mod common;

use std::collections::BTreeMap;

use common::{data, LeNet5};
use constnet::load::{Hint, LoadError, LoadOptions, TensorProblem};
use constnet::{Network, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

constnet::network! {
    /// The same layers as an `nn.Sequential`: keys `0.weight`, `3.weight`, …
    pub struct SequentialLeNet5 {
        input: [1, 32, 32],
        Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        Linear(400, 120),
        ReLU,
        Linear(120, 84),
        ReLU,
        Linear(84, 10),
    }
}

constnet::network! {
    /// LeNet-5 with one output too many: the shipped weights do not fit.
    pub struct ElevenClasses {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(_, 120),
        ReLU,
        fc2: Linear(_, 84),
        ReLU,
        fc3: Linear(_, 11),
    }
}

fn weights() -> Vec<u8> {
    std::fs::read(data("lenet5.safetensors")).unwrap()
}

/// Every tensor of a safetensors file as (dtype, shape, bytes), by name.
fn tensors(bytes: &[u8]) -> BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, t)| (name, (t.dtype(), t.shape().to_vec(), t.data().to_vec())))
        .collect()
}

fn serialize(tensors: &BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, (dtype, shape, data))| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn test_input(seed: usize) -> [[[f32; 32]; 32]; 1] {
    let mut x = [[[0.0f32; 32]; 32]; 1];
    for (i, v) in x.as_flat_mut().iter_mut().enumerate() {
        *v = (((i * 31 + seed * 17) % 97) as f32 / 97.0) * 2.0 - 1.0;
    }
    x
}

#[test]
fn sequential_index_names_load_unchanged() {
    // The shipped file renamed to what `nn.Sequential` would call each layer.
    let renames = [
        ("conv1", "0"),
        ("conv2", "3"),
        ("fc1", "7"),
        ("fc2", "9"),
        ("fc3", "11"),
    ];
    let mut file = BTreeMap::new();
    for (name, t) in tensors(&weights()) {
        let (layer, tensor) = name.split_once('.').unwrap();
        let index = renames.iter().find(|(n, _)| *n == layer).unwrap().1;
        file.insert(format!("{index}.{tensor}"), t);
    }
    let named = LeNet5::from_safetensors(&weights()).unwrap();
    let sequential = SequentialLeNet5::from_safetensors(&serialize(&file)).unwrap();
    for seed in 0..4 {
        let x = test_input(seed);
        assert_eq!(named.forward(&x), sequential.forward(&x));
    }
    // And the attribute-named file does not fit the Sequential declaration,
    // nor the reverse; each error says why and what to rename.
    let err = SequentialLeNet5::from_safetensors(&weights()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with(
            "help: the file's keys name their layers (`conv1.weight`), but this declaration's \
             unnamed layers read their index in the layer list (`0.weight`): name the layers \
             as in the PyTorch module (by their shapes, layer 0 is `conv1`, layer 3 is \
             `conv2`, layer 7 is `fc1`, layer 9 is `fc2`, layer 11 is `fc3`), or save the \
             state_dict of an nn.Sequential"
        ),
        "{text}"
    );
    assert!(
        text.starts_with("the file does not match the network (20 problems):"),
        "{text}"
    );
    let err = LeNet5::from_safetensors(&serialize(&file)).unwrap_err();
    assert!(
        matches!(&err, LoadError::Mismatch { hint: Some(Hint::IndexedLayersInFile { renames, .. }), .. }
            if renames.len() == 5 && renames[4] == ("fc3".to_string(), "11".to_string())),
        "{err:?}"
    );
}

#[test]
fn a_data_parallel_checkpoint_loads_with_the_prefix_stripped() {
    // What `save_file(nn.DataParallel(model).state_dict(), …)` writes.
    let prefixed: BTreeMap<String, _> = tensors(&weights())
        .into_iter()
        .map(|(name, t)| (format!("module.{name}"), t))
        .collect();
    let bytes = serialize(&prefixed);
    let err = LeNet5::from_safetensors(&bytes).unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with(
            "help: every tensor the network declares is in the file under the prefix \
             `module.`: load with `LoadOptions::new().strip_prefix(\"module.\")`"
        ),
        "{text}"
    );
    let options = LoadOptions::new().strip_prefix("module.");
    let loaded = LeNet5::from_safetensors_with(&bytes, &options).unwrap();
    let plain = LeNet5::from_safetensors(&weights()).unwrap();
    let bits = |net: &LeNet5| {
        let mut v = Vec::new();
        net.visit_params(&mut |_, w| v.extend(w.iter().map(|x| x.to_bits())));
        v
    };
    assert_eq!(bits(&loaded), bits(&plain));
    assert_eq!(bits(&plain).len(), LeNet5::PARAMETERS);
}

#[test]
fn half_precision_files_are_converted() {
    let original = LeNet5::from_safetensors(&weights()).unwrap();
    let mut as_f16 = BTreeMap::new();
    let mut as_bf16 = BTreeMap::new();
    // The same weights rounded to half precision, kept as f32 for comparison.
    let mut rounded = LeNet5::new_zeroed();
    let mut rounded_bf = LeNet5::new_zeroed();
    for (name, (_, shape, data)) in tensors(&weights()) {
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let h: Vec<u8> = values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let b: Vec<u8> = values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        as_f16.insert(name.clone(), (Dtype::F16, shape.clone(), h));
        as_bf16.insert(name, (Dtype::BF16, shape, b));
    }
    let mut i = 0;
    let originals: Vec<Vec<f32>> = {
        let mut v = Vec::new();
        original.visit_params(&mut |_, w| v.push(w.to_vec()));
        v
    };
    rounded.visit_params_mut(&mut |_, w| {
        for (dst, &src) in w.iter_mut().zip(&originals[i]) {
            *dst = half::f16::from_f32(src).to_f32();
        }
        i += 1;
    });
    i = 0;
    rounded_bf.visit_params_mut(&mut |_, w| {
        for (dst, &src) in w.iter_mut().zip(&originals[i]) {
            *dst = half::bf16::from_f32(src).to_f32();
        }
        i += 1;
    });
    let from_f16 = LeNet5::from_safetensors(&serialize(&as_f16)).unwrap();
    let from_bf16 = LeNet5::from_safetensors(&serialize(&as_bf16)).unwrap();
    assert!(*from_f16 == *rounded, "F16 weights must convert exactly");
    assert!(
        *from_bf16 == *rounded_bf,
        "BF16 weights must convert exactly"
    );
    assert!(*from_f16 != *original, "the test must see the rounding");
}

#[test]
fn saving_round_trips() {
    let net = LeNet5::from_safetensors(&weights()).unwrap();
    let saved = net.to_safetensors().unwrap();
    let back = LeNet5::from_safetensors(&saved).unwrap();
    assert!(*back == *net);
    // Same tensors, same values as the PyTorch file.
    let a = tensors(&weights());
    let b = tensors(&saved);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, (dtype, shape, data)) in &a {
        assert_eq!(b[name].0, *dtype, "{name}");
        assert_eq!(&b[name].1, shape, "{name}");
        assert_eq!(&b[name].2, data, "{name}");
    }
}

#[test]
fn errors_name_every_tensor_and_both_shapes() {
    let err = ElevenClasses::from_safetensors(&weights()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the file does not match the network (2 problems):\n  \
         tensor `fc3.weight` has shape [10, 84], but the network declares [11, 84]\n  \
         tensor `fc3.bias` has shape [10], but the network declares [11]"
    );
    let LoadError::Mismatch {
        problems,
        hint: None,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        problems
            .iter()
            .map(TensorProblem::tensor)
            .collect::<Vec<_>>(),
        ["fc3.weight", "fc3.bias"]
    );

    let mut file = tensors(&weights());
    file.remove("fc2.bias");
    let extra = file["fc3.bias"].clone();
    file.insert("fc4.bias".into(), extra);
    let msg = ElevenClasses::from_safetensors(&serialize(&file))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg.lines().collect::<Vec<_>>(),
        [
            "the file does not match the network (4 problems):",
            "  tensor `fc3.weight` has shape [10, 84], but the network declares [11, 84]",
            "  tensor `fc3.bias` has shape [10], but the network declares [11]",
            "  tensor `fc2.bias` is missing from the file (the network declares it with shape [84])",
            "  unexpected tensor `fc4.bias` of shape [10]: the network has no parameter of that name",
        ]
    );

    let truncated = &weights()[..100_000];
    let msg = LeNet5::from_safetensors(truncated).unwrap_err().to_string();
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
}

constnet::network! {
    /// 8 MiB of weights: far more than a small thread stack.
    pub struct Wide {
        input: [2048],
        big: Linear(2048, 1024),
        ReLU,
        out: Linear(1024, 10),
    }
}

#[test]
fn a_large_network_loads_and_runs_on_a_small_stack() {
    let mut net = Wide::new_zeroed();
    net.visit_params_mut(&mut |info, w| {
        for (i, v) in w.iter_mut().enumerate() {
            *v = ((i % 13) as f32 - 6.0)
                * 1e-3
                * if info.name.ends_with("bias") {
                    10.0
                } else {
                    1.0
                };
        }
    });
    let bytes = net.to_safetensors().unwrap();
    assert!(bytes.len() > 8 << 20);
    let x = [0.5f32; 2048];
    let expected = net.forward(&x);
    let handle = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let loaded = Wide::from_safetensors(&bytes).unwrap();
            let mut workspace = Wide::new_workspace();
            loaded.forward_with(&x, &mut workspace)
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), expected);
}
