"""The weights under the declaration's keys, and the check that the
declaration computes what the module computes.

`assign_keys` gives every entry the key the `network!` macro gives it
(macros/src/check/walk.rs: each module numbers its entries from 0, a
merge's branches count on in the module around them, a named entry's key is
its name). Where that key is not the module's own state_dict prefix (a
functional call between the children of a `ModuleList`, an attribute that
is a Rust keyword), the tensor is saved under the declaration's key and the
rename is reported.

`run` evaluates the declaration in PyTorch — each layer rebuilt from its
kind and arguments as `torch.nn.<Kind>(**args)` (the DSL's arguments are
PyTorch's) with the exported tensors — so that a mistake in reading the
graph shows as a difference from the module's own output, never as a
silently different network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import torch
import torch.nn as nn

from .ir import Entry, GroupE, LayerE, MergeE, walk
from .vocab import weight_names


@dataclass
class Weights:
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    """(state_dict key, declaration key) where they differ."""
    unused: list[str] = field(default_factory=list)
    """state_dict keys no layer reads (BatchNorm's counters excluded)."""
    converted: list[str] = field(default_factory=list)
    """Keys whose dtype was not float32."""


def assign_keys(entries: list[Entry], prefix: str = "", field: str = "",
                fields: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Sets `key` on every layer and module as the macro computes it, and
    returns the struct fields the macro derives, each with the keys that
    take it (two keys on one field would not compile)."""
    fields = {} if fields is None else fields
    counter = [0]

    def visit(items: list[Entry]) -> None:
        for e in items:
            if isinstance(e, MergeE):
                for b in e.branches:
                    visit(b)
                continue
            index = counter[0]
            counter[0] += 1
            local = e.name if e.name else str(index)
            e.key = prefix + local
            name = f"layer{index}" if not e.name and not prefix else field + local
            fields.setdefault(name, []).append(e.key)
            if isinstance(e, GroupE):
                assign_keys(e.body, e.key + ".", name + "_", fields)

    visit(entries)
    return fields


def collect_weights(module: nn.Module, entries: list[Entry]) -> Weights:
    """Every tensor the declaration reads, under its key."""
    state = module.state_dict()
    out = Weights()
    used = set()
    for e in walk(entries):
        if not isinstance(e, LayerE):
            continue
        for name in weight_names(e.kind, e.args):
            source = f"{e.path}.{name}"
            target = f"{e.key}.{name}"
            tensor = state[source]
            if tensor.dtype != torch.float32:
                out.converted.append(source)
            out.tensors[target] = tensor.detach().to(torch.float32).contiguous().clone()
            used.add(source)
            if source != target:
                out.renamed.append((source, target))
    out.unused = [k for k in state if k not in used and not k.endswith(".num_batches_tracked")]
    return out


def _module_for(e: LayerE, tensors: dict[str, torch.Tensor]) -> nn.Module:
    args = {k: v for k, v in e.args.items()}
    if e.kind in ("MaxPool2d", "AvgPool2d") and args.get("stride") is None:
        args["stride"] = args["kernel_size"]
    cls = getattr(nn, e.kind)
    m = cls(**args)
    names = weight_names(e.kind, e.args)
    if names:
        m.load_state_dict({n: tensors[f"{e.key}.{n}"] for n in names}, strict=False)
    return m.eval()


def run(entries: list[Entry], x: torch.Tensor, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """The declaration evaluated in PyTorch on the batch `x`."""
    for e in entries:
        if isinstance(e, LayerE):
            x = _module_for(e, tensors)(x)
        elif isinstance(e, GroupE):
            x = run(e.body, x, tensors)
        else:
            outs = [run(b, x, tensors) for b in e.branches]
            if e.kind == "Add":
                y = outs[0]
                for o in outs[1:]:
                    y = y + o
                x = y
            else:
                x = torch.cat(outs, 1)
    return x


def max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """The largest difference, relative above 1 (constnet's test rule)."""
    diff = (got - want).abs() / want.abs().clamp(min=1.0)
    return float(diff.max()) if diff.numel() else 0.0


def clashes(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """The fields two different keys would take."""
    return {f: keys for f, keys in fields.items() if len(set(keys)) > 1}


def _weightless(e: Entry) -> bool:
    return not any(isinstance(x, LayerE) and weight_names(x.kind, x.args)
                   for x in walk([e]))


def unclash(entries: list[Entry]) -> dict[str, list[str]]:
    """Assigns the keys; where an unnamed entry without weights would take
    the field of a named one (the second use of `self.act` is the field
    `layer2` at index 2, and so is `self.layer2`), names it (`act_2`)
    instead. Returns the clashes left, which involve weights."""
    for _ in range(100):
        shared = clashes(assign_keys(entries))
        if not shared:
            return {}
        keys = {k for ks in shared.values() for k in ks}
        fixable = [e for e in walk(entries) if isinstance(e, (LayerE, GroupE)) and not e.name
                   and e.key in keys and _weightless(e)]
        if not fixable:
            return shared
        e = fixable[0]
        base = (e.path or "").rsplit(".", 1)[-1] if e.path else e.kind.lower() \
            if isinstance(e, LayerE) else "module"
        base = base if base and not base[0].isdigit() else "layer"
        taken = {x.name for x in walk(entries) if isinstance(x, (LayerE, GroupE)) and x.name}
        k = 2
        while f"{base}_{k}" in taken:
            k += 1
        e.name = f"{base}_{k}"
    return clashes(assign_keys(entries))