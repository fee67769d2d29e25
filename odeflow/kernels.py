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
