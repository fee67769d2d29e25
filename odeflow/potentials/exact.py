"""Exact Kantorovich potentials between two clouds: POT's network simplex (``ot.emd``).

The plan is the primal optimum; targets and drifts are read from it (never from an arbitrary dual
vertex, whose c-transform ties at many particles). Duals come from the simplex basis. A non-optimal
exit of the simplex (iteration cap, infeasible) is reported in ``info``, never passed off as optimal.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import ot
import scipy.sparse as sp

from .._checks import check_dense_memory, check_int
from ..losses import Loss
from .result import KantorovichResult

#: POT's network-simplex result codes.
_STATUS = {0: "infeasible", 1: "optimal", 2: "unbounded", 3: "max_iter_reached"}
#: Dense n x m float64 arrays alive at once: our cost matrix, POT's plan, and its internal arc arrays.
DENSE_COPIES = 6
DEFAULT_MAX_ITER = 10_000_000


def plan_result(x, a, y, b, cost_matrix, rows, cols, mass, f, g, loss: Loss, info) -> KantorovichResult:
    """Assemble a :class:`KantorovichResult` from a plan's entries and its duals.

    Particles with zero weight get no mass from the plan; they are sent to their c-transform target
    ``argmin_j c(x_i, y_j) - g_j`` (any minimiser), which is where the potential's gradient points.
    """
    empty = np.flatnonzero(a <= 0)
    empty_cols = np.argmin(cost_matrix[empty] - g[None, :], axis=1) if empty.size else None
    return cells_result(x, a, y, rows, cols, mass, cost_matrix[rows, cols], f, g, loss, info,
                        empty_cols=empty_cols)


def cells_result(x, a, y, rows, cols, mass, cell_cost, f, g, loss: Loss, info, *, empty_cols=None,
                 plan=None) -> KantorovichResult:
    """:func:`plan_result` without a cost matrix: the costs of the plan's cells are given instead.

    ``empty_cols`` are the c-transform targets of the zero-weight particles (in increasing order of
    those particles; required when there are any); ``plan`` is the sparse plan if already built.
    """
    n, m = x.shape[0], y.shape[0]
    empty = np.flatnonzero(a <= 0)
    if empty.size:
        rows_d = np.concatenate([rows, empty])
        cols_d = np.concatenate([cols, empty_cols])
        mass_d = np.concatenate([mass, np.ones(empty.size)])
    else:
        rows_d, cols_d, mass_d = rows, cols, mass
    targets, drift = loss.targets_and_drift(x, y, rows_d, cols_d, mass_d, a)
    cost = float(np.dot(mass, cell_cost))
    if plan is None:
        plan = sp.csr_array((mass, (rows, cols)), shape=(n, m))
    return KantorovichResult(cost=cost, f=f, g=g, plan=plan, targets=targets, drift=drift, info=info,
                             loss=loss.name)


def solve_exact(src, tgt, loss: Loss, *, max_iter: int = DEFAULT_MAX_ITER, duals_init=None) -> KantorovichResult:
    """Solve the discrete OT problem exactly with POT's network simplex.

    Parameters
    ----------
    src, tgt : Cloud
        Particles and target cloud (same dimension; checked by the caller).
    loss : Loss
        The cost to use.
    max_iter : int
        Iteration cap of the network simplex; hitting it gives ``info["status"] == "max_iter_reached"``.
    duals_init : tuple of arrays, optional
        Warm start for the simplex (POT's ``potentials_init``).

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow.losses import W2
    >>> r = solve_exact(of.Cloud([[0.0], [1.0]]), of.Cloud([[1.0], [2.0]]), W2)
    >>> round(r.cost, 12), r.info["status"]
    (0.5, 'optimal')
    """
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    x, a, y, b = src.points, src.weights, tgt.points, tgt.weights
    n, m = x.shape[0], y.shape[0]
    check_dense_memory(n, m, DENSE_COPIES, "method='exact'")
    start = time.perf_counter()
    C = loss.cost_matrix(x, y)
    # POT's network simplex (from LEMON) gives its artificial arcs the cost (max c + 1) * nodes: the "+1"
    # is absolute, so its potentials and reduced costs carry an absolute error ~ eps * nodes * (1 + max c).
    # Costs far below 1 (clouds of extent 1e-3 have w2 costs ~ 1e-6) then lose their relative accuracy:
    # infeasible duals, and below ~1e-10 a non-optimal plan. The LP is scale-invariant: solve it with the
    # costs divided by their maximum and scale the duals back.
    unit = float(C.max()) if C.size and C.max() > 0 else 1.0
    init = None if duals_init is None else tuple(np.asarray(u, dtype=np.float64) / unit for u in duals_init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT warns on non-optimal exits; we report them
        G, log = ot.emd(a, b, C / unit, numItermax=max_iter, log=True, potentials_init=init)
    code = int(log["result_code"])
    status = _STATUS.get(code, f"code {code}")
    rows, cols = np.nonzero(G)
    mass = G[rows, cols]
    info = {
        "method": "exact",
        "solver": "POT network simplex (ot.emd)",
        "status": status,
        "success": code == 1,
        "message": "optimal" if code == 1 else f"network simplex stopped: {status} ({log['warning']})",
        "iterations": None,  # POT does not expose the simplex's iteration count
        "max_iter": max_iter,
        "support_size": int(rows.size),
    }
    result = plan_result(x, a, y, b, C, rows, cols, mass, unit * np.asarray(log["u"], dtype=np.float64),
                         unit * np.asarray(log["v"], dtype=np.float64), loss, info)
    info["seconds"] = time.perf_counter() - start
    return result
