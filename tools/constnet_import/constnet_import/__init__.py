"""constnet-import: a PyTorch `nn.Module` as a `constnet::network!`
declaration and its weights.

Purpose
    Porting a model to constnet by hand means retyping every layer of
    `forward` with its arguments, names and order. This package does it:
    it traces the module with `torch.fx`, maps modules and functional calls
    to constnet's vocabulary, recovers branches, residuals, concatenations
    and repeated blocks, and writes the declaration (`.rs`) and the
    `state_dict` under the declaration's keys (`.safetensors`). What
    constnet cannot express is reported, every problem at once, and nothing
    is written. README.md, "Porting a model", shows a run.

Versions
    Written and tested with Python 3.11, torch 2.15.0, safetensors 0.8.0
    (torchvision 0.29.2 for its models); needs torch >= 2.1 and safetensors
    and nothing else.

How to run
    python tools/torch2constnet.py tools/train_lenet.py:LeNet5 --input 1,32,32 \\
        --weights data/lenet5.safetensors -o out/lenet5
    or, after `pip install tools/constnet_import`, `torch2constnet …`; or
    from Python:
        from constnet_import import import_module, ImportFailure
        result = import_module(model, (3, 224, 224), name="ResNet18")
        result.write("resnet18.rs", "resnet18.safetensors")
    Tests: python tools/test_import.py (and tools/gen_import_tests.py
    --check for the committed round trip of tests/import/).

Modules, in pipeline order
    trace      torch.fx tracing with the vocabulary's modules as leaves,
               module calls recorded, every value's shape on example batches
    convert    each node as a layer, a merge, an identity, a shape, or a problem
    structure  the dataflow as the DSL's nesting (chains, Add/Cat/Residual,
               modules), and the names that keep the state_dict's keys
    blocks     repeated classes as blocks with parameters and conditions
    export     the keys the macro gives, the weights under them, and the
               declaration evaluated in PyTorch against the module
    emit       the Rust text (template: what it prints; vocab: the layers)
    core       the whole import; cli: the command line
"""

__version__ = "0.1.0"

from .core import Imported, import_module  # noqa: E402
from .problems import ImportFailure, Problem  # noqa: E402

__all__ = ["Imported", "ImportFailure", "Problem", "import_module", "__version__"]
