"""Each node of the traced graph as what constnet makes of it: a layer of
the vocabulary (from a leaf module or a functional call), a merge (`x + y`,
`torch.cat`), an identity (`.contiguous()`, a reshape that changes
nothing), a shape computation (`x.size(0)`), or a problem saying what is
not expressible and why."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from .problems import Problem
from .trace import BATCHES, TensorValue, Traced, module_type_name
from .vocab import KINDS, REQUIRED, canonical

Layer = tuple[str, dict[str, Any]]


@dataclass
class Op:
    """What one node is. `role` is one of: input, layer (`layers` holds one
    or two layers), merge (`merge` is Add or Cat), alias (the value of
    `inputs[0]`), shape (a number computed from shapes), const (a tensor of
    the module's own), opaque (a problem, kept so that the dataflow can
    still be checked), ignore."""

    node: fx.Node
    role: str
    inputs: list[fx.Node] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    merge: str | None = None
    path: str | None = None


class _Unsupported(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Dynamic(Exception):
    def __init__(self, node: fx.Node) -> None:
        super().__init__(node.name)
        self.node = node


def scope_path(traced: Traced, n: fx.Node) -> str:
    """The module whose `forward` created `n`: its path, or `forward` for
    the top module."""
    scope = n.meta.get("constnet_scope", (0,))
    inv = traced.invocations[scope[-1]]
    return inv.path or "forward"


def op_name(n: fx.Node) -> str:
    """How a node's operation is spelled in PyTorch: `torch.mul`,
    `F.interpolate`, `Tensor.permute`, `*`."""
    if n.op == "call_method":
        return f"Tensor.{n.target}"
    if n.op == "call_module":
        return str(n.target)
    if n.op == "get_attr":
        return f"self.{n.target}"
    t = n.target
    symbols = {operator.add: "+", operator.iadd: "+=", operator.mul: "*", operator.imul: "*=",
               operator.sub: "-", operator.isub: "-=", operator.truediv: "/",
               operator.matmul: "@", operator.getitem: "[]", operator.neg: "unary -",
               operator.pow: "**"}
    if t in symbols:
        return symbols[t]
    module = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", str(t))
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return f"F.{name}"
    if module.startswith("torch") or module == "":
        return f"torch.{name}"
    return f"{module}.{name}"


# ---------------------------------------------------------------------------
# Leaf modules.
# ---------------------------------------------------------------------------

def _vocab_class(m: nn.Module) -> type | None:
    """The class of the vocabulary (or Softmax2d/Hardtanh/dropouts) that
    `m` is, by its torch.nn ancestry."""
    for cls in type(m).__mro__:
        if cls.__module__.startswith("torch.nn") and (
                cls.__name__ in KINDS or cls.__name__ in _EXTRA_MODULES):
            return cls
    return None


_EXTRA_MODULES = {"Softmax2d", "Hardtanh", "Dropout1d", "Dropout3d", "AlphaDropout",
                  "FeatureAlphaDropout"}


def module_layers(m: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[Layer]:
    """The layer(s) a leaf module is, or `_Unsupported`."""
    cls = _vocab_class(m)
    if cls is None:
        raise _Unsupported(f"{module_type_name(m)} is not in constnet's vocabulary")
    name = cls.__name__
    if name == "Softmax2d":
        return [("Softmax", {"dim": -3})]
    if name == "Hardtanh":
        if (m.min_val, m.max_val) == (0.0, 6.0):
            return [("ReLU6", {})]
        raise _Unsupported(f"nn.Hardtanh({m.min_val}, {m.max_val}): only ReLU6's (0, 6) range "
                           "is in the vocabulary")
    if name in ("Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
        return [("Dropout", {"p": float(m.p)})]
    kind = KINDS[name]
    args: dict[str, Any] = {}
    for p in kind.params:
        if p.name == "bias":
            args["bias"] = m.bias is not None
        elif p.name == "inplace":
            args["inplace"] = False
        elif hasattr(m, p.name):
            args[p.name] = getattr(m, p.name)
        else:
            args[p.name] = p.default
    return [_checked(name, args, in_shape, out_shape)]


def _checked(kind: str, args: dict[str, Any], in_shape: tuple[int, ...],
             out_shape: tuple[int, ...]) -> Layer:
    """Canonical arguments, with what the vocabulary refuses reported."""
    args = {k: canonical(kind, k, v) for k, v in args.items()}
    map_in = len(in_shape) == 3
    if args.get("return_indices"):
        raise _Unsupported(f"{kind} with return_indices=True returns two tensors")
    if kind in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d") and map_in:
        size = args["output_size"]
        hw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        hw = tuple(in_shape[1 + i] if s is None else int(s) for i, s in enumerate(hw))
        if hw[0] > in_shape[1] or hw[1] > in_shape[2]:
            raise _Unsupported(f"{kind} to {hw[0]}x{hw[1]} from a {in_shape[1]}x{in_shape[2]} "
                               "map: constnet's adaptive pools do not enlarge a map (a larger "
                               "example input may fit)")
        args["output_size"] = hw[0] if hw[0] == hw[1] else hw
    if kind in ("BatchNorm2d", "BatchNorm1d"):
        if not args["track_running_stats"]:
            raise _Unsupported(f"{kind}(track_running_stats=False) normalises with each batch's "
                               "statistics; constnet needs running statistics")
        if args["momentum"] is None:
            args["momentum"] = 0.1  # cumulative averaging: irrelevant at inference
        if kind == "BatchNorm1d" and len(in_shape) != 1:
            raise _Unsupported("BatchNorm1d on a [C, L] sequence; constnet's BatchNorm1d takes "
                               "vectors")
    if kind in ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
                "BatchNorm2d") and not map_in:
        raise _Unsupported(f"{kind} on a {len(in_shape) + 1}-dimensional input; constnet's "
                           "takes [N, C, H, W]")
    if kind == "Linear" and len(in_shape) != 1:
        raise _Unsupported(f"Linear on a {list(in_shape)} sample: constnet's Linear takes "
                           "flat vectors (flatten first)")
    if kind == "Flatten":
        if out_shape != (math.prod(in_shape),):
            raise _Unsupported(f"Flatten(start_dim={args['start_dim']}, end_dim="
                               f"{args['end_dim']}) leaves {list(out_shape)} of "
                               f"{list(in_shape)}: constnet flattens whole samples only")
        args = {"start_dim": 1, "end_dim": -1}
    if kind in ("Softmax", "LogSoftmax"):
        dim = args["dim"]
        rank = len(in_shape) + 1
        if dim is not None and (dim % rank if dim < 0 else dim) == 0:
            raise _Unsupported(f"{kind} over dimension 0, the batch")
        if dim is None and rank not in (2, 4):
            raise _Unsupported(f"{kind} with dim=None on a {rank}-dimensional input")
    if kind in ("ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d",
                "CircularPad2d"):
        pad = args["padding"]
        values = pad if isinstance(pad, tuple) else (pad,)
        if len(values) not in (1, 4):
            raise _Unsupported(f"{kind}({pad}) pads other dimensions than height and width")
        if any(v < 0 for v in values):
            raise _Unsupported(f"{kind}({pad}) crops (negative padding)")
        if not map_in:
            raise _Unsupported(f"{kind} on a {len(in_shape) + 1}-dimensional input")
    if kind in ("Dropout", "Dropout2d"):
        args["inplace"] = False
    return kind, args


# ---------------------------------------------------------------------------
# Functional calls.
# ---------------------------------------------------------------------------

def _fns(*names: str) -> list[Any]:
    """The functions named `torch.x`, `F.x`, `torch.nn.functional.x` that
    exist in this torch."""
    found = []
    for name in names:
        owner, _, attr = name.rpartition(".")
        base = {"torch": torch, "F": F, "operator": operator}[owner]
        if hasattr(base, attr):
            found.append(getattr(base, attr))
    return found


_SIMPLE = {
    "ReLU": _fns("F.relu", "F.relu_", "torch.relu", "torch.relu_"),
    "ReLU6": _fns("F.relu6"),
    "SELU": _fns("F.selu", "F.selu_", "torch.selu", "torch.selu_"),
    "SiLU": _fns("F.silu"),
    "Hardswish": _fns("F.hardswish"),
    "Hardsigmoid": _fns("F.hardsigmoid"),
    "Sigmoid": _fns("torch.sigmoid", "torch.sigmoid_", "F.sigmoid"),
    "Tanh": _fns("torch.tanh", "torch.tanh_", "F.tanh"),
}
_SIMPLE_METHODS = {"relu": "ReLU", "relu_": "ReLU", "sigmoid": "Sigmoid", "sigmoid_": "Sigmoid",
                   "tanh": "Tanh", "tanh_": "Tanh"}

# Signatures after the input, as PyTorch's functions take them.
_SIGNATURES: list[tuple[list[Any], str, list[tuple[str, Any]]]] = [
    (_fns("F.leaky_relu", "F.leaky_relu_"), "LeakyReLU",
     [("negative_slope", 0.01), ("inplace", False)]),
    (_fns("F.elu", "F.elu_"), "ELU", [("alpha", 1.0), ("inplace", False)]),
    (_fns("F.gelu"), "GELU", [("approximate", "none")]),
    (_fns("F.hardtanh", "F.hardtanh_"), "Hardtanh",
     [("min_val", -1.0), ("max_val", 1.0), ("inplace", False)]),
    (_fns("F.softmax"), "Softmax", [("dim", None), ("_stacklevel", 3), ("dtype", None)]),
    (_fns("F.log_softmax"), "LogSoftmax", [("dim", None), ("_stacklevel", 3), ("dtype", None)]),
    (_fns("torch.softmax"), "Softmax", [("dim", REQUIRED), ("dtype", None)]),
    (_fns("torch.log_softmax"), "LogSoftmax", [("dim", REQUIRED), ("dtype", None)]),
    (_fns("F.max_pool2d"), "MaxPool2d",
     [("kernel_size", REQUIRED), ("stride", None), ("padding", 0), ("dilation", 1),
      ("ceil_mode", False), ("return_indices", False)]),
    (_fns("F.avg_pool2d"), "AvgPool2d",
     [("kernel_size", REQUIRED), ("stride", None), ("padding", 0), ("ceil_mode", False),
      ("count_include_pad", True), ("divisor_override", None)]),
    (_fns("F.adaptive_avg_pool2d"), "AdaptiveAvgPool2d", [("output_size", REQUIRED)]),
    (_fns("F.adaptive_max_pool2d"), "AdaptiveMaxPool2d",
     [("output_size", REQUIRED), ("return_indices", False)]),
    (_fns("F.dropout"), "Dropout", [("p", 0.5), ("training", True), ("inplace", False)]),
    (_fns("F.dropout2d"), "Dropout2d", [("p", 0.5), ("training", True), ("inplace", False)]),
    (_fns("F.dropout1d", "F.dropout3d", "F.alpha_dropout", "F.feature_alpha_dropout"), "Dropout",
     [("p", 0.5), ("training", False), ("inplace", False)]),
    (_fns("torch.dropout"), "Dropout", [("p", REQUIRED), ("training", REQUIRED)]),
    (_fns("F.pad"), "pad", [("pad", REQUIRED), ("mode", "constant"), ("value", None)]),
    (_fns("torch.flatten"), "reshape", [("start_dim", 0), ("end_dim", -1)]),
    (_fns("torch.reshape"), "reshape", [("shape", REQUIRED)]),
    (_fns("torch.squeeze"), "reshape", [("dim", None)]),
    (_fns("torch.mean"), "mean", [("dim", None), ("keepdim", False), ("dtype", None)]),
    (_fns("torch.add"), "add", [("other", REQUIRED), ("alpha", 1)]),
    (_fns("operator.add", "operator.iadd"), "add", [("other", REQUIRED)]),
    (_fns("torch.cat", "torch.concat", "torch.concatenate"), "cat", [("dim", 0)]),
    (_fns("torch.clone"), "alias", [("memory_format", None)]),
]

_METHODS: dict[str, tuple[str, list[tuple[str, Any]]]] = {
    "softmax": ("Softmax", [("dim", REQUIRED), ("dtype", None)]),
    "log_softmax": ("LogSoftmax", [("dim", REQUIRED), ("dtype", None)]),
    "flatten": ("reshape", [("start_dim", 0), ("end_dim", -1)]),
    "view": ("reshape", []),
    "reshape": ("reshape", []),
    "squeeze": ("reshape", []),
    "mean": ("mean", [("dim", None), ("keepdim", False), ("dtype", None)]),
    "add": ("add", [("other", REQUIRED), ("alpha", 1)]),
    "add_": ("add", [("other", REQUIRED), ("alpha", 1)]),
    "contiguous": ("alias", []),
    "clone": ("alias", []),
    "detach": ("alias", []),
    "float": ("alias", []),
    "to": ("alias", []),
    "type_as": ("alias", []),
}

_EXPLAINED: list[tuple[list[Any], str]] = [
    (_fns("torch.mul", "operator.mul", "operator.imul"), "multiplication"),
    (_fns("torch.sub", "operator.sub", "operator.isub"), "subtraction"),
    (_fns("torch.div", "operator.truediv", "operator.itruediv"), "division"),
    (_fns("torch.matmul", "operator.matmul", "torch.bmm", "torch.mm"), "a matrix product"),
    (_fns("F.interpolate", "F.upsample"), "resizing (interpolation)"),
    (_fns("F.conv2d", "F.conv1d", "F.conv_transpose2d"),
     "a functional convolution: declare an nn.Conv2d so that its weights have a key"),
    (_fns("F.linear"), "a functional linear map: declare an nn.Linear so that its weights have "
                       "a key"),
    (_fns("F.batch_norm"), "a functional batch norm: declare an nn.BatchNorm2d"),
    (_fns("torch.transpose", "torch.permute"), "a transposition of dimensions"),
    (_fns("torch.chunk", "torch.split"), "a split into several tensors"),
    (_fns("torch.sum", "torch.amax", "torch.max", "torch.min"), "a reduction"),
    (_fns("F.layer_norm", "F.group_norm"), "a normalisation outside the vocabulary"),
]
_METHOD_EXPLAINED = {"mul": "multiplication", "mul_": "multiplication", "sub": "subtraction",
                     "div": "division", "permute": "a transposition of dimensions",
                     "transpose": "a transposition of dimensions",
                     "chunk": "a split into several tensors", "split": "a split into several tensors",
                     "sum": "a reduction", "max": "a reduction", "expand": "a broadcast",
                     "repeat": "a repetition", "unsqueeze": "a new dimension"}


def _is_stochastic_depth(target: Any) -> bool:
    """torchvision.ops.stochastic_depth, which tracing keeps as a call (it
    is `torch.fx.wrap`ped): the identity at inference."""
    return getattr(target, "__name__", "") == "stochastic_depth" and \
        getattr(target, "__module__", "").startswith("torchvision.ops")


def _lookup(n: fx.Node) -> tuple[str, list[tuple[str, Any]]] | None:
    if n.op == "call_function" and _is_stochastic_depth(n.target):
        return "stochastic_depth", [("p", REQUIRED), ("mode", REQUIRED), ("training", True)]
    if n.op == "call_method":
        if n.target in _SIMPLE_METHODS:
            return _SIMPLE_METHODS[n.target], []
        return _METHODS.get(n.target)
    for kind, fns in _SIMPLE.items():
        if any(n.target is f for f in fns):
            return kind, [("inplace", False)]
    for fns, kind, sig in _SIGNATURES:
        if any(n.target is f for f in fns):
            return kind, sig
    return None


def _tensors_in(value: Any) -> int:
    """How many tensors a node's value holds (a tuple of outputs)."""
    if isinstance(value, TensorValue):
        return 1
    if isinstance(value, (tuple, list)):
        return sum(_tensors_in(v) for v in value)
    if isinstance(value, dict):
        return sum(_tensors_in(v) for v in value.values())
    return 0


