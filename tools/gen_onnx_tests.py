#!/usr/bin/env python3
"""Generate tests/onnx_conformance.rs from the ONNX conformance cases.

Reads:   tests/onnx/node/<case>/case.json and
         tests/onnx/pytorch-converted/<case>/case.json
         (the ONNX backend test cases that a PyTorch-style declaration can
         express; see tests/onnx/README.md for their provenance and content).
Writes:  tests/onnx_conformance.rs -- for every case one `constnet::network!`
         declaration with the equivalent `torch.nn` layer and one `#[test]`
         that loads the case's tensors.safetensors at run time, fills the
         layer's parameters (input_1.. in ONNX input order) through
         `Network::visit_params_mut`, runs every sample of input_0 through
         `forward_with` and compares with output_0 at the case's
         `suggested_atol` (max abs diff). Then runs `rustfmt` on it if
         rustfmt is on PATH (the output is written to be rustfmt-clean anyway).

Run from anywhere (plain Python 3, standard library only):
    python3 tools/gen_onnx_tests.py

Re-importing the case data (only needed to refresh tests/onnx/ from a copy of
the conformance suite laid out as <DIR>/node/<case>/ and
<DIR>/pytorch-converted/<case>/, each with case.json and tensors.safetensors):
    python3 tools/gen_onnx_tests.py --import ../shared/onnx-conformance
copies every case with "expressible_pytorch_style": true (and nothing else)
into tests/onnx/<suite>/<case>/, then generates as above.

How a case becomes a declaration:
  * case.json's `pytorch.module` (e.g. "nn.MaxPool2d") names the layer and
    `pytorch.kwargs` its arguments: required ones are written positionally,
    optional ones as `keyword = value` only where they differ from PyTorch's
    default (pairs with equal halves are written as one integer, floats as
    the shortest decimal that round-trips through f32).
  * The input tensor input_0 of rank 2 or 4 is a batch [N, ...sample]; one of
    rank 1 or 3 is a single sample. The `input:` line is the sample shape;
    the layer carries a `-> [...]` assertion of the expected sample output
    shape, so the macro's shape arithmetic is checked against ONNX's.
  * Softmax / LogSoftmax: `dim` is the ONNX `axis` attribute (default
    resolved); for a single-sample input an axis a >= 0 becomes a + 1
    (PyTorch counts the batch dimension), negative axes stay as they are.
  * `pytorch.param_map` maps input_1.. to the PyTorch parameter names;
    they are fed in the order `visit_params_mut` visits them (weight, bias,
    running_mean, running_var), each checked by key and length.
Anything the vocabulary cannot express (unknown module or keyword, input
rank outside 1..4, a parameter the layer does not have) stops the generator
with an error naming the case, rather than producing a wrong test.
"""

import decimal
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "onnx")
OUT = os.path.join(ROOT, "tests", "onnx_conformance.rs")
SUITES = [("node", "node"), ("pytorch-converted", "pytorch_converted")]

