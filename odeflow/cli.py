"""Public import path of :mod:`odeflow.app.cli` (the very same module object); ``python -m odeflow.cli``
runs the command."""

import sys

from .app import cli as _module

if __name__ == "__main__":
    sys.exit(_module.main())

sys.modules[__name__] = _module
