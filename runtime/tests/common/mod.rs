//! Hand-written networks implementing `Network`, standing in for what the
//! `network!` macro will generate, plus a hand-rolled safetensors writer for
//! crafting files the `safetensors` serializer would refuse to write (odd
//! dtypes, unaligned data, wrong shapes).
#![allow(dead_code)]

use constnet_runtime::{LayerInfo, Network, ParamInfo, Tensor, Weights};

/// The weights of a `Conv2d(1, 2, 3)`: `[2, 1, 3, 3]` and `[2]`.
pub type Conv1 = Weights<[[[[f32; 3]; 3]; 1]; 2], [f32; 2]>;

/// `conv1`: Conv2d(1, 2, 3) and `fc`: Linear(8, 3); input `[1, 4, 4]`.
///
/// Its forward pass ignores the convolution: output `i` is
/// `fc.bias[i] + sum_j x[j] * (j + 1) * (i + 1)` over the flattened input,
/// which depends on the order of the input elements (so a layout bug in the
/// ndarray interop changes the result).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
pub struct Tiny {
    pub conv1: Conv1,
    pub fc: Weights<[[f32; 8]; 3], [f32; 3]>,
}

impl Tiny {
    /// Output `i` of the forward pass, computed from a flat row-major input.
    pub fn expected(&self, flat: &[f32]) -> [f32; 3] {
        let mut out = self.fc.bias;
        for (i, o) in out.iter_mut().enumerate() {
            for (j, x) in flat.iter().enumerate() {
                *o += x * ((j + 1) * (i + 1)) as f32;
            }
        }
        out
    }
}

impl Network for Tiny {
    type Input = [[[f32; 4]; 4]; 1];
    type Output = [f32; 3];
    type Workspace = [f32; 16];
    type Trace = ();

    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            name: "conv1.weight",
            shape: &[2, 1, 3, 3],
        },
        ParamInfo {
            name: "conv1.bias",
            shape: &[2],
        },
        ParamInfo {
            name: "fc.weight",
            shape: &[3, 8],
        },
        ParamInfo {
            name: "fc.bias",
            shape: &[3],
        },
    ];
    const PARAMETERS: usize = 18 + 2 + 24 + 3;
    const MACS: usize = 0;

    fn forward(&self, input: &Self::Input) -> Self::Output {
        let mut ws = [0.0; 16];
        self.forward_with(input, &mut ws)
    }

    fn forward_with(&self, input: &Self::Input, ws: &mut Self::Workspace) -> Self::Output {
        ws.copy_from_slice(Tensor::as_flat(input));
        self.expected(ws)
    }

    fn forward_traced(&self, input: &Self::Input, _trace: &mut ()) -> Self::Output {
        self.forward(input)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&'static ParamInfo, &[f32])) {
        let p = Self::PARAMS;
        f(
            &p[0],
            self.conv1
                .weight
                .as_flattened()
                .as_flattened()
                .as_flattened(),
        );
        f(&p[1], &self.conv1.bias);
        f(&p[2], self.fc.weight.as_flattened());
        f(&p[3], &self.fc.bias);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static ParamInfo, &mut [f32])) {
        let p = Self::PARAMS;
        f(
            &p[0],
            self.conv1
                .weight
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
        );
        f(&p[1], &mut self.conv1.bias);
        f(&p[2], self.fc.weight.as_flattened_mut());
        f(&p[3], &mut self.fc.bias);
    }
}

/// An `nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(), nn.Linear(3, 2, bias=False))`
/// lookalike: its keys are `0.weight`, `0.bias`, `3.weight`. An MLP on `[4]`.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
pub struct Seq {
    pub l0: Weights<[[f32; 4]; 3], [f32; 3]>,
    pub l3: Weights<[[f32; 3]; 2], ()>,
}

