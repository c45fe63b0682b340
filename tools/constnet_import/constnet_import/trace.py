"""Tracing: the module's `forward` as a `torch.fx` graph, with every call of
a submodule recorded (its input and output), and every node's value on
example inputs.

Why `torch.fx.symbolic_trace` and not `torch.export`: fx records the calls
as the user wrote them — `F.relu`, `torch.flatten(x, 1)`, `x + y`, and the
modules of constnet's vocabulary as single `call_module` nodes named by
their attribute path (`layer1.0.conv1`), which is the state_dict prefix —
and calling a custom module is a Python call the tracer sees, so where each
module starts and ends in the graph is known exactly. `torch.export` lowers
everything to ATen (`aten.convolution`, `aten._native_batch_norm_legit_no_
training`, `aten.add.Tensor`), keeps modules only as metadata, specialises
and decomposes, so mapping back to PyTorch's layers would mean undoing that.
What fx cannot trace — `if` on a tensor's value, loops over a tensor — is
what constnet cannot express either (one fixed graph per network), and is
reported as such.
"""

from __future__ import annotations

import inspect
import linecache
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from .problems import Problem, ImportFailure

BATCHES = (1, 2, 3)
"""The example input runs with these batch sizes: 1 checks that the input
fits, 2 and 3 (different random values) that nothing depends on the batch
size or on the values."""


@dataclass(eq=False)
class Invocation:
    """One call of a module that is traced through (not a leaf)."""

    id: int
    path: str
    module: nn.Module
    parent: int | None
    args: tuple
    kwargs: dict
    output: Any = None
    call_index: int = 0
    """How many calls of the same module came before this one."""


@dataclass
class TensorValue:
    """What a node produced: a tensor's shape and dtype."""

    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass
class Traced:
    """The traced graph, the module calls, and every node's value for each
    example batch (`values[b][node]`)."""

    module: nn.Module
    graph: fx.Graph
    invocations: list[Invocation]
    values: dict[int, dict[fx.Node, Any]] = field(default_factory=dict)
    inputs: dict[int, torch.Tensor] = field(default_factory=dict)
    outputs: dict[int, Any] = field(default_factory=dict)


def is_container(m: nn.Module) -> bool:
    return isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def is_leaf(m: nn.Module) -> bool:
    """A module traced as one node: any `torch.nn` module (or a subclass
    that keeps its `forward`) but the containers. Those of constnet's
    vocabulary become layers; the others are reported by their path."""
    if is_container(m):
        return False
    forward = getattr(type(m), "forward", None)
    return getattr(forward, "__module__", "").startswith("torch.nn.")


class _Tracer(fx.Tracer):
    """A tracer that keeps the vocabulary's modules as leaves, records
    every call of the other modules, and tags each node with the calls it
    was created in."""

    def __init__(self, root: nn.Module) -> None:
        super().__init__()
        self.invocations = [Invocation(0, "", root, None, (), {})]
        self.stack = [0]
        self.calls: dict[str, int] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)

    def call_module(self, m, forward, args, kwargs):
        if is_leaf(m):
            return super().call_module(m, forward, args, kwargs)
        path = self.path_of_module(m)
        inv = Invocation(len(self.invocations), path, m, self.stack[-1], _nodes(args),
                         _nodes(kwargs), call_index=self.calls.get(path, 0))
        self.calls[path] = inv.call_index + 1
        self.invocations.append(inv)
        self.stack.append(inv.id)
        try:
            output = super().call_module(m, forward, args, kwargs)
        finally:
            self.stack.pop()
        inv.output = _nodes(output)
        return output

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["constnet_scope"] = tuple(self.stack)
        node.meta["constnet_source"] = _source_line(traceback.extract_stack())
        return node


def _nodes(value: Any) -> Any:
    """Proxies as their graph nodes, inside containers too."""
    if isinstance(value, fx.Proxy):
        return value.node
    if isinstance(value, (tuple, list)):
        return type(value)(_nodes(v) for v in value)
    if isinstance(value, dict):
        return {k: _nodes(v) for k, v in value.items()}
    return value


def _source_line(frames) -> str:
    """`file.py:42: `<source line>`` of the innermost frame of the user's
    code (outside torch and this package), or ''."""
    frames = [f for f in frames if "/torch/" not in f.filename and "constnet_import" not in
              f.filename and not f.filename.startswith("<")]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno)).strip()
    name = os.path.basename(f.filename)
    return f"{name}:{f.lineno}: `{line}`"


def _user_frame(exc: BaseException) -> str:
    """` at file.py:42: `<source line>`` for a tracing error."""
    where = _source_line(traceback.extract_tb(exc.__traceback__))
    return f" at {where}" if where else ""


