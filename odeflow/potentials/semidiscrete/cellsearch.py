"""Numba kernels of the exact 3-D semi-discrete path, part 2: each cell with every site that can cut it.

The polyhedra and their integrals are those of :mod:`odeflow.potentials.semidiscrete.polyhedra`; here the sites
that clip a cell are not given but searched for, in a uniform grid over normalised sites, with a bound
that certifies every cell on its own (:func:`_search_cell`).
"""

from __future__ import annotations

import numba
import numpy as np

from .polyhedra import (
    PARALLEL,
    ROOM_LIMIT,
    _box,
    _cell_integrals,
    _distance,
    _scratch,
    clip_polyhedron,
)

#: Room for facets per cell in the output of a chunk of cells (cells past it are redone at the end).
FACET_ROOM = 24


@numba.njit(cache=True, inline="always")
def _shape(P, nv, shift, geo):
    """Bounds of the polyhedron (coordinates of ``P``) into ``geo``: ``geo[0:3]`` the mean ``q`` of the
    vertices, ``geo[3]`` the largest distance from it, ``geo[4]`` the largest squared distance from
    ``shift``, ``geo[5:8]`` and ``geo[8:11]`` the centre and half-sides of the bounding box."""
    q0 = 0.0
    q1 = 0.0
    q2 = 0.0
    l0 = P[0, 0]
    l1 = P[1, 0]
    l2 = P[2, 0]
    h0 = l0
    h1 = l1
    h2 = l2
    for v in range(nv):
        q0 += P[0, v]
        q1 += P[1, v]
        q2 += P[2, v]
        l0 = min(l0, P[0, v])
        l1 = min(l1, P[1, v])
        l2 = min(l2, P[2, v])
        h0 = max(h0, P[0, v])
        h1 = max(h1, P[1, v])
        h2 = max(h2, P[2, v])
    q0 /= nv
    q1 /= nv
    q2 /= nv
    rho2 = 0.0
    far2 = 0.0
    for v in range(nv):
        rho2 = max(rho2, (P[0, v] - q0) ** 2 + (P[1, v] - q1) ** 2 + (P[2, v] - q2) ** 2)
        far2 = max(far2, (P[0, v] - shift[0]) ** 2 + (P[1, v] - shift[1]) ** 2 + (P[2, v] - shift[2]) ** 2)
    geo[0] = q0
    geo[1] = q1
    geo[2] = q2
    geo[3] = np.sqrt(rho2)
    geo[4] = far2
    geo[5] = 0.5 * (l0 + h0)
    geo[6] = 0.5 * (l1 + h1)
    geo[7] = 0.5 * (l2 + h2)
    geo[8] = 0.5 * (h0 - l0)
    geo[9] = 0.5 * (h1 - l1)
    geo[10] = 0.5 * (h2 - l2)


@numba.njit(cache=True, inline="always")
def _try(i, j, x, psi, P, nb, fc, nv, geo, s, cross, origin, gone):
    """Clip by the half-space of site ``j`` (label ``j``) unless the bounding ball or box of the
    polyhedron (see :func:`_shape`) lies inside it. Returns ``(nv, cut)``."""
    n0 = x[j, 0] - x[i, 0]
    n1 = x[j, 1] - x[i, 1]
    n2 = x[j, 2] - x[i, 2]
    nn = n0 * n0 + n1 * n1 + n2 * n2
    c = 0.5 * nn + (psi[i] - psi[j])
    gap = c - (n0 * geo[0] + n1 * geo[1] + n2 * geo[2])
    if gap >= 0.0 and gap * gap >= nn * geo[3] * geo[3]:  # n . p <= n . q + |n| rho <= c for every vertex p
        return nv, False
    if c >= n0 * geo[5] + n1 * geo[6] + n2 * geo[7] + abs(n0) * geo[8] + abs(n1) * geo[9] + abs(n2) * geo[10]:
        return nv, False
    return clip_polyhedron(P, nb, fc, nv, n0, n1, n2, c, j, s, cross, origin, gone)


@numba.njit(cache=True, inline="always")
def _safe(geo, base, wj):
    """Distance from the cell's centre past which a site with dual ``wj`` cannot cut the cell."""
    return geo[3] + np.sqrt(max(base + 2.0 * wj, 0.0))


