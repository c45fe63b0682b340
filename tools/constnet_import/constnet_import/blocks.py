"""Repeated module classes as blocks: `block BasicBlock(inp, oup, stride =
1) { … }` written once, used as `BasicBlock(64, 128, stride = 2)`.

The instances of one class are anti-unified:

1. Alignment. Their bodies are aligned entry by entry (longest common
   subsequence on kind and name, the most alike arguments breaking ties,
   recursively into `Sequential`s and branches); an entry missing from some instances becomes optional
   (`if cond { … }`), and a `Residual` present in some instances only
   becomes `Residual(when = cond) { … }`.
2. Parameters. Every argument that differs between instances is expressed
   in parameters: the block's input and output channels (`inp`, `oup`),
   parameters already found, simple arithmetic on them (`(kernel - 1) / 2`,
   `inp * 4`), or a new parameter named after its role (`stride`,
   `kernel`, `hidden`, or the class's own constructor argument when the
   instances store it under that name).
3. Conditions. Each optional part gets the simplest condition on the
   parameters that holds exactly where it is present (`stride != 1 || inp
   != oup`, `hidden != inp`).

Every use is then checked: the block instantiated with the use's arguments
must give back the instance exactly (kinds, names, arguments). A class
that cannot be unified this way, or would need a flag parameter, stays
written out as `Sequential`s: correct, only longer.
"""

from __future__ import annotations

import inspect
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from .ir import Entry, GroupE, LayerE, is_residual, walk
from .template import (Bin, BlockDecl, BlockParam, Cmp, Cond, Const, Expr, Logic, Ref, T, TGroup,
                       TIf, TLayer, TMerge, TResidual, TUse, evaluate, holds)
from .trace import class_name
from .vocab import GROUPS, KINDS, camel_case

CHANNEL_ARGS = {"in_channels", "out_channels", "num_features", "in_features", "out_features"}
MAX_PARAMS = 8


# ---------------------------------------------------------------------------
# 1. Alignment.
# ---------------------------------------------------------------------------

@dataclass(eq=False)
class Row:
    """One entry of the block, with the instances' entries at its place."""

    sig: tuple
    members: dict[int, Entry]
    children: list[list["Row"]] = field(default_factory=list)
    lifted: set[int] | None = None
    """A `Residual(when = …)` row: the instances that have the residual
    (its `children[0]` are the body's rows)."""


def _sig(e: Entry) -> tuple:
    if isinstance(e, LayerE):
        return ("L", e.kind, e.name)
    if isinstance(e, GroupE):
        return ("B", e.block.name, e.name) if e.block is not None else ("S", e.name)
    return ("M", e.kind, len(e.branches))


def _args_similarity(a: dict[str, Any], b: dict[str, Any], channel: set[str]) -> float:
    """The share of equal arguments (channel counts aside: they differ
    between instances by design) and of argument pairs equal in one where
    they are equal in the other (a depthwise convolution's `groups ==
    in_channels`)."""
    keys = [k for k in a if k != "inplace"]
    plain = [k for k in keys if k not in channel]
    same = sum(a[k] == b.get(k) for k in plain)
    pairs = [(p, q) for i, p in enumerate(keys) for q in keys[i + 1:]
             if isinstance(a[p], int) and isinstance(a[q], int)]
    same += sum((a[p] == a[q]) == (b.get(p) == b.get(q)) for p, q in pairs)
    total = len(plain) + len(pairs)
    return same / total if total else 1.0


def similarity(a: Entry, b: Entry) -> float:
    """How alike two entries of the same kind are, in [0, 1], so that a
    depthwise convolution aligns with a depthwise one rather than with the
    expansion before it."""
    if isinstance(a, LayerE):
        return _args_similarity(a.args, b.args, CHANNEL_ARGS)
    if isinstance(a, GroupE) and a.block is not None:
        return _args_similarity(a.block_args, b.block_args, a.block.channel_params)
    xs = a.body if isinstance(a, GroupE) else [e for br in a.branches for e in br]
    ys = b.body if isinstance(b, GroupE) else [e for br in b.branches for e in br]
    pairs = [similarity(x, y) for x, y in zip(xs, ys) if _sig(x) == _sig(y)]
    return sum(pairs) / max(len(xs), len(ys), 1)


