"""Checks of the theory on top of the engine: closed forms, convergence studies, persistence, metrics.

Modules: :mod:`.theory` (closed forms), :mod:`.convergence` (references, step-size and decay studies,
fits), :mod:`.persistence` (the papers' persistent training, particle analogue), :mod:`.metrics` (the
papers' batch metric). They import the engine (``odeflow.measures``, ``odeflow.potentials``,
``odeflow.simulate``, ...) and never the application layer (``odeflow.app``).
"""
