//! The kernels one LeNet-5 layer at a time, through the public kernel API,
//! next to the naive reference kernels (`constnet_runtime::reference`); and
//! a ResNet basic block's convolution (3×3, stride 1, 16 → 16 channels on
//! 32×32, no bias, then BatchNorm2d, the block's input added, ReLU) fused
//! with `conv2d_fused` next to the unfused sequence of kernels; and fused
//! with only the norm or only the residual, to show what each costs in the
//! store.
//!
//! ```sh
//! taskset -c 0 cargo bench -p constnet-runtime --bench kernels
//! taskset -c 0 cargo bench -p constnet-runtime --bench kernels -- conv2   # one layer
//! taskset -c 0 cargo bench -p constnet-runtime --bench kernels -- layers/  # the zoo's
//! ```
//!
//! The `layers` group times representative convolutions of the zoo
//! networks (ResNet-8, DS-CNN, MobileNetV1 ×0.25), each through
//! `conv2d_fused` with its ReLU fused as the networks run it, and its table
//! states GFLOP/s against the single-core FMA peak measured in the same
//! run (`benches/common/fma.rs`, as `--bench peak`).
//!
//! Criterion reports each layer's time and its throughput in
//! multiply-accumulates (elements for `relu` and the pools) per second. After
//! the criterion runs a summary table gives, per layer, the median time of
//! a quick second measurement, GFLOP/s (2 FLOP per MAC) and the percentage
//! of the single-core FMA peak measured in the same run (`common/fma.rs`),
//! not a nominal clock × width figure: the clock a busy core really runs at
//! is what bounds a kernel.
#![allow(clippy::cast_precision_loss)] // Counts far below 2^52, printed as f64.
#![allow(clippy::large_stack_arrays)] // A few KiB of LeNet activations.

use std::hint::black_box;
use std::time::Duration;

use constnet_runtime::conv::{Norm, Post, PostAct, Zeros};
use constnet_runtime::reference::{self, Conv2dParams, MaxPool2dParams, PaddingMode};
use constnet_runtime::{act, conv, linear, merge, norm, pool, tensor, Tensor};
use criterion::{Criterion, Throughput};

#[path = "common/fma.rs"]
mod fma;
#[path = "common/timing.rs"]
mod timing;

/// Deterministic data in `[-1, 1)` (xorshift32), no dependency needed.
fn fill(xs: &mut [f32], seed: u32) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for x in xs {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *x = (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
    }
}

/// LeNet-5's parameters and activations, in the kernels' array types.
struct LeNet {
    x: [[[f32; 32]; 32]; 1],
    w1: [[[[f32; 5]; 5]; 1]; 6],
    b1: [f32; 6],
    a1: [[[f32; 28]; 28]; 6],
    p1: [[[f32; 14]; 14]; 6],
    w2: [[[[f32; 5]; 5]; 6]; 16],
    b2: [f32; 16],
    a2: [[[f32; 10]; 10]; 16],
    p2: [[[f32; 5]; 5]; 16],
    w3: [[f32; 400]; 120],
    b3: [f32; 120],
    a3: [f32; 120],
    w4: [[f32; 120]; 84],
    b4: [f32; 84],
    a4: [f32; 84],
    w5: [[f32; 84]; 10],
    b5: [f32; 10],
    a5: [f32; 10],
    /// Not LeNet: the ResNet block of the fused-epilogue benchmarks.
    block: Block,
}

/// A ResNet basic block's second convolution and what follows it:
/// `relu(bn(conv3x3(x)) + x)`, 16 channels of 32×32.
struct Block {
    x: [[[f32; 32]; 32]; 16],
    w: [[[[f32; 3]; 3]; 16]; 16],
    gamma: [f32; 16],
    beta: [f32; 16],
    mean: [f32; 16],
    var: [f32; 16],
    y: [[[f32; 32]; 32]; 16],
}

