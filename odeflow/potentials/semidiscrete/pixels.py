"""Numba kernels of the exact 2-D path against a pixel-constant density (an image): Laguerre polygons
intersected with the pixel grid, and the exact cell variances on both 2-D geometries."""

from __future__ import annotations

import numba
import numpy as np

from .polygons import _cell_polygon, _clip, _polygon_moments, _recentre



@numba.njit(cache=True, inline="always")
def _grid_moments(px, py, m, xi, yi, lo, dx, dy, grid, qx, qy, qlab):
    """:func:`_grid_polygon_integrals` with its own scratch (``qx, qy, qlab`` reused)."""
    size = qx.shape[0]
    return _grid_polygon_integrals(px, py, m, xi, yi, lo, dx, dy, grid, np.empty(size), np.empty(size),
                                   np.empty(size, np.int64), qx, qy, qlab, np.empty(size), np.empty(size),
                                   np.empty(size, np.int64))



@numba.njit(cache=True, inline="always")
def _grid_polygon_integrals(px, py, m, xi, yi, lo, dx, dy, grid, bx, by, blab, cx, cy, clab, dxs, dys, dlab):
    """``int rho``, ``int rho u`` and ``int rho |u|^2`` over a polygon for a pixel-constant ``rho``.

    The polygon is in coordinates relative to ``(xi, yi)``; pixels are clipped exactly: the polygon
    is cut into row strips, each strip into pixels.
    """
    rows, cols = grid.shape
    vmin = py[0]
    vmax = py[0]
    for k in range(1, m):
        vmin = min(vmin, py[k])
        vmax = max(vmax, py[k])
    r0 = max(int(np.floor((vmin + yi - lo[1]) / dy)), 0)
    r1 = min(int(np.floor((vmax + yi - lo[1]) / dy)), rows - 1)
    tm = 0.0
    tx = 0.0
    ty = 0.0
    t2 = 0.0
    for r in range(r0, r1 + 1):
        ylow = lo[1] + r * dy - yi
        yhigh = ylow + dy
        ms = m
        for k in range(m):
            bx[k] = px[k]
            by[k] = py[k]
            blab[k] = -1
        if r > r0:
            ms = _clip(bx, by, blab, ms, 0.0, -1.0, -ylow, -1, cx, cy, clab)
            for k in range(ms):
                bx[k] = cx[k]
                by[k] = cy[k]
                blab[k] = -1
        if r < r1 and ms >= 3:
            ms = _clip(bx, by, blab, ms, 0.0, 1.0, yhigh, -1, cx, cy, clab)
            for k in range(ms):
                bx[k] = cx[k]
                by[k] = cy[k]
                blab[k] = -1
        if ms < 3:
            continue
        umin = bx[0]
        umax = bx[0]
        for k in range(1, ms):
            umin = min(umin, bx[k])
            umax = max(umax, bx[k])
        c0 = max(int(np.floor((umin + xi - lo[0]) / dx)), 0)
        c1 = min(int(np.floor((umax + xi - lo[0]) / dx)), cols - 1)
        for c in range(c0, c1 + 1):
            val = grid[r, c]
            if c < c1:
                xcut = lo[0] + (c + 1) * dx - xi
                mp = _clip(bx, by, blab, ms, 1.0, 0.0, xcut, -1, dxs, dys, dlab)
                if val > 0.0 and mp >= 3:
                    a, mx, my, s2 = _polygon_moments(dxs, dys, mp)
                    tm += val * a
                    tx += val * mx
                    ty += val * my
                    t2 += val * s2
                ms = _clip(bx, by, blab, ms, -1.0, 0.0, -xcut, -1, cx, cy, clab)
                for k in range(ms):
                    bx[k] = cx[k]
                    by[k] = cy[k]
                if ms < 3:
                    break
            elif val > 0.0:
                a, mx, my, s2 = _polygon_moments(bx, by, ms)
                tm += val * a
                tx += val * mx
                ty += val * my
                t2 += val * s2
    return tm, tx, ty, t2


