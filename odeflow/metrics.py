"""Public import path of :mod:`odeflow.studies.metrics` (the very same module object)."""

import sys

from .studies import metrics as _module

sys.modules[__name__] = _module
