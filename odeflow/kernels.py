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
