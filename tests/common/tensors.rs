//! Reading a safetensors file's tensors as flat vectors of one element
//! type, panicking with the tensor's name (test code: a golden file that
//! does not match is a failed test).
#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};

fn data<'a>(file: &'a SafeTensors<'_>, name: &str, dtype: Dtype) -> &'a [u8] {
    let t = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), dtype, "{name}");
    t.data()
}

/// An `F32` tensor.
pub fn f32s(file: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    data(file, name, Dtype::F32)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// An `I32` tensor.
pub fn i32s(file: &SafeTensors<'_>, name: &str) -> Vec<i32> {
    data(file, name, Dtype::I32)
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// An `I8` tensor.
pub fn i8s(file: &SafeTensors<'_>, name: &str) -> Vec<i8> {
    data(file, name, Dtype::I8)
        .iter()
        .map(|&b| i8::from_le_bytes([b]))
        .collect()
}