const BLOCK_MACS: u64 = 16 * 32 * 32 * 16 * 9;
const BLOCK_ELEMENTS: u64 = 16 * 32 * 32;
const BN_EPS: f32 = 1e-5;

impl Block {
    fn new() -> Self {
        let mut b = Block {
            x: Tensor::zeroed(),
            w: Tensor::zeroed(),
            gamma: [0.0; 16],
            beta: [0.0; 16],
            mean: [0.0; 16],
            var: [0.0; 16],
            y: Tensor::zeroed(),
        };
        fill(b.x.as_flat_mut(), 21);
        fill(b.w.as_flat_mut(), 22);
        fill(&mut b.gamma, 23);
        fill(&mut b.beta, 24);
        fill(&mut b.mean, 25);
        fill(&mut b.var, 26);
        for v in &mut b.var {
            *v = v.abs() + 0.5;
        }
        b
    }

    /// The convolution alone.
    fn conv(&mut self) {
        conv::conv2d::<1, 1, 1, 1, 1, 1, 1, 16, 32, 32, 16, 16, 3, 3, 32, 32>(
            &self.x,
            &self.w,
            None,
            &mut self.y,
        );
    }

    /// conv2d → batch_norm2d → merge::add → act::relu: four passes.
    fn unfused(&mut self) {
        self.conv();
        norm::batch_norm2d(
            &mut self.y,
            Some(&self.gamma),
            Some(&self.beta),
            &self.mean,
            &self.var,
            BN_EPS,
        );
        merge::add::<16384>(tensor::flatten_mut(&mut self.y), tensor::flatten(&self.x));
        act::relu(self.y.as_flat_mut());
    }

    /// The same in one pass: the epilogue in the convolution's store.
    fn fused(&mut self) {
        self.fused_with(true, true);
    }

    /// As `fused`, with the norm and the residual each fused or left out:
    /// what each part of the epilogue costs in the store.
    fn fused_with(&mut self, with_norm: bool, with_residual: bool) {
        let post = Post {
            norm: with_norm.then_some(Norm {
                weight: Some(&self.gamma),
                bias: Some(&self.beta),
                running_mean: &self.mean,
                running_var: &self.var,
                eps: BN_EPS,
            }),
            residual: with_residual.then_some(&self.x),
            act: PostAct::Relu,
        };
        conv::conv2d_fused::<Zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, 16, 32, 32, 16, 16, 3, 3, 32, 32>(
            &self.x,
            &self.w,
            None,
            &post,
            &mut self.y,
        );
    }
}

impl LeNet {
    fn new() -> Box<Self> {
        let mut n = Box::new(LeNet {
            x: Tensor::zeroed(),
            w1: [[[[0.0; 5]; 5]; 1]; 6],
            b1: [0.0; 6],
            a1: Tensor::zeroed(),
            p1: Tensor::zeroed(),
            w2: [[[[0.0; 5]; 5]; 6]; 16],
            b2: [0.0; 16],
            a2: Tensor::zeroed(),
            p2: Tensor::zeroed(),
            w3: Tensor::zeroed(),
            b3: [0.0; 120],
            a3: [0.0; 120],
            w4: Tensor::zeroed(),
            b4: [0.0; 84],
            a4: [0.0; 84],
            w5: Tensor::zeroed(),
            b5: [0.0; 10],
            a5: [0.0; 10],
            block: Block::new(),
        });
        fill(n.x.as_flat_mut(), 1);
        fill(
            n.w1.as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
            2,
        );
        fill(&mut n.b1, 3);
        fill(
            n.w2.as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
            4,
        );
        fill(&mut n.b2, 5);
        fill(n.w3.as_flat_mut(), 6);
        fill(&mut n.b3, 7);
        fill(n.w4.as_flat_mut(), 8);
        fill(&mut n.b4, 9);
        fill(n.w5.as_flat_mut(), 10);
        fill(&mut n.b5, 11);
        // Realistic activations for the layers benchmarked alone.
        n.forward();
        n
    }

