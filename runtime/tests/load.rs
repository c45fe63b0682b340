//! Weight loading from safetensors files: every error kind, every accepted
//! dtype, unaligned data, round trips, and big networks on small stacks.
#![cfg(feature = "alloc")]

mod common;

use common::{assert_tiny_ramps, params_of, tiny_tensors, write_raw, Big, Raw, Seq, Tiny};
use constnet_runtime::load::{from_safetensors, load_into, to_safetensors, LoadError};
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
        "unexpected tensor `3.bias`: the network has no parameter of that name"
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
    assert!(
        matches!(
            err,
            LoadError::Missing {
                tensor: "fc.bias",
                shape: [3]
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tensor `fc.bias` is missing from the file (the network declares it with shape [3])"
    );
}

#[test]
fn unexpected_tensor() {
    let mut tensors = tiny_tensors();
    tensors.push(Raw::ramp("fc4.weight", &[2, 3], 0.0));
    tensors.push(Raw::ramp("zz.extra", &[1], 0.0));
    let err = load_tiny(&write_raw(&tensors, false, false)).unwrap_err();
    assert!(
        matches!(&err, LoadError::Unexpected { tensor } if tensor == "fc4.weight"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unexpected tensor `fc4.weight`: the network has no parameter of that name"
    );
}

#[test]
fn wrong_dtype_i64_and_f64() {
    for (dtype, size) in [("I64", 8), ("F64", 8), ("I32", 4), ("U8", 1)] {
        let bytes = tiny_with(
            "conv1.weight",
            Raw::with_dtype("conv1.weight", dtype, &[2, 1, 3, 3], vec![0; 18 * size]),
        );
        let err = load_tiny(&bytes).unwrap_err();
        assert!(
            matches!(&err, LoadError::WrongDtype { tensor: "conv1.weight", dtype: d } if d == dtype),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "tensor `conv1.weight` has dtype {dtype}; only F32, F16 and BF16 can be loaded"
            )
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
    assert!(
        matches!(
            &err,
            LoadError::WrongShape { tensor: "conv1.weight", expected: [2, 1, 3, 3], found }
                if found == &[2, 3, 3, 3]
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tensor `conv1.weight` has shape [2, 3, 3, 3], but the network declares [2, 1, 3, 3]"
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
    assert!(matches!(
        load_into(&mut *net, &write_raw(&tensors, false, false)),
        Err(LoadError::WrongShape {
            tensor: "fc.bias",
            ..
        })
    ));
    assert_eq!(*net, before);
    tensors[3] = Raw::ramp("fc.bias", &[3], 0.0);
    tensors.push(Raw::ramp("stray", &[1], 0.0));
    assert!(matches!(
        load_into(&mut *net, &write_raw(&tensors, false, false)),
        Err(LoadError::Unexpected { .. })
    ));
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
    let bytes = tiny_file();
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
        "unexpected tensor `num_batches_tracked_is_not_a_suffix`: the network has no parameter of that name"
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
