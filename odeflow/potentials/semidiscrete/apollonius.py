"""Semi-discrete w1 potentials: additively weighted (Apollonius) cells on a quadrature, any dimension.

The problem. Particles ``x_i`` with weights ``a_i`` against a density ``mu``: find duals ``psi`` such that
every cell

    L_i = {y : |y - x_i| - psi_i <= |y - x_k| - psi_k for all k}

holds the mass ``a_i``. The boundaries are hyperbola branches (sheets of hyperboloids in higher dimension).
The duals maximise the concave semi-dual ``F(psi) = sum_i a_i psi_i + int min_i (|y - x_i| - psi_i) dmu(y)``,
whose maximum is ``W1``. Every particle lies in its own cell once all cells are non-empty (a non-empty
cell forces ``|psi_i - psi_k| <= |x_i - x_k|``), and each cell is star-shaped around its particle.

What is returned. ``drift_i = (1 / m_i) int_{L_i} (y - x_i) / |y - x_i| dmu(y)``, the mean over the cell of
the unit vectors from the particle (``m_i`` the cell's mass, ``a_i`` to ``tol``): a mean of unit vectors,
so ``|drift_i| <= 1``, with equality only when the whole cell lies on one ray from ``x_i``. It is
``-(1/a_i) dW1/dx_i``, so along the flow ``dx_i/dt = drift_i``, ``d/dt W1 = -sum_i a_i |drift_i|^2``.
``cost`` is W1 and ``targets`` the cells' geometric medians, ``argmin_z int_{L_i} |y - z| dmu``: the point
where the cell, held fixed, would pull the particle to rest (the drift vanishes there). It plays the role
of the discrete w1 target: a particle matched to one point of a cloud has that point as its cell's median,
and ``clip=True`` in :func:`odeflow.simulate` stops a particle at it.

Quadrature. ``mu`` is replaced by ``S`` samples ``y_s`` drawn once per solver with one
``density.sample(S, rng)`` call (default ``S = max(10^4, 100 N)``), and the cells by soft cells: sample
``s`` goes to site ``i`` with probability ``p_si`` proportional to ``exp((psi_i - |y_s - x_i|) / eps_s)``.
The duals maximise the smoothed semi-dual

    F_eps(psi) = sum_i a_i psi_i - (1/S) sum_s eps_s log sum_i exp((psi_i - |y_s - x_i|) / eps_s),

concave and smooth, gradient ``a_i - m_i`` (``m_i = sum_s p_si / S``), minus Hessian the graph Laplacian
``(1/S) sum_s (diag(p_s) - p_s p_s^T) / eps_s``. ``cost`` is ``F_eps`` at the solution: its gradient in the
positions is exactly ``-m_i drift_i`` (envelope theorem), so the energy identity holds for it along a flow
to the step's order (the soft plan's transport cost, ``plan_cost``, is not: its derivative misses that of
the entropy term, 1e-3 relative in a measured case). ``F_eps <= F`` at every ``psi`` and the soft plan is a
transport plan, so with the masses right ``cost <= W1 of the quadrature <= plan_cost``: the bracket
``dual_gap = plan_cost - cost`` is about ``eps`` times the entropy of the soft cells. Against the density
itself the cost carries the quadrature's error, reported as ``cost_error`` (the standard error
``std_s(phi(y_s)) / sqrt(S)`` of the Monte Carlo integral of the c-transform
``phi(y) = min_i |y - x_i| - psi_i``: the semi-discrete cost has a central limit theorem with that variance),
and each cell mass a relative error of about ``quadrature_error = 1 / sqrt(S min a)``.

Smoothing. ``eps_s = epsilon * l_s * max(|u_1 - u_2|, 0.1)``, fixed at the start of each solve, where
``l_s`` is the size of a cell of ``S / N`` samples around ``y_s`` (from the distance to the 8th nearest sample)
and ``u_1, u_2`` are the unit vectors from the best two sites to ``y_s``. The cost difference of two sites
grows like ``|u_1 - u_2|`` times the distance to their boundary, so every boundary is blurred over a band of
about ``epsilon * l`` on both of its sides alike (a smoothing that differs between the two sides of a
boundary shifts it: a first attempt with one ``eps`` per cell moved mass between cells by 30 %). W1 cells
are not round: they are wedges and needles along the transport rays, often only a few samples wide, so
the default ``epsilon = 0.01`` is small; measured on a uniform box (N = 100 and 300, 200 samples per
cell), the cells rebuilt from the duals alone hold their mass within the Monte Carlo error at
``epsilon <= 0.01`` (chi-square per cell 1.1 - 1.25) but not at 0.05 (about 2), while Newton needs about 1.5x
more steps at 0.01 than at 0.05. Where many sites nearly tie for a sample (a particle cloud far from the
density, whose particles line up along the rays: the W1 problem is degenerate there) ``eps_s`` is also
capped at ``(v_(k) - v_(1)) / WINDOW`` with ``v_(j)`` the j-th best value at the start and ``k`` half of
``max_candidates``, so that no list needs more than about ``k`` sites.

Exact search. Which sites compete for a sample is found exactly, never by a fixed neighbour count: see
:mod:`.apollonius_search`. With ``z_i = max(psi) - psi_i >= 0``, ``|y - x_i| - psi_i + max(psi)`` is the
distance from ``(y, 0)`` to ``(x_i, z_i)`` in the norm ``|u| + |t|`` of ``R^{d+1}``, so the owner of ``y`` is
its nearest lifted site. A k-d tree over the particles (built once per solve) carries per node the least
``z`` and a least-squares plane ``z >= b + g.(x - c)``; a node is skipped only when
``max(dist(y, box) + min z, |y - c| + b - |g - e| r)`` (``e`` the unit vector from the node's centre ``c`` to
``y``, ``r`` its radius; the second bound from ``|y - x| >= e.(y - x)``) exceeds the threshold, so every site
within ``WINDOW * eps_s`` (12: a dropped site weighs less than ``e^-12`` times the best) of the best is kept,
up to ``max_candidates`` per sample (default 64; a list the cap cut short is counted in ``capped_fraction``
and bounds the neglected probability in ``truncation``). The ball bound of a Euclidean search is also
exact (a site ``k`` can own ``y`` only if ``|y - x_k| <= |y - x_nn| - psi_nn + max psi``, ``x_nn`` the
Euclidean nearest site, since ``|y - x_k| - psi_k <= |y - x_nn| - psi_nn``), but that ball holds most of the
cloud whenever ``psi`` has a large spread (early in a flow ``psi`` has slope near 1 across the cloud), which
the per-node bounds avoid; measured on 1000 sites, the search scans 26 sites per sample for a flat ``psi``
and 150 for one of slope 0.8 (2-D). Lists are computed with ``MARGIN`` extra room and carry a certificate
(:class:`.apollonius_lists.CandidateLists`): after a dual step only the samples whose certificate fails are
searched again.

Solver. Damped Newton on ``F_eps``: the direction from a Cholesky (dense, N <= 2000) or sparse LU of the
Laplacian, halved until the Euclidean mass error falls by the factor ``1 - rho tau/2`` (the rule of
Kitagawa, Merigot and Thibert, ``rho = 1`` for a Newton step; an Armijo rule on ``F_eps`` took about twice as
many steps here, ``F_eps`` being nearly piecewise linear at small ``eps``). Far from the density the
Laplacian nearly splits into weakly coupled groups of cells, and its Newton direction moves some duals by
10^7 times their ``eps``; cutting the whole step to ``TRUST`` eps (as before) made progress 10^-5 of a step
at a time. Instead the direction is Levenberg-Marquardt damped, ``(L + mu diag(a_i / eps_i)) d = a - m``:
``mu`` (from ``LM_START``, times ``LM_GROW``) is raised until no dual moves by more than ``TRUST`` of its
``eps``, and lowered after full steps, so only the weak components are held back; ``rho = g.Ld / |g|^2`` is
then the damped direction's own rate of decrease of the mass error (KMT's ``1/2`` with ``rho = 1`` rejected
every damped step, the error falling at a fifth of the rate it asks). Measured on the flow of the Speed
paragraph (2-D, N = 300, 30 steps): 200 s before, 76 s with the damping. Newton stops when
``max_i |m_i - a_i| / a_i <= tol``. Cold start: the exact discrete duals between the particles and the
first ``max(1000, 2N)`` (at most 4000) samples of the quadrature with ``|x - y|`` costs (POT ``ot.emd``),
which puts every cell in the right place to within a few samples (from there, annealing ``eps`` down from
27 times its final value was measured slower than starting at the final value). Warm start: the caller's
``psi0``; :class:`~odeflow.potentials.semidiscrete.SemidiscreteSolver` passes :meth:`ApolloniusSolver.predict`,
the tangent predictor ``psi - L^{-1} r`` that keeps every soft cell's mass to first order in the particles'
displacement (measured on a 2-D flow, N = 300, h = 0.1: 6 - 7 Newton steps per warm solve against 9 - 14 with
the previous duals unchanged; the cell-mean prediction ``psi_i - drift_i . dx_i`` was far worse, as it moves
the boundaries near the particles). Where the prediction scrambles the cells (particles crossing the edge
of a box: a relative mass error of 100), the previous duals, which fit better, are the start instead. A
warm start that fails falls back to a cold start. ``eps`` is fitted to
the duals a cold solve starts from, then refitted to its solution and solved again (the LP duals are coarser
than a warm start), and a warm solve keeps the previous solve's ``eps`` unless more than ``REFIT_CAPPED`` of
its lists hit the cap or it took more than ``REFIT_ITERATIONS`` Newton steps: between refits ``F_eps``, and
the cost, is one smooth function of the positions along a flow. The smoothing fitted at the start of a flow
from a far blob is set by its near-ties and becomes too sharp for the cells as the cloud spreads (the
Newton steps per warm solve grew from 8 to 90 at fixed ``eps``, 2-D, N = 300); refitting at the predicted
duals then raises it (1e-4 -> 2e-3 by t = 3) and brings the count back to 8 - 20 (the 30 steps in 40 s instead
of 76 s). A refit changes ``F_eps`` by at most about the dual gap (~1e-4 here), an error ``dual_gap / h`` in
the energy identity of that one step, far below the step's own ``O(h)``.
A site whose soft cell is empty is given the dual that makes it tie for its nearest sample
(``rescued``). Work is bounded by ``max_iter`` Newton steps, ``MAX_HALVINGS`` halvings per line search, one
cold restart, and ``MEDIAN_MAX_ITER`` sweeps of the medians' safeguarded Newton iteration.

Speed. From a blob far from the density, as in the papers' flows, the W1 cells are needles along the
transport rays and many sites nearly tie for each sample, so the smoothing is capped far below ``epsilon``
(about 1e-4 at N = 300, 2e-5 at N = 1000 at the start) and Newton needs the damping above. Blob
``0.25 N(0, I) + (1.5, 0)`` against ``N(0, I)``, Euler h = 0.1 to t = 3, 2-core machine, default options
(``python -m analysis.w1_density``): 2-D, N = 1000: 461 s (31 solves, 25 Newton steps and 15 s a solve
on average; before the damping and the refit: 1724 s); 5-D, N = 1000: 137 s (was 212 s with a third of
the quadrature). The w2 sampled path (:mod:`.sampled`) is still about ten times faster on the same
problems. Where the particles cross the edge of a box (blob outside ``[-1, 1]^2``), warm solves at N = 1000
take 20 - 90 Newton steps.

Hard cells (a measured limitation). What Newton solves exactly is the soft problem: the soft cells hold
their mass to ``tol``. The unsmoothed cells of the same duals, ``argmin_i |y - x_i| - psi_i``, hold theirs to
about ``quadrature_error`` only where few particles tie for a sample: particles spread over the density
(60 or 400 uniform in a box: cells rebuilt by fresh Monte Carlo off by 0.10 rms against a reported 0.14).
Where particles cluster, W1's own degeneracy shows: its optimal plans are not unique along transport rays
(the potential has slope 1 along them), so the cells of nearly aligned particles are thin filaments that
share their samples almost evenly, and the hard cells of any dual vector that resolves them are off by
O(1): 400 particles in a blob 0.15 N(0, I) inside a box, cells rebuilt by Monte Carlo from the duals
0.94 rms off (the soft cells exact), and still 0.45 with ten times less smoothing. ``info["hard_mass_error"]``
reports it on the quadrature, and the solver's message says so when it exceeds five quadrature errors. The
drift, the cost and the energy identity are those of the soft cells, and they do not suffer from it.

Exact 2-D cells for boxes (not done). In polar coordinates ``(r, theta)`` around ``x_i`` the boundary with
``x_k`` (``D = |x_k - x_i|``, ``delta = psi_i - psi_k``, ``theta_k`` the direction of ``x_k``) is
``r = (D^2 - delta^2) / (2 (D cos(theta - theta_k) - delta))``, so a cell is ``{r <= R_i(theta)}`` with ``R_i``
the lower envelope of such curves and the box's edges, and its mass, drift and cost against a uniform
density are the 1-D integrals ``int R^2/2``, ``int (cos, sin) R^2/2`` and ``int R^3/3`` over ``theta``, each
piece in closed form. What is missing is the envelope itself: the combinatorics of the Apollonius diagram
(which arcs bound which cell), for which there is no robust routine in numpy/scipy (CGAL has one); a
sampled envelope would not be exact. So only the sampled path exists, in every dimension.

Diagnostics (``info``): ``status``, ``iterations`` (Newton steps), ``max_mass_error`` (soft cells, what
``tol`` bounds), ``hard_mass_error`` (``max |hard mass - a| / a`` of the unsmoothed cells of the quadrature),
``plan_cost``, ``dual_gap``, ``smoothing`` (``fitted`` at this solve, or ``kept`` from the previous one),
``cost_error``, ``quadrature_error``, ``n_samples``, ``epsilon`` (median
``eps_s``), ``max_candidates``, ``capped_fraction``, ``truncation``, ``queries`` (tree searches),
``rescued``, ``start`` (``cold``/``warm``), ``warm_failed``, ``emd_samples``, ``median_iterations``,
``median_unconverged`` (medians still moving after ``MEDIAN_MAX_ITER`` sweeps: a median on a heavy sample).

Examples
--------
>>> import numpy as np, odeflow as of
>>> solver = ApolloniusSolver(of.UniformBox([0.0, 0.0], [1.0, 1.0]), np.random.default_rng(0), n_samples=20000)
>>> x = np.array([[0.25, 0.5], [0.75, 0.5]])
>>> psi, mass, drift, cost, info = solver.solve(x, np.array([0.5, 0.5]), 1e-6, 50)
>>> info["status"], bool(abs(cost - 0.2966) < 0.01), bool(np.abs(drift).max() < 0.05)
('optimal', True, True)
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.spatial import cKDTree

from ..._checks import check_int, check_real
from .apollonius_kernels import (
    cell_medians,
    cell_moments,
    soft_cells,
    soft_laplacian,
    soft_laplacian_dense,
    soft_pairs,
    tangent_rhs,
)
from .apollonius_lists import WINDOW, CandidateLists, FrozenLists, Sites
from .sampled_starts import emd_duals

DEFAULT_EPSILON = 0.01
DEFAULT_MAX_CANDIDATES = 64
SAMPLES_PER_PARTICLE = 100
MIN_SAMPLES = 10_000
#: Cold start: exact LP on this many samples per particle (at least EMD_MIN, at most EMD_MAX).
EMD_PER_PARTICLE = 2
EMD_MIN, EMD_MAX = 1000, 4000
#: Largest change of any dual in one Newton step, in units of that site's eps.
TRUST = 1000.0
MAX_HALVINGS = 30
#: Levenberg-Marquardt: damping mu * diag(a / eps_site) raised by LM_GROW (from LM_START) until a direction's
#: reach is within TRUST (at most LM_TRIES factorisations a step, mu at most LM_MAX); lowered after full steps.
#: A damped step whose line search fails is retried undamped (KMT's guarantee is for Newton's direction).
LM_START, LM_GROW, LM_TRIES, LM_MAX = 1e-6, 10.0, 8, 1e3
#: A line-search trial whose lists would need a search is first tried on the current lists (sites missing
#: from them only take mass from the listed ones): rejected without a search if its mass error exceeds
#: PRESCREEN times KMT's bound (0: off). Accepting always uses exact lists.
PRESCREEN = 1.0
#: Sites given a dual by the rescue, at most this many rounds per Newton run.
RESCUE_ROUNDS = 5
PAIR_FLOOR = 1e-8
#: Up to this many sites the Newton matrix is dense (Cholesky); above, sparse (LU).
DENSE_MAX = 2000
REGULARISATION = 1e-12
MEDIAN_MAX_ITER = 50
MEDIAN_TOL = 1e-7
#: eps_s = epsilon * (cell size at y_s) * max(|u_1 - u_2|, DU_FLOOR); the cell size from the distance to the
#: SPACING_NEIGHBOURS-th nearest sample.
SPACING_NEIGHBOURS = 8
DU_FLOOR = 0.1
#: A warm start keeps the previous eps_s unless more than this fraction of the lists was cut by the cap.
REFIT_CAPPED = 0.01
#: ... or when its Newton run took more than this many steps (the smoothing had become too sharp for the cells).
REFIT_ITERATIONS = 25


def _one_blas_thread():
    """Context limiting BLAS to one thread (threadpoolctl, if installed), for the dense Cholesky.

    For n <= DENSE_MAX a threaded factorisation gains little, and on a loaded machine its threads wait for
    each other: measured on 2 busy cores, 2-D N = 300, ``cho_factor`` took 0.5 s a call threaded against 1 ms
    on one thread (a warm solve 10.8 s against 4.7 s)."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415
            _BLAS = ThreadpoolController()
        except ImportError:
            _BLAS = False
    return _BLAS.limit(limits=1, user_api="blas") if _BLAS else contextlib.nullcontext()


