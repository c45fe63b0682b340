//! The networks: each one's constnet declaration (shared with the root
//! crate's tests, benchmarks and examples, never copied), its files, and the
//! pool of images every engine runs with PyTorch's outputs for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use constnet::{Network, Tensor};

use crate::engine::{Constnet, Engine, Res, BIG};

#[path = "../../../tests/common/mod.rs"]
pub mod common; // LeNet-5 (as examples/lenet.rs) and the MNIST reader
#[allow(dead_code)] // the networks without an ONNX export are not run
#[path = "../../../tests/common/golden.rs"]
mod golden;
#[path = "../../../examples/resnet8/net.rs"]
mod resnet8;
#[path = "../../../tests/common/zoo.rs"]
mod zoo;

/// Where a network's weights, ONNX export and golden outputs are.
#[derive(Clone, Copy)]
enum Source {
    /// The shipped LeNet-5 (`data/lenet5.*`) on the 2,000 MNIST test digits.
    Mnist,
    /// `data/zoo/<name>.*`, written by `tools/zoo.py`.
    Zoo,
    /// `tests/golden/<name>.*`, written by `tools/golden_networks.py`.
    Golden,
}

impl Source {
    fn dir(self, root: &Path) -> PathBuf {
        match self {
            Source::Mnist => root.join("data"),
            Source::Zoo => root.join("data/zoo"),
            Source::Golden => root.join("tests/golden"),
        }
    }

    fn weights(self, root: &Path, name: &str) -> PathBuf {
        self.dir(root).join(format!("{name}.safetensors"))
    }

    fn onnx(self, root: &Path, name: &str) -> PathBuf {
        self.dir(root).join(format!("{name}.onnx"))
    }

    /// The golden inputs and PyTorch's outputs for them, flat.
    fn golden(self, root: &Path, name: &str) -> Res<(Vec<f32>, Vec<f32>)> {
        let dir = self.dir(root);
        match self {
            Source::Mnist => {
                let digits = common::mnist::Mnist::load(&dir.join("mnist"), "t10k")?;
                let inputs = digits
                    .images
                    .iter()
                    .flat_map(|d| common::mnist::lenet_input(d).as_flat().to_vec())
                    .collect();
                let file = dir.join(format!("{name}_golden.safetensors"));
                Ok((inputs, read_f32(&file, "logits")?))
            }
            Source::Zoo => {
                let file = dir.join(format!("{name}_golden.safetensors"));
                Ok((read_f32(&file, "input")?, read_f32(&file, "output")?))
            }
            Source::Golden => {
                let file = dir.join(format!("{name}.io.safetensors"));
                Ok((read_f32(&file, "__input")?, read_f32(&file, "__output")?))
            }
        }
    }
}

