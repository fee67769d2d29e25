"""Semi-discrete optimal transport on a quadrature of the density: any dimension, any sampler.

The density is replaced by ``S`` i.i.d. samples ``y_s`` (drawn once per solver, from its ``rng``), and
the cells by soft Laguerre cells: sample ``s`` goes to particle ``i`` with probability
``p_si`` proportional to ``exp((psi_i - |y_s - x_i|^2/2) / eps)``. The duals maximise the smoothed
semi-dual

    F_eps(psi) = sum_i a_i psi_i - eps / S sum_s log sum_i exp((psi_i - |y_s - x_i|^2 / 2) / eps),

concave and smooth, with gradient ``a_i - G_i`` (``G_i = sum_s p_si / S``, the soft cell masses) and
Hessian ``-(1 / (eps S)) sum_s (diag(p_s) - p_s p_s^T)``, a graph Laplacian. We maximise it by damped
Newton (Armijo backtracking on ``F_eps``) with annealing, ``eps = 64, 16, 4, 1`` times the final value
from a cold start and the final value alone from a warm start.

Sparsity, never an ``N x S`` array. Each sample keeps only its ``neighbours`` (default 8) best
particles, found as the nearest neighbours of ``(y_s, 0)`` among the lifted points
``(x_i, sqrt(max(2 psi) - 2 psi_i))`` (docs/theory.rst §1) with :class:`scipy.spatial.cKDTree`. The
lists are refreshed whenever ``psi`` moved by more than ``eps`` and always at the end, and the final
masses are recomputed on fresh lists. The Newton matrix keeps, per sample, the pairs (best particle,
other candidate): ``sum_{l<m} p_l p_m (e_l - e_m)(e_l - e_m)^T`` minus its pairs between two non-best
candidates, a Laplacian that is smaller in the Loewner order; the Armijo search makes up for it.
Memory is ``O(S k)``: about 0.2 GB for ``N = 10^4``, ``S = 10^6``, ``k = 8`` in 2-D.

Smoothing. Sample ``s`` is smoothed at ``eps_s = epsilon * l_i^2``, ``i`` its nearest particle and
``l_i^2`` that particle's mean squared distance to its 4 nearest particles divided by 2.5 (about the
squared distance to the nearest one, smoothed) (default ``epsilon = 0.05``;
fixed for the whole solve; a per-sample temperature keeps ``F_eps`` concave with the same gradient and
Hessian formulas, ``eps`` moving inside the sum). Cells are blurred over a band of about ``eps_s / l_i = 0.05 l_i``, far below the sampling
noise of a cell with ``S a_i`` samples, in the dense core and in the sparse tails alike.

Accuracy as a function of S. ``tol`` bounds the error of the soft cell masses *on the quadrature*.
Against the density itself each cell's mass carries the quadrature's relative error, about
``1 / sqrt(S a_i)`` (a binomial count), and each centroid an error of about ``r_i / sqrt(S a_i)``, ``r_i``
the cell's radius; so the drift of the flow is accurate to ``O(S^{-1/2})`` and 100 samples per particle
give cell masses within about 10 %, centroids within about 10 % of a cell radius.
``info["quadrature_error"]`` reports ``1 / sqrt(S min_i a_i)``; ``benchmarks/semidiscrete.py``
measures the error against the exact 2-D solution for several S.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.spatial import cKDTree

from ..._checks import check_int, check_real
from .quadrature_kernels import (candidate_costs, soft_cell_variance, soft_cells, soft_hessian_matvec, soft_objective,
                       star_pattern)

DEFAULT_EPSILON = 0.05
DEFAULT_NEIGHBOURS = 8
#: Default quadrature size: this many samples per particle, and at least MIN_SAMPLES.
SAMPLES_PER_PARTICLE = 100
MIN_SAMPLES = 10_000
#: Annealing factors of a cold start (relative to the final eps).
ANNEALING = (64.0, 16.0, 4.0, 1.0)
#: Tolerance and iteration cap of the intermediate annealing levels (a warm-up: the truncated lists
#: are coarse there, so they are not solved to the end).
LEVEL_TOL = 1e-2
LEVEL_MAX_ITER = 20
ARMIJO = 1e-4
MAX_HALVINGS = 40
REGULARISATION = 1e-12
#: Largest change of any dual in one Newton step, in units of eps (a trust region: the candidate
#: lists stay meaningful, and a particle the lists starve cannot run off).
TRUST = 30.0
#: Conjugate-gradient iterations per Newton step (preconditioner: the star Laplacian's LU).
CG_MAX_ITER = 50
QUERY_CHUNK = 200_000
#: The local squared spacing of a particle is its mean squared distance to this many nearest particles.
LOCAL_NEIGHBOURS = 4


class SoftCells:
    """Soft cells of the quadrature at one ``psi``."""

    __slots__ = ("mass", "moment", "cost", "smooth", "star", "tail")

    def __init__(self, mass, moment, cost, smooth, star, tail):
        self.mass, self.moment, self.cost, self.smooth, self.star, self.tail = mass, moment, cost, smooth, star, tail


class QuadratureSolver:
    """Sampled-path solver for one density; keeps its quadrature across calls.

    Parameters
    ----------
    density : Density
    rng : numpy.random.Generator
    n_samples : int, optional
        Quadrature size ``S``; default ``max(10^4, 100 N)`` fixed at the first call.
    epsilon : float, optional
        Final smoothing relative to the particles' squared spacing (default 0.05).
    neighbours : int, optional
        Candidate particles kept per sample (default 8, at least 2).

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> q = QuadratureSolver(of.UniformBox([0.0], [1.0]), np.random.default_rng(0), n_samples=2000)
    >>> psi, mass, cen, cost, info = q.solve(np.array([[0.1], [0.2]]), np.array([0.5, 0.5]), 1e-6, 50)
    >>> info["status"], bool(abs(cen[0, 0] - 0.25) < 0.02 and abs(cen[1, 0] - 0.75) < 0.02)
    ('optimal', True)
    """

    def __init__(self, density, rng, n_samples=None, epsilon=None, neighbours=None):
        self.density = density
        self.rng = rng
        self.n_samples = None if n_samples is None else check_int(n_samples, "n_samples", minimum=2)
        self.epsilon = DEFAULT_EPSILON if epsilon is None else check_real(epsilon, "epsilon", positive=True)
        self.k = DEFAULT_NEIGHBOURS if neighbours is None else check_int(neighbours, "neighbours", minimum=2)
        self.samples = None
        self._sample_tree = None

    # -- quadrature ----------------------------------------------------------------------------------
    def quadrature(self, n_particles: int) -> np.ndarray:
        """The fixed samples ``(S, d)``, drawn at the first call."""
        if self.samples is None:
            S = self.n_samples or max(MIN_SAMPLES, SAMPLES_PER_PARTICLE * n_particles)
            self.samples = np.ascontiguousarray(self.density.sample(S, self.rng))
            self.samples.setflags(write=False)
        return self.samples

    # -- candidate lists -----------------------------------------------------------------------------
    def _candidates(self, x, psi, k):
        """The ``k`` best particles of every sample for ``psi`` (nearest lifted points)."""
        y = self.samples
        lift = np.sqrt(np.maximum(np.max(2.0 * psi) - 2.0 * psi, 0.0))
        tree = cKDTree(np.column_stack([x, lift]))
        cand = np.empty((y.shape[0], k), dtype=np.int32)
        for start in range(0, y.shape[0], QUERY_CHUNK):
            chunk = y[start:start + QUERY_CHUNK]
            q = np.column_stack([chunk, np.zeros(chunk.shape[0])])
            _, idx = tree.query(q, k=k, workers=-1)
            cand[start:start + QUERY_CHUNK] = idx.reshape(chunk.shape[0], k)
        return cand

    def _rescue(self, x, psi, cand):
        """Raise the duals of particles no sample lists, until each ties for its nearest sample."""
        present = np.bincount(cand.ravel(), minlength=x.shape[0]) > 0
        lost = np.flatnonzero(~present)
        if lost.size == 0:
            return psi, 0
        if self._sample_tree is None:
            self._sample_tree = cKDTree(self.samples)
        _, near = self._sample_tree.query(x[lost], k=1)
        y = self.samples[near]
        best = cand[near, 0]
        c_best = 0.5 * np.sum((y - x[best]) ** 2, axis=1) - psi[best]
        psi = psi.copy()
        psi[lost] = 0.5 * np.sum((y - x[lost]) ** 2, axis=1) - c_best
        return psi, int(lost.size)

    # -- one annealing level -------------------------------------------------------------------------
    def _lists(self, x, psi, k, n, stats):
        """Candidate lists at ``psi`` (after rescuing starved particles), their costs and star pattern."""
        cand = self._candidates(x, psi, k)
        psi, rescued = self._rescue(x, psi, cand)
        if rescued:
            stats["rescued"] += rescued
            cand = self._candidates(x, psi, k)
        stats["refreshes"] += 1
        return psi, cand, candidate_costs(self.samples, x, cand)

    def _level(self, x, a, psi, site_eps, eps, tol, max_iter, stats, final):
        """Damped Newton at one smoothing level. Every candidate list is computed at the point where it
        is used (the trial points of the line search included), so the objective is always the smoothed
        semi-dual on the current best particles of each sample."""
        n = x.shape[0]
        k = min(self.k, n)
        y = self.samples
        prob = np.empty((y.shape[0], k))
        psi, cand, cost = self._lists(x, psi, k, n, stats)
        it = 0
        while True:
            indptr, indices, slot = star_pattern(cand, n)
            cells = SoftCells(*soft_cells(y, psi, cand, cost, eps, slot, indices.shape[0], n, prob))
            err = float(np.max(np.abs(cells.mass - a) / a))
            self._final = (cand, prob)  # the lists and probabilities of `cells` (for the cell variance)
            if err <= tol:
                return psi, cells, err, "optimal"
            if it >= max_iter:
                return psi, cells, err, "max_iter_reached"
            it += 1
            stats["iterations"] += 1
            grad = a - cells.mass
            d = self._direction(cells, indices, indptr, prob, cand, eps, grad, stats)
            reach = float(np.max(np.abs(d - a @ d) / site_eps))
            tau = min(1.0, TRUST / reach) if reach > 0 else 1.0
            value = float(a @ psi) - cells.smooth
            slope = float(grad @ d)
            for _ in range(MAX_HALVINGS):
                trial = psi + tau * d
                trial = trial - float(a @ trial)
                trial, t_cand, t_cost = self._lists(x, trial, k, n, stats)
                if float(a @ trial) - soft_objective(trial, t_cand, t_cost, eps) >= value + ARMIJO * tau * slope:
                    break
                tau *= 0.5
            else:
                return psi, cells, err, "stalled"
            psi, cand, cost = trial, t_cand, t_cost

    def _direction(self, cells, indices, indptr, prob, cand, eps, grad, stats):
        """Newton direction: CG on the Hessian of the lists, preconditioned by the star Laplacian."""
        n = grad.shape[0]
        W = sp.csr_array((cells.star, indices, indptr), shape=(n, n))
        W = W + W.T
        H = sp.diags_array(np.asarray(W.sum(axis=1)).ravel()) - W
        delta = REGULARISATION * max(float(H.diagonal().max()), np.finfo(float).tiny)
        lu = spla.splu((H + delta * sp.eye_array(n)).tocsc(), permc_spec="MMD_AT_PLUS_A",
                       diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        A = spla.LinearOperator((n, n), dtype=np.float64,
                                matvec=lambda v: soft_hessian_matvec(prob, cand, np.ascontiguousarray(v).ravel(),
                                                                     eps)
                                + delta * np.ravel(v))
        M = spla.LinearOperator((n, n), dtype=np.float64, matvec=lu.solve)
        count = [0]

        def tick(_):
            count[0] += 1

        d, _ = spla.cg(A, grad, rtol=1e-6, atol=0.0, maxiter=CG_MAX_ITER, M=M, callback=tick)
        stats["cg_iterations"] = stats.get("cg_iterations", 0) + count[0]
        return d

    def solve(self, x, a, tol, max_iter, psi0=None):
        """Duals, soft masses, centroids, cost and info for particles ``x`` with weights ``a``.

        ``cost`` is ``sum_i sum_s p_si |y_s - x_i|^2 / (2 S)``, the transport cost of the soft cells, and
        ``info["cell_variance"]`` is ``sum_s p_si |y_s - T_i|^2 / S`` per cell (``T_i`` the centroid): with the
        soft masses ``m_i``, ``2 cost = sum_i m_i |x_i - T_i|^2 + sum_i cell_variance_i`` exactly.
        """
        n = x.shape[0]
        y = self.quadrature(n)
        if n == 1:
            mass = np.ones(1)
            cen = y.mean(axis=0)[None, :]
            cost = float(0.5 * np.mean(np.sum((y - x[0]) ** 2, axis=1)))
            info = {"status": "optimal", "iterations": 0, "max_mass_error": 0.0,
                    "cell_variance": np.array([float(np.mean(np.sum((y - cen[0]) ** 2, axis=1)))])}
            return np.zeros(1), mass, cen, cost, self._info(info, a, 0.0, 0.0, 0.0, {"refreshes": 0, "rescued": 0})
        shift, stretch = self._fit(x)
        z = shift + stretch * x  # the particles moved onto the samples' location and spread
        site_tree = cKDTree(z)
        m = min(LOCAL_NEIGHBOURS, n - 1)
        dist = site_tree.query(z, k=m + 1)[0][:, 1:]
        # local squared spacing: for uniform points in 2-D, E|d_k|^2 = k E|d_1|^2, so this is about E|d_1|^2
        spacing2 = np.mean(dist.reshape(n, m) ** 2, axis=1) / (0.5 * (m + 1))
        scale = float(np.median(spacing2))
        # a band of width w around a facet between x_i and x_j costs |x_i - x_j| w in the cell test:
        # eps = epsilon * (particle spacing) * (cell spacing) = epsilon * spacing2 / stretch
        eps_final = self.epsilon * spacing2 / stretch
        nearest = np.empty(y.shape[0], dtype=np.int64)
        for start in range(0, y.shape[0], QUERY_CHUNK):
            nearest[start:start + QUERY_CHUNK] = site_tree.query(y[start:start + QUERY_CHUNK], k=1, workers=-1)[1]
        sample_eps = eps_final[nearest]
        del nearest
        stats = {"iterations": 0, "refreshes": 0, "rescued": 0}
        status = None
        if psi0 is not None:
            psi, cells, err, status = self._level(x, a, psi0, eps_final, sample_eps, tol, max_iter, stats, True)
            if status != "optimal":
                stats["warm_failed"] = True
            start = "warm"
        if status != "optimal":
            start = "cold"
            psi = self._fit_start(x)
            for factor in ANNEALING:
                last = factor == ANNEALING[-1]
                psi, cells, err, status = self._level(x, a, psi, factor * eps_final, factor * sample_eps,
                                                      tol if last else max(tol, LEVEL_TOL),
                                                      max_iter if last else min(max_iter, LEVEL_MAX_ITER), stats, last)
        mass = cells.mass
        cen = x.copy()
        ok = mass > 0
        cen[ok] = cells.moment[ok] / mass[ok, None]
        cand, prob = self._final
        self._final = None
        info = {"status": status, "iterations": stats["iterations"], "max_mass_error": err, "start": start,
                "cell_variance": soft_cell_variance(y, cand, prob, cen)}
        return psi, mass, cen, float(cells.cost.sum()), self._info(info, a, float(np.median(eps_final)), scale,
                                                                   cells.tail, stats)

    def _fit(self, x):
        """``(b, s)`` of the map ``z = b + s x`` matching the particles' mean and root-mean-square spread to
        the samples'."""
        y = self.samples
        mx, my = x.mean(axis=0), y.mean(axis=0)
        sx = np.sqrt(np.mean(np.sum((x - mx) ** 2, axis=1)))
        sy = np.sqrt(np.mean(np.sum((y - my) ** 2, axis=1)))
        s = sy / sx if sx > 0 else 1.0
        return my - s * mx, s

    def _fit_start(self, x):
        """Duals whose hard cells are the Voronoi cells of the particles mapped by :meth:`_fit`.

        See :meth:`odeflow.potentials.laguerre2d.PowerDiagram2D.fit_start` for the formula.
        """
        b, s = self._fit(x)
        psi = 0.5 * (1.0 - s) * np.sum(x * x, axis=1) - x @ b
        return psi - psi.mean()

    def _info(self, info, a, eps, scale, tail, stats):
        info.update({
            "n_samples": int(self.samples.shape[0]),
            "neighbours": self.k,
            "epsilon": eps,
            "spacing2": scale,
            "truncation": float(tail),
            "refreshes": stats["refreshes"],
            "rescued": stats["rescued"],
            "quadrature_error": float(1.0 / np.sqrt(self.samples.shape[0] * float(np.min(a)))),
        })
        return info