_BLAS = None


class ApolloniusSolver:
    """Semi-discrete w1 solver for one density; keeps its quadrature across calls.

    Parameters
    ----------
    density : Density
    rng : numpy.random.Generator
    n_samples : int, optional
        Quadrature size ``S``; default ``max(10^4, 100 N)``, fixed at the first call.
    epsilon : float, optional
        Smoothing relative to the local cell size (default 0.01); see the module docstring.
    max_candidates : int, optional
        Most sites kept per sample (default 64, at least 2).

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, density, rng, n_samples=None, epsilon=None, max_candidates=None):
        self.density = density
        self.rng = rng
        self.n_samples = None if n_samples is None else check_int(n_samples, "n_samples", minimum=2)
        self.epsilon = DEFAULT_EPSILON if epsilon is None else check_real(epsilon, "epsilon", positive=True)
        self.kmax = DEFAULT_MAX_CANDIDATES if max_candidates is None else check_int(max_candidates, "neighbours",
                                                                                    minimum=2)
        self.samples = None
        self._sample_tree = None
        self._spacing = None
        self._state = None  # (x, psi, cand, count, prob, eps, capped fraction, steps) of the last good solve
        self._previous = None  # (prediction, previous duals) from predict()

    def quadrature(self, n_particles: int) -> np.ndarray:
        """The fixed samples ``(S, d)``, drawn at the first call (one ``density.sample`` call)."""
        if self.samples is None:
            S = self.n_samples or max(MIN_SAMPLES, SAMPLES_PER_PARTICLE * n_particles)
            self.samples = np.ascontiguousarray(self.density.sample(S, self.rng), dtype=np.float64)
            self.samples.setflags(write=False)
        return self.samples

    # -- starts ---------------------------------------------------------------------------------------
    def _emd_start(self, x, a):
        """Exact discrete W1 duals of the particles against the first samples of the quadrature."""
        from scipy.spatial.distance import cdist

        m = int(min(self.samples.shape[0], max(EMD_MIN, min(EMD_MAX, EMD_PER_PARTICLE * x.shape[0]))))
        psi, warning = emd_duals(a, np.full(m, 1.0 / m), cdist(x, self.samples[:m]))
        return psi, m, warning

    def _sample_spacing(self):
        """Distance from every sample to its ``SPACING_NEIGHBOURS``-th nearest sample (computed once)."""
        if self._spacing is None:
            if self._sample_tree is None:
                self._sample_tree = cKDTree(self.samples)
            dist, _ = self._sample_tree.query(self.samples, k=SPACING_NEIGHBOURS + 1, workers=1)
            self._spacing = np.ascontiguousarray(dist[:, -1])
        return self._spacing

    def _smoothing(self, sites, psi, n):
        """Per-sample ``eps_s`` and per-site ``eps_i`` (mean over its samples) at the start ``psi``."""
        y = self.samples
        S, d = y.shape
        k = min(n, max(2, sites.kmax // 2))
        cand, dist, _, _ = sites.lists(psi, np.full(S, np.inf), kmax=k)
        cell = self._sample_spacing() * (S / (SPACING_NEIGHBOURS * n)) ** (1.0 / d)
        if n > 1:
            u1 = (y - self._x[cand[:, 0]]) / np.maximum(dist[:, :1], 1e-300)
            u2 = (y - self._x[cand[:, 1]]) / np.maximum(dist[:, 1:2], 1e-300)
            du = np.maximum(np.linalg.norm(u1 - u2, axis=1), DU_FLOOR)
        else:
            du = np.ones(S)
        eps = self.epsilon * cell * du
        if n > k:  # at most k sites within the window at the start: near-ties (far samples) are resolved
            v = dist - psi[np.maximum(cand, 0)]
            eps = np.minimum(eps, np.maximum(v[:, k - 1] - v[:, 0], 1e-300) / WINDOW)
        eps = np.ascontiguousarray(eps)
        return eps, self._site_eps(cand[:, 0], eps, n)

    def _rescue(self, psi, mass, lists, n):
        """Raise the duals of sites with no share of any sample so that each ties for its nearest sample."""
        lost = np.flatnonzero(mass <= 0.0)
        if lost.size == 0:
            return psi, 0
        if self._sample_tree is None:
            self._sample_tree = cKDTree(self.samples)
        _, near = self._sample_tree.query(self._x[lost], k=1, workers=1)
        y = self.samples[near]
        best = np.min(np.where(lists.cand[near] >= 0, lists.dist[near] - psi[np.maximum(lists.cand[near], 0)], np.inf),
                      axis=1)
        psi = psi.copy()
        psi[lost] = np.linalg.norm(y - self._x[lost], axis=1) - best
        return psi, int(lost.size)

    # -- Newton -----------------------------------------------------------------------------------------
    def _matrix(self, lists, prob, eps, n):
        """Minus the Hessian of ``F_eps``: the soft cells' Laplacian, dense (n <= DENSE_MAX) or sparse CSC."""
        if n <= DENSE_MAX:
            H = np.empty((n, n))
            soft_laplacian_dense(lists.cand, lists.count, prob, eps, PAIR_FLOOR, 0.0, H)
            return H
        per_row = np.empty(n + 1, np.int64)
        room = int(soft_pairs(lists.cand, lists.count, prob, PAIR_FLOOR, per_row)) + n
        data, indices, indptr = np.empty(room), np.empty(room, np.int64), np.empty(n + 1, np.int64)
        q = soft_laplacian(lists.cand, lists.count, prob, eps, PAIR_FLOOR, 0.0, per_row, data, indices, indptr)
        return sp.csc_array((data[:q], indices[:q], indptr), shape=(n, n))

    @staticmethod
    def _solve(H, rhs, shift=None):
        """``(H + diag(shift) + delta I)^{-1} rhs`` (``delta`` tiny: the Laplacian is singular, constants are
        in its kernel); NaN where the factorisation fails."""
        n = rhs.shape[0]
        if isinstance(H, np.ndarray):
            H = H.copy()
            diag = np.diag_indices(n)
            H[diag] += REGULARISATION * max(float(np.max(np.diag(H))), np.finfo(float).tiny)
            if shift is not None:
                H[diag] += shift
            try:
                with _one_blas_thread():
                    return sla.cho_solve(sla.cho_factor(H, check_finite=False), rhs, check_finite=False)
            except (np.linalg.LinAlgError, ValueError):
                return np.full(n, np.nan)
        diag = np.full(n, REGULARISATION * max(float(H.diagonal().max()), np.finfo(float).tiny))
        if shift is not None:
            diag = diag + shift
        H = H + sp.diags_array(diag, format="csc")
        try:
            return spla.splu(H, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(rhs)
        except RuntimeError:  # exactly singular: no usable direction
            return np.full(n, np.nan)

    def _direction(self, lists, prob, eps, grad, n):
        """Newton direction from the soft cells' Laplacian (see :meth:`_solve`)."""
        return self._solve(self._matrix(lists, prob, eps, n), grad)

    def _newton(self, sites, a, psi, eps, eps_site, tol, max_iter, stats, lists=None):
        """Damped Newton on F_eps from ``psi`` (``lists``: exact at ``psi`` for this ``eps``, if the caller has
        them); returns ``(psi, lists, prob, mass, value, err, status)``."""
        n = a.shape[0]
        prob = np.empty((self.samples.shape[0], sites.kmax))
        mass = np.empty(n)
        prob_t, mass_t = np.empty_like(prob), np.empty(n)
        psi = psi - a @ psi
        lists = CandidateLists(sites, psi, eps) if lists is None else lists
        it = rounds = 0
        mu, scale = 0.0, a / eps_site  # LM damping mu * diag(a_i / eps_i): a cell all boundary, in units of eps
        while True:
            smooth = soft_cells(lists.cand, lists.dist, lists.count, psi, eps, prob, mass)
            if rounds < RESCUE_ROUNDS and np.any(mass <= 0.0):
                rounds += 1
                psi, lost = self._rescue(psi, mass, lists, n)
                stats["rescued"] += lost
                lists = CandidateLists(sites, psi, eps)
                continue
            value = float(a @ psi) + smooth  # F_eps(psi)
            err = float(np.max(np.abs(mass - a) / a))
            if it == 0:  # KMT's floor: no cell may fall below half the least of the weights and first masses
                floor = 0.5 * min(float(np.min(a)), float(np.min(mass)))
            if not np.isfinite(value):
                return psi, lists, prob, mass, value, err, "numerical_failure"
            if err <= tol:
                return psi, lists, prob, mass, value, err, "optimal"
            if it >= max_iter:
                return psi, lists, prob, mass, value, err, "max_iter_reached"
            it += 1
            stats["iterations"] += 1
            grad = a - mass
            H = self._matrix(lists, prob, eps, n)
            for damped in ((True, False) if mu > 0.0 else (False,)):  # a failed damped step is retried undamped
                mu = mu if damped else 0.0
                for _ in range(LM_TRIES):  # Levenberg-Marquardt: damp the weak components, not the whole step
                    d = self._solve(H, grad, None if mu == 0.0 else mu * scale)
                    if not np.all(np.isfinite(d)):
                        return psi, lists, prob, mass, value, err, "numerical_failure"
                    reach = float(np.max(np.abs(d - a @ d) / eps_site))
                    if reach <= TRUST or mu >= LM_MAX:
                        break
                    mu = min(max(LM_GROW * mu, LM_START), LM_MAX)
                tau = min(1.0, TRUST / reach) if reach > 0 else 1.0
                # the mass error's predicted rate of decrease along d: 1 for a Newton step, less when damped
                rho = 1.0 if mu == 0.0 else min(1.0, max(0.0, float(grad @ (H @ d)) / float(grad @ grad)))
                step = self._line_search(lists, psi, d, tau, rho, grad, a, eps, floor, prob_t, mass_t, stats)
                if step is not None:
                    break
            else:
                return psi, lists, prob, mass, value, err, "stalled"
            psi, lists, tau = step
            mu = mu / LM_GROW if tau == 1.0 else (min(max(LM_GROW * mu, LM_START), LM_MAX) if tau < 0.25 else mu)
            if mu < LM_START:
                mu = 0.0

    @staticmethod
    def _line_search(lists, psi, d, tau, rho, grad, a, eps, floor, prob_t, mass_t, stats):
        """Halve ``tau`` from its start until KMT's rule holds (every cell above ``floor``, the mass error down
        by ``1 - rho tau / 2``); every accepted trial on lists exact at the trial point. Returns
        ``(trial, lists, tau)``, or None after ``MAX_HALVINGS`` halvings."""
        norm = np.linalg.norm(grad)
        for _ in range(MAX_HALVINGS):
            trial = psi + tau * d
            trial = trial - a @ trial
            bound = (1.0 - 0.5 * tau * rho) * norm
            fail = lists.failing(trial)
            if PRESCREEN and fail.any():  # screened on the current lists first (no search)
                soft_cells(lists.cand, lists.dist, lists.count, trial, eps, prob_t, mass_t)
                stats["screened"] = stats.get("screened", 0) + 1
                if np.linalg.norm(mass_t - a) > PRESCREEN * bound:
                    tau *= 0.5
                    continue
            lists_t = lists.at(trial, fail)
            soft_cells(lists_t.cand, lists_t.dist, lists_t.count, trial, eps, prob_t, mass_t)
            if np.min(mass_t) >= floor and np.linalg.norm(mass_t - a) <= bound:  # KMT's rule
                return trial, lists_t, tau
            tau *= 0.5
        return None

    def _run(self, sites, a, psi, tol, max_iter, stats, eps=None, lists=None):
        """Smoothing fitted at ``psi`` (or the given per-sample ``eps``), then damped Newton to ``tol``."""
        if eps is None:
            eps, eps_site = self._smoothing(sites, psi, a.shape[0])
        else:  # the owners are the lists' first entries: no separate search
            lists = CandidateLists(sites, psi - a @ psi, eps) if lists is None else lists
            eps_site = self._site_eps(lists.cand[:, 0], eps, a.shape[0])
        before = stats["iterations"]
        out = self._newton(sites, a, psi, eps, eps_site, tol, max_iter, stats, lists)
        stats["run_iterations"] = stats["iterations"] - before
        return (*out, eps)

    @staticmethod
    def _site_eps(owner, eps, n):
        """Mean ``eps_s`` over the samples each site owns (``owner[s]``; the trust region's unit)."""
        owned = np.bincount(owner, minlength=n)
        eps_site = np.bincount(owner, weights=eps, minlength=n) / np.maximum(owned, 1)
        eps_site[owned == 0] = float(np.median(eps))
        return eps_site

    # -- the solve ----------------------------------------------------------------------------------------
    def solve(self, x, a, tol, max_iter, psi0=None):
        """Duals, cell masses, drifts, W1 and info for distinct particles ``x`` (n, d) with weights ``a``.

        ``info["targets"]`` holds the cells' geometric medians (n, d). See the module docstring.
        """
        n = x.shape[0]
        y = self.quadrature(n)
        self._x = x
        stats = {"iterations": 0, "rescued": 0}
        sites = Sites(x, y, min(self.kmax, n))
        status = None
        if psi0 is not None:
            kept = self._kept_smoothing(n)
            stats["smoothing"] = "fitted" if kept is None else "kept"
            psi0, lists0 = self._better_start(sites, a, psi0)
            if kept is None:  # refitted smoothing: the start's lists were made for the previous one
                lists0 = None
            psi, lists, prob, mass, value, err, status, eps = self._run(sites, a, psi0, tol, max_iter, stats, kept,
                                                                        lists0)
            start = "warm"
            stats["warm_failed"] = status != "optimal"
        emd_samples = 0
        if status != "optimal":
            start = "cold"
            stats["smoothing"] = "fitted"
            psi, emd_samples, warning = self._emd_start(x, a)
            if psi is None:
                return self._failed(x, a, "no_admissible_start", stats, start)
            if warning:
                stats["emd_warning"] = str(warning)
            psi, lists, prob, mass, value, err, status, eps = self._run(sites, a, psi, tol, max_iter, stats)
            if status == "optimal":  # smoothing fitted to the solution, as a warm start's is (see the docstring)
                psi, lists, prob, mass, value, err, status, eps = self._run(sites, a, psi, tol, max_iter, stats)
        unit, tcost, hard, phi = np.empty_like(x), np.empty(n), np.empty(n), np.empty(y.shape[0])
        cell_moments(y, x, lists.cand, lists.dist, lists.count, prob, psi, unit, tcost, hard, phi)
        drift = np.divide(unit, mass[:, None], out=np.zeros_like(unit), where=mass[:, None] > 0)
        scale = float(np.sqrt(np.mean(np.sum((y - y.mean(axis=0)) ** 2, axis=1)))) or 1.0
        medians = np.empty_like(x)
        m_it, m_left = cell_medians(y, lists.cand, lists.count, prob, x, np.full(n, MEDIAN_TOL * scale),
                                    MEDIAN_MAX_ITER, medians)
        cost = float(tcost.sum())
        self._state = (x.copy(), psi.copy(), lists.cand, lists.count, prob, eps, lists.capped_fraction,
                       stats["run_iterations"]) \
            if status == "optimal" else None
        plan_cost, cost = cost, value
        info = {
            "status": status, "iterations": int(stats["iterations"]), "max_mass_error": err, "start": start,
            "hard_mass_error": float(np.max(np.abs(hard - a) / a)),
            "plan_cost": plan_cost, "dual_gap": plan_cost - value, "smoothing": stats["smoothing"],
            "cost_error": float(np.std(phi) / np.sqrt(y.shape[0])),
            "quadrature_error": float(1.0 / np.sqrt(y.shape[0] * float(np.min(a)))),
            "n_samples": int(y.shape[0]), "epsilon": float(np.median(eps)), "max_candidates": self.kmax,
            "capped_fraction": lists.capped_fraction, "truncation": lists.truncation,
            "queries": sites.queries, "rescued": stats["rescued"], "warm_failed": bool(stats.get("warm_failed", False)),
            "emd_samples": emd_samples, "median_iterations": int(m_it), "median_unconverged": int(m_left),
            "targets": medians,
        }
        if "emd_warning" in stats:
            info["emd_warning"] = stats["emd_warning"]
        self._x = None
        return psi, mass, drift, cost, info

    def _kept_smoothing(self, n):
        """The previous solve's ``eps_s``, kept for a warm start unless its lists were cut short (then refit)."""
        state = self._state
        if state is None or state[0].shape[0] != n or state[6] > REFIT_CAPPED or state[7] > REFIT_ITERATIONS:
            return None
        return state[5]

    def _better_start(self, sites, a, psi0):
        """``(psi0, None)``, or, if ``psi0`` is the tangent prediction, whichever of it and the previous duals
        fits the new cells better (smaller soft mass error with the previous smoothing), centred, with its
        lists: the first-order prediction can scramble the cells when particles cross the density's edge
        (measured: relative mass error 100 from the prediction, a warm solve of 209 Newton steps, box
        [-1, 1]^2, N = 1000)."""
        previous, self._previous = self._previous, None
        if previous is None or previous[0] is not psi0 or self._state is None or previous[1].shape != psi0.shape:
            return psi0, None
        eps = self._state[5]
        prob, mass = np.empty((eps.shape[0], sites.kmax)), np.empty(a.shape[0])
        best = None
        for cand in previous:
            cand = cand - a @ cand
            lists = CandidateLists(sites, cand, eps)
            soft_cells(lists.cand, lists.dist, lists.count, cand, eps, prob, mass)
            error = float(np.linalg.norm(mass - a))
            if best is None or error < best[0]:
                best = (error, cand, lists)
        return best[1], best[2]

    def predict(self, x_old, psi, x_new):
        """Warm-start duals for the particles moved from ``x_old`` to ``x_new`` (same count).

        With the soft cells of the last solve (if it was at ``x_old`` with duals ``psi``): the tangent
        predictor ``psi - L^{-1} r`` that keeps every cell's mass to first order in the displacement (``L`` the
        cells' Laplacian, ``r`` from :func:`.apollonius_kernels.tangent_rhs`); otherwise ``psi`` itself.
        """
        state = self._state
        if state is None or state[0].shape != x_old.shape or not np.array_equal(state[0], x_old) \
                or not np.array_equal(state[1], psi):
            return psi.copy()
        _, _, cand, count, prob, eps, _, _ = state
        r = np.empty(x_old.shape[0])
        tangent_rhs(self.samples, x_old, x_new - x_old, cand, count, prob, eps, r)
        step = self._direction(FrozenLists(cand, count), prob, eps, -r, x_old.shape[0])
        if not np.all(np.isfinite(step)):
            return psi.copy()
        self._previous = (psi + step, psi.copy())  # solve() starts from the one that fits better
        return self._previous[0]

    def _failed(self, x, a, status, stats, start):
        n = x.shape[0]
        info = {"status": status, "iterations": int(stats["iterations"]), "max_mass_error": float("inf"),
                "start": start, "n_samples": int(self.samples.shape[0]), "rescued": stats["rescued"],
                "quadrature_error": float(1.0 / np.sqrt(self.samples.shape[0] * float(np.min(a)))),
                "targets": x.copy()}
        return np.zeros(n), np.zeros(n), np.zeros_like(x), float("nan"), info
