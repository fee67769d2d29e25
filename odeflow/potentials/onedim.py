"""Closed-form Kantorovich potentials in one dimension: sort both clouds, match quantiles.

For the convex costs of w2 and w1 the monotone (north-west-corner) plan between sorted supports is
optimal, for any weights. Its staircase is a spanning tree of the transport graph, so the duals follow
from ``f_i + g_j = c(x_i, y_j)`` along it in one pass; they are feasible because the cost is submodular
(a Monge array once both sides are sorted). O((n + m) log(n + m)) time, no n x m matrix.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import scipy.sparse as sp

from ..losses import Loss
from .base import KantorovichResult, PotentialSolver


def _cumulative(w):
    c = np.cumsum(w)
    c /= c[-1]  # exact 1 at the end, so both staircases close together
    return c


def solve_onedim(src, tgt, loss: Loss) -> KantorovichResult:
    """Exact 1-D optimal transport by sorting (monotone plan), with duals.

    Parameters
    ----------
    src, tgt : Cloud
        One-dimensional clouds (``dim == 1``; checked by the caller), any weights.
    loss : Loss

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow.losses import W1
    >>> r = solve_onedim(of.Cloud([[0.0], [1.0]]), of.Cloud([[3.0], [1.0]]), W1)
    >>> round(r.cost, 12), r.drift.ravel().tolist()
    (1.5, [1.0, 1.0])
    """
    start = time.perf_counter()
    x, a, y, b = src.points, src.weights, tgt.points, tgt.weights
    n, m = x.shape[0], y.shape[0]
    ix = np.argsort(x[:, 0], kind="stable")
    iy = np.argsort(y[:, 0], kind="stable")
    r_s, c_s, mass_s = northwest_corner(_cumulative(a[ix]), _cumulative(b[iy]))
    rows, cols = ix[r_s], iy[c_s]
    cell_cost = loss.pair_cost(x[rows], y[cols])
    f_s, g_s = staircase_duals(r_s, c_s, cell_cost, n, m)
    f = np.empty(n)
    g = np.empty(m)
    f[ix] = f_s
    g[iy] = g_s
    positive = mass_s > 0
    # A zero-weight particle carries no mass; its first staircase cell is tight and the duals are
    # feasible, so that cell's target attains its c-transform: use it (with nominal mass 1).
    keep = positive.copy()
    idle = np.flatnonzero(np.bincount(rows[positive], minlength=n)[rows] == 0)
    if idle.size:
        _, first = np.unique(rows[idle], return_index=True)
        keep[idle[first]] = True
    mass_k = np.where(positive, mass_s, 1.0)[keep]
    rows_k, cols_k = rows[keep], cols[keep]
    targets, drift = loss.targets_and_drift(x, y, rows_k, cols_k, mass_k, a)
    sel_mass = mass_s[positive]
    cost = float(np.dot(sel_mass, cell_cost[positive]))
    plan = sp.csr_array((sel_mass, (rows[positive], cols[positive])), shape=(n, m))
    info = {
        "method": "onedim",
        "path": "monotone",
        "solver": "sort + north-west corner",
        "status": "optimal",
        "message": "optimal (monotone plan)",
        "iterations": 0,
        "warm": "cold",
        "support_size": int(positive.sum()),
        "seconds": time.perf_counter() - start,
    }
    return KantorovichResult(cost=cost, f=f, g=g, plan=plan, targets=targets, drift=drift, info=info,
                             loss=loss.name)


class OnedimSolver(PotentialSolver):
    """Sorting in one dimension (:func:`solve_onedim`); no options.

    Examples
    --------
    >>> import odeflow as of
    >>> OnedimSolver(of.Cloud([[2.0]]), of.losses.W2)(of.Cloud([[0.0]])).drift.tolist()
    [[2.0]]
    """

    name = "onedim"

    def solve(self, cloud):
        return solve_onedim(cloud, self.target, self.loss)


# --- numba kernels -------------------------------------------------------------------------------


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
