"""Public import path of :mod:`odeflow.studies.convergence` (the very same module object)."""

import sys

from .studies import convergence as _module

sys.modules[__name__] = _module