@numba.njit(cache=True, inline="always")
def _grid_segment_integral(u0, v0, u1, v1, xi, yi, lo, dx, dy, grid):
    """``int rho dl`` along the segment from ``(u0, v0)`` to ``(u1, v1)`` (relative to ``(xi, yi)``)."""
    rows, cols = grid.shape
    length = np.hypot(u1 - u0, v1 - v0)
    if length == 0.0:
        return 0.0
    gx0 = (u0 + xi - lo[0]) / dx
    gx1 = (u1 + xi - lo[0]) / dx
    gy0 = (v0 + yi - lo[1]) / dy
    gy1 = (v1 + yi - lo[1]) / dy
    # crossings of the vertical and horizontal grid lines, each in increasing t
    if gx1 != gx0:
        if gx1 > gx0:
            cx_next = np.floor(gx0) + 1.0
            sx = 1.0
        else:
            cx_next = np.ceil(gx0) - 1.0
            sx = -1.0
        tx = (cx_next - gx0) / (gx1 - gx0)
        stepx = sx / (gx1 - gx0)
    else:
        tx = 2.0
        stepx = 0.0
    if gy1 != gy0:
        if gy1 > gy0:
            cy_next = np.floor(gy0) + 1.0
            sy = 1.0
        else:
            cy_next = np.ceil(gy0) - 1.0
            sy = -1.0
        ty = (cy_next - gy0) / (gy1 - gy0)
        stepy = sy / (gy1 - gy0)
    else:
        ty = 2.0
        stepy = 0.0
    total = 0.0
    t = 0.0
    while t < 1.0:
        t_next = min(tx, ty, 1.0)
        if t_next > t:
            tm = 0.5 * (t + t_next)
            c = int(np.floor(gx0 + tm * (gx1 - gx0)))
            r = int(np.floor(gy0 + tm * (gy1 - gy0)))
            c = min(max(c, 0), cols - 1)
            r = min(max(r, 0), rows - 1)
            total += grid[r, c] * (t_next - t)
        t = t_next
        if tx <= t:
            tx += stepx
        if ty <= t:
            ty += stepy
    return total * length


@numba.njit(cache=True)
def laguerre_cells_grid(x, psi, indptr, indices, lo, hi, grid, active):
    """As :func:`laguerre_cells_box` for a density constant on the pixels of ``grid``.

    ``grid[r, c]`` is the density on ``[lo0 + c dx, lo0 + (c+1) dx] x [lo1 + r dy, lo1 + (r+1) dy]``,
    with ``dx, dy`` the box size over the grid shape. Cells are clipped against the pixels exactly, and
    the Hessian entries integrate the density along each facet. Returns the same five arrays.
    """
    n = x.shape[0]
    rows, cols = grid.shape
    dx = (hi[0] - lo[0]) / cols
    dy = (hi[1] - lo[1]) / rows
    area_out = np.zeros(n)
    mass = np.zeros(n)
    moment = np.zeros((n, 2))
    cost = np.zeros(n)
    hess = np.zeros(indices.shape[0])
    for i in range(n):
        if not active[i]:
            continue
        px, py, lab, qx, qy, qlab, m = _cell_polygon(i, x, psi, indptr, indices, lo, hi, 8)
        if m < 3:
            continue
        area_out[i] = _polygon_moments(px, py, m)[0]
        tm, tx, ty, t2 = _grid_moments(px, py, m, x[i, 0], x[i, 1], lo, dx, dy, grid, qx, qy, qlab)
        mass[i] = tm
        moment[i, 0] = x[i, 0] * tm + tx
        moment[i, 1] = x[i, 1] * tm + ty
        cost[i] = 0.5 * t2
        for k in range(m):
            slot = lab[k]
            if slot >= 0:
                k1 = k + 1 if k + 1 < m else 0
                j = indices[slot]
                w = _grid_segment_integral(px[k], py[k], px[k1], py[k1], x[i, 0], x[i, 1], lo, dx, dy, grid)
                hess[slot] = w / np.hypot(x[j, 0] - x[i, 0], x[j, 1] - x[i, 1])
    return mass, moment, cost, hess, area_out



@numba.njit(cache=True)
def laguerre_cell_variance(x, psi, indptr, indices, lo, hi, grid, rho, active, centres):
    """``int_{L_i} |y - c_i|^2 dmu`` of every Laguerre cell, exact (polygon second moments).

    The cells are those of :func:`laguerre_cells_box` (``grid`` of shape (0, 0): the constant density
    ``rho`` on the box) or :func:`laguerre_cells_grid` (``grid`` the pixel densities; ``rho`` unused).
    Each polygon is shifted to its centre ``c_i`` (the cell's centroid) before its second moment is
    taken, so the variance is computed directly, not as a difference of large moments.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.zeros(2, np.int64)
    >>> v = laguerre_cell_variance(np.array([[0.3, 0.3]]), np.zeros(1), one, np.zeros(0, np.int64),
    ...                            np.zeros(2), np.ones(2), np.zeros((0, 0)), 1.0, np.ones(1, np.bool_),
    ...                            np.array([[0.5, 0.5]]))
    >>> round(float(v[0]), 12)  # the unit square about its centre: 1/12 + 1/12
    0.166666666667
    """
    n = x.shape[0]
    uniform = grid.shape[0] == 0
    dx = 0.0
    dy = 0.0
    if not uniform:
        dx = (hi[0] - lo[0]) / grid.shape[1]
        dy = (hi[1] - lo[1]) / grid.shape[0]
    out = np.zeros(n)
    for i in range(n):
        if not active[i]:
            continue
        px, py, lab, qx, qy, qlab, m = _cell_polygon(i, x, psi, indptr, indices, lo, hi, 8)
        if m < 3:
            continue
        _recentre(px, py, m, x, i, centres)
        if uniform:
            s2 = _polygon_moments(px, py, m)[3]
            out[i] = rho * s2
        else:
            t2 = _grid_moments(px, py, m, centres[i, 0], centres[i, 1], lo, dx, dy, grid, qx, qy, qlab)[3]
            out[i] = t2
    return out
