//! What every engine does for the harness, and constnet's engine.

use std::error::Error;

use constnet::{Network, Tensor};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// The large batch size (the small one is 1).
pub const BIG: usize = 64;

/// The engines, in the order of the table's columns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Constnet,
    OrtRust,
    OrtPython,
    Tract,
    Candle,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Constnet,
        Kind::OrtRust,
        Kind::OrtPython,
        Kind::Tract,
        Kind::Candle,
    ];

    /// The column heading.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Constnet => "constnet",
            Kind::OrtRust => "ORT (Rust)",
            Kind::OrtPython => "ORT (Python)",
            Kind::Tract => "tract",
            Kind::Candle => "candle",
        }
    }
}

/// One inference engine holding one network and the images of its pool
/// (see `nets::Case`), in its own form.
pub trait Engine {
    fn kind(&self) -> Kind;
    /// The engine and its version, for the logs.
    fn name(&self) -> String;
    /// Runs pool images `first..first + batch` (`batch` is 1 or [`BIG`]),
    /// from the plain buffer that holds the pool into the plain buffer
    /// that [`Engine::output`] reads.
    fn run(&mut self, first: usize, batch: usize) -> Res<()>;
    /// The output of image `i` of the last call.
    fn output(&self, i: usize) -> &[f32];
}

/// constnet: `forward_with` on one workspace at batch 1,
/// `constnet::batch::forward_batch` at [`BIG`]. Its pool is a `Vec` of the
/// network's input type, which it takes by reference (its API needs no
/// copy); the outputs come back by value into a `Vec` of the output type.
pub struct Constnet<N: Network> {
    net: Box<N>,
    workspace: Box<N::Workspace>,
    pool: Vec<N::Input>,
    outputs: Vec<N::Output>,
}

impl<N: Network> Constnet<N> {
    pub fn new(net: Box<N>, pool: &[f32]) -> Res<Self> {
        let pool = pool
            .chunks_exact(<N::Input as Tensor>::LEN)
            .map(|x| N::Input::from_flat(x).copied().ok_or("input size"))
            .collect::<Result<_, _>>()?;
        Ok(Constnet {
            net,
            workspace: N::new_workspace(),
            pool,
            outputs: vec![<N::Output as Tensor>::zeroed(); BIG],
        })
    }
}

impl<N: Network> Engine for Constnet<N> {
    fn kind(&self) -> Kind {
        Kind::Constnet
    }
    fn name(&self) -> String {
        format!("constnet {}", crate::locked_version("constnet"))
    }
    fn run(&mut self, first: usize, batch: usize) -> Res<()> {
        let inputs = &self.pool[first..first + batch];
        if let [x] = inputs {
            self.outputs[0] = self.net.forward_with(x, &mut self.workspace);
        } else {
            constnet::batch::forward_batch(&*self.net, inputs, &mut self.outputs[..batch]);
        }
        Ok(())
    }
    fn output(&self, i: usize) -> &[f32] {
        self.outputs[i].as_flat()
    }
}