def _lcs_merge(rows: list[Row], i: int, body: list[Entry]) -> list[Row]:
    """Aligns `body` (instance `i`) with the rows so far: the most matching
    entries, the most alike ones where there is a choice."""
    n, m = len(rows), len(body)
    sigs = [_sig(e) for e in body]

    def score(a: int, b: int) -> float:
        if rows[a].sig != sigs[b]:
            return -1.0
        return 1.0 + similarity(next(iter(rows[a].members.values())), body[b]) / 2

    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            s = score(a, b)
            dp[a][b] = max(dp[a + 1][b], dp[a][b + 1], dp[a + 1][b + 1] + s if s > 0 else 0.0)
    out: list[Row] = []
    a = b = 0
    while a < n or b < m:
        s = score(a, b) if a < n and b < m else -1.0
        if s > 0 and dp[a][b] == dp[a + 1][b + 1] + s:
            rows[a].members[i] = body[b]
            out.append(rows[a])
            a, b = a + 1, b + 1
        elif a < n and (b == m or dp[a + 1][b] >= dp[a][b + 1]):
            out.append(rows[a])
            a += 1
        else:
            out.append(Row(sigs[b], {i: body[b]}))
            b += 1
    return out


def align(bodies: dict[int, list[Entry]]) -> list[Row]:
    rows: list[Row] = []
    for i, body in bodies.items():
        rows = _lcs_merge(rows, i, body)
    rows = _lift_residuals(rows, bodies)
    for r in rows:
        _expand(r)
    return rows


def _expand(r: Row) -> None:
    if r.lifted is not None or r.children:
        return
    kind = r.sig[0]
    if kind == "S":
        r.children = [align({i: e.body for i, e in r.members.items()})]
    elif kind == "M":
        width = r.sig[2]
        r.children = [align({i: e.branches[j] for i, e in r.members.items()})
                      for j in range(width)]


def _lift_residuals(rows: list[Row], bodies: dict[int, list[Entry]]) -> list[Row]:
    """A residual that only some instances have, around entries the others
    have bare, as one row `Residual(when = …)` over the shared entries."""
    for r in rows:
        if r.sig[0] != "M" or len(r.members) == len(bodies) or \
                not all(is_residual(e) for e in r.members.values()):
            continue
        with_res = set(r.members)
        marked: dict[int, set[int]] = {}
        lifted_bodies: dict[int, list[Entry]] = {}
        for i, body in bodies.items():
            out: list[Entry] = []
            for e in body:
                if i in with_res and e is r.members[i]:
                    inner = e.branches[0]
                    marked[i] = {id(x) for x in inner}
                    out.extend(inner)
                else:
                    out.append(e)
            lifted_bodies[i] = out
        again: list[Row] = []
        for i, body in lifted_bodies.items():
            again = _lcs_merge(again, i, body)
        spans = set()
        for i in with_res:
            idx = [k for k, row in enumerate(again) if id(row.members.get(i)) in marked[i]]
            if not idx or idx != list(range(idx[0], idx[-1] + 1)):
                return rows
            spans.add((idx[0], idx[-1] + 1))
        if len(spans) != 1:
            return rows
        lo, hi = spans.pop()
        inner_rows = again[lo:hi]
        for row in inner_rows:
            _expand(row)
        members = {i: e for row in inner_rows for i, e in row.members.items()}
        res = Row(("R",), members, [inner_rows], lifted=with_res)
        return _lift_residuals(again[:lo] + [res] + again[hi:], lifted_bodies)
    return rows


# ---------------------------------------------------------------------------
# 2. Parameters and 3. conditions.
# ---------------------------------------------------------------------------

@dataclass
class _Param:
    name: str
    values: list[Any]
    channel: bool


