//! Weight loading from safetensors files: every error kind, every accepted
//! dtype, unaligned data, round trips, and big networks on small stacks.
#![cfg(feature = "alloc")]

mod common;

use common::{assert_tiny_ramps, params_of, tiny_tensors, write_raw, Big, Raw, Seq, Tiny};
use constnet_runtime::load::{
    from_safetensors, from_safetensors_with, load_into, load_into_with, to_safetensors, Hint,
    LoadError, LoadOptions, TensorProblem, SHOWN_PROBLEMS,
};
use constnet_runtime::Network;

fn tiny_file() -> Vec<u8> {
    write_raw(&tiny_tensors(), true, false)
}

/// `tiny_tensors()` with the tensor called `name` replaced by `with`.
fn tiny_with(name: &str, with: Raw) -> Vec<u8> {
    let tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .map(|t| if t.name == name { with.clone() } else { t })
        .collect();
    write_raw(&tensors, false, false)
}

fn load_tiny(bytes: &[u8]) -> Result<Box<Tiny>, LoadError> {
    from_safetensors::<Tiny>(bytes)
}

/// The problems and hint of a mismatch; panics on any other result.
fn mismatch<N>(result: Result<N, LoadError>) -> (Vec<TensorProblem>, Option<Hint>) {
    match result {
        Err(LoadError::Mismatch { problems, hint }) => (problems, hint),
        Err(e) => panic!("expected Mismatch, got {e:?}"),
        Ok(_) => panic!("expected Mismatch, got a network"),
    }
}

fn missing(tensor: &str, shape: &[usize]) -> TensorProblem {
    TensorProblem::Missing {
        tensor: tensor.into(),
        shape: shape.to_vec(),
    }
}

fn unexpected(tensor: &str, shape: &[usize]) -> TensorProblem {
    TensorProblem::Unexpected {
        tensor: tensor.into(),
        shape: shape.to_vec(),
    }
}

fn wrong_shape(tensor: &str, expected: &[usize], found: &[usize]) -> TensorProblem {
    TensorProblem::WrongShape {
        tensor: tensor.into(),
        expected: expected.to_vec(),
        found: found.to_vec(),
    }
}

fn wrong_dtype(tensor: &str, dtype: &str) -> TensorProblem {
    TensorProblem::WrongDtype {
        tensor: tensor.into(),
        dtype: dtype.into(),
    }
}

fn malformed_reason(bytes: &[u8]) -> String {
    match load_tiny(bytes) {
        Err(e @ LoadError::Malformed { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("not a valid safetensors file: "), "{text}");
            text
        }
        Err(e) => panic!("expected Malformed, got {e:?}"),
        Ok(_) => panic!("expected Malformed, got a network"),
    }
}

#[test]
fn loads_an_f32_file() {
    let net = load_tiny(&tiny_file()).unwrap();
    assert_tiny_ramps(&net);
}

#[test]
fn loads_unaligned_data() {
    let bytes = write_raw(&tiny_tensors(), false, true);
    // The data section starts at an offset that is 1 mod 4.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + header_len) % 4, 1);
    assert_tiny_ramps(&load_tiny(&bytes).unwrap());
    // And the whole file at an odd address.
    let mut shifted = vec![0u8; 3];
    shifted.extend_from_slice(&bytes);
    assert_tiny_ramps(&load_tiny(&shifted[3..]).unwrap());
}

