"""Closed-form Kantorovich potentials in one dimension: sort both clouds, match quantiles.

For the convex costs of w2 and w1 the monotone (north-west-corner) plan between sorted supports is
optimal, for any weights. Its staircase is a spanning tree of the transport graph, so the duals follow
from ``f_i + g_j = c(x_i, y_j)`` along it in one pass; they are feasible because the cost is submodular
(a Monge array once both sides are sorted). O((n + m) log(n + m)) time, no n x m matrix.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..kernels import northwest_corner, staircase_duals
from ..losses import Loss
from .result import KantorovichResult


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
        "solver": "sort + north-west corner",
        "status": "optimal",
        "success": True,
        "message": "optimal (monotone plan)",
        "iterations": 0,
        "support_size": int(positive.sum()),
        "seconds": time.perf_counter() - start,
    }
    return KantorovichResult(cost=cost, f=f, g=g, plan=plan, targets=targets, drift=drift, info=info,
                             loss=loss.name)
