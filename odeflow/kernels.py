"""Numba kernels: the hot loops of odeflow. This is the only module that imports numba.

Every kernel is compiled with ``cache=True`` so the compilation cost is paid once per machine.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def northwest_corner(cum_a, cum_b):
    """North-west-corner staircase of two sorted marginals, given by their cumulative sums.

    Parameters
    ----------
    cum_a : (n,) float64, non-decreasing, ``cum_a[-1] == 1``
    cum_b : (m,) float64, non-decreasing, ``cum_b[-1] == 1``

    Returns
    -------
    rows, cols : (n + m - 1,) int64
        The staircase: each cell advances exactly one of the two indices, so the cells form a
        spanning tree of the transport graph (zero-mass cells included), as the dual recurrence needs.
    mass : (n + m - 1,) float64
        Mass of each cell, ``min(cum_a[i], cum_b[j]) - max(cum_a[i-1], cum_b[j-1])`` clipped at 0;
        the masses sum to exactly 1.
    """
    n = cum_a.shape[0]
    m = cum_b.shape[0]
    k = n + m - 1
    rows = np.empty(k, np.int64)
    cols = np.empty(k, np.int64)
    mass = np.empty(k, np.float64)
    i = 0
    j = 0
    for step in range(k):
        lo_a = cum_a[i - 1] if i > 0 else 0.0
        lo_b = cum_b[j - 1] if j > 0 else 0.0
        val = min(cum_a[i], cum_b[j]) - max(lo_a, lo_b)
        rows[step] = i
        cols[step] = j
        mass[step] = val if val > 0.0 else 0.0
        if i == n - 1:
            j += 1
        elif j == m - 1:
            i += 1
        elif cum_a[i] <= cum_b[j]:
            i += 1
        else:
            j += 1
    return rows, cols, mass


@numba.njit(cache=True)
def staircase_duals(rows, cols, cell_cost, n, m):
    """Duals ``f, g`` with ``f_i + g_j = c_ij`` on every staircase cell (``f_0 = 0``).

    Each staircase cell introduces exactly one new index, so one pass solves the triangular system.
    """
    f = np.zeros(n)
    g = np.zeros(m)
    g[cols[0]] = cell_cost[0] - f[rows[0]]
    for k in range(1, rows.shape[0]):
        i = rows[k]
        j = cols[k]
        if i != rows[k - 1]:
            f[i] = cell_cost[k] - g[j]
        else:
            g[j] = cell_cost[k] - f[i]
    return f, g


# --- warm-started exact solves: reduced costs with costs computed on the fly ----------------------


@numba.njit(cache=True, inline="always")
def _cost(x, i, y, j, p):
    """``c(x_i, y_j)``: ``1/2 |x_i - y_j|^2`` for p = 2, ``|x_i - y_j|`` for p = 1."""
    s = 0.0
    for k in range(x.shape[1]):
        t = x[i, k] - y[j, k]
        s += t * t
    return 0.5 * s if p == 2 else np.sqrt(s)


@numba.njit(cache=True)
def pair_costs(x, y, rows, cols, p):
    """``c(x_rows[k], y_cols[k])`` for every k (the plan's cells), shape ``(len(rows),)``.

    >>> import numpy as np
    >>> pair_costs(np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([0]), np.array([0]), 1).tolist()
    [5.0]
    """
    out = np.empty(rows.shape[0])
    for k in range(rows.shape[0]):
        out[k] = _cost(x, rows[k], y, cols[k], p)
    return out


@numba.njit(cache=True, fastmath={"nnan", "nsz"})
def _row_costs(x, i, yT, p, buf):
    """Fill ``buf[j] = c(x_i, y_j)`` for every j; ``yT`` is ``y.T`` (contiguous), so the loops vectorise.

    The sum runs over coordinates in order, exactly as in :func:`_cost`: both give identical numbers.
    """
    m = yT.shape[1]
    for j in range(m):
        t = x[i, 0] - yT[0, j]
        buf[j] = t * t
    for k in range(1, x.shape[1]):
        xi = x[i, k]
        for j in range(m):
            t = xi - yT[k, j]
            buf[j] += t * t
    if p == 2:
        for j in range(m):
            buf[j] *= 0.5
    else:
        for j in range(m):
            buf[j] = np.sqrt(buf[j])


@numba.njit(cache=True, fastmath={"nnan", "nsz"})
def _row_min(buf, g):
    """``min_j buf[j] - g[j]`` (vectorised; no argmin)."""
    best = np.inf
    for j in range(buf.shape[0]):
        best = min(best, buf[j] - g[j])
    return best


@numba.njit(cache=True)
def c_transform(x, y, g, p):
    """``f_i = min_j c(x_i, y_j) - g_j`` and a minimiser, for every i: one O(n m d) pass, no n x m array.

    >>> import numpy as np
    >>> f, arg = c_transform(np.zeros((1, 1)), np.array([[1.0], [3.0]]), np.array([0.0, 4.5]), 2)
    >>> f.tolist(), arg.tolist()
    ([0.0], [1])
    """
    n = x.shape[0]
    m = y.shape[0]
    yT = np.ascontiguousarray(y.T)
    buf = np.empty(m)
    f = np.empty(n)
    arg = np.empty(n, np.int64)
    for i in range(n):
        _row_costs(x, i, yT, p, buf)
        best = _row_min(buf, g)
        bj = 0
        while bj < m - 1 and buf[bj] - g[bj] != best:  # the first minimiser
            bj += 1
        f[i] = best
        arg[i] = bj
    return f, arg


@numba.njit(cache=True)
def repair_duals(x, y, p, g0, row_ptr, row_cols, tol, max_scans):
    """Duals certifying that a fixed plan support is optimal for the costs ``c(x_i, y_j)``, if they exist.

    Finds ``f, g`` with ``f_i + g_j <= c_ij + tol`` for every pair and ``|c_ij - f_i - g_j| <= tol`` on
    the support (given row by row in CSR form: row i's columns are ``row_cols[row_ptr[i]:row_ptr[i+1]]``),
    starting from the guess ``g0``. This is a label-correcting shortest-path computation (Bellman-Ford
    with a queue) on the graph with an arc ``j -> i`` of length ``c_ij`` for every pair and an arc
    ``i -> j`` of length ``-c_ij`` for every support cell, with potentials ``f_i`` on rows and ``-g_j``
    on columns. Such duals exist exactly when the support admits no cost-decreasing cycle (the plan is
    optimal); otherwise the corrections never stop, and the work cap ``max_scans`` (column scans of
    n cells each) ends them.

    The first pass is a c-transform over all n x m pairs; from a good guess (the previous step's duals,
    updated) it is also the last, and the whole call costs one O(n m d) pass. Costs are computed on
    the fly: no n x m array.

    Returns
    -------
    f, g : float64 arrays
    ok : bool
        True when the corrections converged (the duals certify the support), False at the work cap.
    scans : int
        Column scans performed after the first pass.

    Examples
    --------
    The identity assignment of two points onto themselves is optimal, the crossed one is not:

    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0]])
    >>> ptr = np.array([0, 1, 2])
    >>> repair_duals(x, x, 2, np.zeros(2), ptr, np.array([0, 1]), 1e-12, 10)[2]
    True
    >>> repair_duals(x, x, 2, np.zeros(2), ptr, np.array([1, 0]), 1e-12, 10)[2]
    False
    """
    n = x.shape[0]
    m = y.shape[0]
    g = g0.copy()
    f = np.empty(n)
    yT = np.ascontiguousarray(y.T)
    buf = np.empty(m)
    for i in range(n):
        _row_costs(x, i, yT, p, buf)
        f[i] = _row_min(buf, g)
    col_queue = np.empty(m, np.int64)
    in_col = np.zeros(m, np.bool_)
    row_queue = np.empty(n, np.int64)
    in_row = np.zeros(n, np.bool_)
    # circular queues; each holds an index at most once at a time, so capacity n (m) suffices
    ch = 0
    cn = 0
    rh = 0
    rn = 0
    for i in range(n):  # support cells left slack by the c-transform: raise g there
        for k in range(row_ptr[i], row_ptr[i + 1]):
            j = row_cols[k]
            need = _cost(x, i, y, j, p) - f[i]
            if need > g[j] + tol:
                g[j] = need
                if not in_col[j]:
                    in_col[j] = True
                    col_queue[(ch + cn) % m] = j
                    cn += 1
    scans = 0
    while cn > 0 or rn > 0:
        while rn > 0:  # a lowered f_i raises g on row i's support cells
            i = row_queue[rh]
            rh = (rh + 1) % n
            rn -= 1
            in_row[i] = False
            for k in range(row_ptr[i], row_ptr[i + 1]):
                j = row_cols[k]
                need = _cost(x, i, y, j, p) - f[i]
                if need > g[j] + tol:
                    g[j] = need
                    if not in_col[j]:
                        in_col[j] = True
                        col_queue[(ch + cn) % m] = j
                        cn += 1
        if cn > 0:  # a raised g_j lowers f_i wherever c_ij - g_j < f_i
            if scans >= max_scans:
                return f, g, False, scans
            j = col_queue[ch]
            ch = (ch + 1) % m
            cn -= 1
            in_col[j] = False
            scans += 1
            gj = g[j]
            for i in range(n):
                v = _cost(x, i, y, j, p) - gj
                if v < f[i] - tol:
                    f[i] = v
                    if not in_row[i]:
                        in_row[i] = True
                        row_queue[(rh + rn) % n] = i
                        rn += 1
    return f, g, True, scans
# --- semi-discrete OT, exact 2-D path: power (Laguerre) cells clipped to a box ----------------------


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


@numba.njit(cache=True, inline="always")
def _grid_moments(px, py, m, xi, yi, lo, dx, dy, grid, qx, qy, qlab):
    """:func:`_grid_polygon_integrals` with its own scratch (``qx, qy, qlab`` reused)."""
    size = qx.shape[0]
    return _grid_polygon_integrals(px, py, m, xi, yi, lo, dx, dy, grid, np.empty(size), np.empty(size),
                                   np.empty(size, np.int64), qx, qy, qlab, np.empty(size), np.empty(size),
                                   np.empty(size, np.int64))


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


@numba.njit(cache=True)
def candidate_costs(y, x, cand):
    """``cost[s, l] = |y_s - x_{cand[s, l]}|^2 / 2`` for the candidate sites of every sample."""
    S, k = cand.shape
    d = y.shape[1]
    cost = np.empty((S, k))
    for s in range(S):
        for l in range(k):
            j = cand[s, l]
            acc = 0.0
            for t in range(d):
                diff = y[s, t] - x[j, t]
                acc += diff * diff
            cost[s, l] = 0.5 * acc
    return cost


@numba.njit(cache=True)
def star_pattern(cand, n):
    """Sparsity pattern of the pairs (first candidate, other candidate) of every sample.

    Returns ``indptr, indices`` (CSR over the first candidate) and ``slot[s, l]``, the position of the
    pair ``(cand[s, 0], cand[s, l])`` in ``indices`` (``-1`` for ``l = 0``).
    """
    S, k = cand.shape
    count = np.zeros(n + 1, np.int64)
    for s in range(S):
        count[cand[s, 0] + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    order = np.empty(S, np.int64)
    fill = count[:n].copy()
    for s in range(S):
        i = cand[s, 0]
        order[fill[i]] = s
        fill[i] += 1
    slot = np.full((S, k), -1, np.int32)
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(S * (k - 1) if k > 1 else 0, np.int64)
    mark = np.full(n, -1, np.int64)
    pos = np.zeros(n, np.int64)
    w = 0
    for i in range(n):
        for q in range(count[i], count[i + 1]):
            s = order[q]
            for l in range(1, k):
                j = cand[s, l]
                if mark[j] != i:
                    mark[j] = i
                    pos[j] = w
                    indices[w] = j
                    w += 1
                slot[s, l] = pos[j]
        indptr[i + 1] = w
    return indptr, indices[:w].copy(), slot


@numba.njit(cache=True)
def soft_cells(y, psi, cand, cost, eps, slot, nnz, n, prob):
    """Soft (entropic) Laguerre cells of the quadrature ``y`` (uniform weights ``1/S``).

    Sample ``s`` goes to its candidate ``cand[s, l]`` with probability ``p_sl`` proportional to
    ``exp((psi_j - cost[s, l]) / eps_s)``; ``eps`` (S,) is each sample's smoothing.

    Returns
    -------
    mass : (n,) ``sum_s p_sj / S``; moment : (n, d) ``sum_s p_sj y_s / S``; tcost : (n,) ``sum_s p_sj c_sj / S``
    smooth : float ``1 / S sum_s eps_s log sum_l exp((psi_l - c_sl) / eps_s)`` (smoothed c-transform term)
    star : (nnz,) ``sum_s p_s0 p_sl / (eps_s S)`` in the slots of :func:`star_pattern`
    tail : float, the largest probability of a last candidate (truncation check)

    The probabilities are written to ``prob`` (S, k).
    """
    S, k = cand.shape
    d = y.shape[1]
    mass = np.zeros(n)
    moment = np.zeros((n, d))
    tcost = np.zeros(n)
    star = np.zeros(nnz)
    p = np.empty(k)
    smooth = 0.0
    tail = 0.0
    for s in range(S):
        top = -np.inf
        e = eps[s]
        for l in range(k):
            v = (psi[cand[s, l]] - cost[s, l]) / e
            p[l] = v
            if v > top:
                top = v
        tot = 0.0
        for l in range(k):
            p[l] = np.exp(p[l] - top)
            tot += p[l]
        smooth += e * (top + np.log(tot))
        for l in range(k):
            p[l] /= tot
            prob[s, l] = p[l]
            j = cand[s, l]
            mass[j] += p[l]
            tcost[j] += p[l] * cost[s, l]
            for t in range(d):
                moment[j, t] += p[l] * y[s, t]
        for l in range(1, k):
            star[slot[s, l]] += p[0] * p[l] / e
        if p[k - 1] > tail:
            tail = p[k - 1]
    inv = 1.0 / S
    for j in range(n):
        mass[j] *= inv
        tcost[j] *= inv
        for t in range(d):
            moment[j, t] *= inv
    for q in range(nnz):
        star[q] *= inv
    return mass, moment, tcost, smooth * inv, star, tail


@numba.njit(cache=True)
def soft_objective(psi, cand, cost, eps):
    """Only the smoothed c-transform term of :func:`soft_cells` (for line searches)."""
    S, k = cand.shape
    smooth = 0.0
    for s in range(S):
        e = eps[s]
        top = -np.inf
        for l in range(k):
            v = (psi[cand[s, l]] - cost[s, l]) / e
            if v > top:
                top = v
        tot = 0.0
        for l in range(k):
            tot += np.exp((psi[cand[s, l]] - cost[s, l]) / e - top)
        smooth += e * (top + np.log(tot))
    return smooth / S


@numba.njit(cache=True)
def soft_hessian_matvec(prob, cand, v, eps):
    """``H v`` for ``H = (1 / S) sum_s (diag(p_s) - p_s p_s^T) / eps_s`` on the candidate lists."""
    S, k = cand.shape
    out = np.zeros(v.shape[0])
    for s in range(S):
        mean = 0.0
        for l in range(k):
            mean += prob[s, l] * v[cand[s, l]]
        w = 1.0 / eps[s]
        for l in range(k):
            j = cand[s, l]
            out[j] += w * prob[s, l] * (v[j] - mean)
    scale = 1.0 / S
    for j in range(out.shape[0]):
        out[j] *= scale
    return out


# --- within-cell variance of the semi-discrete cells (docs/theory.rst §3.2) -----------------------


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
        sx = centres[i, 0] - x[i, 0]
        sy = centres[i, 1] - x[i, 1]
        for k in range(m):
            px[k] -= sx
            py[k] -= sy
        if uniform:
            s2 = _polygon_moments(px, py, m)[3]
            out[i] = rho * s2
        else:
            t2 = _grid_moments(px, py, m, centres[i, 0], centres[i, 1], lo, dx, dy, grid, qx, qy, qlab)[3]
            out[i] = t2
    return out


@numba.njit(cache=True)
def soft_cell_variance(y, cand, prob, centres):
    """``sum_s p_si |y_s - c_i|^2 / S`` of every soft cell of the quadrature (see :func:`soft_cells`).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.0], [1.0], [3.0]])
    >>> v = soft_cell_variance(y, np.array([[0], [0], [1]], np.int32), np.ones((3, 1)), np.array([[0.5], [3.0]]))
    >>> v.round(12).tolist()
    [0.166666666667, 0.0]
    """
    S, k = cand.shape
    d = y.shape[1]
    n = centres.shape[0]
    out = np.zeros(n)
    for s in range(S):
        for l in range(k):
            j = cand[s, l]
            acc = 0.0
            for t in range(d):
                diff = y[s, t] - centres[j, t]
                acc += diff * diff
            out[j] += prob[s, l] * acc
    inv = 1.0 / S
    for j in range(n):
        out[j] *= inv
    return out
