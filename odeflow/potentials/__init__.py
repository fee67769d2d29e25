"""Kantorovich potentials between a particle cloud and a target: one entry point, several methods.

``kantorovich(src, tgt, loss, method)`` is the one-shot call; :func:`make_solver` returns the solver
object behind it, which :func:`odeflow.simulate` calls once per step (keeping warm-start state).

Methods
-------
``"exact"``         discrete target, any dimension: POT's network simplex (:mod:`.exact`); along a
                    trajectory the previous plan is reused while a dual certificate shows it optimal
                    (:mod:`.warm`)
``"onedim"``        discrete target, d = 1: sorting (:mod:`.onedim`)
``"semidiscrete"``  density target: w2 Laguerre cells, exact in 2-D for boxes, images and Gaussians and
                    for 3-D boxes, sampled otherwise; w1 Apollonius cells on a quadrature, any density
                    (:mod:`.semidiscrete`)
``"entropic"``      discrete target: entropic OT (log-domain Sinkhorn, epsilon-scaling), optionally
                    debiased (the Sinkhorn divergence) (:mod:`.entropic`)
``"auto"``          ``"onedim"`` for d = 1 clouds, ``"exact"`` for other clouds, and the density method
                    for density targets when one is registered
"""

from .base import COMMON_KEYS, STATUSES, KantorovichResult, PotentialSolver, SolveError, SolveInfo
from .dispatch import METHODS, kantorovich, make_solver, wasserstein
from .entropic import EntropicSolver
from .exact import ExactSolver
from .onedim import OnedimSolver
from .semidiscrete import SemidiscreteSolver

__all__ = [
    "COMMON_KEYS", "METHODS", "STATUSES", "EntropicSolver", "ExactSolver", "KantorovichResult", "OnedimSolver", "PotentialSolver",
    "SemidiscreteSolver", "SolveError", "SolveInfo", "kantorovich", "make_solver", "wasserstein",
]