@numba.njit(cache=True, inline="always")
def _hinted(j, i, hptr, hidx):
    """True when site ``j`` is among the hints of site ``i`` (already tried)."""
    if hptr.shape[0] > 0:
        for p in range(hptr[i], hptr[i + 1]):
            if hidx[p] == j:
                return True
    return False


@numba.njit(cache=True, inline="always")
def _grid_gap(geo, xi, zlo, width, h0, h1, h2):
    """Squared distance from the cell's centre (``geo[0:3]`` relative to ``xi``) to grid cell ``h``."""
    gap = 0.0
    for a, h in ((0, h0), (1, h1), (2, h2)):
        low = zlo[a] + h * width
        c = geo[a] + xi[a]
        t = max(low - c, c - low - width, 0.0)
        gap += t * t
    return gap


@numba.njit(cache=True)
def _search_cell(i, x, psi, lo, hi, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx, geo, P, nb, fc, s,
                 cross, origin, gone):
    """The box clipped by every site that can cut site ``i``'s cell, found in a grid; returns ``nv``.

    In the normalised coordinates (see :func:`power_cells_3d`) site ``j`` beats ``i`` at ``y`` iff
    ``|y - z_j|^2 - 2 w_j < |y - z_i|^2 - 2 w_i``. With every vertex ``v`` within ``rho`` of the centre
    ``c`` and ``M = max_v |v - z_i|^2``, a site at distance ``d >= rho`` from ``c`` cannot cut when
    ``(d - rho)^2 >= M - 2 w_i + 2 w_j`` (:func:`_safe`). The hints ``hidx[hptr[i]:hptr[i + 1]]`` (the
    last neighbours) are tried first. Grid cells are then visited by Chebyshev rings about ``z_i``'s
    cell, nearest offsets first (``reach``: lower bounds on the distance, in widths); a grid cell is
    skipped with its largest ``w``, a ring's remaining offsets with ``wring[g, k]`` (largest ``w``
    within ring ``k``), and the search stops once no farther site can cut (the last column of
    ``wring`` is the global largest). Past the table's rings every site is tried.
    """
    zlo, width, dims, gptr, gsites = grid
    nv = _box(lo, hi, x[i], P, nb, fc)
    shift = geo[11:14]  # z_i in the coordinates of P
    for a in range(3):
        shift[a] = z[i, a] - x[i, a]
    _shape(P, nv, shift, geo)
    if hptr.shape[0] > 0:  # likely facets: the bounds are not updated meanwhile (they stay valid)
        for p in range(hptr[i], hptr[i + 1]):
            nv = _try(i, hidx[p], x, psi, P, nb, fc, nv, geo, s, cross, origin, gone)[0]
            if nv <= 0:
                return nv
        _shape(P, nv, shift, geo)
    base = geo[4] - 2.0 * w[i]
    g0 = min(max(int((z[i, 0] - zlo[0]) / width), 0), dims[0] - 1)
    g1 = min(max(int((z[i, 1] - zlo[1]) / width), 0), dims[1] - 1)
    g2 = min(max(int((z[i, 2] - zlo[2]) / width), 0), dims[2] - 1)
    cell0 = (g0 * dims[1] + g1) * dims[2] + g2
    top = ring_end.shape[0] - 1
    for k in range(top + 2):
        off = np.sqrt((geo[0] - shift[0]) ** 2 + (geo[1] - shift[1]) ** 2 + (geo[2] - shift[2]) ** 2)
        if k > 0 and _rings_done(k, top, off, geo, base, width, wring, cell0):
            return nv
        if k > top:
            return _every_site(i, x, psi, nv, shift, geo, P, nb, fc, s, cross, origin, gone)
        limit = _safe(geo, base, wring[cell0, k])
        for o in range(ring_end[k - 1] if k > 0 else 0, ring_end[k]):
            if reach[o] * width - off >= limit:
                break
            h0 = g0 + offsets[o, 0]
            h1 = g1 + offsets[o, 1]
            h2 = g2 + offsets[o, 2]
            if h0 < 0 or h1 < 0 or h2 < 0 or h0 >= dims[0] or h1 >= dims[1] or h2 >= dims[2]:
                continue
            cell = (h0 * dims[1] + h1) * dims[2] + h2
            if gptr[cell] == gptr[cell + 1]:
                continue
            cut_off = _safe(geo, base, wring[cell, 0]) ** 2
            if _grid_gap(geo, x[i], zlo, width, h0, h1, h2) >= cut_off:
                continue
            for p in range(gptr[cell], gptr[cell + 1]):
                j = gsites[p]
                d2 = (z[j, 0] - x[i, 0] - geo[0]) ** 2 + (z[j, 1] - x[i, 1] - geo[1]) ** 2 \
                    + (z[j, 2] - x[i, 2] - geo[2]) ** 2
                if j == i or d2 >= cut_off or d2 >= _safe(geo, base, w[j]) ** 2 or _hinted(j, i, hptr, hidx):
                    continue
                nv, cut = _try(i, j, x, psi, P, nb, fc, nv, geo, s, cross, origin, gone)
                if nv <= 0:
                    return nv
                if cut:
                    _shape(P, nv, shift, geo)
                    base = geo[4] - 2.0 * w[i]
                    cut_off = _safe(geo, base, wring[cell, 0]) ** 2
                    off = np.sqrt((geo[0] - shift[0]) ** 2 + (geo[1] - shift[1]) ** 2 + (geo[2] - shift[2]) ** 2)
                    limit = _safe(geo, base, wring[cell0, k])
    return nv


