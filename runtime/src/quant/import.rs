//! Loading an int8 network that another tool quantized: its weights,
//! biases and weight scales, and the scale and zero point of every value,
//! named after the float network's `state_dict` keys and layer-table rows.
//! TensorFlow Lite's converter is the one checked (`tools/tflite_int8_cnns.py`
//! writes what it chose in this form, and `tests/int8_tflite_cnns.rs` gets
//! TFLite's outputs bit for bit from eight networks loaded this way).
//!
//! The file (safetensors) holds:
//!
//! - for each convolution and linear layer, under its `state_dict` prefix,
//!   `weight` (`I8`, PyTorch's shape), `bias` (`I32`, on the scale `s_in ·
//!   s_w[o]`) and `weight_scale` (`F32`, one per output channel), as
//!   [`super::store::to_safetensors`] writes them;
//! - `input.scale` (`F32`, `[1]`) and `input.zero_point` (`I32` or `I8`,
//!   `[1]`);
//! - `<row>.scale` and `<row>.zero_point` for the rows of
//!   [`Network::LAYERS`] (by [`LayerInfo::name`](crate::network::LayerInfo))
//!   whose output the tool quantized. A row without them keeps the
//!   parameters of the row before it: a batch norm folded into the
//!   convolution before it, a pool or a view keep their input's anyway. A
//!   fused activation's row (the ReLU after a convolution) gives the
//!   convolution's output its parameters, as in TFLite, where the two are
//!   one operator.
//!
//! Everything else the int8 network holds (multipliers, clamps, the
//! parameters of a `Cat`'s inputs and of a softmax's output) is derived from
//! these as when quantizing.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors};

use super::calibrate::Calibration;
use super::network::{Int8Network, StoredMut};
use super::observe::QParams;
use super::store::{read, StoreError};
use crate::network::Network;

/// The int8 network of `float` with the weights and parameters in `bytes`
/// (see the module docs), on the heap.
///
/// # Errors
///
/// [`StoreError`] naming the first tensor that is missing (the input's
/// parameters, a layer's weights, bias or weight scales), of another type
/// or shape, or holds a scale that is not positive and finite or a zero
/// point outside `i8`; [`StoreError::Float`] if `float`'s weights are not
/// finite.
pub fn from_row_parameters<N: Int8Network>(
    float: &N::Float,
    bytes: &[u8],
) -> Result<Box<N>, StoreError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| StoreError::Malformed(e.to_string()))?;
    let input = params(&file, "input")?.ok_or_else(|| StoreError::Missing {
        tensor: "input.scale".to_string(),
    })?;
    let mut last = input;
    let mut layers = Vec::with_capacity(N::Float::LAYERS.len());
    for row in N::Float::LAYERS {
        last = params(&file, row.name)?.unwrap_or(last);
        layers.push((row, last));
    }
    let mut net = N::quantize(float, &Calibration { input, layers }).map_err(StoreError::Float)?;
    let mut result = Ok(());
    net.visit_stored_mut(&mut |name, shape, dst: StoredMut<'_>| {
        if result.is_ok() {
            result = read(&file, name, shape, dst);
        }
    });
    result?;
    net.restore();
    Ok(net)
}

/// `<name>.scale` and `<name>.zero_point`, or `None` if the file has no
/// `<name>.scale`.
fn params(file: &SafeTensors<'_>, name: &str) -> Result<Option<QParams>, StoreError> {
    let scale_name = format!("{name}.scale");
    if file.tensor(&scale_name).is_err() {
        return Ok(None);
    }
    let mut scale = [0f32];
    read(file, &scale_name, &[1], StoredMut::F32(&mut scale))?;
    let zero_name = format!("{name}.zero_point");
    let t = file.tensor(&zero_name).map_err(|_| StoreError::Missing {
        tensor: zero_name.clone(),
    })?;
    if t.shape() != [1] {
        return Err(StoreError::WrongShape {
            tensor: zero_name,
            expected: alloc::vec![1],
            found: t.shape().to_vec(),
        });
    }
    let value = match (t.dtype(), t.data()) {
        (Dtype::I8, &[b]) => i64::from(i8::from_le_bytes([b])),
        (Dtype::I32, &[a, b, c, d]) => i64::from(i32::from_le_bytes([a, b, c, d])),
        (dtype, _) => {
            return Err(StoreError::WrongDtype {
                tensor: zero_name,
                expected: "I32 or I8",
                found: format!("{dtype:?}"),
            })
        }
    };
    let zero_point = i8::try_from(value).map_err(|_| StoreError::BadZeroPoint {
        tensor: zero_name,
        value,
    })?;
    Ok(Some(QParams {
        scale: scale[0],
        zero_point,
    }))
}
