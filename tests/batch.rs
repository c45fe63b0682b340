//! Batches: `forward_batch` on one thread and `par_forward_batch` on all
//! cores give exactly the per-sample outputs, for networks of dense layers
//! (tiles of samples through each layer, `linear::linear_batch`), for
//! convolutional networks that end in dense layers (the convolutions
//! sample by sample, the dense layers in tiles) and for networks that run
//! one sample at a time.

mod common;

use common::{first_inputs, lenet, Input, LeNet5};
use constnet::batch::forward_batch;
use constnet::Network;

fn setup(n: usize) -> (Box<LeNet5>, Vec<Input>) {
    (lenet(), first_inputs(n))
}

#[test]
fn forward_batch_equals_per_sample() {
    let (net, inputs) = setup(100);
    let mut outputs = vec![[0.0f32; 10]; inputs.len()];
    forward_batch(&*net, &inputs, &mut outputs);
    for (x, y) in inputs.iter().zip(&outputs) {
        assert_eq!(*y, net.forward(x));
    }
}

#[test]
#[should_panic(expected = "3 inputs but 2 outputs")]
fn forward_batch_checks_lengths() {
    let (net, inputs) = setup(3);
    let mut outputs = vec![[0.0f32; 10]; 2];
    forward_batch(&*net, &inputs, &mut outputs);
}

#[cfg(feature = "rayon")]
#[test]
fn par_forward_batch_equals_per_sample() {
    let (net, inputs) = setup(257);
    let mut outputs = vec![[0.0f32; 10]; inputs.len()];
    constnet::batch::par_forward_batch(&*net, &inputs, &mut outputs);
    for (x, y) in inputs.iter().zip(&outputs) {
        assert_eq!(*y, net.forward(x));
    }
}

constnet::network! {
    /// Every layer a tile runs: a map input flattened, linear layers with
    /// and without bias, widths on both sides of the 8-row blocks, batch
    /// norm, fused and unfused activations, dropout, softmax.
    pub struct Mlp {
        input: [2, 5, 7],
        Flatten,
        Linear(70, 33), BatchNorm1d(33), Tanh,
        Linear(33, 16, bias = false), ReLU,
        Dropout(0.5),
        Linear(16, 45), LeakyReLU(0.1),
        Linear(45, 10),
        LogSoftmax(dim = 1),
    }
}

constnet::network! {
    /// A CNN ending in dense layers: everything up to the pool sample by
    /// sample (a folded batch norm, a residual add), then the dense tail
    /// in tiles, with a batch norm, dropout and a softmax in it.
    pub struct Cnn {
        input: [2, 9, 9],
        Conv2d(2, 4, 3, padding = 1), BatchNorm2d(4), ReLU,
        Residual { Conv2d(4, 4, 3, padding = 1), ReLU },
        MaxPool2d(2),
        Flatten,
        Linear(64, 33), BatchNorm1d(33), Tanh,
        Dropout(0.5),
        Linear(33, 10),
        LogSoftmax(dim = 1),
    }
}

constnet::network! {
    /// A dense network that is not a chain (a residual add): one sample
    /// at a time.
    pub struct Residual {
        input: [24],
        Residual { Linear(24, 24), ReLU, Linear(24, 24) },
        Linear(24, 3),
    }
}

/// A network with random weights (batch-norm variances positive).
fn random<N: Network>(seed: u32) -> Box<N> {
    let mut net = N::new_zeroed();
    let mut state = seed;
    net.visit_params_mut(&mut |info, values| {
        for v in values {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = f64::from(state >> 8) / f64::from(1u32 << 24);
            #[allow(clippy::cast_possible_truncation)]
            let x = (u * 2.0 - 1.0) as f32;
            *v = if info.name.ends_with("running_var") {
                x.abs() + 0.5
            } else {
                x
            };
        }
    });
    net
}

/// `n` random inputs.
fn inputs<N: Network>(n: usize, seed: u32) -> Vec<N::Input> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            let mut x = <N::Input as constnet::Tensor>::zeroed();
            for v in constnet::Tensor::as_flat_mut(&mut x) {
                state = state.wrapping_mul(22_695_477).wrapping_add(1);
                #[allow(clippy::cast_precision_loss)]
                let u = (state >> 9) as f32 / (1u32 << 23) as f32;
                *v = u * 4.0 - 2.0;
            }
            x
        })
        .collect()
}

