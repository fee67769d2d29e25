"""The damped Newton method of Kitagawa, Merigot and Thibert: one driver for every exact cell geometry.

The semi-dual of particles ``x_i`` (weights ``a_i``) against a density ``rho``,

    Phi(psi) = sum_i a_i psi_i + int min_i (|y - x_i|^2 / 2 - psi_i) rho(y) dy,

is concave with gradient ``a_i - G_i(psi)``, ``G_i = rho(L_i)`` the mass of the Laguerre (power) cell
``L_i``, and Jacobian the weighted graph Laplacian of the power diagram, ``dG_i/dpsi_j =
-int_{L_i cap L_j} rho / |x_i - x_j|`` (j != i). :func:`damped_newton` solves ``G(psi) = a`` (JEMS 2019):
a Newton step, halved until every cell keeps a mass ``>= eps0`` (half the smallest of the weights and of
the starting masses) and ``|G - a|`` drops by the factor ``1 - tau/2``. It converges globally,
quadratically near the solution.

The geometry enters only through a *diagram* object (2-D polygons in a rectangle or against pixels,
2-D polygons against Gaussians, 3-D polyhedra in a box), with this protocol:

``diagram(psi, fresh=False, floor=None) -> Cells``
    the cells at ``psi``; unless ``fresh``, neighbour lists of an earlier triangulation may be reused
    when a certificate shows them complete (``Cells.fresh``, ``Cells.exact``, ``Cells.excess``).
``diagram.fit_start() -> psi``
    duals whose cells all carry mass.
``diagram.repair(psi, cells) -> (psi, cells)``
    gives empty cells some mass (used on warm starts).
``diagram.rho_max``
    an upper bound of the density (turns the certificate's volume slack into mass).
``diagram.factorise`` (optional, default True)
    False: the Newton systems are first tried by diagonally preconditioned CG (3-D, where a sparse LU
    fills in badly).
``diagram.evaluations``, ``diagram.hulls``
    counters of cell computations and triangulations.
``diagram.duals(psi)``, ``diagram.internal(psi)`` (optional, default the identity)
    the diagram may work on its own duals (2-D boxes and images spread a clustered cloud over the box, so
    that float64 resolves them finely): ``duals`` maps them to the particles' duals ``psi``,
    ``internal`` back (warm starts).
``diagram.supports_continuation``, ``diagram.blend(t)``
    when True, ``blend(t)`` is the density ``(1 - t) uniform + t rho``, for a continuation from the
    uniform density when no start is good (images with empty pixels).

:func:`solve_cells` chooses the start (warm, repaired, fitted, continuation) and runs the driver.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

#: Largest number of step halvings in one damped Newton iteration.
MAX_HALVINGS = 50
#: Relative Tikhonov term added to the Newton matrix (fixes its kernel, the constants).
REGULARISATION = 1e-12
#: Loose tolerance of the intermediate stages of the density continuation.
CONTINUATION_TOL = 1e-2
#: Preconditioned CG (preconditioner: the last sparse LU) iterations allowed before refactoring.
PCG_MAX_ITER = 25
#: Diagonally preconditioned CG iterations allowed (``NewtonSystem(factorise=False)``) before the LU.
JACOBI_MAX_ITER = 2000
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
        """The Jacobian ``dG/dpsi``: the graph Laplacian with off-diagonal ``-hess`` (sparse, n x n)."""
        n = self.mass.shape[0]
        off = sp.csr_array((self.hess, self.indices, self.indptr), shape=(n, n), copy=True)  # the lists are shared
        off.eliminate_zeros()  # candidate lists may hold non-neighbours
        diag = np.asarray(off.sum(axis=1)).ravel()
        return (sp.diags_array(diag) - off).tocsc()

    def centroids(self, x) -> np.ndarray:
        """``moment / mass``; a cell without mass keeps its site (never NaN)."""
        out = x.copy()
        ok = self.mass > 0
        out[ok] = self.moment[ok] / self.mass[ok, None]
        return out


class NewtonSystem:
    """Solves ``(H + delta I) d = r`` for successive Laplacians ``H`` of the cells.

    The first system is factorised (SuperLU, symmetric mode). Later ones are solved by conjugate
    gradients preconditioned with that factorisation, which is refreshed only when CG needs more than
    :data:`PCG_MAX_ITER` iterations: near the solution the matrices hardly change.

    With ``factorise=False`` every system is first tried by CG preconditioned with the diagonal
    (:func:`jacobi_cg`, at most :data:`JACOBI_MAX_ITER` iterations), the factorisation
    being the fallback: in 3-D the sparse LU fills in badly (for 10^4 cells about 30 times the nonzeros
    of the Laplacian).
    """

    def __init__(self, factorise=True):
        self._lu = None
        self.factorise = factorise
        self.factorisations = 0
        self.cg_iterations = 0

    def _cg(self, A, residual, rtol, M, maxiter):
        count = [0]

        def tick(_):
            count[0] += 1

        d, code = spla.cg(A, residual, rtol=rtol, atol=0.0, maxiter=maxiter, M=M, callback=tick)
        self.cg_iterations += count[0]
        return d if code == 0 else None

    def solve(self, cells: Cells, residual: np.ndarray, rtol: float) -> np.ndarray:
        H = cells.matrix()
        diag = H.diagonal()
        delta = REGULARISATION * max(float(diag.max()), np.finfo(float).tiny)
        A = (H + delta * sp.eye_array(H.shape[0], format="csc")).tocsc()
        d = None
        if not self.factorise:
            B = A.tocsr()
            d, its, ok = jacobi_cg(B.indptr.astype(np.int64), B.indices.astype(np.int64), B.data,
                                   np.ascontiguousarray(residual, dtype=np.float64), rtol, JACOBI_MAX_ITER)
            self.cg_iterations += its
            d = d if ok else None
        elif self._lu is not None and self._lu.shape == A.shape:
            M = spla.LinearOperator(A.shape, matvec=self._lu.solve, dtype=np.float64)
            d = self._cg(A, residual, rtol, M, PCG_MAX_ITER)
        if d is not None:
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


def _start(diagram, a, psi_warm):
    """``(start, psi, cells)``: the warm start (repaired if few cells are empty) or the fitted one."""
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
    return start, psi, cells


def _continuation(diagram, a, psi, max_iter):
    """Loose solves for ``(1 - t) uniform + t rho``, ``t = 0, 1/2, 3/4, ...``, until the cells of ``rho``
    itself are within a factor 2 of their targets. Returns ``(psi, cells, iterations)``."""
    iterations, t = 0, 0.0
    if psi is None:
        psi = diagram.fit_start()
    while True:
        blended = diagram.blend(t)
        psi, _, its, _, _ = damped_newton(
            lambda p, fresh=False, floor=None: diagram(p, blended, fresh, floor), psi, a, CONTINUATION_TOL,
            max_iter, float(blended.max()))
        iterations += its
        cells = diagram(psi, fresh=True)
        done = cells.mass.min() > 0 and relative_error(cells.mass, a) <= GOOD_START
        if done or t > 1.0 - 2.0**-40:
            return psi, cells, iterations
        t = 0.5 * (1.0 + t)


def solve_cells(diagram, a, tol, max_iter, psi_warm=None):
    """Solve ``G(psi) = a`` on ``diagram`` (see the module docstring); returns ``(psi, cells, info)``.

    ``info`` has ``status``, ``iterations`` (Newton iterations, all stages), ``evaluations`` (cell
    computations), ``triangulations``, ``start`` (``"warm"``, ``"fit"`` or ``"continuation"``) and
    ``max_mass_error``.
    """
    if psi_warm is not None and hasattr(diagram, "internal"):
        psi_warm = diagram.internal(psi_warm)
    start, psi, cells = _start(diagram, a, psi_warm)
    iterations = 0
    good = start is not None and relative_error(cells.mass, a) <= GOOD_START
    if not good and getattr(diagram, "supports_continuation", False):
        start = "continuation"
        psi, cells, iterations = _continuation(diagram, a, psi, max_iter)
    info = {"evaluations": 0, "triangulations": 0, "start": start}
    if cells is None or cells.mass.min() <= 0:
        status, err = "no_admissible_start", np.inf if cells is None else relative_error(cells.mass, a)
        psi = np.zeros(len(a)) if psi is None else psi
    else:
        system = NewtonSystem(factorise=getattr(diagram, "factorise", True))
        psi, cells, its, status, err = damped_newton(diagram, psi, a, tol, max_iter, diagram.rho_max, cells, system)
        iterations += its
    info.update(status=status, iterations=iterations, evaluations=diagram.evaluations,
                triangulations=diagram.hulls, max_mass_error=err)
    if hasattr(diagram, "duals"):
        psi = diagram.duals(psi)
        psi = psi - np.dot(a, psi) / np.sum(a)
    return psi, cells, info


# --- numba kernels -------------------------------------------------------------------------------


@numba.njit(cache=True)
def jacobi_cg(indptr, indices, data, b, rtol, maxiter):
    """Solve ``A x = b`` (``A`` symmetric positive definite, CSR) by CG preconditioned with its diagonal.

    One compiled, single-threaded loop (no BLAS calls: a threaded BLAS dot product was measured 8 times
    slower on a loaded machine). Stops when ``|b - A x| <= rtol |b|``.

    Returns
    -------
    x : (n,) float64; iterations : int; converged : bool (False after ``maxiter`` iterations or on a
    breakdown, ``p . A p <= 0``)

    Examples
    --------
    >>> import numpy as np
    >>> x, its, ok = jacobi_cg(np.array([0, 2, 4]), np.array([0, 1, 0, 1]), np.array([2.0, -1.0, -1.0, 2.0]),
    ...                        np.array([1.0, 0.0]), 1e-12, 10)
    >>> x.round(12).tolist(), ok
    ([0.666666666667, 0.333333333333], True)
    """
    n = b.shape[0]
    inv = np.zeros(n)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == i:
                inv[i] += data[k]
        inv[i] = 1.0 / inv[i] if inv[i] > 0.0 else 1.0
    x = np.zeros(n)
    r = b.copy()
    z = r * inv
    p = z.copy()
    q = np.empty(n)
    rz = 0.0
    bb = 0.0
    for i in range(n):
        rz += r[i] * z[i]
        bb += b[i] * b[i]
    stop = rtol * rtol * bb
    if bb == 0.0:
        return x, 0, True
    for it in range(maxiter):
        pq = 0.0
        for i in range(n):
            acc = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                acc += data[k] * p[indices[k]]
            q[i] = acc
            pq += p[i] * acc
        if not pq > 0.0:
            return x, it, False
        alpha = rz / pq
        rr = 0.0
        for i in range(n):
            x[i] += alpha * p[i]
            r[i] -= alpha * q[i]
            rr += r[i] * r[i]
        if rr <= stop:
            return x, it + 1, True
        new = 0.0
        for i in range(n):
            z[i] = r[i] * inv[i]
            new += r[i] * z[i]
        beta = new / rz
        rz = new
        for i in range(n):
            p[i] = z[i] + beta * p[i]
    return x, maxiter, False
