"""Exact semi-discrete optimal transport in 3-D: Laguerre cells as convex polyhedra in a box.

The problem and the damped Newton method are those of :mod:`odeflow.potentials.semidiscrete.laguerre2d`, whose
driver (:func:`~odeflow.potentials.semidiscrete.newton.solve_cells`: start-up, Newton steps, line search,
stopping rule) runs unchanged on a :class:`PowerDiagram3D`; the density is uniform on a box
``[lo, hi]`` in three dimensions. Each Laguerre cell is the box clipped by the half-spaces of the sites
that can cut it, a convex polyhedron whose faces remember the site that made them (numba kernels in
:mod:`odeflow.potentials.semidiscrete.polyhedra` and :mod:`odeflow.potentials.semidiscrete.cellsearch`). Volumes, centroids, second moments and facet areas come from
tetrahedral fans, exact up to rounding; so are the masses ``rho |L_i|`` and the Hessian entries
``rho |facet_ij| / |x_i - x_j|``.

Finding the sites that cut a cell (:meth:`PowerDiagram3D.search`). The diagram of ``(x_i, psi_i)`` is
also the power diagram of ``z_i = s x_i + t`` with duals ``w_i = s (psi_i + (s - 1)|x_i|^2/2 + t . x_i)``
for any ``s > 0`` and ``t``; least squares of ``psi`` on ``(|x|^2/2, x, 1)`` gives the ``s, t`` that
make the ``w_i`` nearly equal (:meth:`PowerDiagram3D.normalise`; for the fitted start they are exactly
equal and the cells are the Voronoi cells of the ``z_i``). The ``z_i`` go into a uniform grid. With
the cell's vertices within ``rho`` of their mean ``c`` and ``M = max |v - z_i|^2`` over them, a site at
distance ``d`` from ``c`` cannot cut the cell if ``(d - rho)^2 >= M + 2 (w_j - w_i)``: grid cells are
visited by Chebyshev rings, each skipped with its own largest ``w``, and the search ends once the
largest ``w`` within the next rings (a max filter over the grid) rules out every farther site. Every
cell is thereby certified on its own.

Why not Qhull, nor nearest lifted neighbours. The regular triangulation from the lower convex hull of
the lifted points ``(x_i, |x_i|^2 - 2 psi_i)`` in 4-D (the 2-D method) costs, for 10^4 uniform sites
at the solution, 2.0-2.2 times a whole search here and about 7 times an evaluation that reuses
neighbour lists (below), before any clipping (same runs, ``benchmarks/laguerre3d_solve.py``). The classical
alternative, the ``k`` nearest neighbours of ``(z_i, h_i)`` with ``h_i^2 = 2 (max w - w_i)`` and a
security radius, certified the cells of the fitted start with ``k`` of 32 to 128, but from the first
Newton step on the lift heights reach 2-3 grid widths (``psi`` is not quadratic to within the spacing
squared across the box) and 98% of the cells stayed uncertified: about 20 s per solve. The local
bound above only pays for the variation of ``w`` near each cell.

Reuse. As in 2-D, a cell computed from the neighbour lists of earlier exact cells contains the true
cell, so all are exact when their volumes add up to the box's. Here the sum is exact (``math.fsum``)
and trusted within :data:`TIGHT_CERTIFICATE`; otherwise the cells with a facet larger than their
neighbour's facet with them (a cell missing a neighbour overhangs) are searched again, up to
:data:`PATCH_ROUNDS` times, before a full search. The Newton systems are solved by conjugate gradients
preconditioned with their diagonal (``factorise = False``, :func:`odeflow.kernels.jacobi_cg`): a
sparse LU of the 3-D Laplacian of 10^4 cells holds 30 times its nonzeros and took 0.41 s, the CG
solves 0.02-0.05 s.

Speed (``python -m benchmarks.laguerre3d_solve``, one core of a loaded 2-core machine): a cold solve
of N = 10^4 uniform particles to ``tol = 1e-9`` (6 Newton iterations, 7 cell evaluations, one full
search) takes 2.2-2.5 times the CPU time of the exact 2-D solve of 10^4 particles in the same run
(1.1-1.4 s CPU), and a clustered start (``0.1 * rng.random``) 2.3-2.9 times.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import maximum_filter

from ..._checks import as_points, as_weights, check_int, check_real
from .cellsearch import power_cells_3d
from .laguerre2d import AREA_CERTIFICATE, PowerDiagram2D
from .newton import Cells, solve_cells
from .polyhedra import chunks_for, laguerre_cells_3d

#: Chebyshev rings of the search grid with their own bound on the duals (farther: the global bound).
RINGS = 5
#: Side of the search grid's cells, in mean spacings of the lifted sites.
CELL_FACTOR = 2.2
#: Range of the scale ``s`` of the lift (any ``s > 0`` is exact; the fit only shortens the lists).
SCALE_RANGE = (1e-3, 1e6)

#: Reused neighbour lists are trusted outright when the volumes add up to the box's within this (the
#: rounding of exact cells is far smaller); between it and AREA_CERTIFICATE, suspect cells are searched
#: again first, which spares the final confirmation by a full search.
TIGHT_CERTIFICATE = 1e-14
#: Rounds of searching the suspect cells again before searching all.
PATCH_ROUNDS = 3
#: Facets from the two sides differing by more than this (relative to the largest entry) are suspect.
ASYMMETRY = 1e-13

__all__ = ["PowerDiagram3D", "solve_laguerre3d"]


class PowerDiagram3D:
    """Laguerre cells of fixed sites ``x`` in the box ``[lo, hi]`` (uniform density) for any duals ``psi``.

    Follows the protocol of :func:`~odeflow.potentials.semidiscrete.newton.solve_cells`: call it for the
    :class:`~odeflow.potentials.semidiscrete.newton.Cells` at ``psi`` (``area`` holds the cell volumes), and use
    :meth:`fit_start`, :meth:`repair`, ``rho_max``, ``evaluations`` (cell computations) and ``hulls``
    (fresh neighbour searches).

    Parameters
    ----------
    x : (n, 3) distinct sites (anywhere, also outside the box)
    lo, hi : (3,) the box

    Examples
    --------
    >>> import numpy as np
    >>> d = PowerDiagram3D(np.array([[0.25, 0.5, 0.5], [0.75, 0.5, 0.5]]), [0, 0, 0], [1, 1, 1])
    >>> cells = d(np.zeros(2))
    >>> cells.mass.tolist(), cells.centroids(d.x)[0].tolist()
    ([0.5, 0.5], [0.25, 0.5, 0.5])
    """

    grid = None  # no density continuation: the density is uniform
    factorise = False  # Newton systems by diagonal-preconditioned CG (sparse LU fills in badly in 3-D)

    def __init__(self, x, lo, hi):
        self.x = as_points(x, "x")
        self._site = self.x  # the sites the borrowed 2-D start-up methods work on (no internal spread)
        if self.x.shape[1] != 3:
            raise ValueError(f"x: expected sites in 3-D, shape (n, 3), got shape {self.x.shape}")
        self.lo = _corner(lo, "lo")
        self.hi = _corner(hi, "hi")
        if np.any(self.hi <= self.lo):
            raise ValueError(f"hi: must exceed lo in every coordinate, got lo {self.lo.tolist()}, "
                             f"hi {self.hi.tolist()}")
        self.area = float(np.prod(self.hi - self.lo))  # the box volume (named as in 2-D)
        self.rho_max = 1.0 / self.area
        self.centre = 0.5 * (self.lo + self.hi)
        self.cell_factor = CELL_FACTOR
        n = self.x.shape[0]
        xc = self.x - self.centre
        self._design = np.column_stack([0.5 * np.einsum("ij,ij->i", xc, xc), xc, np.ones(n)])
        self._candidates = None  # neighbour lists of the last exact cells, if none was empty
        self.evaluations = 0
        self.hulls = 0
        self.patches = 0

    # fitted start and repair of empty cells: the 2-D methods work in any dimension
    fit_start = PowerDiagram2D.fit_start
    repair = PowerDiagram2D.repair

    def normalise(self, psi):
        """Points ``z`` (n, 3) and duals ``w`` (n,), ``max w = 0``, with the same cells as ``(x, psi)``.

        ``z = s x + t`` with ``s, t`` from a least-squares fit of ``psi`` by ``(1 - s)|x|^2/2 - t . x``.
        """
        coef = np.linalg.lstsq(self._design, psi, rcond=None)[0]
        s = float(np.clip(1.0 - coef[0], *SCALE_RANGE))
        t = -coef[1:4]
        xc = self.x - self.centre
        w = s * (psi + (s - 1.0) * self._design[:, 0] + xc @ t)
        return np.ascontiguousarray(self.centre + s * xc + t), w - w.max()

    def __call__(self, psi, fresh=False, floor=None) -> Cells:
        """The cells at ``psi`` (the protocol of ``PowerDiagram2D.__call__``, without ``grid``).

        Unless ``fresh``, the cells are first clipped by the neighbour lists of the last exact cells
        (which contain the true ones) and trusted when their volumes add up to the box's. If not, and a
        mass is below ``floor``, they are returned with ``exact=False``; otherwise the cells whose facets
        disagree with their neighbours' are searched again (:meth:`search`) and the volumes checked once
        more, and failing that every cell is searched.
        """
        self.evaluations += 1
        psi = np.ascontiguousarray(psi, dtype=np.float64)
        n = self.x.shape[0]
        if fresh or self._candidates is None:
            return self.search(psi)
        indptr, indices = (a.copy() for a in self._candidates)  # Cells.matrix() prunes its arrays in place
        mass, moment, cost, volume, hess, status = laguerre_cells_3d(
            self.x, psi, np.arange(n), indptr, indices, self.lo, self.hi, self.rho_max, self.x, chunks_for(n))
        _check(status)
        cells = self._certify(Cells(mass, moment, cost, hess, volume, indptr, indices, False), TIGHT_CERTIFICATE)
        if cells.exact:
            return cells
        loose = cells.excess <= AREA_CERTIFICATE * self.area
        if not loose and floor is not None and mass.min() < floor:
            return cells
        for _ in range(PATCH_ROUNDS):
            suspects = _asymmetric(cells, ASYMMETRY)
            if suspects.size == 0:
                break
            self.patches += 1
            cells = self._certify(self._patch(psi, cells, suspects), TIGHT_CERTIFICATE)
            if cells.exact:
                return cells
        cells = self._certify(cells, AREA_CERTIFICATE)
        return cells if cells.exact else self.search(psi)

    def _certify(self, cells, tolerance=AREA_CERTIFICATE) -> Cells:
        """Set ``excess`` and ``exact`` (volumes adding up to the box's within ``tolerance`` times its
        volume); remember the facets of exact cells as the next neighbour lists."""
        cells.excess = abs(math.fsum(cells.area) - self.area)  # exact sum: rounding of the volumes only
        cells.exact = cells.fresh or cells.excess <= tolerance * self.area
        if cells.exact and cells.area.min() > 0:
            keep = cells.hess > 0  # the facets found (candidates that made none are dropped)
            n = cells.mass.shape[0]
            rows = np.repeat(np.arange(n), np.diff(cells.indptr))[keep]
            indptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            self._candidates = (indptr, np.ascontiguousarray(cells.indices[keep]))
        return cells

    def _rows(self, psi, rows):
        """Search the cells ``rows`` (see :meth:`search`): their integrals and exact neighbour lists."""
        z, w = self.normalise(psi)
        zlo, width, dims, gptr, gsites, wring = _grid(z, w, self.cell_factor)
        hint = self._candidates if self._candidates is not None else (np.zeros(0, np.int64),) * 2
        out = power_cells_3d(self.x, psi, rows, self.lo, self.hi, self.rho_max, z, w, (zlo, width, dims, gptr, gsites),
                             wring, OFFSETS, REACH, RING_END, *hint, chunks_for(len(rows)))
        _check(out[4])
        return out

    def search(self, psi) -> Cells:
        """The cells at ``psi``, each clipped by every site that can cut it, with exact neighbour lists.

        The sites that can cut a cell are found in a grid over normalised sites (:meth:`normalise`,
        :func:`~odeflow.potentials.semidiscrete.cellsearch.power_cells_3d`): every cell is certified on its own.
        """
        self.hulls += 1
        n = self.x.shape[0]
        mass, moment, cost, volume, _, indptr, indices, hess = self._rows(psi, np.arange(n))
        return self._certify(Cells(mass, moment, cost, hess, volume, indptr, indices, True))

    def _patch(self, psi, cells, suspects) -> Cells:
        """``cells`` with the rows ``suspects`` searched again (their neighbour lists exact)."""
        n = self.x.shape[0]
        mass, moment, cost, volume, _, nptr, nbr, hess = self._rows(psi, suspects)
        out = Cells(cells.mass.copy(), cells.moment.copy(), cells.cost.copy(), None, cells.area.copy(), None,
                    None, False)
        out.mass[suspects], out.moment[suspects], out.cost[suspects], out.area[suspects] = mass, moment, cost, volume
        rows = np.repeat(np.arange(n), np.diff(cells.indptr))
        keep = np.ones(n, dtype=bool)
        keep[suspects] = False
        keep = keep[rows]
        out.indptr, out.indices, out.hess = _assemble(
            [(rows[keep], cells.indices[keep], cells.hess[keep]), (np.repeat(suspects, np.diff(nptr)), nbr, hess)],
            n)
        return out

    def complete(self, psi, cells: Cells) -> Cells:
        """The cells with every moment (always computed here)."""
        return cells

    def cell_variance(self, psi, cells: Cells, centres) -> np.ndarray:
        """``int_{L_i} |y - c_i|^2 dmu`` of each cell of ``cells`` (the cells at ``psi``), exact.

        The cells are clipped again with the neighbour lists of ``cells``; empty ones give 0.

        Examples
        --------
        >>> import numpy as np
        >>> d = PowerDiagram3D(np.array([[0.5, 0.5, 0.5]]), [0, 0, 0], [1, 1, 1])
        >>> cells = d(np.zeros(1))
        >>> d.cell_variance(np.zeros(1), cells, cells.centroids(d.x)).round(12).tolist()  # 3 / 12
        [0.25]
        """
        centres = np.ascontiguousarray(centres, dtype=np.float64)
        if centres.shape != self.x.shape:
            raise ValueError(f"centres: expected shape {self.x.shape}, got {centres.shape}")
        n = self.x.shape[0]
        out = laguerre_cells_3d(self.x, np.ascontiguousarray(psi, dtype=np.float64), np.arange(n), cells.indptr,
                                np.ascontiguousarray(cells.indices, dtype=np.int64), self.lo, self.hi,
                                self.rho_max, centres, chunks_for(n))
        _check(out[5])
        return 2.0 * out[2]


def _corner(value, name) -> np.ndarray:
    out = as_points(np.reshape(np.asarray(value, dtype=np.float64), (1, -1)), name)[0]
    if out.shape != (3,):
        raise ValueError(f"{name}: expected 3 coordinates, got {out.shape[0]}")
    return out


def _check(status):
    if np.any(status < 0):  # pragma: no cover - the clipping keeps the polyhedra valid by construction
        raise RuntimeError(f"laguerre3d: {int(np.count_nonzero(status < 0))} cell polyhedra came out broken")


def _asymmetric(cells, tolerance) -> np.ndarray:
    """Sites with a facet larger than their neighbour's facet with them (by more than ``tolerance`` times
    the largest Hessian entry), sorted: a cell clipped by too few sites overhangs its true facets."""
    n = cells.mass.shape[0]
    off = sp.csr_array((cells.hess, cells.indices, cells.indptr), shape=(n, n), copy=True)
    gap = (off - off.T).tocoo()
    bad = gap.data > tolerance * (np.abs(off).max() if off.nnz else 0.0)
    return np.unique(gap.row[bad]).astype(np.int64)


def _assemble(parts, n):
    """Neighbour lists (CSR) and Hessian entries from ``(row, column, value)`` triples."""
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[order], dtype=np.int64), vals[order]


def _offsets(rings):
    """Grid offsets up to Chebyshev ring ``rings``, ring by ring, nearest first within a ring; and the
    end of each ring in that list."""
    r = np.arange(-rings, rings + 1)
    o = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    ring = np.max(np.abs(o), axis=1)
    reach = np.sqrt(np.sum(np.maximum(np.abs(o) - 1, 0) ** 2, axis=1))  # from any point of the centre cell
    order = np.lexsort((np.sum(o * o, axis=1), reach, ring))
    ends = np.cumsum(np.bincount(ring, minlength=rings + 1))
    return np.ascontiguousarray(o[order], dtype=np.int64), np.ascontiguousarray(reach[order]), ends.astype(np.int64)


OFFSETS, REACH, RING_END = _offsets(RINGS)


def _grid(z, w, factor):
    """Uniform grid over the points ``z``: ``zlo, width, dims, gptr, gsites`` (see
    :func:`~odeflow.potentials.semidiscrete.cellsearch.power_cells_3d`) and ``wring`` (cells, RINGS + 2): the largest
    ``w`` within Chebyshev ring ``k`` of each grid cell, the global largest in the last column."""
    n = z.shape[0]
    zlo = z.min(axis=0)
    ext = z.max(axis=0) - zlo
    top = float(ext.max())
    if top == 0.0:
        width = 1.0
    else:
        width = factor * float(np.prod(np.maximum(ext, 1e-6 * top)) / n) ** (1.0 / 3.0)
        while np.prod(np.floor(ext / width) + 1.0) > 4.0 * n:
            width *= 1.25
    dims = (np.floor(ext / width) + 1).astype(np.int64)
    cell = np.minimum((z - zlo) / width, dims - 1).astype(np.int64)
    flat = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    count = int(np.prod(dims))
    gsites = np.argsort(flat, kind="stable").astype(np.int64)
    gptr = np.zeros(count + 1, np.int64)
    np.cumsum(np.bincount(flat, minlength=count), out=gptr[1:])
    wcell = np.full(count, -np.inf)
    np.maximum.at(wcell, flat, w)
    wcell = wcell.reshape(tuple(dims))
    wring = np.empty((count, RINGS + 2))
    for k in range(RINGS + 1):
        wring[:, k] = (maximum_filter(wcell, size=2 * k + 1, mode="constant", cval=-np.inf) if k else wcell).ravel()
    wring[:, RINGS + 1] = float(w.max())
    return zlo, width, dims, gptr, gsites, wring


def solve_laguerre3d(x, a, lo, hi, tol, max_iter, psi_warm=None):
    """Solve the 3-D semi-discrete problem against the uniform density on ``[lo, hi]``.

    ``a`` (n,) are the positive cell masses wanted (summing to one), ``tol`` bounds the final
    ``max_i |mass_i - a_i| / a_i``, ``max_iter`` the Newton iterations; ``psi_warm`` (n,) is an optional
    warm start. Returns ``(psi, cells, info)`` with the ``info`` keys of
    :func:`~odeflow.potentials.semidiscrete.laguerre2d.solve_laguerre2d` (``triangulations`` counts the full searches
    for neighbours; a solve that stops short says so in ``info["status"]``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.2, 0.5, 0.5], [0.4, 0.5, 0.5], [0.9, 0.5, 0.5]])
    >>> psi, cells, info = solve_laguerre3d(x, np.full(3, 1 / 3), [0, 0, 0], [1, 1, 1], 1e-9, 50)
    >>> info["status"], cells.mass.round(9).tolist()
    ('optimal', [0.333333333, 0.333333333, 0.333333333])
    """
    diagram = PowerDiagram3D(x, lo, hi)
    n = diagram.x.shape[0]
    a = as_weights(a, n, "a")
    if np.any(a <= 0):
        raise ValueError(f"a: the masses must be positive ({int(np.count_nonzero(a <= 0))} are zero)")
    tol = check_real(tol, "tol", positive=True)
    max_iter = check_int(max_iter, "max_iter", minimum=0)
    if psi_warm is not None:
        psi_warm = np.asarray(psi_warm, dtype=np.float64)
        if psi_warm.shape != (n,) or not np.all(np.isfinite(psi_warm)):
            raise ValueError(f"psi_warm: expected {n} finite duals, got shape {psi_warm.shape}")
    return solve_cells(diagram, a, tol, max_iter, psi_warm)