    fn conv1(&mut self) {
        conv::conv2d::<1, 1, 0, 0, 1, 1, 1, 1, 32, 32, 6, 1, 5, 5, 28, 28>(
            &self.x,
            &self.w1,
            Some(&self.b1),
            &mut self.a1,
        );
    }
    fn relu1(&mut self) {
        act::relu(self.a1.as_flat_mut());
    }
    fn pool1(&mut self) {
        pool::max_pool2d::<2, 2, 2, 2, 0, 0, 1, 1, false, 6, 28, 28, 14, 14>(
            &self.a1,
            &mut self.p1,
        );
    }
    fn conv2(&mut self) {
        conv::conv2d::<1, 1, 0, 0, 1, 1, 1, 6, 14, 14, 16, 6, 5, 5, 10, 10>(
            &self.p1,
            &self.w2,
            Some(&self.b2),
            &mut self.a2,
        );
    }
    fn relu2(&mut self) {
        act::relu(self.a2.as_flat_mut());
    }
    fn pool2(&mut self) {
        pool::max_pool2d::<2, 2, 2, 2, 0, 0, 1, 1, false, 16, 10, 10, 5, 5>(&self.a2, &mut self.p2);
    }
    fn fc1(&mut self) {
        let flat: &[f32; 400] = self.p2.as_flattened().as_flattened().try_into().unwrap();
        linear::linear(flat, &self.w3, Some(&self.b3), &mut self.a3);
    }
    fn relu3(&mut self) {
        act::relu(&mut self.a3);
    }
    fn fc2(&mut self) {
        linear::linear(&self.a3, &self.w4, Some(&self.b4), &mut self.a4);
    }
    fn relu4(&mut self) {
        act::relu(&mut self.a4);
    }
    fn fc3(&mut self) {
        linear::linear(&self.a4, &self.w5, Some(&self.b5), &mut self.a5);
    }
    /// The whole network, layer after layer, as `network!` generates it.
    fn forward(&mut self) {
        self.conv1();
        self.relu1();
        self.pool1();
        self.conv2();
        self.relu2();
        self.pool2();
        self.fc1();
        self.relu3();
        self.fc2();
        self.relu4();
        self.fc3();
    }
}

/// The naive reference kernels on the same data.
mod naive {
    use super::{reference, Conv2dParams, LeNet, MaxPool2dParams, PaddingMode, Tensor};

    fn conv_params(c: usize, o: usize) -> Conv2dParams {
        Conv2dParams {
            in_channels: c,
            out_channels: o,
            kernel: (5, 5),
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        }
    }
    const POOL: MaxPool2dParams = MaxPool2dParams {
        kernel: (2, 2),
        stride: (2, 2),
        padding: (0, 0),
        dilation: (1, 1),
        ceil_mode: false,
    };

    pub fn conv1(n: &mut LeNet) {
        reference::conv2d(
            &conv_params(1, 6),
            (32, 32),
            n.x.as_flat(),
            n.w1.as_flattened().as_flattened().as_flattened(),
            Some(&n.b1),
            n.a1.as_flat_mut(),
        );
    }
    pub fn conv2(n: &mut LeNet) {
        reference::conv2d(
            &conv_params(6, 16),
            (14, 14),
            n.p1.as_flat(),
            n.w2.as_flattened().as_flattened().as_flattened(),
            Some(&n.b2),
            n.a2.as_flat_mut(),
        );
    }
    pub fn relu1(n: &mut LeNet) {
        for v in n.a1.as_flat_mut() {
            *v = reference::act::relu(*v);
        }
    }
    pub fn pool1(n: &mut LeNet) {
        reference::max_pool2d(&POOL, 6, (28, 28), n.a1.as_flat(), n.p1.as_flat_mut());
    }
    pub fn pool2(n: &mut LeNet) {
        reference::max_pool2d(&POOL, 16, (10, 10), n.a2.as_flat(), n.p2.as_flat_mut());
    }
    pub fn fc1(n: &mut LeNet) {
        reference::linear(n.p2.as_flat(), n.w3.as_flat(), Some(&n.b3), &mut n.a3);
    }
    pub fn fc2_fc3(n: &mut LeNet) {
        reference::linear(&n.a3, n.w4.as_flat(), Some(&n.b4), &mut n.a4);
        reference::linear(&n.a4, n.w5.as_flat(), Some(&n.b5), &mut n.a5);
    }
}

