//! tract-onnx: the ONNX export, `into_optimized()?.into_runnable()?`, one
//! plan per batch size with the batch dimension pinned, and a reused
//! `SimpleState` each. A call copies its images from the pool into a new
//! tensor and the outputs out of tract's into a plain buffer.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::engine::{Engine, Kind, Res, BIG};
use crate::nets::Case;

pub struct Tract {
    one: Plan,
    big: Plan,
    pool: Arc<[f32]>,
    input_len: usize,
    output_len: usize,
    out: Vec<f32>,
}

/// A plan for one batch size, and the input shape it takes.
struct Plan {
    state: TypedSimpleState,
    shape: Vec<usize>,
}

impl Plan {
    fn new(case: &Case, batch: usize) -> Res<Self> {
        let shape: Vec<usize> = std::iter::once(batch)
            .chain(case.input_shape.iter().copied())
            .collect();
        // The exporter records every intermediate shape with the symbolic
        // batch (`value_info`, output type); pinning the input to a number
        // contradicts those, so the plan ignores them and lets tract infer
        // the shapes from the input.
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_path(&case.onnx)?
            .with_input_fact(0, f32::fact(&shape).into())?;
        let state = model.into_optimized()?.into_runnable()?.spawn()?;
        Ok(Plan { state, shape })
    }
}

impl Tract {
    pub fn new(case: &Case) -> Res<Self> {
        Ok(Tract {
            one: Plan::new(case, 1)?,
            big: Plan::new(case, BIG)?,
            pool: Arc::clone(&case.pool),
            input_len: case.input_len,
            output_len: case.output_len,
            out: vec![0.0; BIG * case.output_len],
        })
    }
}

impl Engine for Tract {
    fn kind(&self) -> Kind {
        Kind::Tract
    }
    fn name(&self) -> String {
        format!("tract-onnx {}", crate::locked_version("tract-onnx"))
    }
    fn run(&mut self, first: usize, batch: usize) -> Res<()> {
        let plan = if batch == 1 {
            &mut self.one
        } else {
            &mut self.big
        };
        let x = &self.pool[first * self.input_len..][..batch * self.input_len];
        let x = Tensor::from_shape(&plan.shape, x)?;
        let y = plan.state.run(tvec!(x.into()))?;
        let y = y[0].try_as_plain_ram()?.as_slice::<f32>()?;
        self.out[..batch * self.output_len].copy_from_slice(y);
        Ok(())
    }
    fn output(&self, i: usize) -> &[f32] {
        &self.out[i * self.output_len..][..self.output_len]
    }
}
