"""constnet-import: a PyTorch `nn.Module` as a `constnet::network!`
declaration and its weights (see `core.import_module` and the command line
in `cli.py`)."""

__version__ = "0.1.0"

from .core import Imported, import_module  # noqa: E402
from .problems import ImportFailure, Problem  # noqa: E402

__all__ = ["Imported", "ImportFailure", "Problem", "import_module", "__version__"]
