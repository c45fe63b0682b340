"""The Rust text: a `constnet::network! { … }` invocation with the blocks
and the network, laid out as a person would write it (four-space indents,
trailing commas, arguments only where they differ from PyTorch's defaults,
output shapes as aligned `// -> [C, H, W]` comments, lines within 100
columns). rustfmt leaves a macro's braces alone, so the layout is ours to
keep tidy; the file around it is rustfmt-clean."""

from __future__ import annotations

from .ir import Entry, GroupE, LayerE, MergeE, Shape, is_residual, walk
from .template import (BlockDecl, Const, Expr, T, TGroup, TIf, TLayer, TMerge, TResidual, TUse,
                       render, render_cond)
from .vocab import KINDS, REQUIRED, SAME_AS_KERNEL, is_default, weight_names

WIDTH = 100
INDENT = "    "
COMMENT_COLUMN = 48


def to_template(entries: list[Entry], shapes: bool = True) -> list[T]:
    """Concrete entries as printable ones, with constant arguments and (in
    a network's body) their output shapes."""
    out: list[T] = []
    for e in entries:
        shape = e.out_shape if shapes else None
        if isinstance(e, LayerE):
            changed = e.out_shape != e.in_shape
            out.append(TLayer(e.kind, e.name, {k: Const(v) for k, v in e.args.items()},
                              shape if changed else None))
        elif isinstance(e, GroupE):
            # a module's output shape is shown if it changes or it has weights
            weighted = any(isinstance(x, LayerE) and weight_names(x.kind, x.args)
                           for x in walk(e.body))
            shape = shape if weighted or e.out_shape != e.in_shape else None
            if e.block is not None:
                out.append(TUse(e.block, e.name, {k: Const(v) for k, v in e.block_args.items()},
                                shape))
            else:
                out.append(TGroup(e.name, to_template(e.body, shapes), shape))
        elif is_residual(e):
            out.append(TResidual(to_template(e.branches[0], shapes), None, shape))
        else:
            assert isinstance(e, MergeE)
            out.append(TMerge(e.kind, [to_template(b, shapes) for b in e.branches], shape))
    return out