class _Solver:
    def __init__(self, n: int, inp: list[int], oup: list[int], attrs: dict[str, list[Any]]):
        self.n = n
        self.params: list[_Param] = []
        self.candidates = {"inp": inp, "oup": oup}
        self.attrs = attrs
        self.failed = False
        self.renamed: dict[str, str] = {}
        """The parameter each candidate became (`inp` → `inplanes`)."""

    # -- parameters -----------------------------------------------------------

    def _named(self, base: str, values: list[Any]) -> str:
        for attr, vals in self.attrs.items():
            if vals == values and attr not in self.names():
                return attr
        name, k = base, 2
        while name in self.names() or name in self.candidates:
            name, k = f"{base}{k}", k + 1
        return name

    def names(self) -> set[str]:
        return {p.name for p in self.params}

    def activate(self, cand: str) -> str:
        values = self.candidates.pop(cand)
        name = self._named(cand, values)
        self.params.append(_Param(name, values, True))
        self.renamed[cand] = name
        return name

    def pool(self) -> list[tuple[str, list[Any], bool]]:
        """Known values: the input and output channels (as candidates or
        as the parameters they became), then the other parameters; (name,
        values, is a candidate)."""
        renamed = self.renamed
        out = []
        for c in ("inp", "oup"):
            if c in self.candidates:
                out.append((c, self.candidates[c], True))
            elif c in renamed:
                out.append((renamed[c], next(p.values for p in self.params
                                             if p.name == renamed[c]), False))
        return out + [(p.name, p.values, False) for p in self.params
                      if p.name not in renamed.values()]

    def ref(self, name: str, is_candidate: bool) -> Ref:
        return Ref(self.activate(name) if is_candidate else name)

    def expr(self, values: list[Any], hint: str, channel: bool) -> Expr:
        present = [i for i, v in enumerate(values) if v is not None]
        got = [values[i] for i in present]
        if all(v == got[0] and type(v) is type(got[0]) for v in got):
            return Const(got[0])
        for name, vals, cand in self.pool():
            if all(vals[i] == values[i] and type(vals[i]) is type(values[i]) for i in present):
                return self.ref(name, cand)
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in got):
            found = self._arithmetic(values, present)
            if found is not None:
                return found
        filled = [v if v is not None else got[0] for v in values]
        name = self._named(hint, filled)
        self.params.append(_Param(name, filled, channel))
        return Ref(name)

    def _arithmetic(self, values: list[Any], present: list[int]) -> Expr | None:
        ints = [(n, v, c) for n, v, c in self.pool()
                if all(isinstance(v[i], int) and not isinstance(v[i], bool) and v[i] > 0
                       for i in present)]

        def fits(f) -> bool:
            return all(f(i) == values[i] for i in present)

        forms = []
        for name, v, cand in ints:
            forms.append((lambda i, v=v: (v[i] - 1) // 2 if v[i] % 2 else None,
                          name, cand, lambda r: Bin("/", Bin("-", r, Const(1)), Const(2))))
            for c in range(2, 9):
                forms.append((lambda i, v=v, c=c: v[i] * c, name, cand,
                              lambda r, c=c: Bin("*", r, Const(c))))
                forms.append((lambda i, v=v, c=c: v[i] // c if v[i] % c == 0 else None, name,
                              cand, lambda r, c=c: Bin("/", r, Const(c))))
            for c in range(1, 4):
                forms.append((lambda i, v=v, c=c: v[i] + c, name, cand,
                              lambda r, c=c: Bin("+", r, Const(c))))
                forms.append((lambda i, v=v, c=c: v[i] - c, name, cand,
                              lambda r, c=c: Bin("-", r, Const(c))))
        for f, name, cand, build in forms:
            if fits(f):
                return build(self.ref(name, cand))
        for (n1, v1, c1), (n2, v2, c2) in itertools.combinations(ints, 2):
            if fits(lambda i: v1[i] * v2[i]):
                return Bin("*", self.ref(n1, c1), self.ref(n2, c2))
        return None

    # -- conditions -----------------------------------------------------------

    def _atoms(self) -> list[tuple[Cond, list[bool], set[str]]]:
        """Comparisons between parameters and with constants, with their
        value per instance and the candidates they need."""
        pool = [(n, v, c) for n, v, c in self.pool()
                if all(isinstance(x, int) and not isinstance(x, bool) for x in v)]
        atoms = []
        for (n1, v1, c1), (n2, v2, c2) in itertools.combinations(pool, 2):
            need = {n for n, c in ((n1, c1), (n2, c2)) if c}
            for op in ("!=", "=="):
                truth = [(a != b) if op == "!=" else (a == b) for a, b in zip(v1, v2)]
                atoms.append((Cmp(op, Ref(n1), Ref(n2)), truth, need))
        for n1, v1, c1 in pool:
            need = {n1} if c1 else set()
            for c in sorted(set(v1) | {1}):
                for op in ("!=", "=="):
                    truth = [(a != c) if op == "!=" else (a == c) for a in v1]
                    atoms.append((Cmp(op, Ref(n1), Const(c)), truth, need))
        return atoms

    def cond(self, present: set[int], scope: set[int], residual: bool) -> Cond | None:
        """The simplest condition true exactly on `present` among the
        instances of `scope`."""
        want = {i: i in present for i in scope}

        def exact(truth: list[bool]) -> bool:
            return all(truth[i] == want[i] for i in scope)

        atoms = self._atoms()
        shape = self._shape_atoms(atoms, negated=residual)
        if shape:
            if residual:
                needed = [a for a in shape if all(a[1][i] for i in present)]
                truth = [all(a[1][i] for a in needed) for i in range(self.n)]
                if needed and exact(truth):
                    return self._use(needed, "&&")
            else:
                sufficient = [a for a in shape if all(not a[1][i] for i in scope - present)]
                truth = [any(a[1][i] for a in sufficient) for i in range(self.n)]
                if sufficient and exact(truth):
                    return self._use(sufficient, "||")
        for a in atoms:
            if exact(a[1]):
                return self._use([a], "&&")
        for a, b in itertools.combinations(atoms, 2):
            for op in ("&&", "||"):
                truth = [(x and y) if op == "&&" else (x or y) for x, y in zip(a[1], b[1])]
                if exact(truth):
                    return self._use([a, b], op)
        return None

    def _shape_atoms(self, atoms, negated: bool):
        """`stride != 1` and `inp != oup` (`==` for a residual's condition):
        where a shortcut's shape changes."""
        names = {p.name for p in self.params if p.name.startswith("stride")} | {"inp", "oup"}
        names |= set(self.renamed.values())
        op = "==" if negated else "!="
        stride = [a for a in atoms if isinstance(a[0], Cmp) and a[0].op == op
                  and isinstance(a[0].right, Const) and a[0].right.value == 1
                  and a[0].left.name in names and a[0].left.name.startswith("stride")]
        io = [a for a in atoms if isinstance(a[0], Cmp) and a[0].op == op
              and {getattr(a[0].left, "name", None), getattr(a[0].right, "name", None)}
              == {self._current("inp"), self._current("oup")}]
        return stride[:1] + io[:1]

    def _current(self, cand: str) -> str:
        return self.renamed.get(cand, cand)

    def _use(self, atoms, op: str) -> Cond:
        parts = []
        for cond, _, need in atoms:
            mapping = {c: self.activate(c) for c in need if c in self.candidates}
            mapping.update({c: n for c, n in self.renamed.items()})
            parts.append(_rename(cond, mapping))
        return parts[0] if len(parts) == 1 else Logic(op, tuple(parts))


