//! Running networks on ndarray views: standard layout, non-contiguous
//! layouts, shape errors, batches.
#![cfg(feature = "ndarray")]

mod common;

use common::{Seq, Tiny};
use constnet_runtime::ndarray::{forward_batch, forward_view, ShapeError};
use constnet_runtime::Network;
use ndarray::{s, Array, Array1, Array3, Array4, ArrayView3, Axis, IxDyn};

fn tiny() -> Box<Tiny> {
    let mut net = Tiny::new_zeroed();
    net.fc.bias = [0.5, -1.0, 2.0];
    net
}

/// Row-major values of `x` read through ndarray's own indexing.
fn logical(x: &ArrayView3<f32>) -> Vec<f32> {
    let mut v = Vec::new();
    for c in 0..x.shape()[0] {
        for h in 0..x.shape()[1] {
            for w in 0..x.shape()[2] {
                v.push(x[[c, h, w]]);
            }
        }
    }
    v
}

fn sample(seed: f32) -> Array3<f32> {
    Array::from_shape_fn((1, 4, 4), |(c, h, w)| {
        seed + (c * 16 + h * 4 + w) as f32 * 0.5
    })
}

#[test]
fn standard_layout_view() {
    let net = tiny();
    let x = sample(1.0);
    assert!(x.is_standard_layout());
    let y = forward_view(&*net, x.view()).unwrap();
    assert_eq!(y, net.expected(x.as_slice().unwrap()));
    // Same as calling the network directly.
    let mut input = [[[0.0; 4]; 4]; 1];
    for (i, v) in x.iter().enumerate() {
        input[0][i / 4][i % 4] = *v;
    }
    assert_eq!(y, net.forward(&input));
    // Dynamic dimensions work too.
    assert_eq!(forward_view(&*net, x.view().into_dyn()).unwrap(), y);
}

#[test]
fn transposed_view_is_read_in_logical_order() {
    let net = tiny();
    let base = sample(-3.0);
    let t = base.view().permuted_axes([0, 2, 1]);
    assert!(!t.is_standard_layout());
    let y = forward_view(&*net, t).unwrap();
    let expected = net.expected(&logical(&t));
    assert_eq!(y, expected);
    // And the order matters: it differs from reading memory order.
    assert_ne!(y, net.expected(base.as_slice().unwrap()));
}

#[test]
fn strided_view_is_read_in_logical_order() {
    let net = tiny();
    let big = Array::from_shape_fn((2, 8, 9), |(c, h, w)| (c * 100 + h * 10 + w) as f32);
    let v = big.slice(s![1..2, ..;2, 1..;2]);
    assert_eq!(v.shape(), &[1, 4, 4]);
    assert!(v.as_slice().is_none());
    let y = forward_view(&*net, v).unwrap();
    assert_eq!(y, net.expected(&logical(&v)));
    // Reversed axis (negative stride).
    let base = sample(2.0);
    let r = base.slice(s![.., ..;-1, ..]);
    assert_eq!(forward_view(&*net, r).unwrap(), net.expected(&logical(&r)));
}