/// How much work a benchmark does: multiply-accumulates, or elements for
/// the layers that do no arithmetic to speak of.
#[derive(Clone, Copy)]
enum Work {
    Macs(u64),
    Elements(u64),
}

const CONV1_MACS: u64 = 6 * 28 * 28 * 25;
const CONV2_MACS: u64 = 16 * 10 * 10 * 6 * 25;
const FC1_MACS: u64 = 400 * 120;
const FC23_MACS: u64 = 120 * 84 + 84 * 10;
const TOTAL_MACS: u64 = CONV1_MACS + CONV2_MACS + FC1_MACS + FC23_MACS;

type Case = (&'static str, Work, fn(&mut LeNet));

/// Every benchmark: name, work, body.
fn cases() -> Vec<Case> {
    vec![
        ("conv1", Work::Macs(CONV1_MACS), LeNet::conv1),
        ("relu1", Work::Elements(6 * 28 * 28), LeNet::relu1),
        ("pool1", Work::Elements(6 * 28 * 28), LeNet::pool1),
        ("conv2", Work::Macs(CONV2_MACS), LeNet::conv2),
        ("relu2", Work::Elements(16 * 10 * 10), LeNet::relu2),
        ("pool2", Work::Elements(16 * 10 * 10), LeNet::pool2),
        ("fc1", Work::Macs(FC1_MACS), LeNet::fc1),
        ("fc2+fc3", Work::Macs(FC23_MACS), |n| {
            n.fc2();
            n.relu4();
            n.fc3();
        }),
        ("forward", Work::Macs(TOTAL_MACS), LeNet::forward),
        ("block/conv", Work::Macs(BLOCK_MACS), |n| n.block.conv()),
        ("block/unfused", Work::Macs(BLOCK_MACS), |n| {
            n.block.unfused()
        }),
        ("block/fused", Work::Macs(BLOCK_MACS), |n| n.block.fused()),
        ("block/fused bn+relu", Work::Macs(BLOCK_MACS), |n| {
            n.block.fused_with(true, false);
        }),
        ("block/fused add+relu", Work::Macs(BLOCK_MACS), |n| {
            n.block.fused_with(false, true);
        }),
        ("block/bn+add+relu", Work::Elements(BLOCK_ELEMENTS), |n| {
            let b = &mut n.block;
            norm::batch_norm2d(
                &mut b.y,
                Some(&b.gamma),
                Some(&b.beta),
                &b.mean,
                &b.var,
                BN_EPS,
            );
            merge::add::<16384>(tensor::flatten_mut(&mut b.y), tensor::flatten(&b.x));
            act::relu(b.y.as_flat_mut());
        }),
        ("naive/conv1", Work::Macs(CONV1_MACS), naive::conv1),
        ("naive/relu1", Work::Elements(6 * 28 * 28), naive::relu1),
        ("naive/pool1", Work::Elements(6 * 28 * 28), naive::pool1),
        ("naive/conv2", Work::Macs(CONV2_MACS), naive::conv2),
        ("naive/pool2", Work::Elements(16 * 10 * 10), naive::pool2),
        ("naive/fc1", Work::Macs(FC1_MACS), naive::fc1),
        ("naive/fc2+fc3", Work::Macs(FC23_MACS), naive::fc2_fc3),
    ]
}

/// The median and the minimum time of one call of `f`, over batches of
/// calls (on a shared machine the minimum is the steadier figure).
fn time(net: &mut LeNet, f: fn(&mut LeNet)) -> (Duration, Duration) {
    timing::median_and_best(&mut || f(black_box(&mut *net)))
}

/// One benchmarked convolution layer: its name, MACs and a call.
struct Layer {
    name: &'static str,
    macs: u64,
    run: Box<dyn FnMut()>,
}

/// A layer `conv2d_fused::<Zeros, SH, SW, PT, PB, PL, PR, 1, 1, G, C, H,
/// W, O, CG, KH, KW, OH, OW>` with a bias and a fused ReLU, on
/// pseudo-random data.
#[allow(clippy::too_many_arguments)]
fn layer<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PB: usize,
    const PL: usize,
    const PR: usize,
    const G: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const CG: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
>(
    name: &'static str,
) -> Layer {
    let mut x = Box::new([[[0.0f32; W]; H]; C]);
    fill(x.as_flattened_mut().as_flattened_mut(), 21);
    let mut w = Box::new([[[[0.0f32; KW]; KH]; CG]; O]);
    fill(
        w.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
        22,
    );
    let mut b = Box::new([0.0f32; O]);
    fill(&mut b[..], 23);
    let mut y = Box::new([[[0.0f32; OW]; OH]; O]);
    let post = Post {
        act: PostAct::Relu,
        ..Post::NONE
    };
    Layer {
        name,
        macs: (O * OH * OW * CG * KH * KW) as u64,
        run: Box::new(move || {
            conv::conv2d_fused::<
                Zeros,
                SH,
                SW,
                PT,
                PB,
                PL,
                PR,
                1,
                1,
                G,
                C,
                H,
                W,
                O,
                CG,
                KH,
                KW,
                OH,
                OW,
            >(black_box(&x), &w, Some(&b), &post, &mut y);
        }),
    }
}

/// The zoo's layer kinds: stride-1 3×3, stride-2 3×3, 1×1 (stride 1 and
/// the stride-2 projection), depthwise (stride 1 and 2), and DS-CNN's
/// 10×4 stride-2 first convolution.
fn layers() -> Vec<Layer> {
    vec![
        layer::<1, 1, 1, 1, 1, 1, 1, 16, 32, 32, 16, 16, 3, 3, 32, 32>("resnet8/3x3s1 16x32x32"),
        layer::<1, 1, 1, 1, 1, 1, 1, 32, 16, 16, 32, 32, 3, 3, 16, 16>("resnet8/3x3s1 32x16x16"),
        layer::<1, 1, 1, 1, 1, 1, 1, 3, 32, 32, 16, 3, 3, 3, 32, 32>("resnet8/3x3s1 3>16"),
        layer::<1, 1, 1, 1, 1, 1, 1, 64, 8, 8, 64, 64, 3, 3, 8, 8>("resnet8/3x3s1 64x8x8"),
        layer::<2, 2, 0, 1, 0, 1, 1, 16, 32, 32, 32, 16, 3, 3, 16, 16>("resnet8/3x3s2 16>32"),
        layer::<2, 2, 0, 1, 0, 1, 1, 32, 16, 16, 64, 32, 3, 3, 8, 8>("resnet8/3x3s2 32>64"),
        layer::<2, 2, 0, 0, 0, 0, 1, 16, 32, 32, 32, 16, 1, 1, 16, 16>("resnet8/1x1s2 16>32"),
        layer::<2, 2, 0, 0, 0, 0, 1, 32, 16, 16, 64, 32, 1, 1, 8, 8>("resnet8/1x1s2 32>64"),
        layer::<2, 2, 4, 5, 1, 1, 1, 1, 49, 10, 64, 1, 10, 4, 25, 5>("ds_cnn/10x4s2 1>64"),
        layer::<1, 1, 1, 1, 1, 1, 64, 64, 25, 5, 64, 1, 3, 3, 25, 5>("ds_cnn/dw3x3 64x25x5"),
        layer::<1, 1, 0, 0, 0, 0, 1, 64, 25, 5, 64, 64, 1, 1, 25, 5>("ds_cnn/1x1 64>64"),
        layer::<2, 2, 0, 1, 0, 1, 1, 3, 96, 96, 8, 3, 3, 3, 48, 48>("mbv1/3x3s2 3>8"),
        layer::<1, 1, 1, 1, 1, 1, 8, 8, 48, 48, 8, 1, 3, 3, 48, 48>("mbv1/dw3x3s1 8x48"),
        layer::<2, 2, 0, 1, 0, 1, 16, 16, 48, 48, 16, 1, 3, 3, 24, 24>("mbv1/dw3x3s2 16x48"),
        layer::<1, 1, 1, 1, 1, 1, 32, 32, 24, 24, 32, 1, 3, 3, 24, 24>("mbv1/dw3x3s1 32x24"),
        layer::<2, 2, 0, 1, 0, 1, 32, 32, 24, 24, 32, 1, 3, 3, 12, 12>("mbv1/dw3x3s2 32x24"),
        layer::<1, 1, 1, 1, 1, 1, 64, 64, 12, 12, 64, 1, 3, 3, 12, 12>("mbv1/dw3x3s1 64x12"),
        layer::<2, 2, 0, 1, 0, 1, 64, 64, 12, 12, 64, 1, 3, 3, 6, 6>("mbv1/dw3x3s2 64x12"),
        layer::<1, 1, 1, 1, 1, 1, 128, 128, 6, 6, 128, 1, 3, 3, 6, 6>("mbv1/dw3x3s1 128x6"),
        layer::<2, 2, 0, 1, 0, 1, 128, 128, 6, 6, 128, 1, 3, 3, 3, 3>("mbv1/dw3x3s2 128x6"),
        layer::<1, 1, 1, 1, 1, 1, 256, 256, 3, 3, 256, 1, 3, 3, 3, 3>("mbv1/dw3x3s1 256x3"),
        layer::<1, 1, 0, 0, 0, 0, 1, 8, 48, 48, 16, 8, 1, 1, 48, 48>("mbv1/1x1 8>16 48x48"),
        layer::<1, 1, 0, 0, 0, 0, 1, 16, 24, 24, 32, 16, 1, 1, 24, 24>("mbv1/1x1 16>32 24x24"),
        layer::<1, 1, 0, 0, 0, 0, 1, 32, 24, 24, 32, 32, 1, 1, 24, 24>("mbv1/1x1 32>32 24x24"),
        layer::<1, 1, 0, 0, 0, 0, 1, 32, 12, 12, 64, 32, 1, 1, 12, 12>("mbv1/1x1 32>64 12x12"),
        layer::<1, 1, 0, 0, 0, 0, 1, 64, 12, 12, 64, 64, 1, 1, 12, 12>("mbv1/1x1 64>64 12x12"),
        layer::<1, 1, 0, 0, 0, 0, 1, 64, 12, 12, 128, 64, 1, 1, 12, 12>("mbv1/1x1 64>128 12x12"),
        layer::<1, 1, 0, 0, 0, 0, 1, 128, 6, 6, 128, 128, 1, 1, 6, 6>("mbv1/1x1 128>128 6x6"),
        layer::<1, 1, 0, 0, 0, 0, 1, 128, 3, 3, 256, 128, 1, 1, 3, 3>("mbv1/1x1 128>256 3x3"),
        layer::<1, 1, 0, 0, 0, 0, 1, 256, 3, 3, 256, 256, 1, 1, 3, 3>("mbv1/1x1 256>256 3x3"),
    ]
}

/// [`time`] for a layer.
fn time_layer(l: &mut Layer) -> (Duration, Duration) {
    timing::median_and_best(&mut l.run)
}

/// The `layers` group and its table (rows matching `filter`).
fn bench_layers(criterion: &mut Criterion, filter: &[String]) {
    let mut group = criterion.benchmark_group("layers");
    let mut layers = layers();
    for l in &mut layers {
        group.throughput(Throughput::Elements(2 * l.macs));
        group.bench_function(l.name, |b| b.iter(&mut l.run));
    }
    group.finish();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let wanted = |name: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|s| name.contains(s.trim_start_matches("layers/")))
    };
    if !layers.iter().any(|l| wanted(l.name)) {
        return;
    }
    let peak = fma::peak_gflops(400_000, 100);
    println!();
    println!(
        "{:<26} {:>11} {:>11} {:>10} {:>10}",
        "layer", "median", "min", "GFLOP/s", "% of peak"
    );
    for l in layers.iter_mut().filter(|l| wanted(l.name)) {
        let (median, min) = time_layer(l);
        let gflops = 2.0 * l.macs as f64 / median.as_secs_f64() / 1e9;
        let pct = peak.map_or_else(|| "-".to_owned(), |p| format!("{:.1}%", 100.0 * gflops / p));
        println!(
            "{:<26} {:>8.2} µs {:>8.2} µs {gflops:>10.2} {pct:>10}",
            l.name,
            median.as_secs_f64() * 1e6,
            min.as_secs_f64() * 1e6,
        );
    }
    match peak {
        Some(p) => {
            println!("(GFLOP/s from the median; measured single-core FMA peak {p:.1} GFLOP/s)")
        }
        None => println!("(GFLOP/s from the median; no FMA peak measured on this CPU)"),
    }
}

