//! The int8 kernels one layer at a time (`quant::conv::conv2d`,
//! `quant::linear::linear`, each with a fused ReLU as the networks run
//! them): LeNet-5's layers and the zoo's convolution kinds, next to the
//! same layer in f32 (`conv::conv2d_fused`, `linear::linear`). After the
//! criterion runs a table gives each layer's median time in int8 and in
//! f32, the int8 speed-up, and the int8 GMAC/s against the `vpdpbusd` peak
//! (with VNNI; else `vpmaddwd`'s) measured in the same run (`common/madd.rs`; the f32 FMA peak in MACs,
//! `common/fma.rs`, beside it).
//!
//! ```sh
//! taskset -c 0 cargo bench -p constnet-runtime --bench int8
//! taskset -c 0 cargo bench -p constnet-runtime --bench int8 -- lenet   # some rows
//! ```
#![allow(clippy::cast_precision_loss)] // Counts far below 2^52, printed as f64.

use std::hint::black_box;
use std::time::Duration;

use constnet_runtime::conv::{Post, PostAct, Zeros};
use constnet_runtime::quant::{
    conv as qconv, linear as qlinear, pool, quantize, Clamp, QParams, Requant, Rescale, Rounding,
};
use constnet_runtime::{conv, linear};
use criterion::{Criterion, Throughput};

#[path = "common/fma.rs"]
mod fma;
#[path = "common/madd.rs"]
mod madd;
#[path = "common/timing.rs"]
mod timing;

/// One layer twice: its name, MACs, the int8 call and the f32 call.
struct Layer {
    name: &'static str,
    macs: u64,
    int8: Box<dyn FnMut()>,
    f32: Box<dyn FnMut()>,
}

/// Pseudo-random bytes (a xorshift), the same on every run.
fn bytes(xs: &mut [i8], seed: u32) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for x in xs {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *x = (s >> 24) as u8 as i8;
    }
}

/// The layer's output rescaling: per-channel multipliers near 1/4096, a
/// bias, output zero point −20, a fused ReLU.
fn rescale<const O: usize>(
    requant: &'static [Requant; O],
    bias: &'static [i32; O],
    rounding: Rounding,
) -> Rescale<'static, O> {
    Rescale {
        bias: Some(bias),
        requant,
        zero_point: -20,
        clamp: Clamp { min: -20, max: 127 },
        rounding,
    }
}

/// A convolution layer with a fused ReLU, int8 and f32.
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
    let mut x = Box::new([[[0i8; W]; H]; C]);
    bytes(x.as_flattened_mut().as_flattened_mut(), 1);
    let mut w = Box::new([[[[0i8; KW]; KH]; CG]; O]);
    bytes(
        w.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
        2,
    );
    let requant: &'static [Requant; O] = Box::leak(Box::new(core::array::from_fn(|o| {
        Requant::new(1.0 / (4096.0 + o as f64))
    })));
    let bias: &'static [i32; O] = Box::leak(Box::new(core::array::from_fn(|o| 100 * o as i32)));
    let mut y = Box::new([[[0i8; OW]; OH]; O]);
    let xf = Box::new(x.map(|p| p.map(|r| r.map(f32::from))));
    let wf = Box::new(w.map(|k| k.map(|c| c.map(|r| r.map(f32::from)))));
    let bf = Box::new(bias.map(|b| b as f32));
    let mut yf = Box::new([[[0.0f32; OW]; OH]; O]);
    let post = Post {
        act: PostAct::Relu,
        ..Post::NONE
    };
    Layer {
        name,
        macs: (O * OH * OW * CG * KH * KW) as u64,
        int8: Box::new(move || {
            let r = rescale(requant, bias, Rounding::Double);
            qconv::conv2d::<SH, SW, PT, PB, PL, PR, 1, 1, G, C, H, W, O, CG, KH, KW, OH, OW>(
                black_box(&x),
                3,
                &w,
                &r,
                &mut y,
            );
        }),
        f32: Box::new(move || {
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
            >(black_box(&xf), &wf, Some(&bf), &post, &mut yf);
        }),
    }
}