def _rename(c: Cmp, mapping: dict[str, str]) -> Cmp:
    def r(e: Expr) -> Expr:
        return Ref(mapping.get(e.name, e.name)) if isinstance(e, Ref) else e
    return Cmp(c.op, r(c.left), r(c.right))


# ---------------------------------------------------------------------------
# Building the template.
# ---------------------------------------------------------------------------

class _Unify:
    def __init__(self, instances: list[GroupE]) -> None:
        self.instances = instances
        n = len(instances)
        inp = [g.in_shape[0] for g in instances]
        oup = [g.out_shape[0] for g in instances]
        self.solver = _Solver(n, inp, oup, _attributes(instances))
        self.slots: dict[tuple[int, str], Expr] = {}

    def slot_values(self, rows: list[Row], out: list, context: str | None = None) -> None:
        """Every argument of every row, in order: (row, arg, values, hint,
        channel). `context` is the name of the nearest named entry around,
        for the hints."""
        for r in rows:
            first = next(iter(r.members.values()), None)
            name = getattr(first, "name", None) or context
            if r.sig[0] in ("L", "B"):
                args = first.args if r.sig[0] == "L" else first.block_args
                for arg in args:
                    if arg == "inplace":
                        continue
                    values = [None] * len(self.instances)
                    for i, e in r.members.items():
                        values[i] = (e.args if r.sig[0] == "L" else e.block_args)[arg]
                    channel = arg in CHANNEL_ARGS or (r.sig[0] == "B" and _is_channel(first, arg))
                    out.append((r, arg, values, _hint(name, arg, channel), channel))
            for child in r.children:
                self.slot_values(child, out, name)

    def solve(self, rows: list[Row]) -> None:
        slots: list = []
        self.slot_values(rows, slots)
        order = sorted(range(len(slots)), key=lambda k: (None in slots[k][2], k))
        for k in order:
            r, arg, values, hint, channel = slots[k]
            self.slots[(id(r), arg)] = self.solver.expr(values, hint, channel)

    def build(self, rows: list[Row], scope: set[int]) -> list[T]:
        items: list[tuple[frozenset[int], T]] = []
        for r in rows:
            present = frozenset(r.members) & scope if r.lifted is None else frozenset(scope)
            items.append((present, self.row(r, present)))
        return self.conditions(items, scope)

    def conditions(self, items: list[tuple[frozenset[int], T]], scope: set[int]) -> list[T]:
        out: list[T] = []
        k = 0
        while k < len(items):
            present, t = items[k]
            if present == scope:
                out.append(t)
                k += 1
                continue
            run = [t]
            k += 1
            while k < len(items) and items[k][0] == present:
                run.append(items[k][1])
                k += 1
            other: list[T] | None = None
            if k < len(items) and items[k][0] == frozenset(scope - present):
                comp = items[k][0]
                other = []
                while k < len(items) and items[k][0] == comp:
                    other.append(items[k][1])
                    k += 1
            cond = self.solver.cond(set(present), set(scope), residual=False)
            if cond is None:
                self.solver.failed = True
                cond = Cmp("==", Const(0), Const(1))
            out.append(TIf(cond, run, other))
        return out

    def row(self, r: Row, present: frozenset[int]) -> T:
        scope = set(present)
        if r.lifted is not None:
            body = self.build(r.children[0], scope)
            if set(r.lifted) >= scope:
                return TResidual(body)
            when = self.solver.cond(set(r.lifted) & scope, scope, residual=True)
            if when is None:
                self.solver.failed = True
            return TResidual(body, when)
        first = next(iter(r.members.values()))
        if r.sig[0] == "L":
            args = {a: self.slots.get((id(r), a), Const(False)) for a in first.args}
            return TLayer(first.kind, first.name, args)
        if r.sig[0] == "B":
            args = {a: self.slots[(id(r), a)] for a in first.block_args}
            return TUse(first.block, first.name, args)
        if r.sig[0] == "S":
            return TGroup(first.name, self.build(r.children[0], scope))
        branches = []
        for child in r.children:
            built = self.build(child, scope)
            branches.append(built[0] if len(built) == 1 and isinstance(built[0], TIf) else built)
        if all(is_residual(e) for e in r.members.values()):
            return TResidual(branches[0] if isinstance(branches[0], list) else [branches[0]])
        return TMerge(r.sig[1], branches)


