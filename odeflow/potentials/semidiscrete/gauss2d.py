"""Exact semi-discrete transport in 2-D against a Gaussian or a Gaussian mixture (any SPD covariances).

The particles' Laguerre cells are the polygons of :mod:`odeflow.potentials.laguerre2d`; their masses,
moments, costs and Hessian facet integrals are integrated exactly against the density by the kernels of
:mod:`odeflow.potentials.gauss2d_kernels` (whitening, Green's theorem, closed-form erf integrals), and
the same damped Newton method solves ``mu(L_i) = a_i``.

Bounding rectangle. A Gaussian has unbounded support, so the cells are clipped to a rectangle outside
of which the mixture has mass below ``1e-16``: for each component the ellipse ``|W (y - m)| <= R``
(``W`` its whitening) holds all but ``exp(-R^2 / 2)`` of its mass, and ``R = sqrt(2 ln 1e16)`` makes
that ``1e-16``; the rectangle is the union of the ellipses' bounding boxes (half-widths
``R sqrt(C_11)``, ``R sqrt(C_22)``, from the eigen-decomposition of each ``C``). It depends on the
density only, never on the particles: a particle far outside still gets the part of the plane it wins
inside the rectangle.

Starting point. Damped Newton needs every cell to have mass, and converges fastest from cells whose
masses are already about right. For any convex ``u``, the duals ``psi_i = |x_i|^2 / 2 - u(x_i)`` make
the power cell of ``x_i`` contain ``grad u(x_i)`` (``y . x_i - u(x_i) >= y . x_j - u(x_j)`` at that ``y``
is the convexity inequality), so no cell is empty, and the cells are about the images of the
particles' neighbourhoods under ``grad u``. We take for ``grad u`` the optimal affine map ``x -> A x + b``
between the particles' fitted Gaussian (robust mean and covariance of the sites) and the target's
mean and covariance (:meth:`GaussianPowerDiagram2D.fit_map`). With an isotropic ``A = s I`` the cells
are exactly the Voronoi cells of the ``s x_i + b`` (the map of ``PowerDiagram2D.fit_start``); for a
symmetric positive definite ``A`` they are the Voronoi cells of the ``A x_i + b`` in the metric of
``A^-1`` (a linear map that is not symmetric is not the gradient of any ``u``: its images' cells are
no power diagram of the sites). The anisotropic fit matters: an isotropic one leaves the cells along
the narrow axis of an anisotropic target with masses down to 1e-20 of their targets, and the damped
Newton method then needs dozens of iterations. For a standard-normal cloud and an anisotropic Gaussian target this start
converges in about 6 iterations.

Far particles. A particle far from the others (say 50 sigma away) has a cell that is nearly a
half-plane beyond a line orthogonal to its direction; under the fitted duals that half-plane lies
outside the rectangle and the cell is empty. :meth:`GaussianPowerDiagram2D.repair` raises such duals
until each site wins a neighbourhood of an anchor (:meth:`~GaussianPowerDiagram2D.anchors`): the
image ``A x_i + b`` for ordinary sites, and for far ones a point on the level line where the half-plane
holds about the mass ``a_i`` (but beyond every other site's image, so that no other cell is emptied).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

from ...measures import Gaussian, GaussianMixture
from .gauss2d_kernels import gauss_cell_variance, gauss_cells
from .laguerre2d import PowerDiagram2D
from .newton import Cells, relative_error, solve_cells

#: Mass of the mixture allowed outside the bounding rectangle.
OUTSIDE_MASS = 1e-16
#: Particles farther than this (Mahalanobis, in their fitted Gaussian) get special repair anchors.
OUTLIER_RADIUS = 6.0
#: Mahalanobis radius beyond which particles are left out of the fitted covariance (robust start).
FIT_RADIUS = 3.0
#: Relative size of the smallest covariance eigenvalue (to the largest) accepted as positive definite.
SPD_TOL = 1e-12


def mixture_components(density):
    """``(means, covs, weights)`` of a 2-D :class:`Gaussian` or :class:`GaussianMixture` (zero weights dropped).

    >>> import numpy as np, odeflow as of
    >>> means, covs, weights = mixture_components(of.Gaussian([1.0, 2.0], np.eye(2)))
    >>> means.tolist(), weights.tolist()
    ([[1.0, 2.0]], [1.0])
    """
    if isinstance(density, Gaussian):
        means, covs, weights = density.mean[None], density.cov[None], np.ones(1)
    elif isinstance(density, GaussianMixture):
        means, covs, weights = density.means, density.covs, density.weights
    else:
        raise TypeError(f"density: expected a Gaussian or GaussianMixture, got {type(density).__name__}")
    if means.shape[1] != 2:
        raise ValueError(f"density: the exact Gaussian path is 2-D, this density has dimension {means.shape[1]}")
    keep = weights > 0
    means = np.ascontiguousarray(means[keep], dtype=np.float64)
    covs = np.ascontiguousarray(covs[keep], dtype=np.float64)
    weights = np.asarray(weights[keep], dtype=np.float64)
    for k, c in enumerate(covs):
        ev = np.linalg.eigvalsh(c)
        if not ev[0] > SPD_TOL * ev[1]:
            raise ValueError(f"density: covariance {k} is singular (eigenvalues {ev[0]:.3g}, {ev[1]:.3g}); "
                             "the exact Gaussian path needs positive definite covariances")
    return means, covs, weights / weights.sum()


def whitening(covs):
    """``(factor, whiten)``: ``factor[k] = V sqrt(Lambda)`` with ``det V = +1`` and ``whiten[k]`` its inverse.

    >>> f, w = whitening(np.array([[[4.0, 0.0], [0.0, 1.0]]]))
    >>> (f[0] @ f[0].T).tolist(), bool(np.linalg.det(w[0]) > 0)
    ([[4.0, 0.0], [0.0, 1.0]], True)
    """
    factor = np.empty_like(covs)
    whiten = np.empty_like(covs)
    for k, c in enumerate(covs):
        ev, vec = np.linalg.eigh(c)
        if np.linalg.det(vec) < 0:
            vec[:, 0] = -vec[:, 0]
        factor[k] = vec * np.sqrt(ev)
        whiten[k] = (vec / np.sqrt(ev)).T
    return factor, whiten


def bounding_box(means, covs, outside=OUTSIDE_MASS):
    """``(lo, hi)``: a rectangle outside of which the mixture has mass below ``outside``.

    Each component keeps all but ``exp(-R^2/2) = outside`` of its mass in the ellipse of whitened
    radius ``R``, whose bounding box has half-widths ``R sqrt(diag C)``.

    >>> lo, hi = bounding_box(np.zeros((1, 2)), np.eye(2)[None])
    >>> round(float(hi[0]), 4)   # sqrt(2 ln 1e16)
    8.5839
    """
    radius = math.sqrt(-2.0 * math.log(outside))
    half = radius * np.sqrt(np.einsum("kii->ki", covs))
    return (means - half).min(axis=0), (means + half).max(axis=0)


class GaussianPowerDiagram2D(PowerDiagram2D):
    """Laguerre cells of the sites ``x`` integrated against a 2-D Gaussian (mixture).

    A drop-in for :class:`~odeflow.potentials.laguerre2d.PowerDiagram2D` in the damped Newton method
    (:func:`~odeflow.potentials.laguerre2d.damped_newton`): ``diagram(psi, fresh=False, floor=None)``
    returns the :class:`Cells`, with ``fit_start``, ``repair``, ``rho_max`` (an upper bound of the
    density, ``sum_k w_k / (2 pi sqrt(det C_k))``) and ``cell_variance``. The cells are clipped to
    :func:`bounding_box` of the density (see the module docstring).

    Parameters
    ----------
    x : (n, 2) distinct sites
    density : :class:`~odeflow.Gaussian` or :class:`~odeflow.GaussianMixture` in 2-D
    a : (n,) target masses (default uniform); used by the start and the repairs
    moments : bool
        False: the cells carry masses, Hessian entries and areas only (``moment`` and ``cost`` NaN),
        which is all the Newton iterations need and about half the work; :meth:`complete` adds them.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> d = GaussianPowerDiagram2D(np.array([[-1.0, 0.0], [1.0, 0.0]]), of.Gaussian([0, 0], np.eye(2)))
    >>> d(np.zeros(2), fresh=True).mass.round(12).tolist()
    [0.5, 0.5]
    """

    SPREAD = False  # the Gaussian kernels work on the sites themselves

    def __init__(self, x, density, a=None, moments=True):
        self.means, self.covs, self.weights = mixture_components(density)
        self.factor, self.whiten = whitening(self.covs)
        lo, hi = bounding_box(self.means, self.covs)
        super().__init__(x, lo, hi, None)
        n = self.x.shape[0]
        self.a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
        det = np.sqrt(np.linalg.det(self.covs))
        self.rho_max = float(np.sum(self.weights / (2.0 * math.pi * det)))
        self.moments = bool(moments)
        self._map = None  # fit_map(), computed once
        self._floor = 0.0  # the damped Newton floor of the current evaluation
        self._last = None  # (psi, cells) of the last fresh evaluation

    def __call__(self, psi, fresh=False, floor=None) -> Cells:
        """The cells at ``psi`` (see :meth:`PowerDiagram2D.__call__`); a repeated fresh call is cached.

        With a ``floor`` (a damped Newton trial), the kernel gives up at the first cell without area or
        with a mass below it and the cells come back with ``exact = False`` (the trial is rejected).
        """
        if fresh and self._last is not None and np.array_equal(self._last[0], psi):
            self.evaluations += 1
            return self._last[1]
        self._floor = 0.0 if floor is None else float(floor)
        cells = super().__call__(psi, None, fresh, floor)
        if fresh and cells.exact:
            self._last = (np.array(psi, dtype=np.float64), cells)
        return cells

    def _cells(self, psi, grid, indptr, indices, active, fresh):
        *out, ok = gauss_cells(self.x, psi, indptr, indices, self.lo, self.hi, self.means, self.whiten,
                               self.factor, self.weights, active, self.moments, self._floor)
        return Cells(*out, indptr, indices, fresh, exact=ok)

    def complete(self, psi, cells: Cells) -> Cells:
        """``cells`` (the cells at ``psi``) recomputed with moments and costs, on the same neighbour lists.

        >>> import numpy as np, odeflow as of
        >>> d = GaussianPowerDiagram2D(np.zeros((1, 2)), of.Gaussian([1, 2], np.eye(2)), moments=False)
        >>> d.complete(np.zeros(1), d(np.zeros(1), fresh=True)).moment.round(12).tolist()
        [[1.0, 2.0]]
        """
        psi = np.ascontiguousarray(psi, dtype=np.float64)
        out = gauss_cells(self.x, psi, cells.indptr, cells.indices, self.lo, self.hi, self.means, self.whiten,
                          self.factor, self.weights, cells.area > 0, True, 0.0)
        return Cells(*out[:5], cells.indptr, cells.indices, cells.fresh, cells.exact, cells.excess)

    def target_mean(self) -> np.ndarray:
        """Mean of the density.

        >>> import numpy as np, odeflow as of
        >>> mix = of.GaussianMixture([[0.0, 0.0], [2.0, 0.0]], [np.eye(2)] * 2)
        >>> GaussianPowerDiagram2D(np.zeros((1, 2)), mix).target_mean().tolist()
        [1.0, 0.0]
        """
        return self.weights @ self.means

    def target_covariance(self) -> np.ndarray:
        """Covariance of the density.

        >>> import numpy as np, odeflow as of
        >>> mix = of.GaussianMixture([[0.0, 0.0], [2.0, 0.0]], [np.eye(2)] * 2)
        >>> GaussianPowerDiagram2D(np.zeros((1, 2)), mix).target_covariance().tolist()
        [[2.0, 0.0], [0.0, 1.0]]
        """
        d = self.means - self.target_mean()
        return np.einsum("k,kij->ij", self.weights, self.covs + d[:, :, None] * d[:, None, :])

    def fit_map(self):
        """``(A, b)``: the affine map ``y = A x + b`` between the particles' and the target's fitted Gaussians.

        ``A`` is the symmetric positive definite matrix of the optimal map between the two Gaussians
        (the particles' moments estimated robustly, see :func:`_robust_moments`).

        >>> import numpy as np, odeflow as of
        >>> x = np.random.default_rng(0).standard_normal((2000, 2))
        >>> A, b = GaussianPowerDiagram2D(x, of.Gaussian([5, 0], [[4.0, 0.0], [0.0, 0.25]])).fit_map()
        >>> np.diag(A).round(1).tolist(), b.round(1).tolist()
        ([2.0, 0.5], [5.0, 0.0])
        """
        if self._map is None:
            m, cov = _robust_moments(self.x)
            A = np.eye(2) if cov is None else _gaussian_map(cov, self.target_covariance())
            self._map = (A, self.target_mean() - A @ m)
            self._m = m
            self._cov_inv = np.zeros((2, 2)) if cov is None else np.linalg.inv(cov)
        return self._map

    def fit_start(self) -> np.ndarray:
        """Duals ``psi_i = |x_i|^2 / 2 - u(x_i)`` for ``u(x) = x^T A x / 2 + b . x`` (:meth:`fit_map`), repaired.

        See the module docstring; cells left without mass are enlarged by :meth:`repair`.

        >>> import numpy as np, odeflow as of
        >>> x = np.vstack([np.random.default_rng(0).standard_normal((100, 2)), [[50.0, 0.0]]])
        >>> d = GaussianPowerDiagram2D(x, of.Gaussian([0, 0], [[1.0, 0.0], [0.0, 0.1]]))
        >>> bool(d(d.fit_start(), fresh=True).mass.min() > 0)   # the far site's cell too
        True
        """
        A, b = self.fit_map()
        z = self._z  # x - centre: small numbers
        b_c = b + (A - np.eye(2)) @ self.centre
        psi = 0.5 * (np.einsum("ij,ij->i", z, z) - np.einsum("ij,jk,ik->i", z, A, z)) - z @ b_c
        psi -= psi.mean()
        cells = self(psi, fresh=True)
        if np.any((cells.area <= 0) | (cells.mass <= 0)):
            psi, cells = self.repair(psi, cells)
        return psi

    def repair(self, psi, cells, rounds=4):
        """Give every cell without mass some: raise ``psi_i`` until site ``i`` wins around its anchor.

        The anchor is given by :meth:`anchors`; the site then beats the current winner there by a
        quarter of the squared distance from the anchor to the nearest other site, so its cell contains
        a neighbourhood of the anchor of about that size (a margin measured by the winner's distance, as
        in :meth:`PowerDiagram2D.repair`, would let a far site swallow the cloud). A few rounds, since a
        raised site may empty a neighbour. Returns ``(psi, cells)``.

        >>> import numpy as np, odeflow as of
        >>> d = GaussianPowerDiagram2D(np.array([[0.0, 0.0], [0.5, 0.0]]), of.Gaussian([0, 0], np.eye(2)))
        >>> psi, cells = d.repair(np.array([0.0, -5.0]), d(np.array([0.0, -5.0]), fresh=True))
        >>> bool(cells.mass[1] > 0)
        True
        """
        anchor = self.anchors()
        sites = cKDTree(self.x)
        for _ in range(rounds):
            empty = np.flatnonzero((cells.area <= 0) | (cells.mass <= 0))
            if empty.size == 0:
                break
            psi = psi.copy()
            y = anchor[empty]
            lift = np.sqrt(np.max(2.0 * psi) - 2.0 * psi)
            _, win = cKDTree(np.column_stack([self.x, lift])).query(np.column_stack([y, np.zeros(empty.size)]), k=2)
            win = np.where(win[:, 0] == empty, win[:, 1], win[:, 0])
            dist, near = sites.query(y, k=2)
            spacing = np.where(near[:, 0] == empty, dist[:, 1], dist[:, 0])
            score = 0.5 * np.sum((y - self.x[win]) ** 2, axis=1) - psi[win]
            gap = 0.25 * spacing**2 + 1e-12 * self.area
            psi[empty] = 0.5 * np.sum((y - self.x[empty]) ** 2, axis=1) - score + gap
            cells = self(psi, fresh=True)
        return psi, cells

    def anchors(self) -> np.ndarray:
        """For each site, the point :meth:`repair` makes it win: its image ``A x_i + b`` (:meth:`fit_map`).

        Under the fitted duals, site ``i``'s cell contains that image. A site far from the others
        (Mahalanobis distance above :data:`OUTLIER_RADIUS` in the particles' fitted Gaussian) has a
        cell that is nearly a half-plane ``{y . n >= s}``, ``n`` the direction from the particles'
        (robust) mean to the site; when its image lies beyond the level ``s`` where that half-plane holds
        the mass ``a_i`` (a 1-D mixture tail, solved by bisection), its anchor is moved onto that level,
        but never below the other sites' images (a half-plane holding an image would empty that site's
        cell, and its repair would have to beat the far site there).

        >>> import numpy as np, odeflow as of
        >>> x = np.vstack([np.random.default_rng(0).standard_normal((99, 2)), [[50.0, 0.0]]])
        >>> anchor = GaussianPowerDiagram2D(x, of.Gaussian([0, 0], np.eye(2))).anchors()[-1]
        >>> bool(2.0 < anchor[0] < 4.0)   # near the 1% tail level, not at 50
        True
        """
        A, b = self.fit_map()
        image = self.x @ A.T + b
        mu = self.target_mean()
        d = self.x - self._m
        outlier = np.einsum("ij,jk,ik->i", d, self._cov_inv, d) > OUTLIER_RADIUS**2
        dist = np.hypot(d[:, 0], d[:, 1])
        n = np.where((dist > 0)[:, None], d / np.where(dist > 0, dist, 1.0)[:, None], [1.0, 0.0])
        centre = (self.means - mu) @ n.T  # (K, sites): component means along n
        sigma = np.sqrt(np.einsum("si,kij,sj->ks", n, self.covs, n))
        lo = np.min(centre - 40.0 * sigma, axis=0)
        hi = np.max(centre + 40.0 * sigma, axis=0)
        for _ in range(80):  # the tail mass sum_k w_k Q((s - c_k) / sigma_k) decreases in s
            mid = 0.5 * (lo + hi)
            above = self.weights @ ndtr((centre - mid) / sigma) > self.a
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        level = 0.5 * (lo + hi)
        along = np.einsum("ij,ij->i", image - mu, n)
        far = np.flatnonzero(outlier & (along > level))
        anchor = image.copy()
        if far.size:
            near = np.setdiff1d(np.arange(len(dist)), far)
            reach = np.max(n[far] @ (image[near] - mu).T, axis=1) if near.size else -np.inf
            shift = np.maximum(level[far], reach + 1e-3 * np.max(sigma[:, far], axis=0))
            anchor[far] = mu + shift[:, None] * n[far]
        return anchor

    def cell_variance(self, psi, cells: Cells, centres) -> np.ndarray:
        """``int_{L_i} |y - c_i|^2 rho`` of each cell of ``cells`` (the cells at ``psi``) about ``centres``.

        >>> import numpy as np, odeflow as of
        >>> d = GaussianPowerDiagram2D(np.zeros((1, 2)), of.Gaussian([0, 0], np.eye(2)))
        >>> cells = d(np.zeros(1), fresh=True)
        >>> round(float(d.cell_variance(np.zeros(1), cells, np.zeros((1, 2)))[0]), 12)
        2.0
        """
        return gauss_cell_variance(self.x, np.ascontiguousarray(psi, dtype=np.float64), cells.indptr,
                                   cells.indices, self.lo, self.hi, self.means, self.whiten, self.factor,
                                   self.weights, cells.area > 0, np.ascontiguousarray(centres, dtype=np.float64))


def _robust_moments(x):
    """Mean and covariance of the sites, leaving out those beyond Mahalanobis radius :data:`FIT_RADIUS`.

    The sites' geometry, not their weights: the fitted map should give cells of comparable masses
    (the damped Newton method then matches the weights; a heavy site would otherwise shrink the fit
    to a point). Starts from the coordinate-wise median and the median distance; two reweighted
    passes, the covariance rescaled to be consistent for Gaussian clouds. Falls back to the plain
    moments when half the sites coincide; eigenvalues are floored at ``1e-4`` of the largest. Returns
    ``(mean, None)`` when all the sites coincide.
    """
    m = np.median(x, axis=0)
    r = float(np.median(np.hypot(*(x - m).T)))
    w = np.full(x.shape[0], 1.0 / x.shape[0])
    m_all = w @ x
    cov = ((x - m_all) * w[:, None]).T @ (x - m_all)
    if r > 0:
        m, cov = _trimmed_moments(x, w, m, np.eye(2) * (r * r / (2.0 * math.log(2.0))))
    else:
        m = m_all
    ev, vec = np.linalg.eigh(0.5 * (cov + cov.T))
    if not ev[1] > 0:
        return m, None
    ev = np.maximum(ev, 1e-4 * ev[1])
    return m, (vec * ev) @ vec.T


def _trimmed_moments(x, w, m, cov):
    r2 = FIT_RADIUS**2
    consistency = (1.0 - math.exp(-0.5 * r2) * (1.0 + 0.5 * r2)) / (1.0 - math.exp(-0.5 * r2))
    for _ in range(2):
        d = x - m
        keep = w * (np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) <= r2)
        if np.count_nonzero(keep) < 3:
            break
        keep = keep / keep.sum()
        m = keep @ x
        d = x - m
        new = (d * keep[:, None]).T @ d / consistency
        if not np.linalg.det(new) > 0:
            break
        cov = new
    return m, cov


def _gaussian_map(s0, s1) -> np.ndarray:
    """The SPD matrix of the optimal (Brenier) map from ``N(0, s0)`` to ``N(0, s1)``."""
    w, v = np.linalg.eigh(s0)
    root = (v * np.sqrt(w)) @ v.T
    inv_root = (v / np.sqrt(w)) @ v.T
    w2, v2 = np.linalg.eigh(root @ s1 @ root)
    middle = (v2 * np.sqrt(np.maximum(w2, 0.0))) @ v2.T
    A = inv_root @ middle @ inv_root
    return 0.5 * (A + A.T)


def solve_gauss2d(x, a, density, tol=1e-9, max_iter=100, psi_warm=None):
    """Semi-discrete transport of the particles ``(x, a)`` onto a 2-D Gaussian (mixture), exactly.

    Solves ``mu(L_i) = a_i`` for the duals ``psi`` by the damped Newton method of
    :func:`.newton.solve_cells` on a :class:`GaussianPowerDiagram2D`.

    Parameters
    ----------
    x : (n, 2) distinct particle positions
    a : (n,) positive weights summing to one
    density : :class:`~odeflow.Gaussian` or :class:`~odeflow.GaussianMixture` (2-D, SPD covariances)
    tol : stop when ``max_i |mu(L_i) - a_i| / a_i <= tol``
    max_iter : Newton iterations allowed
    psi_warm : (n,) optional warm start

    Returns
    -------
    psi : (n,) duals; cells : :class:`~odeflow.potentials.laguerre2d.Cells` at ``psi`` (with moments
        and costs), or None when no start was found
    info : dict with ``status``, ``iterations``, ``evaluations``, ``triangulations``, ``start``,
        ``max_mass_error`` (as :func:`.newton.solve_cells`), plus ``seconds``, ``n_sites`` and ``box``
        (the bounding rectangle, ``(lo, hi)`` as lists)

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> x = np.array([[-1.0, 0.0], [0.5, 0.3], [0.2, -1.0]])
    >>> psi, cells, info = solve_gauss2d(x, np.full(3, 1 / 3), of.Gaussian([0, 0], [[1.0, 0.3], [0.3, 0.5]]))
    >>> info["status"], cells.mass.round(9).tolist()
    ('optimal', [0.333333333, 0.333333333, 0.333333333])
    """
    start = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 1:
        raise ValueError(f"x: expected an (n, 2) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x: contains non-finite value(s) (NaN or inf)")
    if a.shape != (x.shape[0],) or not np.all(a > 0):
        raise ValueError(f"a: expected {x.shape[0]} positive weights, got shape {a.shape}")
    if abs(float(a.sum()) - 1.0) > 1e-9:
        raise ValueError(f"a: the weights must sum to 1 (the density's mass), they sum to {float(a.sum())!r}")
    if not tol > 0:
        raise ValueError(f"tol: must be positive, got {tol!r}")
    diagram = GaussianPowerDiagram2D(x, density, a, moments=False)
    psi, cells, info = solve_cells(diagram, a, tol, int(max_iter), psi_warm)
    if cells is not None:
        cells = diagram.complete(psi, cells)
        info["max_mass_error"] = relative_error(cells.mass, a)
    info.update({"seconds": time.perf_counter() - start, "n_sites": int(x.shape[0]),
                 "box": (diagram.lo.tolist(), diagram.hi.tolist())})
    return psi, cells, info


def cell_variance_gauss2d(x, psi, cells: Cells, density, centres) -> np.ndarray:
    """``int_{L_i} |y - c_i|^2 rho`` of each cell of ``cells`` (the cells of ``x`` at ``psi``), exactly.

    Uses the neighbour lists the cells were computed with; cells without area contribute 0.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> x = np.array([[-1.0, 0.0], [1.0, 0.0]])
    >>> g = of.Gaussian([0, 0], np.eye(2))
    >>> psi, cells, info = solve_gauss2d(x, np.full(2, 0.5), g)
    >>> v = cell_variance_gauss2d(x, psi, cells, g, cells.centroids(x))
    >>> round(float(v[0]), 10)   # mass 1/2 times (1 - 2/pi across the boundary + 1 along it)
    0.6816901138
    """
    return GaussianPowerDiagram2D(x, density).cell_variance(psi, cells, centres)
