"""Public import path of :mod:`odeflow.studies.approximation` (the very same module object)."""

import sys

from .studies import approximation as _module

sys.modules[__name__] = _module
