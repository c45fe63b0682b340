//! The shipped LeNet-5 on `ndarray` views (feature `ndarray`): one digit as
//! an `ArrayView3`, a batch as an `ArrayView4`, shapes checked at run time.
#![cfg(feature = "ndarray")]

mod common;

use common::{first_inputs, lenet, Input, LeNet5};
use constnet::ndarray::{forward_batch, forward_view};
use constnet::Tensor;
use ndarray::{s, Array3, Array4, ArrayView3};

fn setup() -> (Box<LeNet5>, Vec<Input>) {
    (lenet(), first_inputs(16))
}

#[test]
fn one_digit_as_an_array_view3() {
    let (net, inputs) = setup();
    let x = &inputs[3];
    let view = ArrayView3::from_shape((1, 32, 32), x.as_flat()).unwrap();
    assert_eq!(forward_view(&*net, view).unwrap(), net.forward(x));

    // A transposed (non-contiguous) view gives the same answer after one
    // copy: here the image stored transposed, viewed back in logical order.
    let transposed = Array3::from_shape_fn((1, 32, 32), |(c, h, w)| x[c][w][h]);
    let view = transposed.view().permuted_axes([0, 2, 1]);
    assert!(view.as_slice().is_none());
    assert_eq!(forward_view(&*net, view).unwrap(), net.forward(x));

    let wrong = Array3::<f32>::zeros((1, 28, 28));
    let err = forward_view(&*net, wrong.view()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input has shape [1, 28, 28], but the network takes [1, 32, 32]"
    );
}

#[test]
fn a_batch_as_an_array_view4() {
    let (net, inputs) = setup();
    let flat: Vec<f32> = inputs.iter().flat_map(|x| x.as_flat().to_vec()).collect();
    let batch = Array4::from_shape_vec((16, 1, 32, 32), flat).unwrap();
    let out = forward_batch(&*net, batch.view()).unwrap();
    assert_eq!(out.shape(), [16, 10]);
    for (row, x) in out.rows().into_iter().zip(&inputs) {
        assert_eq!(row.to_vec(), net.forward(x).to_vec());
    }
    // Every other sample, a strided batch.
    let out = forward_batch(&*net, batch.slice(s![..;2, .., .., ..])).unwrap();
    assert_eq!(out.shape(), [8, 10]);
    assert_eq!(out.row(1).to_vec(), net.forward(&inputs[2]).to_vec());
}
