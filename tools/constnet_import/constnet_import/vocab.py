"""constnet's layer vocabulary in Python: each layer's PyTorch name, its
arguments in `torch.nn`'s positional order and their defaults, as
`macros/src/spec.rs` declares them; how values are canonicalised and how
they are spelled in a `network!` declaration."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

REQUIRED = object()
"""The argument has no default."""
SAME_AS_KERNEL = object()
"""A pooling stride's default: the kernel size."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class Kind:
    """One layer kind of the vocabulary."""

    name: str
    params: tuple[Param, ...]
    positional: int = 0
    """How many leading arguments are written positionally."""

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


def _p(name: str, default: Any = REQUIRED) -> Param:
    return Param(name, default)


_INPLACE = _p("inplace", False)
_BN = (_p("num_features"), _p("eps", 1e-5), _p("momentum", 0.1), _p("affine", True),
       _p("track_running_stats", True))

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("Conv2d", (_p("in_channels"), _p("out_channels"), _p("kernel_size"), _p("stride", 1),
                    _p("padding", 0), _p("dilation", 1), _p("groups", 1), _p("bias", True),
                    _p("padding_mode", "zeros")), 3),
    Kind("MaxPool2d", (_p("kernel_size"), _p("stride", SAME_AS_KERNEL), _p("padding", 0),
                       _p("dilation", 1), _p("return_indices", False), _p("ceil_mode", False)), 1),
    Kind("AvgPool2d", (_p("kernel_size"), _p("stride", SAME_AS_KERNEL), _p("padding", 0),
                       _p("ceil_mode", False), _p("count_include_pad", True),
                       _p("divisor_override", None)), 1),
    Kind("AdaptiveAvgPool2d", (_p("output_size"),), 1),
    Kind("AdaptiveMaxPool2d", (_p("output_size"), _p("return_indices", False)), 1),
    Kind("BatchNorm2d", _BN, 1),
    Kind("BatchNorm1d", _BN, 1),
    Kind("Linear", (_p("in_features"), _p("out_features"), _p("bias", True)), 2),
    Kind("ZeroPad2d", (_p("padding"),), 1),
    Kind("ConstantPad2d", (_p("padding"), _p("value")), 2),
    Kind("ReflectionPad2d", (_p("padding"),), 1),
    Kind("ReplicationPad2d", (_p("padding"),), 1),
    Kind("CircularPad2d", (_p("padding"),), 1),
    Kind("Flatten", (_p("start_dim", 1), _p("end_dim", -1))),
    Kind("Dropout", (_p("p", 0.5), _INPLACE), 1),
    Kind("Dropout2d", (_p("p", 0.5), _INPLACE), 1),
    Kind("Identity", ()),
    Kind("ReLU", (_INPLACE,)),
    Kind("ReLU6", (_INPLACE,)),
    Kind("LeakyReLU", (_p("negative_slope", 0.01), _INPLACE), 1),
    Kind("ELU", (_p("alpha", 1.0), _INPLACE)),
    Kind("SELU", (_INPLACE,)),
    Kind("GELU", (_p("approximate", "none"),)),
    Kind("SiLU", (_INPLACE,)),
    Kind("Hardswish", (_INPLACE,)),
    Kind("Hardsigmoid", (_INPLACE,)),
    Kind("Sigmoid", ()),
    Kind("Tanh", ()),
    Kind("Softmax", (_p("dim", None),)),
    Kind("LogSoftmax", (_p("dim", None),)),
]}

GROUPS = ("Sequential", "Residual", "Add", "Cat")
"""The group kinds of the DSL; no block may take these names."""

# Arguments written as an integer or an (h, w) pair: a square pair is
# written as one integer, as PyTorch's modules take it.
_PAIRS = {"kernel_size", "stride", "padding", "dilation", "output_size"}
# Padding layers take an integer or PyTorch's (left, right, top, bottom).
_QUADS = {"ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"}
_FLOATS = {"eps", "momentum", "p", "negative_slope", "alpha", "value"}


def canonical(kind: str, name: str, value: Any) -> Any:
    """The value of argument `name` of `kind` in one spelling: tuples of ints,
    a square pair or an even quad as one integer, floats as floats."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        value = tuple(int(v) for v in value)
        if name == "padding" and kind in _QUADS and len(value) == 4 and len(set(value)) == 1:
            return value[0]
        if name in _PAIRS and len(value) == 2 and value[0] == value[1]:
            return value[0]
        return value
    if name in _FLOATS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def weight_names(kind: str, args: dict[str, Any]) -> list[str]:
    """The tensors a layer reads from the state_dict, in order."""
    if kind in ("Conv2d", "Linear"):
        return ["weight", "bias"] if args["bias"] else ["weight"]
    if kind in ("BatchNorm2d", "BatchNorm1d"):
        affine = ["weight", "bias"] if args["affine"] else []
        return affine + ["running_mean", "running_var"]
    return []


def is_default(kind: Kind, name: str, args: dict[str, Any]) -> bool:
    """Whether argument `name` has its default value in `args`."""
    default = kind.param(name).default
    if default is REQUIRED:
        return False
    if default is SAME_AS_KERNEL:
        return args[name] is None or args[name] == args["kernel_size"]
    if name == "inplace":
        return True  # accepted and ignored by constnet: never written
    value = args[name]
    if isinstance(default, float) and isinstance(value, (int, float)):
        return float(value) == default
    return value == default and type(value) is type(default)


# ---------------------------------------------------------------------------
# Spelling values as Rust tokens.
# ---------------------------------------------------------------------------

def rust_float(x: float) -> str:
    """A float literal that reads back as exactly `x` (f64), in the shortest
    form: `0.2`, `1e-5`, `-0.1`."""
    text = repr(float(x))
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"{text} cannot be written in a declaration")
    m = re.fullmatch(r"(-?[0-9.]+)e([+-])0*([0-9]+)", text)
    if m:
        mantissa, sign, exp = m.groups()
        text = f"{mantissa}e{'-' if sign == '-' else ''}{exp}"
    return text


def rust_value(value: Any) -> str:
    """`value` as the DSL spells it."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return rust_float(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(rust_value(v) for v in value) + ")"
    raise TypeError(f"cannot spell {value!r} in a declaration")


_RUST_KEYWORDS = set("""as break const continue crate else enum extern false fn for if impl in
let loop match mod move mut pub ref return self Self static struct super trait true type unsafe
use where while async await dyn abstract become box do final macro override priv typeof unsized
virtual yield try gen union input""".split())


def is_rust_ident(name: str) -> bool:
    """Whether `name` can name a layer in a declaration: a plain Rust
    identifier, not a keyword (nor `input`, which opens the input line)."""
    return (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None
            and name not in _RUST_KEYWORDS and name != "_")


def camel_case(name: str) -> str:
    """`mobilenet_v2` → `MobilenetV2`, `ResNet` → `ResNet`: a type name
    without lints."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    text = "".join(p[0].upper() + p[1:] for p in parts) or "Net"
    text = re.sub(r"(?<=[0-9])_(?=[0-9])", "", text)
    if text[0].isdigit():
        text = "Net" + text
    return text
