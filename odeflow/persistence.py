"""Public import path of :mod:`odeflow.studies.persistence` (the very same module object)."""

import sys

from .studies import persistence as _module

sys.modules[__name__] = _module
