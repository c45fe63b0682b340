"""The command line: `torch2constnet MODEL --input C,H,W [-o PREFIX]`.

MODEL is `path/to/file.py:Factory` or `package.module:Factory`: a class or
function that returns the `nn.Module` (called without arguments, or with
`--kwargs '{"num_classes": 10}'`); `--weights` loads a state_dict into it
first (safetensors, or a `torch.save`d dict). Writes `PREFIX.rs` (the
declaration) and `PREFIX.safetensors` (the weights, under the
declaration's keys), or nothing: a module that cannot be expressed is
reported on stderr, every problem at once, with exit code 1 (2 for a
usage error).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

import torch
import torch.nn as nn

from . import __version__
from .core import Imported, import_module
from .problems import ImportFailure
from .vocab import camel_case


class UsageError(Exception):
    pass


def load_factory(spec: str):
    """The object `spec` names: `file.py:Name` or `module:Name`."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(f"MODEL must be `path/to/file.py:Name` or `package.module:Name`, "
                         f"not {spec!r}")
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise UsageError(f"no such file: {where}")
        directory = os.path.dirname(os.path.abspath(where))
        sys.path.insert(0, directory)
        name = os.path.splitext(os.path.basename(where))[0]
        module_spec = importlib.util.spec_from_file_location(name, where)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise UsageError(f"cannot import {where}: {e}") from e
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{where} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_weights(model: nn.Module, path: str) -> None:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UsageError(f"{path} does not fit the module: {str(e).strip()}") from e


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.replace("[", "").replace("]", "").split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--input takes sizes separated by commas (3,224,224), not {text!r}; "
                         "constnet needs every size fixed") from None


def describe(result: Imported, rust_path: str, weights_path: str) -> str:
    w = result.weights
    size = sum(t.numel() * 4 for t in w.tensors.values())
    shape = ", ".join(map(str, result.input_shape))
    out = ", ".join(map(str, result.output_shape))
    lines = [
        f"{result.name} ({result.source}): [{shape}] -> [{out}], {result.parameters:,} parameters"
        + (f", blocks: {', '.join(b.name for b in result.blocks)}" if result.blocks else ""),
        f"  wrote {rust_path} (the declaration) and {weights_path} "
        f"({len(w.tensors)} tensors, {size:,} bytes of weights)",
        f"  checked: the declaration, run in PyTorch on the example input, is within "
        f"{result.error:.1e} of the module's output",
    ]
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="torch2constnet",
        description="Writes a PyTorch nn.Module as a constnet::network! declaration (.rs) and "
                    "its weights (.safetensors).")
    parser.add_argument("model", help="path/to/file.py:Factory or package.module:Factory")
    parser.add_argument("--input", required=True, help="one sample's shape, e.g. 3,224,224")
    parser.add_argument("--name", help="the Rust struct's name (default: the class's)")
    parser.add_argument("--weights", help="a state_dict to load first (.safetensors or .pt)")
    parser.add_argument("--kwargs", default="{}", help="the factory's arguments, as JSON")
    parser.add_argument("-o", "--output", help="output prefix (default: the name in snake case)")
    parser.add_argument("--no-blocks", action="store_true",
                        help="write repeated modules out instead of declaring blocks")
    parser.add_argument("--version", action="version", version=f"constnet-import {__version__}")
    args = parser.parse_args(argv)
    try:
        shape = parse_shape(args.input)
        factory = load_factory(args.model)
        try:
            kwargs = json.loads(args.kwargs)
        except json.JSONDecodeError as e:
            raise UsageError(f"--kwargs is not JSON: {e}") from e
        model = factory(**kwargs)
        if not isinstance(model, nn.Module):
            raise UsageError(f"{args.model} returned a {type(model).__name__}, not an nn.Module")
        if args.weights:
            load_weights(model, args.weights)
        name = args.name or camel_case(type(model).__name__)
        result = import_module(model, shape, name=name, blocks=not args.no_blocks)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportFailure as e:
        print(e.report(), file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
    prefix = args.output or _snake(result.name)
    rust_path, weights_path = f"{prefix}.rs", f"{prefix}.safetensors"
    result.write(rust_path, weights_path)
    print(describe(result, rust_path, weights_path))
    return 0


def _snake(name: str) -> str:
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


if __name__ == "__main__":
    sys.exit(main())
