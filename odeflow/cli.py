"""Public import path of :mod:`odeflow.app.cli` (the very same module object)."""

import sys

from .app import cli as _module

if __name__ == "__main__":  # python -m odeflow.cli
    raise SystemExit(_module.main())
sys.modules[__name__] = _module