#[test]
fn loads_a_file_written_by_the_safetensors_crate() {
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    let tensors = tiny_tensors();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(Dtype::F32, t.shape.clone(), &t.data).unwrap();
            (t.name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    assert_tiny_ramps(&load_tiny(&bytes).unwrap());
}

#[test]
fn loads_sequential_index_named_keys() {
    let bytes = write_raw(
        &[
            Raw::ramp("3.weight", &[2, 3], 7.0),
            Raw::ramp("0.bias", &[3], -1.0),
            Raw::ramp("0.weight", &[3, 4], 0.0),
        ],
        true,
        false,
    );
    let net = from_safetensors::<Seq>(&bytes).unwrap();
    assert_eq!(net.l0.weight[0], [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(net.l0.weight[2], [8.0, 9.0, 10.0, 11.0]);
    assert_eq!(net.l0.bias, [-1.0, 0.0, 1.0]);
    assert_eq!(net.l3.weight, [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]);
    // A bias-less layer has no `3.bias`; a file with one is rejected.
    let mut tensors = vec![
        Raw::ramp("0.weight", &[3, 4], 0.0),
        Raw::ramp("0.bias", &[3], 0.0),
        Raw::ramp("3.weight", &[2, 3], 0.0),
        Raw::ramp("3.bias", &[2], 0.0),
    ];
    let err = from_safetensors::<Seq>(&write_raw(&tensors, false, false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected tensor `3.bias` of shape [2]: the network has no parameter of that name"
    );
    tensors.pop();
    assert!(from_safetensors::<Seq>(&write_raw(&tensors, false, false)).is_ok());
}

#[test]
fn missing_tensor() {
    let tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .filter(|t| t.name != "fc.bias")
        .collect();
    let err = load_tiny(&write_raw(&tensors, false, false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `fc.bias` is missing from the file (the network declares it with shape [3])"
    );
    assert_eq!(
        mismatch(Err::<(), _>(err)),
        (vec![missing("fc.bias", &[3])], None)
    );
}

#[test]
fn unexpected_tensors_in_byte_order() {
    let mut tensors = tiny_tensors();
    tensors.push(Raw::ramp("zz.extra", &[1], 0.0));
    tensors.push(Raw::ramp("fc4.weight", &[2, 3], 0.0));
    tensors.push(Raw::ramp("Fc.weight", &[1], 0.0));
    let (problems, hint) = mismatch(load_tiny(&write_raw(&tensors, false, false)));
    assert_eq!(
        problems,
        [
            unexpected("Fc.weight", &[1]),
            unexpected("fc4.weight", &[2, 3]),
            unexpected("zz.extra", &[1]),
        ]
    );
    assert_eq!(hint, None);
}

#[test]
fn wrong_dtype_i64_and_f64() {
    for (dtype, size) in [("I64", 8), ("F64", 8), ("I32", 4), ("U8", 1)] {
        let bytes = tiny_with(
            "conv1.weight",
            Raw::with_dtype("conv1.weight", dtype, &[2, 1, 3, 3], vec![0; 18 * size]),
        );
        let err = load_tiny(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "tensor `conv1.weight` has dtype {dtype}; only F32, F16 and BF16 can be loaded"
            )
        );
        assert_eq!(
            mismatch(Err::<(), _>(err)).0,
            [wrong_dtype("conv1.weight", dtype)]
        );
    }
}

#[test]
fn wrong_shape_shows_both_shapes() {
    let bytes = tiny_with(
        "conv1.weight",
        Raw::ramp("conv1.weight", &[2, 3, 3, 3], 0.0),
    );
    let err = load_tiny(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `conv1.weight` has shape [2, 3, 3, 3], but the network declares [2, 1, 3, 3]"
    );
    assert_eq!(
        mismatch(Err::<(), _>(err)).0,
        [wrong_shape("conv1.weight", &[2, 1, 3, 3], &[2, 3, 3, 3])]
    );
    // Same element count, transposed: still rejected.
    let bytes = tiny_with("fc.weight", Raw::ramp("fc.weight", &[8, 3], 0.0));
    assert_eq!(
        load_tiny(&bytes).unwrap_err().to_string(),
        "tensor `fc.weight` has shape [8, 3], but the network declares [3, 8]"
    );
    // A missing dimension of size 1 too.
    let bytes = tiny_with("conv1.weight", Raw::ramp("conv1.weight", &[2, 3, 3], 0.0));
    assert_eq!(
        load_tiny(&bytes).unwrap_err().to_string(),
        "tensor `conv1.weight` has shape [2, 3, 3], but the network declares [2, 1, 3, 3]"
    );
}

/// Four declared tensors per layer kind, so that every group of the order
/// has several members: present but wrong (dtype or shape, declaration
/// order), missing (declaration order), unexpected (byte order).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
struct Eight {
    v: [[f32; 2]; 8],
}

impl Network for Eight {
    type Input = [f32; 2];
    type Output = [f32; 2];
    type Workspace = ();
    type Trace = ();
    const LAYERS: &'static [constnet_runtime::LayerInfo] = &[];
    const PARAMS: &'static [constnet_runtime::ParamInfo] = &[
        param("h.weight"),
        param("g.weight"),
        param("f.weight"),
        param("e.weight"),
        param("d.weight"),
        param("c.weight"),
        param("b.weight"),
        param("a.weight"),
    ];
    const PARAMETERS: usize = 16;
    const MACS: usize = 0;
    fn forward(&self, x: &[f32; 2]) -> [f32; 2] {
        *x
    }
    fn forward_with(&self, x: &[f32; 2], _: &mut ()) -> [f32; 2] {
        *x
    }
    fn forward_traced(&self, x: &[f32; 2], _: &mut ()) -> [f32; 2] {
        *x
    }
    fn visit_params(&self, f: &mut dyn FnMut(&'static constnet_runtime::ParamInfo, &[f32])) {
        for (p, v) in Self::PARAMS.iter().zip(&self.v) {
            f(p, v);
        }
    }
    fn visit_params_mut(
        &mut self,
        f: &mut dyn FnMut(&'static constnet_runtime::ParamInfo, &mut [f32]),
    ) {
        for (p, v) in Self::PARAMS.iter().zip(&mut self.v) {
            f(p, v);
        }
    }
}

const fn param(name: &'static str) -> constnet_runtime::ParamInfo {
    constnet_runtime::ParamInfo { name, shape: &[2] }
}

#[test]
fn every_problem_is_reported_in_the_documented_order() {
    // Declared h, g, f, e, d, c, b, a (reverse byte order, so that
    // declaration order and byte order cannot be confused).
    let tensors = [
        Raw::ramp("a.weight", &[2], 0.0),                      // fine
        Raw::ramp("b.weight", &[3], 0.0),                      // wrong shape
        Raw::with_dtype("c.weight", "I64", &[2], vec![0; 16]), // wrong dtype
        Raw::ramp("e.weight", &[2, 1], 0.0),                   // wrong shape
        Raw::with_dtype("g.weight", "F64", &[2], vec![0; 16]), // wrong dtype
        // d, f, h missing
        Raw::ramp("z.weight", &[1], 0.0), // unexpected
        Raw::ramp("x.weight", &[4], 0.0), // unexpected
        Raw::ramp("y.bias", &[2], 0.0),   // unexpected
        Raw::with_dtype("d.num_batches_tracked", "I64", &[], vec![0; 8]), // ignored
    ];
    let bytes = write_raw(&tensors, true, false);
    let err = from_safetensors::<Eight>(&bytes).unwrap_err();
    let text = err.to_string();
    let (problems, hint) = mismatch(Err::<(), _>(err));
    assert_eq!(
        problems,
        [
            wrong_dtype("g.weight", "F64"),
            wrong_shape("e.weight", &[2], &[2, 1]),
            wrong_dtype("c.weight", "I64"),
            wrong_shape("b.weight", &[2], &[3]),
            missing("h.weight", &[2]),
            missing("f.weight", &[2]),
            missing("d.weight", &[2]),
            unexpected("x.weight", &[4]),
            unexpected("y.bias", &[2]),
            unexpected("z.weight", &[1]),
        ]
    );
    assert_eq!(hint, None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "the file does not match the network (10 problems):"
    );
    assert_eq!(lines.len(), 11, "{text}");
    for (line, problem) in lines[1..].iter().zip(&problems) {
        assert_eq!(*line, format!("  {problem}"));
    }
    // The same file, checked again, gives the same error (no hash order).
    for _ in 0..8 {
        assert_eq!(
            from_safetensors::<Eight>(&bytes).unwrap_err().to_string(),
            text
        );
    }
}

#[test]
fn a_long_list_is_cut_after_the_first_problems() {
    // 1,000 stray tensors natively; under Miri (every name compared with
    // every missing one for the hints, all interpreted: over ten minutes)
    // 40, still twice the list's cap.
    let strays: usize = if cfg!(miri) { 40 } else { 1000 };
    let mut tensors = Vec::new();
    for i in 0..strays {
        tensors.push(Raw::ramp(&format!("stray{i:04}.weight"), &[1], 0.0));
    }
    let bytes = write_raw(&tensors, false, false);
    let err = from_safetensors::<Eight>(&bytes).unwrap_err();
    let text = err.to_string();
    let (problems, _) = mismatch(Err::<(), _>(err));
    assert_eq!(problems.len(), strays + 8, "every problem is kept");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "the file does not match the network ({} problems):",
            strays + 8
        )
    );
    assert_eq!(lines.len(), 1 + SHOWN_PROBLEMS + 1, "{text}");
    assert_eq!(
        lines[1],
        "  tensor `h.weight` is missing from the file (the network declares it with shape [2])"
    );
    assert_eq!(
        lines[SHOWN_PROBLEMS],
        "  unexpected tensor `stray0011.weight` of shape [1]: the network has no parameter of that name"
    );
    assert_eq!(
        lines[SHOWN_PROBLEMS + 1],
        format!("  … and {} more problems", strays + 8 - SHOWN_PROBLEMS)
    );
    // Exactly at the cap, nothing is cut.
    let (problems, _) = mismatch(from_safetensors::<Eight>(&write_raw(
        &tensors[..SHOWN_PROBLEMS - 8],
        false,
        false,
    )));
    let text = LoadError::Mismatch {
        problems,
        hint: None,
    }
    .to_string();
    assert!(!text.contains("more problem"), "{text}");
    assert_eq!(text.lines().count(), 1 + SHOWN_PROBLEMS);
}

#[test]
fn named_layers_in_a_file_for_an_indexed_declaration() {
    // `Seq` reads `0.weight`, `0.bias`, `3.weight`, like an nn.Sequential;
    // this file comes from a module with attributes `hidden` and `out`.
    let bytes = write_raw(
        &[
            Raw::ramp("hidden.weight", &[3, 4], 0.0),
            Raw::ramp("hidden.bias", &[3], 0.0),
            Raw::ramp("out.weight", &[2, 3], 0.0),
        ],
        false,
        false,
    );
    let err = from_safetensors::<Seq>(&bytes).unwrap_err();
    let text = err.to_string();
    let (problems, hint) = mismatch(Err::<(), _>(err));
    assert_eq!(problems.len(), 6);
    assert_eq!(
        hint,
        Some(Hint::NamedLayersInFile {
            file_key: "hidden.weight".into(),
            declared_key: "0.weight".into(),
            renames: vec![("0".into(), "hidden".into()), ("3".into(), "out".into())],
        })
    );
    assert_eq!(
        text.lines().last().unwrap(),
        "help: the file's keys name their layers (`hidden.weight`), but this declaration's \
         unnamed layers read their index in the layer list (`0.weight`): name the layers as \
         in the PyTorch module (by their shapes, layer 0 is `hidden`, layer 3 is `out`), or \
         save the state_dict of an nn.Sequential"
    );
    // Two layers of one shape cannot be told apart: the hint stays, without
    // renames.
    let bytes = write_raw(
        &[
            Raw::ramp("a.weight", &[2, 3], 0.0),
            Raw::ramp("b.weight", &[2, 3], 0.0),
        ],
        false,
        false,
    );
    let (_, hint) = mismatch(from_safetensors::<Seq>(&bytes));
    assert!(
        matches!(&hint, Some(Hint::NamedLayersInFile { renames, .. }) if renames.is_empty()),
        "{hint:?}"
    );
}

#[test]
fn indexed_layers_in_a_file_for_a_named_declaration() {
    // `Tiny` names its layers `conv1` and `fc`; this file is an
    // nn.Sequential's, with a ReLU at index 1.
    let renamed: Vec<Raw> = tiny_tensors()
        .into_iter()
        .map(|mut t| {
            t.name = t.name.replace("conv1.", "0.").replace("fc.", "2.");
            t
        })
        .collect();
    let err = load_tiny(&write_raw(&renamed, false, false)).unwrap_err();
    let text = err.to_string();
    let (problems, hint) = mismatch(Err::<(), _>(err));
    assert_eq!(problems.len(), 8);
    assert_eq!(
        hint,
        Some(Hint::IndexedLayersInFile {
            file_key: "0.weight".into(),
            declared_key: "conv1.weight".into(),
            renames: vec![("conv1".into(), "0".into()), ("fc".into(), "2".into())],
        })
    );
    assert!(
        text.ends_with(
            "help: the file's keys are nn.Sequential indices (`0.weight`), but this declaration \
             names its layers (`conv1.weight`): leave the layers unnamed, so that each reads \
             the index of its place in the layer list (by their shapes, `conv1` is layer 0, \
             `fc` is layer 2), or save the state_dict of a module with these attribute names"
        ),
        "{text}"
    );
}

#[test]
fn no_hint_for_an_ordinary_mismatch() {
    // A missing tensor and an unrelated extra one of the same naming style.
    let mut tensors = tiny_tensors();
    tensors.pop();
    tensors.push(Raw::ramp("fc2.bias", &[3], 0.0));
    let (problems, hint) = mismatch(load_tiny(&write_raw(&tensors, false, false)));
    assert_eq!(
        problems,
        [missing("fc.bias", &[3]), unexpected("fc2.bias", &[3])]
    );
    assert_eq!(hint, None);
    // Another model that has one declared key under a prefix, as ResNet has
    // `layer1.0.conv1.weight`: a prefix that finds a minority is no hint.
    let other = [
        Raw::ramp("stem.weight", &[2, 1, 3, 3], 0.0),
        Raw::ramp("layer1.0.conv1.weight", &[2, 1, 3, 3], 0.0),
        Raw::ramp("head.weight", &[3, 8], 0.0),
    ];
    let (problems, hint) = mismatch(load_tiny(&write_raw(&other, false, false)));
    assert_eq!(problems.len(), 7);
    assert_eq!(hint, None);
}

/// `tiny_tensors()` under `prefix`, plus the batch-norm counter that
/// PyTorch saves.
fn tiny_prefixed(prefix: &str) -> Vec<u8> {
    let mut tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .map(|mut t| {
            t.name = format!("{prefix}{}", t.name);
            t
        })
        .collect();
    tensors.push(Raw::with_dtype(
        &format!("{prefix}bn.num_batches_tracked"),
        "I64",
        &[],
        vec![0; 8],
    ));
    write_raw(&tensors, true, true)
}

#[test]
fn a_prefixed_file_gets_the_hint_and_loads_with_the_option() {
    for prefix in ["module.", "model.", "module.model.", "features."] {
        let bytes = tiny_prefixed(prefix);
        let err = load_tiny(&bytes).unwrap_err();
        let text = err.to_string();
        let (problems, hint) = mismatch(Err::<(), _>(err));
        assert_eq!(problems.len(), 8, "{text}");
        assert_eq!(
            hint,
            Some(Hint::StripPrefix {
                prefix: prefix.into(),
                found: 4,
                declared: 4,
            })
        );
        assert!(
            text.ends_with(&format!(
                "help: every tensor the network declares is in the file under the prefix \
                 `{prefix}`: load with `LoadOptions::new().strip_prefix(\"{prefix}\")`"
            )),
            "{text}"
        );
        let options = LoadOptions::new().strip_prefix(prefix);
        assert_tiny_ramps(&from_safetensors_with::<Tiny>(&bytes, &options).unwrap());
        assert_tiny_ramps(&Tiny::from_safetensors_with(&bytes, &options).unwrap());
        let mut net = Tiny::new_zeroed();
        load_into_with(&mut *net, &bytes, &options).unwrap();
        assert_tiny_ramps(&net);
    }
}

#[test]
fn the_hint_names_the_whole_prefix_when_part_of_it_is_stripped() {
    let bytes = tiny_prefixed("module.model.");
    let options = LoadOptions::new().strip_prefix("module.");
    let (_, hint) = mismatch(from_safetensors_with::<Tiny>(&bytes, &options));
    assert!(
        matches!(&hint, Some(Hint::StripPrefix { prefix, .. }) if prefix == "module.model."),
        "{hint:?}"
    );
    // A prefix without its dot: the hint has the dot.
    let options = LoadOptions::new().strip_prefix("module");
    let (_, hint) = mismatch(from_safetensors_with::<Tiny>(&bytes, &options));
    assert!(
        matches!(&hint, Some(Hint::StripPrefix { prefix, .. }) if prefix == "module.model."),
        "{hint:?}"
    );
}

#[test]
fn a_partly_prefixed_file_says_how_much_the_prefix_finds() {
    // A Lightning-style checkpoint: the model under `model.`, but one tensor
    // lost, and a loss module's tensor next to it.
    let mut tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .filter(|t| t.name != "fc.bias")
        .map(|mut t| {
            t.name = format!("model.{}", t.name);
            t
        })
        .collect();
    tensors.push(Raw::ramp("loss.pos_weight", &[3], 0.0));
    let bytes = write_raw(&tensors, false, false);
    let err = load_tiny(&bytes).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "help: 3 of the 4 tensors the network declares are in the file under the prefix \
             `model.`: load with `LoadOptions::new().strip_prefix(\"model.\")`"
        ),
        "{err}"
    );
    // With the option, the loss module is ignored and the lost tensor named.
    let options = LoadOptions::new().strip_prefix("model.");
    let (problems, hint) = mismatch(from_safetensors_with::<Tiny>(&bytes, &options));
    assert_eq!((problems, hint), (vec![missing("fc.bias", &[3])], None));
}

#[test]
fn unexpected_tensors_under_a_prefix_keep_their_full_key() {
    let mut tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .map(|mut t| {
            t.name = format!("module.{}", t.name);
            t
        })
        .collect();
    tensors.push(Raw::ramp("module.fc2.bias", &[3], 0.0));
    let options = LoadOptions::new().strip_prefix("module.");
    let err =
        from_safetensors_with::<Tiny>(&write_raw(&tensors, false, false), &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected tensor `module.fc2.bias` of shape [3]: the network has no parameter of that name"
    );
}

#[test]
fn a_prefix_that_matches_nothing_is_an_error() {
    let options = LoadOptions::new().strip_prefix("module.");
    let err = from_safetensors_with::<Tiny>(&tiny_file(), &options).unwrap_err();
    assert!(
        matches!(&err, LoadError::PrefixNotFound { prefix, sample: Some(sample) }
            if prefix == "module." && sample == "conv1.bias"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no key of the file starts with `module.`, the prefix to strip \
         (the file's keys look like `conv1.bias`)"
    );
    // The network is untouched.
    let mut net = Tiny::new_zeroed();
    assert!(load_into_with(&mut *net, &tiny_file(), &options).is_err());
    assert_eq!(*net, *Tiny::new_zeroed());
    // An empty prefix is no prefix.
    let options = LoadOptions::new().strip_prefix("");
    assert_tiny_ramps(&from_safetensors_with::<Tiny>(&tiny_file(), &options).unwrap());
}

#[test]
fn nothing_is_written_unless_everything_checks() {
    let mut net = Tiny::new_zeroed();
    load_into(&mut *net, &tiny_file()).unwrap();
    let before = *net;
    // Only the last tensor is wrong: the first three must not be copied.
    let mut tensors: Vec<Raw> = tiny_tensors()
        .into_iter()
        .map(|mut t| {
            if let Some(v) = t.data.first_mut() {
                *v ^= 0x40;
            }
            t
        })
        .collect();
    tensors[3] = Raw::ramp("fc.bias", &[4], 0.0);
    let (problems, _) = mismatch(load_into(&mut *net, &write_raw(&tensors, false, false)));
    assert_eq!(problems, [wrong_shape("fc.bias", &[3], &[4])]);
    assert_eq!(*net, before);
    tensors[3] = Raw::ramp("fc.bias", &[3], 0.0);
    tensors.push(Raw::ramp("stray", &[1], 0.0));
    let (problems, _) = mismatch(load_into(&mut *net, &write_raw(&tensors, false, false)));
    assert_eq!(problems, [unexpected("stray", &[1])]);
    assert_eq!(*net, before);
}

#[test]
fn truncated_file() {
    let bytes = tiny_file();
    let reason = malformed_reason(&bytes[..bytes.len() / 2]);
    assert!(reason.contains("truncated"), "{reason}");
    // Cut inside the data section: the header is whole, the data is short.
    let reason = malformed_reason(&bytes[..bytes.len() - 4]);
    assert!(reason.contains("truncated"), "{reason}");
    // Every proper prefix is rejected, without panicking.
    for n in 0..bytes.len() {
        malformed_reason(&bytes[..n]);
    }
    // Trailing garbage is rejected too.
    let mut long = bytes.clone();
    long.extend_from_slice(&[0; 4]);
    malformed_reason(&long);
}

#[test]
fn garbage_and_bad_header_lengths() {
    malformed_reason(b"this is certainly not a safetensors file, just some text");
    malformed_reason(&[0xff; 64]);
    // A header length far larger than the file.
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let reason = malformed_reason(&bytes);
    assert!(reason.contains(&u64::MAX.to_string()), "{reason}");
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let reason = malformed_reason(&bytes);
    assert!(
        reason.contains("1000") && reason.contains("only 2 bytes"),
        "{reason}"
    );
    // A header length that fits but is not JSON.
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe{}");
    malformed_reason(&bytes);
    // Valid JSON, bogus offsets.
    let header = br#"{"fc.bias":{"dtype":"F32","shape":[3],"data_offsets":[0,400]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 12]);
    malformed_reason(&bytes);
    // Shape and offsets that disagree.
    let header = br#"{"fc.bias":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 12]);
    malformed_reason(&bytes);
}

#[test]
fn empty_file() {
    let reason = malformed_reason(b"");
    assert_eq!(reason, "not a valid safetensors file: the file is empty");
    let reason = malformed_reason(b"\x10\0\0");
    assert!(reason.contains("3 bytes"), "{reason}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = tiny_prefixed("module.");
    let options = LoadOptions::new().strip_prefix("module.");
    let values = [0x00, 0x22, 0x7f, 0xff];
    for i in 0..bytes.len() {
        // Under Miri (minutes per thousand loads), one value per position,
        // taking the four in turn.
        let values = if cfg!(miri) {
            &values[i % values.len()..=i % values.len()]
        } else {
            &values[..]
        };
        for &v in values {
            let mut corrupt = bytes.clone();
            corrupt[i] = v;
            // Any result is fine (data bytes load as other numbers); a panic
            // fails the test.
            let _ = load_tiny(&corrupt);
            let _ = from_safetensors_with::<Tiny>(&corrupt, &options);
        }
    }
}

#[test]
fn f16_and_bf16_convert_exactly() {
    // F16 bit patterns and their exact values.
    let f16s: [(u16, f32); 9] = [
        (0x3c00, 1.0),
        (0xc000, -2.0),
        (0x3800, 0.5),
        (0x7bff, 65504.0),
        (0x0001, 5.960_464_5e-8), // 2^-24, the smallest subnormal
        (0x8000, -0.0),
        (0x6400, 1024.0),
        (0x3555, 0.333_251_95),
        (0x7c00, f32::INFINITY),
    ];
    // 2^-24 written exactly (`powi` promises no precision, and Miri makes
    // it imprecise on purpose): sign 0, biased exponent 127 - 24 = 103 =
    // 0x67, mantissa 0, so the bits are 0x67 << 23.
    assert_eq!(5.960_464_5e-8f32, f32::from_bits(0x67 << 23));
    assert_eq!(0.333_251_95f32, 1365.0 / 4096.0);
    let mut conv_w = Vec::new();
    let mut conv_expected = Vec::new();
    for i in 0..18 {
        let (bits, value) = f16s[i % f16s.len()];
        conv_w.extend_from_slice(&bits.to_le_bytes());
        conv_expected.push(value);
    }
    // BF16 is the top half of an f32.
    let bf16s: [u16; 7] = [0x3f80, 0xc000, 0x3f00, 0x7f7f, 0x3eab, 0x0001, 0xff80];
    let mut fc_w = Vec::new();
    let mut fc_expected = Vec::new();
    for i in 0..24 {
        let bits = bf16s[i % bf16s.len()];
        fc_w.extend_from_slice(&bits.to_le_bytes());
        fc_expected.push(f32::from_bits(u32::from(bits) << 16));
    }
    assert_eq!(fc_expected[0], 1.0);
    assert_eq!(fc_expected[6], f32::NEG_INFINITY);
    let tensors = vec![
        Raw::with_dtype("conv1.weight", "F16", &[2, 1, 3, 3], conv_w),
        Raw::with_dtype("conv1.bias", "BF16", &[2], vec![0x40, 0x40, 0x80, 0xbf]),
        Raw::with_dtype("fc.weight", "BF16", &[3, 8], fc_w),
        Raw::with_dtype(
            "fc.bias",
            "F16",
            &[3],
            vec![0x00, 0x3c, 0x00, 0xbc, 0x00, 0x00],
        ),
    ];
    for misalign in [false, true] {
        let net = load_tiny(&write_raw(&tensors, false, misalign)).unwrap();
        let params = params_of(&*net);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&params[0].1), bits(&conv_expected));
        assert_eq!(net.conv1.bias, [3.0, -1.0]);
        assert_eq!(bits(&params[2].1), bits(&fc_expected));
        assert_eq!(net.fc.bias, [1.0, -1.0, 0.0]);
    }
}

#[test]
fn num_batches_tracked_and_metadata_are_ignored() {
    let mut tensors = tiny_tensors();
    tensors.insert(
        1,
        Raw::with_dtype(
            "bn1.num_batches_tracked",
            "I64",
            &[],
            7i64.to_le_bytes().to_vec(),
        ),
    );
    tensors.push(Raw::with_dtype(
        "num_batches_tracked_is_not_a_suffix",
        "I64",
        &[],
        vec![0; 8],
    ));
    let err = load_tiny(&write_raw(&tensors, true, false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected tensor `num_batches_tracked_is_not_a_suffix` of shape []: \
         the network has no parameter of that name"
    );
    tensors.pop();
    assert_tiny_ramps(&load_tiny(&write_raw(&tensors, true, false)).unwrap());
}

#[test]
fn round_trip_is_bit_exact() {
    let mut net = Tiny::new_zeroed();
    let specials = [
        -0.0,
        f32::MIN_POSITIVE / 4.0, // subnormal
        f32::INFINITY,
        f32::from_bits(0x7fc0_1234), // NaN with a payload
        f32::MAX,
        core::f32::consts::PI,
        -1e-30,
    ];
    let mut k = 0usize;
    net.visit_params_mut(&mut |_, s| {
        for v in s {
            *v = specials[k % specials.len()] * if k.is_multiple_of(2) { 1.0 } else { 1.0 / 3.0 };
            k += 1;
        }
    });
    let bytes = to_safetensors(&*net).unwrap();
    let back = from_safetensors::<Tiny>(&bytes).unwrap();
    let bits = |n: &Tiny| {
        params_of(n)
            .into_iter()
            .map(|(name, v)| (name, v.into_iter().map(f32::to_bits).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&back), bits(&net));
    // Writing again gives the same bytes.
    assert_eq!(to_safetensors(&*back).unwrap(), bytes);

    // The file is an ordinary F32 safetensors file with PyTorch keys.
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(
        names,
        ["conv1.bias", "conv1.weight", "fc.bias", "fc.weight"]
    );
    let w = file.tensor("conv1.weight").unwrap();
    assert_eq!(w.dtype(), safetensors::Dtype::F32);
    assert_eq!(w.shape(), &[2, 1, 3, 3]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().as_ref().unwrap();
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));

    // A bias-less network round-trips too.
    let mut seq = Seq::new_zeroed();
    seq.l3.weight = [[1.5, -2.5, 3.5], [0.25, 0.0, -0.0]];
    let back = from_safetensors::<Seq>(&to_safetensors(&*seq).unwrap()).unwrap();
    assert_eq!(back.l3.weight[1][2].to_bits(), (-0.0f32).to_bits());
    assert_eq!(*back, *seq);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "4 MiB of weights: unfinished after 10 minutes under Miri, which has no stack size to exceed anyway; the small networks above run the same loading code"
)]
fn big_network_loads_on_a_small_stack() {
    let n = 1024 * 1024;
    let weight: Vec<f32> = (0..n).map(|i| (i % 4099) as f32 - 2000.0).collect();
    let bias: Vec<f32> = (0..1024).map(|i| i as f32 * 0.25).collect();
    let bytes = write_raw(
        &[
            Raw::f32("fc.bias", &[1024], &bias),
            Raw::f32("fc.weight", &[1024, 1024], &weight),
        ],
        false,
        true,
    );
    assert!(bytes.len() > 4 * n);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut net = from_safetensors::<Big>(&bytes).unwrap();
            assert_eq!(net.fc.weight.as_flattened(), &weight[..]);
            assert_eq!(&net.fc.bias[..], &bias[..]);
            load_into(&mut *net, &bytes).unwrap();
            let out = to_safetensors(&*net).unwrap();
            let again = from_safetensors::<Big>(&out).unwrap();
            assert_eq!(again.fc.weight.as_flattened(), &weight[..]);
            // Errors on a big network are cheap too.
            let err = from_safetensors::<Big>(&bytes[..bytes.len() - 1])
                .err()
                .unwrap();
            assert!(matches!(err, LoadError::Malformed { .. }));
        })
        .unwrap();
    handle.join().unwrap();
}

#[cfg(feature = "std")]
#[test]
fn from_file_reads_and_reports_io_errors() {
    use constnet_runtime::load::from_file;
    let dir = std::env::temp_dir().join(format!("constnet-load-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.safetensors");
    std::fs::write(&path, tiny_file()).unwrap();
    assert_tiny_ramps(&from_file::<Tiny>(&path).unwrap());

    let missing = dir.join("nope.safetensors");
    let err = from_file::<Tiny>(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("cannot read `"), "{text}");
    assert!(text.contains("nope.safetensors"), "{text}");
    assert!(std::error::Error::source(&err).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_error_is_a_std_error() {
    fn check<E: std::error::Error + Send + Sync + 'static>() {}
    check::<LoadError>();
    let boxed: Box<dyn std::error::Error> = Box::new(load_tiny(b"").unwrap_err());
    assert!(boxed.to_string().contains("empty"));
}
