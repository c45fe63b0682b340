//! candle, for LeNet-5 only: candle has no ONNX loader, so its network is
//! written out here with `candle_nn::conv2d` / `linear` layers built from the
//! safetensors file through a `VarBuilder`, CPU device. A call copies its
//! digits from the pool into a new tensor and the logits out of candle's
//! into a plain buffer.

use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};

use crate::engine::{Engine, Kind, Res, BIG};
use crate::nets::Case;

pub struct Candle {
    conv1: candle_nn::Conv2d,
    conv2: candle_nn::Conv2d,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
    fc3: candle_nn::Linear,
    pool: Arc<[f32]>,
    out: Vec<f32>,
}

const DIGIT: usize = 32 * 32;
const CLASSES: usize = 10;

impl Candle {
    /// LeNet-5 (ReLU, max pooling) from `case.weights`.
    pub fn lenet5(case: &Case) -> Res<Self> {
        if case.input_shape != [1, 32, 32] || case.output_len != CLASSES {
            return Err(format!("candle runs LeNet-5 only, not {}", case.name).into());
        }
        let bytes = std::fs::read(&case.weights)?;
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
        let conv = Default::default();
        Ok(Candle {
            conv1: candle_nn::conv2d(1, 6, 5, conv, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(6, 16, 5, conv, vb.pp("conv2"))?,
            fc1: candle_nn::linear(400, 120, vb.pp("fc1"))?,
            fc2: candle_nn::linear(120, 84, vb.pp("fc2"))?,
            fc3: candle_nn::linear(84, 10, vb.pp("fc3"))?,
            pool: Arc::clone(&case.pool),
            out: vec![0.0; BIG * CLASSES],
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?;
        let x = x.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        let x = self.fc2.forward(&x)?.relu()?;
        self.fc3.forward(&x)
    }
}

impl Engine for Candle {
    fn kind(&self) -> Kind {
        Kind::Candle
    }
    fn name(&self) -> String {
        format!("candle {}", crate::locked_version("candle-core"))
    }
    fn run(&mut self, first: usize, batch: usize) -> Res<()> {
        let x = &self.pool[first * DIGIT..][..batch * DIGIT];
        let x = Tensor::from_slice(x, (batch, 1, 32, 32), &Device::Cpu)?;
        let y = self.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
        self.out[..batch * CLASSES].copy_from_slice(&y);
        Ok(())
    }
    fn output(&self, i: usize) -> &[f32] {
        &self.out[i * CLASSES..][..CLASSES]
    }
}
