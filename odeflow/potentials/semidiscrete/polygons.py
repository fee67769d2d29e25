"""Numba kernels of the exact 2-D path: the regular triangulation's neighbour lists, Laguerre polygons
clipped to a rectangle, and their exact integrals against a constant density."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def lower_hull_adjacency(simplices, lower, n):
    """Neighbour lists (CSR, sorted, no repeats) of the regular triangulation of ``n`` sites.

    Parameters
    ----------
    simplices : (F, 3) int
        Facets of the convex hull of the lifted points (Qhull's ``simplices``).
    lower : (F,) bool
        True for the facets of the lower hull (downward normal).
    n : int
        Number of real sites; hull vertices ``>= n`` (auxiliary points) are left out.

    Returns
    -------
    indptr : (n + 1,) int64; indices : (nnz,) int64
        Site ``i``'s neighbours are ``indices[indptr[i]:indptr[i + 1]]``.
    """
    count = np.zeros(n + 1, np.int64)
    for f in range(simplices.shape[0]):
        if not lower[f]:
            continue
        for a in range(3):
            v = simplices[f, a]
            if v < n:
                for b in range(3):
                    if b != a and simplices[f, b] < n:
                        count[v + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    raw = np.empty(count[n], np.int64)
    fill = count[:n].copy()
    for f in range(simplices.shape[0]):
        if not lower[f]:
            continue
        for a in range(3):
            v = simplices[f, a]
            if v < n:
                for b in range(3):
                    w = simplices[f, b]
                    if b != a and w < n:
                        raw[fill[v]] = w
                        fill[v] += 1
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(count[n], np.int64)
    out = 0
    for i in range(n):
        row = np.sort(raw[count[i]:count[i + 1]])
        for k in range(row.shape[0]):
            if k == 0 or row[k] != row[k - 1]:
                indices[out] = row[k]
                out += 1
        indptr[i + 1] = out
    return indptr, indices[:out].copy()


@numba.njit(cache=True, inline="always")
def _clip(px, py, lab, m, a, b, c, label, qx, qy, qlab):
    """Clip the convex polygon ``(px, py)[:m]`` to ``a u + b v <= c`` into ``q``; returns its size.

    ``lab[k]`` labels the edge from vertex k to vertex k+1; the new edge along the line gets ``label``.
    """
    out = 0
    for k in range(m):
        k1 = k + 1 if k + 1 < m else 0
        sk = a * px[k] + b * py[k] - c
        sk1 = a * px[k1] + b * py[k1] - c
        if sk <= 0.0:
            qx[out] = px[k]
            qy[out] = py[k]
            qlab[out] = lab[k]
            out += 1
            if sk1 > 0.0:
                t = sk / (sk - sk1)
                qx[out] = px[k] + t * (px[k1] - px[k])
                qy[out] = py[k] + t * (py[k1] - py[k])
                qlab[out] = label
                out += 1
        elif sk1 <= 0.0:
            t = sk / (sk - sk1)
            qx[out] = px[k] + t * (px[k1] - px[k])
            qy[out] = py[k] + t * (py[k1] - py[k])
            qlab[out] = lab[k]
            out += 1
    return out


@numba.njit(cache=True, inline="always")
def _recentre(px, py, m, x, i, centres):
    """Shift polygon ``i`` (coordinates relative to its site ``x[i]``) to coordinates relative to ``centres[i]``."""
    sx = centres[i, 0] - x[i, 0]
    sy = centres[i, 1] - x[i, 1]
    for k in range(m):
        px[k] -= sx
        py[k] -= sy


@numba.njit(cache=True, inline="always")
def _polygon_moments(px, py, m):
    """Area, first moments and ``int |u|^2`` of the polygon ``(px, py)[:m]`` (counter-clockwise)."""
    a2 = 0.0
    mx = 0.0
    my = 0.0
    s2 = 0.0
    for k in range(m):
        k1 = k + 1 if k + 1 < m else 0
        cr = px[k] * py[k1] - px[k1] * py[k]
        a2 += cr
        mx += (px[k] + px[k1]) * cr
        my += (py[k] + py[k1]) * cr
        s2 += cr * (px[k] * px[k] + px[k] * px[k1] + px[k1] * px[k1]
                    + py[k] * py[k] + py[k] * py[k1] + py[k1] * py[k1])
    return 0.5 * a2, mx / 6.0, my / 6.0, s2 / 12.0


@numba.njit(cache=True, inline="always")
def _laguerre_polygon(i, x, psi, indptr, indices, lo, hi, px, py, lab, qx, qy, qlab):
    """Cell of site ``i`` clipped to the box, in coordinates relative to ``x[i]``; returns its size.

    The result is left in ``(px, py, lab)``; edge labels are adjacency slots (``-1`` on the box).
    """
    xi = x[i, 0]
    yi = x[i, 1]
    px[0] = lo[0] - xi
    py[0] = lo[1] - yi
    px[1] = hi[0] - xi
    py[1] = lo[1] - yi
    px[2] = hi[0] - xi
    py[2] = hi[1] - yi
    px[3] = lo[0] - xi
    py[3] = hi[1] - yi
    for k in range(4):
        lab[k] = -1
    m = 4
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        nx = x[j, 0] - xi
        ny = x[j, 1] - yi
        c = 0.5 * (nx * nx + ny * ny) + (psi[i] - psi[j])
        outside = False
        for k in range(m):
            if nx * px[k] + ny * py[k] > c:
                outside = True
                break
        if not outside:
            continue
        m = _clip(px, py, lab, m, nx, ny, c, p, qx, qy, qlab)
        for k in range(m):
            px[k] = qx[k]
            py[k] = qy[k]
            lab[k] = qlab[k]
        if m < 3:
            return 0
    return m


@numba.njit(cache=True, inline="always")
def _cell_polygon(i, x, psi, indptr, indices, lo, hi, spare):
    """Scratch arrays for cell ``i`` (its neighbour count + ``spare`` vertices) and its clipped polygon.

    Returns ``px, py, lab, qx, qy, qlab, m``: the first ``m`` entries of ``px, py, lab`` are the polygon
    (see :func:`_laguerre_polygon`); ``qx, qy, qlab`` are free scratch of the same size.
    """
    size = spare + indptr[i + 1] - indptr[i]
    px = np.empty(size)
    py = np.empty(size)
    qx = np.empty(size)
    qy = np.empty(size)
    lab = np.empty(size, np.int64)
    qlab = np.empty(size, np.int64)
    m = _laguerre_polygon(i, x, psi, indptr, indices, lo, hi, px, py, lab, qx, qy, qlab)
    return px, py, lab, qx, qy, qlab, m

@numba.njit(cache=True)
def laguerre_cells_box(x, psi, indptr, indices, lo, hi, rho, active):
    """Masses, first moments, transport costs and Hessian entries of the Laguerre cells in a box.

    The cells are ``L_i = {y in box : |y - x_i|^2/2 - psi_i <= |y - x_j|^2/2 - psi_j}``, computed by
    clipping the box with the half-planes of the neighbours listed in ``(indptr, indices)``; the density
    is the constant ``rho`` on the box.

    Parameters
    ----------
    x : (n, 2) sites; psi : (n,) duals; indptr, indices : neighbour lists (CSR)
    lo, hi : (2,) box corners; rho : float density; active : (n,) bool, False for sites with an empty cell

    Returns
    -------
    mass : (n,) ``mu(L_i)``; moment : (n, 2) ``int_{L_i} y dmu``; cost : (n,) ``int_{L_i} |y - x_i|^2/2 dmu``
    hess : (nnz,) ``rho |facet_ij| / |x_i - x_j|`` in the slot of neighbour ``j`` of ``i``
    area : (n,) Lebesgue area of each cell (their sum is the box's exactly when the lists are complete)
    """
    n = x.shape[0]
    area_out = np.zeros(n)
    mass = np.zeros(n)
    moment = np.zeros((n, 2))
    cost = np.zeros(n)
    hess = np.zeros(indices.shape[0])
    for i in range(n):
        if not active[i]:
            continue
        px, py, lab, qx, qy, qlab, m = _cell_polygon(i, x, psi, indptr, indices, lo, hi, 6)
        if m < 3:
            continue
        area, mx, my, s2 = _polygon_moments(px, py, m)
        if area <= 0.0:
            continue
        area_out[i] = area
        mass[i] = rho * area
        moment[i, 0] = rho * (x[i, 0] * area + mx)
        moment[i, 1] = rho * (x[i, 1] * area + my)
        cost[i] = 0.5 * rho * s2
        for k in range(m):
            slot = lab[k]
            if slot >= 0:
                k1 = k + 1 if k + 1 < m else 0
                length = np.hypot(px[k1] - px[k], py[k1] - py[k])
                j = indices[slot]
                hess[slot] = rho * length / np.hypot(x[j, 0] - x[i, 0], x[j, 1] - x[i, 1])
    return mass, moment, cost, hess, area_out



@numba.njit(cache=True)
def two_ring(indptr, indices):
    """Neighbours, then neighbours' neighbours, of every site (CSR, without the site, no repeats).

    Neighbours come first in each row, so that a clipping loop meets the cutting half-planes early.
    """
    n = indptr.shape[0] - 1
    bound = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            bound += 1 + indptr[j + 1] - indptr[j]
    out_ptr = np.zeros(n + 1, np.int64)
    out = np.empty(bound, np.int64)
    mark = np.full(n, -1, np.int64)
    w = 0
    for i in range(n):
        mark[i] = i
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if mark[j] != i:
                mark[j] = i
                out[w] = j
                w += 1
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            for q in range(indptr[j], indptr[j + 1]):
                k = indices[q]
                if mark[k] != i:
                    mark[k] = i
                    out[w] = k
                    w += 1
        out_ptr[i + 1] = w
    return out_ptr, out[:w].copy()


# --- semi-discrete OT, sampled path: soft Laguerre cells of a quadrature -----------------------------