def _is_channel(e: GroupE, arg: str) -> bool:
    return arg in e.block.channel_params


def _hint(name: str | None, arg: str, channel: bool) -> str:
    """A new parameter's name, from the argument it first appears in:
    `stride`, `kernel`, …; a channel count after the entry it sizes
    (`squeeze_channels`), or `hidden`."""
    if channel:
        if name and not arg.startswith("in"):
            return f"{name}_channels"
        return "hidden"
    return {"kernel_size": "kernel"}.get(arg, arg)


def _attributes(instances: list[GroupE]) -> dict[str, list[Any]]:
    """The integer attributes the instances store under the names of the
    class's constructor arguments (`self.stride = stride`)."""
    cls = type(instances[0].module)
    try:
        names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        return {}
    out = {}
    for name in names:
        values = [getattr(g.module, name, None) for g in instances]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[name] = values
    return out


# ---------------------------------------------------------------------------
# Checking: the template instantiated per use gives back each instance.
# ---------------------------------------------------------------------------

def _canon(entries: list[Entry]) -> tuple:
    out = []
    for e in entries:
        if isinstance(e, LayerE):
            out.append(("L", e.kind, e.name, tuple(sorted(
                (k, v) for k, v in e.args.items() if k != "inplace"))))
        elif isinstance(e, GroupE) and e.block is not None:
            out.append(("B", e.block.name, e.name, tuple(sorted(e.block_args.items()))))
        elif isinstance(e, GroupE):
            out.append(("S", e.name, _canon(e.body)))
        else:
            out.append(("M", e.kind, tuple(_canon(b) for b in e.branches)))
    return tuple(out)


