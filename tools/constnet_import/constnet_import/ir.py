"""The declaration being built: layers, modules (a `Sequential` or a use of
a block) and merges (`Add`, `Cat`), nested as the DSL nests them, each with
its shapes and the PyTorch module it comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import torch.nn as nn

Shape = tuple[int, ...]


@dataclass
class LayerE:
    """One layer of the vocabulary."""

    kind: str
    args: dict[str, Any]
    path: str | None = None
    """The leaf module's path (its state_dict prefix); None for a
    functional call."""
    node: str = ""
    in_shape: Shape = ()
    out_shape: Shape = ()
    repeated: bool = False
    """The module is called more than once (a weightless one, e.g. a shared
    ReLU): its uses are unnamed."""
    name: str | None = None
    key: str | None = None
    """The prefix its weights have in the declaration (set by `keys`)."""


@dataclass
class GroupE:
    """A module: the call of a traced-through module, written as
    `name: Sequential { … }` or as the use of a block."""

    path: str
    module: nn.Module | None
    body: list["Entry"]
    in_shape: Shape = ()
    out_shape: Shape = ()
    repeated: bool = False
    synthetic: bool = False
    """An uncalled container (an `nn.ModuleList` iterated in `forward`),
    grouped so that its children keep their keys."""
    name: str | None = None
    key: str | None = None
    block: Any = None
    """The block this module is a use of (set by `blocks`), with `args`."""
    block_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class MergeE:
    """`Add` or `Cat` of branches from one value; a branch is a list of
    entries, `[]` being the identity."""

    kind: str
    branches: list[list["Entry"]]
    in_shape: Shape = ()
    out_shape: Shape = ()
    node: str = ""


Entry = Union[LayerE, GroupE, MergeE]


def walk(entries: list[Entry]):
    """Every entry, depth first (group bodies and branches included)."""
    for e in entries:
        yield e
        if isinstance(e, GroupE):
            yield from walk(e.body)
        elif isinstance(e, MergeE):
            for b in e.branches:
                yield from walk(b)


def is_residual(e: Entry) -> bool:
    """`Add` of a body and the identity: `Residual { body }`."""
    return isinstance(e, MergeE) and e.kind == "Add" and len(e.branches) == 2 and \
        e.branches[1] == [] and e.branches[0] != []
