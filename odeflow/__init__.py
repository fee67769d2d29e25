"""odeflow: Wasserstein gradient-flow ODEs on particle clouds.

Every particle moves along minus the gradient of a Kantorovich potential between the current cloud
and the data law (Huang & Malik, arXiv 2406.13619; Malik & Huang, arXiv 2405.16351), computed exactly
rather than learned.

>>> import odeflow as of
>>> res = of.simulate([[0.0, 0.0]], [[2.0, 0.0]], h=0.5, t_end=1.0, progress=False)
>>> res.final.points.tolist()
[[1.5, 0.0]]
"""

from . import datasets, losses, schemes
from . import metrics, persistence
from .losses import Loss
from .measures import Cloud, Density, Gaussian, GaussianMixture, ImageDensity, UniformBox
from .potentials import KantorovichResult, kantorovich, make_solver, wasserstein
from .simulate import SimulationResult, simulate
from . import convergence, theory

__version__ = "0.1.0"

__all__ = [
    "Cloud", "Density", "Gaussian", "GaussianMixture", "ImageDensity", "UniformBox", "KantorovichResult",
    "Loss", "SimulationResult", "datasets", "kantorovich", "losses", "make_solver", "metrics", "persistence",
    "schemes", "simulate", "wasserstein", "convergence", "theory",
]
