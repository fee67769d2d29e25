"""Public import path of :mod:`odeflow.studies.theory` (the very same module object)."""

import sys

from .studies import theory as _module

sys.modules[__name__] = _module