impl Network for Seq {
    type Input = [f32; 4];
    type Output = [f32; 2];
    type Workspace = [f32; 3];
    type Trace = ();

    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            name: "0.weight",
            shape: &[3, 4],
        },
        ParamInfo {
            name: "0.bias",
            shape: &[3],
        },
        ParamInfo {
            name: "3.weight",
            shape: &[2, 3],
        },
    ];
    const PARAMETERS: usize = 12 + 3 + 6;
    const MACS: usize = 12 + 6;

    fn forward(&self, input: &Self::Input) -> Self::Output {
        let mut ws = [0.0; 3];
        self.forward_with(input, &mut ws)
    }

    fn forward_with(&self, input: &Self::Input, hidden: &mut Self::Workspace) -> Self::Output {
        for (h, (row, b)) in hidden
            .iter_mut()
            .zip(self.l0.weight.iter().zip(self.l0.bias))
        {
            *h = (b + row.iter().zip(input).map(|(w, x)| w * x).sum::<f32>()).max(0.0);
        }
        let mut out = [0.0; 2];
        for (o, row) in out.iter_mut().zip(self.l3.weight.iter()) {
            *o = row.iter().zip(hidden.iter()).map(|(w, h)| w * h).sum();
        }
        out
    }

    fn forward_traced(&self, input: &Self::Input, _trace: &mut ()) -> Self::Output {
        self.forward(input)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&'static ParamInfo, &[f32])) {
        let p = Self::PARAMS;
        f(&p[0], self.l0.weight.as_flattened());
        f(&p[1], &self.l0.bias);
        f(&p[2], self.l3.weight.as_flattened());
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static ParamInfo, &mut [f32])) {
        let p = Self::PARAMS;
        f(&p[0], self.l0.weight.as_flattened_mut());
        f(&p[1], &mut self.l0.bias);
        f(&p[2], self.l3.weight.as_flattened_mut());
    }
}

/// One 1024 -> 1024 linear layer: 4 MiB of weights, far more than the
/// 256 KiB stacks the tests run it on.
#[derive(bytemuck::Zeroable)]
pub struct Big {
    pub fc: Weights<[[f32; 1024]; 1024], [f32; 1024]>,
}

impl Network for Big {
    type Input = [f32; 1024];
    type Output = [f32; 1024];
    type Workspace = ();
    type Trace = ();

    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            name: "fc.weight",
            shape: &[1024, 1024],
        },
        ParamInfo {
            name: "fc.bias",
            shape: &[1024],
        },
    ];
    const PARAMETERS: usize = 1024 * 1024 + 1024;
    const MACS: usize = 1024 * 1024;

    fn forward(&self, input: &Self::Input) -> Self::Output {
        self.forward_with(input, &mut ())
    }

    fn forward_with(&self, input: &Self::Input, _: &mut Self::Workspace) -> Self::Output {
        let mut out = self.fc.bias;
        for (o, row) in out.iter_mut().zip(self.fc.weight.iter()) {
            *o += row.iter().zip(input).map(|(w, x)| w * x).sum::<f32>();
        }
        out
    }

    fn forward_traced(&self, input: &Self::Input, _trace: &mut ()) -> Self::Output {
        self.forward(input)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&'static ParamInfo, &[f32])) {
        f(&Self::PARAMS[0], self.fc.weight.as_flattened());
        f(&Self::PARAMS[1], &self.fc.bias);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static ParamInfo, &mut [f32])) {
        f(&Self::PARAMS[0], self.fc.weight.as_flattened_mut());
        f(&Self::PARAMS[1], &mut self.fc.bias);
    }
}