/// A linear layer with a fused ReLU, int8 and f32.
fn dense<const I: usize, const O: usize>(name: &'static str) -> Layer {
    let mut x = Box::new([0i8; I]);
    bytes(&mut x[..], 3);
    let mut w = Box::new([[0i8; I]; O]);
    bytes(w.as_flattened_mut(), 4);
    let requant: &'static [Requant; O] = Box::leak(Box::new(core::array::from_fn(|o| {
        Requant::new(1.0 / (4096.0 + o as f64))
    })));
    let bias: &'static [i32; O] = Box::leak(Box::new(core::array::from_fn(|o| 100 * o as i32)));
    let mut y = Box::new([0i8; O]);
    let xf = Box::new(x.map(f32::from));
    let wf = Box::new(w.map(|r| r.map(f32::from)));
    let bf = Box::new(bias.map(|b| b as f32));
    let mut yf = Box::new([0.0f32; O]);
    Layer {
        name,
        macs: (I * O) as u64,
        int8: Box::new(move || {
            let r = rescale(requant, bias, Rounding::Single);
            qlinear::linear::<I, O>(black_box(&x), 3, &w, &r, &mut y);
        }),
        f32: Box::new(move || {
            linear::linear::<I, O>(black_box(&xf), &wf, Some(&bf), &mut yf);
            yf.iter_mut().for_each(|v| *v = v.max(0.0));
        }),
    }
}