def _explain(n: fx.Node, tensors: int = 1) -> str:
    """Why `n` is not expressible, in a few words."""
    why = "not in constnet's vocabulary"
    if n.op == "call_method":
        why = _METHOD_EXPLAINED.get(n.target, why)
    else:
        why = next((w for fns, w in _EXPLAINED if any(n.target is f for f in fns)), why)
    arithmetic = {"multiplication": "product", "subtraction": "difference",
                  "division": "quotient"}
    if why in arithmetic:
        return (f"elementwise {arithmetic[why]} of two tensors" if tensors >= 2
                else f"{why} by a constant")
    return why


class Converter:
    """Classifies every node of `traced`; collects the problems."""

    def __init__(self, traced: Traced) -> None:
        self.traced = traced
        self.ops: dict[fx.Node, Op] = {}
        self.problems: list[Problem] = []
        self.values = traced.values[BATCHES[1]]

    # -- values -------------------------------------------------------------

    def tensor(self, n: Any) -> TensorValue | None:
        if isinstance(n, fx.Node):
            v = self.values.get(n)
            if isinstance(v, TensorValue):
                return v
        return None

    def sample(self, n: fx.Node) -> tuple[int, ...]:
        """A tensor node's shape for one sample (batch dropped)."""
        v = self.tensor(n)
        return v.shape[1:] if v is not None else ()

    def const(self, a: Any) -> Any:
        """An argument's value: literals as they are, numbers computed from
        shapes as computed (`_Dynamic` if they depend on the batch)."""
        if isinstance(a, fx.Node):
            if self.tensor(a) is not None:
                raise _Unsupported("takes a tensor where constnet needs a constant")
            runs = [self.traced.values[b].get(a) for b in BATCHES]
            if any(r != runs[0] for r in runs):
                raise _Dynamic(a)
            return runs[0]
        if isinstance(a, (tuple, list)):
            return type(a)(self.const(v) for v in a)
        if isinstance(a, dict):
            return {k: self.const(v) for k, v in a.items()}
        return a

    def where(self, n: fx.Node) -> str:
        if n.op == "call_module":
            return str(n.target)
        return scope_path(self.traced, n)

    def problem(self, n: fx.Node, what: str) -> None:
        source = n.meta.get("constnet_source")
        if source and n.op != "call_module":
            what = f"{what}, at {source}"
        self.problems.append(Problem(self.where(n), what))

    # -- nodes --------------------------------------------------------------

    def run(self) -> dict[fx.Node, Op]:
        placeholders = 0
        for n in self.traced.graph.nodes:
            op = self.node(n, placeholders)
            placeholders += n.op == "placeholder" and op.role == "input"
            self.ops[n] = op
        return self.ops

    def node(self, n: fx.Node, placeholders: int) -> Op:
        if n.op == "placeholder":
            if self.tensor(n) is None:
                return Op(n, "ignore")
            if placeholders:
                self.problem(n, f"forward takes more than one tensor (`{n.target}`); a constnet "
                                "network takes one input")
                return Op(n, "opaque")
            return Op(n, "input")
        if n.op == "output":
            return Op(n, "ignore")
        if n.op == "get_attr":
            return Op(n, "const")
        inputs = [a for a in n.all_input_nodes if self.ops[a].role != "const" and (
            self.tensor(a) is not None or self.ops[a].role == "opaque")]
        after_problem = any(self.ops[a].role == "opaque" for a in inputs)
        name = self.module_name(n) if n.op == "call_module" else op_name(n)
        if after_problem and n.target is operator.getitem:
            return Op(n, "opaque", inputs=inputs)  # one output of an op already reported
        count = _tensors_in(self.values.get(n))
        if not count:
            return Op(n, "shape", inputs=inputs)  # arithmetic on sizes: `c // groups`
        consts = [a for a in n.all_input_nodes if self.ops[a].role == "const"]
        if consts:
            self.problem(n, f"{name} with the module's own tensor `{consts[0].target}` (a "
                            "parameter or buffer used outside a layer of the vocabulary)")
            return Op(n, "opaque", inputs=inputs)
        unknown = self.unknown(n, len(inputs))
        if unknown:
            self.problem(n, f"{name} ({unknown})")
            return Op(n, "opaque", inputs=inputs)
        if self.tensor(n) is None:
            if not after_problem:
                self.problem(n, f"{name} (returns {count} tensors; a layer returns one)")
            return Op(n, "opaque", inputs=inputs)
        if after_problem or not self.batch_consistent(n, inputs):
            return Op(n, "opaque", inputs=inputs)
        try:
            return self.convert(n, inputs)
        except _Unsupported as e:
            self.problem(n, f"{name} ({e.what})")
        except _Dynamic as e:
            self.problem(n, f"{name} takes `{e.node.name}` ({op_name(e.node)}), which "
                            "depends on the batch size or on the input's values; constnet "
                            "needs constants there")
        return Op(n, "opaque", inputs=inputs)

    def unknown(self, n: fx.Node, tensors: int) -> str | None:
        """Why `n` is outside the vocabulary whatever its shapes, if it is
        (reading a shape, `x.size(0)`, is not an operation)."""
        if n.op == "call_function" and n.target in (operator.getitem, getattr) or \
                n.op == "call_method" and n.target in ("size", "dim"):
            return None
        if n.op == "call_module":
            m = self.traced.module.get_submodule(n.target)
            return None if _vocab_class(m) else "not in constnet's vocabulary"
        return None if _lookup(n) else _explain(n, tensors)

    def module_name(self, n: fx.Node) -> str:
        return module_type_name(self.traced.module.get_submodule(n.target))

    def batch_consistent(self, n: fx.Node, inputs: list[fx.Node]) -> bool:
        """Whether `n` gives each sample the same shape whatever the batch
        size; reported at the first node that does not (not at every node
        downstream of it)."""
        shapes = []
        for b in BATCHES:
            v = self.traced.values[b].get(n)
            if not isinstance(v, TensorValue) or not v.shape or v.shape[0] != b:
                shapes.append(None)
            else:
                shapes.append(v.shape[1:])
        if shapes[0] is not None and all(s == shapes[0] for s in shapes):
            return True
        if all(self.ops.get(a) is not None and self.ops[a].role != "opaque" for a in inputs):
            got = [self.traced.values[b].get(n) for b in BATCHES]
            desc = ", ".join(f"batch {b} → {list(v.shape) if isinstance(v, TensorValue) else v}"
                             for b, v in zip(BATCHES, got))
            self.problem(n, f"{op_name(n)} gives shapes that depend on the batch size ({desc}); "
                            "constnet runs one sample at a time, so every value must keep the "
                            "batch as its first dimension (e.g. `x.view(x.size(0), -1)` or "
                            "`torch.flatten(x, 1)`, not `x.view(1, -1)` or `torch.flatten(x)`)")
        return False

    def convert(self, n: fx.Node, inputs: list[fx.Node]) -> Op:
        out = self.sample(n)
        if n.op == "call_module":
            m = self.traced.module.get_submodule(n.target)
            if len(inputs) != 1:
                raise _Unsupported(f"{module_type_name(m)} called with {len(inputs)} tensors")
            layers = module_layers(m, self.sample(inputs[0]), out)
            return Op(n, "layer", inputs=inputs, layers=layers, path=str(n.target))
        found = _lookup(n)
        if found is None:
            raise _Unsupported(_explain(n, len(inputs)))
        kind, sig = found
        data = n.args[0] if n.args else n.kwargs.get("input", n.kwargs.get("tensors"))
        args = self.bind(n, sig)
        handler: Callable[..., Op] = getattr(self, f"_{kind.lower()}", None) or self._layer
        return handler(n, kind, data, args, inputs, out)

    def bind(self, n: fx.Node, sig: list[tuple[str, Any]]) -> dict[str, Any]:
        """The arguments after the input, by name, with defaults."""
        args: dict[str, Any] = {}
        rest = n.args[1:]
        for i, (name, default) in enumerate(sig):
            if i < len(rest):
                args[name] = rest[i]
            elif name in n.kwargs:
                args[name] = n.kwargs[name]
            elif default is REQUIRED:
                raise _Unsupported(f"called without `{name}`")
            else:
                args[name] = default
        args["_rest"] = rest[len(sig):]
        return args

    # -- handlers, by kind ----------------------------------------------------

    def _single(self, n: fx.Node, data: Any, inputs: list[fx.Node]) -> fx.Node:
        if not isinstance(data, fx.Node) or len(inputs) != 1:
            raise _Unsupported(f"takes {len(inputs)} tensors")
        return data

    def _layer(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        spec = KINDS[kind]
        values = {}
        for p in spec.params:
            if p.name in args and p.name != "inplace":
                values[p.name] = self.const(args[p.name])
            else:
                values[p.name] = False if p.name == "inplace" else p.default
        if kind in ("MaxPool2d", "AvgPool2d") and values["stride"] in (None, (), []):
            values["stride"] = values["kernel_size"]
        if kind in ("Softmax", "LogSoftmax") and self.const(args.get("dtype")) not in (None, torch.float32):
            raise _Unsupported(f"computes in {args['dtype']}")
        if kind in ("Dropout", "Dropout2d"):
            if self.const(args.get("training")):
                raise _Unsupported("dropout with training=True drops values at inference too")
        return Op(n, "layer", inputs=[x], layers=[_checked(kind, values, self.sample(x), out)])

    def _hardtanh(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        lo, hi = self.const(args["min_val"]), self.const(args["max_val"])
        if (lo, hi) != (0, 6):
            raise _Unsupported(f"hardtanh({lo}, {hi}): only ReLU6's (0, 6) range is in the "
                               "vocabulary")
        return Op(n, "layer", inputs=[x], layers=[("ReLU6", {"inplace": False})])

    def _pad(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        pad = tuple(int(v) for v in self.const(args["pad"]))
        mode, value = self.const(args["mode"]), self.const(args["value"])
        if len(pad) % 2 or len(pad) > 4 and any(pad[4:]):
            raise _Unsupported(f"pads {pad}: other dimensions than height and width")
        pad = (pad + (0, 0, 0, 0))[:4]
        layer = {"constant": "ZeroPad2d" if not value else "ConstantPad2d",
                 "reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d",
                 "circular": "CircularPad2d"}.get(mode)
        if layer is None:
            raise _Unsupported(f"padding mode {mode!r}")
        values: dict[str, Any] = {"padding": pad}
        if layer == "ConstantPad2d":
            values["value"] = float(value)
        return Op(n, "layer", inputs=[x], layers=[_checked(layer, values, self.sample(x), out)])

    def _reshape(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        before = self.sample(x)
        if out == before:
            return Op(n, "alias", inputs=[x])
        if out == (math.prod(before),):
            return Op(n, "layer", inputs=[x], layers=[("Flatten", {"start_dim": 1, "end_dim": -1})])
        raise _Unsupported(f"reshapes a {list(before)} sample to {list(out)}; constnet only "
                           "flattens whole samples")

    def _alias(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        v = self.tensor(n)
        if out != self.sample(x) or v is None or v.dtype != torch.float32:
            raise _Unsupported(f"changes the tensor ({list(self.sample(x))} → {list(out)}, "
                               f"{v.dtype if v else '?'})")
        return Op(n, "alias", inputs=[x])

    def _stochastic_depth(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        if self.const(args["training"]) and self.const(args["p"]) > 0:
            raise _Unsupported("stochastic depth with training=True drops samples at inference")
        return Op(n, "alias", inputs=[x])

    def _mean(self, n, kind, data, args, inputs, out) -> Op:
        x = self._single(n, data, inputs)
        dims = self.const(args["dim"])
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        rank = len(self.sample(x)) + 1
        if rank != 4 or sorted(d % 4 for d in dims) != [2, 3]:
            raise _Unsupported(f"mean over dimensions {dims}: only the global average over "
                               "height and width (dims 2, 3) is a layer (AdaptiveAvgPool2d(1))")
        layers: list[Layer] = [("AdaptiveAvgPool2d", {"output_size": 1})]
        if not self.const(args["keepdim"]):
            layers.append(("Flatten", {"start_dim": 1, "end_dim": -1}))
        return Op(n, "layer", inputs=[x], layers=layers)

    def _add(self, n, kind, data, args, inputs, out) -> Op:
        other = args["other"]
        alpha = self.const(args.get("alpha", 1))
        tensors = [a for a in (data, other) if self.tensor(a) is not None]
        if len(tensors) != 2:
            raise _Unsupported("adds a constant to a tensor (constnet adds tensors only, as "
                               "residuals or branches)")
        if alpha != 1:
            raise _Unsupported(f"adds with alpha={alpha}")
        shapes = [self.sample(t) for t in tensors]
        if shapes[0] != shapes[1]:
            raise _Unsupported(f"adds tensors of shapes {list(shapes[0])} and {list(shapes[1])} "
                               "(broadcasting)")
        return Op(n, "merge", inputs=tensors, merge="Add")

    def _cat(self, n, kind, data, args, inputs, out) -> Op:
        if not isinstance(data, (list, tuple)) or not all(self.tensor(t) for t in data):
            raise _Unsupported("concatenates something else than a list of tensors")
        dim = self.const(args["dim"])
        rank = len(out) + 1
        if dim % rank != 1:
            raise _Unsupported(f"concatenates along dimension {dim}; constnet concatenates "
                               "channels (dim=1)")
        return Op(n, "merge", inputs=list(data), merge="Cat")


def convert(traced: Traced) -> tuple[dict[fx.Node, Op], list[Problem]]:
    """Every node's `Op`, and the problems found."""
    c = Converter(traced)
    ops = c.run()
    return ops, c.problems