def _shape(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _named(name: str | None, text: str) -> str:
    return f"{name}: {text}" if name else text


def layer_args(t: TLayer) -> list[str]:
    """The arguments written: leading required ones positionally, then the
    others by keyword where they differ from the default."""
    kind = KINDS[t.kind]
    written = []
    positional = True
    consts = {k: v.value for k, v in t.args.items() if isinstance(v, Const)}
    for i, p in enumerate(kind.params):
        expr = t.args.get(p.name)
        if expr is None:
            positional = False
            continue
        if isinstance(expr, Const) and p.default is not REQUIRED and p.name in consts and \
                _default_here(kind, p.name, consts, t.args):
            positional = False
            continue
        if p.default is SAME_AS_KERNEL and expr == t.args.get("kernel_size"):
            positional = False
            continue
        if positional and i < kind.positional:
            written.append(render(expr))
        else:
            positional = False
            written.append(f"{p.name} = {render(expr)}")
    return written


def _default_here(kind, name: str, consts: dict, args: dict[str, Expr]) -> bool:
    if kind.param(name).default is SAME_AS_KERNEL:
        return isinstance(args.get("kernel_size"), Const) and is_default(kind, name, consts)
    return is_default(kind, name, consts)


def use_args(t: TUse) -> list[str]:
    written = []
    for p in t.block.params:
        expr = t.args[p.name]
        if not p.has_default:
            written.append(render(expr))
        elif not (isinstance(expr, Const) and expr.value == p.default
                  and type(expr.value) is type(p.default)):
            written.append(f"{p.name} = {render(expr)}")
    return written


def _call(head: str, args: list[str], indent: str, tail: str,
          comment: str | None = None) -> list[str]:
    """`head(args)tail` on one line, or one argument per line if it does
    not fit (a shape comment may run past the width)."""
    one = f"{indent}{head}({', '.join(args)}){tail}" if args else f"{indent}{head}{tail}"
    if len(one) <= WIDTH or not args:
        return [one]
    return [f"{indent}{head}("] + [f"{indent}{INDENT}{a}," for a in args] + [f"{indent}){tail}"]


class Printer:
    def entry(self, t: T, depth: int) -> tuple[list[str], str | None]:
        """The lines of one entry (the last ending with its comma) and its
        comment."""
        ind = INDENT * depth
        comment = f"// -> {_shape(t.shape)}" if getattr(t, "shape", None) else None
        if isinstance(t, TLayer):
            return _call(_named(t.name, t.kind), layer_args(t), ind, ",", comment), comment
        if isinstance(t, TUse):
            return _call(_named(t.name, t.block.name), use_args(t), ind, ",", comment), comment
        if isinstance(t, TGroup):
            return self.braced(ind, _named(t.name, "Sequential"), t.body, depth), comment
        if isinstance(t, TResidual):
            head = "Residual" if t.when is None else f"Residual(when = {render_cond(t.when)})"
            return self.braced(ind, head, t.body, depth), comment
        if isinstance(t, TMerge):
            return [f"{ind}{t.kind} {{"] + self.branches(t.branches, depth + 1) + \
                [f"{ind}}},"], comment
        assert isinstance(t, TIf)
        return self.cond(t, depth, branch=False), None

    def braced(self, ind: str, head: str, body: list[T], depth: int) -> list[str]:
        simple = all(isinstance(b, (TLayer, TUse)) for b in body) and len(body) <= 3
        if simple:
            parts = [self.entry(b, 0)[0][0].rstrip(",") for b in body]
            one = f"{ind}{head} {{ {', '.join(parts)} }},"
            if len(one) <= WIDTH and not any(getattr(b, "shape", None) for b in body[:-1]):
                return [one] if body else [f"{ind}{head} {{}},"]
        return [f"{ind}{head} {{"] + self.sequence(body, depth + 1) + [f"{ind}}},"]

    def branches(self, branches: list, depth: int) -> list[str]:
        """The branches of `Add` or `Cat`: `{}` for the identity, one entry
        bare, several in braces, `if … else …`; the comments of one-line
        branches aligned."""
        ind = INDENT * depth
        printed: list[tuple[list[str], str | None]] = []
        for b in branches:
            if isinstance(b, TIf):
                printed.append((self.cond(b, depth, branch=True), None))
            elif not b:
                printed.append(([f"{ind}{{}},"], None))
            elif len(b) == 1 and not isinstance(b[0], TIf):
                printed.append(self.entry(b[0], depth))
            else:
                printed.append(([f"{ind}{{"] + self.sequence(b, depth + 1) + [f"{ind}}},"],
                                None))
        return self.aligned(printed)

    def cond(self, t: TIf, depth: int, branch: bool) -> list[str]:
        ind = INDENT * depth
        lines = [f"{ind}if {render_cond(t.cond)} {{"] + self.sequence(t.then, depth + 1)
        if t.otherwise is None and not branch:
            return lines + [f"{ind}}},"]
        if not t.otherwise:
            return lines + [f"{ind}}} else {{}},"]
        return lines + [f"{ind}}} else {{"] + self.sequence(t.otherwise, depth + 1) + [f"{ind}}},"]

    @staticmethod
    def attach(lines: list[str], comment: str | None, column: int | None) -> list[str]:
        if comment is None:
            return lines
        last = lines[-1]
        pad = max(column - len(last), 2) if column else 2
        return lines[:-1] + [last + " " * pad + comment]

    def sequence(self, body: list[T], depth: int) -> list[str]:
        """Entries one after the other."""
        return self.aligned([self.entry(t, depth) for t in body])

    def aligned(self, printed: list[tuple[list[str], str | None]]) -> list[str]:
        """Printed entries with their comments, those of one-line entries
        aligned (those of multi-line ones follow their closing brace)."""
        widths = [len(lines[0]) for lines, comment in printed if comment and len(lines) == 1]
        fitting = [w for w in widths if w + 2 <= COMMENT_COLUMN + 24]
        column = max(fitting, default=0) + 2
        out: list[str] = []
        for lines, comment in printed:
            out += self.attach(lines, comment, column if len(lines) == 1 else None)
        return out


def block_text(b: BlockDecl) -> list[str]:
    params = [f"{p.name} = {render(Const(p.default))}" if p.has_default else p.name
              for p in b.params]
    lines = [f"{INDENT}/// {line}" for line in b.doc.splitlines()] if b.doc else []
    lines += _call(f"block {b.name}", params, INDENT, " {") if params else \
        [f"{INDENT}block {b.name}() {{"]
    lines += Printer().sequence(b.body, 2)
    return lines + [f"{INDENT}}}"]


def declaration(name: str, doc: str, input_shape: Shape, body: list[T],
                blocks: list[BlockDecl], header: list[str]) -> str:
    """The whole file."""
    lines = [f"// {h}" if h else "//" for h in header]
    lines.append("")
    lines.append("constnet::network! {")
    for b in blocks:
        lines += block_text(b)
        lines.append("")
    lines += [f"{INDENT}/// {line}" if line else f"{INDENT}///" for line in doc.splitlines()]
    lines.append(f"{INDENT}pub struct {name} {{")
    lines.append(f"{INDENT * 2}input: {_shape(input_shape)},")
    lines += Printer().sequence(body, 2)
    lines.append(f"{INDENT}}}")
    lines.append("}")
    return "\n".join(lines) + "\n"