fn main() {
    let mut net = LeNet::new();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut group = criterion.benchmark_group("lenet");
    let mut selected = Vec::new();
    // Criterion's filter is a regex; the table understands its simplest
    // form, alternatives of plain names: `'conv1|fc1'`, `'lenet/(conv|fc)'`.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| {
            a.split(|c| "|()^$".contains(c))
                .filter(|t| !t.is_empty())
                .map(|t| t.trim_start_matches("lenet/").to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for (name, work, f) in cases() {
        group.throughput(match work {
            Work::Macs(n) | Work::Elements(n) => Throughput::Elements(n),
        });
        group.bench_function(name, |b| b.iter(|| f(black_box(&mut net))));
        if filter.is_empty()
            || filter
                .iter()
                .any(|s| !s.starts_with("layers") && name.contains(s.as_str()))
        {
            selected.push((name, work, f));
        }
    }
    group.finish();
    bench_layers(&mut criterion, &filter);
    criterion.final_summary();

    // `cargo test --benches` runs this binary with `--bench` absent: skip
    // the timing table there.
    if !std::env::args().any(|a| a == "--bench") || selected.is_empty() {
        return;
    }
    let peak = fma::peak_gflops(400_000, 100);
    println!();
    println!(
        "{:<14} {:>11} {:>11} {:>10} {:>10}",
        "layer", "median", "min", "GFLOP/s", "% of peak"
    );
    for (name, work, f) in selected {
        let (median, min) = time(&mut net, f);
        let secs = median.as_secs_f64();
        let times = format!(
            "{name:<14} {:>8.2} µs {:>8.2} µs",
            secs * 1e6,
            min.as_secs_f64() * 1e6
        );
        match work {
            Work::Macs(macs) => {
                let gflops = 2.0 * macs as f64 / secs / 1e9;
                let pct =
                    peak.map_or_else(|| "-".to_owned(), |p| format!("{:.1}%", 100.0 * gflops / p));
                println!("{times} {gflops:>10.2} {pct:>10}");
            }
            Work::Elements(n) => println!(
                "{times} {:>10} {:>10}  ({:.2} Gelem/s)",
                "-",
                "-",
                n as f64 / secs / 1e9
            ),
        }
    }
    match peak {
        Some(p) => {
            println!("(GFLOP/s from the median; measured single-core FMA peak {p:.1} GFLOP/s)")
        }
        None => println!("(GFLOP/s from the median; no FMA peak measured on this CPU)"),
    }
}