def _instantiate(ts: list[T], env: dict[str, Any]) -> tuple:
    out: list = []
    for t in ts:
        if isinstance(t, TLayer):
            out.append(("L", t.kind, t.name, tuple(sorted(
                (k, evaluate(v, env)) for k, v in t.args.items() if k != "inplace"))))
        elif isinstance(t, TUse):
            out.append(("B", t.block.name, t.name, tuple(sorted(
                (k, evaluate(v, env)) for k, v in t.args.items()))))
        elif isinstance(t, TGroup):
            out.append(("S", t.name, _instantiate(t.body, env)))
        elif isinstance(t, TResidual):
            body = _instantiate(t.body, env)
            if t.when is None or holds(t.when, env):
                out.append(("M", "Add", (body, ())))
            else:
                out.extend(body)
        elif isinstance(t, TMerge):
            out.append(("M", t.kind, tuple(
                _instantiate(b if isinstance(b, list) else [b], env) for b in t.branches)))
        else:
            chosen = t.then if holds(t.cond, env) else (t.otherwise or [])
            out.extend(_instantiate(chosen, env))
    return tuple(out)


# ---------------------------------------------------------------------------
# The pass.
# ---------------------------------------------------------------------------

def _height(g: GroupE) -> int:
    return 1 + max((_height(e) for e in walk(g.body) if isinstance(e, GroupE)), default=0)


def _unique_name(cls: type, taken: set[str]) -> str:
    base = camel_case(cls.__name__)
    if base in KINDS or base in GROUPS:
        base += "Block"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}{k}", k + 1
    return name


def make_blocks(body: list[Entry], taken: set[str] | None = None) -> list[BlockDecl]:
    """Turns the modules of every class called at least twice into uses
    of one block each, inner classes first; returns the blocks."""
    taken = set(taken or ())
    classes: dict[type, list[GroupE]] = {}
    for e in walk(body):
        if isinstance(e, GroupE) and e.module is not None and not e.synthetic \
                and type(e.module) is not nn.Sequential:
            classes.setdefault(type(e.module), []).append(e)
    order = sorted(classes, key=lambda c: max(_height(g) for g in classes[c]))
    decls = []
    for cls in order:
        instances = classes[cls]
        if len(instances) < 2:
            continue
        decl = _unify(cls, instances, _unique_name(cls, taken))
        if decl is not None:
            taken.add(decl.name)
            decls.append(decl)
    return decls


def _unify(cls: type, instances: list[GroupE], name: str) -> BlockDecl | None:
    u = _Unify(instances)
    rows = align({i: g.body for i, g in enumerate(instances)})
    u.solve(rows)
    body = u.build(rows, set(range(len(instances))))
    s = u.solver
    if s.failed or len(s.params) > MAX_PARAMS:
        return None
    params = _ordered(s)
    decl = BlockDecl(name, [], body, doc=f"`{class_name(cls)}`.")
    decl.channel_params = {p.name for p in params if p.channel}
    for p in params:
        has, default = _default(p)
        decl.params.append(BlockParam(p.name, default, has))
    uses = [{p.name: p.values[i] for p in params} for i in range(len(instances))]
    for g, env in zip(instances, uses):
        if _instantiate(body, env) != _canon(g.body):
            return None
    for g, env in zip(instances, uses):
        g.block = decl
        g.block_args = env
    return decl


def _ordered(solver: _Solver) -> list[_Param]:
    """The block's input channels first, then its output channels, the
    other channel counts, the other parameters, those with defaults last."""
    renamed = solver.renamed
    first = [renamed[c] for c in ("inp", "oup") if c in renamed]
    params = sorted(solver.params, key=lambda p: first.index(p.name) if p.name in first else 2)
    channel = [p for p in params if p.channel]
    other = [p for p in params if not p.channel]
    return channel + [p for p in other if not _default(p)[0]] + [p for p in other if _default(p)[0]]


def _default(p: _Param) -> tuple[bool, Any]:
    """Whether the parameter gets a default, and which: the value most uses
    pass, when at least two do (not for channel counts)."""
    if p.channel:
        return False, None
    counts = Counter((type(v), v) for v in p.values)
    (_, value), count = counts.most_common(1)[0]
    return count >= 2, value
