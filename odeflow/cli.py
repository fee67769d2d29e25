"""Public import path of :mod:`odeflow.app.cli` (the very same module object)."""

import sys

from .app import cli as _module

sys.modules[__name__] = _module