/// A tensor to write by hand: key, dtype name as safetensors spells it,
/// shape, raw little-endian bytes.
#[derive(Clone)]
pub struct Raw {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Raw {
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> Raw {
        Raw {
            name: name.to_string(),
            dtype: "F32",
            shape: shape.to_vec(),
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A tensor of `shape` whose elements are `seed, seed + 1, ...` (exact in
    /// f32, F16 and BF16 for small values).
    pub fn ramp(name: &str, shape: &[usize], seed: f32) -> Raw {
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|i| seed + i as f32).collect();
        Raw::f32(name, shape, &values)
    }

    pub fn with_dtype(name: &str, dtype: &'static str, shape: &[usize], data: Vec<u8>) -> Raw {
        Raw {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }
}

/// Writes a safetensors file by hand: 8-byte little-endian header length,
/// JSON header (optionally with `__metadata__`), data. The header is NOT
/// padded, so with `misalign` the data section starts at an odd offset.
pub fn write_raw(tensors: &[Raw], metadata: bool, misalign: bool) -> Vec<u8> {
    let mut header = String::from("{");
    if metadata {
        header.push_str(r#""__metadata__":{"format":"pt"},"#);
    }
    let mut offset = 0;
    for (i, t) in tensors.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        header.push_str(&format!(
            r#""{}":{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}}"#,
            t.name,
            t.dtype,
            shape.join(","),
            offset,
            offset + t.data.len()
        ));
        offset += t.data.len();
    }
    header.push('}');
    // Make the data start at an offset that is not a multiple of 4 (or make
    // it one, with spaces, as the reference writer does).
    while (8 + header.len()) % 4 != if misalign { 1 } else { 0 } {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    for t in tensors {
        bytes.extend_from_slice(&t.data);
    }
    bytes
}

/// The four tensors of [`Tiny`], filled with distinct ramps.
pub fn tiny_tensors() -> Vec<Raw> {
    vec![
        Raw::ramp("conv1.weight", &[2, 1, 3, 3], 1.0),
        Raw::ramp("conv1.bias", &[2], 100.0),
        Raw::ramp("fc.weight", &[3, 8], -12.0),
        Raw::ramp("fc.bias", &[3], 0.5),
    ]
}

/// Every parameter of `net`, flattened in `PARAMS` order.
pub fn params_of<N: Network>(net: &N) -> Vec<(&'static str, Vec<f32>)> {
    let mut out = Vec::new();
    net.visit_params(&mut |info, s| out.push((info.name, s.to_vec())));
    out
}

/// Checks that `net` holds the ramps of [`tiny_tensors`].
pub fn assert_tiny_ramps(net: &Tiny) {
    let flat = net
        .conv1
        .weight
        .as_flattened()
        .as_flattened()
        .as_flattened();
    assert_eq!(flat[0], 1.0);
    assert_eq!(flat[17], 18.0);
    assert_eq!(net.conv1.weight[1][0][2][2], 18.0);
    assert_eq!(net.conv1.weight[0][0][1][0], 4.0);
    assert_eq!(net.conv1.bias, [100.0, 101.0]);
    assert_eq!(net.fc.weight[0][0], -12.0);
    assert_eq!(net.fc.weight[2][7], 11.0);
    assert_eq!(net.fc.bias, [0.5, 1.5, 2.5]);
}

std::thread_local! {
    /// The input addresses [`Probe`] has seen on this thread.
    pub static SEEN: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes the addresses [`Probe`] recorded on this thread.
pub fn take_seen() -> Vec<usize> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// A network that records the address of every input it is given (in
/// [`SEEN`]), to check that the ndarray interop passes contiguous data in
/// place. Output: the first and last input elements.
#[derive(bytemuck::Zeroable)]
pub struct Probe;

impl Network for Probe {
    type Input = [[[f32; 4]; 4]; 1];
    type Output = [f32; 2];
    type Workspace = ();
    type Trace = ();

    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: &'static [ParamInfo] = &[];
    const PARAMETERS: usize = 0;
    const MACS: usize = 0;

    fn forward(&self, input: &Self::Input) -> Self::Output {
        self.forward_with(input, &mut ())
    }

    fn forward_with(&self, input: &Self::Input, _: &mut Self::Workspace) -> Self::Output {
        let addr = (input as *const Self::Input).addr();
        SEEN.with(|s| s.borrow_mut().push(addr));
        let flat = Tensor::as_flat(input);
        [flat[0], flat[15]]
    }

    fn forward_traced(&self, input: &Self::Input, _trace: &mut ()) -> Self::Output {
        self.forward(input)
    }

    fn visit_params(&self, _: &mut dyn FnMut(&'static ParamInfo, &[f32])) {}

    fn visit_params_mut(&mut self, _: &mut dyn FnMut(&'static ParamInfo, &mut [f32])) {}
}
