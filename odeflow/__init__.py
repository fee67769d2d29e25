"""odeflow: Wasserstein gradient-flow ODEs on particle clouds.

Every particle moves along minus the gradient of a Kantorovich potential between the current cloud
and the data law (Huang & Malik, arXiv 2406.13619; Malik & Huang, arXiv 2405.16351), computed exactly
rather than learned.

Three layers, imported one way (engine <- studies <- app):

* the engine: :mod:`odeflow.measures`, :mod:`odeflow.losses`, :mod:`odeflow.schemes`,
  :mod:`odeflow.simulate`, :mod:`odeflow.datasets` and :mod:`odeflow.potentials`;
* :mod:`odeflow.studies`: closed forms, convergence and decay studies, persistence, metrics;
* :mod:`odeflow.app`: run files, sweeps, figures, the command line.

``odeflow.theory``, ``odeflow.convergence``, ``odeflow.metrics``, ``odeflow.persistence``,
``odeflow.sweep`` and ``odeflow.plotting`` are public paths into the last two layers, imported on first
use.

>>> import odeflow as of
>>> res = of.simulate([[0.0, 0.0]], [[2.0, 0.0]], h=0.5, t_end=1.0, progress=False)
>>> res.final.points.tolist()
[[1.5, 0.0]]
"""

import importlib

from . import datasets, losses, schemes
from .losses import Loss
from .measures import Cloud, Density, Gaussian, GaussianMixture, ImageDensity, UniformBox
from .potentials import KantorovichResult, SolveError, SolveInfo, kantorovich, make_solver, wasserstein
from .simulate import SimulationResult, load, simulate

__version__ = "0.2.0"

#: Submodules loaded on first attribute access (they pull in the studies or matplotlib).
_LAZY = ("theory", "convergence", "metrics", "persistence", "approximation", "sweep", "plotting", "studies", "app")

__all__ = [
    "Cloud", "Density", "Gaussian", "GaussianMixture", "ImageDensity", "KantorovichResult", "Loss",
    "SimulationResult", "SolveError", "SolveInfo", "UniformBox", "datasets", "kantorovich", "load", "losses",
    "make_solver", "schemes", "simulate", "wasserstein", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