@numba.njit(cache=True, inline="always")
def _rings_done(k, top, off, geo, base, width, wring, cell0):
    """True when no site beyond ring ``k - 1`` can cut: ring ``m + 1`` lies ``m`` widths off ``z_i``
    (``off`` from the centre) with duals at most ``wring[cell0, m + 1]``."""
    for m in range(k - 1, top + 1):
        if m * width - off < _safe(geo, base, wring[cell0, m + 1]):
            return False
    return True


@numba.njit(cache=True)
def _every_site(i, x, psi, nv, shift, geo, P, nb, fc, s, cross, origin, gone):
    """Clip by every site (the cell reaches past the grid's rings)."""
    for j in range(x.shape[0]):
        if j != i:
            nv, cut = _try(i, j, x, psi, P, nb, fc, nv, geo, s, cross, origin, gone)
            if nv <= 0:
                return nv
            if cut:
                _shape(P, nv, shift, geo)
    return nv


@numba.njit(cache=True)
def _searched_rows(q0, q1, x, psi, rows, lo, hi, rho, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx,
                   mass, moment, cost, volume, status, start, count, nbr, hess, room):
    """Rows ``q0..q1-1`` of :func:`power_cells_3d` (serial), facets written from ``start[q0]`` on, at
    most up to ``room``; a row whose facets do not fit gets ``status`` 2."""
    cap = 256
    P, nb, fc, s, cross, origin, gone, seen, flab, farea = _scratch(cap)
    geo = np.empty(16)
    used = start[q0]
    for q in range(q0, q1):
        i = rows[q]
        start[q] = used
        count[q] = 0
        nv = _search_cell(i, x, psi, lo, hi, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx, geo, P, nb, fc,
                          s, cross, origin, gone)
        while nv < 0 and cap < ROOM_LIMIT:  # degenerate input: retry with more room
            cap *= 2
            P, nb, fc, s, cross, origin, gone, seen, flab, farea = _scratch(cap)
            nv = _search_cell(i, x, psi, lo, hi, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx, geo, P,
                              nb, fc, s, cross, origin, gone)
        status[q] = -1 if nv < 0 else 1
        if nv <= 0:
            continue
        nf = _cell_integrals(q, i, x, rho, x, P, nb, fc, nv, seen, flab, farea, mass, moment, cost, volume)
        if nf < 0:
            status[q] = -1
            continue
        if used + nf > room:
            status[q] = 2
            continue
        for f in range(nf):
            j = flab[f]
            if j >= 0:
                nbr[used] = j
                hess[used] = rho * farea[f] / _distance(x, i, j)
                used += 1
        count[q] = used - start[q]


