#!/usr/bin/env python3
"""Writes a PyTorch nn.Module as a `constnet::network!` declaration and its
weights: the command line of the `constnet_import` package
(tools/constnet_import/), runnable from a checkout without installing it.

    python tools/torch2constnet.py tools/train_lenet.py:LeNet5 --input 1,32,32 \
        --weights data/lenet5.safetensors -o out/lenet5

Needs torch and safetensors (tested with torch 2.15.0, safetensors 0.8.0,
Python 3.11). Installed with `pip install tools/constnet_import`, the same
command is `torch2constnet …`. `--help` lists the options; README.md,
"Porting a model", shows a run.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "constnet_import"))

from constnet_import.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
