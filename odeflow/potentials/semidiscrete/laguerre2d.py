"""Exact semi-discrete optimal transport in 2-D: Laguerre polygons in a rectangle, uniform or pixel density.

Power diagram. The cells are the projection of the lower convex hull of the lifted points
``(x_i, |x_i|^2 - 2 psi_i)`` (Qhull, through :class:`scipy.spatial.ConvexHull`); a site off the lower
hull has an empty cell. Four auxiliary points far outside (with duals small enough that their cells
miss the box) keep the hull three-dimensional for any input (collinear sites, fewer than three sites).
Each cell is the box clipped by the half-planes of its neighbours in that triangulation, in a numba
kernel (:func:`.polygons.laguerre_cells_box`, or :func:`.pixels.laguerre_cells_grid` which clips against
the pixels of an image). Masses, centroids and Hessian entries are exact up to rounding.

Starting point. Damped Newton (:mod:`.newton`) needs every cell non-empty at the start: the warm start
(its empty cells first repaired by raising their duals, :meth:`PowerDiagram2D.repair`), or the duals that
make the cells the Voronoi cells of the particles mapped into the box by a scaling ``y = c + s (x - m)``
(all then inside the box: every cell has positive area). For an image with empty (zero) pixels that may
still leave a cell without mass; the driver then follows a continuation in the density,
``rho_t = (1 - t) / |B| + t rho`` (:meth:`PowerDiagram2D.blend`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError, cKDTree

from .newton import Cells, solve_cells
from .pixels import laguerre_cell_variance, laguerre_cells_grid
from .polygons import laguerre_cells_box, lower_hull_adjacency, two_ring

#: Qhull options: triangulated output, rescaled last coordinate, coplanar points kept apart.
QHULL_OPTIONS = "Qt Qbb Qc"
#: Cells computed from the previous triangulation's neighbour lists are trusted when their areas add
#: up to the box's within this relative amount (each such cell contains the true one, so the areas add
#: up exactly only when no neighbour is missing); otherwise Qhull runs again.
AREA_CERTIFICATE = 1e-12


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
        self.scale, self._mid = self._spread()
        # the internal sites: x itself, or the cloud spread over the box (see duals)
        self._site = self.x if self.scale == 1.0 else self.centre + self.scale * (self.x - self._mid)
        z = self._site - self.centre
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
        self.rho_max = 1.0 / self.area if self.grid is None else float(self.grid.max())
        self.supports_continuation = self.grid is not None

    #: Whether a cloud smaller than the box is spread over it internally (:meth:`duals`); subclasses whose
    #: cells are computed from ``x`` itself turn it off.
    SPREAD = True

    def _spread(self):
        """``(s, m)`` of the map ``y = c + s (x - m)`` that spreads a cloud smaller than the box over it
        (98% of the box's width in the tighter axis); ``(1, c)`` (no map) when the cloud is not smaller."""
        if not self.SPREAD:
            return 1.0, self.centre
        xmin, xmax = self.x.min(axis=0), self.x.max(axis=0)
        half_pts = 0.5 * (xmax - xmin)
        with np.errstate(divide="ignore"):
            ratios = np.where(half_pts > 0, 0.5 * (self.hi - self.lo) / np.where(half_pts > 0, half_pts, 1.0),
                              np.inf)
        s = 0.98 * float(ratios.min())
        if not np.isfinite(s) or s <= 1.0:
            return 1.0, self.centre
        return s, 0.5 * (xmin + xmax)

    def _quadratic(self):
        """``q(x_i)`` of :meth:`duals`: ``(1 - s)|z_i|^2/2 - s z_i . (c - m)`` with ``z = x - c``."""
        z = self.x - self.centre
        s = self.scale
        return 0.5 * (1.0 - s) * np.einsum("ij,ij->i", z, z) - s * (z @ (self.centre - self._mid))

    def duals(self, phi) -> np.ndarray:
        """The duals ``psi`` of the sites ``x`` from the internal duals ``phi`` of the spread sites.

        The cells work on the sites ``x'_i = c + s (x_i - m)`` (a cloud smaller than the box spread over
        it, :meth:`_spread`); with ``psi_i = q(x_i) + phi_i / s`` (:meth:`_quadratic`) the power cells of
        ``(x, psi)`` and of ``(x', phi)`` are the same sets. The internal duals are small (the affine part
        of the transport is in ``q``), so float64 resolves them finely: for a clustered cloud the duals
        ``psi`` themselves, of size ``|x|^2``, cannot separate the cells of close sites to the tolerance
        (one unit in the last place of ``psi_i`` moves a facet by ``ulp / |x_i - x_j|``). The masses are
        those of the internal duals; ``psi`` rounds them (a rebuild from ``psi`` alone may then miss the
        tolerance by about ``ulp(psi) * rho * |facet| / |x_i - x_j|`` in a cell's mass).
        """
        phi = np.asarray(phi, dtype=np.float64)
        return phi if self.scale == 1.0 else self._quadratic() + phi / self.scale

    def internal(self, psi) -> np.ndarray:
        """The inverse of :meth:`duals` (up to rounding)."""
        psi = np.asarray(psi, dtype=np.float64)
        return psi if self.scale == 1.0 else self.scale * (psi - self._quadratic())

    def adjacency(self, psi):
        """Neighbour lists of the regular triangulation (CSR) and the mask of sites on the lower hull."""
        n = self._site.shape[0]
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
        if self._site.shape[0] == 1:
            active[:] = True
        if active.all():
            self._candidates = two_ring(indptr, indices)
        return self._cells(psi, grid, indptr, indices, active, True)

    def _cells(self, psi, grid, indptr, indices, active, fresh):
        if grid is None:
            out = laguerre_cells_box(self._site, psi, indptr, indices, self.lo, self.hi, 1.0 / self.area, active)
        else:
            out = laguerre_cells_grid(self._site, psi, indptr, indices, self.lo, self.hi, grid, active)
        mass, moment, cost = out[:3]
        if self.scale != 1.0:  # the costs are about the spread sites x': move them to the sites x
            d = self._site - self.x
            cost = cost + np.einsum("ij,ij->i", d, moment - self._site * mass[:, None]) \
                + 0.5 * np.einsum("ij,ij->i", d, d) * mass
        return Cells(mass, moment, cost, *out[3:], indptr, indices, fresh)

    def fit_start(self) -> np.ndarray:
        """Internal duals whose cells are the Voronoi cells of ``c + s (x' - m)``, all inside the box
        (zero when the sites are already spread, :meth:`duals`).

        With ``z_i = c + s (x_i - m)`` the cell test ``|y - z_i|^2`` is, divided by ``s``, the power test of
        ``x_i`` with ``psi_i = (1 - s)|x_i|^2 / 2 - x_i . (c - s m)`` (up to a constant).
        """
        x = self._site
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
        anchor = self.centre + np.clip(self._site - self.centre, -0.999 * half, 0.999 * half)
        for _ in range(rounds):
            empty = np.flatnonzero(cells.area <= 0)
            if empty.size == 0:
                break
            psi = psi.copy()
            lift = np.sqrt(np.max(2.0 * psi) - 2.0 * psi)
            tree = cKDTree(np.column_stack([self._site, lift]))
            _, win = tree.query(np.column_stack([anchor[empty], np.zeros(empty.size)]), k=2)
            win = np.where(win[:, 0] == empty, win[:, 1], win[:, 0])
            y = anchor[empty]
            score = 0.5 * np.sum((y - self._site[win]) ** 2, axis=1) - psi[win]
            gap = 0.25 * np.sum((self._site[win] - y) ** 2, axis=1) + 1e-12 * self.area
            psi[empty] = 0.5 * np.sum((y - self._site[empty]) ** 2, axis=1) - score + gap
            cells = self(psi, fresh=True)
        return psi, cells

    def blend(self, t: float) -> np.ndarray:
        """The continuation density ``(1 - t) / |B| + t rho`` on the grid."""
        return (1.0 - t) / self.area + t * self.grid

    def complete(self, psi, cells: Cells) -> Cells:
        """The cells with every moment (they always are here; see the Gaussian diagram for why not)."""
        return cells

    def cell_variance(self, psi, cells: Cells, centres) -> np.ndarray:
        """``int_{L_i} |y - c_i|^2 dmu`` of each cell (exact), with the neighbour lists of ``cells``;
        cells without area contribute 0."""
        g = np.zeros((0, 0)) if self.grid is None else self.grid
        return laguerre_cell_variance(self._site, np.ascontiguousarray(self.internal(psi)), cells.indptr,
                                      cells.indices, self.lo, self.hi, g, 1.0 / self.area, cells.area > 0,
                                      np.ascontiguousarray(centres))


def solve_laguerre2d(x, a, lo, hi, grid, tol, max_iter, psi_warm=None):
    """Solve the 2-D semi-discrete problem on a rectangle; returns ``(psi, cells, info)``.

    ``grid``: pixel densities (an image) or None (uniform); see :func:`.newton.solve_cells` for ``info``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.2, 0.5], [0.4, 0.5], [0.9, 0.5]])
    >>> psi, cells, info = solve_laguerre2d(x, np.full(3, 1 / 3), [0.0, 0.0], [1.0, 1.0], None, 1e-9, 50)
    >>> info["status"], cells.mass.round(9).tolist()
    ('optimal', [0.333333333, 0.333333333, 0.333333333])
    """
    return solve_cells(PowerDiagram2D(x, lo, hi, grid), a, tol, max_iter, psi_warm)
