"""From the traced dataflow graph to the DSL's nesting.

The DSL expresses series-parallel graphs: a chain of layers; where a value
is used more than once, parallel branches from it that meet again at one
`x + y` or `torch.cat` (`Add`, `Cat`, `Residual`). Modules nest: each call
of a traced-through module is one entry (a `Sequential`, or a block), its
body the graph between the call's input and output.

`Builder.seq(start, end, call)` walks from value `start` to value `end`
inside one module call: one consumer is the next entry (a layer, or a
child module's whole call); several consumers are a fork, whose branches
run to the first node every path from the fork passes through (its
immediate post-dominator), which must be a merge in the same module with
one input per branch. Whatever does not fit is a problem naming the node.
Then the entries are named: a leaf module by its attribute (`conv1`), a
child of an `nn.Sequential` by its index (unnamed), a functional call
unnamed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch.fx as fx

from .convert import Op, op_name, scope_path
from .ir import Entry, GroupE, LayerE, MergeE, Shape
from .problems import Problem
from .trace import Invocation, TensorValue, Traced, module_type_name
from .vocab import is_rust_ident


class Builder:
    def __init__(self, traced: Traced, ops: dict[fx.Node, Op]) -> None:
        self.traced = traced
        self.ops = ops
        self.problems: list[Problem] = []
        self.order = {n: i for i, n in enumerate(traced.graph.nodes)}
        self.values = traced.values[2]
        self.srcs: dict[fx.Node, list[fx.Node]] = {}
        self.consumers: dict[fx.Node, list[fx.Node]] = defaultdict(list)
        for n, op in ops.items():
            if op.role in ("layer", "merge", "opaque"):
                self.srcs[n] = [self.src(a) for a in op.inputs]
                for s in dict.fromkeys(self.srcs[n]):
                    self.consumers[s].append(n)
        self.calls: dict[str, int] = defaultdict(int)
        for n in traced.graph.nodes:
            if n.op == "call_module":
                self.calls[str(n.target)] += 1
        for inv in traced.invocations[1:]:
            self.calls[inv.path] += 1
        self.io: dict[int, tuple[fx.Node, fx.Node] | None] = {}
        self.opaque = {n for n, op in ops.items() if op.role == "opaque"}

    def report(self, where: str, what: str, nodes) -> None:
        """A problem of the dataflow, unless it involves a node already
        reported as not expressible (then it is a consequence)."""
        if not self.opaque.intersection(nodes):
            self.problems.append(Problem(where, what))

    # -- the graph ----------------------------------------------------------

    def src(self, n: fx.Node) -> fx.Node:
        """The value `n` stands for, through identities."""
        while self.ops[n].role == "alias":
            n = self.ops[n].inputs[0]
        return n

    def sample(self, n: fx.Node) -> Shape:
        v = self.values.get(n)
        return v.shape[1:] if isinstance(v, TensorValue) else ()

    def descendants(self, n: fx.Node) -> set[fx.Node]:
        seen: set[fx.Node] = set()
        todo = [n]
        while todo:
            for c in self.consumers.get(todo.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return seen

    def ancestors(self, n: fx.Node) -> set[fx.Node]:
        seen = {n}
        todo = [n]
        while todo:
            for s in self.srcs.get(todo.pop(), ()):
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen

    def between(self, a: fx.Node, b: fx.Node) -> set[fx.Node]:
        """The nodes on paths from `a` to `b`: `b` included, `a` not."""
        if a is b:
            return set()
        return self.descendants(a) & self.ancestors(b)

    def join(self, cur: fx.Node, region: set[fx.Node]) -> fx.Node:
        """The first node after `cur` that every path from `cur` to the
        region's end passes through, by counting paths."""
        nodes = sorted(region, key=self.order.__getitem__)
        end = nodes[-1]
        forward = {cur: 1}
        for x in nodes:
            forward[x] = sum(forward.get(s, 0) for s in self.srcs[x])
        backward = {end: 1}
        for x in reversed(nodes[:-1]):
            backward[x] = sum(backward.get(c, 0) * self.srcs[c].count(x)
                              for c in self.consumers[x] if c in region)
        total = forward[end]
        return next(x for x in nodes if forward[x] * backward.get(x, 0) == total)

    # -- module calls ---------------------------------------------------------

    def call_io(self, inv: Invocation) -> tuple[fx.Node, fx.Node] | None:
        """A module call's one tensor input and one tensor output, or None
        after reporting why it has not."""
        if inv.id in self.io:
            return self.io[inv.id]
        where = inv.path or "forward"
        tensors = [a for a in _flatten((inv.args, inv.kwargs))
                   if isinstance(a, fx.Node) and isinstance(self.values.get(a), TensorValue)]
        outputs = [a for a in _flatten(inv.output) if isinstance(a, fx.Node)]
        result = None
        if len(tensors) != 1:
            self.problems.append(Problem(where, f"{module_type_name(inv.module)} is called with "
                                                f"{len(tensors)} tensors; a module takes one"))
        elif not isinstance(inv.output, fx.Node) or not isinstance(
                self.values.get(inv.output), TensorValue):
            kind = type(inv.output).__name__ if not isinstance(inv.output, fx.Node) else "value"
            self.problems.append(Problem(where, f"{module_type_name(inv.module)} returns a {kind}"
                                                f"{f' of {len(outputs)} tensors' if outputs else ''}"
                                                "; a module returns one tensor"))
        else:
            result = (self.src(tensors[0]), self.src(inv.output))
        self.io[inv.id] = result
        return result

    def unit(self, n: fx.Node, inv: Invocation) -> Any:
        """What `n` is one step below `inv`: itself if `inv`'s forward made
        it, else the call of `inv`'s child module it is inside of."""
        scope = n.meta.get("constnet_scope", (0,))
        if inv.id not in scope:
            return None
        i = scope.index(inv.id)
        return n if i == len(scope) - 1 else self.traced.invocations[scope[i + 1]]

    def where(self, n: fx.Node) -> str:
        return str(n.target) if n.op == "call_module" else scope_path(self.traced, n)

    # -- the walk -------------------------------------------------------------

    def module(self, inv: Invocation) -> GroupE | None:
        io = self.call_io(inv)
        if io is None:
            return None
        start, end = io
        body = self.seq(start, end, inv)
        return GroupE(path=inv.path, module=inv.module, body=body, in_shape=self.sample(start),
                      out_shape=self.sample(end), repeated=self.calls[inv.path] > 1)

    def seq(self, start: fx.Node, end: fx.Node, inv: Invocation) -> list[Entry]:
        """The entries from value `start` to value `end` in `inv`'s forward."""
        region = self.between(start, end)
        entries: list[Entry] = []
        cur = start
        while cur is not end:
            units = list(dict.fromkeys(
                u for u in (self.unit(c, inv) for c in self.consumers[cur] if c in region)))
            if not units or any(u is None for u in units):
                self.report(inv.path or "forward", "its dataflow leaves the module (a value it "
                                                   "makes is used by another module)",
                            region | {cur})
                return entries
            u = units[0]
            if len(units) == 1 and isinstance(u, Invocation):
                group = self.module(u)
                io = self.io.get(u.id)
                if group is None or io is None:
                    return entries
                if io[0] is not cur:
                    self.problems.append(Problem(u.path, "is called on a value that is not the "
                                                         "one flowing into it"))
                    return entries
                entries.append(group)
                cur = io[1]
                continue
            if len(units) == 1 and len(self.srcs[u]) == 1:
                entries.extend(self.layers(u))
                cur = u
                continue
            nxt = self.fork(cur, region, inv)
            if nxt is None:
                return entries
            entries.append(nxt[0])
            cur = nxt[1]
        return entries

    def layers(self, n: fx.Node) -> list[LayerE]:
        op = self.ops[n]
        src = self.srcs[n][0]
        if op.role == "opaque":
            return [LayerE("?", {}, node=n.name, in_shape=self.sample(src),
                           out_shape=self.sample(n))]
        path = op.path
        if path is not None and self.calls[path] > 1:
            m = self.traced.module.get_submodule(path)
            if any(True for _ in m.parameters()):
                self.problems.append(Problem(path, f"{module_type_name(m)} is called "
                                                   f"{self.calls[path]} times (shared weights); "
                                                   "each constnet layer owns its weights"))
        out = []
        shape = self.sample(src)
        for i, (kind, args) in enumerate(op.layers):
            last = i == len(op.layers) - 1
            after = self.sample(n) if last else _pooled(shape, kind)
            out.append(LayerE(kind, dict(args), path=path if i == 0 else None, node=n.name,
                              in_shape=shape, out_shape=after,
                              repeated=path is not None and self.calls[path] > 1))
            shape = after
        return out

    def fork(self, cur: fx.Node, region: set[fx.Node], inv: Invocation):
        """The merge where the branches from `cur` meet, and its node."""
        sub = {x for x in region if x in self.descendants(cur)}
        join = self.join(cur, sub)
        op = self.ops[join]
        if self.unit(join, inv) is not join or op.role not in ("merge", "opaque"):
            self.report(self.where(join), f"the value of `{cur.name}` is used by several "
                                          f"operations that do not meet again at one `+` or "
                                          f"`torch.cat` in `{inv.path or 'forward'}`, which "
                                          "constnet cannot express", sub | {cur})
            return None
        branches: list[list[Entry]] = []
        covered: set[fx.Node] = set()
        ok = True
        for s in self.srcs[join]:
            if s is cur:
                branches.append([])
                continue
            if s not in sub and s is not cur:
                self.report(self.where(join), f"{op_name(join)} joins `{s.name}`, which does "
                                              f"not come from `{cur.name}` like its other "
                                              "inputs; constnet's branches all start from one "
                                              "value", sub | {cur, s})
                ok = False
                continue
            part = self.between(cur, s)
            if part & covered:
                shared = sorted(part & covered, key=self.order.__getitem__)[0]
                self.report(self.where(join), f"the inputs of {op_name(join)} share "
                                              f"`{shared.name}` ({op_name(shared)}); constnet's "
                                              "branches are independent", sub | {cur})
                ok = False
            covered |= part
            branches.append(self.seq(cur, s, inv))
        if not ok:
            return None
        kind = op.merge or "?"
        branches = _flatten_merges(kind, branches)
        merge = MergeE(kind, branches, in_shape=self.sample(cur), out_shape=self.sample(join),
                       node=join.name)
        return merge, join

    def build(self) -> GroupE | None:
        return self.module(self.traced.invocations[0])


