//! A `#![no_std]` crate, with no allocator, that declares LeNet-5 (and a
//! small graph with a block, a residual and a concatenation) through a
//! renamed dependency (`nn` instead of `constnet`). CI builds it for the
//! host and, when the target is installed, for `thumbv7em-none-eabihf`
//! (Cortex-M4F): if it builds, the macro and the runtime need neither `std`
//! nor `alloc`, and generated code does not assume the crate's name.
#![no_std]
#![deny(clippy::pedantic)]

nn::network! {
    /// LeNet-5, `ReLU` + max-pool variant.
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5) -> [16, 10, 10],
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

nn::network! {
    /// A small MLP with every activation of the foundation vocabulary.
    pub struct Mlp {
        input: [16],
        Linear(_, 8),
        Sigmoid,
        Linear(_, 8, bias = false),
        Tanh,
        Linear(8, 4),
        Softmax,
    }
}

nn::network! {
    /// A residual block.
    block Res(c) {
        Residual {
            Conv2d(c, c, 3, padding = 1),
            BatchNorm2d(c),
            ReLU,
            Conv2d(c, c, 3, padding = 1),
        },
        ReLU,
    }

    /// A graph: a padding layer, a block, a residual connection, a
    /// concatenation of two branches.
    pub struct Graph {
        input: [3, 16, 16],
        ZeroPad2d((0, 1, 0, 1)),
        Conv2d(3, 8, 3, stride = 2),
        Res(8),
        Cat {
            Conv2d(8, 4, 1),
            { ReflectionPad2d(1), Conv2d(8, 4, 3) },
        },
        MaxPool2d(2),
        Flatten,
        Linear(_, 3),
    }
}

/// A model in flash: `zeroed` is `const`, so a `static` needs no heap and
/// no start-up code.
pub static MODEL: LeNet5 = LeNet5::zeroed();

/// The predicted class of one image, with a caller-owned workspace so the
/// stack frame stays small.
#[must_use]
pub fn classify(image: &[[[f32; 32]; 32]; 1], workspace: &mut LeNet5Workspace) -> usize {
    let logits = MODEL.forward_with(image, workspace);
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// Runs the graph with a caller-owned workspace (keeps it used).
#[must_use]
pub fn graph_logits(net: &Graph, x: &[[[f32; 16]; 16]; 3], ws: &mut GraphWorkspace) -> [f32; 3] {
    net.forward_with(x, ws)
}

/// Runs the MLP (keeps it used).
#[must_use]
pub fn mlp_probabilities(net: &Mlp, x: &[f32; 16]) -> [f32; 4] {
    net.forward(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_model_in_a_static() {
        let mut ws = super::LeNet5Workspace::new();
        assert_eq!(super::classify(&[[[1.0; 32]; 32]; 1], &mut ws), 0);
        assert_eq!(super::LeNet5::PARAMETERS, 61_706);
        let p = super::mlp_probabilities(&super::Mlp::zeroed(), &[0.0; 16]);
        assert!(p.iter().all(|&v| (v - 0.25).abs() < 1e-7), "{p:?}");
    }
}