/// LeNet-5's layers and the zoo's convolution kinds (as `kernels`' table).
fn layers() -> Vec<Layer> {
    vec![
        layer::<1, 1, 0, 0, 0, 0, 1, 1, 32, 32, 6, 1, 5, 5, 28, 28>("lenet/conv1 1>6 5x5"),
        layer::<1, 1, 0, 0, 0, 0, 1, 6, 14, 14, 16, 6, 5, 5, 10, 10>("lenet/conv2 6>16 5x5"),
        dense::<400, 120>("lenet/fc1 400>120"),
        dense::<120, 84>("lenet/fc2 120>84"),
        layer::<1, 1, 1, 1, 1, 1, 1, 16, 32, 32, 16, 16, 3, 3, 32, 32>("resnet8/3x3s1 16x32x32"),
        layer::<1, 1, 1, 1, 1, 1, 1, 64, 8, 8, 64, 64, 3, 3, 8, 8>("resnet8/3x3s1 64x8x8"),
        layer::<1, 1, 1, 1, 1, 1, 1, 3, 32, 32, 16, 3, 3, 3, 32, 32>("resnet8/3x3 3>16"),
        layer::<2, 2, 0, 1, 0, 1, 1, 16, 32, 32, 32, 16, 3, 3, 16, 16>("resnet8/3x3s2 16>32"),
        layer::<2, 2, 0, 0, 0, 0, 1, 16, 32, 32, 32, 16, 1, 1, 16, 16>("resnet8/1x1s2 16>32"),
        layer::<2, 2, 4, 5, 1, 1, 1, 1, 49, 10, 64, 1, 10, 4, 25, 5>("ds_cnn/10x4s2 1>64"),
        layer::<1, 1, 1, 1, 1, 1, 64, 64, 25, 5, 64, 1, 3, 3, 25, 5>("ds_cnn/dw3x3 64x25x5"),
        layer::<1, 1, 0, 0, 0, 0, 1, 64, 25, 5, 64, 64, 1, 1, 25, 5>("ds_cnn/1x1 64>64"),
        layer::<2, 2, 0, 1, 0, 1, 1, 3, 96, 96, 8, 3, 3, 3, 48, 48>("mbv1/3x3s2 3>8"),
        layer::<2, 2, 0, 1, 0, 1, 16, 16, 48, 48, 16, 1, 3, 3, 24, 24>("mbv1/dw3x3s2 16x48"),
        layer::<1, 1, 0, 0, 0, 0, 1, 32, 24, 24, 32, 32, 1, 1, 24, 24>("mbv1/1x1 32>32 24x24"),
    ]
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    // The table's rows: names containing a positional argument (criterion's
    // filter, in its simplest form), skipping the values of options.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|&(k, a)| {
            !a.starts_with('-')
                && (k == 0 || !args[k - 1].starts_with("--") || args[k - 1] == "--bench")
        })
        .map(|(_, a)| a)
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|s| name.contains(s.as_str()));
    let mut layers = layers();
    let mut group = criterion.benchmark_group("int8");
    for l in &mut layers {
        group.throughput(Throughput::Elements(l.macs));
        group.bench_function(l.name, |b| b.iter(&mut l.int8));
    }
    // What an int8 network's `forward_f32` does first: LeNet-5's 1,024
    // input values quantized.
    #[allow(clippy::cast_precision_loss)]
    let image: Vec<f32> = (0..1024).map(|k| (k as f32 * 0.37).sin() * 3.0).collect();
    let params = QParams {
        scale: 0.0123,
        zero_point: -5,
    };
    let mut q = [0i8; 1024];
    group.throughput(Throughput::Elements(1024));
    group.bench_function("quantize 1024", |b| {
        b.iter(|| quantize(black_box(&image), params, &mut q));
    });
    // LeNet-5's two max pools (2×2, stride 2), per input byte.
    let mut x1 = Box::new([[[0i8; 28]; 28]; 6]);
    bytes(x1.as_flattened_mut().as_flattened_mut(), 5);
    let mut y1 = Box::new([[[0i8; 14]; 14]; 6]);
    group.throughput(Throughput::Elements(6 * 28 * 28));
    group.bench_function("lenet/pool1 6x28x28", |b| {
        b.iter(|| {
            pool::max_pool2d::<2, 2, 2, 2, 0, 0, false, 6, 28, 28, 14, 14>(black_box(&x1), &mut y1)
        });
    });
    let mut x2 = Box::new([[[0i8; 10]; 10]; 16]);
    bytes(x2.as_flattened_mut().as_flattened_mut(), 6);
    let mut y2 = Box::new([[[0i8; 5]; 5]; 16]);
    group.throughput(Throughput::Elements(16 * 10 * 10));
    group.bench_function("lenet/pool2 16x10x10", |b| {
        b.iter(|| {
            pool::max_pool2d::<2, 2, 2, 2, 0, 0, false, 16, 10, 10, 5, 5>(black_box(&x2), &mut y2)
        });
    });
    group.finish();
    layers.retain(|l| wanted(l.name));
    if !std::env::args().any(|a| a == "--bench") || layers.is_empty() {
        return;
    }
    // The peak of the instruction the kernels multiply with: `vpdpbusd`
    // with VNNI, else `vpmaddwd`.
    let (name, peak) = match madd::vnni_peak_gmacs(400_000, 100) {
        Some(p) => ("vpdpbusd", Some(p)),
        None => ("vpmaddwd", madd::peak_gmacs(400_000, 100)),
    };
    let fma_macs = fma::peak_gflops(400_000, 100).map(|g| g / 2.0);
    println!();
    println!(
        "int8 layers, one thread: {name} peak {} GMAC/s, f32 FMA peak {} GMAC/s (measured now)",
        peak.map_or("n/a".into(), |p| format!("{p:.0}")),
        fma_macs.map_or("n/a".into(), |p| format!("{p:.0}")),
    );
    println!(
        "| layer | MACs | int8 µs | f32 µs | int8 speed-up | int8 GMAC/s | % of {name} peak |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for l in &mut layers {
        let (i8_median, _) = timing::median_and_best(&mut l.int8);
        let (f32_median, _) = timing::median_and_best(&mut l.f32);
        let gmacs = l.macs as f64 / i8_median.as_secs_f64() / 1e9;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2}× | {gmacs:.1} | {} |",
            l.name,
            l.macs,
            i8_median.as_secs_f64() * 1e6,
            f32_median.as_secs_f64() * 1e6,
            f32_median.as_secs_f64() / i8_median.as_secs_f64(),
            peak.map_or("n/a".into(), |p| format!("{:.0}%", 100.0 * gmacs / p)),
        );
    }
}