/// A float32 tensor of a safetensors file, flat.
fn read_f32(path: &Path, tensor: &str) -> Res<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = file
        .tensor(tensor)
        .map_err(|e| format!("{}: `{tensor}`: {e}", path.display()))?;
    if t.dtype() != safetensors::Dtype::F32 {
        return Err(format!("{}: `{tensor}` is {:?}", path.display(), t.dtype()).into());
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// One network as every engine sees it.
pub struct Case {
    pub name: &'static str,
    /// Multiply-accumulates per image (constnet's count, `Network::MACS`).
    pub macs: usize,
    pub weights: PathBuf,
    pub onnx: PathBuf,
    /// One image's shape (the ONNX input is `[batch, ..input_shape]`).
    pub input_shape: &'static [usize],
    pub input_len: usize,
    /// One image's output shape.
    pub output_shape: &'static [usize],
    pub output_len: usize,
    /// The golden inputs, repeated to a multiple of [`BIG`] images, flat:
    /// every engine's calls take their images from here.
    pub pool: Arc<[f32]>,
    /// PyTorch's output for every image of the pool, flat.
    pub golden: Vec<f32>,
}

impl Case {
    /// Images in the pool.
    pub fn images(&self) -> usize {
        self.pool.len() / self.input_len
    }

    /// PyTorch's output for pool image `i`.
    pub fn golden(&self, i: usize) -> &[f32] {
        &self.golden[i * self.output_len..][..self.output_len]
    }
}

/// Repeats `n` items of `len` values to the next multiple of [`BIG`] items.
fn cycle_to_batches(values: &[f32], len: usize) -> Vec<f32> {
    let n = values.len() / len;
    let pooled = n.div_ceil(BIG) * BIG;
    values
        .chunks_exact(len)
        .cycle()
        .take(pooled)
        .flatten()
        .copied()
        .collect()
}

type Load = fn(&Path, &'static str, Source) -> Res<(Case, Box<dyn Engine>)>;

/// One row of the table: a network, where its files are, and how to build
/// its case and its constnet engine (`load::<N>` for its declaration).
pub struct Entry {
    pub name: &'static str,
    source: Source,
    load: Load,
    /// Also run in candle (LeNet-5 only: candle has no ONNX loader).
    pub candle: bool,
}

impl Entry {
    /// Loads the golden data and the constnet engine.
    pub fn load(&self, root: &Path) -> Res<(Case, Box<dyn Engine>)> {
        (self.load)(root, self.name, self.source)
    }

    fn with_candle(self) -> Self {
        Entry {
            candle: true,
            ..self
        }
    }
}

fn entry<N: Network + 'static>(name: &'static str, source: Source) -> Entry {
    Entry {
        name,
        source,
        load: load::<N>,
        candle: false,
    }
}

fn load<N: Network + 'static>(
    root: &Path,
    name: &'static str,
    source: Source,
) -> Res<(Case, Box<dyn Engine>)> {
    let (input_len, output_len) = (<N::Input as Tensor>::LEN, <N::Output as Tensor>::LEN);
    let (inputs, outputs) = source.golden(root, name)?;
    let images = inputs.len() / input_len;
    if inputs.len() % input_len != 0 || outputs.len() != images * output_len || images == 0 {
        return Err(format!(
            "{name}: {} input and {} output values for images of {input_len} and {output_len}",
            inputs.len(),
            outputs.len()
        )
        .into());
    }
    let case = Case {
        name,
        macs: N::MACS,
        weights: source.weights(root, name),
        onnx: source.onnx(root, name),
        input_shape: N::INPUT_SHAPE,
        input_len,
        output_shape: N::OUTPUT_SHAPE,
        output_len,
        pool: cycle_to_batches(&inputs, input_len).into(),
        golden: cycle_to_batches(&outputs, output_len),
    };
    let net =
        N::from_file(&case.weights).map_err(|e| format!("{}: {e}", case.weights.display()))?;
    let engine = Constnet::<N>::new(net, &case.pool)?;
    Ok((case, Box::new(engine)))
}

/// Every network with an ONNX export, in the table's order.
pub fn all() -> Vec<Entry> {
    use Source::{Golden, Mnist, Zoo};
    vec![
        entry::<common::LeNet5>("lenet5", Mnist).with_candle(),
        entry::<zoo::LeNet5Tanh>("lenet5_tanh", Zoo),
        entry::<resnet8::ResNet8>("resnet8", Zoo),
        entry::<zoo::DsCnn>("ds_cnn", Zoo),
        entry::<zoo::MobileNetV1>("mobilenet_v1_025", Zoo),
        entry::<zoo::AutoEncoder>("autoencoder", Zoo),
        entry::<golden::VggStack>("vgg_stack", Golden),
        entry::<golden::MobileNet>("mobilenet", Golden),
        entry::<golden::StridedBig>("strided_big", Golden),
        entry::<golden::PaddingModes>("padding_modes", Golden),
        entry::<golden::MaxPools>("max_pools", Golden),
        entry::<golden::ActivationsMap>("activations_map", Golden),
        entry::<golden::Mlp>("mlp", Golden),
        entry::<golden::MlpNamed>("mlp_named", Golden),
        entry::<golden::BnVariants>("bn_variants", Golden),
        entry::<golden::TinyEdge>("tiny_edge", Golden),
        entry::<golden::ResNetCifar>("resnet_cifar", Golden),
        entry::<golden::MobileNetV2>("mobilenet_v2", Golden),
        entry::<golden::SqueezeNet>("squeezenet", Golden),
        entry::<golden::DenseNet>("densenet", Golden),
        entry::<golden::TfPadding>("tf_padding", Golden),
    ]
}
