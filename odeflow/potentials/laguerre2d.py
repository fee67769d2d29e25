"""Exact semi-discrete optimal transport in 2-D: Laguerre cells of the particles, damped Newton.

The w2 semi-dual of particles ``x_i`` (weights ``a_i``) against a density ``rho`` on a rectangle ``B`` is

    Phi(psi) = sum_i a_i psi_i + int_B min_i (|y - x_i|^2 / 2 - psi_i) rho(y) dy,

concave, with gradient ``a_i - G_i(psi)``, ``G_i = rho(L_i)`` the mass of the Laguerre (power) cell
``L_i``. Its Jacobian is the weighted graph Laplacian of the power diagram, ``dG_i/dpsi_j =
-int_{L_i cap L_j} rho / |x_i - x_j|`` (j != i). We solve ``G(psi) = a`` by the damped Newton method of
Kitagawa, Merigot and Thibert (JEMS 2019): a Newton step, halved until every cell keeps a mass
``>= eps0`` (half the smallest of the weights and of the starting masses) and ``|G - a|`` drops by the
factor ``1 - tau/2``. It converges globally, quadratically near the solution.

Power diagram. The cells are the projection of the lower convex hull of the lifted points
``(x_i, |x_i|^2 - 2 psi_i)`` (Qhull, through :class:`scipy.spatial.ConvexHull`); a site off the lower
hull has an empty cell. Four auxiliary points far outside (with duals small enough that their cells
miss the box) keep the hull three-dimensional for any input (collinear sites, fewer than three sites).
Each cell is the box clipped by the half-planes of its neighbours in that triangulation, in a numba
kernel (:func:`odeflow.kernels.laguerre_cells_box`, or ``laguerre_cells_grid`` which clips against the
pixels of an image). Masses, centroids and Hessian entries are exact up to rounding.

Starting point. Damped Newton needs every cell non-empty at the start. We try, in order: the given
warm start (its empty cells first repaired by raising their duals, :meth:`PowerDiagram2D.repair`); the duals that make the cells the Voronoi cells of the particles mapped into the box by a
scaling ``y = c + s (x - m)`` (all then inside the box: every cell has positive area). For an image
with empty (zero) pixels that may still leave a cell without mass; we then follow a continuation in
the density, ``rho_t = (1 - t) / |B| + t rho`` with ``t = 0, 1/2, 3/4, ...``, solving each loosely from
the previous solution, until every cell mass for ``rho`` itself is within a factor 2 of its target.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.spatial import ConvexHull, QhullError, cKDTree

from ..kernels import (laguerre_cell_variance, laguerre_cells_box, laguerre_cells_grid, lower_hull_adjacency,
                       two_ring)

#: Qhull options: triangulated output, rescaled last coordinate, coplanar points kept apart.
QHULL_OPTIONS = "Qt Qbb Qc"
#: Largest number of step halvings in one damped Newton iteration.
MAX_HALVINGS = 50
#: Relative Tikhonov term added to the Newton matrix (fixes its kernel, the constants).
REGULARISATION = 1e-12
#: Loose tolerance of the intermediate stages of the density continuation.
CONTINUATION_TOL = 1e-2
#: Cells computed from the previous triangulation's neighbour lists are trusted when their areas add
#: up to the box's within this relative amount (each such cell contains the true one, so the areas add
#: up exactly only when no neighbour is missing); otherwise Qhull runs again.
AREA_CERTIFICATE = 1e-12
#: Preconditioned CG (preconditioner: the last sparse LU) iterations allowed before refactoring.
PCG_MAX_ITER = 25
#: A warm start whose largest relative mass error exceeds this is compared with the fitted start.
WARM_LIMIT = 1.0
#: Starts whose largest relative mass error exceeds this go through the density continuation (images).
GOOD_START = 1.0
#: A warm start with more empty cells than this fraction is not repaired (the fitted start is used).
REPAIR_LIMIT = 0.02


class Cells:
    """The Laguerre cells at one ``psi``: masses, moments, costs, and the Newton matrix on demand."""

    __slots__ = ("mass", "moment", "cost", "hess", "area", "indptr", "indices", "fresh", "exact", "excess")

    def __init__(self, mass, moment, cost, hess, area, indptr, indices, fresh, exact=True, excess=0.0):
        self.mass, self.moment, self.cost = mass, moment, cost
        self.hess, self.area, self.indptr, self.indices = hess, area, indptr, indices
        self.fresh = fresh  # True when the neighbour lists come from a triangulation at this psi
        self.exact = exact  # False: supersets of the cells (masses are upper bounds), see __call__
        self.excess = excess  # |sum of areas - box area|: bounds the area any cell may have in excess

    def matrix(self) -> sp.csc_array:
        """``-dG/dpsi``: the graph Laplacian with off-diagonal ``-hess`` (sparse, n x n)."""
        n = self.mass.shape[0]
        off = sp.csr_array((self.hess, self.indices, self.indptr), shape=(n, n))
        off.eliminate_zeros()  # candidate lists may hold non-neighbours
        diag = np.asarray(off.sum(axis=1)).ravel()
        return (sp.diags_array(diag) - off).tocsc()

    def centroids(self, x) -> np.ndarray:
        """``moment / mass``; a cell without mass keeps its site (never NaN)."""
        out = x.copy()
        ok = self.mass > 0
        out[ok] = self.moment[ok] / self.mass[ok, None]
        return out


class PowerDiagram2D:
    """Laguerre cells of fixed sites ``x`` in the rectangle ``[lo, hi]`` for any duals ``psi``.

    Parameters
    ----------
    x : (n, 2) distinct sites
    lo, hi : (2,) the rectangle
    grid : (rows, cols) array or None
        Pixel densities (row 0 at the bottom) integrating to one over the rectangle; None for the
        uniform density ``1 / |B|``.
    """

    def __init__(self, x, lo, hi, grid=None):
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = np.asarray(hi, dtype=np.float64)
        self.grid = None if grid is None else np.ascontiguousarray(grid, dtype=np.float64)
        self.area = float(np.prod(self.hi - self.lo))
        self.centre = 0.5 * (self.lo + self.hi)
        z = self.x - self.centre
        self._z = z
        self._sq = np.einsum("ij,ij->i", z, z)
        reach = max(float(np.sqrt(self._sq.max())), 0.5 * float(np.hypot(*(self.hi - self.lo))))
        self._reach = reach
        radius = 4.0 * reach  # auxiliary points: |y - d| >= 3 reach on the box, |y - x_i| <= 2 reach
        self._aux = radius * np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
        self._all = np.ones(self.x.shape[0], dtype=bool)
        self._candidates = None
        self.evaluations = 0
        self.hulls = 0

    def adjacency(self, psi):
        """Neighbour lists of the regular triangulation (CSR) and the mask of sites on the lower hull."""
        n = self.x.shape[0]
        # auxiliary duals: 2 psi_d <= (3 reach)^2 - (2 reach)^2 + 2 min psi keeps their cells off the box
        psi_aux = float(psi.min()) - self._reach**2
        lifted = np.empty((n + 4, 3))
        lifted[:n, :2] = self._z
        lifted[:n, 2] = self._sq - 2.0 * psi
        lifted[n:, :2] = self._aux
        lifted[n:, 2] = np.einsum("ij,ij->i", self._aux, self._aux) - 2.0 * psi_aux
        try:
            hull = ConvexHull(lifted, qhull_options=QHULL_OPTIONS)
        except QhullError:  # pragma: no cover - the auxiliary points make the input full-dimensional
            hull = ConvexHull(lifted, qhull_options="QJ")
        lower = hull.equations[:, 2] < 0.0
        simplices = np.ascontiguousarray(hull.simplices, dtype=np.int64)
        indptr, indices = lower_hull_adjacency(simplices, lower, n)
        on_hull = np.zeros(n, dtype=bool)
        on_hull[simplices[lower].ravel()[simplices[lower].ravel() < n]] = True
        return indptr, indices, on_hull

    def __call__(self, psi, grid=None, fresh=False, floor=None) -> Cells:
        """The cells at ``psi``; ``grid`` overrides the density (used by the continuation).

        Unless ``fresh``, the cells are first clipped with the two-ring of the last triangulation
        whose cells were all non-empty. Each such cell contains the true one, so they are the true
        cells when their areas add up to the box's (:data:`AREA_CERTIFICATE`). If not, and some mass
        is already below ``floor``, they are returned with ``exact=False`` (the true masses are
        smaller still: enough to reject a damped-Newton trial); otherwise Qhull runs at ``psi``.
        """
        self.evaluations += 1
        psi = np.ascontiguousarray(psi, dtype=np.float64)
        grid = self.grid if grid is None else grid
        if not fresh and self._candidates is not None:
            cells = self._cells(psi, grid, *self._candidates, self._all, False)
            cells.excess = abs(float(cells.area.sum()) - self.area)
            if cells.excess <= AREA_CERTIFICATE * self.area:
                return cells
            if floor is not None and cells.mass.min() < floor:
                cells.exact = False
                return cells
        self.hulls += 1
        indptr, indices, active = self.adjacency(psi)
        if self.x.shape[0] == 1:
            active[:] = True
        if active.all():
            self._candidates = two_ring(indptr, indices)
        return self._cells(psi, grid, indptr, indices, active, True)

    def _cells(self, psi, grid, indptr, indices, active, fresh):
        if grid is None:
            out = laguerre_cells_box(self.x, psi, indptr, indices, self.lo, self.hi, 1.0 / self.area, active)
        else:
            out = laguerre_cells_grid(self.x, psi, indptr, indices, self.lo, self.hi, grid, active)
        return Cells(*out, indptr, indices, fresh)

    def fit_start(self) -> np.ndarray:
        """Duals whose cells are the Voronoi cells of ``c + s (x - m)``, all inside the box.

        With ``z_i = c + s (x_i - m)`` the cell test ``|y - z_i|^2`` is, divided by ``s``, the power test of
        ``x_i`` with ``psi_i = (1 - s)|x_i|^2 / 2 - x_i . (c - s m)`` (up to a constant).
        """
        x = self.x
        xmin, xmax = x.min(axis=0), x.max(axis=0)
        mid = 0.5 * (xmin + xmax)
        half_box = 0.5 * (self.hi - self.lo)
        half_pts = 0.5 * (xmax - xmin)
        with np.errstate(divide="ignore"):
            ratios = np.where(half_pts > 0, half_box / np.where(half_pts > 0, half_pts, 1.0), np.inf)
        s = 0.98 * float(ratios.min())
        if not np.isfinite(s):  # a single site (or all equal): any s works
            s = 1.0
        b = self.centre - s * mid
        z = x - self.centre  # centred coordinates keep the numbers small
        b_c = b - self.centre + s * self.centre
        psi = 0.5 * (1.0 - s) * np.einsum("ij,ij->i", z, z) - z @ b_c
        return psi - psi.mean()

    def repair(self, psi, cells, rounds=4):
        """Give every empty cell some area: raise ``psi_i`` until site ``i`` wins a patch around its anchor.

        The anchor is the site pulled into the box; the site then beats the current winner there by a
        quarter of their squared distance, so its cell contains a neighbourhood of the anchor. A few
        rounds, since a raised site may empty a neighbour. Returns ``(psi, cells)``.
        """
        half = 0.5 * (self.hi - self.lo)
        anchor = self.centre + np.clip(self.x - self.centre, -0.999 * half, 0.999 * half)
        for _ in range(rounds):
            empty = np.flatnonzero(cells.area <= 0)
            if empty.size == 0:
                break
            psi = psi.copy()
            lift = np.sqrt(np.max(2.0 * psi) - 2.0 * psi)
            tree = cKDTree(np.column_stack([self.x, lift]))
            _, win = tree.query(np.column_stack([anchor[empty], np.zeros(empty.size)]), k=2)
            win = np.where(win[:, 0] == empty, win[:, 1], win[:, 0])
            y = anchor[empty]
            score = 0.5 * np.sum((y - self.x[win]) ** 2, axis=1) - psi[win]
            gap = 0.25 * np.sum((self.x[win] - y) ** 2, axis=1) + 1e-12 * self.area
            psi[empty] = 0.5 * np.sum((y - self.x[empty]) ** 2, axis=1) - score + gap
            cells = self(psi, fresh=True)
        return psi, cells

    def blend(self, t: float) -> np.ndarray:
        """The continuation density ``(1 - t) / |B| + t rho`` on the grid."""
        return (1.0 - t) / self.area + t * self.grid


class NewtonSystem:
    """Solves ``(H + delta I) d = r`` for successive Laplacians ``H`` of the cells.

    The first system is factorised (SuperLU, symmetric mode). Later ones are solved by conjugate
    gradients preconditioned with that factorisation, which is refreshed only when CG needs more than
    :data:`PCG_MAX_ITER` iterations: near the solution the matrices hardly change.
    """

    def __init__(self):
        self._lu = None
        self.factorisations = 0
        self.cg_iterations = 0

    def solve(self, cells: Cells, residual: np.ndarray, rtol: float) -> np.ndarray:
        H = cells.matrix()
        diag = H.diagonal()
        delta = REGULARISATION * max(float(diag.max()), np.finfo(float).tiny)
        A = (H + delta * sp.eye_array(H.shape[0], format="csc")).tocsc()
        if self._lu is not None and self._lu.shape == A.shape:
            count = [0]

            def tick(_):
                count[0] += 1

            M = spla.LinearOperator(A.shape, matvec=self._lu.solve, dtype=np.float64)
            d, code = spla.cg(A, residual, rtol=rtol, atol=0.0, maxiter=PCG_MAX_ITER, M=M, callback=tick)
            self.cg_iterations += count[0]
            if code == 0:
                return d
        self._lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                             options={"SymmetricMode": True})
        self.factorisations += 1
        return self._lu.solve(residual)


def relative_error(mass, a) -> float:
    """``max_i |mass_i - a_i| / a_i``."""
    return float(np.max(np.abs(mass - a) / a))


def damped_newton(evaluate, psi, a, tol, max_iter, rho_max, cells=None, system=None):
    """Kitagawa-Merigot-Thibert damped Newton for ``G(psi) = a``.

    Parameters
    ----------
    evaluate : callable ``(psi, fresh=False, floor=None) -> Cells`` (see :meth:`PowerDiagram2D.__call__`)
    psi : (n,) start, with every cell non-empty
    a : (n,) positive target masses
    tol : stop when ``max_i |G_i - a_i| / a_i <= tol``, measured on cells from a triangulation at
        the final ``psi`` itself (``fresh``)
    max_iter : Newton iterations allowed
    rho_max : largest value of the density (turns the certificate's area slack into mass)
    cells : Cells at ``psi`` if already computed
    system : NewtonSystem to reuse

    Returns
    -------
    psi, cells, iterations, status (``"optimal"``, ``"max_iter_reached"``, ``"stalled"``, or
    ``"numerical_failure"`` when the Newton system gives a non-finite direction), error
    """
    system = system or NewtonSystem()
    if cells is None:
        cells = evaluate(psi)
    eps0 = 0.5 * min(float(a.min()), float(cells.mass.min()))
    err = relative_error(cells.mass, a)
    res_norm = float(np.linalg.norm(cells.mass - a))
    it = 0
    while True:
        # Accept cells from older neighbour lists only if the area they may miss (cells.excess) cannot
        # move any mass by 1% of the tolerance; otherwise confirm on a triangulation at this psi.
        if err <= tol and not cells.fresh and cells.excess * rho_max > 0.01 * tol * float(a.min()):
            cells = evaluate(psi, fresh=True)
            err = relative_error(cells.mass, a)
            res_norm = float(np.linalg.norm(cells.mass - a))
        if err <= tol:
            return psi, cells, it, "optimal", err
        if it == max_iter:
            return psi, cells, it, "max_iter_reached", err
        it += 1
        rtol = min(1e-3, 0.1 * res_norm / float(np.linalg.norm(a)))
        with np.errstate(all="ignore"):
            d = system.solve(cells, a - cells.mass, rtol)
        if not np.all(np.isfinite(d)):  # the Newton system is numerically singular here: say so
            return psi, cells, it, "numerical_failure", err
        tau = 1.0
        for _ in range(MAX_HALVINGS):
            trial = psi + tau * d
            new = evaluate(trial, floor=eps0)
            new_norm = float(np.linalg.norm(new.mass - a))
            if new.exact and new.mass.min() >= eps0 and new_norm <= (1.0 - 0.5 * tau) * res_norm:
                break
            tau *= 0.5
        else:
            return psi, cells, it, "stalled", err
        psi, cells, res_norm = trial - np.dot(a, trial), new, new_norm
        err = relative_error(cells.mass, a)


def solve_laguerre2d(x, a, lo, hi, grid, tol, max_iter, psi_warm=None):
    """Solve the 2-D semi-discrete problem; returns ``(psi, cells, info)``.

    ``info`` has ``status``, ``iterations`` (Newton iterations, all stages), ``evaluations`` (cell
    computations), ``triangulations`` (Qhull runs), ``start`` (``"warm"``, ``"fit"`` or
    ``"continuation"``) and ``max_mass_error``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.2, 0.5], [0.4, 0.5], [0.9, 0.5]])
    >>> psi, cells, info = solve_laguerre2d(x, np.full(3, 1 / 3), [0.0, 0.0], [1.0, 1.0], None, 1e-9, 50)
    >>> info["status"], cells.mass.round(9).tolist()
    ('optimal', [0.333333333, 0.333333333, 0.333333333])
    """
    diagram = PowerDiagram2D(x, lo, hi, grid)
    start, psi, cells = None, None, None
    if psi_warm is not None:
        cells = diagram(psi_warm, fresh=True)
        if 0 < np.count_nonzero(cells.area <= 0) <= REPAIR_LIMIT * len(a):
            psi_warm, cells = diagram.repair(psi_warm, cells)
        if cells.mass.min() > 0:
            start, psi = "warm", psi_warm
    if start is None or relative_error(cells.mass, a) > WARM_LIMIT:
        fit = diagram.fit_start()
        fit_cells = diagram(fit, fresh=True)
        better = start is None or relative_error(fit_cells.mass, a) < relative_error(cells.mass, a)
        if fit_cells.mass.min() > 0 and better:
            start, psi, cells = "fit", fit, fit_cells
    iterations = 0
    good = start is not None and relative_error(cells.mass, a) <= GOOD_START
    if not good and grid is not None:
        # an image with empty pixels or strong contrast: continuation from the uniform density
        start = "continuation"
        if psi is None:
            psi = diagram.fit_start()
        t = 0.0
        while True:
            blended = diagram.blend(t)
            psi, _, its, _, _ = damped_newton(
                lambda p, fresh=False, floor=None: diagram(p, blended, fresh, floor), psi, a, CONTINUATION_TOL,
                max_iter, float(blended.max()))
            iterations += its
            cells = diagram(psi, fresh=True)
            done = cells.mass.min() > 0 and relative_error(cells.mass, a) <= GOOD_START
            if done or t > 1.0 - 2.0**-40:
                break
            t = 0.5 * (1.0 + t)
    if cells is None or cells.mass.min() <= 0:
        info = {"status": "no_admissible_start", "iterations": iterations, "evaluations": diagram.evaluations,
                "triangulations": diagram.hulls, "start": start,
                "max_mass_error": np.inf if cells is None else relative_error(cells.mass, a)}
        return (np.zeros(len(a)) if psi is None else psi), cells, info
    rho_max = 1.0 / diagram.area if grid is None else float(grid.max())
    psi, cells, its, status, err = damped_newton(diagram, psi, a, tol, max_iter, rho_max, cells)
    info = {"status": status, "iterations": iterations + its, "evaluations": diagram.evaluations,
            "triangulations": diagram.hulls, "start": start, "max_mass_error": err}
    return psi, cells, info


def cell_variance(x, psi, cells: Cells, lo, hi, grid, centres) -> np.ndarray:
    """``int_{L_i} |y - c_i|^2 dmu`` of each cell of ``cells`` (the cells of ``x`` at ``psi``), exact.

    Uses the neighbour lists the cells were computed with; cells without area contribute 0.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.25, 0.5], [0.75, 0.5]])
    >>> psi, cells, info = solve_laguerre2d(x, np.full(2, 0.5), [0.0, 0.0], [1.0, 1.0], None, 1e-9, 50)
    >>> cell_variance(x, psi, cells, [0.0, 0.0], [1.0, 1.0], None, cells.centroids(x)).round(12).tolist()
    [0.052083333333, 0.052083333333]
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    area = float(np.prod(hi - lo))
    g = np.zeros((0, 0)) if grid is None else np.ascontiguousarray(grid, dtype=np.float64)
    return laguerre_cell_variance(x, np.ascontiguousarray(psi, dtype=np.float64), cells.indptr, cells.indices,
                                  lo, hi, g, 1.0 / area, cells.area > 0, np.ascontiguousarray(centres))