/// `forward_batch` on batches of every size from 0 to `max` (whole tiles,
/// every remainder, the single sample) equals `forward` on each sample,
/// bit for bit.
fn batches_equal_per_sample<N: Network>(max: usize) {
    let net = random::<N>(7);
    let xs = inputs::<N>(max, 11);
    let want: Vec<N::Output> = xs.iter().map(|x| net.forward(x)).collect();
    for n in 0..=max {
        let mut ys = vec![<N::Output as constnet::Tensor>::zeroed(); n];
        forward_batch(&*net, &xs[..n], &mut ys);
        for (i, (y, w)) in ys.iter().zip(&want).enumerate() {
            let bits = |t: &N::Output| -> Vec<u32> {
                constnet::Tensor::as_flat(t)
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            assert_eq!(bits(y), bits(w), "batch of {n}, sample {i}");
        }
    }
}

#[test]
fn dense_tiles_equal_per_sample() {
    batches_equal_per_sample::<Mlp>(40);
}

#[test]
fn cnn_with_a_dense_tail_equals_per_sample() {
    batches_equal_per_sample::<Cnn>(30);
}

#[test]
fn dense_graph_that_is_not_a_chain_equals_per_sample() {
    batches_equal_per_sample::<Residual>(5);
}

#[test]
#[should_panic(expected = "3 inputs but 2 outputs")]
fn dense_tiles_check_lengths() {
    let net = random::<Mlp>(1);
    let mut outputs = vec![[0.0f32; 10]; 2];
    forward_batch(&*net, &inputs::<Mlp>(3, 2), &mut outputs);
}

#[cfg(feature = "rayon")]
#[test]
fn par_forward_batch_of_dense_tiles_equals_per_sample() {
    let net = random::<Mlp>(3);
    let xs = inputs::<Mlp>(203, 5);
    let mut outputs = vec![[0.0f32; 10]; xs.len()];
    constnet::batch::par_forward_batch(&*net, &xs, &mut outputs);
    for (x, y) in xs.iter().zip(&outputs) {
        assert_eq!(y.map(f32::to_bits), net.forward(x).map(f32::to_bits));
    }
}

/// `ndarray::forward_batch` on a dense network: a standard-layout batch
/// goes through the tiles whole, a strided one sample by sample; both
/// give `forward`'s bits.
#[cfg(feature = "ndarray")]
#[test]
fn ndarray_batches_of_dense_tiles_equal_per_sample() {
    use ndarray::{s, Array4};
    let net = random::<Mlp>(9);
    let xs = inputs::<Mlp>(29, 13);
    let flat: Vec<f32> = xs
        .iter()
        .flat_map(|x| constnet::Tensor::as_flat(x).to_vec())
        .collect();
    let batch = Array4::from_shape_vec((29, 2, 5, 7), flat).unwrap();
    let bits = |v: Vec<f32>| -> Vec<u32> { v.into_iter().map(f32::to_bits).collect() };
    let out = constnet::ndarray::forward_batch(&*net, batch.view()).unwrap();
    assert_eq!(out.shape(), [29, 10]);
    for (row, x) in out.rows().into_iter().zip(&xs) {
        assert_eq!(bits(row.to_vec()), bits(net.forward(x).to_vec()));
    }
    let strided = batch.slice(s![..;3, .., .., ..]);
    assert!(strided.as_slice().is_none());
    let out = constnet::ndarray::forward_batch(&*net, strided).unwrap();
    assert_eq!(out.shape(), [10, 10]);
    for (row, x) in out.rows().into_iter().zip(xs.iter().step_by(3)) {
        assert_eq!(bits(row.to_vec()), bits(net.forward(x).to_vec()));
    }
}

#[test]
#[should_panic(expected = "forward_batch_with: 3 inputs but 2 outputs")]
fn generated_forward_batch_with_checks_lengths() {
    let net = random::<Mlp>(1);
    let mut workspace = Mlp::new_workspace();
    let mut outputs = vec![[0.0f32; 10]; 2];
    net.forward_batch_with(&inputs::<Mlp>(3, 2), &mut outputs, &mut workspace);
}

#[test]
#[should_panic(expected = "forward_batch_with: 1 inputs but 2 outputs")]
fn default_forward_batch_with_checks_lengths() {
    let (net, inputs) = setup(1);
    let mut workspace = LeNet5::new_workspace();
    let mut outputs = vec![[0.0f32; 10]; 2];
    net.forward_batch_with(&inputs, &mut outputs, &mut workspace);
}

#[test]
#[should_panic(expected = "linear_batch: 2 inputs but 1 outputs")]
fn linear_batch_checks_lengths() {
    let w = [[1.0f32; 3]; 2];
    let mut ys = [[0.0f32; 3]; 1];
    constnet::linear::linear_batch(
        &[[1.0f32; 3]; 2],
        &w,
        None,
        constnet::linear::PostAct::None,
        &mut ys,
    );
}