# The layer vocabulary: PyTorch's argument order, with defaults for the
# optional ones. REQUIRED arguments are written positionally.
REQUIRED = object()
KERNEL = object()  # pooling stride: None means kernel_size
LAYERS = {
    "Conv2d": [
        ("in_channels", REQUIRED),
        ("out_channels", REQUIRED),
        ("kernel_size", REQUIRED),
        ("stride", 1),
        ("padding", 0),
        ("dilation", 1),
        ("groups", 1),
        ("bias", True),
        ("padding_mode", "zeros"),
    ],
    "MaxPool2d": [
        ("kernel_size", REQUIRED),
        ("stride", KERNEL),
        ("padding", 0),
        ("dilation", 1),
        ("ceil_mode", False),
    ],
    "AvgPool2d": [
        ("kernel_size", REQUIRED),
        ("stride", KERNEL),
        ("padding", 0),
        ("ceil_mode", False),
        ("count_include_pad", True),
        ("divisor_override", None),
    ],
    "AdaptiveAvgPool2d": [("output_size", REQUIRED)],
    "AdaptiveMaxPool2d": [("output_size", REQUIRED)],
    "BatchNorm2d": [
        ("num_features", REQUIRED),
        ("eps", 1e-5),
        ("momentum", 0.1),
        ("affine", True),
        ("track_running_stats", True),
    ],
    "Linear": [("in_features", REQUIRED), ("out_features", REQUIRED), ("bias", True)],
    "Flatten": [("start_dim", 1), ("end_dim", -1)],
    "ReLU": [],
    "ReLU6": [],
    "LeakyReLU": [("negative_slope", 0.01)],
    "ELU": [("alpha", 1.0)],
    "SELU": [],
    "GELU": [("approximate", "none")],
    "SiLU": [],
    "Hardswish": [],
    "Hardsigmoid": [],
    "Sigmoid": [],
    "Tanh": [],
    "Softmax": [("dim", None)],
    "LogSoftmax": [("dim", None)],
}
# Layers that take an NCHW map, and those that take an [N, F] batch.
SPATIAL = {"Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "BatchNorm2d"}
FLAT = {"Linear"}
SOFTMAX = {"Softmax", "LogSoftmax"}
# The order in which visit_params_mut visits a layer's tensors.
PARAM_ORDER = ["weight", "bias", "running_mean", "running_var"]


class Inexpressible(Exception):
    pass


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def fmt_float(x):
    """The shortest plain decimal (no exponent) that rounds to the same f32."""
    t = f32(float(x))
    for digits in range(1, 18):
        s = "%.*g" % (digits, t)
        if f32(float(s)) == t:
            break
    s = format(decimal.Decimal(s), "f")
    return s if "." in s else s + ".0"


def fmt_value(v):
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        if len(v) == 2 and v[0] == v[1]:
            return fmt_value(v[0])
        if len(v) == 2:
            return "(%s, %s)" % (fmt_value(v[0]), fmt_value(v[1]))
    raise Inexpressible("value %r has no DSL spelling" % (v,))


def normalise(v):
    """A value in a form that compares equal to the same value written otherwise."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and v[0] == v[1]:
        return normalise(v[0])
    if isinstance(v, (list, tuple)):
        return tuple(normalise(x) for x in v)
    if isinstance(v, float):
        return f32(v)
    return v


def is_default(default, value, kwargs):
    if default is KERNEL:
        return value is None or normalise(value) == normalise(kwargs.get("kernel_size"))
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f32(float(value)) == f32(default)
    return normalise(value) == normalise(default)


def camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def layer_call(kind, kwargs, case):
    spec = LAYERS[kind]
    known = {name for name, _ in spec}
    for k in kwargs:
        if k not in known:
            raise Inexpressible("%s: keyword %s=%r not in the DSL's %s" % (case, k, kwargs[k], kind))
    args = []
    for name, default in spec:
        if default is REQUIRED:
            if name not in kwargs:
                raise Inexpressible("%s: %s needs %s" % (case, kind, name))
            args.append(fmt_value(kwargs[name]))
        elif name in kwargs and not is_default(default, kwargs[name], kwargs):
            args.append("%s = %s" % (name, fmt_value(kwargs[name])))
    return kind + ("(%s)" % ", ".join(args) if args else "")


def fmt_shape(shape):
    return "[%s]" % ", ".join(str(d) for d in shape)


def fmt_atol(x):
    s = repr(float(x))
    if "e" in s:
        mant, exp = s.split("e")
        mant = mant[:-2] if mant.endswith(".0") else mant
        return "%se%d" % (mant, int(exp))
    return s


def build(suite, case):
    path = os.path.join(CASES, suite, case, "case.json")
    with open(path) as f:
        c = json.load(f)
    name = c["test_name"]
    if name != case:
        raise Inexpressible("%s: case.json names %s" % (path, name))
    if not c["expressible_pytorch_style"]:
        raise Inexpressible("%s/%s is marked not expressible: %s" % (suite, case, c["not_expressible_reasons"]))
    module = c["pytorch"]["module"]
    if not module.startswith("nn.") or module[3:] not in LAYERS:
        raise Inexpressible("%s: module %s is not in the DSL" % (case, module))
    kind = module[3:]
    kwargs = dict(c["pytorch"]["kwargs"])
    in_shape = c["inputs"][0]["shape"]
    if len(c["outputs"]) != 1:
        raise Inexpressible("%s: %d outputs" % (case, len(c["outputs"])))
    out_shape = c["outputs"][0]["shape"]
    for t in c["inputs"] + c["outputs"]:
        if t["dtype"] != "float32":
            raise Inexpressible("%s: %s is %s" % (case, t["name"], t["dtype"]))
    rank = len(in_shape)
    if rank not in (1, 2, 3, 4):
        raise Inexpressible("%s: input rank %d (only 1..4)" % (case, rank))
    batched = rank in (2, 4)
    if kind in SPATIAL and rank != 4:
        raise Inexpressible("%s: %s on a rank-%d input" % (case, kind, rank))
    if kind in FLAT and rank != 2:
        raise Inexpressible("%s: %s on a rank-%d input" % (case, kind, rank))
    if kind == "Flatten" and (rank != 4 or len(out_shape) != 2 or out_shape[0] != in_shape[0]):
        raise Inexpressible("%s: Flatten %s -> %s is not nn.Flatten() on a batch" % (case, in_shape, out_shape))
    if batched and out_shape[0] != in_shape[0]:
        raise Inexpressible("%s: batch %d in, %d out" % (case, in_shape[0], out_shape[0]))
    sample_in = in_shape[1:] if batched else in_shape
    sample_out = out_shape[1:] if batched else out_shape
    if len(sample_out) not in (1, 3):
        raise Inexpressible("%s: sample output shape %s" % (case, sample_out))

    if kind in SOFTMAX:
        attrs = c["attributes"]
        axis = attrs["axis"]
        norm = axis + rank if axis < 0 else axis
        if norm != attrs.get("axis_normalized", norm) or norm != kwargs.get("dim", norm):
            raise Inexpressible("%s: axis %d does not match %r / %r" % (case, axis, attrs, kwargs))
        if c["opset"] < 13 and norm != rank - 1:
            # Before opset 13, (Log)Softmax flattened the tensor to 2-D at
            # `axis`; that equals PyTorch's only on the last axis.
            raise Inexpressible("%s: opset %d softmax over a non-last axis" % (case, c["opset"]))
        if not batched and axis >= 0:
            axis += 1
        kwargs["dim"] = axis

    # Parameters: input_k -> PyTorch name, in visiting order.
    param_map = c["pytorch"]["param_map"]
    named = {}
    for onnx_name, torch_name in param_map.items():
        key = torch_name.split()[0]
        if key not in PARAM_ORDER:
            raise Inexpressible("%s: parameter %s (%s)" % (case, torch_name, onnx_name))
        named[key] = onnx_name
    weights = [t["name"] for t in c["inputs"][1:]]
    if sorted(weights) != sorted(param_map):
        raise Inexpressible("%s: inputs %s but param_map %s" % (case, weights, param_map))
    if kind in ("Conv2d", "Linear") and ("bias" in named) != kwargs.get("bias", True):
        raise Inexpressible("%s: bias=%r but params %s" % (case, kwargs.get("bias"), param_map))
    params = [(named[k], "0." + k) for k in PARAM_ORDER if k in named]

    call = layer_call(kind, kwargs, case)
    struct_name = camel(case)
    attrs_written = json.dumps(c["attributes_as_written"], sort_keys=True, separators=(",", ":"))
    doc = [
        "%s/%s: ONNX %s (opset %d), [%s] -> [%s], attributes %s."
        % (suite, case, c["op_type"], c["opset"], "x".join(map(str, in_shape)),
           "x".join(map(str, out_shape)), attrs_written)
    ]
    for note in c["notes"]:
        doc.append("Note: %s." % note.rstrip("."))
    return {
        "suite": suite,
        "case": case,
        "fn": case.lower(),
        "struct": struct_name,
        "doc": doc,
        "input": fmt_shape(sample_in),
        "layer": "%s -> %s" % (call, fmt_shape(sample_out)),
        "params": params,
        "batched": batched,
        "atol": fmt_atol(c["suggested_atol"]),
    }


HEADER = '''\
//! ONNX conformance: the ONNX project's backend test cases that a
//! PyTorch-style declaration can express, one single-layer network and one
//! test each, checked at each case's suggested tolerance.
//!
//! GENERATED by `python3 tools/gen_onnx_tests.py` from `tests/onnx/*/*/case.json`
//! ({count} cases: {node} node, {conv} pytorch-converted); do not edit by hand.
//! The case data and its provenance are in `tests/onnx/` (see its README).

use constnet::{{Network, Tensor}};
use safetensors::{{Dtype, SafeTensors}};

/// One conformance case: where its tensors are and how to feed them.
struct Case {{
    /// `<suite>/<case>`, for messages.
    name: &'static str,
    /// The case's `tensors.safetensors`.
    tensors: &'static str,
    /// `(ONNX input, PyTorch key)` in the order `visit_params_mut` visits.
    params: &'static [(&'static str, &'static str)],
    /// `input_0` is a batch `[N, ...sample]` (rank 2 or 4), not one sample.
    batched: bool,
    /// The largest absolute difference accepted.
    atol: f32,
}}

/// A float32 tensor of the case file: its shape and its values.
fn read_f32(case: &Case, file: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {{
    let view = file
        .tensor(name)
        .unwrap_or_else(|e| panic!("{{}}: no tensor {{name}}: {{e}}", case.name));
    assert_eq!(view.dtype(), Dtype::F32, "{{}}: {{name}} is not F32", case.name);
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}}

/// `flat` as an index into `shape`, e.g. `[0, 2, 1, 3]`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {{
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {{
        index[i] = flat % d;
        flat /= d;
    }}
    index
}}

/// Fails with the case name and the worst element unless every element of
/// `got` is within `case.atol` of `want` (a NaN is never within).
fn compare(case: &Case, sample: Option<usize>, shape: &[usize], got: &[f32], want: &[f32]) {{
    assert_eq!(got.len(), want.len(), "{{}}: output length", case.name);
    let mut worst = (0, 0.0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {{
        let diff = if g == w {{ 0.0 }} else {{ (g - w).abs() }};
        let diff = if diff.is_nan() {{ f32::INFINITY }} else {{ diff }};
        if diff > worst.1 {{
            worst = (i, diff);
        }}
    }}
    let (i, diff) = worst;
    let mut index = unravel(i, shape);
    if let Some(s) = sample {{
        index.insert(0, s);
    }}
    assert!(
        diff <= case.atol,
        "{{}}: max |got - expected| = {{diff:e}} > atol {{:e}} at output_0{{index:?}}: got {{}}, expected {{}}",
        case.name,
        case.atol,
        got[i],
        want[i],
    );
}}

/// Runs one case through network `N`: fills its parameters from input_1..,
/// runs every sample of input_0 with `forward_with` (the workspace on the
/// heap) and compares each with its slice of output_0.
fn run<N: Network>(case: &Case) {{
    let bytes = std::fs::read(case.tensors)
        .unwrap_or_else(|e| panic!("{{}}: cannot read {{}}: {{e}}", case.name, case.tensors));
    let file = SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{{}}: bad safetensors: {{e:?}}", case.name));

    let mut net = N::new_zeroed();
    let mut next = 0;
    net.visit_params_mut(&mut |info, values| {{
        let Some(&(onnx, key)) = case.params.get(next) else {{
            panic!(
                "{{}}: the network has an extra parameter {{}}",
                case.name, info.name
            );
        }};
        assert_eq!(info.name, key, "{{}}: parameter {{next}}", case.name);
        let (shape, data) = read_f32(case, &file, onnx);
        assert_eq!(
            data.len(),
            values.len(),
            "{{}}: {{onnx}} {{shape:?}} has {{}} values, {{key}} {{:?}} needs {{}}",
            case.name,
            data.len(),
            info.shape,
            values.len(),
        );
        values.copy_from_slice(&data);
        next += 1;
    }});
    assert_eq!(next, case.params.len(), "{{}}: parameters filled", case.name);

    let (in_shape, input) = read_f32(case, &file, "input_0");
    let (out_shape, expected) = read_f32(case, &file, "output_0");
    let (samples, sample_in, sample_out) = if case.batched {{
        (in_shape[0], &in_shape[1..], &out_shape[1..])
    }} else {{
        (1, &in_shape[..], &out_shape[..])
    }};
    assert_eq!(sample_in, N::INPUT_SHAPE, "{{}}: input shape", case.name);
    assert_eq!(sample_out, N::OUTPUT_SHAPE, "{{}}: output shape", case.name);
    assert_eq!(input.len(), samples * <N::Input as Tensor>::LEN);
    assert_eq!(expected.len(), samples * <N::Output as Tensor>::LEN);

    let mut workspace = N::new_workspace();
    let inputs = input.chunks_exact(<N::Input as Tensor>::LEN);
    let outputs = expected.chunks_exact(<N::Output as Tensor>::LEN);
    for (s, (x, want)) in inputs.zip(outputs).enumerate() {{
        let x = <N::Input as Tensor>::from_flat(x).expect("sample length checked above");
        let got = net.forward_with(x, &mut workspace);
        let sample = case.batched.then_some(s);
        compare(case, sample, N::OUTPUT_SHAPE, got.as_flat(), want);
    }}
}}
'''


def render_case(t):
    lines = []
    lines.append("    constnet::network! {")
    for d in t["doc"]:
        for line in textwrap.wrap(d, 100 - len("        /// "), break_on_hyphens=False):
            lines.append("        /// %s" % line)
    lines.append("        struct %s {" % t["struct"])
    lines.append("            input: %s," % t["input"])
    lines.append("            %s," % t["layer"])
    lines.append("        }")
    lines.append("    }")
    lines.append("")
    lines.append("    #[test]")
    lines.append("    fn %s() {" % t["fn"])
    lines.append("        run::<%s>(&Case {" % t["struct"])
    lines.append('            name: "%s/%s",' % (t["suite"], t["case"]))
    lines.append("            tensors: concat!(")
    lines.append('                env!("CARGO_MANIFEST_DIR"),')
    lines.append('                "/tests/onnx/%s/%s/tensors.safetensors"' % (t["suite"], t["case"]))
    lines.append("            ),")
    inline = ", ".join('("%s", "%s")' % p for p in t["params"])
    if len(inline) <= 60:  # rustfmt's array_width: one line if it fits
        lines.append("            params: &[%s]," % inline)
    else:
        lines.append("            params: &[")
        for onnx, key in t["params"]:
            lines.append('                ("%s", "%s"),' % (onnx, key))
        lines.append("            ],")
    lines.append("            batched: %s," % ("true" if t["batched"] else "false"))
    lines.append("            atol: %s," % t["atol"])
    lines.append("        });")
    lines.append("    }")
    return "\n".join(lines)


def import_cases(src):
    """Copies the expressible cases of a conformance-suite copy into tests/onnx/."""
    for suite, _ in SUITES:
        sdir = os.path.join(src, suite)
        for case in sorted(os.listdir(sdir)):
            cj = os.path.join(sdir, case, "case.json")
            if not os.path.isfile(cj):
                continue
            with open(cj) as f:
                if not json.load(f)["expressible_pytorch_style"]:
                    continue
            dst = os.path.join(CASES, suite, case)
            os.makedirs(dst, exist_ok=True)
            for fname in ("case.json", "tensors.safetensors"):
                # copyfile, not copy: the data, not the source's permissions.
                shutil.copyfile(os.path.join(sdir, case, fname), os.path.join(dst, fname))


def main(argv):
    if len(argv) == 3 and argv[1] == "--import":
        import_cases(argv[2])
    elif len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    modules = []
    counts = {}
    errors = []
    for suite, module in SUITES:
        sdir = os.path.join(CASES, suite)
        cases = []
        for case in sorted(os.listdir(sdir)):
            if not os.path.isfile(os.path.join(sdir, case, "case.json")):
                continue
            try:
                cases.append(build(suite, case))
            except Inexpressible as e:
                errors.append(str(e))
        fns = [t["fn"] for t in cases]
        dup = sorted({f for f in fns if fns.count(f) > 1})
        if dup:
            errors.append("%s: test names collide after lower-casing: %s" % (suite, dup))
        counts[suite] = len(cases)
        body = "\n\n".join(render_case(t) for t in cases)
        modules.append("mod %s {\n    use super::*;\n\n%s\n}\n" % (module, body))
    if errors:
        sys.stderr.write("cannot express:\n  " + "\n  ".join(errors) + "\n")
        return 1
    text = HEADER.format(
        count=sum(counts.values()), node=counts["node"], conv=counts["pytorch-converted"]
    )
    text += "\n" + "\n".join(modules)
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s: %d node + %d pytorch-converted cases"
          % (os.path.relpath(OUT, ROOT), counts["node"], counts["pytorch-converted"]))
    if shutil.which("rustfmt"):
        subprocess.run(["rustfmt", "--edition", "2021", OUT], check=True)
        print("formatted with rustfmt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
