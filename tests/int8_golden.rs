//! `#[int8]` on a golden network of the vocabulary (`tests/golden/`):
//! VGG-style blocks with batch norms folded into bias-free and biased
//! convolutions, ReLUs fused and not, max pools, Dropout and Linear. The
//! int8 network, calibrated in Rust, against the float one (itself within
//! 1e-4 of PyTorch, `tests/golden_networks.rs`).

use std::fs;
use std::path::Path;

use constnet::quant::calibrate::{calibrate, Method};
use constnet::quant::Int8Network;
use constnet::{Network, Tensor};
use safetensors::SafeTensors;

#[path = "common/golden.rs"]
#[allow(dead_code)]
mod golden;
#[path = "common/tensors.rs"]
mod tensors;
use golden::{ResNetCifar, ResNetCifarInt8, SqueezeNet, SqueezeNetInt8, VggStack, VggStackInt8};

/// Standard normal samples (Box–Muller over xorshift32), like the golden
/// inputs (`torch.randn`).
fn normal(seed: u32, out: &mut [f32]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    let mut uniform = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (f64::from(s >> 8) + 0.5) / f64::from(1u32 << 24)
    };
    for x in out {
        let (u, v) = (uniform(), uniform());
        *x = ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32;
    }
}

/// The worst difference between the float network and the int8 one
/// calibrated in Rust on 200 standard normal inputs, in output steps, over
/// the golden inputs of `tests/golden/<name>.io.safetensors`.
fn int8_against_float<N, Q>(name: &str) -> (f32, Box<Q>)
where
    N: Network,
    Q: Int8Network<Float = N>,
{
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let net =
        N::from_safetensors(&fs::read(dir.join(format!("{name}.safetensors"))).unwrap()).unwrap();
    let calibration: Vec<N::Input> = (0..200)
        .map(|i| {
            let mut x = N::Input::zeroed();
            normal(i, x.as_flat_mut());
            x
        })
        .collect();
    let params = calibrate(&*net, &calibration, Method::MinMax).unwrap();
    let q = Q::quantize(&net, &params).unwrap();
    let io_bytes = fs::read(dir.join(format!("{name}.io.safetensors"))).unwrap();
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let inputs = tensors::f32s(&io, "__input");
    let scale = q.output_params().scale;
    let mut worst = 0.0f32;
    for x in inputs.chunks_exact(N::Input::LEN) {
        let x = N::Input::from_flat(x).unwrap();
        let (float, int8) = (net.forward(x), q.forward_f32(x));
        for (a, b) in float.as_flat().iter().zip(int8.as_flat()) {
            worst = worst.max((a - b).abs() / scale);
        }
    }
    println!("{name} int8 against float: max |diff| {worst:.2} output steps (scale {scale})");
    (worst, q)
}

#[test]
fn vgg_stack_int8_follows_the_float_network() {
    let (worst, _) = int8_against_float::<VggStack, VggStackInt8>("vgg_stack");
    assert!(worst <= 4.0, "{worst} output steps");
}

/// Residual connections: int8 `Add`s with their ReLUs fused, stride-2
/// projections, a global average pool.
#[test]
fn resnet_cifar_int8_follows_the_float_network() {
    let (worst, _) = int8_against_float::<ResNetCifar, ResNetCifarInt8>("resnet_cifar");
    assert!(worst <= 8.0, "{worst} output steps");
}

/// `Cat`s: each branch's last convolution is quantized with the `Cat`'s
/// parameters (calibrated on the `Cat`'s row), so the `Cat` copies.
#[test]
fn squeezenet_int8_follows_the_float_network() {
    let (worst, q) = int8_against_float::<SqueezeNet, SqueezeNetInt8>("squeezenet");
    assert!(worst <= 4.0, "{worst} output steps");
    let value = |name: &str| {
        let row = SqueezeNet::LAYERS
            .iter()
            .position(|l| l.name == name)
            .unwrap();
        q.values()[SqueezeNetInt8::ROW_VALUES[row].unwrap()]
    };
    for fire in ["features.3", "features.4", "features.6"] {
        let cat = value(&format!("{fire}.cat"));
        assert_eq!(value(&format!("{fire}.expand1x1")), cat);
        assert_eq!(value(&format!("{fire}.expand3x3")), cat);
        assert_ne!(value(&format!("{fire}.squeeze")), cat);
    }
}

// Batch norms folded into the convolutions: a quarter of the bytes, and less.
const _: () = assert!(<VggStackInt8 as Int8Network>::WEIGHT_BYTES * 3 < VggStack::WEIGHT_BYTES);