def _pooled(shape: Shape, kind: str) -> Shape:
    """The shape after the first of two layers one call makes (the global
    pool of `x.mean((2, 3))`)."""
    return (shape[0], 1, 1) if kind == "AdaptiveAvgPool2d" else shape


def _flatten(x: Any):
    if isinstance(x, (tuple, list)):
        for v in x:
            yield from _flatten(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _flatten(v)
    else:
        yield x


def _flatten_merges(kind: str, branches: list[list[Entry]]) -> list[list[Entry]]:
    """`Cat { Cat { a, b }, c }` as `Cat { a, b, c }` (the same for `Add`)
    where an inner merge is a whole branch. `Add` of two with the identity
    first is written with the identity last (the same sum)."""
    out: list[list[Entry]] = []
    for b in branches:
        if len(b) == 1 and isinstance(b[0], MergeE) and b[0].kind == kind and kind != "?":
            out.extend(b[0].branches)
        else:
            out.append(b)
    if kind == "Add" and len(out) == 2 and out[0] == [] and out[1] != []:
        out = [out[1], out[0]]
    return out


# ---------------------------------------------------------------------------
# Names.
# ---------------------------------------------------------------------------

def _relative(path: str | None, scope: str) -> str | None:
    if path is None:
        return None
    if not scope:
        return path
    return path[len(scope) + 1:] if path.startswith(scope + ".") else None


def _head(e: Entry, scope: str) -> str | None:
    """The container `e` belongs to under `scope` without being called
    (`layers` of `layers.0`), if any."""
    if isinstance(e, (LayerE, GroupE)) and not e.repeated:
        rel = _relative(e.path, scope)
        if rel and "." in rel:
            return rel.split(".", 1)[0]
    return None


def _heads(entries: list[Entry], scope: str) -> dict[str, int]:
    """How many entries of each uncalled container there are in `scope`'s
    own entries (branches included, child modules not)."""
    counts: dict[str, int] = {}
    for e in entries:
        if isinstance(e, MergeE):
            for b in e.branches:
                for head, n in _heads(b, scope).items():
                    counts[head] = counts.get(head, 0) + n
        else:
            head = _head(e, scope)
            if head is not None:
                counts[head] = counts.get(head, 0) + 1
    return counts


def _group_uncalled(entries: list[Entry], scope: str, counts: dict[str, int]) -> list[Entry]:
    """A run of entries from one uncalled container (`for layer in
    self.layers`) as a `layers: Sequential { … }` of its own, so that their
    keys stay `layers.0.weight`, …, when the run holds all of the
    container's entries (`counts`); otherwise they are left alone (named
    `layers_0` by `name_entries`)."""
    out: list[Entry] = []
    i = 0
    while i < len(entries):
        head = _head(entries[i], scope)
        if head is None:
            out.append(entries[i])
            i += 1
            continue
        last = i
        for j in range(i + 1, len(entries)):
            h = _head(entries[j], scope)
            if h == head:
                last = j
            elif h is not None or _relative(getattr(entries[j], "path", None), scope):
                break
        body = entries[i:last + 1]
        if sum(_head(e, scope) == head for e in body) < counts.get(head, 0):
            out.append(entries[i])
            i += 1
            continue
        path = f"{scope}.{head}" if scope else head
        out.append(GroupE(path=path, module=None, body=body, in_shape=body[0].in_shape,
                          out_shape=body[-1].out_shape, synthetic=True))
        i = last + 1
    return out


def name_entries(entries: list[Entry], scope: str = "") -> list[Entry]:
    """Names every entry of module `scope`: its attribute, or nothing (a
    `Sequential`'s index, a functional call, a module used twice); an
    entry of an uncalled container in another module's forward (a
    `ModuleList`) is grouped or named `layers_0`."""
    return _name(entries, scope, set(), _heads(entries, scope))


def _name(entries: list[Entry], scope: str, taken: set[str], counts: dict[str, int]
          ) -> list[Entry]:
    entries = _group_uncalled(entries, scope, counts)
    for e in entries:
        if isinstance(e, MergeE):
            e.branches = [_name(b, scope, taken, counts) for b in e.branches]
            continue
        rel = None if e.repeated else _relative(e.path, scope)
        if rel and not rel.isdigit():
            rel = rel.replace(".", "_")
            if is_rust_ident(rel) and rel not in taken:
                e.name = rel
                taken.add(rel)
        if isinstance(e, GroupE):
            e.body = name_entries(e.body, e.path)
    return entries
