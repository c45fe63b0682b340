//! The workspace is exactly as large as a forward pass needs: its size is
//! `WORKSPACE_BYTES`, and a forward pass writes every float of it.

mod common;

use common::{LeNet5, LeNet5Workspace};
use constnet::Network;

constnet::network! {
    /// Starts in place on the input (a copy), ends on a view.
    pub struct Mixed {
        input: [3, 9, 7],
        BatchNorm2d(3),
        Conv2d(3, 8, 3, padding = 1),
        Tanh,
        AvgPool2d(2, ceil_mode = true),
        Conv2d(8, 2, 1),
        AdaptiveMaxPool2d(2),
        Flatten,
    }
}

constnet::network! {
    /// SqueezeNet's Fire module: a concatenation of two branches.
    block Fire(c, squeeze, expand) {
        squeeze: Conv2d(c, squeeze, 1),
        ReLU,
        Cat {
            { Conv2d(squeeze, expand, 1), ReLU },
            { Conv2d(squeeze, expand, 3, padding = 1), ReLU },
        },
    }

    /// A graph: a padding layer folded into a strided conv, a residual
    /// block (the input kept alive across the body), a Fire module, a
    /// concatenation with the identity (a tanh on a value still needed,
    /// so on a copy).
    pub struct Branchy {
        input: [3, 12, 12],
        ZeroPad2d((0, 1, 0, 1)),
        Conv2d(3, 8, 3, stride = 2),
        BatchNorm2d(8),
        Residual { Conv2d(8, 8, 3, padding = 1), Tanh, Conv2d(8, 8, 3, padding = 1) },
        Fire(8, 4, 6),
        Cat { {}, Tanh },
        MaxPool2d(2),
        Flatten,
        Linear(_, 5),
    }
}

/// A NaN with a payload no computation produces.
const SENTINEL: u32 = 0x7fc0_5a5a;

fn touched<N: Network>(
    net: &N,
    input: &N::Input,
    workspace: &mut N::Workspace,
    floats: fn(&mut N::Workspace) -> &mut [f32],
) -> usize {
    for v in floats(workspace).iter_mut() {
        *v = f32::from_bits(SENTINEL);
    }
    let _ = net.forward_with(input, workspace);
    floats(workspace)
        .iter()
        .filter(|v| v.to_bits() != SENTINEL)
        .count()
}

fn ones<N: Network>() -> Box<N> {
    let mut net = N::new_zeroed();
    net.visit_params_mut(&mut |info, w| {
        let v = if info.name.ends_with("running_var") {
            1.0
        } else {
            0.01
        };
        w.fill(v);
    });
    net
}

#[test]
fn lenet_workspace_is_exactly_what_forward_touches() {
    assert_eq!(LeNet5::WORKSPACE_BYTES, (6 * 28 * 28 + 6 * 14 * 14) * 4);
    assert_eq!(
        std::mem::size_of::<LeNet5Workspace>(),
        LeNet5::WORKSPACE_BYTES
    );
    let net = ones::<LeNet5>();
    let mut ws = LeNet5::new_workspace();
    let n = touched(&*net, &[[[0.5; 32]; 32]; 1], &mut ws, |w| w.floats_mut());
    assert_eq!(n * 4, LeNet5::WORKSPACE_BYTES);
    // A budget is a compile-time assertion.
    const _: () = assert!(LeNet5::WORKSPACE_BYTES <= 24 * 1024);
}

#[test]
fn mixed_workspace_is_exactly_what_forward_touches() {
    assert_eq!(
        std::mem::size_of::<MixedWorkspace>(),
        Mixed::WORKSPACE_BYTES
    );
    let net = ones::<Mixed>();
    let mut ws = Mixed::new_workspace();
    let n = touched(&*net, &[[[0.25; 7]; 9]; 3], &mut ws, |w| w.floats_mut());
    assert_eq!(n * 4, Mixed::WORKSPACE_BYTES);
    // The results do not depend on what was in the workspace before.
    let x = [[[0.25; 7]; 9]; 3];
    assert_eq!(net.forward(&x), net.forward_with(&x, &mut ws));
}

#[test]
fn weight_bytes_count_every_loaded_tensor() {
    assert_eq!(LeNet5::WEIGHT_BYTES, LeNet5::PARAMETERS * 4);
    // Batch norm's running statistics are loaded but are not parameters.
    assert_eq!(Mixed::WEIGHT_BYTES, (Mixed::PARAMETERS + 2 * 3) * 4);
}

#[test]
fn trait_constants_agree_with_inherent_ones() {
    assert_eq!(
        <LeNet5 as Network>::WORKSPACE_BYTES,
        LeNet5::WORKSPACE_BYTES
    );
    assert_eq!(<LeNet5 as Network>::WEIGHT_BYTES, LeNet5::WEIGHT_BYTES);
    assert_eq!(<Mixed as Network>::WEIGHT_BYTES, Mixed::WEIGHT_BYTES);
}

#[test]
fn graph_workspace_is_exactly_what_forward_touches() {
    assert_eq!(
        std::mem::size_of::<BranchyWorkspace>(),
        Branchy::WORKSPACE_BYTES
    );
    let net = ones::<Branchy>();
    let mut ws = Branchy::new_workspace();
    let x = [[[0.25; 12]; 12]; 3];
    let n = touched(&*net, &x, &mut ws, |w| w.floats_mut());
    assert_eq!(n * 4, Branchy::WORKSPACE_BYTES);
    // Whatever the workspace held before, the result is the same, and the
    // same as the layer-by-layer trace's.
    let mut other = Branchy::new_workspace();
    other.floats_mut().fill(7.0);
    let out = net.forward_with(&x, &mut other);
    assert_eq!(out, net.forward(&x));
    let traced = net.forward_traced(&x, &mut Branchy::new_trace());
    for (a, b) in out.iter().zip(&traced) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }
}