def trace(module: nn.Module) -> Traced:
    """Traces `module.forward` (in eval mode)."""
    tracer = _Tracer(module)
    try:
        graph = tracer.trace(module, concrete_args=_defaults(module))
    except Exception as e:  # noqa: BLE001 -- fx raises many kinds
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "symbolically traced variables cannot be used as inputs to control flow" in message:
            why = ("its control flow depends on the input's values or shape (an `if` or loop on a "
                   "traced tensor); constnet networks have one fixed graph")
        elif "Proxy" in message or "proxy" in message:
            why = ("it uses the input in a way tracing cannot follow "
                   f"({message}); constnet networks have one fixed graph")
        else:
            why = f"tracing failed: {type(e).__name__}: {message}"
        raise ImportFailure([Problem("forward", f"cannot be traced{_user_frame(e)}: {why}")]) from e
    root = tracer.invocations[0]
    root.args = tuple(n for n in graph.nodes if n.op == "placeholder")
    out = next(n for n in graph.nodes if n.op == "output")
    root.output = out.args[0]
    return Traced(module, graph, tracer.invocations)


def _defaults(module: nn.Module) -> dict[str, Any] | None:
    """`forward`'s arguments after the input that have defaults, as
    constants (`return_features=False` is not traced as an input)."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    fixed = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty
             and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return fixed or None


class _Recorder(fx.Interpreter):
    """Runs the graph and keeps a summary of every node's value."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}
        self.failed: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception:
            self.failed = n
            raise
        self.values[n] = summarize(result)
        return result


def summarize(value: Any) -> Any:
    """A tensor as its shape and dtype; containers of tensors likewise;
    other values as they are."""
    if isinstance(value, torch.Tensor):
        return TensorValue(tuple(value.shape), value.dtype)
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, (tuple, list)):
        return type(value)(summarize(v) for v in value)
    if isinstance(value, dict):
        return {k: summarize(v) for k, v in value.items()}
    return value


def describe_node(traced: Traced, n: fx.Node) -> str:
    """`layer1.0.conv1 (nn.Conv2d)` or `layer3.0: torch.mul`."""
    from .convert import op_name, scope_path  # noqa: PLC0415 -- avoids an import cycle
    if n.op == "call_module":
        m = traced.module.get_submodule(n.target)
        return f"`{n.target}` ({module_type_name(m)})"
    return f"{scope_path(traced, n)}: {op_name(n)}"


def class_name(t: type) -> str:
    """`nn.Conv2d`, `torchvision.models.resnet.BasicBlock`, or `Net` for a
    class of the script being run."""
    if t.__module__.startswith("torch.nn"):
        return f"nn.{t.__name__}"
    if t.__module__ in ("__main__", "builtins"):
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def module_type_name(m: nn.Module) -> str:
    return class_name(type(m))


def run_examples(traced: Traced, sample_shape: tuple[int, ...], seed: int = 0) -> None:
    """Runs the graph on random inputs of each batch size of `BATCHES`,
    recording every node's value. A failure is reported with the node."""
    gm = fx.GraphModule(traced.module, traced.graph)
    generator = torch.Generator().manual_seed(seed)
    shape_text = "[" + ", ".join(str(d) for d in sample_shape) + "]"
    for batch in BATCHES:
        x = torch.randn(batch, *sample_shape, generator=generator)
        recorder = _Recorder(gm)
        try:
            with torch.no_grad():
                out = recorder.run(x)
        except Exception as e:  # noqa: BLE001 -- the module raises what it raises
            message = (str(e).strip().splitlines() or [type(e).__name__])[0]
            at = describe_node(traced, recorder.failed) if recorder.failed is not None else "forward"
            inputs = _input_shapes(recorder, recorder.failed)
            if batch == BATCHES[0]:
                what = (f"the example input {shape_text} (one sample; batch of 1) does not fit "
                        f"the module: {at} fails{inputs}: {message}")
            else:
                what = (f"the module runs on a batch of 1 but fails on a batch of {batch}: "
                        f"{at} fails{inputs}: {message}{_first_batch_dependent(traced, recorder, batch)}; "
                        "constnet runs any number of samples one at a time, so the graph must "
                        "not depend on the batch size")
            raise ImportFailure([Problem("input", what)]) from e
        traced.values[batch] = recorder.values
        traced.inputs[batch] = x
        traced.outputs[batch] = out


def _first_batch_dependent(traced: Traced, recorder: _Recorder, batch: int) -> str:
    """Where the batch stopped being the first dimension, before the
    failure: `; the first value that depends on it: …`."""
    for n, v in recorder.values.items():
        one = traced.values[1].get(n)
        if isinstance(v, TensorValue) and isinstance(one, TensorValue) and (
                not v.shape or v.shape[0] != batch or v.shape[1:] != one.shape[1:]):
            shape = "[" + ", ".join(str(d) for d in v.shape) + "]"
            return (f"; the first value that does not keep the batch first is the output of "
                    f"{describe_node(traced, n)}, {shape} for a batch of {batch}")
    return ""


def _input_shapes(recorder: _Recorder, n: fx.Node | None) -> str:
    if n is None:
        return ""
    shapes = []
    for a in n.all_input_nodes:
        v = recorder.values.get(a)
        if isinstance(v, TensorValue):
            shapes.append("[" + ", ".join(str(d) for d in v.shape) + "]")
    return f" on {', '.join(shapes)}" if shapes else ""
