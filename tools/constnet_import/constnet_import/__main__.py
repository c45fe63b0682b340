"""`python -m constnet_import MODEL --input C,H,W`: see `cli.py`."""

import sys

from .cli import main

sys.exit(main())