#[test]
fn mlp_view() {
    let mut net = Seq::new_zeroed();
    net.l0.weight = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    net.l0.bias = [0.0, 0.0, 1.0];
    net.l3.weight = [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let x = Array1::from(vec![1.0f32, 2.0, 3.0, 4.0]);
    assert_eq!(forward_view(&*net, x.view()).unwrap(), [5.0, 5.0]);
    // Every other element of a longer vector.
    let long = Array1::from(vec![1.0f32, 9.0, 2.0, 9.0, 3.0, 9.0, 4.0, 9.0]);
    assert_eq!(
        forward_view(&*net, long.slice(s![..;2])).unwrap(),
        [5.0, 5.0]
    );
}

#[test]
fn wrong_shape_is_an_error() {
    let net = tiny();
    let x = Array3::<f32>::zeros((1, 28, 28));
    let err = forward_view(&*net, x.view()).unwrap_err();
    assert_eq!(err.found, vec![1, 28, 28]);
    assert_eq!(err.expected, &[1, 4, 4]);
    assert_eq!(
        err.to_string(),
        "input has shape [1, 28, 28], but the network takes [1, 4, 4]"
    );
    // Wrong rank: a batch passed to `forward_view`, a sample to `forward_batch`.
    let batch = Array4::<f32>::zeros((2, 1, 4, 4));
    assert_eq!(
        forward_view(&*net, batch.view()).unwrap_err().to_string(),
        "input has shape [2, 1, 4, 4], but the network takes [1, 4, 4]"
    );
    let err: ShapeError = forward_batch(&*net, x.view()).unwrap_err();
    assert!(err.batched);
    assert_eq!(
        err.to_string(),
        "input has shape [1, 28, 28], but the network takes [batch, 1, 4, 4]"
    );
    let flat = Array::<f32, _>::zeros(IxDyn(&[]));
    assert_eq!(
        forward_batch(&*net, flat.view()).unwrap_err().to_string(),
        "input has shape [], but the network takes [batch, 1, 4, 4]"
    );
    let wrong = Array4::<f32>::zeros((3, 1, 4, 5));
    assert!(forward_batch(&*net, wrong.view()).is_err());
    let _: &dyn std::error::Error = &err;
}

#[test]
fn batch_matches_per_sample_forward() {
    let net = tiny();
    let samples = [sample(1.0), sample(-2.0), sample(0.25)];
    let views: Vec<_> = samples.iter().map(|a| a.view()).collect();
    let batch = ndarray::stack(Axis(0), &views).unwrap();
    assert_eq!(batch.shape(), &[3, 1, 4, 4]);
    let out = forward_batch(&*net, batch.view()).unwrap();
    assert_eq!(out.shape(), &[3, 3]);
    for (i, x) in samples.iter().enumerate() {
        let y = forward_view(&*net, x.view()).unwrap();
        assert_eq!(out.row(i).to_vec(), y.to_vec(), "sample {i}");
    }
    // A non-contiguous batch: samples reversed, each transposed.
    let odd = batch
        .slice(s![..;-1, .., .., ..])
        .permuted_axes([0, 1, 3, 2]);
    let out = forward_batch(&*net, odd).unwrap();
    for i in 0..3 {
        let x = odd.index_axis(Axis(0), i);
        let y = forward_view(&*net, x).unwrap();
        assert_eq!(out.row(i).to_vec(), y.to_vec(), "sample {i}");
        assert_eq!(y, net.expected(&logical(&x)));
    }
    // Every other sample of a batch: each sample contiguous, the batch not.
    let every_other = batch.slice(s![..;2, .., .., ..]);
    let out = forward_batch(&*net, every_other).unwrap();
    assert_eq!(out.shape(), &[2, 3]);
    assert_eq!(
        out.row(1).to_vec(),
        forward_view(&*net, samples[2].view()).unwrap().to_vec()
    );
    // Empty batch.
    let empty = Array4::<f32>::zeros((0, 1, 4, 4));
    assert_eq!(forward_batch(&*net, empty.view()).unwrap().shape(), &[0, 3]);
}

#[test]
fn mlp_batch_is_an_array2() {
    let mut net = Seq::new_zeroed();
    net.l0.weight = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    net.l3.weight = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]];
    let x = ndarray::array![[1.0f32, 2.0, 3.0, 4.0], [-1.0, 5.0, 6.0, 0.0]];
    let out = forward_batch(&*net, x.view()).unwrap();
    assert_eq!(out, ndarray::array![[1.0, 5.0], [0.0, 11.0]]);
    // Column-major input gives the same answer.
    let t = x.t().to_owned();
    let out_t = forward_batch(&*net, t.t()).unwrap();
    assert_eq!(out_t, out);
}

#[test]
fn contiguous_input_is_not_copied() {
    use common::{take_seen, Probe};
    let probe = Probe::new_zeroed();
    let addr = |p: *const f32| p.addr();
    take_seen();

    let x = sample(0.0);
    assert_eq!(forward_view(&*probe, x.view()).unwrap(), [0.0, 7.5]);
    assert_eq!(take_seen(), [addr(x.as_ptr())]);

    // A transposed view must be copied (and read in logical order).
    let t = x.view().permuted_axes([0, 2, 1]);
    assert_eq!(forward_view(&*probe, t).unwrap(), [0.0, 7.5]);
    assert_ne!(take_seen(), [addr(x.as_ptr())]);

    // Batch: every sample of a standard-layout batch is used in place.
    let batch = Array4::from_shape_fn((3, 1, 4, 4), |(n, _, h, w)| (n * 100 + h * 4 + w) as f32);
    let out = forward_batch(&*probe, batch.view()).unwrap();
    assert_eq!(
        out,
        ndarray::array![[0.0, 15.0], [100.0, 115.0], [200.0, 215.0]]
    );
    let base = addr(batch.as_ptr());
    let sample_bytes = 16 * std::mem::size_of::<f32>();
    let expected: Vec<usize> = (0..3).map(|i| base + i * sample_bytes).collect();
    assert_eq!(take_seen(), expected);

    // Every other sample: each still in place.
    forward_batch(&*probe, batch.slice(s![..;2, .., .., ..])).unwrap();
    assert_eq!(take_seen(), [base, base + 2 * sample_bytes]);

    // Transposed samples: copied, all into one reused buffer.
    let out = forward_batch(&*probe, batch.view().permuted_axes([0, 1, 3, 2])).unwrap();
    assert_eq!(
        out,
        ndarray::array![[0.0, 15.0], [100.0, 115.0], [200.0, 215.0]]
    );
    let seen = take_seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|a| *a == seen[0]), "{seen:?}");
    assert!(!(base..base + 3 * sample_bytes).contains(&seen[0]));
}
