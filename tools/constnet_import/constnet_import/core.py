"""The import, end to end: trace, convert, structure, blocks, keys,
weights, check, print."""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from safetensors.torch import save_file

from . import __version__
from .blocks import make_blocks
from .convert import convert
from .emit import declaration, to_template
from .export import Weights, collect_weights, max_error, run, unclash
from .problems import ImportFailure, Problem
from .structure import Builder, name_entries
from .template import BlockDecl
from .trace import BATCHES, class_name, run_examples, trace
from .vocab import camel_case

TOLERANCE = 1e-4


@dataclass
class Imported:
    """A module as a declaration and its weights."""

    name: str
    source: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    rust: str
    weights: Weights
    blocks: list[BlockDecl]
    error: float
    """The declaration, run in PyTorch on the example batch, against the
    module's own output (largest |difference|, relative above 1)."""
    notes: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> int:
        return sum(t.numel() for k, t in self.weights.tensors.items()
                   if not k.endswith(("running_mean", "running_var")))

    def write(self, rust_path: str, weights_path: str) -> None:
        """Writes both files, or neither: each goes to a temporary file in
        its directory first, and both are renamed into place only when both
        are complete."""
        staged = []
        try:
            for path, writer in ((rust_path, self._write_rust), (weights_path, self._write_weights)):
                directory = os.path.dirname(os.path.abspath(path))
                os.makedirs(directory, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".constnet-import-", dir=directory)
                os.close(fd)
                os.chmod(tmp, 0o666 & ~_umask())
                staged.append((tmp, path))
                writer(tmp)
            for tmp, path in staged:
                os.replace(tmp, path)
        finally:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.remove(tmp)

    def _write_rust(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.rust)

    def _write_weights(self, path: str) -> None:
        save_file(self.weights.tensors, path, metadata={"source": f"constnet-import: {self.source}"})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def import_module(module: nn.Module, input_shape: tuple[int, ...], name: str | None = None,
                  doc: str | None = None, header: list[str] | None = None,
                  blocks: bool = True, source: str | None = None) -> Imported:
    """`module` (put in eval mode) as a `network!` declaration for one
    sample of shape `input_shape` (batch dimension dropped), and its
    weights under the declaration's keys. Raises `ImportFailure` listing
    every problem when the module cannot be expressed.

    `name` is the struct's (default: the class's), `doc` its doc comment,
    `header` the comment lines atop the file, `source` how the module is
    named in them and in the weights' metadata (default: its class's
    qualified name); `blocks=False` writes repeated modules out."""
    input_shape = _checked_shape(input_shape)
    module.eval()
    source = source or class_name(type(module))
    name = camel_case(name or type(module).__name__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = trace(module)
        run_examples(traced, input_shape)
        ops, problems = convert(traced)
        builder = Builder(traced, ops)
        root = builder.build()
        problems += builder.problems
        out = traced.outputs[BATCHES[1]]
        if not isinstance(out, torch.Tensor):
            problems.append(Problem("forward", f"returns a {type(out).__name__}; a constnet "
                                               "network returns one tensor"))
        if problems or root is None:
            raise ImportFailure(problems or [Problem("forward", "nothing to import")])
        body = name_entries(root.body)
        shared = unclash(body)
        if shared:
            raise ImportFailure([Problem(keys[0], f"the keys {', '.join(keys)} would name the same "
                                                  f"field `{f}` of the generated struct")
                                 for f, keys in shared.items()])
        weights = collect_weights(module, body)
        decls = make_blocks(body, {name}) if blocks else []
        x = traced.inputs[BATCHES[1]]
        with torch.no_grad():
            want = module(x)
            got = run(body, x, weights.tensors)
    if got.shape != want.shape:
        raise ImportFailure([Problem("forward", f"internal error: the declaration gives "
                                                f"{list(got.shape)}, the module {list(want.shape)}")])
    error = max_error(got, want)
    if error > TOLERANCE:
        raise ImportFailure([Problem("forward", f"the declaration read from the graph differs from "
                                                f"the module's output by {error:.3g}; the module "
                                                "may modify a tensor in place that it reads again, "
                                                "which tracing does not see")])
    output_shape = tuple(want.shape[1:])
    doc = doc or f"`{source}`, imported from PyTorch."
    header = header if header is not None else [
        f"Generated by constnet-import {__version__} from `{source}`, input "
        f"[{', '.join(map(str, input_shape))}]."]
    rust = declaration(name, doc, input_shape, to_template(body), decls, header)
    result = Imported(name, source, input_shape, output_shape, rust, weights, decls, error)
    result.notes = _notes(result, body)
    return result


def _checked_shape(shape) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ImportFailure([Problem("input", f"the example input shape {shape!r} is not a list "
                                              "of sizes; constnet needs every size fixed, "
                                              "e.g. 3,224,224")]) from None
    if not dims or any(d <= 0 for d in dims) or len(dims) not in (1, 3):
        raise ImportFailure([Problem("input", f"the example input shape {list(dims)} is not one "
                                              "sample's [C, H, W] or [N] with positive sizes "
                                              "(the batch dimension is left out)")])
    return dims


def _notes(result: Imported, body) -> list[str]:
    notes = []
    w = result.weights
    if w.renamed:
        pairs = ", ".join(f"{a} → {b}" for a, b in w.renamed[:6])
        more = f" and {len(w.renamed) - 6} more" if len(w.renamed) > 6 else ""
        notes.append(f"{len(w.renamed)} tensors are saved under the declaration's keys, not the "
                     f"state_dict's: {pairs}{more}")
    if w.unused:
        notes.append(f"not exported, as forward never reads them: {', '.join(w.unused[:8])}"
                     f"{' …' if len(w.unused) > 8 else ''}")
    if w.converted:
        notes.append(f"converted to float32: {', '.join(w.converted[:8])}")
    return notes
