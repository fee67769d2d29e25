"""The w1 flow against a density: W1 against t, the energy identity, and what Euler does near the end.

Along ``dx_i/dt = drift_i`` (the mean over particle i's Apollonius cell of the unit vectors from ``x_i``),
W1 is differentiable in the positions with ``dW1/dx_i = -a_i drift_i`` (envelope theorem on the semi-dual),
so

    d/dt W1 = -K,    K = sum_i a_i |drift_i|^2  (<= 1, since every |drift_i| <= 1).

Forward Euler makes ``(W1_{n+1} - W1_n) / h + K_n`` an O(h) residual (the second-order term of W1 along
the step); halving h halves it. W1 can never fall faster than rate 1 (``K <= 1``), and it levels off at the
quantization floor of N particles, where every particle sits at the geometric median of its cell and its
drift vanishes. Near there the drift pulls a particle toward its median with a stiffness of about one over
the cell's radius (the Hessian of ``int_L |y - x| dmu`` is ``int_L (I - u u^T) / |y - x| dmu``), so an Euler
step longer than the particle's distance to its median overshoots it: the particle steps past and the next
drift points back, and plain Euler ends up chattering around the medians. With ``clip=True`` a particle
whose step would pass its median (``targets``) is put on it instead.

:func:`w1_density_study` runs one flow and records ``t``, W1, ``K``, the identity's residual and the
overshoots (steps longer than the distance to the median).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_real
from ..measures import Density, as_cloud
from ..potentials.base import SolveError
from ..simulate import simulate


@dataclass(repr=False)
class W1DensityStudy:
    """One w1 flow against a density and its energy bookkeeping.

    Attributes
    ----------
    t, distance : recorded times and W1 (from each step's own solve)
    kinetic : ``K = sum_i a_i |drift_i|^2`` at those times
    identity_residual : ``(W1_{n+1} - W1_n) / dt + K_n`` per step: O(h) for Euler (``record_every = 1``)
    identity_max : max |identity_residual|
    identity_relative : max |identity_residual| / max K (the residual in units of the largest dissipation)
    overshoots : per step, the particles whose Euler step was longer than their distance to the median of
        their cell (``targets``); with ``clip=True`` those were put on the median
    median_distance : mean distance of the particles to their cells' medians at the recorded times
    info : n, dim, h, t_end, clip, scheme, n_solves, seconds, solver iterations and seconds per solve,
        last solver info
    """

    t: np.ndarray
    distance: np.ndarray
    kinetic: np.ndarray
    identity_residual: np.ndarray
    identity_max: float
    identity_relative: float
    overshoots: np.ndarray
    median_distance: np.ndarray
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"W1DensityStudy(N={self.info['n']}, d={self.info['dim']}, h={self.info['h']:g}, "
                f"clip={self.info['clip']}, W1 {self.distance[0]:.4g} -> {self.distance[-1]:.4g}, "
                f"identity residual max {self.identity_max:.2e} ({self.identity_relative:.2%} of max K), "
                f"{int(self.overshoots.sum())} overshoots, {self.info['seconds']:.1f} s)")


def w1_density_study(src, tgt, *, h=0.05, t_end=3.0, clip=False, rng=None, progress=False,
                     **options) -> W1DensityStudy:
    """Flow ``src`` to the density ``tgt`` with the w1 loss (semi-discrete, forward Euler) and measure W1.

    Parameters
    ----------
    src : Cloud or (N, d) array
    tgt : Density
    h, t_end : float
        Euler step and final time.
    clip : bool
        Stop every particle at the median of its cell (see the module docstring).
    rng : int or Generator
        The quadrature's randomness.
    progress : bool
    **options
        Passed to the semi-discrete solver (``n_samples``, ``epsilon``, ``tol``, ...).

    Returns
    -------
    W1DensityStudy

    Raises
    ------
    SolveError
        If a potential solve failed (the run's message says where).

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> src = 0.1 * np.random.default_rng(0).standard_normal((12, 2)) + [0.5, 0.5]
    >>> study = w1_density_study(src, of.UniformBox([0, 0], [1, 1]), h=0.05, t_end=0.2, rng=0, n_samples=4000)
    >>> bool(study.distance[-1] < study.distance[0]), bool(np.all(study.kinetic <= 1 + 1e-12))
    (True, True)
    """
    start = time.perf_counter()
    src = as_cloud(src, "src")
    if not isinstance(tgt, Density):
        raise TypeError(f"tgt: expected a Density (the study is about semi-discrete w1), got {type(tgt).__name__}")
    h = check_real(h, "h", positive=True)
    t_end = check_real(t_end, "t_end", positive=True)
    weights = src.weights
    solves = []

    def observe(pot):
        solves.append((pot.info["iterations"], pot.info["seconds"]))
        kinetic = float(np.dot(weights, np.einsum("ij,ij->i", pot.drift, pot.drift)))
        return np.concatenate([[kinetic], pot.targets.ravel()])

    run = simulate(src, tgt, loss="w1", method="semidiscrete", h=h, t_end=t_end, clip=clip, rng=rng,
                   progress=progress, observe=observe, **options)
    if not run.success:
        raise SolveError(f"the run failed: {run.message}")
    t, dist = run.t, run.distance
    kinetic = run.observed[:, 0]
    medians = run.observed[:, 1:].reshape(run.points.shape)
    gap = np.linalg.norm(medians - run.points, axis=2)
    step = h * np.linalg.norm(run.drift, axis=2)
    overshoots = np.count_nonzero(step[:-1] > gap[:-1] * (1.0 + 1e-12), axis=1)
    dt = np.diff(t)
    resid = (dist[1:] - dist[:-1]) / dt + kinetic[:-1]
    its = np.array([s[0] for s in solves])
    secs = np.array([s[1] for s in solves])
    info = {
        "n": src.n, "dim": src.dim, "h": h, "t_end": t_end, "clip": bool(clip), "scheme": run.info["scheme"],
        "n_solves": run.n_solves, "seconds": time.perf_counter() - start,
        "solver_iterations_mean": float(its.mean()), "solver_iterations_max": int(its.max()),
        "solver_seconds_mean": float(secs.mean()), "solver_seconds_max": float(secs.max()),
        "solver_info": dict(run.info["solver_info"]), "message": run.message,
    }
    return W1DensityStudy(
        t=t, distance=dist, kinetic=kinetic, identity_residual=resid, identity_max=float(np.max(np.abs(resid))),
        identity_relative=float(np.max(np.abs(resid)) / max(float(np.max(kinetic)), np.finfo(float).tiny)),
        overshoots=overshoots, median_distance=gap.mean(axis=1), info=info)