@numba.njit(cache=True, parallel=PARALLEL)
def power_cells_3d(x, psi, rows, lo, hi, rho, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx, chunks=1):
    """The Laguerre cells ``rows`` of ``x`` at ``psi`` in the box, each with every site that cuts it.

    The sites are searched in normalised coordinates: ``z_i = s x_i + t`` and
    ``w_i = s (psi_i + (s - 1)|x_i|^2/2 + t . x_i) + const`` (any ``s > 0``, ``t``) give the same cells.
    ``grid = (zlo, width, dims, gptr, gsites)`` buckets the ``z_i`` (cells of side ``width`` from
    ``zlo``, ``dims`` per axis; the sites of grid cell ``g`` are ``gsites[gptr[g]:gptr[g + 1]]``);
    ``wring``, the ring-ordered ``offsets`` with their ``reach`` (ring ``k`` ends at ``ring_end[k]``)
    and the hints ``hptr, hidx`` (CSR over all sites, or empty) are described in :func:`_search_cell`;
    ``chunks`` pieces of ``rows`` run in parallel (:func:`chunks_for`).

    Returns ``mass, moment, cost, volume, status`` (one row per entry of ``rows``; ``status`` -1 for a
    broken polyhedron) and the exact neighbour lists ``nptr, nbr`` (CSR over ``rows``: the sites that
    made a facet) with the Hessian entries ``hess`` ``rho |facet| / |x_i - x_j|``.

    Examples
    --------
    Through :meth:`~odeflow.potentials.semidiscrete.laguerre3d.PowerDiagram3D.search`, which builds the grid:

    >>> import numpy as np
    >>> from odeflow.potentials.semidiscrete.laguerre3d import PowerDiagram3D
    >>> d = PowerDiagram3D(np.array([[0.25, 0.5, 0.5], [0.75, 0.5, 0.5], [0.5, 0.5, 3.0]]), [0, 0, 0], [1, 1, 1])
    >>> cells = d.search(np.zeros(3))   # the third site is too far to cut either half of the cube
    >>> cells.mass.tolist(), cells.indptr.tolist(), cells.indices.tolist()
    ([0.5, 0.5, 0.0], [0, 1, 2, 2], [1, 0])
    """
    r = rows.shape[0]
    mass = np.zeros(r)
    moment = np.zeros((r, 3))
    cost = np.zeros(r)
    volume = np.zeros(r)
    status = np.ones(r, np.int8)
    start = np.zeros(r + 1, np.int64)
    count = np.zeros(r, np.int64)
    nbr = np.empty(FACET_ROOM * r, np.int64)
    hess = np.empty(FACET_ROOM * r)
    chunks = max(1, min(chunks, r))
    for c in numba.prange(chunks):
        q0 = c * r // chunks
        q1 = (c + 1) * r // chunks
        if q1 > q0:
            start[q0] = FACET_ROOM * q0
            _searched_rows(q0, q1, x, psi, rows, lo, hi, rho, z, w, grid, wring, offsets, reach, ring_end, hptr, hidx,
                           mass, moment, cost, volume, status, start, count, nbr, hess, FACET_ROOM * q1)
    late = np.flatnonzero(status == 2)  # rows whose facets overflowed their chunk's room: redo in a tail
    tail = 0
    if late.shape[0] > 0:
        extra = nbr.shape[0]
        nbr = np.concatenate((nbr, np.empty(extra, np.int64)))
        hess = np.concatenate((hess, np.empty(extra)))
        for q in late:
            start[q] = FACET_ROOM * r + tail
            while True:
                _searched_rows(q, q + 1, x, psi, rows, lo, hi, rho, z, w, grid, wring, offsets, reach, ring_end, hptr,
                               hidx, mass, moment, cost, volume, status, start, count, nbr, hess, nbr.shape[0])
                if status[q] != 2:
                    break
                nbr = np.concatenate((nbr, np.empty(nbr.shape[0], np.int64)))
                hess = np.concatenate((hess, np.empty(hess.shape[0])))
            tail += count[q]
    nptr = np.zeros(r + 1, np.int64)
    for q in range(r):
        nptr[q + 1] = nptr[q] + count[q]
    out_nbr = np.empty(nptr[r], np.int64)
    out_hess = np.empty(nptr[r])
    for q in range(r):
        out_nbr[nptr[q]:nptr[q + 1]] = nbr[start[q]:start[q] + count[q]]
        out_hess[nptr[q]:nptr[q + 1]] = hess[start[q]:start[q] + count[q]]
    return mass, moment, cost, volume, status, nptr, out_nbr, out_hess
