"""Quadratures of a density: randomized quasi-Monte Carlo where an inverse transform exists, else i.i.d.

A :class:`Quadrature` is ``R`` independent replicates of the same rule, each of ``n`` points per
replicate (so ``S = R n`` points in all). Every replicate integrates the density without bias; their
spread gives an honest estimate of the error of the pooled rule (:func:`replicate_error`).

Rules
-----
``"sobol"``   :class:`~odeflow.Gaussian`, :class:`~odeflow.UniformBox`, :class:`~odeflow.GaussianMixture`:
              each replicate is a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, its own scramble)
              mapped by an inverse transform: ``mean + F ndtri(u)`` (``F F^T = cov``) for a Gaussian,
              ``low + (high - low) u`` for a box; a mixture gives component ``c`` the deterministic count
              ``n_c`` (largest remainders of ``w_c n``), its own Sobol stream, and the point weight
              ``w_c / n_c``, so each component carries exactly its mass.
``"iid"``     any other density: ``density.sample`` with one random stream per replicate.

The rule for ``n`` points per replicate is a deterministic function of the seeds: a solver can rebuild any
level of a multiscale ladder. For the Sobol rules the first ``n`` points of a replicate are the same at
every ``n`` (Sobol sequences extend).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtri
from scipy.stats import qmc

from ..._checks import as_rng, check_int
from ...measures import Density, Gaussian, GaussianMixture, UniformBox

#: Smallest and largest uniform fed to the Gaussian inverse CDF (a scrambled net can come within
#: 2^-64 of the ends; ndtri(2^-40) is about -7.1, far in the tail of any quadrature of < 2^40 points).
U_CLIP = 2.0 ** -40


def rule_of(density: Density) -> str:
    """``"sobol"`` when the density has an inverse transform here, else ``"iid"``.

    >>> import odeflow as of
    >>> rule_of(of.Gaussian([0.0], [[1.0]])), rule_of(of.ImageDensity([[1.0]], (0, 1, 0, 1)))
    ('sobol', 'iid')
    """
    return "sobol" if isinstance(density, (Gaussian, UniformBox, GaussianMixture)) else "iid"


def mixture_counts(weights: np.ndarray, n: int) -> np.ndarray:
    """Deterministic component counts summing to ``n``: largest remainders of ``weights * n``.

    >>> mixture_counts(np.array([0.5, 0.3, 0.2]), 7).tolist()
    [4, 2, 1]
    """
    raw = np.asarray(weights, dtype=np.float64) * n
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _sobol(dim: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol sequence (``n`` need not be a power of two)."""
    engine = qmc.Sobol(dim, scramble=True, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance warning for n not a power of 2
        return engine.random(n)


def _gaussian(mean, factor, u):
    return mean + ndtri(np.clip(u, U_CLIP, 1.0 - U_CLIP)) @ factor.T


class Quadrature:
    """A replicated quadrature rule of a density; ``points(n)`` gives the rule with ``n`` points per replicate.

    Parameters
    ----------
    density : Density
    replicates : int
        Independent replicates ``R`` (at least 2, to estimate the error).
    rng : int or numpy.random.Generator
        Seeds the scrambles (or the i.i.d. streams), once.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> q = Quadrature(of.UniformBox([0.0, 0.0], [2.0, 1.0]), 4, rng=0)
    >>> y, w, rep = q.points(256)
    >>> y.shape, float(w.sum()), np.bincount(rep).tolist(), bool(abs(y[:, 0].mean() - 1.0) < 1e-2)
    ((1024, 2), 1.0, [256, 256, 256, 256], True)
    """

    def __init__(self, density: Density, replicates: int, rng=None):
        self.density = density
        self.replicates = check_int(replicates, "replicates", minimum=2)
        self.rule = rule_of(density)
        gen = as_rng(rng)
        parts = 1 if not isinstance(density, GaussianMixture) else density.n_components
        self._seeds = gen.integers(0, 2 ** 63 - 1, size=(self.replicates, parts))

    def points(self, n: int):
        """``(y, w, rep)``: points ``(R n, d)``, weights summing to one, replicate index of each point."""
        n = check_int(n, "n", minimum=1)
        ys, ws = [], []
        for r in range(self.replicates):
            y, w = self._replicate(r, n)
            ys.append(y)
            ws.append(w / self.replicates)
        rep = np.repeat(np.arange(self.replicates, dtype=np.int64), [y.shape[0] for y in ys])
        return np.ascontiguousarray(np.concatenate(ys)), np.concatenate(ws), rep

    def _replicate(self, r: int, n: int):
        dens, seeds = self.density, self._seeds[r]
        if isinstance(dens, Gaussian):
            return _gaussian(dens.mean, dens._factor, _sobol(dens.dim, n, int(seeds[0]))), np.full(n, 1.0 / n)
        if isinstance(dens, UniformBox):
            u = _sobol(dens.dim, n, int(seeds[0]))
            return dens.low + (dens.high - dens.low) * u, np.full(n, 1.0 / n)
        if isinstance(dens, GaussianMixture):
            counts = mixture_counts(dens.weights, n)
            ys, ws = [], []
            for c in np.flatnonzero(counts):
                u = _sobol(dens.dim, int(counts[c]), int(seeds[c]))
                ys.append(_gaussian(dens.means[c], dens._factors[c], u))
                ws.append(np.full(counts[c], dens.weights[c] / counts[c]))
            w = np.concatenate(ws)
            return np.concatenate(ys), w / w.sum()
        y = np.asarray(dens.sample(n, np.random.default_rng(int(seeds[0]))), dtype=np.float64)
        return y, np.full(n, 1.0 / n)


def replicate_error(masses: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """rms relative error of pooled cell masses against the density, estimated from replicates.

    Parameters
    ----------
    masses : (R, N) the cell masses in each replicate (each row sums to one)
    target : (N,) the masses the cells should have

    Returns
    -------
    (estimate, spread)
        ``estimate = sqrt(mean_i ((m_i - a_i)^2 + s_i^2 / R) / a_i^2)``: ``m_i`` the pooled (mean) mass,
        ``s_i^2`` the replicates' sample variance, so ``s_i^2 / R`` estimates the variance of ``m_i``
        without bias; ``spread`` is the second term alone (the pure sampling part).

    >>> m = np.array([[0.5, 0.5], [0.6, 0.4]])
    >>> [round(v, 4) for v in replicate_error(m, np.array([0.5, 0.5]))]
    [0.1414, 0.1]
    """
    R = masses.shape[0]
    pooled = masses.mean(axis=0)
    var = masses.var(axis=0, ddof=1) / R
    bias = (pooled - target) ** 2
    return (float(np.sqrt(np.mean((bias + var) / target ** 2))), float(np.sqrt(np.mean(var / target ** 2))))


class Level:
    """One rung of the sampled solver's ladder: a rule's points and weights, and every sample's candidate list
    with the bounds that certify it (state of :class:`.sampled.SampledSolver`)."""

    def __init__(self, y, w, rep, n_rep, k):
        self.y, self.w, self.rep, self.n_rep = y, w, rep, n_rep
        S = y.shape[0]
        self.S = S
        self.cand = np.full((S, k), -1, np.int32)
        self.bound = np.empty(S)  # every unlisted particle cost at least this at the sample's frame
        self.lead = np.empty(S)  # the smallest cost when the sample was last searched
        self.gapk = np.zeros(S)  # k-th minus smallest cost when last searched
        self.margin = np.zeros(S)
        self.eps = np.ones(S)
        self.best = np.zeros(S, np.int32)
        self.gap = np.zeros(S)
        self.low = np.zeros(S)
        self.frames = []  # the duals at which lists were searched since the last full search
        self.frame = np.zeros(S, np.int16)  # each sample's frame
        self.eps_cell = None
        o = w @ y
        self.centre = (o, np.sqrt(w @ (y - o) ** 2))  # mean and per-coordinate spread of the rule
        self.y32 = None  # centred single-precision points, for the scan (made on first use)
