"""What the printer prints: entries whose arguments are expressions (a
constant in a network's body; arithmetic on parameters in a block's), and
the conditions of `if` and `Residual(when = …)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .ir import Shape
from .vocab import rust_value


# -- expressions --------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Bin:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"


Expr = Union[Const, Ref, Bin]

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def evaluate(e: Expr, env: dict[str, Any]) -> Any:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Ref):
        return env[e.name]
    a, b = evaluate(e.left, env), evaluate(e.right, env)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else None}[e.op]


def render(e: Expr, parent: int = 0, right: bool = False) -> str:
    if isinstance(e, Const):
        return rust_value(e.value)
    if isinstance(e, Ref):
        return e.name
    p = _PRECEDENCE[e.op]
    text = f"{render(e.left, p)} {e.op} {render(e.right, p, True)}"
    return f"({text})" if p < parent or (right and p == parent) else text


# -- conditions ---------------------------------------------------------------

@dataclass(frozen=True)
class Cmp:
    op: str  # == != <
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Logic:
    op: str  # && ||
    parts: tuple["Cond", ...]


@dataclass(frozen=True)
class Flag:
    """A boolean parameter used as the condition."""

    name: str


Cond = Union[Cmp, Logic, Flag]


def holds(c: Cond, env: dict[str, Any]) -> bool:
    if isinstance(c, Flag):
        return bool(env[c.name])
    if isinstance(c, Cmp):
        a, b = evaluate(c.left, env), evaluate(c.right, env)
        return {"==": a == b, "!=": a != b, "<": a < b}[c.op]
    results = [holds(p, env) for p in c.parts]
    return all(results) if c.op == "&&" else any(results)


def render_cond(c: Cond, parent: str = "") -> str:
    if isinstance(c, Flag):
        return c.name
    if isinstance(c, Cmp):
        return f"{render(c.left)} {c.op} {render(c.right)}"
    text = f" {c.op} ".join(render_cond(p, c.op) for p in c.parts)
    return f"({text})" if parent and parent != c.op else text


# -- entries ------------------------------------------------------------------

@dataclass
class TLayer:
    kind: str
    name: str | None
    args: dict[str, Expr]
    shape: Shape | None = None
    """The output shape, shown as a comment (network bodies only)."""


@dataclass
class TGroup:
    """`name: Sequential { … }`."""

    name: str | None
    body: list["T"]
    shape: Shape | None = None


@dataclass
class TUse:
    """The use of a block: `name: Block(args)`."""

    block: "BlockDecl"
    name: str | None
    args: dict[str, Expr]
    shape: Shape | None = None


@dataclass
class TMerge:
    """`Add { … }` or `Cat { … }`; a branch is a list of entries or a
    `TIf` with an else."""

    kind: str
    branches: list[Union[list["T"], "TIf"]]
    shape: Shape | None = None


@dataclass
class TResidual:
    """`Residual { … }`, or `Residual(when = cond) { … }`."""

    body: list["T"]
    when: Cond | None = None
    shape: Shape | None = None


@dataclass
class TIf:
    cond: Cond
    then: list["T"]
    otherwise: list["T"] | None = None


T = Union[TLayer, TGroup, TUse, TMerge, TResidual, TIf]


@dataclass
class BlockParam:
    name: str
    default: Any = None
    has_default: bool = False


@dataclass
class BlockDecl:
    name: str
    params: list[BlockParam]
    body: list[T] = field(default_factory=list)
    doc: str = ""
    channel_params: set[str] = field(default_factory=set)
    """The parameters that are channel counts (for the blocks using this
    one, which name their own parameters after them)."""
